"""Contract of ``FileTreeWriter``: the POSIX adapter and the in-memory fake behave alike."""

from __future__ import annotations

import pytest

from podheitor.domain.errors import TargetError
from podheitor.domain.extents import ExtentMap
from podheitor.domain.files import FileKind, FileMeta


def _meta(kit, rel, kind=FileKind.REGULAR, **kw):
    return FileMeta(kit.path(rel), kind, **kw)


def test_a_new_file_is_invisible_until_commit(kit):
    new = kit.writer.create_file(kit.path("f"))
    new.write(0, memoryview(b"hello"))
    assert kit.writer.lookup(kit.path("f")) is None
    new.commit(_meta(kit, "f", size=5, mode=0o600, mtime=1_650_000_000), None, ())
    assert kit.read("f") == b"hello"
    meta = kit.reader.stat(kit.path("f")).meta
    assert (meta.mode, meta.mtime) == (0o600, 1_650_000_000)


def test_discard_leaves_the_existing_file_untouched(kit):
    kit.file("f", b"original")
    new = kit.writer.create_file(kit.path("f"))
    new.write(0, memoryview(b"replacement"))
    new.discard()
    assert kit.read("f") == b"original"
    assert kit.listing() == ["f"]  # no temporary file left behind


def test_commit_replaces_an_existing_file(kit):
    kit.file("f", b"old content that is longer")
    new = kit.writer.create_file(kit.path("f"))
    new.write(0, memoryview(b"new"))
    new.commit(_meta(kit, "f", size=3), None, ())
    assert kit.read("f") == b"new"
    assert kit.listing() == ["f"]


def test_content_size_extends_the_file_with_a_hole(kit):
    new = kit.writer.create_file(kit.path("s"))
    new.write(0, memoryview(b"x" * 4096))
    new.write(1 << 20, memoryview(b"y" * 4096))
    new.commit(_meta(kit, "s", size=2 << 20), 2 << 20, ())
    data = kit.read("s")
    assert len(data) == 2 << 20
    assert data[:4096] == b"x" * 4096 and data[1 << 20 : (1 << 20) + 4096] == b"y" * 4096
    assert data[4096 : 1 << 20] == bytes((1 << 20) - 4096)
    holes = kit.holes("s")
    assert holes.covers(64 << 10, 1 << 20)  # the gap was never written
    assert holes.covers((1 << 20) + (64 << 10), 2 << 20)


def test_commit_applies_extended_attributes(kit):
    new = kit.writer.create_file(kit.path("x"))
    new.commit(_meta(kit, "x"), 0, (("user.k", b"v"),))
    assert kit.reader.xattrs(kit.path("x")) == (("user.k", b"v"),)


def test_make_directory_creates_missing_parents_and_accepts_existing(kit):
    kit.writer.make_directory(kit.path("a/b/c"))
    kit.writer.make_directory(kit.path("a/b/c"))
    assert kit.writer.lookup(kit.path("a/b/c")).is_directory


def test_make_directory_refuses_when_a_file_is_in_the_way(kit):
    kit.file("a", b"")
    with pytest.raises(TargetError):
        kit.writer.make_directory(kit.path("a/b"))


def test_create_file_without_its_parent_directory_fails(kit):
    with pytest.raises(TargetError):
        kit.writer.create_file(kit.path("missing/f"))


def test_symlink_is_created_and_replaced_atomically(kit):
    kit.writer.symlink(kit.path("l"), "first")
    kit.writer.symlink(kit.path("l"), "second")
    found = kit.writer.lookup(kit.path("l"))
    assert found.is_symlink and not found.is_directory
    assert kit.reader.stat(kit.path("l")).meta.link_target == "second"


def test_hardlink_gives_a_second_name_to_the_same_file(kit):
    kit.file("orig", b"data")
    kit.writer.hardlink(kit.path("again"), kit.path("orig"))
    a, b = kit.reader.stat(kit.path("orig")), kit.reader.stat(kit.path("again"))
    assert (a.device, a.inode) == (b.device, b.inode)
    assert kit.read("again") == b"data"


def test_a_file_cannot_replace_a_directory(kit):
    kit.dir("d")
    with pytest.raises(TargetError):
        kit.writer.symlink(kit.path("d"), "x")


def test_set_attributes_on_a_directory(kit):
    kit.dir("d", mode=0o700)
    problems = kit.writer.set_attributes(
        _meta(kit, "d", FileKind.DIRECTORY, mode=0o751, mtime=1_234_567_890, uid=0, gid=0), ())
    meta = kit.reader.stat(kit.path("d")).meta
    assert (meta.mode, meta.mtime) == (0o751, 1_234_567_890)
    assert all("owner" in p for p in problems)  # only ownership may fail without privilege


def test_lookup_reports_what_occupies_a_path(kit):
    kit.file("f", b"", mtime=1_500_000_000)
    kit.dir("d")
    assert kit.writer.lookup(kit.path("none")) is None
    f, d = kit.writer.lookup(kit.path("f")), kit.writer.lookup(kit.path("d"))
    assert (f.is_directory, f.mtime) == (False, 1_500_000_000)
    assert d.is_directory


def test_holes_of_a_written_file_are_reported(kit):
    new = kit.writer.create_file(kit.path("h"))
    new.write(0, memoryview(b"a" * (64 << 10)))
    new.commit(_meta(kit, "h"), 1 << 20, ())
    assert kit.holes("h") == ExtentMap.of((64 << 10, (1 << 20) - (64 << 10)))
