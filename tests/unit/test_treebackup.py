"""The tree backup use case, over the in-memory tree."""

from __future__ import annotations

import attrs

from podheitor.adapters.filesystems.memory import MemoryTree
from podheitor.app.api import CollectingLog
from podheitor.app.treebackup import TreeBackup, TreeSelection
from podheitor.domain.errors import AccessDeniedError, VanishedError
from podheitor.domain.files import FileKind


def _tree() -> MemoryTree:
    t = MemoryTree()
    t.add_directory("/r", mtime=100)
    t.add_file("/r/b.txt", b"bb", mtime=100)
    t.add_file("/r/a.txt", b"a", mtime=200)
    t.add_directory("/r/sub", mtime=100)
    t.add_file("/r/sub/deep.bin", b"d" * 10, mtime=300)
    t.add_symlink("/r/link", "a.txt", mtime=100)
    return t


def _backup(tree, **kw):
    log = CollectingLog()
    return TreeBackup(tree, TreeSelection(("/r",), **kw), log), log


def test_walk_is_depth_first_with_directories_after_their_contents():
    backup, _ = _backup(_tree())
    assert [m.path for m in backup.metas()] == [
        "/r/a.txt", "/r/b.txt", "/r/link", "/r/sub/deep.bin", "/r/sub", "/r"]


def test_since_keeps_items_changed_at_or_after_it_by_mtime_or_ctime():
    tree = _tree()
    tree.add_file("/r/ctime-only", b"c", mtime=10, ctime=250)
    backup, _ = _backup(tree, since=200)
    assert [m.path for m in backup.metas()] == ["/r/a.txt", "/r/ctime-only", "/r/sub/deep.bin"]


def test_excludes_match_names_and_full_paths_and_prune_directories():
    backup, _ = _backup(_tree(), excludes=("*.txt", "/r/sub"))
    assert [m.path for m in backup.metas()] == ["/r/link", "/r"]


def test_further_names_of_an_inode_become_hard_links_without_content():
    tree = _tree()
    tree.add_hardlink("/r/z-again", "/r/a.txt")
    items = {vf.meta.path: vf for vf in _backup(tree)[0].items()}
    link = items["/r/z-again"]
    assert link.meta.kind is FileKind.HARDLINK
    assert link.meta.link_target == "/r/a.txt"
    assert link.content is None
    assert items["/r/a.txt"].meta.kind is FileKind.REGULAR
    assert items["/r/a.txt"].content is not None


def test_regular_files_with_data_get_content_and_empty_files_do_not():
    tree = _tree()
    tree.add_file("/r/empty", b"")
    items = {vf.meta.path: vf for vf in _backup(tree)[0].items()}
    assert items["/r/empty"].content is None
    with items["/r/sub/deep.bin"].content.open() as stream:
        assert b"".join(bytes(c.data) for c in stream.chunks()) == b"d" * 10


def test_extended_attributes_travel_as_extras_unless_disabled():
    tree = _tree()
    tree.add_file("/r/x", b"1", xattrs={"user.k": b"v"})
    with_x = {vf.meta.path: vf for vf in _backup(tree)[0].items()}
    assert with_x["/r/x"].extras.xattrs == (("user.k", b"v"),)
    without = {vf.meta.path: vf for vf in _backup(tree, xattrs=False)[0].items()}
    assert without["/r/x"].extras.xattrs == ()


@attrs.define
class _Failing:
    """A reader that fails on chosen paths, delegating the rest."""

    inner: MemoryTree
    fail_scan: dict[str, Exception] = attrs.field(factory=dict)
    fail_stat: dict[str, Exception] = attrs.field(factory=dict)
    devices: dict[str, int] = attrs.field(factory=dict)

    def stat(self, path):
        if path in self.fail_stat:
            raise self.fail_stat[path]
        return self.inner.stat(path)

    def scan(self, path):
        if path in self.fail_scan:
            raise self.fail_scan[path]
        for entry in self.inner.scan(path):
            dev = self.devices.get(entry.meta.path)
            yield attrs.evolve(entry, device=dev) if dev is not None else entry

    def xattrs(self, path):
        return self.inner.xattrs(path)

    def content(self, entry):
        return self.inner.content(entry)


def test_an_unreadable_directory_is_reported_and_the_walk_goes_on():
    reader = _Failing(_tree(), fail_scan={"/r/sub": AccessDeniedError("/r/sub", "denied")})
    backup, log = _backup(reader)
    paths = [m.path for m in backup.metas()]
    assert "/r/a.txt" in paths and "/r/sub/deep.bin" not in paths
    assert backup.skipped == 1
    assert log.entries == [("error", "/r/sub: denied; not backed up")]


def test_a_missing_root_is_reported_and_other_roots_are_saved():
    tree = _tree()
    log = CollectingLog()
    backup = TreeBackup(tree, TreeSelection(("/gone", "/r/sub")), log)
    assert [m.path for m in backup.metas()] == ["/r/sub/deep.bin", "/r/sub"]
    assert len(log.problems) == 1 and "/gone" in log.problems[0]


def test_a_root_that_is_a_file_is_saved_alone():
    log = CollectingLog()
    backup = TreeBackup(_tree(), TreeSelection(("/r/a.txt",)), log)
    assert [m.path for m in backup.metas()] == ["/r/a.txt"]


def test_one_file_system_keeps_mount_points_but_not_what_is_mounted():
    reader = _Failing(_tree(), devices={"/r/sub": 99})
    backup, _ = _backup(reader, one_file_system=True)
    paths = [m.path for m in backup.metas()]
    assert "/r/sub" in paths and "/r/sub/deep.bin" not in paths


def test_a_file_vanishing_between_listing_and_stat_is_one_error():
    reader = _Failing(_tree(), fail_stat={"/r": VanishedError("/r", "vanished")})
    backup, log = _backup(reader)
    assert list(backup.metas()) == []
    assert log.problems == ["/r: vanished; not backed up"]
