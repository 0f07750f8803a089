"""The backend process side of a metaplugin session: pipes in, plugin job out.

``BackendServer.run()`` reads the plugin's packets from a file descriptor, lets the
``BackendSession`` validate them, and drives a ``PluginJob`` (the driving port): backup,
estimate, listing and query stream items out; restore feeds a ``RestoreSink``. Job
messages queued by the logging pipeline go out at the next packet boundary.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from podheitor.adapters.bacula import ptcomm, session
from podheitor.adapters.bacula.stream import BackupEncoder, Buffer, RestoreDriver
from podheitor.domain.errors import (
    ParameterError,
    PodheitorError,
    ProtocolError,
    RestoreRefusedError,
)
from podheitor.domain.files import FileMeta, RestoreDecision, RestoreObject
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import JobInfo
from podheitor.ports.log import Log
from podheitor.ports.plugin import Plugin, PluginJob
from podheitor.ports.stream import FileReceiver


class PeerGone(PodheitorError):
    """The plugin closed its end of the pipe."""


class MessageQueue:
    """Job messages waiting for the next packet boundary. Safe to fill from any thread."""

    def __init__(self) -> None:
        self._queue: collections.deque[bytes] = collections.deque()
        self._lock = threading.Lock()
        self.errors = 0

    def put(self, letter: str, text: str) -> None:
        packet = ptcomm.message(letter, text)
        with self._lock:
            self._queue.append(packet)
            if letter in "QEA":
                self.errors += 1

    def drain(self) -> list[bytes]:
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
        return out


class PipeOutput:
    """Writes packets with ``writev`` straight from the callers' buffers.

    ``whole_packets`` wraps each write: the backend's cancel handler uses it to let a packet
    that is being written finish before the job unwinds, so the plugin can still be told
    why (an ``A`` message) on a stream that is still framed."""

    def __init__(self, fd: int, messages: MessageQueue,
                 whole_packets: Callable[[], AbstractContextManager[object]] = nullcontext
                 ) -> None:
        self.fd = fd
        self.messages = messages
        self.whole_packets = whole_packets
        self.mid_packet = False  # a write was interrupted: the stream is no longer framed

    def write(self, buffers: list[Buffer]) -> None:
        if self.mid_packet:
            raise ProtocolError("the output stream was cut inside a packet")
        pending = self.messages.drain()
        if pending:
            buffers = [*pending, *buffers]
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        with self.whole_packets():
            self.mid_packet = True
            while views:
                written = os.writev(self.fd, views[:1024])
                while written and views:
                    if written >= len(views[0]):
                        written -= len(views[0])
                        views.pop(0)
                    else:
                        views[0] = views[0][written:]
                        written = 0
            self.mid_packet = False


class PipeReader:
    """Reads whole packets; payloads land in one reused buffer (valid until the next read)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0
        self._buffer = bytearray(ptcomm.MAX_PAYLOAD)
        self._view = memoryview(self._buffer)
        self._head = memoryview(bytearray(ptcomm.HEADER_SIZE))

    def _fill(self, view: memoryview) -> int:
        got = 0
        while got < len(view):
            n = os.readv(self.fd, [view[got:]])
            if n == 0:
                break
            got += n
        return got

    def read(self) -> tuple[str, memoryview, int]:
        """The next packet as ``(letter, payload, stream offset)``; ``PeerGone`` at EOF."""
        got = self._fill(self._head)
        if got == 0:
            raise PeerGone("the plugin closed the pipe")
        at = self.offset
        letter, length = ptcomm.parse_header(self._head[:got], ptcomm.PLUGIN_LETTERS, at)
        payload = self._view[:length]
        if self._fill(payload) != length:
            raise ProtocolError(f"stream ends inside a {length}-byte {letter} packet", at)
        self.offset += ptcomm.HEADER_SIZE + length
        return letter, payload, at


def _abort_on_error(pairs: Sequence[tuple[str, str]]) -> bool:
    # Same rule as Bacula's metaplugin: the key is present and its value does not start with 0.
    return any(k.lower() == "abort_on_error" and not v.startswith("0") for k, v in pairs)


class BackendServer:
    """One metaplugin session from ``Hello`` to ``T``."""

    def __init__(self, plugin: Plugin, reader: PipeReader, out: PipeOutput,
                 guards: GuardStack, log: Log) -> None:
        self.plugin = plugin
        self.reader = reader
        self.out = out
        self.guards = guards
        self.log = log
        self.session = session.BackendSession()
        self.job = JobInfo()
        self.params: tuple[tuple[str, str], ...] = ()
        self.pjob: PluginJob | None = None
        self.failed: str | None = None
        self.restore: RestoreDriver | None = None
        self.completed = False  # a backup went out whole: the job may commit its state

    def run(self) -> None:
        """Serve until the plugin's ``T``. Raises ``PeerGone``/``ProtocolError`` otherwise."""
        while True:
            letter, payload, offset = self.reader.read()
            event = self.session.receive(letter, payload, offset)
            if event is None:
                continue
            if isinstance(event, session.Terminate):
                self.out.write([ptcomm.TERMINATE])
                return
            self._dispatch(event)

    def _dispatch(self, event: session.Event) -> None:
        match event:
            case session.Hello():
                self.out.write([ptcomm.command("Hello Bacula")])
            case session.JobBlock(pairs=pairs):
                self._job_block(pairs)
            case session.ParamsBlock(pairs=pairs):
                self._params_block(pairs)
            case session.Start(kind=kind):
                self._start(kind)
            case session.End():
                self._end()
            case session.PluginError(text=text):
                self.log.warning(f"the plugin reported: {text}")
            case session.FileIndexAnswer():
                raise ProtocolError("FileIndex answer nobody asked for", self.reader.offset)
            case _:
                assert self.restore is not None
                self.restore.handle(event)

    def _fail(self, text: str) -> None:
        """A fatal job error: Bacula fails the job; the session stays open for END/T."""
        self.failed = text
        self.out.write([ptcomm.message("A", text)])

    def _job_block(self, pairs: tuple[tuple[str, str], ...]) -> None:
        try:
            self.job = JobInfo.from_pairs(pairs)
        except ParameterError as exc:
            self._fail(str(exc))
        self.out.write([ptcomm.EOD])

    def _params_block(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.params = pairs
        self._open_job()
        self.out.write([ptcomm.EOD])

    def _open_job(self) -> PluginJob | None:
        if self.pjob is None and self.failed is None:
            try:
                self.pjob = self.plugin.open_job(self.job, self.params, self.guards)
            except ParameterError as exc:
                self._fail(f"invalid plugin parameters: {exc}")
            except PodheitorError as exc:
                self._fail(str(exc))
        return self.pjob

    def _start(self, kind: session.StartKind) -> None:
        pjob = self._open_job()
        self.out.write([ptcomm.EOD])
        if kind is session.StartKind.RESTORE:
            sink = pjob.restore() if pjob is not None else _RefusingSink(self.failed or "")
            self.restore = RestoreDriver(sink, self.out, self.log)
            return
        self.session.sending()
        try:
            if pjob is None:
                raise PodheitorError(f"the job cannot start: {self.failed}")
            self._stream(kind, pjob)
        except PodheitorError as exc:
            self.session.sent_all()
            if self.failed is None:
                self._fail(str(exc))
            return
        self.out.write([ptcomm.EOD])
        self.session.sent_all()
        # only a backup that was fully handed over may advance the plugin's state
        self.completed = kind is session.StartKind.BACKUP and self.failed is None

    def _stream(self, kind: session.StartKind, pjob: PluginJob) -> None:
        encoder = BackupEncoder(self.out, self.log, ask_file_index=self._ask_file_index)
        abort = _abort_on_error(self.params)
        params = {k.lower(): v for k, v in self.params}
        if kind is session.StartKind.BACKUP:
            for item in pjob.backup():
                if isinstance(item, RestoreObject):
                    encoder.restore_object(item)
                else:
                    encoder.file(item)
                if abort and self.out.messages.errors:
                    raise PodheitorError("stopping at the first error (abort_on_error is set)")
        elif kind in (session.StartKind.ESTIMATE, session.StartKind.LISTING):
            metas = (pjob.estimate() if kind is session.StartKind.ESTIMATE
                     else pjob.listing(params.get("listing", "/")))
            for meta in metas:
                encoder.estimate(meta)
        else:
            for key, value in pjob.query(params.get("query", "")):
                self.out.write([ptcomm.command(f"{key}={value}")])

    def _ask_file_index(self) -> int:
        self.out.write([self.session.ask_file_index()])
        while True:
            letter, payload, offset = self.reader.read()
            event = self.session.receive(letter, payload, offset)
            if isinstance(event, session.FileIndexAnswer):
                return event.value
            if isinstance(event, session.PluginError):
                raise ProtocolError(f"the plugin refused the FileIndex query: {event.text}")

    def _end(self) -> None:
        if self.restore is not None:
            self.restore.handle(session.End())
        if self.completed and self.pjob is not None:
            self.pjob.commit()
        self.out.write([ptcomm.EOD])


class _RefusingSink:
    """The restore sink of a job that could not be opened: every file is refused."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def restore_object(self, obj: RestoreObject) -> None:
        return None

    def begin(self, meta: FileMeta) -> FileReceiver | RestoreDecision:
        raise RestoreRefusedError(meta.path, f"the job cannot run: {self.reason}")

    def finish(self) -> None:
        return None
