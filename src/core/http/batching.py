"""Batching: cut records into API-sized chunks, and isolate the records a platform rejects.

:func:`chunks` cuts by count and by serialised size. :func:`isolate` implements the delivery
rule "a batch rejected as a whole is split to isolate the bad records": it bisects a batch the
platform refuses with :class:`~segsync.errors.FatalError` until the bad records stand alone,
costing O(k·log n) calls for k bad records among n.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from segsync.errors import AuthError, FatalError

__all__ = ["chunks", "isolate", "json_size"]

T = TypeVar("T")
R = TypeVar("R")


def json_size(item: Any) -> int:
    """The size in bytes of ``item`` as compact UTF-8 JSON."""
    return len(
        json.dumps(item, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
    )


def chunks(
    items: Sequence[T],
    *,
    max_count: int,
    max_bytes: int | None = None,
    size_of: Callable[[T], int] = json_size,
) -> Iterator[list[T]]:
    """Consecutive chunks of at most ``max_count`` items whose sizes sum to ≤ ``max_bytes``.

    Sizes are ``size_of(item)`` (compact JSON by default); leave headroom in ``max_bytes`` for
    the request envelope. An item bigger than ``max_bytes`` on its own is yielded alone (the
    platform will reject it, and that rejection is reported per record).
    """
    if max_count < 1:
        raise ValueError("max_count must be at least 1")
    chunk: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item) if max_bytes is not None else 0
        full = len(chunk) >= max_count
        too_big = max_bytes is not None and chunk and size + item_size > max_bytes
        if chunk and (full or too_big):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


async def isolate(
    items: list[T],
    send: Callable[[list[T]], Awaitable[list[R]]],
    on_reject: Callable[[T, FatalError], R],
) -> list[R]:
    """``send(items)``; when the platform rejects the batch as a whole, bisect it.

    ``send`` returns one result per item, in order. A :class:`~segsync.errors.FatalError` (but
    not an :class:`~segsync.errors.AuthError`, which no split can fix) makes the batch split in
    halves, recursively; a single item that is still rejected is mapped through
    ``on_reject(item, error)``. Other errors propagate. Results come back in ``items`` order.
    """
    if not items:
        return []
    try:
        return await send(items)
    except AuthError:
        raise
    except FatalError as exc:
        if len(items) == 1:
            return [on_reject(items[0], exc)]
    middle = len(items) // 2
    left = await isolate(items[:middle], send, on_reject)
    right = await isolate(items[middle:], send, on_reject)
    return left + right
