"""Use case: back up file trees (the posix plugin; the HPC plugin builds on it).

Walks each root depth-first without following symlinks, reports per-item problems as
non-fatal job errors and goes on, and yields ``VirtualFile``s whose content is opened only
when the consumer streams it. Directories come after their contents (as Bacula's own file
daemon does), so a restore can set directory times last.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import attrs

from podheitor.domain.errors import SourceError
from podheitor.domain.files import FileExtras, FileKind, FileMeta, VirtualFile
from podheitor.ports.filesystem import FileTreeReader, TreeEntry
from podheitor.ports.log import Log


@attrs.frozen
class TreeSelection:
    """What to back up: roots, and the filters applied while walking."""

    roots: tuple[str, ...]
    since: int | None = None  # incremental/differential: changed at or after this time
    excludes: tuple[str, ...] = ()  # fnmatch patterns, matched on the full path and the name
    one_file_system: bool = False
    xattrs: bool = True


def _clean_root(path: str) -> str:
    return path.rstrip("/") or "/"


class TreeBackup:
    def __init__(self, reader: FileTreeReader, selection: TreeSelection, log: Log) -> None:
        self.reader = reader
        self.selection = selection
        self.log = log
        self.skipped = 0

    # -- walking ----------------------------------------------------------------------
    def entries(self) -> Iterator[TreeEntry]:
        for root in map(_clean_root, self.selection.roots):
            try:
                top = self.reader.stat(root)
            except SourceError as exc:
                self._problem(exc)
                continue
            yield from self._walk(top)

    def _problem(self, exc: SourceError) -> None:
        self.skipped += 1
        self.log.error(f"{exc}; not backed up", path=exc.path)

    def _changed(self, meta: FileMeta) -> bool:
        since = self.selection.since
        return since is None or meta.mtime >= since or meta.ctime >= since

    def _excluded(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p)
                   for p in self.selection.excludes)

    def _children(self, entry: TreeEntry) -> Iterator[TreeEntry]:
        try:
            for child in self.reader.scan(entry.meta.path):
                if isinstance(child, SourceError):
                    self._problem(child)
                elif not self._excluded(child.meta.path):
                    yield child
        except SourceError as exc:
            self._problem(exc)

    def _walk(self, top: TreeEntry) -> Iterator[TreeEntry]:
        if top.meta.kind is not FileKind.DIRECTORY:
            if self._changed(top.meta):
                yield top
            return
        stack = [(top, self._children(top))]
        while stack:
            entry, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if self._changed(entry.meta):
                    yield entry
            elif child.meta.kind is not FileKind.DIRECTORY:
                if self._changed(child.meta):
                    yield child
            elif self.selection.one_file_system and child.device != top.device:
                if self._changed(child.meta):
                    yield child  # the mount point itself, not what is mounted on it
            else:
                stack.append((child, self._children(child)))

    # -- what the plugin streams ------------------------------------------------------
    def _linked(self, entries: Iterator[TreeEntry]) -> Iterator[tuple[TreeEntry, bool]]:
        """Mark further names of an inode already seen as hard links to the first name."""
        first_name: dict[tuple[int, int], str] = {}
        for entry in entries:
            meta = entry.meta
            if meta.kind is FileKind.REGULAR and meta.nlink > 1:
                key = (entry.device, entry.inode)
                first = first_name.get(key)
                if first is not None:
                    link = attrs.evolve(meta, kind=FileKind.HARDLINK, link_target=first)
                    yield attrs.evolve(entry, meta=link), True
                    continue
                first_name[key] = meta.path
            yield entry, False

    def metas(self) -> Iterator[FileMeta]:
        """Estimate: every item's attributes, no data read."""
        for entry, _ in self._linked(self.entries()):
            yield entry.meta

    def items(self) -> Iterator[VirtualFile]:
        for entry, is_link in self._linked(self.entries()):
            meta = entry.meta
            content = self.reader.content(entry) if meta.has_data and not is_link else None
            yield VirtualFile(meta, content, self._extras(meta) if not is_link else FileExtras())

    def _extras(self, meta: FileMeta) -> FileExtras:
        if not self.selection.xattrs:
            return FileExtras()
        try:
            return FileExtras(xattrs=self.reader.xattrs(meta.path))
        except SourceError as exc:
            self.log.error(f"{exc}; extended attributes not backed up", path=meta.path)
            return FileExtras()
