"""Batching: cut records into API-sized chunks by count and by serialised size (for a
connector whose one batch needs several calls of a smaller limit). Splitting a batch the
platform rejects as a whole is segsync's, not a connector's: see :mod:`segsync.pipeline.push`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["chunks", "json_size"]

T = TypeVar("T")


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
