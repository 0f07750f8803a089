"""parse_params: typed plugin parameters from key=value pairs, every problem reported at once."""

from __future__ import annotations

import enum
from typing import Literal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import ParameterError
from podheitor.domain.params import ByteSize, CommonParams, parse_params

PROPERTY = settings(max_examples=100, deadline=None)


DEFAULT_CHUNK = ByteSize(65536)


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


@attrs.frozen(kw_only=True)
class DemoParams(CommonParams):
    target: str
    verbose: bool = False
    retries: int = 3
    chunk: ByteSize = DEFAULT_CHUNK
    mode: Mode = Mode.FAST
    compression: Literal["none", "zstd"] = "none"
    include: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    depth: int | None = None
    exclude: tuple[str, ...] | None = None


def problems_of(pairs: list[tuple[str, str]]) -> list[str]:
    with pytest.raises(ParameterError) as info:
        parse_params(DemoParams, pairs, plugin="demo")
    return info.value.problems


# -- values ---------------------------------------------------------------------------------
def test_only_the_required_key_gives_every_default() -> None:
    assert parse_params(DemoParams, [("target", "/srv")]) == DemoParams(target="/srv")


def test_every_field_type_is_structured() -> None:
    params = parse_params(
        DemoParams,
        [
            ("target", "/srv"),
            ("verbose", "yes"),
            ("retries", "7"),
            ("chunk", "1M"),
            ("mode", "safe"),
            ("compression", "zstd"),
            ("include", "a"),
            ("ports", "22"),
            ("depth", "4"),
            ("abort_on_error", "1"),
            ("log_file", "/var/log/x"),
        ],
    )
    assert params == DemoParams(
        target="/srv",
        verbose=True,
        retries=7,
        chunk=ByteSize(1 << 20),
        mode=Mode.SAFE,
        compression="zstd",
        include=("a",),
        ports=(22,),
        depth=4,
        abort_on_error=True,
        log_file="/var/log/x",
    )


@pytest.mark.parametrize("raw", ["1", "yes", "true", "on", "y", "YES", " True "])
def test_true_spellings_are_true(raw: str) -> None:
    assert parse_params(DemoParams, [("target", "t"), ("verbose", raw)]).verbose is True


@pytest.mark.parametrize("raw", ["0", "no", "false", "off", "n", "No", " FALSE "])
def test_false_spellings_are_false(raw: str) -> None:
    assert parse_params(DemoParams, [("target", "t"), ("verbose", raw)]).verbose is False


def test_repeated_keys_of_a_tuple_field_collect_in_order() -> None:
    params = parse_params(
        DemoParams,
        [("target", "t"), ("include", "b"), ("ports", "1"), ("include", "a"), ("ports", "2")],
    )
    assert params.include == ("b", "a")
    assert params.ports == (1, 2)


def test_repeated_keys_of_an_optional_tuple_field_collect_in_order() -> None:
    params = parse_params(DemoParams, [("target", "t"), ("exclude", "b"), ("exclude", "a")])
    assert params.exclude == ("b", "a")


def test_one_value_of_an_optional_tuple_field_is_a_one_item_tuple() -> None:
    assert parse_params(DemoParams, [("target", "t"), ("exclude", "abc")]).exclude == ("abc",)


@pytest.mark.parametrize("key", ["TARGET", "Target", " target "])
def test_keys_are_case_insensitive(key: str) -> None:
    assert parse_params(DemoParams, [(key, "/srv")]).target == "/srv"


def test_dashes_in_keys_stand_for_underscores() -> None:
    params = parse_params(DemoParams, [("target", "t"), ("Abort-On-Error", "yes")])
    assert params.abort_on_error is True


def test_differently_spelled_repeats_of_a_scalar_key_are_duplicates() -> None:
    (problem,) = problems_of([("target", "a"), ("TARGET", "b")])
    assert "'TARGET' given more than once" in problem


# -- problems -------------------------------------------------------------------------------
def test_unknown_key_suggests_the_closest_valid_name() -> None:
    (problem,) = problems_of([("target", "t"), ("retires", "3")])
    assert "unknown parameter 'retires'" in problem
    assert "did you mean 'retries'?" in problem
    assert "demo" in problem


def test_unknown_key_with_no_close_name_has_no_suggestion() -> None:
    (problem,) = problems_of([("target", "t"), ("xyzzy", "3")])
    assert "unknown parameter 'xyzzy'" in problem
    assert "did you mean" not in problem


def test_duplicate_scalar_key_is_a_problem() -> None:
    (problem,) = problems_of([("target", "a"), ("target", "b")])
    assert "'target' given more than once" in problem


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("verbose", "maybe"),
        ("retries", "3x"),
        ("retries", "1.5"),
        ("chunk", "12Q"),
        ("chunk", "K"),
        ("chunk", "-1"),
        ("mode", "turbo"),
        ("mode", "FAST"),
        ("compression", "gzip"),
        ("ports", "http"),
        ("depth", "deep"),
    ],
)
def test_bad_value_is_a_problem_naming_the_key(key: str, raw: str) -> None:
    (problem,) = problems_of([("target", "t"), (key, raw)])
    assert repr(key) in problem
    assert repr(raw) in problem


def test_missing_required_key_is_a_problem() -> None:
    (problem,) = problems_of([("verbose", "1")])
    assert "missing required parameter 'target'" in problem


def test_every_problem_is_reported_together() -> None:
    problems = problems_of(
        [
            ("retires", "3"),
            ("verbose", "1"),
            ("verbose", "0"),
            ("chunk", "lots"),
            ("mode", "turbo"),
        ]
    )
    assert len(problems) == 5
    joined = "\n".join(problems)
    for fragment in (
        "'retires'",
        "'verbose' given more than once",
        "'chunk'",
        "'mode'",
        "missing required parameter 'target'",
    ):
        assert fragment in joined


def test_parameter_error_message_joins_all_problems() -> None:
    with pytest.raises(ParameterError) as info:
        parse_params(DemoParams, [("bogus", "1")])
    assert str(info.value) == "; ".join(info.value.problems)
    assert len(info.value.problems) == 2


# -- ByteSize -------------------------------------------------------------------------------
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@PROPERTY
@given(
    st.integers(0, 10**6),
    st.sampled_from(sorted(UNITS)),
    st.sampled_from(["", "B", "iB"]),
    st.booleans(),
)
def test_byte_size_parses_number_times_unit(n: int, unit: str, suffix: str, lower: bool) -> None:
    if not unit and suffix == "iB":
        suffix = "B"
    text = f"{n}{unit}{suffix}"
    assert ByteSize.parse(text.lower() if lower else text) == n * UNITS[unit]


@PROPERTY
@given(st.integers(0, 10**15))
def test_byte_size_of_a_plain_number_is_that_number(n: int) -> None:
    assert ByteSize.parse(str(n)) == n
    assert isinstance(ByteSize.parse(str(n)), ByteSize)


def test_byte_size_ignores_surrounding_whitespace() -> None:
    assert ByteSize.parse("  64K ") == 65536


@pytest.mark.parametrize("text", ["", "K", "B", "KiB", "1.5M", "-4", "4 K", "4KK", "ten", "4X"])
def test_byte_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError):
        ByteSize.parse(text)
