"""Build the same tree on the real filesystem and on the in-memory fake, so one contract
suite can run against both adapters."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from podheitor.adapters.filesystems.memory import MemoryTree
from podheitor.adapters.filesystems.posix import PosixTree, PosixTreeWriter
from podheitor.domain.extents import Extent, ExtentMap


class PosixKit:
    name = "posix"

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.reader = PosixTree()
        self.writer = PosixTreeWriter()

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def dir(self, rel: str, mode: int = 0o755, mtime: int = 1_700_000_000) -> None:
        os.makedirs(self.path(rel), exist_ok=True)
        os.chmod(self.path(rel), mode)
        os.utime(self.path(rel), (mtime, mtime))

    def file(self, rel: str, data: bytes = b"", *, mode: int = 0o644, mtime: int = 1_700_000_000,
             holes: ExtentMap | None = None, xattrs: dict[str, bytes] | None = None) -> None:
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        for hole in holes or ():
            fd = os.open(p, os.O_RDWR)
            try:  # punch the hole so the filesystem really has none of those blocks
                _punch(fd, hole)
            finally:
                os.close(fd)
        for name, value in (xattrs or {}).items():
            os.setxattr(p, name, value)
        os.chmod(p, mode)
        os.utime(p, (mtime, mtime))

    def symlink(self, rel: str, target: str) -> None:
        os.symlink(target, self.path(rel))

    def hardlink(self, rel: str, existing: str) -> None:
        os.link(self.path(existing), self.path(rel))

    def remove(self, rel: str) -> None:
        os.unlink(self.path(rel))

    def read(self, rel: str) -> bytes:
        with open(self.path(rel), "rb") as f:
            return f.read()

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.path(rel))

    def holes(self, rel: str) -> ExtentMap:
        """Holes as the filesystem reports them (SEEK_HOLE)."""
        fd = os.open(self.path(rel), os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            spans, pos = [], 0
            while pos < size:
                hole = os.lseek(fd, pos, os.SEEK_HOLE)
                if hole >= size:
                    break
                try:
                    data = os.lseek(fd, hole, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno != errno.ENXIO:
                        raise
                    data = size
                spans.append(Extent.span(hole, data))
                pos = data
            return ExtentMap(spans)
        finally:
            os.close(fd)

    def listing(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                out.append(os.path.relpath(os.path.join(dirpath, name), self.root))
        return sorted(out)


def _punch(fd: int, hole: Extent) -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    mode = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
    if libc.fallocate(fd, mode, ctypes.c_long(hole.offset), ctypes.c_long(hole.length)) != 0:
        raise OSError(ctypes.get_errno(), "fallocate(PUNCH_HOLE) failed")


class MemoryKit:
    name = "memory"

    def __init__(self) -> None:
        self.tree = MemoryTree()
        self.root = "/data"
        self.tree.add_directory(self.root)
        self.reader = self.tree
        self.writer = self.tree

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def dir(self, rel: str, mode: int = 0o755, mtime: int = 1_700_000_000) -> None:
        self.tree.add_directory(self.path(rel), mode, mtime)

    def file(self, rel: str, data: bytes = b"", *, mode: int = 0o644, mtime: int = 1_700_000_000,
             holes: ExtentMap | None = None, xattrs: dict[str, bytes] | None = None) -> None:
        if holes:
            buf = bytearray(data)
            for hole in holes:
                buf[hole.offset : hole.end] = bytes(hole.length)
            data = bytes(buf)
        self.tree.add_file(self.path(rel), data, mode=mode, mtime=mtime, holes=holes,
                           xattrs=xattrs)

    def symlink(self, rel: str, target: str) -> None:
        self.tree.add_symlink(self.path(rel), target)

    def hardlink(self, rel: str, existing: str) -> None:
        self.tree.add_hardlink(self.path(rel), self.path(existing))

    def remove(self, rel: str) -> None:
        self.tree.remove(self.path(rel))

    def read(self, rel: str) -> bytes:
        return self.tree.read(self.path(rel))

    def exists(self, rel: str) -> bool:
        return self.tree.exists(self.path(rel))

    def holes(self, rel: str) -> ExtentMap:
        return self.tree.holes(self.path(rel))

    def listing(self) -> list[str]:
        prefix = self.root + "/"
        return sorted(p[len(prefix):] for p in self.tree.paths() if p.startswith(prefix))
