"""PTCOMM, the framing of Bacula's metaplugin pipes, as a sans-I/O codec.

Every packet, both directions, is an 8-byte header and a payload::

    <status letter><payload length: 6 ASCII decimal digits>\\n<payload>

``F`` (end of data) and ``T`` (terminate) carry no payload. A payload is at most 999,999
bytes; longer data is split into several ``D`` packets. Parsing is strict: anything else
is a ``ProtocolError`` that says what was wrong and at which byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from podheitor.domain.errors import ProtocolError

HEADER_SIZE = 8
MAX_PAYLOAD = 999_999

#: Letters the plugin sends to a backend: command, data, end of data, terminate, error.
PLUGIN_LETTERS = frozenset("CDFTE")
#: Letters a backend sends to the plugin (see ``MESSAGE_LETTERS`` for the job messages).
BACKEND_LETTERS = frozenset("CDFTEAWIQSNRPOV")
#: Job message letters: info, warning, non-fatal error, error (ends the stream), abort,
#: saved, not saved, restored, skipped, operator, event.
MESSAGE_LETTERS = frozenset("IWQEASNRPOV")
_EMPTY_LETTERS = frozenset("FT")
_DIGITS = frozenset(b"0123456789")

EOD = b"F000000\n"
TERMINATE = b"T000000\n"


@attrs.frozen
class Frame:
    letter: str
    payload: bytes = b""

    @property
    def text(self) -> str:
        """The payload of a command or message, without its trailing newline."""
        return decode_text(self.payload)


def decode_text(payload: bytes | memoryview) -> str:
    """Command text as Bacula means it: bytes (file names are bytes), one trailing LF dropped."""
    raw = bytes(payload)
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw.decode("utf-8", "surrogateescape")


def encode_text(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def header(letter: str, length: int) -> bytes:
    """The 8 header bytes of a packet."""
    if len(letter) != 1 or letter not in BACKEND_LETTERS | PLUGIN_LETTERS:
        raise ValueError(f"unknown PTCOMM status letter {letter!r}")
    if not 0 <= length <= MAX_PAYLOAD:
        raise ValueError(f"PTCOMM payload of {length} bytes exceeds {MAX_PAYLOAD}")
    if letter in _EMPTY_LETTERS and length:
        raise ValueError(f"a {letter} packet carries no payload")
    return b"%c%06d\n" % (ord(letter), length)


def packet(letter: str, payload: bytes = b"") -> bytes:
    return header(letter, len(payload)) + payload


def command(text: str) -> bytes:
    """A ``C`` packet; like Bacula's own backends, text packets end with a newline."""
    return packet("C", encode_text(text) + b"\n")


def message(letter: str, text: str) -> bytes:
    """A job message packet (I/W/Q/E/A/...). The text is cut to fit one packet."""
    if letter not in MESSAGE_LETTERS:
        raise ValueError(f"{letter!r} is not a job message letter")
    raw = encode_text(text.replace("\0", "\\0"))[: MAX_PAYLOAD - 1]
    return packet(letter, raw + b"\n")


def data_packets(data: memoryview, limit: int = MAX_PAYLOAD) -> Iterator[tuple[bytes, memoryview]]:
    """``(header, payload)`` pairs carrying ``data`` in ``D`` packets of at most ``limit`` bytes."""
    for start in range(0, len(data), limit):
        piece = data[start : start + limit]
        yield header("D", len(piece)), piece


def parse_header(
    raw: bytes | bytearray | memoryview, allowed: frozenset[str], offset: int = 0
) -> tuple[str, int]:
    """Validate one 8-byte header; return ``(letter, payload length)``."""
    raw = bytes(raw)
    if len(raw) != HEADER_SIZE:
        raise ProtocolError(f"truncated packet header ({len(raw)} of 8 bytes)", offset)
    letter = chr(raw[0])
    if letter not in allowed:
        raise ProtocolError(f"unknown packet status {raw[:1]!r}", offset)
    digits = raw[1:7]
    if not set(digits) <= _DIGITS:
        raise ProtocolError(f"packet length {digits!r} is not 6 decimal digits", offset + 1)
    if raw[7:8] != b"\n":
        raise ProtocolError(f"packet header ends with {raw[7:8]!r}, not a newline", offset + 7)
    length = int(digits)
    if letter in _EMPTY_LETTERS and length:
        raise ProtocolError(f"{letter} packet with a {length}-byte payload", offset + 1)
    return letter, length


class FrameDecoder:
    """Feed bytes, get whole frames. For recorded streams, fuzzing and tests; the live
    pipe reader uses ``parse_header`` directly to read payloads without extra copies."""

    def __init__(self, allowed: frozenset[str] = PLUGIN_LETTERS) -> None:
        self._allowed = allowed
        self._buffer = bytearray()
        self._offset = 0  # stream position of _buffer[0]

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER_SIZE:
            letter, length = parse_header(self._buffer[:HEADER_SIZE], self._allowed, self._offset)
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            frames.append(Frame(letter, bytes(self._buffer[HEADER_SIZE:end])))
            del self._buffer[:end]
            self._offset += end
        return frames

    def close(self) -> None:
        """The stream ended: anything left over is a truncated packet."""
        if self._buffer:
            raise ProtocolError(f"stream ends inside a packet ({len(self._buffer)} bytes)",
                                self._offset)
