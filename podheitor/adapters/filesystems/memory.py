"""An in-memory file tree: the fake behind the filesystem contract suites.

It implements both ``FileTreeReader`` and ``FileTreeWriter`` with the same observable
behaviour as the POSIX adapter (errors, hole reporting, atomic replace), so use cases can be
tested and embedded without touching a disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import count

import attrs

from podheitor.domain.errors import SourceError, TargetError, VanishedError
from podheitor.domain.extents import Extent, ExtentMap
from podheitor.domain.files import MAX_CHUNK, BytesStream, ContentStream, FileKind, FileMeta
from podheitor.domain.paths import parents
from podheitor.ports.filesystem import ExistingFile, TreeEntry

_inodes = count(1000)


@attrs.define
class _Node:
    meta: FileMeta
    inode: int
    data: bytearray = attrs.field(factory=bytearray)
    holes: ExtentMap = attrs.field(factory=ExtentMap)
    xattrs: dict[str, bytes] = attrs.field(factory=dict)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


@attrs.frozen
class MemoryContent:
    tree: MemoryTree
    path: str

    def open(self) -> AbstractContextManager[ContentStream]:
        node = self.tree._nodes.get(self.path)
        if node is None or node.meta.kind is not FileKind.REGULAR:
            raise VanishedError(self.path, "vanished before it could be read")
        data = bytes(node.data)
        extents = ExtentMap.full(len(data)) - node.holes
        return nullcontext(BytesStream(data, extents, MAX_CHUNK))


class MemoryTree:
    """A dictionary of paths; hard links share one node."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self.add_directory("/")

    # -- building (tests, demos) --------------------------------------------------------
    def _put(self, meta: FileMeta) -> _Node:
        for p in parents(meta.path):
            if p not in self._nodes:
                self.add_directory(p)
        node = _Node(meta, next(_inodes))
        self._nodes[meta.path] = node
        return node

    def add_directory(self, path: str, mode: int = 0o755, mtime: int = 0) -> None:
        self._nodes[path] = _Node(
            FileMeta(path, FileKind.DIRECTORY, mode=mode, mtime=mtime, ctime=mtime),
            next(_inodes))

    def add_file(self, path: str, data: bytes = b"", *, mode: int = 0o644, mtime: int = 0,
                 ctime: int | None = None, uid: int = 0, gid: int = 0,
                 holes: ExtentMap | None = None, xattrs: dict[str, bytes] | None = None) -> None:
        node = self._put(FileMeta(path, FileKind.REGULAR, size=len(data), mode=mode,
                                  mtime=mtime, ctime=mtime if ctime is None else ctime,
                                  uid=uid, gid=gid))
        node.data[:] = data
        node.holes = holes or ExtentMap()
        node.xattrs = dict(xattrs or {})

    def add_symlink(self, path: str, target: str, mtime: int = 0) -> None:
        self._put(FileMeta(path, FileKind.SYMLINK, size=len(target), mode=0o777,
                           mtime=mtime, link_target=target))

    def add_hardlink(self, path: str, existing: str) -> None:
        node = self._nodes[existing]
        self._nodes[path] = node
        node.meta = attrs.evolve(node.meta, nlink=node.meta.nlink + 1)

    def remove(self, path: str) -> None:
        del self._nodes[path]

    def exists(self, path: str) -> bool:
        return path in self._nodes

    def read(self, path: str) -> bytes:
        return bytes(self._nodes[path].data)

    def holes(self, path: str) -> ExtentMap:
        return self._nodes[path].holes

    def paths(self) -> list[str]:
        return sorted(self._nodes)

    # -- FileTreeReader ---------------------------------------------------------------
    def _entry(self, path: str) -> TreeEntry:
        node = self._nodes.get(path)
        if node is None:
            raise VanishedError(path, "vanished before it could be read")
        return TreeEntry(attrs.evolve(node.meta, path=path), 1, node.inode)

    def stat(self, path: str) -> TreeEntry:
        return self._entry(path)

    def scan(self, path: str) -> Iterator[TreeEntry | SourceError]:
        node = self._nodes.get(path)
        if node is None or node.meta.kind is not FileKind.DIRECTORY:
            raise VanishedError(path, "vanished before it could be read")
        prefix = path.rstrip("/") + "/"
        children = [p for p in self._nodes if p.startswith(prefix) and "/" not in p[len(prefix):]
                    and p != prefix]
        for child in sorted(children, key=lambda p: p.rsplit("/", 1)[1]):
            yield self._entry(child)

    def xattrs(self, path: str) -> tuple[tuple[str, bytes], ...]:
        return tuple(sorted(self._entry_node(path).xattrs.items()))

    def _entry_node(self, path: str) -> _Node:
        node = self._nodes.get(path)
        if node is None:
            raise VanishedError(path, "vanished before it could be read")
        return node

    def content(self, entry: TreeEntry) -> MemoryContent:
        return MemoryContent(self, entry.meta.path)

    # -- FileTreeWriter ---------------------------------------------------------------
    def lookup(self, path: str) -> ExistingFile | None:
        node = self._nodes.get(path)
        if node is None:
            return None
        kind = node.meta.kind
        return ExistingFile(kind is FileKind.DIRECTORY, kind is FileKind.SYMLINK, node.meta.mtime)

    def _require_parent(self, path: str) -> None:
        parent = self._nodes.get(_parent(path))
        if parent is None or parent.meta.kind is not FileKind.DIRECTORY:
            raise TargetError(f"cannot create {path}: parent directory is missing")

    def _check_replaceable(self, path: str) -> None:
        node = self._nodes.get(path)
        if node is not None and node.meta.kind is FileKind.DIRECTORY:
            raise TargetError(f"cannot replace {path}: it is a directory")

    def make_directory(self, path: str) -> None:
        for p in [*parents(path), path]:
            node = self._nodes.get(p)
            if node is None:
                self._nodes[p] = _Node(FileMeta(p, FileKind.DIRECTORY, mode=0o700), next(_inodes))
            elif node.meta.kind is not FileKind.DIRECTORY:
                raise TargetError(f"cannot create directory {path}: a non-directory is in the way")

    def create_file(self, path: str) -> MemoryNewFile:
        self._require_parent(path)
        return MemoryNewFile(self, path)

    def symlink(self, path: str, target: str) -> None:
        self._require_parent(path)
        self._check_replaceable(path)
        self._nodes[path] = _Node(FileMeta(path, FileKind.SYMLINK, size=len(target), mode=0o777,
                                           link_target=target), next(_inodes))

    def hardlink(self, path: str, existing: str) -> None:
        self._require_parent(path)
        self._check_replaceable(path)
        node = self._nodes.get(existing)
        if node is None or node.meta.kind is not FileKind.REGULAR:
            raise TargetError(f"cannot create hard link {path}: {existing} is not a regular file")
        self._nodes[path] = node
        node.meta = attrs.evolve(node.meta, nlink=node.meta.nlink + 1)

    def set_attributes(self, meta: FileMeta, xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        node = self._nodes.get(meta.path)
        if node is None:
            raise TargetError(f"cannot set attributes of {meta.path}: it is gone")
        mode = node.meta.mode if node.meta.kind is FileKind.SYMLINK else meta.mode
        node.meta = attrs.evolve(node.meta, mode=mode, uid=meta.uid, gid=meta.gid,
                                 atime=meta.atime, mtime=meta.mtime)
        if node.meta.kind is not FileKind.SYMLINK:
            node.xattrs.update(xattrs)
        return []


class MemoryNewFile:
    def __init__(self, tree: MemoryTree, path: str) -> None:
        self.tree, self.path = tree, path
        self.data = bytearray()
        self.written: list[Extent] = []  # merged once, at commit
        self.done = False

    def write(self, offset: int, data: memoryview) -> None:
        if len(self.data) < offset + len(data):
            self.data.extend(bytes(offset + len(data) - len(self.data)))
        self.data[offset : offset + len(data)] = data
        self.written.append(Extent(offset, len(data)))

    def commit(self, meta: FileMeta, content_size: int | None,
               xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        self.tree._check_replaceable(self.path)
        size = len(self.data) if content_size is None else content_size
        self.data = self.data[:size] + bytes(max(0, size - len(self.data)))
        node = _Node(attrs.evolve(meta, path=self.path, kind=FileKind.REGULAR, size=size,
                                  nlink=1, link_target=None), next(_inodes))
        node.data = self.data
        node.holes = ExtentMap.full(size) - ExtentMap(self.written)
        node.xattrs = dict(xattrs)
        self.tree._nodes[self.path] = node
        self.done = True
        return []

    def discard(self) -> None:
        self.done = True
