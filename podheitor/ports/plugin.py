"""The driving port: what a Bacula session (or any other caller) asks of a plugin job."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from podheitor.domain.files import BackupItem, FileMeta
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import JobInfo
from podheitor.ports.stream import RestoreSink


class PluginJob(Protocol):
    """One plugin command inside one job."""

    def backup(self) -> Iterator[BackupItem]:
        """The items to save, streamed; content is opened only when the consumer reads it."""

    def estimate(self) -> Iterator[FileMeta]:
        """What a backup would save, without reading data."""

    def listing(self, path: str) -> Iterator[FileMeta]:
        """Entries under ``path`` for Bacula's plugin listing (browse) mode."""

    def query(self, name: str) -> Iterator[tuple[str, str]]:
        """Key/value answers to a plugin query (valid values of a parameter, ...)."""

    def restore(self) -> RestoreSink:
        """The sink restored items go to."""

    def commit(self) -> None:
        """The job's data was fully handed over: advance persistent state (CBT, tips)."""


class Plugin(Protocol):
    """A named plugin that turns a job and its parameters into a ``PluginJob``."""

    name: str

    def open_job(
        self, job: JobInfo, params: Sequence[tuple[str, str]], guards: GuardStack
    ) -> PluginJob:
        """Validate parameters (``ParameterError`` lists every problem) and prepare the job.

        Resources the job acquires are pushed on ``guards``; the caller releases them.
        """
