"""Byte ranges and sets of byte ranges.

``ExtentMap`` is the one algebra for "which bytes": data regions of a sparse file, dirty
blocks of a disk, changed regions reported by a hypervisor. It is immutable, sorted,
non-overlapping and coalesced by construction, so two maps describing the same set of
bytes are equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

import attrs


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen(order=True)
class Extent:
    """The half-open byte range ``[offset, offset + length)``."""

    offset: int = attrs.field(validator=_non_negative)
    length: int = attrs.field(validator=_non_negative)

    @property
    def end(self) -> int:
        return self.offset + self.length

    @classmethod
    def span(cls, start: int, end: int) -> Extent:
        """The extent ``[start, end)``."""
        if end < start:
            raise ValueError(f"extent end {end} is before its start {start}")
        return cls(start, end - start)


def _normalise(spans: Iterable[tuple[int, int]]) -> tuple[Extent, ...]:
    """Sort, drop empty spans and merge touching or overlapping ones."""
    ordered = sorted((s, e) for s, e in spans if e > s)
    merged: list[list[int]] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple(Extent(s, e - s) for s, e in merged)


class ExtentMap:
    """An immutable set of bytes, held as sorted, disjoint, non-touching extents."""

    __slots__ = ("_extents",)

    def __init__(self, extents: Iterable[Extent] = ()) -> None:
        self._extents = _normalise((e.offset, e.end) for e in extents)

    @classmethod
    def of(cls, *spans: tuple[int, int]) -> ExtentMap:
        """Build from ``(offset, length)`` pairs."""
        return cls(Extent(o, n) for o, n in spans)

    @classmethod
    def full(cls, size: int) -> ExtentMap:
        """Every byte of ``[0, size)``."""
        return cls((Extent(0, size),))

    @classmethod
    def _trusted(cls, extents: tuple[Extent, ...]) -> ExtentMap:
        new = cls.__new__(cls)
        new._extents = extents
        return new

    # -- inspection -------------------------------------------------------------------
    def __iter__(self) -> Iterator[Extent]:
        return iter(self._extents)

    def __len__(self) -> int:
        return len(self._extents)

    def __bool__(self) -> bool:
        return bool(self._extents)

    @overload
    def __getitem__(self, index: int) -> Extent: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Extent, ...]: ...
    def __getitem__(self, index: int | slice) -> Extent | tuple[Extent, ...]:
        return self._extents[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExtentMap) and self._extents == other._extents

    def __hash__(self) -> int:
        return hash(self._extents)

    def __repr__(self) -> str:
        inner = ", ".join(f"[{e.offset}, {e.end})" for e in self._extents)
        return f"ExtentMap({inner})"

    @property
    def total(self) -> int:
        """Number of bytes in the set."""
        return sum(e.length for e in self._extents)

    @property
    def start(self) -> int:
        return self._extents[0].offset if self._extents else 0

    @property
    def end(self) -> int:
        """One past the last byte in the set (0 when empty)."""
        return self._extents[-1].end if self._extents else 0

    def covers(self, start: int, end: int) -> bool:
        """True when every byte of ``[start, end)`` is in the set."""
        if end <= start:
            return True
        return any(e.offset <= start and end <= e.end for e in self._extents)

    def contains(self, offset: int) -> bool:
        return self.covers(offset, offset + 1)

    # -- algebra ----------------------------------------------------------------------
    def union(self, other: ExtentMap) -> ExtentMap:
        return ExtentMap((*self._extents, *other._extents))

    def intersection(self, other: ExtentMap) -> ExtentMap:
        out: list[Extent] = []
        a, b = self._extents, other._extents
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a[i].offset, b[j].offset)
            hi = min(a[i].end, b[j].end)
            if lo < hi:
                out.append(Extent(lo, hi - lo))
            if a[i].end < b[j].end:
                i += 1
            else:
                j += 1
        return ExtentMap._trusted(tuple(out))

    def subtract(self, other: ExtentMap) -> ExtentMap:
        out: list[Extent] = []
        b = other._extents
        j = 0
        for ext in self._extents:
            cur = ext.offset
            while j < len(b) and b[j].end <= cur:
                j += 1
            k = j
            while k < len(b) and b[k].offset < ext.end:
                if b[k].offset > cur:
                    out.append(Extent(cur, b[k].offset - cur))
                cur = max(cur, b[k].end)
                k += 1
            if cur < ext.end:
                out.append(Extent(cur, ext.end - cur))
        return ExtentMap._trusted(tuple(out))

    __or__ = union
    __and__ = intersection
    __sub__ = subtract

    def clip(self, start: int, end: int) -> ExtentMap:
        """Only the bytes inside ``[start, end)``."""
        if end <= start:
            return ExtentMap()
        return self.intersection(ExtentMap((Extent.span(start, end),)))

    def complement(self, size: int) -> ExtentMap:
        """The bytes of ``[0, size)`` not in the set (the holes of a sparse file)."""
        return ExtentMap.full(size).subtract(self)

    def align(self, block: int, limit: int | None = None) -> ExtentMap:
        """Widen every extent outward to ``block`` boundaries, optionally capped at ``limit``.

        A 4 KiB write in a 64 KiB-granular dirty bitmap is a 64 KiB extent: this is that.
        """
        if block <= 0:
            raise ValueError(f"block size must be > 0, got {block}")
        spans = []
        for e in self._extents:
            lo = e.offset - e.offset % block
            hi = -(-e.end // block) * block
            if limit is not None:
                hi = min(hi, limit)
            spans.append((lo, hi))
        return ExtentMap._trusted(_normalise(spans))

    def split(self, max_length: int) -> Iterator[Extent]:
        """Every extent cut into pieces of at most ``max_length`` bytes, in order."""
        if max_length <= 0:
            raise ValueError(f"max_length must be > 0, got {max_length}")
        for e in self._extents:
            pos = e.offset
            while pos < e.end:
                n = min(max_length, e.end - pos)
                yield Extent(pos, n)
                pos += n

    def coalesce(self, gap: int) -> ExtentMap:
        """Merge extents separated by fewer than ``gap`` bytes (fewer, larger reads)."""
        if gap < 0:
            raise ValueError(f"gap must be >= 0, got {gap}")
        merged: list[list[int]] = []
        for e in self._extents:
            if merged and e.offset - merged[-1][1] < gap:
                merged[-1][1] = e.end
            else:
                merged.append([e.offset, e.end])
        return ExtentMap._trusted(tuple(Extent(s, t - s) for s, t in merged))
