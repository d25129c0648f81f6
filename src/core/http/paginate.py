"""Pagination: small paginator objects and :func:`paginate`, which walks every page.

A paginator reads each response (:meth:`~Paginator.update_state`) and shapes the next request
(:meth:`~Paginator.update_request` for query parameters, :meth:`~Paginator.update_url` and
:meth:`~Paginator.update_json` for the URL and a JSON body). :func:`paginate` deep-copies the
paginator it is given, so one configured paginator can serve many calls, and stops with
:class:`~segsync.errors.FatalError` when a request would repeat (a platform returning the same
token, URL or offset again would otherwise loop forever).
"""

from __future__ import annotations

import copy
import json as jsonlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

import httpx

from segsync.errors import FatalError

from .classify import redact_url

if TYPE_CHECKING:
    from .client import HttpClient

__all__ = [
    "CursorPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "Paginator",
    "dig",
    "paginate",
]

_MISSING = object()


def dig(data: Any, path: str | None) -> Any:
    """The value at dotted ``path`` in decoded JSON (list indexes allowed), or None."""
    if path is None:
        return None
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            return None
        if current is _MISSING:
            return None
    return current


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Paginator:
    """Base paginator: a single page. Subclasses override what they need."""

    has_next_page: bool = False

    def update_state(self, response: httpx.Response) -> None:
        """Read a response: where the next page is, and whether there is one."""
        self.has_next_page = False

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        """The query parameters of the next request (also called for the first one)."""
        return params

    def update_url(self, url: str) -> str:
        """The URL of the next request (also called for the first one)."""
        return url

    def update_json(self, json: Any) -> Any:
        """The JSON body of the next request (also called for the first one)."""
        return json


class CursorPaginator(Paginator):
    """A token in the response body, sent back as query parameter ``param`` (or, with
    ``location="json"``, as a key of the JSON body: Google Ads ``pageToken``).

    HubSpot: ``CursorPaginator("paging.next.after", "after")`` (the default).
    """

    def __init__(
        self,
        cursor_path: str = "paging.next.after",
        param: str = "after",
        *,
        location: Literal["query", "json"] = "query",
    ) -> None:
        self.cursor_path = cursor_path
        self.param = param
        self.location = location
        self.cursor: str | None = None
        self.has_next_page = True

    def update_state(self, response: httpx.Response) -> None:
        value = dig(_json_of(response), self.cursor_path)
        self.cursor = str(value) if value not in (None, "") else None
        self.has_next_page = self.cursor is not None

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.cursor is None or self.location != "query":
            return params
        return {**params, self.param: self.cursor}

    def update_json(self, json: Any) -> Any:
        if self.cursor is None or self.location != "json" or not isinstance(json, dict):
            return json
        return {**json, self.param: self.cursor}


class OffsetPaginator(Paginator):
    """``offset``/``count`` pages (Mailchimp's defaults).

    The next page exists while ``offset < total`` (``total_path`` in the body); without a
    total, while the page held ``limit`` items (``items_path``, a list in the body).
    """

    def __init__(
        self,
        limit: int,
        offset_param: str = "offset",
        limit_param: str = "count",
        total_path: str | None = "total_items",
        items_path: str | None = None,
        *,
        offset: int = 0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.items_path = items_path
        self.offset = offset
        self.has_next_page = True

    def update_state(self, response: httpx.Response) -> None:
        body = _json_of(response)
        total = dig(body, self.total_path)
        items = dig(body, self.items_path)
        page_size = len(items) if isinstance(items, list) else None
        self.offset += self.limit
        if isinstance(total, int) and not isinstance(total, bool):
            self.has_next_page = self.offset < total and page_size != 0
        elif page_size is not None:
            self.has_next_page = page_size >= self.limit
        else:
            raise FatalError(
                "OffsetPaginator: the response has neither a total "
                f"({self.total_path!r}) nor a list of items ({self.items_path!r})"
            )

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, self.offset_param: self.offset, self.limit_param: self.limit}


class NextUrlPaginator(Paginator):
    """The next page's URL in the body (HubSpot ``paging.next.link``, Salesforce
    ``nextRecordsUrl``), absolute or relative to the current one. The URL carries its own query,
    so the caller's ``params`` are only sent with the first request.
    """

    def __init__(self, next_path: str = "paging.next.link") -> None:
        self.next_path = next_path
        self.next_url: str | None = None
        self.has_next_page = True

    def update_state(self, response: httpx.Response) -> None:
        value = dig(_json_of(response), self.next_path)
        if value in (None, ""):
            self.next_url = None
        else:
            self.next_url = str(response.request.url.join(str(value)))
        self.has_next_page = self.next_url is not None

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        return {} if self.next_url is not None else params

    def update_url(self, url: str) -> str:
        return self.next_url if self.next_url is not None else url


def _with_query(url: str, params: dict[str, Any]) -> str:
    """``url`` with ``params`` in its query, encoded here: handing httpx the parameters
    makes it parse and rebuild the URL several times per request (most of a page's cost)."""
    if not params:
        return url
    pairs = [
        (key, _primitive(item))
        for key, value in params.items()
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs, quote_via=quote)}"


def _primitive(value: Any) -> str:
    """A parameter's value as httpx writes it: ``true``/``false``, empty for None."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _request_key(url: str, params: dict[str, Any], json: Any) -> str:
    """What makes two requests the same (without parsing the URL: that costs per page)."""
    return jsonlib.dumps([url, params, json], sort_keys=True, default=str)


async def paginate(
    client: HttpClient,
    method: str,
    path: str,
    paginator: Paginator,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
) -> AsyncIterator[httpx.Response]:
    """Yield every page's response, following ``paginator`` (deep-copied for this call).

    Raises :class:`~segsync.errors.FatalError` ("repeated page token") when the next request
    would be identical to one already made.
    """
    pager = copy.deepcopy(paginator)
    base_params = dict(params or {})
    seen: set[str] = set()
    url, page_params, body = path, pager.update_request(dict(base_params)), pager.update_json(json)
    url = pager.update_url(url)
    while True:
        key = _request_key(url, page_params, body)
        if key in seen:
            raise FatalError(
                f"{method} {redact_url(url)}: the platform returned a repeated page token "
                f"after {len(seen)} pages; stopping to avoid an endless loop"
            )
        seen.add(key)
        response = await client.request(
            method, _with_query(url, page_params), json=body, expect_json=True
        )
        yield response
        pager.update_state(response)
        if not pager.has_next_page:
            return
        url = pager.update_url(path)
        page_params = pager.update_request(dict(base_params))
        body = pager.update_json(json)
