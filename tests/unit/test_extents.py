"""ExtentMap is a set of byte offsets: every operation must agree with Python's ``set``.

The model of a map is the set of offsets it holds, over a small universe so that sets
stay cheap; every result must also be in normal form (sorted, disjoint, non-touching,
no empty extents), which is what makes equal sets compare equal.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.domain.extents import Extent, ExtentMap

UNIVERSE = 200
PROPERTY = settings(max_examples=100, deadline=None)

spans = st.tuples(st.integers(0, UNIVERSE - 1), st.integers(0, 40)).map(
    lambda ol: (ol[0], min(ol[1], UNIVERSE - ol[0]))
)
maps = st.lists(spans, max_size=8).map(lambda pairs: ExtentMap.of(*pairs))
bounds = st.integers(0, UNIVERSE + 10)


def model(m: ExtentMap) -> set[int]:
    return {b for e in m for b in range(e.offset, e.end)}


def from_set(offsets: set[int]) -> ExtentMap:
    return ExtentMap(Extent(o, 1) for o in offsets)


def runs(offsets: set[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive offsets as ``[start, end)`` pairs."""
    out: list[tuple[int, int]] = []
    for o in sorted(offsets):
        if out and out[-1][1] == o:
            out[-1] = (out[-1][0], o + 1)
        else:
            out.append((o, o + 1))
    return out


def assert_normal(m: ExtentMap) -> None:
    extents = list(m)
    assert all(e.length > 0 for e in extents)
    for left, right in pairwise(extents):
        assert left.end < right.offset  # sorted, disjoint and not touching


# -- construction -------------------------------------------------------------------------
def test_extent_end_is_offset_plus_length() -> None:
    assert Extent(10, 5).end == 15


def test_extent_span_builds_half_open_range() -> None:
    assert Extent.span(3, 9) == Extent(3, 6)


@pytest.mark.parametrize(("offset", "length"), [(-1, 1), (0, -1)])
def test_extent_refuses_negative_fields(offset: int, length: int) -> None:
    with pytest.raises(ValueError):
        Extent(offset, length)


def test_extent_span_refuses_end_before_start() -> None:
    with pytest.raises(ValueError):
        Extent.span(5, 4)


def test_empty_map_is_falsy_with_zero_total_start_and_end() -> None:
    empty = ExtentMap()
    assert not empty
    assert (len(empty), empty.total, empty.start, empty.end) == (0, 0, 0, 0)


def test_touching_extents_merge_into_one() -> None:
    assert list(ExtentMap.of((0, 10), (10, 5))) == [Extent(0, 15)]


def test_full_covers_zero_to_size() -> None:
    assert list(ExtentMap.full(7)) == [Extent(0, 7)]


@PROPERTY
@given(st.lists(spans, max_size=10))
def test_construction_holds_exactly_the_given_bytes(pairs: list[tuple[int, int]]) -> None:
    m = ExtentMap.of(*pairs)
    assert model(m) == {b for o, n in pairs for b in range(o, o + n)}
    assert_normal(m)


@PROPERTY
@given(maps)
def test_maps_of_the_same_bytes_are_equal_and_hash_equal(m: ExtentMap) -> None:
    rebuilt = from_set(model(m))
    assert rebuilt == m
    assert hash(rebuilt) == hash(m)


@PROPERTY
@given(maps, maps)
def test_maps_are_equal_exactly_when_their_byte_sets_are(a: ExtentMap, b: ExtentMap) -> None:
    assert (a == b) == (model(a) == model(b))


# -- inspection ---------------------------------------------------------------------------
@PROPERTY
@given(maps)
def test_total_start_and_end_match_the_set(m: ExtentMap) -> None:
    s = model(m)
    assert m.total == len(s)
    assert m.start == (min(s) if s else 0)
    assert m.end == (max(s) + 1 if s else 0)


@PROPERTY
@given(maps, bounds, bounds)
def test_covers_means_every_byte_of_the_range_is_in_the_set(
    m: ExtentMap, start: int, end: int
) -> None:
    assert m.covers(start, end) == set(range(start, end)).issubset(model(m))


@PROPERTY
@given(maps, bounds)
def test_contains_is_set_membership(m: ExtentMap, offset: int) -> None:
    assert m.contains(offset) == (offset in model(m))


# -- set operations against the model ----------------------------------------------------
@PROPERTY
@given(maps, maps)
def test_union_is_set_union(a: ExtentMap, b: ExtentMap) -> None:
    result = a | b
    assert model(result) == model(a) | model(b)
    assert_normal(result)


@PROPERTY
@given(maps, maps)
def test_intersection_is_set_intersection(a: ExtentMap, b: ExtentMap) -> None:
    result = a & b
    assert model(result) == model(a) & model(b)
    assert_normal(result)


@PROPERTY
@given(maps, maps)
def test_subtract_is_set_difference(a: ExtentMap, b: ExtentMap) -> None:
    result = a - b
    assert model(result) == model(a) - model(b)
    assert_normal(result)


@PROPERTY
@given(maps, bounds, bounds)
def test_clip_keeps_only_bytes_inside_the_window(m: ExtentMap, start: int, end: int) -> None:
    result = m.clip(start, end)
    assert model(result) == model(m) & set(range(start, end))
    assert_normal(result)


@PROPERTY
@given(maps, bounds)
def test_complement_is_the_rest_of_zero_to_size(m: ExtentMap, size: int) -> None:
    result = m.complement(size)
    assert model(result) == set(range(size)) - model(m)
    assert_normal(result)


# -- algebraic laws -----------------------------------------------------------------------
@PROPERTY
@given(maps, maps)
def test_union_and_intersection_commute(a: ExtentMap, b: ExtentMap) -> None:
    assert a | b == b | a
    assert a & b == b & a


@PROPERTY
@given(maps, maps, maps)
def test_union_and_intersection_associate(a: ExtentMap, b: ExtentMap, c: ExtentMap) -> None:
    assert (a | b) | c == a | (b | c)
    assert (a & b) & c == a & (b & c)


@PROPERTY
@given(maps, maps, maps)
def test_intersection_and_union_distribute(a: ExtentMap, b: ExtentMap, c: ExtentMap) -> None:
    assert a & (b | c) == (a & b) | (a & c)
    assert a | (b & c) == (a | b) & (a | c)


@PROPERTY
@given(maps, maps)
def test_de_morgan_holds_within_a_universe(a: ExtentMap, b: ExtentMap) -> None:
    assert (a | b).complement(UNIVERSE) == a.complement(UNIVERSE) & b.complement(UNIVERSE)
    assert (a & b).complement(UNIVERSE) == a.complement(UNIVERSE) | b.complement(UNIVERSE)


@PROPERTY
@given(maps, maps)
def test_difference_is_disjoint_from_what_was_subtracted(a: ExtentMap, b: ExtentMap) -> None:
    assert not (a - b) & b


@PROPERTY
@given(maps, maps)
def test_difference_is_intersection_with_the_complement(a: ExtentMap, b: ExtentMap) -> None:
    assert a - b == a & b.complement(UNIVERSE)


@PROPERTY
@given(maps)
def test_complement_twice_gives_back_the_map(m: ExtentMap) -> None:
    assert m.complement(UNIVERSE).complement(UNIVERSE) == m


@PROPERTY
@given(maps)
def test_empty_map_is_identity_of_union_and_zero_of_intersection(m: ExtentMap) -> None:
    assert m | ExtentMap() == m
    assert not m & ExtentMap()
    assert m - ExtentMap() == m


# -- split ----------------------------------------------------------------------------------
@PROPERTY
@given(maps, st.integers(1, 50))
def test_split_pieces_cover_exactly_the_map(m: ExtentMap, max_length: int) -> None:
    pieces = list(m.split(max_length))
    covered = [b for p in pieces for b in range(p.offset, p.end)]
    assert len(covered) == len(set(covered))  # no byte twice
    assert set(covered) == model(m)


@PROPERTY
@given(maps, st.integers(1, 50))
def test_split_pieces_are_non_empty_and_at_most_max_length(m: ExtentMap, max_length: int) -> None:
    assert all(0 < p.length <= max_length for p in m.split(max_length))


@PROPERTY
@given(maps, st.integers(1, 50))
def test_split_pieces_come_in_order_and_stay_inside_one_extent(
    m: ExtentMap, max_length: int
) -> None:
    pieces = list(m.split(max_length))
    assert pieces == sorted(pieces)
    assert all(any(e.offset <= p.offset and p.end <= e.end for e in m) for p in pieces)


@PROPERTY
@given(maps, st.integers(1, 50))
def test_split_cuts_only_where_a_piece_is_full(m: ExtentMap, max_length: int) -> None:
    pieces = list(m.split(max_length))
    for left, right in pairwise(pieces):
        if left.end == right.offset:
            assert left.length == max_length


@pytest.mark.parametrize("max_length", [0, -1])
def test_split_refuses_non_positive_max_length(max_length: int) -> None:
    with pytest.raises(ValueError):
        list(ExtentMap.full(10).split(max_length))


# -- align ----------------------------------------------------------------------------------
@PROPERTY
@given(maps, st.integers(1, 64))
def test_align_covers_the_input(m: ExtentMap, block: int) -> None:
    assert model(m) <= model(m.align(block))


@PROPERTY
@given(maps, st.integers(1, 64))
def test_align_boundaries_are_block_multiples(m: ExtentMap, block: int) -> None:
    result = m.align(block)
    assert_normal(result)
    assert all(e.offset % block == 0 and e.end % block == 0 for e in result)


@PROPERTY
@given(maps, st.integers(1, 64))
def test_align_adds_only_blocks_the_input_touches(m: ExtentMap, block: int) -> None:
    touched = {b // block for b in model(m)}
    assert {b // block for b in model(m.align(block))} == touched


@PROPERTY
@given(maps, st.integers(1, 64), st.data())
def test_align_with_limit_covers_the_input_below_the_limit(
    m: ExtentMap, block: int, data: st.DataObject
) -> None:
    limit = data.draw(st.integers(m.end, UNIVERSE + 64), label="limit")
    result = m.align(block, limit)
    assert model(m) <= model(result)
    assert result.end <= limit
    assert_normal(result)
    assert all(e.offset % block == 0 for e in result)
    assert all(e.end % block == 0 or e.end == limit for e in result)


@PROPERTY
@given(maps, st.integers(1, 64), bounds)
def test_align_with_limit_is_align_clipped_at_the_limit(
    m: ExtentMap, block: int, limit: int
) -> None:
    assert m.align(block, limit) == m.align(block).clip(0, limit)


@pytest.mark.parametrize("block", [0, -4])
def test_align_refuses_non_positive_block(block: int) -> None:
    with pytest.raises(ValueError):
        ExtentMap.full(10).align(block)


# -- coalesce -------------------------------------------------------------------------------
@PROPERTY
@given(maps, st.integers(0, 30))
def test_coalesce_fills_exactly_the_holes_shorter_than_gap(m: ExtentMap, gap: int) -> None:
    s = model(m)
    holes = set(range(m.start, m.end)) - s
    small = {b for lo, hi in runs(holes) if hi - lo < gap for b in range(lo, hi)}
    result = m.coalesce(gap)
    assert model(result) == s | small
    assert_normal(result)


@PROPERTY
@given(maps, st.integers(0, 30))
def test_coalesce_leaves_only_gaps_of_at_least_gap(m: ExtentMap, gap: int) -> None:
    result = list(m.coalesce(gap))
    assert all(r.offset - l.end >= gap for l, r in pairwise(result))  # noqa: E741


@PROPERTY
@given(maps)
def test_coalesce_with_gap_zero_or_one_changes_nothing(m: ExtentMap) -> None:
    assert m.coalesce(0) == m
    assert m.coalesce(1) == m


def test_coalesce_refuses_negative_gap() -> None:
    with pytest.raises(ValueError):
        ExtentMap().coalesce(-1)


def test_repr_lists_half_open_ranges() -> None:
    assert repr(ExtentMap.of((0, 4), (10, 2))) == "ExtentMap([0, 4), [10, 12))"
