"""The virtual-file data plane, seen from whoever receives a restore.

A backup needs no port: a use case simply yields ``BackupItem``s (see
``podheitor.domain.files``). A restore is pushed into a ``RestoreSink``: the Bacula session,
an archive reader or a replicator offers each file; the sink decides, receives the content
as offset-addressed writes, and commits the file only when its trailing metadata has been
received and verified.
"""

from __future__ import annotations

from typing import Protocol

from podheitor.domain.files import FileExtras, FileMeta, RestoreDecision, RestoreObject


class FileReceiver(Protocol):
    """Takes one file's content. Nothing is visible under the final name before ``commit``."""

    def write(self, offset: int, data: memoryview) -> None:
        """Store ``data`` at ``offset``; bytes never written are holes (zeros)."""

    def commit(self, extras: FileExtras, content_size: int | None) -> None:
        """Make the file final: size (None keeps what was written), attributes, extras."""

    def discard(self) -> None:
        """Forget everything written; what was at the final name stays untouched."""


class RestoreSink(Protocol):
    """Where restored items go."""

    def restore_object(self, obj: RestoreObject) -> None:
        """A restore object saved by the backup, delivered before any file."""

    def begin(self, meta: FileMeta) -> FileReceiver | RestoreDecision:
        """Offer a file. A receiver means "extract it"; otherwise SKIP or CORE.

        Raises ``RestoreRefusedError`` for a request that must not be honoured.
        """

    def finish(self) -> None:
        """Every file was delivered: apply deferred work (e.g. directory times)."""
