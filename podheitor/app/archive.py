"""Backup sinks for embedding podheitor without Bacula.

``MemoryArchive`` keeps items in memory (tests, small trees). ``StreamArchive`` writes the
exact packet stream a backend would send to Bacula's plugin into a file, digests and
trailers included, and restores from it through the same ``RestoreDriver`` a Bacula
restore uses, so every integrity check applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.replay import (
    BackupStreamDecoder,
    DecodedEvent,
    EndOfFiles,
    FileIndexQuery,
    JobMessage,
)
from podheitor.adapters.bacula.stream import BackupEncoder, Buffer, RestoreDriver
from podheitor.domain.errors import FormatError, ProtocolError, SourceError
from podheitor.domain.files import (
    BackupItem,
    FileExtras,
    FileMeta,
    RestoreDecision,
    RestoreObject,
)
from podheitor.domain.paths import relocate
from podheitor.ports.log import Log
from podheitor.ports.stream import RestoreSink


@attrs.frozen
class _Stored:
    meta: FileMeta
    chunks: tuple[tuple[int, bytes], ...]
    content_size: int | None
    extras: FileExtras


class MemoryArchive:
    """Items held in memory, content copied out of the source's reused buffers."""

    def __init__(self) -> None:
        self.items: list[_Stored | RestoreObject] = []
        self.data_bytes = 0

    def add(self, item: BackupItem, log: Log | None = None) -> None:
        """Store one item. A source that fails is reported to ``log`` (as the Bacula stream
        does) and left out; without a log the ``SourceError`` propagates."""
        if isinstance(item, RestoreObject):
            self.items.append(item)
            return
        chunks: list[tuple[int, bytes]] = []
        size = None
        if item.content is not None and item.meta.has_data:
            try:
                with item.content.open() as stream:
                    size = stream.size
                    chunks = [(c.offset, bytes(c.data)) for c in stream.chunks()]
            except SourceError as exc:
                if log is None:
                    raise
                log.error(f"{exc}; not backed up", path=item.meta.path)
                return
        self.items.append(_Stored(item.meta, tuple(chunks), size, item.extras))
        self.data_bytes += sum(len(data) for _, data in chunks)

    def add_all(self, items: Iterable[BackupItem], log: Log | None = None) -> None:
        for item in items:
            self.add(item, log)

    def restore(self, sink: RestoreSink, where: str = "") -> None:
        for item in self.items:
            if isinstance(item, RestoreObject):
                sink.restore_object(item)
                continue
            receiver = sink.begin(relocate(item.meta, where))
            if isinstance(receiver, RestoreDecision):
                continue
            try:
                for offset, data in item.chunks:
                    receiver.write(offset, memoryview(data))
            except BaseException:
                receiver.discard()
                raise
            receiver.commit(item.extras, item.content_size)
        sink.finish()


class _FileOutput:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, buffers: list[Buffer]) -> None:
        for buf in buffers:
            view = memoryview(buf).cast("B")
            while view:
                view = view[os.write(self.fd, view):]


class _Answers:
    """Collects what a restore driver answers; refusals become the report's failures."""

    def __init__(self) -> None:
        self.refusals: list[str] = []
        self._decoder = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS)

    def write(self, buffers: list[Buffer]) -> None:
        for frame in self._decoder.feed(b"".join(bytes(b) for b in buffers)):
            if frame.letter in "EA":
                self.refusals.append(frame.text)


class StreamArchive:
    """A file holding a backend's backup packet stream."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, items: Iterable[BackupItem], log: Log) -> BackupEncoder:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            # a hard link names its original by position, as Bacula's FileIndex does
            encoder = BackupEncoder(_FileOutput(fd), log, ask_file_index=lambda: encoder.files)
            for item in items:
                if isinstance(item, RestoreObject):
                    encoder.restore_object(item)
                else:
                    encoder.file(item)
            _FileOutput(fd).write([ptcomm.EOD])
            os.fsync(fd)
        finally:
            os.close(fd)
        return encoder

    def events(self, where: str = "") -> Iterator[DecodedEvent]:
        """The saved stream as restore events (``where`` prefixed to the names)."""
        decoder = BackupStreamDecoder(where=where)
        for letter, payload in self._packets():
            event = decoder.feed(letter, payload)
            if event is not None:
                yield event

    def _packets(self) -> Iterator[tuple[str, memoryview]]:
        with open(self.path, "rb") as f:
            offset = 0
            while head := f.read(ptcomm.HEADER_SIZE):
                letter, length = ptcomm.parse_header(head, ptcomm.BACKEND_LETTERS, offset)
                payload = f.read(length)
                if len(payload) != length:
                    raise FormatError(f"{self.path}: archive ends inside a packet at byte {offset}")
                offset += ptcomm.HEADER_SIZE + length
                yield letter, memoryview(payload)

    def restore(self, sink: RestoreSink, log: Log, where: str = "") -> list[str]:
        """Replay into ``sink``; returns the files refused (with reasons)."""
        answers = _Answers()
        driver = RestoreDriver(sink, answers, log)
        try:
            for event in self.events(where):
                if isinstance(event, FileIndexQuery | JobMessage):
                    continue
                if isinstance(event, EndOfFiles):
                    break
                driver.handle(event)
            else:
                raise FormatError(f"{self.path}: archive is truncated (no end of files)")
        except (ProtocolError, FormatError):
            driver.abort()
            raise
        driver.settle()
        sink.finish()
        return answers.refusals
