from __future__ import annotations

import pytest

from segsync.http import chunks, json_size


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
