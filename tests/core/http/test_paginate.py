from __future__ import annotations

import json

import httpx
import pytest

from segsync.errors import FatalError
from segsync.http import (
    CursorPaginator,
    HttpClient,
    NextUrlPaginator,
    OffsetPaginator,
    paginate,
)

ITEMS = list(range(23))


def client_for(handler: object) -> HttpClient:
    return HttpClient("https://api.example.test/base/", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


async def collect(client: HttpClient, *args: object, **kwargs: object) -> list[int]:
    out: list[int] = []
    async for response in paginate(client, *args, **kwargs):  # type: ignore[arg-type]
        out.extend(response.json()["results"])
    return out


def cursor_handler(request: httpx.Request) -> httpx.Response:
    after = int(request.url.params.get("after", "0"))
    limit = int(request.url.params["limit"])
    page = ITEMS[after : after + limit]
    body: dict[str, object] = {"results": page}
    if after + limit < len(ITEMS):
        body["paging"] = {"next": {"after": str(after + limit), "link": "unused"}}
    return httpx.Response(200, json=body)


async def test_cursor_pages() -> None:
    async with client_for(cursor_handler) as client:
        got = await collect(client, "GET", "contacts", CursorPaginator(), params={"limit": 5})
    assert got == ITEMS


async def test_cursor_in_json_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        start = int(body.get("pageToken", "0"))
        page = ITEMS[start : start + 10]
        out: dict[str, object] = {"results": page}
        if start + 10 < len(ITEMS):
            out["nextPageToken"] = str(start + 10)
        return httpx.Response(200, json=out)

    pager = CursorPaginator("nextPageToken", "pageToken", location="json")
    async with client_for(handler) as client:
        got = await collect(client, "POST", "search", pager, json={"query": "SELECT"})
    assert got == ITEMS


def offset_handler(request: httpx.Request) -> httpx.Response:
    offset = int(request.url.params["offset"])
    count = int(request.url.params["count"])
    return httpx.Response(
        200, json={"results": ITEMS[offset : offset + count], "total_items": len(ITEMS)}
    )


async def test_offset_pages_with_total() -> None:
    async with client_for(offset_handler) as client:
        got = await collect(client, "GET", "members", OffsetPaginator(limit=10))
    assert got == ITEMS


async def test_offset_pages_without_total() -> None:
    pager = OffsetPaginator(limit=5, total_path=None, items_path="results")
    async with client_for(offset_handler) as client:
        got = await collect(client, "GET", "members", pager)
    assert got == ITEMS


@pytest.mark.parametrize("absolute", [True, False])
async def test_next_url_pages(absolute: bool) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        start = int(request.url.params.get("start", "0"))
        body: dict[str, object] = {"results": ITEMS[start : start + 10]}
        if start + 10 < len(ITEMS):
            link = f"/base/query/next?start={start + 10}"
            body["nextRecordsUrl"] = f"https://api.example.test{link}" if absolute else link
        return httpx.Response(200, json=body)

    async with client_for(handler) as client:
        got = await collect(
            client, "GET", "query", NextUrlPaginator("nextRecordsUrl"), params={"q": "x"}
        )
    assert got == ITEMS
    assert seen[0] == "https://api.example.test/base/query?q=x"
    assert seen[1] == "https://api.example.test/base/query/next?start=10"


async def test_repeated_token_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [1], "paging": {"next": {"after": "abc"}}})

    async with client_for(handler) as client:
        with pytest.raises(FatalError, match="repeated page token"):
            await collect(client, "GET", "contacts", CursorPaginator())


async def test_repeated_next_url_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [], "paging": {"next": {"link": "/p?x=1"}}})

    async with client_for(handler) as client:
        with pytest.raises(FatalError, match="repeated page token"):
            await collect(client, "GET", "contacts", NextUrlPaginator())


async def test_paginator_is_copied_per_call() -> None:
    pager = CursorPaginator()
    async with client_for(cursor_handler) as client:
        first = await collect(client, "GET", "contacts", pager, params={"limit": 7})
        second = await collect(client, "GET", "contacts", pager, params={"limit": 7})
    assert first == second == ITEMS
    assert pager.cursor is None and pager.has_next_page


def test_offset_without_total_or_items_is_an_error() -> None:
    pager = OffsetPaginator(limit=5, total_path=None)
    response = httpx.Response(200, json={}, request=httpx.Request("GET", "https://x.test/"))
    with pytest.raises(FatalError, match="neither a total"):
        pager.update_state(response)
