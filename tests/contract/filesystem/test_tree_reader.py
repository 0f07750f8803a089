"""Contract of ``FileTreeReader``: the POSIX adapter and the in-memory fake behave alike."""

from __future__ import annotations

import os

import pytest

from podheitor.domain.errors import SourceError, VanishedError
from podheitor.domain.extents import ExtentMap
from podheitor.domain.files import MAX_CHUNK, FileKind
from podheitor.ports.filesystem import TreeEntry


def _read_all(kit, entry: TreeEntry):
    pieces: dict[int, bytes] = {}
    with kit.reader.content(entry).open() as stream:
        for chunk in stream.chunks():
            assert len(chunk.data) <= MAX_CHUNK
            pieces[chunk.offset] = bytes(chunk.data)
        return stream.extents, pieces


def test_stat_describes_a_regular_file(kit):
    kit.file("a.txt", b"hello", mode=0o640, mtime=1_600_000_000)
    meta = kit.reader.stat(kit.path("a.txt")).meta
    assert (meta.kind, meta.size, meta.mode, meta.mtime, meta.nlink) == (
        FileKind.REGULAR, 5, 0o640, 1_600_000_000, 1)
    assert meta.path == kit.path("a.txt")


def test_stat_describes_a_directory_with_size_zero(kit):
    kit.dir("d", mode=0o750)
    meta = kit.reader.stat(kit.path("d")).meta
    assert (meta.kind, meta.size, meta.mode) == (FileKind.DIRECTORY, 0, 0o750)


def test_stat_does_not_follow_a_dangling_symlink(kit):
    kit.symlink("l", "nowhere/at/all")
    meta = kit.reader.stat(kit.path("l")).meta
    assert meta.kind is FileKind.SYMLINK
    assert meta.link_target == "nowhere/at/all"
    assert meta.size == len("nowhere/at/all")


def test_stat_of_a_missing_path_says_it_vanished(kit):
    with pytest.raises(VanishedError):
        kit.reader.stat(kit.path("missing"))


def test_scan_lists_one_level_in_name_order(kit):
    kit.file("b", b"2")
    kit.file("a", b"1")
    kit.file("sub/inner", b"3")
    entries = list(kit.reader.scan(kit.root))
    assert all(isinstance(e, TreeEntry) for e in entries)
    assert [e.meta.path for e in entries] == [kit.path(n) for n in ("a", "b", "sub")]
    assert entries[2].meta.kind is FileKind.DIRECTORY


def test_scan_of_a_missing_directory_raises_a_source_error(kit):
    with pytest.raises(SourceError):
        list(kit.reader.scan(kit.path("nope")))


def test_hard_links_share_device_and_inode(kit):
    kit.file("first", b"shared")
    kit.hardlink("second", "first")
    a, b = kit.reader.stat(kit.path("first")), kit.reader.stat(kit.path("second"))
    assert (a.device, a.inode) == (b.device, b.inode)
    assert a.meta.nlink == b.meta.nlink == 2


def test_content_chunks_reproduce_a_file_larger_than_one_chunk(kit):
    data = os.urandom(2 * MAX_CHUNK + 12345)
    kit.file("big", data)
    extents, pieces = _read_all(kit, kit.reader.stat(kit.path("big")))
    assert extents == ExtentMap.full(len(data))
    offsets = sorted(pieces)
    assert offsets == list(pieces)  # chunks arrive in offset order
    assert b"".join(pieces[o] for o in offsets) == data


def test_content_of_a_sparse_file_skips_its_holes(kit):
    size = 1 << 20
    data = os.urandom(size)
    holes = ExtentMap.of((64 << 10, 256 << 10), (512 << 10, 128 << 10))
    kit.file("sparse", data, holes=holes)
    extents, pieces = _read_all(kit, kit.reader.stat(kit.path("sparse")))
    assert extents == ExtentMap.full(size) - holes
    assert not (ExtentMap.of(*((o, len(p)) for o, p in pieces.items())) & holes)
    for offset, piece in pieces.items():
        assert piece == data[offset : offset + len(piece)]


def test_content_of_a_file_removed_after_stat_raises_vanished(kit):
    kit.file("gone", b"soon")
    entry = kit.reader.stat(kit.path("gone"))
    kit.remove("gone")
    with pytest.raises(VanishedError), kit.reader.content(entry).open():
        pass


def test_xattrs_are_returned_sorted_by_name(kit):
    kit.file("x", b"1", xattrs={"user.b": b"2", "user.a": b"1"})
    assert kit.reader.xattrs(kit.path("x")) == (("user.a", b"1"), ("user.b", b"2"))
