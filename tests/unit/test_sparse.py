"""PHSPARSE framing: content with holes survives any split of the byte stream; raw content
passes through untouched; malformed framing is a ``FormatError`` and nothing else."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import FormatError
from podheitor.domain.files import Chunk
from podheitor.domain.sparse import (
    MAGIC,
    VERSION,
    ContentDecoder,
    SparseEncoder,
    looks_framed,
)

PROPERTY = settings(max_examples=100, deadline=None)

Segment = tuple[int, bytes]


# -- building and reading streams ---------------------------------------------------------
@st.composite
def sparse_contents(draw: st.DrawFn) -> tuple[int, list[Segment]]:
    """A logical size and sorted, disjoint (possibly touching) data segments."""
    size = draw(st.integers(0, 3000))
    points = sorted(draw(st.sets(st.integers(0, size), max_size=12)))
    segments = []
    for start, end in zip(points[::2], points[1::2], strict=False):
        segments.append((start, draw(st.binary(min_size=end - start, max_size=end - start))))
    return size, segments


def encode(size: int, segments: Sequence[Segment]) -> bytes:
    enc = SparseEncoder(size)
    out = [enc.header()]
    for offset, data in segments:
        out += [enc.segment(offset, len(data)), data]
    out.append(enc.end())
    return b"".join(out)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in pairwise(points)]


def splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, len(data)), max_size=20).map(lambda c: split_at(data, c))


def coalesce(chunks: Iterable[Segment]) -> list[Segment]:
    """Join pieces that continue each other, so different splits compare equal."""
    out: list[tuple[int, bytearray]] = []
    for offset, data in chunks:
        if out and out[-1][0] + len(out[-1][1]) == offset:
            out[-1][1].extend(data)
        elif data:
            out.append((offset, bytearray(data)))
    return [(o, bytes(d)) for o, d in out]


def copy(chunks: Iterable[Chunk]) -> list[Segment]:
    return [(c.offset, bytes(c.data)) for c in chunks]


def decode(pieces: Iterable[bytes]) -> tuple[list[Segment], ContentDecoder]:
    dec = ContentDecoder()
    got: list[Segment] = []
    for piece in pieces:
        got += copy(dec.feed(piece))
    got += copy(dec.finish())
    return got, dec


def header(size: int, version: int = VERSION, flags: int = 0) -> bytes:
    return struct.pack(">8sIIQ", MAGIC, version, flags, size)


def seg(offset: int, length: int) -> bytes:
    return struct.pack(">QQ", offset, length)


def end(count: int, data_bytes: int) -> bytes:
    return struct.pack(">QQQ", 0xFFFF_FFFF_FFFF_FFFF, count, data_bytes)


# -- framed content -----------------------------------------------------------------------
@PROPERTY
@given(st.data(), sparse_contents())
def test_framed_content_survives_any_split(
    data: st.DataObject, content: tuple[int, list[Segment]]
) -> None:
    size, segments = content
    stream = encode(size, segments)
    got, dec = decode(data.draw(splits(stream), label="pieces"))
    assert coalesce(got) == coalesce(segments)
    assert dec.content_size == size
    assert dec.framed


@PROPERTY
@given(st.data(), sparse_contents())
def test_decoded_chunks_are_in_offset_order_and_never_overlap(
    data: st.DataObject, content: tuple[int, list[Segment]]
) -> None:
    got, _ = decode(data.draw(splits(encode(*content)), label="pieces"))
    for (o1, d1), (o2, _d2) in pairwise(got):
        assert o1 + len(d1) <= o2


def test_content_of_only_holes_decodes_to_no_chunks_and_its_size() -> None:
    got, dec = decode([encode(1 << 40, [])])
    assert got == []
    assert dec.content_size == 1 << 40


def test_framed_stream_fed_one_byte_at_a_time_decodes() -> None:
    segments = [(3, b"abc"), (6, b"de"), (100, b"\0\1")]
    stream = encode(200, segments)
    got, dec = decode(stream[i : i + 1] for i in range(len(stream)))
    assert coalesce(got) == coalesce(segments)
    assert dec.content_size == 200


def test_raw_content_beginning_with_the_magic_round_trips_when_framed() -> None:
    content = MAGIC + b"looks framed but is file content"
    assert looks_framed(content)
    got, dec = decode([encode(len(content), [(0, content)])])
    assert got == [(0, content)]
    assert dec.content_size == len(content)


# -- raw content ----------------------------------------------------------------------------
@PROPERTY
@given(st.data(), st.binary(max_size=3000))
def test_raw_content_comes_back_unchanged_whatever_the_split(
    data: st.DataObject, content: bytes
) -> None:
    assume(not looks_framed(content))
    got, dec = decode(data.draw(splits(content), label="pieces"))
    assert coalesce(got) == coalesce([(0, content)])
    assert dec.content_size == len(content)
    assert not dec.framed


@pytest.mark.parametrize("length", range(len(MAGIC)))
def test_raw_content_shorter_than_the_magic_is_returned_by_finish(length: int) -> None:
    content = bytes(range(1, length + 1))
    dec = ContentDecoder()
    fed = copy(dec.feed(content))
    assert coalesce(fed + copy(dec.finish())) == coalesce([(0, content)])
    assert dec.content_size == length


@pytest.mark.parametrize("length", range(1, len(MAGIC)))
def test_a_prefix_of_the_magic_alone_is_raw_content(length: int) -> None:
    got, dec = decode([MAGIC[:length]])
    assert got == [(0, MAGIC[:length])]
    assert dec.content_size == length


def test_content_size_is_unknown_before_finish() -> None:
    dec = ContentDecoder()
    list(dec.feed(b"plain file content"))
    assert dec.content_size is None


# -- encoder --------------------------------------------------------------------------------
def test_looks_framed_recognises_the_magic_only() -> None:
    assert looks_framed(MAGIC + b"rest")
    assert looks_framed(memoryview(MAGIC))
    assert not looks_framed(MAGIC[:-1])
    assert not looks_framed(b"x" + MAGIC)


@pytest.mark.parametrize(
    ("earlier", "offset", "length"),
    [
        ((0, 10), 5, 10),  # overlaps the previous segment
        ((50, 10), 0, 10),  # out of order
        (None, 95, 10),  # beyond the logical size
        (None, 0, 0),  # empty
    ],
    ids=["overlap", "out-of-order", "beyond-size", "empty"],
)
def test_encoder_refuses_segments_the_decoder_would_reject(
    earlier: tuple[int, int] | None, offset: int, length: int
) -> None:
    enc = SparseEncoder(100)
    if earlier is not None:
        enc.segment(*earlier)
    with pytest.raises(ValueError):
        enc.segment(offset, length)


# -- malformed framing ----------------------------------------------------------------------
def decode_all(stream: bytes) -> None:
    dec = ContentDecoder()
    list(dec.feed(stream))
    dec.finish()


EXAMPLE = encode(500, [(0, b"A" * 40), (40, b"B" * 3), (300, b"C" * 17)])


@pytest.mark.parametrize("cut", range(len(MAGIC), len(EXAMPLE)))
def test_framed_stream_truncated_at_any_byte_after_the_magic_fails_at_finish(cut: int) -> None:
    dec = ContentDecoder()
    list(dec.feed(EXAMPLE[:cut]))  # a valid prefix: no complaint yet
    with pytest.raises(FormatError, match="truncated"):
        dec.finish()


@PROPERTY
@given(st.data(), sparse_contents())
def test_any_truncation_after_the_magic_fails_at_finish(
    data: st.DataObject, content: tuple[int, list[Segment]]
) -> None:
    stream = encode(*content)
    cut = data.draw(st.integers(len(MAGIC), len(stream) - 1), label="cut")
    dec = ContentDecoder()
    list(dec.feed(stream[:cut]))
    with pytest.raises(FormatError):
        dec.finish()


MALFORMED = {
    "overlapping segments": header(100) + seg(0, 10) + b"x" * 10 + seg(5, 10) + b"y" * 10,
    "out-of-order segments": header(100) + seg(50, 10) + b"x" * 10 + seg(0, 10) + b"y" * 10,
    "segment beyond the size": header(100) + seg(95, 10) + b"x" * 10 + end(1, 10),
    "empty segment": header(100) + seg(10, 0) + end(1, 0),
    "end counts too many segments": header(100) + seg(0, 4) + b"abcd" + end(2, 4),
    "end counts too few segments": header(100) + seg(0, 4) + b"abcd" + end(0, 4),
    "end counts wrong data bytes": header(100) + seg(0, 4) + b"abcd" + end(1, 5),
    "bytes after the end record": header(100) + seg(0, 4) + b"abcd" + end(1, 4) + b"!",
    "unknown version": header(100, version=VERSION + 1) + end(0, 0),
    "version zero": header(100, version=0) + end(0, 0),
}


@pytest.mark.parametrize("stream", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_framing_is_a_format_error(stream: bytes) -> None:
    with pytest.raises(FormatError):
        decode_all(stream)


def test_bytes_fed_after_the_end_record_in_a_later_feed_are_refused() -> None:
    dec = ContentDecoder()
    list(dec.feed(encode(10, [(2, b"xy")])))
    with pytest.raises(FormatError):
        list(dec.feed(b"\0"))


@PROPERTY
@given(st.data(), st.binary(max_size=400))
def test_arbitrary_bytes_after_the_magic_raise_only_format_error(
    data: st.DataObject, tail: bytes
) -> None:
    stream = MAGIC + tail
    pieces = data.draw(splits(stream), label="pieces")
    try:
        decode(pieces)
    except FormatError:
        pass


@PROPERTY
@given(st.data(), st.binary(max_size=400))
def test_arbitrary_bytes_after_a_valid_header_raise_only_format_error(
    data: st.DataObject, tail: bytes
) -> None:
    stream = header(data.draw(st.integers(0, 1000), label="size")) + tail
    try:
        decode(data.draw(splits(stream), label="pieces"))
    except FormatError:
        pass


@PROPERTY
@given(st.data(), sparse_contents())
def test_corrupted_framed_stream_raises_only_format_error(
    data: st.DataObject, content: tuple[int, list[Segment]]
) -> None:
    stream = bytearray(encode(*content))
    position = data.draw(st.integers(len(MAGIC), len(stream) - 1), label="position")
    stream[position] = data.draw(st.integers(0, 255), label="byte")
    try:
        decode(data.draw(splits(bytes(stream)), label="pieces"))
    except FormatError:
        pass
