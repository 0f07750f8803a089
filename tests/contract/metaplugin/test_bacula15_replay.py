"""Replays the sessions recorded between Bacula 15.0's own metaplugin (kubernetes-fd.so in
bacula-fd 15.0.0) and a backend, and checks that podheitor's backend server answers with the
bytes the real plugin accepted.

The virtual files are the ones the recording backend served; their content comes from the
recorded backup stream and is checked against the SHA-256 sums in virtual-files.json.
"""

from __future__ import annotations

import hashlib
import json
import os

import attrs
import pytest

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.replay import BackupStreamDecoder, EndOfFiles
from podheitor.adapters.bacula.server import BackendServer, MessageQueue, PipeOutput, PipeReader
from podheitor.adapters.bacula.session import DataChunk, FileOffered, MetaBlock
from podheitor.app.api import CollectingLog
from podheitor.domain.files import BytesContent, FileExtras, FileMeta, VirtualFile
from podheitor.domain.guards import GuardStack
from podheitor.domain.trailer import StreamDigest, Trailer
from tests.support.fixtures import PTCOMM


@attrs.define
class Served:
    meta: FileMeta
    data: bytes = b""
    acl: bytes | None = None


def _frames(name: str, letters: frozenset[str]) -> list[ptcomm.Frame]:
    decoder = ptcomm.FrameDecoder(letters)
    frames = decoder.feed((PTCOMM / name).read_bytes())
    decoder.close()
    return frames


def _virtual_files() -> list[Served]:
    """The files the recording backend served, rebuilt from its backup stream."""
    decoder = BackupStreamDecoder()
    served: list[Served] = []
    for frame in _frames("backup.backend-to-plugin.bin", ptcomm.BACKEND_LETTERS)[4:]:
        match decoder.feed(frame.letter, frame.payload):
            case FileOffered(meta=meta):
                served.append(Served(meta))
            case DataChunk(data=data):
                served[-1].data += bytes(data)
            case MetaBlock(kind="ACL", data=blob):
                served[-1].acl = blob
            case EndOfFiles():
                break
    truth = json.loads((PTCOMM / "virtual-files.json").read_text())["files_in_backend_order"]
    assert [s.meta.path for s in served] == [t["fname"] for t in truth]
    for s, t in zip(served, truth, strict=True):
        if t["sha256"]:
            assert hashlib.sha256(s.data).hexdigest() == t["sha256"]
    return served


class RecordingSink:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.finished = False

    def restore_object(self, obj):
        raise AssertionError("the recording holds no restore object")

    def begin(self, meta):
        sink = self

        class Receiver:
            buf = bytearray()

            def write(self, offset, data):
                self.buf[offset : offset + len(data)] = data

            def commit(self, extras, content_size):
                sink.files[meta.path] = Served(meta, bytes(self.buf), extras.acl)

            def discard(self):
                raise AssertionError(f"{meta.path} was discarded")

        return Receiver()

    def finish(self):
        self.finished = True


class FixtureJob:
    def __init__(self, served: list[Served], sink: RecordingSink) -> None:
        self.served, self.sink, self.committed = served, sink, False

    def backup(self):
        for s in self.served:
            content = BytesContent(s.data, chunk_size=131072) if s.data else None
            yield VirtualFile(s.meta, content, FileExtras(acl=s.acl))

    def estimate(self):
        return (s.meta for s in self.served)

    def restore(self):
        return self.sink

    def commit(self):
        self.committed = True


class FixturePlugin:
    name = "kubernetes"

    def __init__(self) -> None:
        self.sink = RecordingSink()
        self.params = None
        self.job = None

    def open_job(self, job, params, guards):
        self.job, self.params = job, params
        self.pjob = FixtureJob(_virtual_files(), self.sink)
        return self.pjob


def _serve(tmp_path, recording: str):
    """Run the backend server on a recorded plugin->backend stream; return what it wrote."""
    out_path = tmp_path / "out.bin"
    plugin = FixturePlugin()
    log = CollectingLog()
    in_fd = os.open(PTCOMM / recording, os.O_RDONLY)
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        server = BackendServer(plugin, PipeReader(in_fd), PipeOutput(out_fd, MessageQueue()),
                               GuardStack(), log)
        server.run()
    finally:
        os.close(in_fd)
        os.close(out_fd)
    assert log.entries == []
    return out_path.read_bytes(), plugin


def test_estimate_answers_are_byte_identical(tmp_path):
    out, plugin = _serve(tmp_path, "estimate.plugin-to-backend.bin")
    assert out == (PTCOMM / "estimate.backend-to-plugin.bin").read_bytes()
    assert plugin.job.job_id == 0 and plugin.params == (("namespace", "alpha"),)


def test_restore_answers_are_byte_identical_and_the_files_arrive_intact(tmp_path):
    out, plugin = _serve(tmp_path, "restore.plugin-to-backend.bin")
    assert out == (PTCOMM / "restore.backend-to-plugin.bin").read_bytes()
    served = {"/tmp/bfx/mprestore" + s.meta.path: s for s in _virtual_files()}
    assert set(plugin.sink.files) == set(served)
    for path, got in plugin.sink.files.items():
        assert got.data == served[path].data
        assert got.acl == served[path].acl
        assert (got.meta.kind, got.meta.mode, got.meta.mtime) == (
            served[path].meta.kind, served[path].meta.mode, served[path].meta.mtime)
    assert plugin.sink.finished
    assert plugin.job.where == "/tmp/bfx/mprestore"


def _without_trailers(frames: list[ptcomm.Frame]) -> tuple[list[ptcomm.Frame], list[bytes]]:
    kept, trailers, i = [], [], 0
    while i < len(frames):
        if frames[i] == ptcomm.Frame("C", b"XATTR\n"):
            assert frames[i + 1].letter == "D" and frames[i + 2].letter == "F"
            trailers.append(frames[i + 1].payload)
            i += 3
            continue
        kept.append(frames[i])
        i += 1
    return kept, trailers


def test_backup_stream_is_the_recorded_one_plus_verifiable_trailers(tmp_path):
    out, plugin = _serve(tmp_path, "backup.plugin-to-backend.bin")
    ours = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(out)
    kept, trailers = _without_trailers(ours)
    assert kept == _frames("backup.backend-to-plugin.bin", ptcomm.BACKEND_LETTERS)
    with_data = [s for s in _virtual_files() if s.data]
    assert len(trailers) == len(with_data)
    for blob, served in zip(trailers, with_data, strict=True):
        digest = StreamDigest()
        digest.update(served.data)
        Trailer.decode(blob).seal.verify(digest, served.meta.path)
    assert plugin.pjob.committed  # state may advance: the backup was fully handed over


@pytest.mark.parametrize("name", ["backup", "estimate", "restore"])
def test_recorded_streams_parse_completely(name):
    for direction, letters in (("plugin-to-backend", ptcomm.PLUGIN_LETTERS),
                               ("backend-to-plugin", ptcomm.BACKEND_LETTERS)):
        frames = _frames(f"{name}.{direction}.bin", letters)
        assert b"".join(ptcomm.packet(f.letter, f.payload) for f in frames) == (
            PTCOMM / f"{name}.{direction}.bin").read_bytes()


def test_an_estimate_never_advances_the_plugin_state(tmp_path):
    _, plugin = _serve(tmp_path, "estimate.plugin-to-backend.bin")
    assert not plugin.pjob.committed
