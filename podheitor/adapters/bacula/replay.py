"""The plugin's view of a backend's backup stream, sans-I/O.

``BackupStreamDecoder`` reads what a backend sends during a backup or estimate
(``FNAME``/``STAT``/``TSTAMP``/``LSTAT``, ``DATA`` + ``D``..., ``ACL``/``XATTR`` blocks,
restore objects, job messages) and turns it into the same events a restore session
delivers (``FileOffered``, ``DataBegin``/``DataChunk``/``DataEnd``, ``MetaBlock``,
``RestoreObjectReceived``). So a recorded backup stream can be replayed into any
``RestoreSink`` through ``RestoreDriver``: that is the stream archive of the embedding API,
and the fake Bacula the tests drive backends with.
"""

from __future__ import annotations

import enum

import attrs

from podheitor.adapters.bacula import ptcomm, session
from podheitor.domain.errors import ProtocolError
from podheitor.domain.paths import relocate


@attrs.frozen
class JobMessage:
    letter: str
    text: str


@attrs.frozen
class FileIndexQuery:
    """The backend asks for the FileIndex of the file it just sent (hard links)."""


@attrs.frozen
class EndOfFiles:
    pass


class _S(enum.Enum):
    BETWEEN = "between files"
    ATTRIBUTES = "in file attributes"
    DATA_OR_EOD = "awaiting DATA or F"
    DATA = "in file data"
    BLOCK = "in an ACL/XATTR block or a restore object"
    DONE = "after the last file"


DecodedEvent = (session.Event | JobMessage | FileIndexQuery | EndOfFiles)


class BackupStreamDecoder:
    """Feed backend packets of one backup (after the Start answer); get events."""

    def __init__(self, *, estimate: bool = False, where: str = "") -> None:
        self.estimate = estimate
        self.where = where
        self._state = _S.BETWEEN
        self._attrs: session.AttributeBlock | None = None
        self._blob: session.BlobBlock | None = None

    def _error(self, what: str) -> ProtocolError:
        return ProtocolError(f"{what} ({self._state.value})")

    def feed(self, letter: str, payload: bytes | memoryview) -> DecodedEvent | None:
        if letter in ptcomm.MESSAGE_LETTERS:
            return JobMessage(letter, ptcomm.decode_text(payload))
        handler = {
            _S.BETWEEN: self._between, _S.ATTRIBUTES: self._attributes,
            _S.DATA_OR_EOD: self._data_or_eod, _S.DATA: self._data, _S.BLOCK: self._block,
            _S.DONE: self._done,
        }[self._state]
        return handler(letter, payload)

    def _command(self, letter: str, payload: bytes | memoryview) -> str:
        if letter != "C":
            raise self._error(f"expected a command, got {letter}")
        return ptcomm.decode_text(payload)

    def _between(self, letter: str, payload: bytes | memoryview) -> DecodedEvent | None:
        if letter == "F":
            self._state = _S.DONE
            return EndOfFiles()
        text = self._command(letter, payload)
        if text.startswith("FNAME:"):
            self._attrs = session.AttributeBlock(text[6:])
            self._state = _S.ATTRIBUTES
            return None
        self._blob = session.BlobBlock.opened_by(text)
        if self._blob is not None:
            self._state = _S.BLOCK
            return None
        if text == "FileIndex":
            return FileIndexQuery()
        raise self._error(f"unknown command {text!r}")

    def _attributes(self, letter: str, payload: bytes | memoryview) -> DecodedEvent | None:
        assert self._attrs is not None
        if letter != "F":
            self._attrs.add(self._command(letter, payload), 0)
            return None
        self._state = _S.BETWEEN if self.estimate else _S.DATA_OR_EOD
        offered = self._attrs.build(0)
        return session.FileOffered(relocate(offered.meta, self.where), offered.link_fi)

    def _data_or_eod(self, letter: str, payload: bytes | memoryview) -> DecodedEvent | None:
        if letter == "F":
            self._state = _S.BETWEEN
            return None
        if self._command(letter, payload) != "DATA":
            raise self._error(f"expected DATA, got {ptcomm.decode_text(payload)!r}")
        self._state = _S.DATA
        return session.DataBegin()

    def _data(self, letter: str, payload: bytes | memoryview) -> DecodedEvent:
        if letter == "D":
            return session.DataChunk(memoryview(payload))
        if letter == "F":
            self._state = _S.BETWEEN
            return session.DataEnd()
        raise self._error(f"expected D or F, got {letter}")

    def _block(self, letter: str, payload: bytes | memoryview) -> DecodedEvent | None:
        assert self._blob is not None
        event = self._blob.add(letter, payload, 0)
        if event is not None:
            self._state, self._blob = _S.BETWEEN, None
        return event

    def _done(self, letter: str, payload: bytes | memoryview) -> DecodedEvent:
        raise self._error(f"{letter} packet after the end of the file stream")
