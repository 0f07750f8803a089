"""Virtual files through the metaplugin stream and back, in memory: encoder, decoder and the
restore driver, including sources that fail and streams that lie."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.replay import BackupStreamDecoder, EndOfFiles
from podheitor.adapters.bacula.session import FileOffered, RestoreObjectReceived
from podheitor.adapters.bacula.stream import BackupEncoder, RestoreDriver
from podheitor.adapters.filesystems.memory import MemoryTree
from podheitor.app.api import CollectingLog
from podheitor.app.treerestore import TreeRestore
from podheitor.domain.errors import AccessDeniedError, VanishedError
from podheitor.domain.extents import ExtentMap
from podheitor.domain.files import (
    BytesContent,
    Chunk,
    FileExtras,
    FileKind,
    FileMeta,
    RestoreObject,
    VirtualFile,
)
from podheitor.domain.sparse import MAGIC


class Bytes:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, buffers) -> None:
        for b in buffers:
            self.data += b


def encode(items, *, seal=True):
    out, log = Bytes(), CollectingLog()
    enc = BackupEncoder(out, log, seal=seal, ask_file_index=lambda: enc.files)
    for item in items:
        if isinstance(item, RestoreObject):
            enc.restore_object(item)
        else:
            enc.file(item)
    out.write([ptcomm.EOD])
    return bytes(out.data), log


def restore(stream: bytes, tree: MemoryTree | None = None):
    tree = tree or MemoryTree()
    log = CollectingLog()
    sink = TreeRestore(tree, log, where="/w")
    answers = Bytes()
    driver = RestoreDriver(sink, answers, log)
    decoder = BackupStreamDecoder(where="/w")
    for frame in ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(stream):
        event = decoder.feed(frame.letter, frame.payload)
        if isinstance(event, EndOfFiles):
            break
        if event is not None:
            driver.handle(event)
    driver.settle()
    sink.finish()
    replies = [(f.letter, f.text) for f in ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(
        bytes(answers.data))]
    return tree, sink, log, replies


def regular(path, data=b"", **kw):
    content = BytesContent(data, **kw) if data else None
    return VirtualFile(FileMeta(path, FileKind.REGULAR, size=len(data)), content)


class Failing:
    """Content whose source fails on open or after some chunks."""

    def __init__(self, data: bytes, fail_after: int | None) -> None:
        self.data, self.fail_after = data, fail_after

    @contextmanager
    def open(self):
        if self.fail_after is None:
            raise VanishedError("/d/f", "vanished before it could be read")
        inner = BytesContent(self.data, chunk_size=1000).open().__enter__()

        class Stream:
            size, extents = inner.size, inner.extents

            def chunks(s):
                for n, chunk in enumerate(inner.chunks()):
                    if n == self.fail_after:
                        raise AccessDeniedError("/d/f", "I/O error")
                    yield chunk

        yield Stream()


def test_files_come_back_identical_through_the_stream():
    stream, log = encode([regular("/d/a", b"alpha" * 1000), regular("/d/empty")])
    tree, sink, rlog, replies = restore(stream)
    assert log.entries == rlog.entries == []
    assert tree.read("/w/d/a") == b"alpha" * 1000 and tree.read("/w/d/empty") == b""
    assert sink.restored == 2 and all(r == ("C", "OK") for r in replies)


def test_a_file_that_vanishes_before_reading_is_left_out_with_an_error():
    vf = VirtualFile(FileMeta("/d/f", FileKind.REGULAR, size=5), Failing(b"12345", None))
    stream, log = encode([vf, regular("/d/next", b"x")])
    assert log.problems == ["/d/f: vanished before it could be read; not backed up"]
    tree, *_ = restore(stream)
    assert not tree.exists("/w/d/f") and tree.read("/w/d/next") == b"x"


def test_a_read_failure_mid_file_marks_it_incomplete_and_the_restore_refuses_it():
    data = bytes(range(256)) * 20
    vf = VirtualFile(FileMeta("/d/f", FileKind.REGULAR, size=len(data)), Failing(data, 2))
    stream, log = encode([vf])
    assert len(log.problems) == 1 and "incomplete" in log.problems[0]
    tree, _, _, replies = restore(stream)
    assert not tree.exists("/w/d/f")
    assert replies[-1][0] == "E" and "only part of this file" in replies[-1][1]


def test_restore_objects_travel_before_and_between_files():
    stream, _ = encode([RestoreObject("layout", b"\x00\x01" * 600_000), regular("/d/a", b"1")])
    d_packets = [f for f in ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(stream)
                 if f.letter == "D"]
    assert [len(f.payload) for f in d_packets[:2]] == [999_999, 200_001]  # split to fit
    _, sink, _, replies = restore(stream)
    assert [(o.name, len(o.data)) for o in sink.objects] == [("layout", 1_200_000)]
    assert replies[0] == ("C", "OK")


def test_names_the_protocol_cannot_carry_are_refused_at_backup():
    stream, log = encode([regular("/d/new\nline", b"x"), regular("/d/trailing ", b"y")])
    assert len(log.problems) == 2
    assert BackupStreamDecoder().feed("C", b"FNAME:/x\n") is None  # decoder itself is fine
    assert b"FNAME" not in stream


def test_a_hard_link_to_a_file_outside_the_stream_is_refused():
    link = VirtualFile(FileMeta("/d/l", FileKind.HARDLINK, size=1, link_target="/d/nothere"))
    stream, log = encode([link])
    assert "not in this backup" in log.problems[0]
    assert b"FNAME" not in stream


def test_hard_links_name_the_file_index_of_their_original():
    orig = VirtualFile(FileMeta("/d/o", FileKind.REGULAR, size=1, nlink=2), BytesContent(b"z"))
    link = VirtualFile(FileMeta("/d/l", FileKind.HARDLINK, size=1, nlink=2, link_target="/d/o"))
    stream, _ = encode([regular("/d/first", b"1"), orig, link])
    assert b"STAT:L 1 0 0 100644 2 2\n" in stream and b"LSTAT:/d/o\n" in stream
    tree, *_ = restore(stream)
    assert tree.stat("/w/d/l").inode == tree.stat("/w/d/o").inode


def test_a_chunk_larger_than_a_packet_is_split():
    stream, _ = encode([regular("/d/big", b"b" * 3_000_000, chunk_size=3_000_000)])
    sizes = [len(f.payload) for f in ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(stream)
             if f.letter == "D"]
    assert max(sizes) <= ptcomm.MAX_PAYLOAD and sum(sizes) > 3_000_000
    tree, *_ = restore(stream)
    assert tree.read("/w/d/big") == b"b" * 3_000_000


def test_a_file_that_is_all_hole_keeps_its_size_and_sends_no_data():
    vf = VirtualFile(FileMeta("/d/h", FileKind.REGULAR, size=64 << 20),
                     BytesContent(b"", extents=ExtentMap()))

    class Hole:
        @contextmanager
        def open(self):
            class S:
                size, extents = 64 << 20, ExtentMap()

                def chunks(self):
                    return iter(())
            yield S()

    stream, _ = encode([VirtualFile(vf.meta, Hole())])
    assert len(stream) < 1000
    tree, *_ = restore(stream)
    assert tree.stat("/w/d/h").meta.size == 64 << 20
    assert tree.holes("/w/d/h") == ExtentMap.full(64 << 20)


def test_raw_content_that_starts_like_framing_is_framed_and_comes_back_intact():
    data = MAGIC + b"not really framed" * 10
    stream, _ = encode([regular("/d/m", data)])
    tree, *_ = restore(stream)
    assert tree.read("/w/d/m") == data


def test_a_foreign_xattr_blob_is_reported_and_the_file_kept():
    stream, _ = encode([regular("/d/a", b"data")], seal=False)
    frames = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(stream)
    at = next(i for i, f in enumerate(frames) if f.letter == "F" and i > 3 and
              frames[i - 1].letter == "D")
    extra = [ptcomm.Frame("C", b"XATTR\n"), ptcomm.Frame("D", b"user.x=1"), ptcomm.Frame("F")]
    frames[at + 1 : at + 1] = extra
    tree, _, log, _ = restore(b"".join(ptcomm.packet(f.letter, f.payload) for f in frames))
    assert tree.read("/w/d/a") == b"data"
    assert log.problems == ["/w/d/a: XATTR data in an unknown format (8 bytes) not applied"]


def test_without_a_trailer_the_file_is_committed_when_the_next_one_begins():
    stream, _ = encode([regular("/d/a", b"1"), regular("/d/b", b"2")], seal=False)
    assert b"XATTR" not in stream
    tree, sink, _, _ = restore(stream)
    assert (tree.read("/w/d/a"), tree.read("/w/d/b"), sink.restored) == (b"1", b"2", 2)


def test_a_commit_failure_after_the_next_file_began_is_a_non_fatal_error():
    class Full(MemoryTree):
        def create_file(self, path):
            new = super().create_file(path)
            if path.endswith("/a"):
                def fail(*_):
                    from podheitor.domain.errors import TargetError
                    raise TargetError("no space left on device")
                new.commit = fail
            return new

    stream, _ = encode([regular("/d/a", b"1"), regular("/d/b", b"2")], seal=False)
    tree, _, log, replies = restore(stream, Full())
    assert log.problems == ["no space left on device; not restored"]
    assert all(letter == "C" for letter, _ in replies)  # no E: the plugin asked about /d/b
    assert tree.read("/w/d/b") == b"2"


@pytest.mark.parametrize("extras", [FileExtras(acl=b"user::rw-\n"),
                                    FileExtras(xattrs=(("user.k", b"v"),))])
def test_acl_and_xattrs_travel_after_the_data(extras):
    vf = VirtualFile(FileMeta("/d/a", FileKind.REGULAR, size=1), BytesContent(b"1"), extras)
    stream, _ = encode([vf])
    tree, _, log, _ = restore(stream)
    if extras.xattrs:
        assert tree.xattrs("/w/d/a") == (("user.k", b"v"),)
    else:
        assert log.problems == ["/w/d/a: an ACL block in a foreign format was not applied"]


def test_chunk_offsets_are_kept_exactly():
    class Offsets:
        @contextmanager
        def open(self):
            class S:
                size, extents = 100, ExtentMap.of((10, 5), (50, 5))

                def chunks(self):
                    yield Chunk(10, memoryview(b"abcde"))
                    yield Chunk(50, memoryview(b"vwxyz"))
            yield S()

    stream, _ = encode([VirtualFile(FileMeta("/d/s", FileKind.REGULAR, size=100), Offsets())])
    tree, *_ = restore(stream)
    data = tree.read("/w/d/s")
    assert data == bytes(10) + b"abcde" + bytes(35) + b"vwxyz" + bytes(45)
    decoder = BackupStreamDecoder()
    events = [decoder.feed(f.letter, f.payload)
              for f in ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(stream)]
    assert isinstance(next(e for e in events if e is not None), FileOffered)
    assert not any(isinstance(e, RestoreObjectReceived) for e in events)
