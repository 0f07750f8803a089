"""The ``posix`` plugin: back up and restore local directory trees.

FileSet example::

    Plugin = "podheitor-posix: path=/srv/data path=/etc exclude=*.tmp"
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs

from podheitor import __version__
from podheitor.adapters.filesystems.posix import PosixTree, PosixTreeWriter
from podheitor.app.treebackup import TreeBackup, TreeSelection
from podheitor.app.treerestore import TreeRestore
from podheitor.domain.errors import ParameterError
from podheitor.domain.files import FileMeta, VirtualFile
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import JobInfo, JobType
from podheitor.domain.params import CommonParams, parse_params
from podheitor.ports.log import Log


@attrs.frozen(kw_only=True)
class PosixParams(CommonParams):
    path: tuple[str, ...] = ()  # one or more roots (repeat the key); required to back up
    exclude: tuple[str, ...] = ()  # fnmatch patterns on the full path or the name
    one_file_system: bool = False
    xattrs: bool = True

    def __attrs_post_init__(self) -> None:
        for root in self.path:
            if not root.startswith("/"):
                raise ValueError(f"path={root!r} must be an absolute path")


class PosixJob:
    def __init__(self, job: JobInfo, params: PosixParams, log: Log, guards: GuardStack) -> None:
        self.job = job
        self.params = params
        self.log = log
        self.guards = guards

    def _backup(self) -> TreeBackup:
        selection = TreeSelection(
            roots=self.params.path, since=self.job.effective_since,
            excludes=self.params.exclude, one_file_system=self.params.one_file_system,
            xattrs=self.params.xattrs,
        )
        return TreeBackup(PosixTree(), selection, self.log)

    def backup(self) -> Iterator[VirtualFile]:
        return self._backup().items()

    def estimate(self) -> Iterator[FileMeta]:
        return self._backup().metas()

    def listing(self, path: str) -> Iterator[FileMeta]:
        """One directory level, for browsing (``listing=<dir>``)."""
        tree = PosixTree()
        target = path if path.startswith("/") else "/" + path
        for entry in tree.scan(target.rstrip("/") or "/"):
            if not isinstance(entry, Exception):
                yield entry.meta

    def query(self, name: str) -> Iterator[tuple[str, str]]:
        if name == "path":
            for root in self.params.path:
                yield "path", root
        else:
            yield "version", __version__

    def restore(self) -> TreeRestore:
        return TreeRestore(PosixTreeWriter(), self.log, where=self.job.where,
                           replace=self.job.replace, guards=self.guards)

    def commit(self) -> None:
        return None  # Bacula's own Since carries the incremental state


class PosixPlugin:
    name = "posix"

    def __init__(self, log: Log) -> None:
        self.log = log

    def open_job(self, job: JobInfo, params: Sequence[tuple[str, str]],
                 guards: GuardStack) -> PosixJob:
        # a restore needs no path (Bacula names every file); a backup or estimate does
        needs_path = job.type is not JobType.RESTORE and not any(
            key.strip().lower() == "path" for key, _ in params)
        missing = ["missing required parameter 'path' for podheitor-posix"] if needs_path else []
        try:
            parsed = parse_params(PosixParams, params, plugin="podheitor-posix")
        except ParameterError as exc:
            raise ParameterError(exc.problems + missing) from None
        if missing:
            raise ParameterError(missing)
        return PosixJob(job, parsed, self.log, guards)
