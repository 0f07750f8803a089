"""Use case: restore files into a tree (the ``RestoreSink`` of the posix plugin).

Every offered name is checked before anything is written: absolute, no ``.``/``..``
component, inside ``Where``, and not below a symlink this restore created (the classic
"restore a symlink, then write through it" escape). Regular files are written under a
temporary name and renamed into place on commit; directories get their attributes last,
deepest first, so restrictive modes never block their own contents.
"""

from __future__ import annotations

from collections import Counter

import attrs

from podheitor.domain.errors import RestoreRefusedError, TargetError
from podheitor.domain.files import FileExtras, FileKind, FileMeta, RestoreDecision, RestoreObject
from podheitor.domain.guards import Guard, GuardStack
from podheitor.domain.jobs import Replace
from podheitor.domain.paths import normalise_restore_path, parents
from podheitor.ports.filesystem import FileTreeWriter, NewFile
from podheitor.ports.log import Log
from podheitor.ports.stream import FileReceiver

#: After this many identical attribute problems (e.g. "cannot set owner" when restoring
#: without privilege) the rest are only counted, and summarised at the end.
PROBLEM_REPORT_LIMIT = 10


class TreeRestore:
    def __init__(self, writer: FileTreeWriter, log: Log, *, where: str = "",
                 replace: Replace = Replace.ALWAYS, guards: GuardStack | None = None) -> None:
        self.writer = writer
        self.guards = guards if guards is not None else GuardStack()
        self.log = log
        self.where = where
        self.replace = replace
        self.objects: list[RestoreObject] = []
        self.restored = 0
        self.skipped = 0
        self._created_links: set[str] = set()
        self._directories_made: set[str] = set()  # one mkdir per directory, not per file
        self._directories: list[tuple[FileMeta, tuple[tuple[str, bytes], ...]]] = []
        self._problems: Counter[str] = Counter()

    # -- RestoreSink ------------------------------------------------------------------
    def restore_object(self, obj: RestoreObject) -> None:
        self.objects.append(obj)

    def _safe(self, path: str) -> str:
        clean = normalise_restore_path(path, self.where)
        for parent in parents(clean):
            if parent in self._created_links:
                raise RestoreRefusedError(path, f"lies below the restored symlink {parent}")
        return clean

    def begin(self, meta: FileMeta) -> FileReceiver | RestoreDecision:
        meta = attrs.evolve(meta, path=self._safe(meta.path))
        existing = self.writer.lookup(meta.path)
        if meta.kind is FileKind.DIRECTORY:
            if existing is not None and not existing.is_directory:
                raise RestoreRefusedError(meta.path, "a non-directory is in the way")
            self._make_directory(meta.path)
            return _DirectoryReceiver(self, meta)
        if existing is not None and existing.is_directory:
            raise RestoreRefusedError(meta.path, "a directory is in the way")
        if not self.replace.allows(meta.mtime, existing.mtime if existing else None):
            self.skipped += 1
            return RestoreDecision.SKIP
        if meta.kind is FileKind.HARDLINK:
            if meta.link_target is None:
                return RestoreDecision.CORE  # the peer did not say what it links to
            meta = attrs.evolve(meta, link_target=self._safe(meta.link_target))
        self._make_directory(meta.path.rsplit("/", 1)[0] or "/")
        if meta.kind is FileKind.REGULAR:
            new = self.writer.create_file(meta.path)
            guard = self.guards.push(f"temporary file of {meta.path}", new.discard)
            return _FileReceiver(self, meta, new, guard)
        return _LinkReceiver(self, meta)

    def finish(self) -> None:
        for meta, xattrs in sorted(self._directories, key=lambda d: d[0].path, reverse=True):
            try:
                self.report(meta, self.writer.set_attributes(meta, xattrs))
            except TargetError as exc:
                self.log.error(f"{exc}", path=meta.path)
        self._directories.clear()
        for problem, count in self._problems.items():
            if count > PROBLEM_REPORT_LIMIT:
                self.log.warning(f"{count} files in all: {problem}")

    def _make_directory(self, path: str) -> None:
        if path not in self._directories_made:
            self.writer.make_directory(path)
            self._directories_made.add(path)

    # -- helpers for the receivers ----------------------------------------------------
    def report(self, meta: FileMeta, problems: list[str]) -> None:
        for problem in problems:
            self._problems[problem] += 1
            if self._problems[problem] <= PROBLEM_REPORT_LIMIT:
                self.log.warning(f"{meta.path}: {problem}", path=meta.path)

    def committed(self, meta: FileMeta, extras: FileExtras) -> None:
        self.restored += 1
        if extras.acl is not None:
            self.report(meta, ["an ACL block in a foreign format was not applied"])


class _FileReceiver:
    """A regular file; its temporary file is guarded until commit or discard."""

    def __init__(self, owner: TreeRestore, meta: FileMeta, new: NewFile, guard: Guard) -> None:
        self.owner, self.meta, self.new, self.guard = owner, meta, new, guard

    def write(self, offset: int, data: memoryview) -> None:
        self.new.write(offset, data)

    def commit(self, extras: FileExtras, content_size: int | None) -> None:
        try:
            problems = self.new.commit(self.meta, content_size, extras.xattrs)
        finally:
            self.owner.guards.dismiss(self.guard)  # committed, or discarded by commit itself
        self.owner.report(self.meta, problems)
        self.owner.committed(self.meta, extras)

    def discard(self) -> None:
        self.owner.guards.dismiss(self.guard)
        self.new.discard()


class _LinkReceiver:
    """Symlinks and hard links: made on commit, carry no data."""

    def __init__(self, owner: TreeRestore, meta: FileMeta) -> None:
        self.owner, self.meta = owner, meta

    def write(self, offset: int, data: memoryview) -> None:
        raise TargetError(f"{self.meta.path}: a {self.meta.kind.value} carries no data")

    def commit(self, extras: FileExtras, content_size: int | None) -> None:
        writer, meta = self.owner.writer, self.meta
        assert meta.link_target is not None
        if meta.kind is FileKind.SYMLINK:
            writer.symlink(meta.path, meta.link_target)
            self.owner._created_links.add(meta.path)
            self.owner.report(meta, writer.set_attributes(meta, ()))
        else:
            writer.hardlink(meta.path, meta.link_target)
        self.owner.committed(meta, extras)

    def discard(self) -> None:
        return None


class _DirectoryReceiver:
    """Directories exist from ``begin``; their attributes wait for ``finish``."""

    def __init__(self, owner: TreeRestore, meta: FileMeta) -> None:
        self.owner, self.meta = owner, meta

    def write(self, offset: int, data: memoryview) -> None:
        raise TargetError(f"{self.meta.path}: a directory carries no data")

    def commit(self, extras: FileExtras, content_size: int | None) -> None:
        self.owner._directories.append((self.meta, extras.xattrs))
        self.owner.committed(self.meta, extras)

    def discard(self) -> None:
        return None
