"""The embedding API: the posix use cases without Bacula, into both archive kinds."""

from __future__ import annotations

import os

import pytest

from podheitor.app.api import (
    MemoryArchive,
    StreamArchive,
    backup_tree,
    restore_tree,
    verify_trees,
)
from podheitor.domain.errors import FormatError
from podheitor.domain.jobs import Replace
from tests.contract.metaplugin.conftest import build_tree, temp_leftovers


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    build_tree(root)
    return root


@pytest.mark.parametrize("kind", ["memory", "stream"])
def test_backup_restore_verify_round_trip(kind, source, tmp_path):
    archive = MemoryArchive() if kind == "memory" else StreamArchive(tmp_path / "a.phs")
    report = backup_tree([str(source)], archive)
    assert report.files == 13 and report.problems == []
    where = tmp_path / "restore"
    result = restore_tree(archive, str(where))
    assert (result.restored, result.refused, result.problems) == (13, [], [])
    assert verify_trees(str(source), str(where / source.relative_to("/"))) == []


def test_verify_trees_reports_every_kind_of_difference(source, tmp_path):
    archive = MemoryArchive()
    backup_tree([str(source)], archive)
    where = tmp_path / "r"
    restore_tree(archive, str(where))
    copy = where / source.relative_to("/")
    (copy / "hello.txt").write_bytes(b"other\n")
    os.chmod(copy / "empty", 0o600)
    (copy / "extra").write_text("x")
    os.unlink(copy / "link")
    problems = verify_trees(str(source), str(copy))
    assert any(p.startswith("missing in restore: link") for p in problems)
    assert any(p.startswith("not in original: extra") for p in problems)
    assert any(p.startswith("differs: hello.txt") for p in problems)
    assert any(p.startswith("differs: empty") and "mode=0600" in p for p in problems)


def test_a_truncated_stream_archive_is_an_error_and_leaves_no_partial_file(source, tmp_path):
    archive = StreamArchive(tmp_path / "a.phs")
    backup_tree([str(source)], archive)
    data = (tmp_path / "a.phs").read_bytes()
    (tmp_path / "a.phs").write_bytes(data[: len(data) // 2])
    where = tmp_path / "r"
    with pytest.raises(FormatError):
        restore_tree(archive, str(where))
    assert temp_leftovers(where) == []


def test_replace_never_keeps_what_is_there(source, tmp_path):
    archive = MemoryArchive()
    backup_tree([str(source)], archive)
    where = tmp_path / "r"
    restore_tree(archive, str(where))
    target = where / source.relative_to("/") / "hello.txt"
    target.write_bytes(b"mine")
    result = restore_tree(archive, str(where), replace=Replace.NEVER)
    assert target.read_bytes() == b"mine" and result.skipped >= 1


def test_a_file_vanishing_during_a_memory_backup_is_reported_not_raised(source, tmp_path):
    from podheitor.adapters.filesystems.posix import PosixTree

    class Vanishing(PosixTree):
        def content(self, entry):
            if entry.meta.path.endswith("hello.txt"):
                os.unlink(entry.meta.path)
            return super().content(entry)

    archive = MemoryArchive()
    report = backup_tree([str(source)], archive, reader=Vanishing())
    assert report.files == 12 and report.data_bytes > 11 << 20
    assert all("hello.txt: vanished" in p for p in report.problems)
    assert report.problems[-1].endswith("; not backed up")
