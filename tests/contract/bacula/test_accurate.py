"""Accurate jobs: files the backend did not send again are not marked deleted.

In accurate mode bacula-fd asks the plugins (checkFile) about every file of the previous
backups that this job did not see; the shim claims the names under its commands'
``path=`` roots, so an unchanged plugin file stays in the backup.
"""

from __future__ import annotations

import pytest

from .conftest import Env, next_second

pytestmark = pytest.mark.bacula


@pytest.mark.parametrize("fileset", ["AccPosix", "AccStandin"])
def test_accurate_incremental_keeps_unchanged_plugin_files(bacula: Env, fileset: str) -> None:
    top = bacula.trees / fileset
    (top / "sub").mkdir(parents=True)
    for name in ("kept.txt", "changed.txt", "sub/kept-too.txt"):
        (top / name).write_text(f"{name}\n")
    next_second()
    full = bacula.lab.backup("Full", fileset)
    (top / "changed.txt").write_text("changed\n")
    next_second()
    inc = bacula.lab.backup("Incremental", fileset, accurate="yes")
    assert (full.status, inc.status, inc.errors) == ("T", "T", 0), inc.log
    assert bacula.lab.files(inc.jobid, deleted=True) == set()
    assert bacula.lab.files(inc.jobid) == {f"{top}/changed.txt"}
