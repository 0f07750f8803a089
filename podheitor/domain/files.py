"""Virtual files: the one data plane of every plugin.

A backup is an iterator of ``VirtualFile`` (and ``RestoreObject``) items; a restore consumes
the same shapes. A file's content is opened once and read as ``Chunk``s: offset-addressed
``memoryview``s of a bounded, reused buffer. Holes of sparse files are never materialised:
the content's ``extents`` say which bytes exist and chunks only cover those.

Chunk contract: a chunk's memoryview is valid until the next chunk is requested; a
consumer that needs the bytes longer copies them.
"""

from __future__ import annotations

import enum
import stat as statmod
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple, Protocol

import attrs

from podheitor.domain.extents import ExtentMap

#: Largest chunk a content source hands out: small enough to stay in the CPU cache between
#: read, digest and pipe write (benchmarks/backend_pipe.py and bacula_job.py: 256 KiB to
#: 1 MiB are within noise; 64 KiB costs syscalls), and
#: below the 999,999-byte limit of a metaplugin D packet.
MAX_CHUNK = 8 * 64 * 1024


class FileKind(enum.Enum):
    REGULAR = "regular"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"  # a further name of a regular file already in the stream

    @property
    def type_bits(self) -> int:
        return {
            FileKind.REGULAR: statmod.S_IFREG,
            FileKind.DIRECTORY: statmod.S_IFDIR,
            FileKind.SYMLINK: statmod.S_IFLNK,
            FileKind.HARDLINK: statmod.S_IFREG,
        }[self]


def _check_path(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not value or "\0" in value:
        raise ValueError(f"a file path must be non-empty and contain no NUL byte: {value!r}")


@attrs.frozen
class FileMeta:
    """Name and attributes of one file, as a backup describes it.

    ``mode`` holds permission bits only (``0o7777``); the file type is ``kind``.
    ``link_target`` is the target of a symlink, or the first name of a hard link (unknown,
    None, when a restore comes from a peer that does not send it).
    Times are whole seconds since the epoch (what the Bacula protocol carries).
    """

    path: str = attrs.field(validator=_check_path)
    kind: FileKind
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    nlink: int = 1
    link_target: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind is FileKind.SYMLINK and self.link_target is None:
            raise ValueError(f"symlink {self.path!r} needs a link target")
        if self.size < 0:
            raise ValueError(f"{self.path!r}: size must be >= 0, got {self.size}")

    @property
    def st_mode(self) -> int:
        return self.kind.type_bits | (self.mode & 0o7777)

    @property
    def has_data(self) -> bool:
        return self.kind is FileKind.REGULAR and self.size > 0


@attrs.frozen
class FileExtras:
    """Metadata that travels after a file's data: extended attributes and an ACL blob."""

    xattrs: tuple[tuple[str, bytes], ...] = ()
    acl: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.xattrs) or self.acl is not None


class Chunk(NamedTuple):
    offset: int
    data: memoryview


class ContentStream(Protocol):
    """An opened content: its logical size, which bytes exist (the rest are holes), and
    the chunks that carry them, in offset order."""

    @property
    def size(self) -> int: ...

    @property
    def extents(self) -> ExtentMap: ...

    def chunks(self) -> Iterator[Chunk]: ...


class Content(Protocol):
    """Something that can be opened (once per backup) to stream a file's bytes."""

    def open(self) -> AbstractContextManager[ContentStream]: ...


@attrs.frozen
class BytesStream:
    """A content stream over bytes already in memory (small files, generated documents)."""

    data: bytes
    extents: ExtentMap
    chunk_size: int = MAX_CHUNK

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[Chunk]:
        view = memoryview(self.data)
        for ext in self.extents.split(self.chunk_size):
            yield Chunk(ext.offset, view[ext.offset : ext.end])


@attrs.frozen
class BytesContent:
    """In-memory content; ``extents`` marks the data regions (default: all of it)."""

    data: bytes
    extents: ExtentMap | None = None
    chunk_size: int = MAX_CHUNK

    def open(self) -> AbstractContextManager[ContentStream]:
        extents = self.extents if self.extents is not None else ExtentMap.full(len(self.data))
        return nullcontext(BytesStream(self.data, extents, self.chunk_size))


@attrs.frozen
class VirtualFile:
    """One file of a backup stream: attributes, optional content, trailing extras."""

    meta: FileMeta
    content: Content | None = None
    extras: FileExtras = FileExtras()


@attrs.frozen
class RestoreObject:
    """A named blob Bacula keeps in its catalog and hands back before a restore's files."""

    name: str
    data: bytes


BackupItem = VirtualFile | RestoreObject


class RestoreDecision(enum.Enum):
    """A restore target's answer to an offered file."""

    EXTRACT = "OK"  # the target writes it
    SKIP = "SKIP"  # leave it alone (Replace policy, filtered out)
    CORE = "CORE"  # let Bacula's own file daemon restore it
