"""Paging helpers: offset pages, and integer ids kept in order for cursor pages.

A page must cost the simulator O(page), not O(collection): a client reading 100,000 records
100 at a time would otherwise wait on the simulator, not on the platform's limits.

* :func:`offset_page` — ``items[offset : offset + count]`` and the next offset (Mailchimp's
  ``offset``/``count``, HubSpot's search ``after``, Google's page tokens);
* :class:`SortedIds` — integer ids in ascending order (HubSpot's contacts and list
  memberships page by record id), each page found by bisection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

from sortedcontainers import SortedList

__all__ = ["SortedIds", "offset_page"]

T = TypeVar("T")


def offset_page(items: Sequence[T], offset: int, count: int) -> tuple[Sequence[T], int | None]:
    """``items[offset : offset + count]``, and the offset of the next page (None when this
    page reaches the end)."""
    page = items[offset : offset + count]
    end = offset + count
    return page, (end if end < len(items) else None)


class SortedIds:
    """A set of integer ids kept in ascending order: adding is O(log n), a page of ``limit``
    ids from a cursor O(log n + limit)."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids: SortedList[int] = SortedList(ids)

    def add(self, value: int) -> None:
        """Add an id (a no-op when present)."""
        if value not in self._ids:
            self._ids.add(value)

    def update(self, values: Iterable[int]) -> None:
        """Add ids the caller knows are not present yet, in bulk (much cheaper than
        :meth:`add` one at a time; an id already present would be held twice)."""
        self._ids.update(values)

    def discard(self, value: int) -> None:
        self._ids.discard(value)

    def clear(self) -> None:
        self._ids.clear()

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and value in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def page(
        self, start: int | None, limit: int, *, inclusive: bool = True
    ) -> tuple[list[int], bool]:
        """Up to ``limit`` ids from ``start`` on (``>= start``, or ``> start`` unless
        ``inclusive``; from the first when ``start`` is None), and whether more follow."""
        if start is None:
            first = 0
        elif inclusive:
            first = self._ids.bisect_left(start)
        else:
            first = self._ids.bisect_right(start)
        ids = list(islice(self._ids.islice(first), limit + 1))
        return ids[:limit], len(ids) > limit
