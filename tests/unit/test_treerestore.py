"""The tree restore use case, over the in-memory tree."""

from __future__ import annotations

import pytest

from podheitor.adapters.filesystems.memory import MemoryTree
from podheitor.app.api import CollectingLog
from podheitor.app.treerestore import PROBLEM_REPORT_LIMIT, TreeRestore
from podheitor.domain.errors import RestoreRefusedError
from podheitor.domain.files import FileExtras, FileKind, FileMeta, RestoreDecision
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import Replace


def _restore(tree=None, **kw):
    tree = tree or MemoryTree()
    log = CollectingLog()
    return TreeRestore(tree, log, **kw), tree, log


def _put(sink, path, data=b"", **kw):
    receiver = sink.begin(FileMeta(path, FileKind.REGULAR, size=len(data), **kw))
    if isinstance(receiver, RestoreDecision):
        return receiver
    receiver.write(0, memoryview(data))
    receiver.commit(FileExtras(), len(data))
    return "OK"


@pytest.mark.parametrize("path", ["relative/x", "/w/a/../../etc/passwd", "/w/./x", "/etc/passwd",
                                  "/wx/y"])
def test_unsafe_names_are_refused_before_anything_is_written(path):
    sink, tree, _ = _restore(where="/w")
    with pytest.raises(RestoreRefusedError):
        sink.begin(FileMeta(path, FileKind.REGULAR, size=1))
    assert tree.paths() == ["/"]


def test_a_name_below_a_symlink_this_restore_created_is_refused():
    sink, tree, _ = _restore(where="/w")
    link = sink.begin(FileMeta("/w/a/evil", FileKind.SYMLINK, link_target="/etc"))
    link.commit(FileExtras(), None)
    with pytest.raises(RestoreRefusedError, match="below the restored symlink"):
        sink.begin(FileMeta("/w/a/evil/passwd", FileKind.REGULAR, size=1))
    assert not tree.exists("/etc/passwd")


def test_files_are_written_below_where_with_their_attributes():
    sink, tree, _ = _restore(where="/w")
    assert _put(sink, "/w/data/f", b"content", mode=0o640, mtime=123) == "OK"
    meta = tree.stat("/w/data/f").meta
    assert (tree.read("/w/data/f"), meta.mode, meta.mtime) == (b"content", 0o640, 123)


@pytest.mark.parametrize(("replace", "existing_mtime", "expected"), [
    (Replace.ALWAYS, 500, "OK"), (Replace.NEVER, 500, RestoreDecision.SKIP),
    (Replace.IF_NEWER, 50, "OK"), (Replace.IF_NEWER, 500, RestoreDecision.SKIP),
    (Replace.IF_OLDER, 500, "OK"), (Replace.IF_OLDER, 50, RestoreDecision.SKIP),
])
def test_replace_policy_decides_about_existing_files(replace, existing_mtime, expected):
    tree = MemoryTree()
    tree.add_file("/w/f", b"old", mtime=existing_mtime)
    sink, _, _ = _restore(tree, where="/w", replace=replace)
    assert _put(sink, "/w/f", b"new", mtime=100) == expected
    assert tree.read("/w/f") == (b"new" if expected == "OK" else b"old")


def test_missing_files_are_restored_whatever_the_replace_policy():
    sink, _tree, _ = _restore(where="/w", replace=Replace.NEVER)
    assert _put(sink, "/w/f", b"x") == "OK"


def test_directory_attributes_are_applied_at_finish_deepest_first():
    applied = []

    class Recording(MemoryTree):
        def set_attributes(self, meta, xattrs):
            applied.append(meta.path)
            return super().set_attributes(meta, xattrs)

    sink, tree, _ = _restore(Recording(), where="/w")
    for path in ("/w/a/b/", "/w/a/"):
        sink.begin(FileMeta(path, FileKind.DIRECTORY, mode=0o500)).commit(FileExtras(), None)
    assert applied == []
    assert _put(sink, "/w/a/b/late", b"still writable") == "OK"
    sink.finish()
    assert applied == ["/w/a/b", "/w/a"]
    assert tree.stat("/w/a").meta.mode == 0o500


def test_a_hard_link_without_a_known_original_is_left_to_bacula():
    sink, _, _ = _restore(where="/w")
    assert sink.begin(FileMeta("/w/l", FileKind.HARDLINK, size=3)) is RestoreDecision.CORE


def test_a_hard_link_to_outside_where_is_refused():
    sink, _, _ = _restore(where="/w")
    with pytest.raises(RestoreRefusedError):
        sink.begin(FileMeta("/w/l", FileKind.HARDLINK, size=3, link_target="/etc/shadow"))


def test_hard_links_are_made_to_the_restored_original():
    sink, tree, _ = _restore(where="/w")
    _put(sink, "/w/orig", b"abc")
    sink.begin(FileMeta("/w/l", FileKind.HARDLINK, size=3, link_target="/w/orig")).commit(
        FileExtras(), None)
    assert tree.stat("/w/l").inode == tree.stat("/w/orig").inode


def test_a_directory_in_the_way_of_a_file_is_refused_and_vice_versa():
    tree = MemoryTree()
    tree.add_directory("/w/d")
    tree.add_file("/w/f", b"")
    sink, _, _ = _restore(tree, where="/w")
    with pytest.raises(RestoreRefusedError):
        sink.begin(FileMeta("/w/d", FileKind.REGULAR, size=1))
    with pytest.raises(RestoreRefusedError):
        sink.begin(FileMeta("/w/f/", FileKind.DIRECTORY))


def test_uncommitted_files_are_discarded_when_the_guard_stack_closes():
    guards = GuardStack()
    sink, tree, _ = _restore(where="/w", guards=guards)
    receiver = sink.begin(FileMeta("/w/f", FileKind.REGULAR, size=5))
    receiver.write(0, memoryview(b"parti"))
    guards.close()
    assert guards.released == ["temporary file of /w/f"]
    assert not tree.exists("/w/f")


def test_repeated_attribute_problems_are_reported_a_few_times_then_summarised():
    class NoOwner(MemoryTree):
        def set_attributes(self, meta, xattrs):
            super().set_attributes(meta, xattrs)
            return ["cannot set owner 1:1 (Operation not permitted)"]

    sink, _, log = _restore(NoOwner(), where="/w")
    for i in range(PROBLEM_REPORT_LIMIT + 5):
        sink.begin(FileMeta(f"/w/d{i}", FileKind.DIRECTORY)).commit(FileExtras(), None)
    sink.finish()
    assert len(log.problems) == PROBLEM_REPORT_LIMIT + 1
    assert log.problems[-1].startswith(f"{PROBLEM_REPORT_LIMIT + 5} files in all: cannot set owner")


def test_restore_objects_are_kept():
    from podheitor.domain.files import RestoreObject
    sink, _, _ = _restore()
    sink.restore_object(RestoreObject("layout", b"{}"))
    assert [o.name for o in sink.objects] == ["layout"]
