"""The plugin side of a metaplugin session, in Python.

``PluginClient`` starts a backend process and drives it the way bacula-fd's metaplugin
does: the same packet order, answers read exactly where the plugin reads them, restore
data handed over in 64 KiB writes. A backup's packet stream is saved to a file (the
``StreamArchive`` format) as it arrives; a restore replays such a file. The demo, the
benchmarks and the end-to-end tests use it; it is also how to try a backend without Bacula.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import attrs

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.replay import (
    BackupStreamDecoder,
    DecodedEvent,
    EndOfFiles,
    FileIndexQuery,
    JobMessage,
)
from podheitor.adapters.bacula.session import (
    DataBegin,
    DataChunk,
    DataEnd,
    FileOffered,
    MetaBlock,
    RestoreObjectReceived,
    stat_line,
)
from podheitor.app.archive import StreamArchive
from podheitor.domain.errors import ProtocolError
from podheitor.domain.paths import relocate

IO_SIZE = 65536  # bacula-fd moves plugin data in 64 KiB IO_READ/IO_WRITE calls


def backend_command(plugin: str) -> list[str]:
    """The backend next to this interpreter (the venv's console script)."""
    return [str(Path(sys.executable).with_name("podheitor-backend")), plugin]


def job_pairs(job_type: str = "B", level: str = "F", *, since: int | None = None,
              where: str = "", replace: str = "a", job_id: int = 1,
              name: str = "podheitor") -> list[tuple[str, str]]:
    """A ``Job`` block as bacula-fd sends it."""
    pairs = [("Name", f"{name}.{job_id}"), ("JobID", str(job_id)), ("Type", job_type)]
    if job_type != "R":
        pairs.append(("Level", level))
    if since:
        pairs.append(("Since", str(since)))
    if job_type == "R":
        pairs += [("Where", where), ("Replace", replace)]
    return pairs


@attrs.define
class Outcome:
    """What a session produced, as the plugin saw it."""

    messages: list[tuple[str, str]] = attrs.field(factory=list)
    files: int = 0
    data_bytes: int = 0
    answers: list[tuple[str, str, str]] = attrs.field(factory=list)  # (fname, step, answer)
    exit_code: int | None = None
    stderr: bytes = b""

    @property
    def errors(self) -> list[str]:
        return [text for letter, text in self.messages if letter in "QEA"]

    @property
    def refused(self) -> list[tuple[str, str, str]]:
        return [a for a in self.answers if a[2] not in ("OK", "SKIP", "CORE")]


class PluginClient:
    """One backend process and one session with it."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None,
                 plugin_name: str = "podheitor-posix") -> None:
        self.plugin_name = plugin_name
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[bytes] = self.proc.stdin
        self._out: IO[bytes] = self.proc.stdout
        self.outcome = Outcome()
        self.record: IO[bytes] | None = None  # where backup packets are saved, if anywhere

    # -- packets ----------------------------------------------------------------------
    def send(self, letter: str, payload: bytes | memoryview = b"") -> None:
        self._in.write(ptcomm.header(letter, len(payload)))
        if payload:
            self._in.write(payload)
        self._in.flush()

    def command(self, text: str) -> None:
        self.send("C", ptcomm.encode_text(text) + b"\n")

    def _exact(self, n: int) -> bytes:
        data = self._out.read(n) if n else b""
        if len(data) != n:
            raise ProtocolError(f"the backend's stream ended ({len(data)} of {n} bytes)")
        return data

    def read_raw(self) -> tuple[str, bytes]:
        head = self._exact(ptcomm.HEADER_SIZE)
        letter, length = ptcomm.parse_header(head, ptcomm.BACKEND_LETTERS)
        payload = self._exact(length)
        if self.record is not None:
            self.record.write(head)
            self.record.write(payload)
        return letter, payload

    def read(self) -> tuple[str, bytes]:
        """The next packet that is not a transparent job message; E and A are returned."""
        while True:
            letter, payload = self.read_raw()
            if letter in ptcomm.MESSAGE_LETTERS:
                self.outcome.messages.append((letter, ptcomm.decode_text(payload)))
                if letter not in "EA":
                    continue
            return letter, payload

    def answer(self) -> str:
        letter, payload = self.read()
        text = ptcomm.decode_text(payload)
        return text if letter == "C" else f"{letter}: {text}"

    def expect(self, letter: str, text: str | None = None) -> None:
        got, payload = self.read()
        if got != letter or (text is not None and ptcomm.decode_text(payload) != text):
            raise ProtocolError(f"expected {letter} {text or ''}, got {got} {payload[:200]!r}")

    # -- phases -----------------------------------------------------------------------
    def start(self, job: Sequence[tuple[str, str]], params: Sequence[tuple[str, str]],
              start: str) -> None:
        self.command(f"Hello {self.plugin_name} 1")
        self.expect("C", "Hello Bacula")
        for block, pairs in (("Job", job), ("Params", params)):
            self.command(block)
            for key, value in pairs:
                self.command(f"{key}={value}")
            self.send("F")
            self.expect("F")
        self.command(start)
        self.expect("F")

    def finish(self, timeout: float = 60) -> Outcome:
        self.command("END")
        self.expect("F")
        self.send("T")
        self.expect("T")
        self._in.close()
        self.outcome.exit_code = self.proc.wait(timeout)
        assert self.proc.stderr is not None
        self.outcome.stderr = self.proc.stderr.read()
        return self.outcome

    def kill(self) -> Outcome:
        """Stop the backend without a proper end (tests of crash handling)."""
        self.proc.kill()
        self.outcome.exit_code = self.proc.wait()
        return self.outcome

    # -- backup -----------------------------------------------------------------------
    def receive_files(self, *, estimate: bool = False) -> None:
        """Read the file stream to its end, answering FileIndex queries like bacula-fd."""
        decoder = BackupStreamDecoder(estimate=estimate)
        while True:
            letter, payload = self.read_raw()
            event = decoder.feed(letter, payload)
            match event:
                case JobMessage(letter=lt, text=text):
                    self.outcome.messages.append((lt, text))
                    if lt in "EA":  # like the plugin: the pending read fails, the stream is over
                        return
                case FileIndexQuery():
                    self.command(str(self.outcome.files))
                case FileOffered():
                    self.outcome.files += 1
                case DataChunk(data=data):
                    self.outcome.data_bytes += len(data)
                case EndOfFiles():
                    return

    # -- restore ----------------------------------------------------------------------
    def restore_stream(self, events: Iterator[DecodedEvent], where: str) -> None:
        """Send a saved backup, file by file, as bacula-fd's restore does."""
        accepted = False
        fname = ""
        for event in events:
            match event:
                case RestoreObjectReceived(name=name, data=data):
                    self.command(f"RESTOREOBJ:{name}")
                    self.command(f"RESTOREOBJ_LEN:{len(data)}")
                    for _head, piece in ptcomm.data_packets(memoryview(data)):
                        self.send("D", piece)
                    self.send("F")
                    self.outcome.answers.append((name, "object", self.answer()))
                case FileOffered(meta=meta, link_fi=link_fi):
                    fname = meta.path  # answers name files as the backup did
                    sent = relocate(meta, where)
                    self.command(f"FNAME:{sent.path}")
                    fields = stat_line(meta, link_fi).split(" ")
                    self.command(" ".join([*fields, "0"] if len(fields) == 6 else fields))
                    self.command(f"TSTAMP:{meta.atime} {meta.mtime} {meta.ctime}")
                    if sent.link_target is not None:
                        self.command(f"LSTAT:{sent.link_target}")
                    self.send("F")
                    answer = self.answer()
                    self.outcome.answers.append((fname, "create", answer))
                    accepted = answer == "OK"
                    self.outcome.files += accepted
                case DataBegin() if accepted:
                    self.command("DATA")
                case DataChunk(data=data) if accepted:
                    for start in range(0, len(data), IO_SIZE):
                        self.send("D", data[start : start + IO_SIZE])
                    self.outcome.data_bytes += len(data)
                case DataEnd() if accepted:
                    self.send("F")
                    answer = self.answer()
                    self.outcome.answers.append((fname, "data", answer))
                    accepted = answer == "OK"
                case MetaBlock(kind=kind, data=blob) if accepted:
                    self.command(kind)
                    self.send("D", blob)
                    self.send("F")
                    answer = self.answer()
                    self.outcome.answers.append((fname, kind.lower(), answer))
                    accepted = answer == "OK"
                case EndOfFiles():
                    break
        self.command("FINISH")
        self.expect("F")


def run_backup(archive: str | os.PathLike[str], params: Sequence[tuple[str, str]], *,
               plugin: str = "posix", level: str = "F", since: int | None = None,
               job_id: int = 1, argv: Sequence[str] | None = None,
               env: dict[str, str] | None = None) -> Outcome:
    """One backup job against a backend process; its packet stream saved to ``archive``."""
    client = PluginClient(argv or backend_command(plugin), env, f"podheitor-{plugin}")
    with open(archive, "wb") as record:
        client.start(job_pairs("B", level, since=since, job_id=job_id), params, "BackupStart")
        client.record = record
        client.receive_files()
        client.record = None
    return client.finish()


def run_estimate(params: Sequence[tuple[str, str]], *, plugin: str = "posix",
                 level: str = "F", since: int | None = None) -> Outcome:
    client = PluginClient(backend_command(plugin), None, f"podheitor-{plugin}")
    client.start(job_pairs("E", level, since=since), params, "EstimateStart")
    client.receive_files(estimate=True)
    return client.finish()


def run_restore(archive: str | os.PathLike[str], params: Sequence[tuple[str, str]],
                where: str, *, plugin: str = "posix", replace: str = "a", job_id: int = 2,
                argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> Outcome:
    """One restore job: replay ``archive`` into a backend process."""
    client = PluginClient(argv or backend_command(plugin), env, f"podheitor-{plugin}")
    client.start(job_pairs("R", where=where, replace=replace, job_id=job_id), params,
                 "RestoreStart")
    client.restore_stream(StreamArchive(archive).events(), where)
    return client.finish()
