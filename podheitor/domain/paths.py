"""Rules that keep a restore inside its target.

Bacula hands the backend absolute names with ``Where`` already prefixed. A name that is
relative, carries a ``.``/``..`` component or a NUL byte, or leaves ``Where`` is refused
before anything is written. (Symlinks created by the restore itself are the other escape
route; the restore use case tracks those, see ``app/restore``.)
"""

from __future__ import annotations

import attrs

from podheitor.domain.errors import RestoreRefusedError
from podheitor.domain.files import FileKind, FileMeta


def normalise_restore_path(path: str, where: str = "") -> str:
    """Return ``path`` without a trailing slash or repeated slashes, or refuse it."""
    if "\0" in path:
        raise RestoreRefusedError(path.replace("\0", "\\0"), "contains a NUL byte")
    if not path.startswith("/"):
        raise RestoreRefusedError(path, "is not an absolute path")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise RestoreRefusedError(path, "has a '.' or '..' component")
    clean = "/" + "/".join(parts)
    root = where.rstrip("/")
    if root and clean != root and not clean.startswith(root + "/"):
        raise RestoreRefusedError(path, f"is outside the restore location {where!r}")
    return clean


def relocate(meta: FileMeta, where: str) -> FileMeta:
    """A backed-up file as Bacula offers it for restore under ``where``: the name gets the
    prefix, and so does a hard link's original name; a symlink's target stays as it was."""
    root = where.rstrip("/")
    if not root:
        return meta
    link = meta.link_target
    if meta.kind is FileKind.HARDLINK and link is not None:
        link = root + link
    return attrs.evolve(meta, path=root + meta.path, link_target=link)


def parents(path: str) -> list[str]:
    """The ancestors of a normalised absolute path, nearest last: ``/a/b/c`` -> ``/a, /a/b``."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
