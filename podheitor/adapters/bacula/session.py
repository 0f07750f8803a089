"""The backend side of a metaplugin session, as a sans-I/O state machine.

``BackendSession.receive(letter, payload)`` takes one packet from the plugin and returns
the event it completes (or None while a block is still open); it raises
``ProtocolError`` for anything Bacula's metaplugin would never send in that state. The
packets the backend sends are built by the ``reply``/``attributes`` helpers below. No
pipe, no file, no clock here: the server in ``server.py`` owns those.
"""

from __future__ import annotations

import enum
import re

import attrs

from podheitor.adapters.bacula import ptcomm
from podheitor.domain.errors import ProtocolError
from podheitor.domain.files import FileKind, FileMeta


# -- events (plugin -> backend) -----------------------------------------------------------
@attrs.frozen
class Hello:
    plugin: str
    api: str


@attrs.frozen
class JobBlock:
    pairs: tuple[tuple[str, str], ...]


@attrs.frozen
class ParamsBlock:
    pairs: tuple[tuple[str, str], ...]


class StartKind(enum.Enum):
    BACKUP = "BackupStart"
    ESTIMATE = "EstimateStart"
    LISTING = "ListingStart"
    QUERY = "QueryStart"
    RESTORE = "RestoreStart"


@attrs.frozen
class Start:
    kind: StartKind


@attrs.frozen
class FileIndexAnswer:
    value: int


@attrs.frozen
class RestoreObjectReceived:
    name: str
    data: bytes


@attrs.frozen
class FileOffered:
    meta: FileMeta
    link_fi: int


@attrs.frozen
class DataBegin:
    pass


@attrs.frozen
class DataChunk:
    data: memoryview  # valid until the next packet is read


@attrs.frozen
class DataEnd:
    pass


@attrs.frozen
class MetaBlock:
    """An ``ACL`` or ``XATTR`` block of a restored file."""

    kind: str  # "ACL" | "XATTR"
    data: bytes


@attrs.frozen
class Finish:
    pass


@attrs.frozen
class End:
    pass


@attrs.frozen
class Terminate:
    pass


@attrs.frozen
class PluginError:
    text: str


Event = (
    Hello | JobBlock | ParamsBlock | Start | FileIndexAnswer | RestoreObjectReceived
    | FileOffered | DataBegin | DataChunk | DataEnd | MetaBlock | Finish | End | Terminate
    | PluginError
)


class State(enum.Enum):
    HELLO = "awaiting Hello"
    IDLE = "awaiting a command"
    JOB = "in the Job block"
    PARAMS = "in the Params block"
    SENDING = "backend is sending"
    FILE_INDEX = "awaiting a FileIndex answer"
    RESTORE = "in the restore loop"
    RESTORE_FILE = "reading file attributes"
    RESTORE_DATA = "reading file data"
    RESTORE_BLOCK = "reading an ACL/XATTR block or a restore object"
    ENDED = "after END"
    CLOSED = "terminated"


# -- STAT / TSTAMP lines ------------------------------------------------------------------
STAT_RE = re.compile(r"STAT:([FEDSLX]) (-?\d+) (-?\d+) (-?\d+) ([0-7]+) (-?\d+)(?: (-?\d+))?")
TSTAMP_RE = re.compile(r"TSTAMP:(-?\d+) (-?\d+) (-?\d+)")
_KIND = {"F": FileKind.REGULAR, "E": FileKind.REGULAR, "D": FileKind.DIRECTORY,
         "S": FileKind.SYMLINK, "L": FileKind.HARDLINK}


def stat_line(meta: FileMeta, link_fi: int | None = None) -> str:
    """The backup-side STAT command for a file (6 fields, 7 for a hard link)."""
    match meta.kind:
        case FileKind.REGULAR:
            letter = "F" if meta.size else "E"
        case FileKind.DIRECTORY:
            letter = "D"
        case FileKind.SYMLINK:
            letter = "S"
        case FileKind.HARDLINK:
            letter = "L"
    line = f"STAT:{letter} {meta.size} {meta.uid} {meta.gid} {meta.st_mode:06o} {meta.nlink}"
    if meta.kind is FileKind.HARDLINK:
        line += f" {link_fi if link_fi is not None else 0}"
    return line


def attributes(meta: FileMeta, fname: str, link_fi: int | None = None) -> list[bytes]:
    """FNAME/STAT/TSTAMP[/LSTAT] and the F that closes a backup attribute block."""
    out = [
        ptcomm.command(f"FNAME:{fname}"),
        ptcomm.command(stat_line(meta, link_fi)),
        ptcomm.command(f"TSTAMP:{meta.atime} {meta.mtime} {meta.ctime}"),
    ]
    if meta.link_target is not None:
        out.append(ptcomm.command(f"LSTAT:{meta.link_target}"))
    out.append(ptcomm.EOD)
    return out


@attrs.define
class AttributeBlock:
    """The FNAME/STAT/TSTAMP/LSTAT lines of one file, until the F that closes them."""

    fname: str
    stat: re.Match[str] | None = None
    tstamp: tuple[int, int, int] = (0, 0, 0)
    lstat: str | None = None

    def add(self, text: str, offset: int) -> None:
        if text.startswith("STAT:"):
            self.stat = STAT_RE.fullmatch(text)
            if self.stat is None:
                raise ProtocolError(f"malformed STAT line {text!r}", offset)
        elif text.startswith("TSTAMP:"):
            m = TSTAMP_RE.fullmatch(text)
            if m is None:
                raise ProtocolError(f"malformed TSTAMP line {text!r}", offset)
            self.tstamp = (int(m[1]), int(m[2]), int(m[3]))
        elif text.startswith("LSTAT:"):
            self.lstat = text[6:]
        else:
            raise ProtocolError(f"unexpected {text!r} in file attributes", offset)

    def build(self, offset: int) -> FileOffered:
        if self.stat is None:
            raise ProtocolError(f"file {self.fname!r} offered without a STAT line", offset)
        letter, size, uid, gid, mode, nlink, link_fi = self.stat.groups()
        if letter == "X":
            raise ProtocolError(f"file {self.fname!r} has unknown type X", offset)
        kind = _KIND[letter]
        if kind is FileKind.SYMLINK and self.lstat is None:
            raise ProtocolError(f"symlink {self.fname!r} offered without LSTAT", offset)
        atime, mtime, ctime = self.tstamp
        try:
            meta = FileMeta(
                path=self.fname, kind=kind, size=max(0, int(size)), mode=int(mode, 8) & 0o7777,
                uid=int(uid), gid=int(gid), atime=atime, mtime=mtime, ctime=ctime,
                nlink=max(1, int(nlink)), link_target=self.lstat,
            )
        except ValueError as exc:
            raise ProtocolError(f"bad attributes for {self.fname!r}: {exc}", offset) from exc
        return FileOffered(meta, int(link_fi or 0))


@attrs.define
class BlobBlock:
    """An ``ACL``/``XATTR`` block or a restore object: ``D`` packets until ``F`` (a restore
    object also announces its length with ``RESTOREOBJ_LEN:<n>``)."""

    kind: str  # "ACL" | "XATTR" | "RESTOREOBJ"
    name: str = ""
    announced: int = -1
    data: bytearray = attrs.field(factory=bytearray)

    @classmethod
    def opened_by(cls, command: str) -> BlobBlock | None:
        """The block a command opens (``ACL``, ``XATTR``, ``RESTOREOBJ:<name>``), if any."""
        if command in ("ACL", "XATTR"):
            return cls(command)
        if command.startswith("RESTOREOBJ:"):
            return cls("RESTOREOBJ", command[11:])
        return None

    def add(self, letter: str, payload: bytes | memoryview, offset: int
            ) -> RestoreObjectReceived | MetaBlock | None:
        """Take one packet; the event once the block is complete."""
        if letter == "D":
            self.data += payload
            return None
        if letter == "C" and self.kind == "RESTOREOBJ":
            text = ptcomm.decode_text(payload)
            if not text.startswith("RESTOREOBJ_LEN:") or not text[15:].isdigit():
                raise ProtocolError(f"expected RESTOREOBJ_LEN:<n>, got {text!r}", offset)
            self.announced = int(text[15:])
            return None
        if letter != "F":
            raise ProtocolError(f"unexpected {letter} packet in a {self.kind} block", offset)
        data = bytes(self.data)
        if self.kind != "RESTOREOBJ":
            return MetaBlock(self.kind, data)
        if self.announced >= 0 and self.announced != len(data):
            raise ProtocolError(f"restore object {self.name!r} is {len(data)} bytes, "
                                f"announced {self.announced}", offset)
        return RestoreObjectReceived(self.name, data)


class BackendSession:
    """Validates the plugin's packets and turns them into events."""

    def __init__(self) -> None:
        self.state = State.HELLO
        self.offset = 0  # stream position of the packet being handled
        self._lines: list[tuple[str, str]] = []
        self._file: AttributeBlock | None = None
        self._blob: BlobBlock | None = None

    # -- what the backend's own packets do to the state --------------------------------
    def sending(self) -> None:
        """The backend answered a Start command and now streams files."""
        self._expect(State.IDLE, "start sending")
        self.state = State.SENDING

    def ask_file_index(self) -> bytes:
        self._expect(State.SENDING, "ask for the FileIndex")
        self.state = State.FILE_INDEX
        return ptcomm.command("FileIndex")

    def sent_all(self) -> None:
        """The backend's final F went out: the plugin may now send END."""
        self._expect(State.SENDING, "end the file stream")
        self.state = State.IDLE

    def _expect(self, state: State, action: str) -> None:
        if self.state is not state:
            raise ProtocolError(f"cannot {action} while {self.state.value}")

    # -- packets from the plugin --------------------------------------------------------
    def receive(self, letter: str, payload: bytes | memoryview, offset: int = 0) -> Event | None:
        self.offset = offset
        if self.state is State.CLOSED:
            raise self._error(f"packet {letter} after the session ended")
        if letter == "E":
            return PluginError(ptcomm.decode_text(payload))
        handler = {
            State.HELLO: self._hello, State.IDLE: self._idle, State.JOB: self._block,
            State.PARAMS: self._block, State.SENDING: self._sending,
            State.FILE_INDEX: self._file_index, State.RESTORE: self._restore,
            State.RESTORE_FILE: self._restore_file, State.RESTORE_DATA: self._restore_data,
            State.RESTORE_BLOCK: self._restore_blob,
            State.ENDED: self._ended,
        }[self.state]
        return handler(letter, payload)

    def _error(self, what: str) -> ProtocolError:
        return ProtocolError(f"{what} ({self.state.value})", self.offset)

    def _command(self, letter: str, payload: bytes | memoryview) -> str:
        if letter != "C":
            raise self._error(f"expected a command, got a {letter} packet")
        return ptcomm.decode_text(payload)

    def _hello(self, letter: str, payload: bytes | memoryview) -> Event:
        words = self._command(letter, payload).split()
        if len(words) != 3 or words[0].lower() != "hello":
            got = ptcomm.decode_text(payload)
            raise self._error(f"expected 'Hello <plugin> <api>', got {got!r}")
        self.state = State.IDLE
        return Hello(words[1], words[2])

    def _idle(self, letter: str, payload: bytes | memoryview) -> Event | None:
        text = self._command(letter, payload)
        if text == "Job":
            self.state = State.JOB
        elif text == "Params":
            self.state = State.PARAMS
        elif text == "END":
            self.state = State.ENDED
            return End()
        elif text == StartKind.RESTORE.value:
            self.state = State.RESTORE
            return Start(StartKind.RESTORE)
        else:
            try:
                kind = StartKind(text)
            except ValueError:
                raise self._error(f"unknown command {text!r}") from None
            return Start(kind)
        self._lines = []
        return None

    def _block(self, letter: str, payload: bytes | memoryview) -> Event | None:
        if letter == "F":
            pairs = tuple(self._lines)
            event: Event = JobBlock(pairs) if self.state is State.JOB else ParamsBlock(pairs)
            self.state = State.IDLE
            return event
        line = self._command(letter, payload)
        key, sep, value = line.partition("=")
        if not key:
            raise self._error(f"malformed key=value line {line!r}")
        self._lines.append((key, value if sep else "1"))
        return None

    def _sending(self, letter: str, payload: bytes | memoryview) -> Event:
        raise self._error(f"unexpected {letter} packet {bytes(payload[:40])!r}")

    def _file_index(self, letter: str, payload: bytes | memoryview) -> Event:
        text = self._command(letter, payload).strip()
        if not text.lstrip("-").isdigit():
            raise self._error(f"FileIndex answer {text!r} is not a number")
        self.state = State.SENDING
        return FileIndexAnswer(int(text))

    def _ended(self, letter: str, payload: bytes | memoryview) -> Event:
        if letter != "T":
            raise self._error(f"expected T after END, got {letter}")
        self.state = State.CLOSED
        return Terminate()

    # -- restore loop -----------------------------------------------------------------
    def _restore(self, letter: str, payload: bytes | memoryview) -> Event | None:
        text = self._command(letter, payload)
        if text.startswith("FNAME:"):
            self._file = AttributeBlock(text[6:])
            self.state = State.RESTORE_FILE
            return None
        if text == "DATA":
            self.state = State.RESTORE_DATA
            return DataBegin()
        self._blob = BlobBlock.opened_by(text)
        if self._blob is not None:
            self.state = State.RESTORE_BLOCK
            return None
        if text == "FINISH":
            return Finish()
        if text == "END":
            self.state = State.ENDED
            return End()
        raise self._error(f"unknown restore command {text!r}")

    def _restore_file(self, letter: str, payload: bytes | memoryview) -> Event | None:
        assert self._file is not None
        if letter == "F":
            offered = self._file.build(self.offset)
            self.state = State.RESTORE
            return offered
        self._file.add(self._command(letter, payload), self.offset)
        return None

    def _restore_data(self, letter: str, payload: bytes | memoryview) -> Event:
        if letter == "D":
            return DataChunk(memoryview(payload))
        if letter == "F":
            self.state = State.RESTORE
            return DataEnd()
        raise self._error(f"expected D or F in file data, got {letter}")

    def _restore_blob(self, letter: str, payload: bytes | memoryview) -> Event | None:
        assert self._blob is not None
        event = self._blob.add(letter, payload, self.offset)
        if event is not None:
            self.state, self._blob = State.RESTORE, None
        return event
