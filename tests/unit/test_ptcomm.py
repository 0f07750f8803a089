"""PTCOMM framing: frames survive any split of the byte stream, real Bacula recordings parse
and re-encode byte for byte, and every malformed header is a ProtocolError at the right byte."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.adapters.bacula.ptcomm import (
    BACKEND_LETTERS,
    EOD,
    HEADER_SIZE,
    MAX_PAYLOAD,
    MESSAGE_LETTERS,
    PLUGIN_LETTERS,
    TERMINATE,
    Frame,
    FrameDecoder,
    command,
    data_packets,
    decode_text,
    encode_text,
    header,
    message,
    packet,
    parse_header,
)
from podheitor.domain.errors import ProtocolError

PROPERTY = settings(max_examples=100, deadline=None)
FIXTURES = Path("/work/shared/fixtures/bacula/ptcomm")
RECORDINGS = sorted(FIXTURES.glob("*.bin"))


def letters_for(recording: Path) -> frozenset[str]:
    return PLUGIN_LETTERS if "plugin-to-backend" in recording.name else BACKEND_LETTERS


def frames_of(letters: frozenset[str]) -> st.SearchStrategy[Frame]:
    def build(letter: str, payload: bytes) -> Frame:
        return Frame(letter, b"" if letter in "FT" else payload)

    return st.builds(build, st.sampled_from(sorted(letters)), st.binary(max_size=3000))


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]
    return [data[a:b] for a, b in pairwise(points)]


def decode_all(pieces: Iterable[bytes], letters: frozenset[str]) -> list[Frame]:
    decoder = FrameDecoder(letters)
    frames = [f for piece in pieces for f in decoder.feed(piece)]
    decoder.close()
    return frames


def encode(frames: Iterable[Frame]) -> bytes:
    return b"".join(packet(f.letter, f.payload) for f in frames)


# -- encoding -------------------------------------------------------------------------------
def test_header_is_letter_six_digits_and_newline() -> None:
    assert header("D", 42) == b"D000042\n"
    assert header("C", MAX_PAYLOAD) == b"C999999\n"


def test_end_of_data_and_terminate_are_empty_packets() -> None:
    assert packet("F") == EOD
    assert packet("T") == TERMINATE


@pytest.mark.parametrize(
    ("letter", "length"),
    [("X", 0), ("", 0), ("CD", 0), ("c", 0), ("D", MAX_PAYLOAD + 1), ("D", -1), ("F", 1), ("T", 5)],
)
def test_header_refuses_what_cannot_be_framed(letter: str, length: int) -> None:
    with pytest.raises(ValueError):
        header(letter, length)


def test_command_ends_its_text_with_a_newline() -> None:
    assert command("Hello Bacula") == b"C000013\nHello Bacula\n"


def test_message_is_a_newline_terminated_text_packet() -> None:
    assert message("W", "disk nearly full") == b"W000017\ndisk nearly full\n"


def test_message_escapes_nul_bytes() -> None:
    assert message("I", "a\0b") == packet("I", b"a\\0b\n")


def test_message_is_cut_to_fit_one_packet() -> None:
    letter, length = parse_header(
        message("I", "x" * (MAX_PAYLOAD + 10))[:HEADER_SIZE], MESSAGE_LETTERS
    )
    assert (letter, length) == ("I", MAX_PAYLOAD)


@pytest.mark.parametrize("letter", ["C", "D", "F", "T", "X"])
def test_message_refuses_letters_that_are_not_job_messages(letter: str) -> None:
    with pytest.raises(ValueError):
        message(letter, "text")


@PROPERTY
@given(st.text())
def test_text_round_trips_through_encode_and_decode(text: str) -> None:
    assert decode_text(encode_text(text) + b"\n") == text
    assert decode_text(encode_text(text)) == text.removesuffix("\n")


def test_decode_text_keeps_undecodable_bytes_as_surrogates() -> None:
    assert encode_text(decode_text(b"caf\xe9\n")) == b"caf\xe9"


def test_frame_text_drops_one_trailing_newline() -> None:
    assert Frame("C", b"OK\n\n").text == "OK\n"


# -- data packets -----------------------------------------------------------------------------
@PROPERTY
@given(st.binary(max_size=5000), st.integers(1, 1500))
def test_data_packets_carry_the_data_in_pieces_of_at_most_limit(data: bytes, limit: int) -> None:
    pairs = list(data_packets(memoryview(data), limit))
    assert b"".join(bytes(p) for _, p in pairs) == data
    for head, piece in pairs:
        assert parse_header(head, PLUGIN_LETTERS) == ("D", len(piece))
        assert 0 < len(piece) <= limit
    assert len(pairs) == -(-len(data) // limit)


@PROPERTY
@given(st.binary(max_size=5000), st.integers(1, 1500))
def test_data_packets_decode_back_to_the_data(data: bytes, limit: int) -> None:
    stream = b"".join(h + bytes(p) for h, p in data_packets(memoryview(data), limit))
    assert b"".join(f.payload for f in decode_all([stream], PLUGIN_LETTERS)) == data


def test_data_packets_default_to_the_largest_payload() -> None:
    pairs = list(data_packets(memoryview(bytes(MAX_PAYLOAD + 1))))
    assert [len(p) for _, p in pairs] == [MAX_PAYLOAD, 1]


def test_data_packets_of_nothing_is_no_packet() -> None:
    assert list(data_packets(memoryview(b""))) == []


# -- decoding round trip ----------------------------------------------------------------------
@PROPERTY
@given(st.data(), st.sampled_from([PLUGIN_LETTERS, BACKEND_LETTERS]))
def test_frames_survive_any_split_of_the_stream(
    data: st.DataObject, letters: frozenset[str]
) -> None:
    frames = data.draw(st.lists(frames_of(letters), max_size=8), label="frames")
    stream = encode(frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    assert decode_all(split_at(stream, cuts), letters) == frames


def test_stream_fed_one_byte_at_a_time_decodes() -> None:
    frames = [Frame("C", b"Hello kubernetes 3\n"), Frame("D", b"\0" * 9), Frame("F"), Frame("T")]
    stream = encode(frames)
    assert decode_all((stream[i : i + 1] for i in range(len(stream))), PLUGIN_LETTERS) == frames


def test_decoder_holds_an_incomplete_packet_until_it_is_complete() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"D000003\nab") == []
    assert decoder.feed(b"c") == [Frame("D", b"abc")]


@pytest.mark.parametrize("partial", [b"C", b"C00000", b"C000005\nabc"])
def test_close_inside_a_packet_is_a_protocol_error_at_its_start(partial: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(b"F000000\n" + partial)
    with pytest.raises(ProtocolError) as info:
        decoder.close()
    assert info.value.offset == HEADER_SIZE


def test_close_after_whole_packets_is_quiet() -> None:
    decoder = FrameDecoder()
    decoder.feed(TERMINATE)
    decoder.close()


# -- strict header parsing ----------------------------------------------------------------------
BAD_HEADERS = {
    # name: (header bytes, offset of the fault within the header)
    "unknown letter": (b"X000000\n", 0),
    "lowercase letter": (b"c000004\n", 0),
    "backend-only letter from the plugin": (b"I000004\n", 0),
    "non-ascii letter": (b"\xc3000004\n", 0),
    "space in length": (b"C 00004\n", 1),
    "sign in length": (b"C+00004\n", 1),
    "hex in length": (b"C00000a\n", 1),
    "negative length": (b"C-00004\n", 1),
    "newline inside length": (b"C0000\n4\n", 1),
    "missing newline": (b"C0000040", 7),
    "carriage return instead of newline": (b"C000004\r", 7),
    "F with a payload": (b"F000001\n", 1),
    "T with a payload": (b"T000010\n", 1),
}


@pytest.mark.parametrize(("raw", "at"), BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_malformed_header_is_a_protocol_error_at_the_faulty_byte(raw: bytes, at: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_header(raw, PLUGIN_LETTERS, offset=1000)
    assert info.value.offset == 1000 + at


@pytest.mark.parametrize("size", [0, 1, 7, 9])
def test_header_of_the_wrong_size_is_a_protocol_error(size: int) -> None:
    with pytest.raises(ProtocolError, match="truncated packet header") as info:
        parse_header(b"C000000\n\n"[:size], PLUGIN_LETTERS, offset=50)
    assert info.value.offset == 50


@PROPERTY
@given(st.lists(frames_of(PLUGIN_LETTERS), max_size=5), st.sampled_from(list(BAD_HEADERS.values())))
def test_decoder_reports_the_stream_offset_of_a_bad_header(
    frames: list[Frame], bad: tuple[bytes, int]
) -> None:
    good = encode(frames)
    raw, at = bad
    decoder = FrameDecoder(PLUGIN_LETTERS)
    with pytest.raises(ProtocolError) as info:
        decoder.feed(good + raw + b"payload")
    assert info.value.offset == len(good) + at


@PROPERTY
@given(
    st.binary(max_size=300),
    st.lists(st.integers(0, 300), max_size=10),
    st.sampled_from([PLUGIN_LETTERS, BACKEND_LETTERS]),
)
def test_arbitrary_bytes_raise_only_protocol_error(
    data: bytes, cuts: list[int], letters: frozenset[str]
) -> None:
    try:
        decode_all(split_at(data, cuts), letters)
    except ProtocolError:
        pass


@PROPERTY
@given(st.binary(max_size=300), st.sampled_from(sorted(PLUGIN_LETTERS)))
def test_arbitrary_bytes_after_a_valid_letter_raise_only_protocol_error(
    data: bytes, letter: str
) -> None:
    try:
        decode_all([letter.encode() + data], PLUGIN_LETTERS)
    except ProtocolError:
        pass


# -- recordings of real Bacula --------------------------------------------------------------------
def test_all_six_recordings_are_present() -> None:
    assert len(RECORDINGS) == 6


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_recording_parses_completely(recording: Path) -> None:
    frames = decode_all([recording.read_bytes()], letters_for(recording))
    assert frames[-1] == Frame("T")


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_recording_re_encodes_to_identical_bytes(recording: Path) -> None:
    raw = recording.read_bytes()
    assert encode(decode_all([raw], letters_for(recording))) == raw


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_recording_parses_the_same_in_4k_pieces(recording: Path) -> None:
    raw = recording.read_bytes()
    letters = letters_for(recording)
    pieces = [raw[i : i + 4096] for i in range(0, len(raw), 4096)]
    assert decode_all(pieces, letters) == decode_all([raw], letters)


def test_plugin_and_backend_both_open_with_hello() -> None:
    plugin = decode_all([(FIXTURES / "backup.plugin-to-backend.bin").read_bytes()], PLUGIN_LETTERS)
    backend = decode_all(
        [(FIXTURES / "backup.backend-to-plugin.bin").read_bytes()], BACKEND_LETTERS
    )
    assert plugin[0].text.startswith("Hello ")
    assert backend[0] == Frame("C", b"Hello Bacula\n")
