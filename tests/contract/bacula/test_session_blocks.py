"""What the shim tells a backend: Job and Params blocks, restore objects, ACL and XATTR.

The stand-in records every block it receives (``meta_log=``); the FileSet ``Meta`` uses
``podheitor-standin:path=...;meta=1;bare_flag;quoted="a b;c" meta_log=...``.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from podheitor.app.bacula_lab import JobResult

from .conftest import Env, next_second

pytestmark = pytest.mark.bacula


@attrs.frozen
class Recorded:
    full: JobResult
    incremental: JobResult
    restore: JobResult
    where: Path
    lines: dict[str, list[str]]  # per job: what the stand-in recorded


@pytest.fixture(scope="module")
def recorded(bacula: Env) -> Recorded:
    lines: dict[str, list[str]] = {}

    def run(name: str, job: str) -> JobResult:
        bacula.meta_log.unlink(missing_ok=True)
        result = (bacula.lab.restore(where, jobids=[full.jobid, inc.jobid]) if job == "restore"
                  else bacula.lab.backup(job, "Meta"))
        lines[name] = bacula.meta_log.read_text().splitlines()
        return result

    where = bacula.root / "restored-meta"
    next_second()
    full = run("full", "Full")
    (bacula.small / "one.txt").write_text("one, changed\n")
    next_second()
    inc = run("incremental", "Incremental")
    restore = run("restore", "restore")
    return Recorded(full, inc, restore, where, lines)


def blocks(lines: list[str], kind: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in lines if line.startswith(kind + " ")]


def test_the_jobs_end_ok(recorded: Recorded) -> None:
    for job in (recorded.full, recorded.incremental, recorded.restore):
        assert (job.status, job.errors) == ("T", 0), job.log


def test_backup_job_block_carries_name_id_type_level_and_paths(recorded: Recorded,
                                                               bacula: Env) -> None:
    job = blocks(recorded.lines["full"], "JOB")
    assert [k.split("=")[0] for k in job] == ["Name", "JobID", "Type", "Level", "WorkingDir",
                                             "ExePath"]
    assert job[1:4] == [f"JobID={recorded.full.jobid}", "Type=B", "Level=F"]
    assert job[0].startswith("Name=Backup.")
    assert job[4] == f"WorkingDir={bacula.lab.root / 'work' / 'fd'}"
    assert job[5] == "ExePath=/usr/sbin/"


def test_incremental_job_block_carries_level_and_since(recorded: Recorded, bacula: Env
                                                       ) -> None:
    job = dict(line.split("=", 1) for line in blocks(recorded.lines["incremental"], "JOB"))
    assert job["Level"] == "I"
    full_start = bacula.lab.job_start(recorded.full.jobid)
    assert int(job["Since"]) == full_start


def test_params_block_splits_on_spaces_and_semicolons(recorded: Recorded, bacula: Env
                                                      ) -> None:
    assert blocks(recorded.lines["full"], "PARAM") == [
        f"path={bacula.small}", "meta=1", "bare_flag=1", "quoted=a b;c",
        f"meta_log={bacula.meta_log}"]
    assert blocks(recorded.lines["full"], "START") == ["BackupStart"]


def test_restore_job_block_carries_where_and_replace(recorded: Recorded) -> None:
    job = blocks(recorded.lines["restore"], "JOB")
    assert [k.split("=")[0] for k in job] == ["Name", "JobID", "Type", "Where", "Replace",
                                             "WorkingDir", "ExePath"]
    assert job[2:5] == ["Type=R", f"Where={recorded.where}", "Replace=a"]
    assert blocks(recorded.lines["restore"], "START") == ["RestoreStart"]


def test_restore_objects_come_back_before_the_files(recorded: Recorded) -> None:
    lines = recorded.lines["restore"]
    objects = [line for line in lines if line.startswith("RESTOREOBJ:")]
    assert objects == ["RESTOREOBJ:standin-config RESTOREOBJ_LEN:9 config-v1"] * 2  # Full, Inc
    first_acl = next(i for i, line in enumerate(lines) if line.startswith("ACL "))
    assert max(lines.index(o) for o in objects) < first_acl


def test_acl_and_xattr_of_files_and_directories_come_back(recorded: Recorded, bacula: Env
                                                          ) -> None:
    small = bacula.small
    names = [f"{small}/one.txt", f"{small}/sub/two.bin", f"{small}/sub/", f"{small}/"]
    got = set(blocks(recorded.lines["restore"], "ACL") + blocks(recorded.lines["restore"],
                                                                  "XATTR"))
    for name in names:
        restored = f"{recorded.where}{name}"
        assert f"{restored} acl:{name}" in got
        assert f"{restored} xattr:{name}" in got
