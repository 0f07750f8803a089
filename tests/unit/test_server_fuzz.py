"""Whatever the plugin sends, the backend server ends in one of three ways: the session
completes, a ``ProtocolError`` says what was wrong, or the peer is gone. Nothing else
escapes, and no file appears that was not committed."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.server import (
    BackendServer,
    MessageQueue,
    PeerGone,
    PipeOutput,
    PipeReader,
)
from podheitor.adapters.filesystems.memory import MemoryTree
from podheitor.app.api import CollectingLog
from podheitor.app.treerestore import TreeRestore
from podheitor.domain.errors import ProtocolError
from podheitor.domain.files import BytesContent, FileKind, FileMeta, VirtualFile
from podheitor.domain.guards import GuardStack
from podheitor.domain.sparse import MAGIC
from podheitor.domain.trailer import Trailer

COMMANDS = [
    "Hello podheitor-posix 1", "Job", "Params", "Type=R", "Where=/w", "Replace=a", "path=/w",
    "BackupStart", "RestoreStart", "EstimateStart", "ListingStart", "QueryStart", "END",
    "FNAME:/w/a", "FNAME:/w/d/", "FNAME:relative", "FNAME:/w/../x", "STAT:F 3 0 0 100644 1 0",
    "STAT:D 0 0 0 040755 2 0", "STAT:S 1 0 0 120777 1 0", "STAT:L 3 0 0 100644 2 1",
    "STAT:Q x", "TSTAMP:1 2 3", "TSTAMP:x", "LSTAT:/w/a", "DATA", "ACL", "XATTR", "FINISH",
    "RESTOREOBJ:obj", "RESTOREOBJ_LEN:3", "RESTOREOBJ_LEN:x", "FileIndex", "7", "garbage",
]
PAYLOADS = [b"abc", MAGIC + b"\x00" * 16, Trailer().encode(), b"PODHEITOR-TRAILER/1\n{",
            b"\x00" * 10]


class Job:
    def __init__(self, tree: MemoryTree) -> None:
        self.tree = tree

    def backup(self):
        yield VirtualFile(FileMeta("/w/a", FileKind.REGULAR, size=3), BytesContent(b"abc"))

    def estimate(self):
        return iter(())

    def listing(self, path):
        return iter(())

    def query(self, name):
        return iter(())

    def restore(self):
        return TreeRestore(self.tree, CollectingLog(), where="/w")

    def commit(self):
        return None


class Plugin:
    name = "fuzz"

    def __init__(self) -> None:
        self.tree = MemoryTree()

    def open_job(self, job, params, guards):
        return Job(self.tree)


packet = st.one_of(
    st.tuples(st.just("C"), st.sampled_from(COMMANDS).map(lambda c: c.encode() + b"\n")),
    st.tuples(st.just("D"), st.sampled_from(PAYLOADS) | st.binary(max_size=40)),
    st.tuples(st.sampled_from("FTE"), st.just(b"")),
)


def _prefix(job_type: str, start: str) -> list[tuple[str, bytes]]:
    lines = ["Hello podheitor-posix 1", "Job", f"Type={job_type}", "Where=/w", None, "Params",
             "path=/w", None, start]
    return [("F", b"") if line is None else ("C", line.encode() + b"\n") for line in lines]


PREFIXES = [[], _prefix("R", "RestoreStart"), _prefix("B", "BackupStart"),
            _prefix("E", "EstimateStart")]
FILE = [("C", b"FNAME:/w/a\n"), ("C", b"STAT:F 3 0 0 100644 1 0\n"), ("C", b"TSTAMP:1 2 3\n"),
        ("F", b""), ("C", b"DATA\n")]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PREFIXES), st.booleans(), st.lists(packet, max_size=30))
def test_any_packet_sequence_ends_cleanly_or_with_a_protocol_error(prefix, in_file, rest):
    packets = prefix + (FILE if in_file and prefix is PREFIXES[1] else []) + rest
    raw = b"".join(ptcomm.packet(letter, payload if letter != "E" else b"err\n")
                   if letter in "CDE" else ptcomm.packet(letter) for letter, payload in packets)
    plugin = Plugin()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out:
        inp.write(raw)
        inp.seek(0)
        guards = GuardStack()
        server = BackendServer(plugin, PipeReader(inp.fileno()),
                               PipeOutput(out.fileno(), MessageQueue()), guards, CollectingLog())
        try:
            with guards:
                server.run()
        except (ProtocolError, PeerGone):
            pass
        finally:
            if server.restore is not None:
                server.restore.abort()
        out.seek(0)
        decoder = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS)
        decoder.feed(os.read(out.fileno(), 1 << 20))
        decoder.close()  # whatever happened, the output is whole packets
    # nothing half-written is visible: every regular file is complete
    for path in plugin.tree.paths():
        meta = plugin.tree.stat(path).meta
        if meta.kind is FileKind.REGULAR:
            assert len(plugin.tree.read(path)) == meta.size
