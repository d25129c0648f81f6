"""The simulator base's helpers: request inputs, paging, reproducible ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from segsync.testing.simulator import (
    IdSource,
    InputError,
    SortedIds,
    json_body,
    offset_page,
    parse_json,
    query_bool,
    query_csv,
    query_int,
    query_param,
)


def request(query: str = "", body: bytes = b"") -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
             "headers": []}  # fmt: skip
    return Request(scope, receive)


def refused(call: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


# -- query parameters -------------------------------------------------------------------------


def test_query_int_defaults_bounds_aliases_and_clamping() -> None:
    assert query_int(request(), "limit", default=10) == 10
    assert query_int(request("limit=7"), "limit", default=10, low=1, high=100) == 7
    assert query_int(request("page_size=3"), "pageSize", "page_size", default=50) == 3
    assert query_int(request("limit="), "limit", default=10, blank_is_default=True) == 10
    assert (
        query_int(request("count=5000"), "count", default=1, low=0, high=1000, clamp=True) == 1000
    )
    assert query_int(request("count=-5"), "count", default=1, low=0, high=1000, clamp=True) == 0
    text = refused(lambda: query_int(request("limit=ten"), "limit", default=1))
    assert (text.kind, text.name, text.raw) == ("integer", "limit", "ten")
    assert text.message == "limit must be an integer, got 'ten'"
    blank = refused(lambda: query_int(request("limit="), "limit", default=1))
    assert blank.kind == "integer"
    over = refused(lambda: query_int(request("limit=101"), "limit", default=1, low=1, high=100))
    assert (over.kind, over.value, over.low, over.high) == ("range", 101, 1, 100)
    assert over.message == "limit must be between 1 and 100, got 101"
    under = refused(lambda: query_int(request("offset=-1"), "offset", default=0, low=0))
    assert under.message == "offset must be at least 0, got -1"
    alias = refused(lambda: query_int(request("page_size=x"), "pageSize", "page_size", default=1))
    assert alias.name == "page_size"


def test_query_csv_param_and_bool() -> None:
    assert query_csv(request(), "properties") is None
    got = query_csv(request("properties=email,%20firstname,,&properties=zip"), "properties")
    assert got == ["email", "firstname", "zip"]
    assert query_csv(request("p="), "properties", "p") == []
    assert query_param(request("after=abc"), "after") == "abc"
    assert query_param(request("page_token=t"), "pageToken", "page_token") == "t"
    assert query_param(request(), "after") is None
    assert query_bool(request("x=TRUE"), "x") is True
    assert query_bool(request("x=1"), "x") is False  # lenient: only "true" is true
    assert query_bool(request(), "x", default=True) is True
    assert query_bool(request("x=1"), "x", strict=True) is True
    assert query_bool(request("x=False"), "x", strict=True) is False
    wrong = refused(lambda: query_bool(request("x=yes"), "x", strict=True))
    assert (wrong.kind, wrong.raw) == ("boolean", "yes")


# -- bodies -----------------------------------------------------------------------------------


async def test_json_body_malformed_empty_and_shapes() -> None:
    assert await json_body(request(body=b'{"a": 1}'), expect=dict) == {"a": 1}
    assert await json_body(request(body=b"  "), empty={}) == {}
    assert await json_body(request(body=b""), expect=dict, empty={}) == {}
    with pytest.raises(InputError) as empty:
        await json_body(request(body=b""))
    assert (empty.value.kind, empty.value.line, empty.value.column) == ("json", 1, 1)
    with pytest.raises(InputError) as bad:
        await json_body(request(body=b'{\n  "a": nope}'))
    assert (bad.value.kind, bad.value.line, bad.value.column) == ("json", 2, 8)
    assert bad.value.detail == "Expecting value"
    with pytest.raises(InputError) as shape:
        await json_body(request(body=b"[1]"), expect=dict)
    assert (shape.value.kind, shape.value.expected) == ("shape", "object")
    with pytest.raises(InputError) as null:
        parse_json(b"", expect=list, empty=None)
    assert null.value.expected == "array"


# -- paging -----------------------------------------------------------------------------------


def test_offset_page() -> None:
    items = list(range(10))
    assert offset_page(items, 0, 4) == ([0, 1, 2, 3], 4)
    assert offset_page(items, 8, 4) == ([8, 9], None)
    assert offset_page(items, 6, 4) == ([6, 7, 8, 9], None)
    assert offset_page(items, 20, 4) == ([], None)


def test_sorted_ids_pages_in_order_from_a_cursor() -> None:
    ids = SortedIds([105, 101])
    ids.add(110)  # past the end: appended
    ids.update([103, 120, 101])  # 101 again is skipped
    ids.add(102)
    assert list(ids) == [101, 102, 103, 105, 110, 120]
    assert ids.page(None, 2) == ([101, 102], True)
    assert ids.page(103, 2) == ([103, 105], True)
    assert ids.page(103, 2, inclusive=False) == ([105, 110], True)
    assert ids.page(110, 5, inclusive=False) == ([120], False)
    ids.discard(105)
    ids.discard(999)
    assert ids.page(104, 1) == ([110], True)
    ids.add(105)  # back before the next read
    assert 105 in ids and len(ids) == 6
    assert list(ids) == [101, 102, 103, 105, 110, 120]
    ids.clear()
    assert ids.page(None, 3) == ([], False)


operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "update", "discard", "page"]), st.integers(0, 60), st.integers(1, 7)
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(start=st.lists(st.integers(0, 60)), ops=operations)
def test_sorted_ids_behaves_like_a_sorted_set(start: list[int], ops: list[Any]) -> None:
    ids, model = SortedIds(start), set(start)
    for op, value, size in ops:
        if op == "add":
            ids.add(value)
            model.add(value)
        elif op == "update":
            batch = list(range(value, value + size))
            ids.update(batch)
            model.update(batch)
        elif op == "discard":
            ids.discard(value)
            model.discard(value)
        else:
            expected = sorted(v for v in model if v > value)
            assert ids.page(value, size, inclusive=False) == (expected[:size], len(expected) > size)
        assert len(ids) == len(model)
        assert (value in ids) == (value in model)
    assert list(ids) == sorted(model)


# -- ids --------------------------------------------------------------------------------------


def test_id_sources_are_reproducible_and_independent() -> None:
    a, b = IdSource("crm-ids", 7), IdSource("crm-ids", 7)
    assert [a.uuid4(), a.hex(10), a.unique_int(1, 10)] == [
        b.uuid4(),
        b.hex(10),
        b.unique_int(1, 10),
    ]
    assert IdSource("crm-ids", 8).uuid4() != IdSource("crm-ids", 7).uuid4()
    assert IdSource("other", 7).uuid4() != IdSource("crm-ids", 7).uuid4()
    assert len(a.hex(10)) == 10 and int(a.hex(10), 16) >= 0
    assert a.uuid4()[14] == "4"
    fresh = IdSource("crm-ids", 9)
    drawn = {fresh.unique_int(0, 20) for _ in range(20)}
    assert drawn == set(range(20))  # never the same twice
