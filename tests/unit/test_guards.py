"""GuardStack releases what a job took in reverse order, exactly once, whatever ends the job;
a failing release is recorded and reported but never hides the job's own error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import GuardReleaseError, JobCancelled
from podheitor.domain.guards import GuardStack

PROPERTY = settings(max_examples=100, deadline=None)


class Boom(Exception):
    pass


def recorder(log: list[str], name: str) -> Callable[[], None]:
    return lambda: log.append(name)


def failing(name: str, exc: BaseException | None = None) -> Callable[[], None]:
    def release() -> None:
        raise exc if exc is not None else Boom(f"cannot release {name}")

    return release


# -- order ----------------------------------------------------------------------------------
def test_close_releases_in_reverse_order_of_acquisition() -> None:
    log: list[str] = []
    stack = GuardStack()
    for name in ("snapshot", "volume", "export"):
        stack.push(name, recorder(log, name))
    stack.close()
    assert log == ["export", "volume", "snapshot"]
    assert stack.released == log


def test_with_block_releases_in_reverse_order_on_success() -> None:
    log: list[str] = []
    with GuardStack() as stack:
        stack.push("a", recorder(log, "a"))
        stack.push("b", recorder(log, "b"))
    assert log == ["b", "a"]


def test_with_block_releases_in_reverse_order_on_exception_and_reraises_it() -> None:
    log: list[str] = []
    with pytest.raises(Boom, match="job failed"), GuardStack() as stack:
        stack.push("a", recorder(log, "a"))
        stack.push("b", recorder(log, "b"))
        raise Boom("job failed")
    assert log == ["b", "a"]


def test_with_block_releases_in_reverse_order_on_cancel() -> None:
    log: list[str] = []
    with pytest.raises(JobCancelled), GuardStack() as stack:
        stack.push("a", recorder(log, "a"))
        stack.push("b", recorder(log, "b"))
        raise JobCancelled
    assert log == ["b", "a"]


def test_job_cancelled_is_not_an_exception() -> None:
    assert not issubclass(JobCancelled, Exception)


# -- failing releases -----------------------------------------------------------------------
def test_failing_release_is_recorded_and_the_rest_still_run() -> None:
    log: list[str] = []
    stack = GuardStack()
    stack.push("a", recorder(log, "a"))
    stack.push("b", failing("b"))
    stack.push("c", recorder(log, "c"))
    failures = stack.close()
    assert log == ["c", "a"]
    assert stack.released == ["c", "b", "a"]
    assert [f.name for f in failures] == ["b"]
    assert [f.name for f in stack.failures] == ["b"]


def test_release_failure_carries_its_cause() -> None:
    cause = Boom("device busy")
    stack = GuardStack()
    stack.push("lv", failing("lv", cause))
    (failure,) = stack.close()
    assert isinstance(failure, GuardReleaseError)
    assert failure.cause is cause
    assert "lv" in str(failure) and "device busy" in str(failure)


def test_release_failure_is_reported_to_the_observer() -> None:
    seen: list[GuardReleaseError] = []
    stack = GuardStack(on_release_error=seen.append)
    stack.push("a", failing("a"))
    stack.push("b", failing("b"))
    stack.close()
    assert [f.name for f in seen] == ["b", "a"]
    assert seen == stack.failures


def test_release_failure_does_not_mask_the_original_exception() -> None:
    with pytest.raises(Boom, match="original") as info, GuardStack() as stack:
        stack.push("a", failing("a", Boom("release")))
        raise Boom("original")
    assert str(info.value) == "original"
    assert [f.name for f in stack.failures] == ["a"]


def test_release_failure_does_not_mask_a_cancel() -> None:
    with pytest.raises(JobCancelled), GuardStack() as stack:
        stack.push("a", failing("a"))
        raise JobCancelled


def test_release_failure_does_not_escape_a_successful_block() -> None:
    with GuardStack() as stack:
        stack.push("a", failing("a"))
    assert [f.name for f in stack.failures] == ["a"]


def test_a_release_raising_a_base_exception_does_not_escape() -> None:
    stack = GuardStack()
    stack.push("a", failing("a", JobCancelled()))
    (failure,) = stack.close()
    assert isinstance(failure.cause, JobCancelled)


def test_a_broken_observer_does_not_break_cleanup() -> None:
    def observer(_: GuardReleaseError) -> None:
        raise RuntimeError("observer is broken")

    log: list[str] = []
    stack = GuardStack(on_release_error=observer)
    stack.push("a", recorder(log, "a"))
    stack.push("b", failing("b"))
    stack.close()
    assert log == ["a"]
    assert [f.name for f in stack.failures] == ["b"]


@PROPERTY
@given(st.lists(st.booleans(), max_size=12))
def test_released_is_exactly_the_reverse_push_order(fails: list[bool]) -> None:
    names = [f"g{i}" for i in range(len(fails))]
    reported: list[str] = []
    stack = GuardStack(on_release_error=lambda f: reported.append(f.name))
    for name, fail in zip(names, fails, strict=True):
        stack.push(name, failing(name) if fail else (lambda: None))
    stack.close()
    expected_failures = [n for n, fail in zip(names, fails, strict=True) if fail][::-1]
    assert stack.released == names[::-1]
    assert [f.name for f in stack.failures] == expected_failures
    assert reported == expected_failures


# -- exactly once ---------------------------------------------------------------------------
def test_close_is_idempotent() -> None:
    log: list[str] = []
    stack = GuardStack()
    stack.push("a", recorder(log, "a"))
    stack.push("b", failing("b"))
    first = stack.close()
    second = stack.close()
    assert log == ["a"]
    assert stack.released == ["b", "a"]
    assert [f.name for f in first] == [f.name for f in second] == ["b"]


def test_push_after_close_is_refused() -> None:
    stack = GuardStack()
    stack.close()
    with pytest.raises(RuntimeError):
        stack.push("late", lambda: None)


def test_dismissed_guard_is_not_released() -> None:
    log: list[str] = []
    stack = GuardStack()
    stack.push("a", recorder(log, "a"))
    handed_over = stack.push("b", recorder(log, "b"))
    stack.dismiss(handed_over)
    stack.close()
    assert log == ["a"]
    assert stack.released == ["a"]


# -- acquire ------------------------------------------------------------------------------
def test_acquire_returns_the_resource_and_releases_it_on_close() -> None:
    released: list[object] = []
    stack = GuardStack()
    resource = stack.acquire("session", lambda: {"id": 7}, released.append)
    assert resource == {"id": 7}
    stack.close()
    assert released == [resource]
    assert stack.released == ["session"]


def test_acquire_registers_nothing_when_acquisition_fails() -> None:
    def broken() -> object:
        raise Boom("cannot attach")

    log: list[str] = []
    stack = GuardStack()
    stack.push("first", recorder(log, "first"))
    with pytest.raises(Boom):
        stack.acquire("second", broken, lambda _: log.append("second"))
    stack.close()
    assert log == ["first"]
    assert stack.released == ["first"]


# -- scoped ---------------------------------------------------------------------------------
def test_scoped_guard_is_released_when_its_block_ends() -> None:
    log: list[str] = []
    stack = GuardStack()
    stack.push("outer", recorder(log, "outer"))
    with stack.scoped("inner", recorder(log, "inner")):
        assert log == []
    assert log == ["inner"]
    stack.close()
    assert stack.released == ["inner", "outer"]


def test_scoped_guard_is_released_when_its_block_raises() -> None:
    log: list[str] = []
    stack = GuardStack()
    with pytest.raises(Boom), stack.scoped("inner", recorder(log, "inner")):
        raise Boom
    assert log == ["inner"]


def test_scoped_guard_release_failure_is_recorded_not_raised() -> None:
    stack = GuardStack()
    with stack.scoped("inner", failing("inner")):
        pass
    assert [f.name for f in stack.failures] == ["inner"]


def test_scoped_guard_is_not_released_twice_when_the_stack_closes_inside_it() -> None:
    log: list[str] = []
    stack = GuardStack()
    with stack.scoped("inner", recorder(log, "inner")):
        stack.close()
    assert log == ["inner"]


def test_dismissed_scoped_guard_is_not_released() -> None:
    log: list[str] = []
    stack = GuardStack()
    with stack.scoped("inner", recorder(log, "inner")) as guard:
        stack.dismiss(guard)
    stack.close()
    assert log == []
