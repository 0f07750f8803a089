"""Virtual files to metaplugin packets (backup) and packets back to a restore sink.

Backup: attributes, then the content (raw, or PHSPARSE-framed when it has holes) in ``D``
packets straight from the source's buffers, then the file's trailer: an ``ACL`` block if
the source gave one and an ``XATTR`` block holding the podheitor trailer record (digest of
the DATA bytes as sent, extended attributes).

Restore: the reverse. A file is committed to the sink only after its trailer verified the
data (or, for streams without a trailer, when the next file begins), so a corrupt, cut or
tampered backup never leaves a file under its final name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from podheitor.adapters.bacula import ptcomm, session
from podheitor.domain.errors import (
    FormatError,
    IntegrityError,
    ProtocolError,
    RestoreRefusedError,
    SourceError,
    TargetError,
)
from podheitor.domain.extents import ExtentMap
from podheitor.domain.files import (
    Chunk,
    ContentStream,
    FileExtras,
    FileKind,
    FileMeta,
    RestoreDecision,
    RestoreObject,
    VirtualFile,
)
from podheitor.domain.sparse import SEGMENT_HEADER_SIZE, ContentDecoder, SparseEncoder, looks_framed
from podheitor.domain.trailer import DataSeal, StreamDigest, Trailer
from podheitor.ports.log import Log
from podheitor.ports.stream import FileReceiver, RestoreSink

Buffer = bytes | memoryview


class Output(Protocol):
    """Where packets go: the plugin's pipe, or an archive file."""

    def write(self, buffers: list[Buffer]) -> None: ...


def wire_name(meta: FileMeta) -> str:
    """Bacula names directories with a trailing slash."""
    if meta.kind is FileKind.DIRECTORY and not meta.path.endswith("/"):
        return meta.path + "/"
    return meta.path


def _representable(path: str) -> bool:
    # The plugin strips trailing whitespace from commands and reads one line per command.
    return "\n" not in path and path == path.rstrip()


class BackupEncoder:
    """Writes virtual files as the metaplugin backup stream."""

    def __init__(self, out: Output, log: Log, *, seal: bool = True,
                 ask_file_index: Callable[[], int] | None = None) -> None:
        self._out = out
        self._log = log
        self._seal = seal
        self._ask_file_index = ask_file_index
        self._file_index: dict[str, int] = {}
        self.files = 0
        self.bytes = 0

    def restore_object(self, obj: RestoreObject) -> None:
        frames: list[Buffer] = [
            ptcomm.command(f"RESTOREOBJ:{obj.name}"),
            ptcomm.command(f"RESTOREOBJ_LEN:{len(obj.data)}"),
        ]
        for head, piece in ptcomm.data_packets(memoryview(obj.data)):
            frames += [head, piece]
        frames.append(ptcomm.EOD)
        self._out.write(frames)

    def estimate(self, meta: FileMeta) -> None:
        if self._check_name(meta):
            self._out.write(list(session.attributes(meta, wire_name(meta))))
            self.files += 1

    def _check_name(self, meta: FileMeta) -> bool:
        if _representable(meta.path) and (meta.link_target is None
                                          or _representable(meta.link_target)):
            return True
        self._log.error(f"{meta.path!r}: a name with a newline or trailing blank cannot be "
                        "carried by the Bacula plugin protocol; not backed up", path=meta.path)
        return False

    def file(self, vf: VirtualFile) -> None:
        meta = vf.meta
        if not self._check_name(meta):
            return
        link_fi = None
        if meta.kind is FileKind.HARDLINK:
            link_fi = self._file_index.get(meta.link_target or "")
            if link_fi is None:
                self._log.error(f"{meta.path}: hard link to {meta.link_target}, which is not in "
                                "this backup; not backed up", path=meta.path)
                return
        if vf.content is not None and meta.has_data:
            try:
                with vf.content.open() as stream:
                    self._out.write(list(session.attributes(meta, wire_name(meta), link_fi)))
                    seal = self._data(meta, stream)
            except SourceError as exc:  # could not even open it: nothing was sent
                self._log.error(f"{exc}; not backed up", path=meta.path)
                return
        else:
            self._out.write(list(session.attributes(meta, wire_name(meta), link_fi)))
            self._out.write([ptcomm.EOD])  # no data
            seal = None
        self._trailer(vf.extras, seal)
        self.files += 1
        if meta.kind is FileKind.REGULAR and meta.nlink > 1 and self._ask_file_index:
            self._file_index[meta.path] = self._ask_file_index()

    def _data(self, meta: FileMeta, stream: ContentStream) -> DataSeal | None:
        """DATA, the content in D packets, F. Holes (or a raw start that could be mistaken
        for framing) switch to PHSPARSE framing."""
        digest = StreamDigest()
        complete = True
        self._out.write([ptcomm.command("DATA")])
        encoder: SparseEncoder | None = None
        if stream.extents != ExtentMap.full(stream.size):
            encoder = SparseEncoder(stream.size)
            self._send(digest, [encoder.header()])
        try:
            for chunk in stream.chunks():
                if encoder is None and digest.count == 0 and looks_framed(chunk.data):
                    encoder = SparseEncoder(stream.size)
                    self._send(digest, [encoder.header()])
                if encoder is None:
                    for head, piece in ptcomm.data_packets(chunk.data):
                        self._send(digest, [piece], head)
                else:
                    self._framed(encoder, digest, chunk)
        except SourceError as exc:
            complete = False
            self._log.error(f"{exc}; the backup of this file is incomplete and will not be "
                            "restored", path=meta.path)
        if encoder is not None:
            self._send(digest, [encoder.end()])
        elif complete and digest.count != meta.size:
            self._log.warning(f"{meta.path}: changed size while being read "
                              f"({meta.size} -> {digest.count} bytes)", path=meta.path)
        self._out.write([ptcomm.EOD])
        self.bytes += digest.count
        return DataSeal.of(digest, complete) if self._seal or not complete else None

    def _framed(self, encoder: SparseEncoder, digest: StreamDigest, chunk: Chunk) -> None:
        limit = ptcomm.MAX_PAYLOAD - SEGMENT_HEADER_SIZE
        for start in range(0, len(chunk.data), limit):
            piece = chunk.data[start : start + limit]
            self._send(digest, [encoder.segment(chunk.offset + start, len(piece)), piece])

    def _send(self, digest: StreamDigest, parts: list[Buffer], head: bytes | None = None) -> None:
        for part in parts:
            digest.update(part)
        if head is None:
            head = ptcomm.header("D", sum(len(p) for p in parts))
        self._out.write([head, *parts])

    def _trailer(self, extras: FileExtras, seal: DataSeal | None) -> None:
        frames: list[Buffer] = []
        if extras.acl is not None:
            frames += self._block("ACL", extras.acl)
        if seal is not None or extras.xattrs:
            frames += self._block("XATTR", Trailer(seal, extras.xattrs).encode())
        if frames:
            self._out.write(frames)

    def _block(self, kind: str, blob: bytes) -> list[Buffer]:
        if len(blob) > ptcomm.MAX_PAYLOAD:
            raise FormatError(f"{kind} block of {len(blob)} bytes exceeds one packet")
        return [ptcomm.command(kind), ptcomm.packet("D", blob), ptcomm.EOD]


class _Incoming:
    """A restored file between its offer and its commit."""

    def __init__(self, meta: FileMeta, receiver: FileReceiver) -> None:
        self.meta = meta
        self.receiver = receiver
        self.decoder: ContentDecoder | None = None
        self.digest = StreamDigest()
        self.content_size: int | None = None
        self.failure: str | None = None
        self.acl: bytes | None = None
        self.trailer: Trailer | None = None


class RestoreDriver:
    """Feeds restore events into a ``RestoreSink`` and produces the plugin's answers."""

    def __init__(self, sink: RestoreSink, out: Output, log: Log) -> None:
        self._sink = sink
        self._out = out
        self._log = log
        self._file: _Incoming | None = None

    def _ok(self) -> None:
        self._out.write([ptcomm.command("OK")])

    def _refuse(self, text: str) -> None:
        self._out.write([ptcomm.message("E", text)])

    def handle(self, event: session.Event) -> None:
        match event:
            case session.RestoreObjectReceived(name=name, data=data):
                self.settle()
                self._sink.restore_object(RestoreObject(name, data))
                self._ok()
            case session.FileOffered():
                self.settle()
                self._offer(event)
            case session.DataBegin():
                self._data_begin()
            case session.DataChunk(data=data):
                self._data_chunk(data)
            case session.DataEnd():
                self._data_end()
            case session.MetaBlock():
                self._meta(event)
            case session.Finish():
                self.settle()
                self._sink.finish()
                self._out.write([ptcomm.EOD])
            case session.End():
                self.settle()

    def _offer(self, event: session.FileOffered) -> None:
        try:
            decision = self._sink.begin(event.meta)
        except (RestoreRefusedError, TargetError) as exc:
            self._refuse(f"{exc}; not restored")
            return
        if isinstance(decision, RestoreDecision):
            self._out.write([ptcomm.command(decision.value)])
            return
        self._file = _Incoming(event.meta, decision)
        self._ok()

    def _current(self, what: str) -> _Incoming:
        if self._file is None:
            raise ProtocolError(f"{what} without a file being restored")
        return self._file

    def _data_begin(self) -> None:
        self._current("file data").decoder = ContentDecoder()

    def _data_chunk(self, data: memoryview) -> None:
        f = self._current("file data")
        if f.failure or f.decoder is None:
            return
        f.digest.update(data)
        try:
            for chunk in f.decoder.feed(data):
                f.receiver.write(chunk.offset, chunk.data)
        except (FormatError, TargetError) as exc:
            f.failure = str(exc)

    def _data_end(self) -> None:
        f = self._current("end of file data")
        if not f.failure and f.decoder is not None:
            try:
                for chunk in f.decoder.finish():
                    f.receiver.write(chunk.offset, chunk.data)
                f.content_size = f.decoder.content_size
            except (FormatError, TargetError) as exc:
                f.failure = str(exc)
        if f.failure:
            self._drop(f"{f.meta.path}: {f.failure}; not restored")
        else:
            self._ok()

    def _meta(self, block: session.MetaBlock) -> None:
        f = self._file
        if f is None:  # the file was skipped or refused: nothing to attach it to
            self._ok()
            return
        if block.kind == "ACL":
            f.acl = block.data
            self._ok()
            return
        if not Trailer.is_trailer(block.data):
            self._log.warning(f"{f.meta.path}: XATTR data in an unknown format "
                              f"({len(block.data)} bytes) not applied", path=f.meta.path)
            self._ok()
            return
        try:
            f.trailer = Trailer.decode(block.data)
            if f.trailer.seal is not None:
                f.trailer.seal.verify(f.digest, f.meta.path)
        except (FormatError, IntegrityError) as exc:
            self._drop(f"{exc}")
            return
        if self._commit(f, answer=True):
            self._ok()

    def _drop(self, text: str) -> None:
        f = self._file
        self._file = None
        if f is not None:
            f.receiver.discard()
        self._refuse(text)

    def _commit(self, f: _Incoming, *, answer: bool) -> bool:
        """Commit; a failure is the answer to the current request (E) or, when no request
        is pending (the next file already began), a non-fatal job error (Q)."""
        self._file = None
        extras = FileExtras(f.trailer.xattrs if f.trailer else (), f.acl)
        try:
            f.receiver.commit(extras, f.content_size)
        except (TargetError, RestoreRefusedError) as exc:
            f.receiver.discard()
            if answer:
                self._refuse(f"{exc}; not restored")
            else:
                self._log.error(f"{exc}; not restored", path=f.meta.path)
            return False
        return True

    def settle(self) -> None:
        """Commit the file in flight (its stream carried no trailer)."""
        f = self._file
        if f is None:
            return
        if f.decoder is not None and f.content_size is None and not f.failure:
            f.failure = "its data ended without an end of data"
        if f.failure:
            self._file = None
            f.receiver.discard()
            self._log.error(f"{f.meta.path}: {f.failure}; not restored", path=f.meta.path)
            return
        self._commit(f, answer=False)

    def abort(self) -> None:
        """The session ends abnormally: discard the file in flight."""
        if self._file is not None:
            self._file.receiver.discard()
            self._file = None
