"""JobInfo from the metaplugin Job block, the Replace policy and the time base of a job."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import ParameterError
from podheitor.domain.jobs import JobInfo, JobType, Level, Replace

PROPERTY = settings(max_examples=100, deadline=None)

FULL_BLOCK = [
    ("Name", "k8s-alpha.2026-11-23_04.59.48_09"),
    ("JobID", "5"),
    ("Type", "R"),
    ("Level", "I"),
    ("Since", "1700000000"),
    ("Where", "/tmp/restore"),
    ("RegexWhere", "!a!b!"),
    ("Replace", "w"),
    ("Namespace", "@kubernetes"),
    ("PrevJobName", "k8s-alpha.2026-11-22_04.59.48_01"),
    ("WorkingDir", "/var/lib/bacula"),
    ("SysconfigPath", "/etc/bacula/"),
    ("ExePath", "/usr/sbin/"),
]


# -- from_pairs -----------------------------------------------------------------------------
def test_from_pairs_reads_every_known_key() -> None:
    info = JobInfo.from_pairs(FULL_BLOCK)
    assert info == JobInfo(
        name="k8s-alpha.2026-11-23_04.59.48_09",
        job_id=5,
        type=JobType.RESTORE,
        level=Level.INCREMENTAL,
        since=1700000000,
        where="/tmp/restore",
        regex_where="!a!b!",
        replace=Replace.IF_NEWER,
        namespace="@kubernetes",
        prev_job_name="k8s-alpha.2026-11-22_04.59.48_01",
        working_dir="/var/lib/bacula",
        sysconfig_path="/etc/bacula/",
        exe_path="/usr/sbin/",
        extra={},
    )


def test_from_pairs_of_nothing_gives_the_defaults() -> None:
    assert JobInfo.from_pairs([]) == JobInfo()


def test_unknown_keys_are_kept_in_extra() -> None:
    info = JobInfo.from_pairs([("JobID", "3"), ("Accurate", "1"), ("Future", "x=y")])
    assert info.extra == {"Accurate": "1", "Future": "x=y"}
    assert info.job_id == 3


def test_keys_are_case_sensitive_so_a_lowercase_key_is_extra() -> None:
    info = JobInfo.from_pairs([("jobid", "3")])
    assert info.job_id == 0
    assert info.extra == {"jobid": "3"}


@pytest.mark.parametrize(
    ("raw", "level"), [("F", Level.FULL), ("I", Level.INCREMENTAL), ("D", Level.DIFFERENTIAL)]
)
def test_level_letters_map_to_levels(raw: str, level: Level) -> None:
    assert JobInfo.from_pairs([("Level", raw)]).level is level


@pytest.mark.parametrize(
    ("raw", "job_type"), [("B", JobType.BACKUP), ("R", JobType.RESTORE), ("E", JobType.ESTIMATE)]
)
def test_type_letters_map_to_job_types(raw: str, job_type: JobType) -> None:
    assert JobInfo.from_pairs([("Type", raw)]).type is job_type


@pytest.mark.parametrize(
    ("raw", "replace"),
    [("a", Replace.ALWAYS), ("w", Replace.IF_NEWER), ("n", Replace.NEVER), ("o", Replace.IF_OLDER)],
)
def test_replace_letters_map_to_policies(raw: str, replace: Replace) -> None:
    assert JobInfo.from_pairs([("Replace", raw)]).replace is replace


@pytest.mark.parametrize("raw", ["0", "-5"])
def test_since_of_zero_or_less_means_no_time_base(raw: str) -> None:
    assert JobInfo.from_pairs([("Since", raw)]).since is None


@pytest.mark.parametrize(
    ("key", "raw"),
    [("Type", "X"), ("Level", "f"), ("Level", "Full"), ("Replace", "A"), ("Replace", "")],
)
def test_bad_enum_value_is_a_parameter_error_naming_the_key(key: str, raw: str) -> None:
    with pytest.raises(ParameterError) as info:
        JobInfo.from_pairs([(key, raw)])
    assert key in str(info.value)
    assert repr(raw) in str(info.value)


@pytest.mark.parametrize(("key", "raw"), [("JobID", "five"), ("JobID", ""), ("Since", "1.5")])
def test_bad_integer_is_a_parameter_error_naming_the_key(key: str, raw: str) -> None:
    with pytest.raises(ParameterError) as info:
        JobInfo.from_pairs([(key, raw)])
    assert key in str(info.value)
    assert info.value.problems == [str(info.value)]


@PROPERTY
@given(st.integers(0, 10**9), st.integers(-(10**10), 10**10))
def test_integer_keys_round_trip(job_id: int, since: int) -> None:
    info = JobInfo.from_pairs([("JobID", str(job_id)), ("Since", str(since))])
    assert info.job_id == job_id
    assert info.since == (since if since > 0 else None)


# -- Replace.allows -------------------------------------------------------------------------
@pytest.mark.parametrize("policy", list(Replace))
def test_any_policy_allows_restoring_a_missing_file(policy: Replace) -> None:
    assert policy.allows(backup_mtime=100, existing_mtime=None)


@pytest.mark.parametrize(
    ("policy", "older", "same", "newer"),
    [
        # backup mtime compared with an existing file: backup older / same age / newer
        (Replace.ALWAYS, True, True, True),
        (Replace.NEVER, False, False, False),
        (Replace.IF_NEWER, False, False, True),
        (Replace.IF_OLDER, True, False, False),
    ],
)
def test_replace_truth_table(policy: Replace, older: bool, same: bool, newer: bool) -> None:
    existing = 1000
    assert policy.allows(999, existing) is older
    assert policy.allows(1000, existing) is same
    assert policy.allows(1001, existing) is newer


# -- effective_since ------------------------------------------------------------------------
def test_full_job_has_no_effective_since_even_when_since_is_given() -> None:
    assert JobInfo(level=Level.FULL, since=1700000000).effective_since is None


@pytest.mark.parametrize("level", [Level.INCREMENTAL, Level.DIFFERENTIAL])
def test_incremental_and_differential_use_since(level: Level) -> None:
    assert JobInfo(level=level, since=1700000000).effective_since == 1700000000


@pytest.mark.parametrize("level", [Level.INCREMENTAL, Level.DIFFERENTIAL])
def test_incremental_without_since_has_none(level: Level) -> None:
    assert JobInfo(level=level).effective_since is None


def test_only_full_level_does_not_use_since() -> None:
    assert [lv for lv in Level if not lv.uses_since] == [Level.FULL]
