"""The trailer record: a file's data seal and xattrs, encoded and decoded losslessly;
verification refuses anything but the exact bytes the backup sent."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import FormatError, IntegrityError
from podheitor.domain.trailer import MAGIC, DataSeal, StreamDigest, Trailer

PROPERTY = settings(max_examples=100, deadline=None)


def digest_of(*pieces: bytes) -> StreamDigest:
    digest = StreamDigest()
    for piece in pieces:
        digest.update(piece)
    return digest


seals = st.builds(
    lambda data, complete: DataSeal.of(digest_of(data), complete=complete),
    st.binary(max_size=200),
    st.booleans(),
)
xattr_lists = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=60)), max_size=5)
trailers = st.builds(Trailer, seal=st.none() | seals, xattrs=xattr_lists.map(tuple))


# -- StreamDigest ---------------------------------------------------------------------------
@PROPERTY
@given(st.binary(max_size=500), st.lists(st.integers(0, 500), max_size=6))
def test_stream_digest_does_not_depend_on_how_data_is_split(data: bytes, cuts: list[int]) -> None:
    points = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    pieces = [data[a:b] for a, b in pairwise(points)]
    split, whole = digest_of(*pieces), digest_of(data)
    assert split.hexdigest() == whole.hexdigest()
    assert split.count == whole.count == len(data)


def test_stream_digest_accepts_memoryviews() -> None:
    assert digest_of(b"abc").hexdigest() == digest_of(memoryview(b"abc")).hexdigest()


def test_stream_digests_of_different_data_differ() -> None:
    assert digest_of(b"abc").hexdigest() != digest_of(b"abd").hexdigest()


# -- encode / decode ------------------------------------------------------------------------
@PROPERTY
@given(trailers)
def test_trailer_round_trips_through_encode_and_decode(trailer: Trailer) -> None:
    assert Trailer.decode(trailer.encode()) == trailer


@PROPERTY
@given(trailers)
def test_encoded_trailer_starts_with_its_magic_line(trailer: Trailer) -> None:
    blob = trailer.encode()
    assert blob.startswith(MAGIC)
    assert Trailer.is_trailer(blob)


def test_empty_trailer_round_trips() -> None:
    assert Trailer.decode(Trailer().encode()) == Trailer()


def test_complete_seal_does_not_write_a_complete_flag() -> None:
    blob = Trailer(DataSeal.of(digest_of(b"x"))).encode()
    assert b"complete" not in blob


def test_is_trailer_is_false_for_other_records() -> None:
    assert not Trailer.is_trailer(b"plain file data")


MALFORMED = {
    "no magic": b'{"data":{"bytes":1,"xxh3_128":"00"}}',
    "not json": MAGIC + b"{nope",
    "not utf-8": MAGIC + b"\xff\xfe",
    "empty body": MAGIC,
    "json array": MAGIC + b"[]",
    "json number": MAGIC + b"1",
    "json string": MAGIC + b'"data"',
    "data not an object": MAGIC + b'{"data":[]}',
    "data without digest": MAGIC + b'{"data":{"bytes":1}}',
    "data with two digests": MAGIC + b'{"data":{"bytes":1,"a":"00","b":"11"}}',
    "data without bytes": MAGIC + b'{"data":{"xxh3_128":"00"}}',
    "bytes not a number": MAGIC + b'{"data":{"bytes":"many","xxh3_128":"00"}}',
    "bytes null": MAGIC + b'{"data":{"bytes":null,"xxh3_128":"00"}}',
    "bytes infinite": MAGIC + b'{"data":{"bytes":1e400,"xxh3_128":"00"}}',
    "bytes Infinity": MAGIC + b'{"data":{"bytes":Infinity,"xxh3_128":"00"}}',
    "bytes NaN": MAGIC + b'{"data":{"bytes":NaN,"xxh3_128":"00"}}',
    "xattrs not a list": MAGIC + b'{"xattrs":5}',
    "xattr not a pair": MAGIC + b'{"xattrs":[["a"]]}',
    "xattr value not base64": MAGIC + b'{"xattrs":[["a","***"]]}',
    "xattr value not a string": MAGIC + b'{"xattrs":[["a",5]]}',
    "xattr value not ascii": MAGIC + '{"xattrs":[["a","ü"]]}'.encode(),
    "deeply nested json": MAGIC + b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("blob", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_trailer_is_a_format_error(blob: bytes) -> None:
    with pytest.raises(FormatError):
        Trailer.decode(blob)


@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_the_magic_raise_only_format_error(body: bytes) -> None:
    try:
        Trailer.decode(MAGIC + body)
    except FormatError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["data", "xattrs", "bytes", "complete", "xxh3_128"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@PROPERTY
@given(json_values)
def test_any_json_document_decodes_or_raises_only_format_error(doc: object) -> None:

    try:
        Trailer.decode(MAGIC + json.dumps(doc).encode())
    except FormatError:
        pass


# -- verify ---------------------------------------------------------------------------------
def test_verify_accepts_the_exact_bytes_that_were_sealed() -> None:
    DataSeal.of(digest_of(b"hello ", b"world")).verify(digest_of(b"hello world"), "/f")


def test_verify_refuses_a_different_byte_count() -> None:
    with pytest.raises(IntegrityError, match="received 4 data bytes"):
        DataSeal.of(digest_of(b"hello")).verify(digest_of(b"hell"), "/f")


def test_verify_refuses_same_length_different_bytes() -> None:
    with pytest.raises(IntegrityError, match="digest mismatch"):
        DataSeal.of(digest_of(b"hello")).verify(digest_of(b"jello"), "/f")


def test_verify_refuses_an_incomplete_seal_even_when_bytes_match() -> None:
    with pytest.raises(IntegrityError, match="only part"):
        DataSeal.of(digest_of(b"hel"), complete=False).verify(digest_of(b"hel"), "/f")


def test_verify_refuses_an_unknown_digest_algorithm() -> None:
    seal = DataSeal.of(digest_of(b"x"))
    foreign = DataSeal(seal.count, seal.digest, "sha1")
    with pytest.raises(IntegrityError, match="sha1"):
        foreign.verify(digest_of(b"x"), "/f")


def test_verify_names_the_file_in_its_error() -> None:
    with pytest.raises(IntegrityError, match=r"^/restore/x: "):
        DataSeal.of(digest_of(b"a")).verify(digest_of(b"b"), "/restore/x")


@PROPERTY
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_verify_passes_exactly_when_the_bytes_are_equal(sent: bytes, received: bytes) -> None:
    seal = DataSeal.of(digest_of(sent))
    if sent == received:
        seal.verify(digest_of(received), "/f")
    else:
        with pytest.raises(IntegrityError):
            seal.verify(digest_of(received), "/f")


@PROPERTY
@given(st.binary(max_size=200))
def test_a_decoded_seal_verifies_the_original_bytes(data: bytes) -> None:
    trailer = Trailer.decode(Trailer(DataSeal.of(digest_of(data))).encode())
    assert trailer.seal is not None
    trailer.seal.verify(digest_of(data), "/f")


def test_integrity_error_is_a_format_error() -> None:
    assert issubclass(IntegrityError, FormatError)
