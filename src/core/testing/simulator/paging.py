"""Paging helpers: offset pages, and integer ids kept in order for cursor pages.

A page must cost the simulator O(page), not O(collection): a client reading 100,000 records
100 at a time would otherwise wait on the simulator, not on the platform's limits.

* :func:`offset_page` — ``items[offset : offset + count]`` and the next offset (Mailchimp's
  ``offset``/``count``, HubSpot's search ``after``, Google's page tokens);
* :class:`SortedIds` — integer ids in ascending order (HubSpot's contacts and list
  memberships page by record id), each page found by bisection.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

__all__ = ["SortedIds", "offset_page"]

T = TypeVar("T")


def offset_page(items: Sequence[T], offset: int, count: int) -> tuple[Sequence[T], int | None]:
    """``items[offset : offset + count]``, and the offset of the next page (None when this
    page reaches the end)."""
    page = items[offset : offset + count]
    end = offset + count
    return page, (end if end < len(items) else None)


class SortedIds:
    """A set of integer ids that pages in ascending order: a page of ``limit`` ids from a
    cursor costs O(log n + limit).

    Adding is O(1): ids larger than every id so far (records numbered as they are created)
    go straight to the end of the sorted list; others wait in a batch that the next read sorts
    and merges in (once, however many calls added them). Removals likewise wait for the next
    read."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._members: set[int] = set(ids)
        self._sorted: list[int] = sorted(self._members)
        self._added: list[int] = []  # members not yet in _sorted
        self._removed: set[int] = set()  # entries of _sorted (or _added) no longer members

    def add(self, value: int) -> None:
        """Add an id (a no-op when present)."""
        if value in self._members:
            return
        self._members.add(value)
        if value in self._removed:  # still listed: it only has to stop being dropped
            self._removed.discard(value)
        elif not self._added and (not self._sorted or value > self._sorted[-1]):
            self._sorted.append(value)
        else:
            self._added.append(value)

    def update(self, values: Iterable[int]) -> None:
        """Add ids (those present are skipped), in bulk: they are sorted in by the next read,
        once however many calls added them."""
        fresh = set(values) - self._members
        if not fresh:
            return
        self._members |= fresh
        if self._removed:
            revived = fresh & self._removed  # still listed: they only have to stop being dropped
            self._removed -= revived
            fresh -= revived
        self._added += fresh

    def discard(self, value: int) -> None:
        if value in self._members:
            self._members.remove(value)
            self._removed.add(value)

    def clear(self) -> None:
        self._members.clear()
        self._sorted.clear()
        self._added.clear()
        self._removed.clear()

    def __contains__(self, value: object) -> bool:
        return value in self._members

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[int]:
        return iter(self._settled())

    def _settled(self) -> list[int]:
        """The sorted list, with waiting additions merged in and removals dropped."""
        if self._removed:
            gone = self._removed
            self._sorted = [v for v in self._sorted if v not in gone]
            self._added = [v for v in self._added if v not in gone]
            self._removed = set()
        if self._added:
            self._added.sort()
            self._sorted += self._added  # two sorted runs: Timsort merges them in O(n)
            self._sorted.sort()
            self._added = []
        return self._sorted

    def page(
        self, start: int | None, limit: int, *, inclusive: bool = True
    ) -> tuple[list[int], bool]:
        """Up to ``limit`` ids from ``start`` on (``>= start``, or ``> start`` unless
        ``inclusive``; from the first when ``start`` is None), and whether more follow."""
        ids = self._settled()
        if start is None:
            first = 0
        elif inclusive:
            first = bisect_left(ids, start)
        else:
            first = bisect_right(ids, start)
        page = ids[first : first + limit + 1]
        return page[:limit], len(page) > limit
