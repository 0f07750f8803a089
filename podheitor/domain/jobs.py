"""The job a plugin runs in: its type, level, time base and restore options.

``JobInfo`` is built from the key/value pairs of the metaplugin ``Job`` block. Unknown
keys are kept (newer Bacula releases add keys) but never guessed at.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TypeVar

import attrs

from podheitor.domain.errors import ParameterError


class JobType(enum.Enum):
    BACKUP = "B"
    RESTORE = "R"
    ESTIMATE = "E"


class Level(enum.Enum):
    FULL = "F"
    INCREMENTAL = "I"
    DIFFERENTIAL = "D"

    @property
    def uses_since(self) -> bool:
        return self is not Level.FULL


class Replace(enum.Enum):
    """Bacula's restore ``Replace`` option."""

    ALWAYS = "a"
    IF_NEWER = "w"
    NEVER = "n"
    IF_OLDER = "o"

    def allows(self, backup_mtime: int, existing_mtime: int | None) -> bool:
        """Whether a file from the backup may overwrite what is at its place now."""
        if existing_mtime is None:
            return True
        if self is Replace.ALWAYS:
            return True
        if self is Replace.NEVER:
            return False
        if self is Replace.IF_NEWER:
            return backup_mtime > existing_mtime
        return backup_mtime < existing_mtime


E = TypeVar("E", bound=enum.Enum)


def _enum_value(cls: type[E], key: str, raw: str) -> E:
    try:
        return cls(raw)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ParameterError(f"job key {key}={raw!r} is not one of {valid}") from None


def _int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ParameterError(f"job key {key}={raw!r} is not an integer") from None


@attrs.frozen
class JobInfo:
    """What Bacula tells a backend about the job it serves."""

    name: str = ""
    job_id: int = 0
    type: JobType = JobType.BACKUP
    level: Level = Level.FULL
    since: int | None = None
    where: str = ""
    regex_where: str = ""
    replace: Replace = Replace.ALWAYS
    namespace: str = ""
    prev_job_name: str = ""
    working_dir: str = ""
    sysconfig_path: str = ""
    exe_path: str = ""
    extra: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> JobInfo:
        """Build from the ``Key=Value`` lines of a ``Job`` block."""
        fields: dict[str, object] = {}
        extra: dict[str, str] = {}
        for key, raw in pairs:
            match key:
                case "Name":
                    fields["name"] = raw
                case "JobID":
                    fields["job_id"] = _int(key, raw)
                case "Type":
                    fields["type"] = _enum_value(JobType, key, raw)
                case "Level":
                    fields["level"] = _enum_value(Level, key, raw)
                case "Since":
                    since = _int(key, raw)
                    fields["since"] = since if since > 0 else None
                case "Where":
                    fields["where"] = raw
                case "RegexWhere":
                    fields["regex_where"] = raw
                case "Replace":
                    fields["replace"] = _enum_value(Replace, key, raw)
                case "Namespace":
                    fields["namespace"] = raw
                case "PrevJobName":
                    fields["prev_job_name"] = raw
                case "WorkingDir":
                    fields["working_dir"] = raw
                case "SysconfigPath":
                    fields["sysconfig_path"] = raw
                case "ExePath":
                    fields["exe_path"] = raw
                case _:
                    extra[key] = raw
        return cls(extra=extra, **fields)  # type: ignore[arg-type]

    @property
    def effective_since(self) -> int | None:
        """The time base of an incremental or differential job, None for a Full."""
        return self.since if self.level.uses_since else None
