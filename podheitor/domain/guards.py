"""Deterministic release of outside resources.

Every snapshot, volume group, iSCSI session, NBD export, bitmap, cursor or temp file a job
takes is registered on a ``GuardStack``. When the stack closes (success, error, or a
``JobCancelled`` raised by the cancel signal) the releases run in reverse order of
acquisition. A failing release is recorded and reported to the observer, never masks the
error that ended the job, and never escapes cleanup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TypeVar

import attrs

from podheitor.domain.errors import GuardReleaseError

T = TypeVar("T")

ReleaseObserver = Callable[[GuardReleaseError], None]


@attrs.frozen
class Guard:
    """One acquired resource and the action that gives it back."""

    name: str
    release: Callable[[], None]


def _ignore(_: GuardReleaseError) -> None:
    return None


class GuardStack:
    """A stack of guards, released last-in first-out exactly once.

    ``released`` lists the names in the order their release ran (including failed ones);
    ``failures`` the release errors. Both are observable in tests and reports.
    """

    def __init__(self, on_release_error: ReleaseObserver = _ignore) -> None:
        self._guards: list[Guard] = []
        self._observer = on_release_error
        self.released: list[str] = []
        self.failures: list[GuardReleaseError] = []
        self._closed = False

    def push(self, name: str, release: Callable[[], None]) -> Guard:
        """Register an already-acquired resource."""
        if self._closed:
            raise RuntimeError(f"guard stack is closed; cannot take {name}")
        guard = Guard(name, release)
        self._guards.append(guard)
        return guard

    def acquire(self, name: str, acquire: Callable[[], T], release: Callable[[T], None]) -> T:
        """Acquire a resource and register its release in one step.

        If ``acquire`` raises, nothing is registered (there is nothing to give back).
        """
        resource = acquire()
        self.push(name, lambda: release(resource))
        return resource

    def dismiss(self, guard: Guard) -> None:
        """Forget a guard without running it (its resource was handed over or given back)."""
        if guard in self._guards:
            self._guards.remove(guard)

    @contextmanager
    def scoped(self, name: str, release: Callable[[], None]) -> Iterator[Guard]:
        """A guard that is released when the block ends, not when the stack closes."""
        guard = self.push(name, release)
        try:
            yield guard
        finally:
            if guard in self._guards:
                self._guards.remove(guard)
                self._run(guard)

    def close(self) -> list[GuardReleaseError]:
        """Release everything still held, newest first. Safe to call more than once."""
        self._closed = True
        while self._guards:
            self._run(self._guards.pop())
        return list(self.failures)

    def _run(self, guard: Guard) -> None:
        self.released.append(guard.name)
        try:
            guard.release()
        except BaseException as exc:
            failure = GuardReleaseError(guard.name, exc)
            self.failures.append(failure)
            try:
                self._observer(failure)
            except Exception:  # noqa: S110 - a broken observer must not break cleanup
                pass

    def __enter__(self) -> GuardStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
