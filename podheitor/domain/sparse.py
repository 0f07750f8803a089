"""How a file's content travels in a flat byte stream (a metaplugin DATA block).

Dense content travels raw, so Bacula's own tools (``bextract``) give back the file as is.
Content with holes travels in the self-describing *PHSPARSE* framing, so holes are never
materialised and the restore knows the logical size:

    header   magic "\\x89PHSPARS" | u32 version=1 | u32 flags=0 | u64 logical size
    segment  u64 offset | u64 length | <length bytes>      (offsets strictly increasing)
    end      u64 0xFFFF_FFFF_FFFF_FFFF | u64 segment count | u64 data bytes

All integers are big-endian. Raw content that happens to begin with the magic is sent
framed too, so a raw stream can never be mistaken for a framed one. Both codecs are
sans-I/O: bytes in, chunks out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from podheitor.domain.errors import FormatError
from podheitor.domain.files import Chunk

MAGIC = b"\x89PHSPARS"
VERSION = 1
_HEADER = struct.Struct(">8sIIQ")
_SEGMENT = struct.Struct(">QQ")
_END_MARK = 0xFFFF_FFFF_FFFF_FFFF
HEADER_SIZE = _HEADER.size
SEGMENT_HEADER_SIZE = _SEGMENT.size


class _Segments:
    """Running count of segments, checking each one follows the rules of the format."""

    def __init__(self) -> None:
        self.next_free = 0
        self.count = 0
        self.data_bytes = 0

    def add(self, offset: int, length: int, logical_size: int) -> str | None:
        """Record a segment; return what is wrong with it instead, if anything."""
        if length <= 0 or offset < self.next_free or offset + length > logical_size:
            return (f"segment [{offset}, {offset + length}) is empty, overlaps the previous "
                    f"one or lies beyond the logical size {logical_size}")
        self.next_free = offset + length
        self.count += 1
        self.data_bytes += length
        return None


class SparseEncoder:
    """Produces the framing bytes around segments; the caller sends segment data itself."""

    def __init__(self, logical_size: int) -> None:
        self.logical_size = logical_size
        self._segments = _Segments()

    def header(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, 0, self.logical_size)

    def segment(self, offset: int, length: int) -> bytes:
        """The header of one segment; ``length`` bytes of data must follow it."""
        problem = self._segments.add(offset, length, self.logical_size)
        if problem:
            raise ValueError(problem)
        return _SEGMENT.pack(offset, length)

    def end(self) -> bytes:
        tally = self._segments
        return _SEGMENT.pack(_END_MARK, tally.count) + struct.pack(">Q", tally.data_bytes)


def looks_framed(first_bytes: bytes | memoryview) -> bool:
    """Whether raw content starts like framed content (and so must be sent framed)."""
    return bytes(first_bytes[: len(MAGIC)]) == MAGIC


class ContentDecoder:
    """Turns a received DATA byte stream back into offset-addressed chunks.

    It detects raw versus framed content from the first bytes, validates the framing as
    it goes, and ``finish()`` raises ``FormatError`` if the stream was cut short. Chunk
    views point into the fed buffer whenever possible (header bytes are the only copies).
    After ``finish()``, ``content_size`` is the logical size of the content.
    """

    _DETECT, _RAW, _HEADER, _SEGHDR, _DATA, _ENDTAIL, _DONE = range(7)

    def __init__(self) -> None:
        self._state = self._DETECT
        self._pending = bytearray()  # an incomplete header
        self._pos = 0  # raw: bytes so far; framed: offset of the current segment data
        self._left = 0  # framed: data bytes left in the current segment
        self._logical_size = 0
        self._segments = _Segments()
        self._end_count = 0
        self.content_size: int | None = None

    @property
    def framed(self) -> bool:
        return self._state not in (self._DETECT, self._RAW)

    def _take(self, view: memoryview, size: int) -> tuple[bytes | None, memoryview]:
        """Accumulate ``size`` header bytes; return them once complete, plus the rest."""
        need = size - len(self._pending)
        self._pending += view[:need]
        if len(self._pending) < size:
            return None, view[len(view) :]
        out = bytes(self._pending)
        self._pending.clear()
        return out, view[need:]

    def feed(self, data: bytes | memoryview) -> Iterator[Chunk]:
        view = memoryview(data)
        while view:
            if self._state == self._RAW:
                yield Chunk(self._pos, view)
                self._pos += len(view)
                return
            if self._state == self._DETECT:
                head, view = self._take(view, len(MAGIC))
                if head is None:
                    return
                if head == MAGIC:
                    self._state = self._HEADER
                    self._pending += head  # the magic is part of the header
                else:
                    self._state = self._RAW
                    yield Chunk(0, memoryview(head))
                    self._pos = len(head)
            elif self._state == self._DATA:
                n = min(self._left, len(view))
                yield Chunk(self._pos, view[:n])
                self._pos += n
                self._left -= n
                view = view[n:]
                if not self._left:
                    self._state = self._SEGHDR
            else:
                view = self._header_step(view)

    def _header_step(self, view: memoryview) -> memoryview:
        if self._state == self._DONE:
            raise FormatError(f"{len(view)} bytes after the end of framed content")
        size = {self._HEADER: HEADER_SIZE, self._SEGHDR: SEGMENT_HEADER_SIZE, self._ENDTAIL: 8}
        raw, rest = self._take(view, size[self._state])
        if raw is None:
            return rest
        if self._state == self._HEADER:
            _magic, version, _flags, self._logical_size = _HEADER.unpack(raw)
            if version != VERSION:
                raise FormatError(f"framed content version {version} is not supported")
            self._state = self._SEGHDR
        elif self._state == self._SEGHDR:
            offset, length = _SEGMENT.unpack(raw)
            if offset == _END_MARK:
                self._end_count = length
                self._state = self._ENDTAIL
            else:
                self._start_segment(offset, length)
        else:
            total = int.from_bytes(raw, "big")
            tally = self._segments
            if self._end_count != tally.count or total != tally.data_bytes:
                raise FormatError(
                    f"framed content end says {self._end_count} segments / {total} bytes, "
                    f"received {tally.count} / {tally.data_bytes}"
                )
            self._state = self._DONE
        return rest

    def _start_segment(self, offset: int, length: int) -> None:
        problem = self._segments.add(offset, length, self._logical_size)
        if problem:
            raise FormatError(problem)
        self._pos, self._left = offset, length
        self._state = self._DATA

    def finish(self) -> list[Chunk]:
        """Check the stream is complete and return what was still held back."""
        tail: list[Chunk] = []
        if self._state == self._DETECT:  # shorter than the magic: plain raw content
            if self._pending:
                tail.append(Chunk(0, memoryview(bytes(self._pending))))
            self._pos = len(self._pending)
            self._pending.clear()
            self._state = self._RAW
        if self._state == self._RAW:
            self.content_size = self._pos
        elif self._state == self._DONE:
            self.content_size = self._logical_size
        else:
            raise FormatError("framed content ended before its end record (truncated)")
        return tail
