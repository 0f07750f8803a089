"""Reading a file tree (backup sources) and writing one (restore targets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import attrs

from podheitor.domain.errors import SourceError
from podheitor.domain.files import Content, FileMeta


@attrs.frozen
class TreeEntry:
    """A file as found in a tree: its attributes plus identity for hard-link detection."""

    meta: FileMeta
    device: int = 0
    inode: int = 0


class FileTreeReader(Protocol):
    """Read access to a tree. Paths are absolute. No method follows symlinks."""

    def stat(self, path: str) -> TreeEntry:
        """Attributes of ``path``. Raises ``SourceError`` subclasses (vanished, denied,
        unsupported kind)."""

    def scan(self, path: str) -> Iterator[TreeEntry | SourceError]:
        """The entries of directory ``path`` (not recursive), each stat'ed, in name order.

        An entry that cannot be represented or read is yielded as its ``SourceError`` so the
        caller can report it and go on. Raises ``SourceError`` if ``path`` itself fails.
        """

    def xattrs(self, path: str) -> tuple[tuple[str, bytes], ...]:
        """Extended attributes (including POSIX ACLs as ``system.posix_acl_*``)."""

    def content(self, entry: TreeEntry) -> Content:
        """The data of a regular file; opened lazily, holes reported as extents."""


class NewFile(Protocol):
    """A file being written under a temporary name next to its final place."""

    def write(self, offset: int, data: memoryview) -> None: ...

    def commit(self, meta: FileMeta, content_size: int | None,
               xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        """Set size and attributes, fsync, rename over the final name.

        Returns problems applying attributes (e.g. ownership without privilege)."""

    def discard(self) -> None:
        """Remove the temporary file."""


@attrs.frozen
class ExistingFile:
    """What occupies a path in a restore target (any kind, including special files)."""

    is_directory: bool
    is_symlink: bool
    mtime: int


class FileTreeWriter(Protocol):
    """Write access to a tree. No method follows a symlink in the last path component."""

    def lookup(self, path: str) -> ExistingFile | None:
        """What is at ``path`` now (lstat), or None."""

    def make_directory(self, path: str) -> None:
        """Create ``path`` and missing parents (existing directories are fine)."""

    def create_file(self, path: str) -> NewFile:
        """Start writing a regular file that will replace ``path`` on commit."""

    def symlink(self, path: str, target: str) -> None:
        """Create (or atomically replace) a symlink."""

    def hardlink(self, path: str, existing: str) -> None:
        """Create (or atomically replace) ``path`` as a further name of ``existing``."""

    def set_attributes(self, meta: FileMeta, xattrs: tuple[tuple[str, bytes], ...]) -> list[str]:
        """Apply mode, owner, times and xattrs to ``meta.path`` (symlinks: owner and times
        only). Returns the problems met; raises only if the path is gone."""
