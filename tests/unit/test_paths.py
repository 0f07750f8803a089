"""Restore paths stay inside their target: unsafe names are refused before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.errors import RestoreRefusedError
from podheitor.domain.paths import normalise_restore_path, parents

PROPERTY = settings(max_examples=100, deadline=None)

components = st.text(
    st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1, max_size=8
).filter(lambda c: c not in (".", ".."))


def test_clean_absolute_path_is_returned_as_is() -> None:
    assert normalise_restore_path("/tmp/r/a/b") == "/tmp/r/a/b"


def test_trailing_slash_is_dropped() -> None:
    assert normalise_restore_path("/tmp/r/dir/") == "/tmp/r/dir"


def test_repeated_slashes_collapse() -> None:
    assert normalise_restore_path("//tmp///r//f") == "/tmp/r/f"


def test_root_stays_root() -> None:
    assert normalise_restore_path("/") == "/"
    assert normalise_restore_path("///") == "/"


def test_relative_path_is_refused() -> None:
    with pytest.raises(RestoreRefusedError, match="not an absolute path"):
        normalise_restore_path("tmp/r/f")


def test_empty_path_is_refused() -> None:
    with pytest.raises(RestoreRefusedError):
        normalise_restore_path("")


@pytest.mark.parametrize(
    "path", ["/tmp/r/../etc/passwd", "/tmp/r/./f", "/..", "/tmp/r/..", "/tmp/r/.", "/tmp/r/../"]
)
def test_dot_and_dot_dot_components_are_refused(path: str) -> None:
    with pytest.raises(RestoreRefusedError, match=r"'\.' or '\.\.' component"):
        normalise_restore_path(path, "/tmp/r")


@pytest.mark.parametrize("path", ["/tmp/r/...", "/tmp/r/.hidden", "/tmp/r/a..b"])
def test_names_that_merely_contain_dots_are_accepted(path: str) -> None:
    assert normalise_restore_path(path, "/tmp/r") == path


def test_nul_byte_is_refused_and_shown_escaped() -> None:
    with pytest.raises(RestoreRefusedError, match="NUL") as info:
        normalise_restore_path("/tmp/r/a\0b", "/tmp/r")
    assert info.value.path == "/tmp/r/a\\0b"


@pytest.mark.parametrize("path", ["/etc/passwd", "/tmp/restore/f", "/tmp", "/tmp/rr"])
def test_path_outside_where_is_refused(path: str) -> None:
    with pytest.raises(RestoreRefusedError, match="outside the restore location"):
        normalise_restore_path(path, "/tmp/r")


@pytest.mark.parametrize("where", ["/tmp/r", "/tmp/r/", "/tmp/r//"])
def test_where_itself_and_paths_below_it_are_accepted(where: str) -> None:
    assert normalise_restore_path("/tmp/r/", where) == "/tmp/r"
    assert normalise_restore_path("/tmp/r/sub/f", where) == "/tmp/r/sub/f"


@pytest.mark.parametrize("where", ["", "/"])
def test_empty_or_root_where_accepts_any_absolute_path(where: str) -> None:
    assert normalise_restore_path("/etc/hosts", where) == "/etc/hosts"


def test_refusal_names_the_path() -> None:
    with pytest.raises(RestoreRefusedError) as info:
        normalise_restore_path("/elsewhere", "/tmp/r")
    assert info.value.path == "/elsewhere"
    assert str(info.value).startswith("/elsewhere: ")


@PROPERTY
@given(
    st.lists(components, max_size=6),
    st.lists(st.integers(1, 3), min_size=8, max_size=8),
    st.booleans(),
)
def test_any_slash_spelling_normalises_to_single_slashes(
    parts: list[str], slashes: list[int], trailing: bool
) -> None:
    spelled = "".join("/" * n + p for n, p in zip(slashes, parts, strict=False))
    spelled = (spelled or "/") + ("/" if trailing else "")
    assert normalise_restore_path(spelled) == "/" + "/".join(parts)


@PROPERTY
@given(st.lists(components, min_size=1, max_size=6), st.integers(0, 6))
def test_paths_at_or_under_where_are_accepted(parts: list[str], depth: int) -> None:
    where = "/" + "/".join(parts[:depth])
    path = "/" + "/".join(parts)
    assert normalise_restore_path(path, where) == path


@PROPERTY
@given(st.lists(components, min_size=1, max_size=6), components)
def test_a_sibling_whose_name_extends_where_is_refused(parts: list[str], more: str) -> None:
    where = "/" + "/".join(parts)
    with pytest.raises(RestoreRefusedError, match="outside"):
        normalise_restore_path(where + more + "/f", where)


@PROPERTY
@given(
    st.lists(components, min_size=1, max_size=6), st.integers(0, 5), st.sampled_from([".", ".."])
)
def test_a_dot_component_anywhere_is_refused(parts: list[str], at: int, dot: str) -> None:
    parts.insert(min(at, len(parts)), dot)
    with pytest.raises(RestoreRefusedError):
        normalise_restore_path("/" + "/".join(parts))


# -- parents --------------------------------------------------------------------------------
def test_parents_lists_ancestors_nearest_last() -> None:
    assert parents("/a/b/c") == ["/a", "/a/b"]


@pytest.mark.parametrize("path", ["/", "/a"])
def test_root_and_top_level_have_no_parents(path: str) -> None:
    assert parents(path) == []


@PROPERTY
@given(st.lists(components, min_size=1, max_size=6))
def test_parents_are_the_proper_prefixes_of_the_path(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    expected = ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
    assert parents(path) == expected
    assert all(path.startswith(p + "/") for p in parents(path))
