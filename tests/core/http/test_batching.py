from __future__ import annotations

import math

import pytest

from segsync.errors import AuthError, FatalError, RetryableError
from segsync.http import chunks, isolate, json_size


def test_chunks_by_count() -> None:
    assert [len(c) for c in chunks(list(range(10)), max_count=4)] == [4, 4, 2]
    assert list(chunks([], max_count=3)) == []


def test_chunks_by_bytes() -> None:
    items = ["a" * 8] * 10  # 10 bytes each as JSON
    assert json_size(items[0]) == 10
    cut = list(chunks(items, max_count=100, max_bytes=35))
    assert [len(c) for c in cut] == [3, 3, 3, 1]
    assert [item for chunk in cut for item in chunk] == items


def test_chunks_item_bigger_than_limit_goes_alone() -> None:
    items = ["x", "y" * 100, "z"]
    assert list(chunks(items, max_count=10, max_bytes=20)) == [["x"], ["y" * 100], ["z"]]


def test_chunks_custom_size() -> None:
    cut = list(chunks([1, 2, 3, 4], max_count=10, max_bytes=5, size_of=lambda n: n))
    assert cut == [[1, 2], [3], [4]]
    with pytest.raises(ValueError):
        list(chunks([1], max_count=0))


async def test_isolate_finds_bad_records_in_k_log_n_calls() -> None:
    items = list(range(100))
    bad = {17, 63}
    calls = 0

    async def send(batch: list[int]) -> list[str]:
        nonlocal calls
        calls += 1
        if bad & set(batch):
            raise FatalError("400 invalid record")
        return ["ok"] * len(batch)

    results = await isolate(items, send, lambda item, exc: f"rejected {item}: {exc}")
    assert [r for r in results if r != "ok"] == [
        "rejected 17: 400 invalid record",
        "rejected 63: 400 invalid record",
    ]
    assert len(results) == 100 and results[17].startswith("rejected 17")
    assert calls <= 2 * len(bad) * math.ceil(math.log2(100)) + 1


async def test_isolate_does_not_split_on_auth_or_retryable_errors() -> None:
    async def auth_fail(batch: list[int]) -> list[int]:
        raise AuthError("401")

    with pytest.raises(AuthError):
        await isolate([1, 2, 3], auth_fail, lambda item, exc: 0)

    async def retry_fail(batch: list[int]) -> list[int]:
        raise RetryableError("503")

    with pytest.raises(RetryableError):
        await isolate([1, 2, 3], retry_fail, lambda item, exc: 0)
    assert await isolate([], auth_fail, lambda item, exc: 0) == []
