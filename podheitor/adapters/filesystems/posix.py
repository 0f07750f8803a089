"""The local POSIX filesystem as a backup source and a restore target.

Reads never follow symlinks and never materialise holes (``SEEK_DATA``/``SEEK_HOLE``);
writes go to a temporary name next to the final one and are renamed into place only after
fsync, so an interrupted restore never leaves a truncated file under the final name.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from podheitor.adapters.filesystems.reading import FileReader
from podheitor.domain.errors import (
    AccessDeniedError,
    SourceError,
    TargetError,
    UnsupportedItemError,
    VanishedError,
)
from podheitor.domain.extents import Extent, ExtentMap
from podheitor.domain.files import MAX_CHUNK, Chunk, ContentStream, FileKind, FileMeta
from podheitor.ports.filesystem import ExistingFile, TreeEntry

_SPECIAL = {
    statmod.S_IFIFO: "a FIFO",
    statmod.S_IFSOCK: "a socket",
    statmod.S_IFCHR: "a character device",
    statmod.S_IFBLK: "a block device",
}
_NOATIME = getattr(os, "O_NOATIME", 0)


def source_error(path: str, exc: OSError) -> SourceError:
    """Translate an OSError met while reading ``path``."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return VanishedError(path, "vanished before it could be read")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDeniedError(path, "permission denied")
    return SourceError(path, exc.strerror or str(exc))


def meta_from_stat(path: str, st: os.stat_result, link_target: str | None = None) -> FileMeta:
    fmt = statmod.S_IFMT(st.st_mode)
    if fmt == statmod.S_IFREG:
        kind, size = FileKind.REGULAR, st.st_size
    elif fmt == statmod.S_IFDIR:
        kind, size = FileKind.DIRECTORY, 0
    elif fmt == statmod.S_IFLNK:
        kind, size = FileKind.SYMLINK, st.st_size
    else:
        raise UnsupportedItemError(path, f"is {_SPECIAL.get(fmt, 'a special file')}; skipped")
    return FileMeta(
        path=path, kind=kind, size=size, mode=statmod.S_IMODE(st.st_mode),
        uid=st.st_uid, gid=st.st_gid, atime=int(st.st_atime), mtime=int(st.st_mtime),
        ctime=int(st.st_ctime), nlink=st.st_nlink, link_target=link_target,
    )


def _data_extents(fd: int, size: int, blocks: int) -> ExtentMap:
    """Data regions of an open file; dense files skip the lseek dance."""
    if size == 0 or blocks * 512 >= size:
        return ExtentMap.full(size)
    spans: list[Extent] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                break
            return ExtentMap.full(size)  # filesystem without SEEK_DATA: treat as dense
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if start >= size:
            break
        spans.append(Extent.span(start, end))
        pos = end
    return ExtentMap(spans)


@attrs.define
class _OpenFile:
    path: str
    size: int
    extents: ExtentMap
    reader: FileReader

    def chunks(self) -> Iterator[Chunk]:
        for ext in self.extents.split(self.reader.chunk_size):
            try:
                data = self.reader.read(ext.offset, ext.length)
            except OSError as exc:
                raise source_error(self.path, exc) from exc
            if not data:
                return  # the file shrank while being read; the stream records the count
            yield Chunk(ext.offset, data)
            if len(data) < ext.length:
                return


@attrs.frozen
class PosixContent:
    path: str
    size: int
    chunk_size: int = MAX_CHUNK

    @contextmanager
    def open(self) -> Iterator[ContentStream]:
        try:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | _NOATIME | os.O_CLOEXEC)
            except PermissionError:  # O_NOATIME needs ownership; retry without it
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            st = os.fstat(fd)
        except OSError as exc:
            raise source_error(self.path, exc) from exc
        try:
            if not statmod.S_ISREG(st.st_mode):
                raise VanishedError(self.path, "was replaced by a non-regular file")
            size = min(self.size, st.st_size)  # never read past what the attributes said
            extents = _data_extents(fd, size, st.st_blocks)
            reader = FileReader(fd, size, self.chunk_size)
            try:
                yield _OpenFile(self.path, size, extents, reader)
            finally:
                reader.close()
        finally:
            os.close(fd)


class PosixTree:
    """``FileTreeReader`` over the local filesystem."""

    def stat(self, path: str) -> TreeEntry:
        try:
            st = os.lstat(path)
            target = os.readlink(path) if statmod.S_ISLNK(st.st_mode) else None
        except OSError as exc:
            raise source_error(path, exc) from exc
        return TreeEntry(meta_from_stat(path, st, target), st.st_dev, st.st_ino)

    def scan(self, path: str) -> Iterator[TreeEntry | SourceError]:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise source_error(path, exc) from exc
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                target = os.readlink(entry.path) if entry.is_symlink() else None
                yield TreeEntry(meta_from_stat(entry.path, st, target), st.st_dev, st.st_ino)
            except OSError as exc:
                yield source_error(entry.path, exc)
            except SourceError as exc:
                yield exc

    def xattrs(self, path: str) -> tuple[tuple[str, bytes], ...]:
        try:
            names = os.listxattr(path, follow_symlinks=False)
            return tuple(
                (n, os.getxattr(path, n, follow_symlinks=False)) for n in sorted(names)
            )
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.ENODATA):
                return ()
            raise source_error(path, exc) from exc

    def content(self, entry: TreeEntry) -> PosixContent:
        return PosixContent(entry.meta.path, entry.meta.size)


def _apply(target: int | str, meta: FileMeta, xattrs: tuple[tuple[str, bytes], ...],
           *, is_link: bool) -> list[str]:
    """Owner, mode, xattrs, then times (last, since the others touch ctime/mtime)."""
    problems: list[str] = []
    follow = not isinstance(target, str)  # an fd is the file itself; a path must not follow
    try:
        os.chown(target, meta.uid, meta.gid, follow_symlinks=follow)
    except OSError as exc:
        problems.append(f"cannot set owner {meta.uid}:{meta.gid} ({exc.strerror})")
    if not is_link:
        try:
            os.chmod(target, meta.mode, follow_symlinks=follow)
        except OSError as exc:
            problems.append(f"cannot set mode {meta.mode:04o} ({exc.strerror})")
    for name, value in xattrs:
        try:
            os.setxattr(target, name, value, follow_symlinks=follow)
        except OSError as exc:
            problems.append(f"cannot set extended attribute {name} ({exc.strerror})")
    try:
        os.utime(target, ns=(meta.atime * 10**9, meta.mtime * 10**9), follow_symlinks=follow)
    except OSError as exc:
        problems.append(f"cannot set times ({exc.strerror})")
    return problems


def _temp_name(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/.{name[:200]}.podheitor-{os.urandom(6).hex()}"


def _target_error(action: str, path: str, exc: OSError) -> TargetError:
    return TargetError(f"cannot {action} {path}: {exc.strerror or exc}")


class _PosixNewFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.temp = _temp_name(path)
        try:
            self.fd = os.open(
                self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
        except OSError as exc:
            raise _target_error("create", path, exc) from exc

    def write(self, offset: int, data: memoryview) -> None:
        try:
            while data:
                n = os.pwrite(self.fd, data, offset)
                data, offset = data[n:], offset + n
        except OSError as exc:
            raise _target_error("write", self.path, exc) from exc

    def commit(self, meta: FileMeta, content_size: int | None,
               xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        try:
            if content_size is not None:
                os.ftruncate(self.fd, content_size)
            problems = _apply(self.fd, meta, xattrs, is_link=False)
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            os.rename(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise _target_error("finish", self.path, exc) from exc
        return problems

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass


class PosixTreeWriter:
    """``FileTreeWriter`` over the local filesystem."""

    def lookup(self, path: str) -> ExistingFile | None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _target_error("inspect", path, exc) from exc
        return ExistingFile(statmod.S_ISDIR(st.st_mode), statmod.S_ISLNK(st.st_mode),
                            int(st.st_mtime))

    def make_directory(self, path: str) -> None:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except FileExistsError as exc:
            raise TargetError(
                f"cannot create directory {path}: a non-directory is in the way") from exc
        except OSError as exc:
            raise _target_error("create directory", path, exc) from exc

    def create_file(self, path: str) -> _PosixNewFile:
        return _PosixNewFile(path)

    def _replace_with(self, path: str, make: str, create: Callable[[str], None]) -> None:
        temp = _temp_name(path)
        try:
            create(temp)
            os.rename(temp, path)
        except OSError as exc:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise _target_error(make, path, exc) from exc

    def symlink(self, path: str, target: str) -> None:
        self._replace_with(path, "create symlink", lambda t: os.symlink(target, t))

    def hardlink(self, path: str, existing: str) -> None:
        self._replace_with(
            path, "create hard link", lambda t: os.link(existing, t, follow_symlinks=False)
        )

    def set_attributes(self, meta: FileMeta, xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        return _apply(meta.path, meta, xattrs, is_link=meta.kind is FileKind.SYMLINK)
