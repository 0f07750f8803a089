"""The embedding API: podheitor's use cases for programs that are not Bacula.

    from podheitor.app.api import backup_tree, restore_tree, verify_trees, StreamArchive

    report = backup_tree(["/srv/data"], StreamArchive("/backups/data.phs"))
    restore_tree(StreamArchive("/backups/data.phs"), "/restore")
    assert not verify_trees("/srv/data", "/restore/srv/data")

The Bacula backend runs the very same use cases; the archive only replaces the Bacula
session as the consumer of the virtual-file stream.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import xxhash

from podheitor.adapters.filesystems.posix import PosixTree, PosixTreeWriter
from podheitor.app.archive import MemoryArchive, StreamArchive
from podheitor.app.treebackup import TreeBackup, TreeSelection
from podheitor.app.treerestore import TreeRestore
from podheitor.domain.files import FileKind
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import Replace
from podheitor.ports.filesystem import FileTreeReader, FileTreeWriter, TreeEntry
from podheitor.ports.log import Log

__all__ = [
    "BackupReport", "CollectingLog", "MemoryArchive", "RestoreReport", "StreamArchive",
    "backup_tree", "restore_tree", "verify_trees",
]


class CollectingLog:
    """A ``Log`` that keeps ``(level, text)`` pairs, for callers without structlog."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def _add(self, level: str, event: str) -> None:
        self.entries.append((level, event))

    def info(self, event: str, **kw: Any) -> None:
        self._add("info", event)

    def warning(self, event: str, **kw: Any) -> None:
        self._add("warning", event)

    def error(self, event: str, **kw: Any) -> None:
        self._add("error", event)

    @property
    def problems(self) -> list[str]:
        return [text for level, text in self.entries if level != "info"]


@attrs.frozen
class BackupReport:
    files: int
    data_bytes: int
    problems: list[str]


@attrs.frozen
class RestoreReport:
    restored: int
    skipped: int
    refused: list[str]
    problems: list[str]


def backup_tree(roots: Iterable[str], archive: MemoryArchive | StreamArchive, *,
                since: int | None = None, excludes: Iterable[str] = (),
                one_file_system: bool = False, xattrs: bool = True,
                reader: FileTreeReader | None = None, log: Log | None = None) -> BackupReport:
    """Back up trees into an archive. Per-file problems are reported, not raised."""
    log = log or CollectingLog()
    selection = TreeSelection(tuple(os.path.abspath(r) for r in roots), since,
                              tuple(excludes), one_file_system, xattrs)
    items = TreeBackup(reader or PosixTree(), selection, log).items()
    if isinstance(archive, StreamArchive):
        encoder = archive.write(items, log)
        files, data = encoder.files, encoder.bytes
    else:
        before, before_bytes = len(archive.items), archive.data_bytes
        archive.add_all(items, log)
        files, data = len(archive.items) - before, archive.data_bytes - before_bytes
    problems = log.problems if isinstance(log, CollectingLog) else []
    return BackupReport(files, data, problems)


def restore_tree(archive: MemoryArchive | StreamArchive, where: str, *,
                 replace: Replace = Replace.ALWAYS, writer: FileTreeWriter | None = None,
                 log: Log | None = None) -> RestoreReport:
    """Restore everything in ``archive`` below ``where`` (original paths are kept inside)."""
    log = log or CollectingLog()
    where = os.path.abspath(where)
    refused: list[str] = []
    with GuardStack() as guards:  # temporary files go away whatever ends the restore
        sink = TreeRestore(writer or PosixTreeWriter(), log, where=where, replace=replace,
                           guards=guards)
        if isinstance(archive, StreamArchive):
            refused = archive.restore(sink, log, where=where)
        else:
            archive.restore(sink, where=where)
    problems = log.problems if isinstance(log, CollectingLog) else []
    return RestoreReport(sink.restored, sink.skipped, refused, problems)


_ZEROS = bytes(1 << 20)


def _content_digest(tree: PosixTree, entry: TreeEntry) -> str:
    """Digest of the logical content: holes count as the zeros they read as."""
    digest = xxhash.xxh3_128()
    pos = 0

    def zeros(upto: int) -> None:
        nonlocal pos
        while pos < upto:
            n = min(len(_ZEROS), upto - pos)
            digest.update(_ZEROS[:n])
            pos += n

    with tree.content(entry).open() as stream:
        for chunk in stream.chunks():
            zeros(chunk.offset)
            digest.update(chunk.data)
            pos += len(chunk.data)
        zeros(stream.size)
    return digest.hexdigest()


def _fingerprints(root: str) -> Iterator[tuple[str, str]]:
    tree = PosixTree()
    selection = TreeSelection((root,), xattrs=False)
    for entry in TreeBackup(tree, selection, CollectingLog()).entries():
        meta = entry.meta
        rel = os.path.relpath(meta.path, root)
        desc = f"{meta.kind.value} mode={meta.mode:04o} mtime={meta.mtime}"
        if meta.kind is FileKind.SYMLINK:
            desc += f" -> {meta.link_target}"
        elif meta.kind is FileKind.REGULAR:
            desc += f" size={meta.size} data={_content_digest(tree, entry)}"
        if meta.kind is not FileKind.DIRECTORY:  # directory times change as entries appear
            yield rel, desc
        else:
            yield rel, f"directory mode={meta.mode:04o}"


def verify_trees(original: str, restored: str) -> list[str]:
    """Differences between two trees (content, type, mode, mtime, link targets); [] if none."""
    a, b = dict(_fingerprints(original)), dict(_fingerprints(restored))
    out = [f"missing in restore: {p}" for p in sorted(a.keys() - b.keys())]
    out += [f"not in original: {p}" for p in sorted(b.keys() - a.keys())]
    out += [f"differs: {p}: {a[p]} != {b[p]}" for p in sorted(a.keys() & b.keys()) if a[p] != b[p]]
    return out
