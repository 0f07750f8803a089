"""A stand-in for Bacula's metaplugin: drives a real ``podheitor-backend`` process over
pipes exactly as bacula-fd's plugin does (packet order, answers read where the plugin
reads them, 64 KiB restore writes), and records what a volume would hold."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.replay import (
    BackupStreamDecoder,
    EndOfFiles,
    FileIndexQuery,
    JobMessage,
)
from podheitor.adapters.bacula.session import DataBegin, DataChunk, DataEnd, FileOffered, MetaBlock
from podheitor.domain.files import FileKind, FileMeta

BACKEND = [str(Path(sys.executable).with_name("podheitor-backend"))]
IO_SIZE = 65536  # bacula-fd hands plugin data over in 64 KiB IO_WRITE calls


@attrs.define
class SavedFile:
    """One plugin file as the volume would hold it."""

    fname: str
    stat: str
    tstamp: str
    lstat: str | None
    meta: FileMeta
    file_index: int
    data: bytes | None = None
    acl: bytes | None = None
    xattr: bytes | None = None


@attrs.define
class Answer:
    fname: str
    create: str  # OK / SKIP / CORE / E:<text>
    data: str | None = None
    acl: str | None = None
    xattr: str | None = None


@attrs.define
class Session:
    proc: subprocess.Popen[bytes]
    messages: list[tuple[str, str]] = attrs.field(factory=list)
    sent: bytearray = attrs.field(factory=bytearray)
    received: bytearray = attrs.field(factory=bytearray)

    # -- packets ----------------------------------------------------------------------
    def send(self, letter: str, payload: bytes = b"") -> None:
        raw = ptcomm.packet(letter, payload)
        self.sent += raw
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw)
        self.proc.stdin.flush()

    def command(self, text: str) -> None:
        self.send("C", ptcomm.encode_text(text) + b"\n")

    def _read_exact(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(n)
        if data is None or len(data) != n:
            raise EOFError(f"backend stream ended ({len(data or b'')} of {n} bytes)")
        self.received += data
        return data

    def read_raw(self) -> tuple[str, bytes]:
        letter, length = ptcomm.parse_header(self._read_exact(8), ptcomm.BACKEND_LETTERS)
        return letter, self._read_exact(length) if length else b""

    def read(self) -> tuple[str, bytes]:
        """Next packet that is not a transparent job message (I/W/Q/S/...)."""
        while True:
            letter, payload = self.read_raw()
            if letter in ptcomm.MESSAGE_LETTERS and letter not in "EA":
                self.messages.append((letter, ptcomm.decode_text(payload)))
                continue
            if letter in "EA":
                self.messages.append((letter, ptcomm.decode_text(payload)))
            return letter, payload

    def expect(self, letter: str, text: str | None = None) -> bytes:
        got, payload = self.read()
        assert got == letter, f"expected {letter}, got {got} {payload[:200]!r}"
        if text is not None:
            assert ptcomm.decode_text(payload) == text, payload
        return payload

    def answer(self) -> str:
        letter, payload = self.read()
        text = ptcomm.decode_text(payload)
        return text if letter == "C" else f"{letter}:{text}"

    # -- session phases ---------------------------------------------------------------
    def hello(self, plugin: str = "podheitor-posix") -> None:
        self.command(f"Hello {plugin} 1")
        self.expect("C", "Hello Bacula")

    def block(self, name: str, pairs: Sequence[tuple[str, str]]) -> tuple[str, bytes]:
        self.command(name)
        for key, value in pairs:
            self.command(f"{key}={value}")
        self.send("F")
        return self.read()

    def start(self, job: Sequence[tuple[str, str]], params: Sequence[tuple[str, str]],
              command: str) -> None:
        self.hello()
        assert self.block("Job", job)[0] == "F"
        letter, payload = self.block("Params", params)
        assert letter == "F", (letter, payload)
        self.command(command)
        self.expect("F")

    def end(self, timeout: float = 30) -> int:
        self.command("END")
        self.expect("F")
        self.send("T")
        self.expect("T")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def stderr(self) -> bytes:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    # -- backup -----------------------------------------------------------------------
    def collect(self, *, estimate: bool = False, first_index: int = 1) -> list[SavedFile]:
        decoder = BackupStreamDecoder(estimate=estimate)
        files: list[SavedFile] = []
        index = first_index - 1
        lines: list[str] = []
        current: SavedFile | None = None
        data = bytearray()
        while True:
            letter, payload = self.read_raw()
            if letter == "C":
                lines.append(ptcomm.decode_text(payload))
            event = decoder.feed(letter, payload)
            match event:
                case JobMessage(letter=lt, text=text):
                    self.messages.append((lt, text))
                case FileIndexQuery():
                    self.command(str(index))
                case FileOffered(meta=meta):
                    index += 1
                    fname = next(x for x in lines if x.startswith("FNAME:"))[6:]
                    stat = next(x for x in lines if x.startswith("STAT:"))
                    tstamp = next((x for x in lines if x.startswith("TSTAMP:")), "TSTAMP:0 0 0")
                    lstat = next((x[6:] for x in lines if x.startswith("LSTAT:")), None)
                    current = SavedFile(fname, stat, tstamp, lstat, meta, index)
                    files.append(current)
                    lines = []
                case DataBegin():
                    data = bytearray()
                    lines = []
                case DataChunk(data=chunk):
                    data += chunk
                case DataEnd():
                    assert current is not None
                    current.data = bytes(data)
                case MetaBlock(kind=kind, data=blob):
                    assert current is not None
                    setattr(current, kind.lower(), blob)
                    lines = []
                case EndOfFiles():
                    return files

    # -- restore ----------------------------------------------------------------------
    def restore_file(self, saved: SavedFile, where: str) -> Answer:
        fields = saved.stat.split(" ")
        if len(fields) == 6:
            fields.append("0")
        self.command(f"FNAME:{where}{saved.fname}")
        self.command(" ".join(fields))
        self.command(saved.tstamp)
        if saved.lstat is not None:
            link = saved.lstat if saved.meta.kind is FileKind.SYMLINK else where + saved.lstat
            self.command(f"LSTAT:{link}")
        self.send("F")
        answer = Answer(saved.fname, self.answer())
        if answer.create != "OK":
            return answer
        if saved.data:
            self.command("DATA")
            for start in range(0, len(saved.data), IO_SIZE):
                self.send("D", saved.data[start : start + IO_SIZE])
            self.send("F")
            answer.data = self.answer()
        for kind in ("acl", "xattr"):
            blob = getattr(saved, kind)
            if blob is not None:
                self.command(kind.upper())
                self.send("D", blob)
                self.send("F")
                setattr(answer, kind, self.answer())
        return answer


def spawn(plugin: str = "posix", *, env: dict[str, str] | None = None,
          argv: Sequence[str] | None = None) -> Session:
    proc = subprocess.Popen(
        [*(argv or BACKEND), plugin] if argv is None else list(argv),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    return Session(proc)


def job_block(job_type: str = "B", level: str = "F", since: int | None = None,
              where: str | None = None, replace: str = "a",
              job_id: int = 1) -> list[tuple[str, str]]:
    pairs = [("Name", f"test.{job_id}"), ("JobID", str(job_id)), ("Type", job_type)]
    if job_type != "R":
        pairs.append(("Level", level))
    if since:
        pairs.append(("Since", str(since)))
    if job_type == "R":
        pairs += [("Where", where or ""), ("Replace", replace)]
    return pairs


def backup(params: Sequence[tuple[str, str]], *, level: str = "F", since: int | None = None,
           estimate: bool = False) -> tuple[list[SavedFile], Session, int]:
    s = spawn()
    s.start(job_block("E" if estimate else "B", level, since), params,
            "EstimateStart" if estimate else "BackupStart")
    files = s.collect(estimate=estimate)
    code = s.end()
    return files, s, code


def restore(files: Sequence[SavedFile], params: Sequence[tuple[str, str]], where: str,
            replace: str = "a") -> tuple[list[Answer], Session, int]:
    s = spawn()
    s.start(job_block("R", where=where, replace=replace), params, "RestoreStart")
    answers = [s.restore_file(f, where) for f in files]
    s.command("FINISH")
    s.expect("F")
    code = s.end()
    return answers, s, code
