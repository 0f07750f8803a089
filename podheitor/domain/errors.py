"""The one error hierarchy of podheitor.

Adapters translate outside errors (OSError, HTTP, protocol faults) into these, with the
cause chained. A message says what was wrong and, where it helps, what to do about it.
"""

from __future__ import annotations


class PodheitorError(Exception):
    """Base of every error podheitor raises on purpose."""


class ParameterError(PodheitorError):
    """Plugin parameters or configuration are wrong (unknown key, bad value, missing key).

    ``problems`` holds one line per problem so a caller can report all of them at once.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ProtocolError(PodheitorError):
    """A peer broke a wire protocol: malformed frame, unexpected packet, bad field.

    ``offset`` is the byte position in the stream where the fault was seen, when known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.reason = message
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{message}{where}")


class FormatError(PodheitorError):
    """Stored or streamed data does not follow its format (truncated, corrupt, unknown version)."""


class IntegrityError(FormatError):
    """Data failed verification: a digest, tag or signature does not match."""


class PathError(PodheitorError):
    """An error about one file: ``path`` names it, the message starts with it."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class SourceError(PathError):
    """One item of a backup source could not be read; the job goes on without it."""


class VanishedError(SourceError):
    """The item disappeared between listing and reading."""


class AccessDeniedError(SourceError):
    """The item exists but the backend may not read it."""


class UnsupportedItemError(SourceError):
    """The item is of a kind this plugin does not back up (device, socket, FIFO ...)."""


class RestoreRefusedError(PathError):
    """A restore request is refused before anything is written (unsafe path, bad link target)."""


class TargetError(PodheitorError):
    """Writing to a restore or replication target failed."""


class GuardReleaseError(PodheitorError):
    """Releasing an acquired resource failed; carries the guard name."""

    def __init__(self, name: str, cause: BaseException) -> None:
        self.name = name
        self.cause = cause
        super().__init__(f"releasing {name} failed: {cause}")


class JobCancelled(BaseException):
    """The job was cancelled (Bacula sent SIGUSR1) or its peer went away.

    It derives from BaseException so that per-item ``except Exception`` handlers never
    swallow it: cancellation always unwinds to the job's guard stack.
    """
