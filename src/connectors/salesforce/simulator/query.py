"""REST query: ``GET /services/data/vXX.X/query?q=`` and ``queryAll``, and their locators.

Answer: ``{"totalSize", "done", "nextRecordsUrl"?, "records": [{"attributes": {"type", "url"},
<fields in SELECT order>}]}``; ``COUNT()`` answers ``totalSize`` with no records. ``queryAll``
also returns deleted records (``IsDeleted = true``).

Paging: a page holds ``batchSize`` rows from ``Sforce-Query-Options: batchSize=N`` (clamped to
``[query_batch_min, query_batch_max]``, default ``query_batch_default``; the query's size
holds for its later pages unless they send the header again); with probability
``short_page_rate`` a page is shorter (the API does not guarantee the size). While rows remain
the answer carries ``nextRecordsUrl = /services/data/vXX.X/query/<locator>-<offset>`` (the
``queryAll`` endpoint for ``queryAll``); the locator is 18 characters with prefix ``0r8``. Each
``<locator>-<offset>`` works once, and a locator expires ``locator_lifetime`` seconds after the
query ran; either way the answer is 400 ``INVALID_QUERY_LOCATOR`` "invalid query locator".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from . import engine, soql
from .data import Record
from .rest import ApiError, Handler, json_response

if TYPE_CHECKING:
    from . import SalesforceSimulator

__all__ = ["QueryResource", "batch_size"]


@dataclass
class _Cursor:
    query: soql.Query
    rows: list[Record]
    created: float  # wall clock
    next_offset: int
    batch: int  # the page size the query asked for


def batch_size(header: str | None, default: int, low: int, high: int) -> int:
    """The page size a ``Sforce-Query-Options`` header asks for, clamped to ``[low, high]``."""
    for item in (header or "").split(","):
        key, _, value = item.partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return min(max(int(value.strip()), low), high)
            except ValueError:
                return default
    return default


class QueryResource:
    """The query, queryAll and locator routes of one simulator."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim
        self.cursors: dict[str, _Cursor] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/query", self.query),
            ("GET", "/queryAll", self.query_all),
            ("GET", "/query/{locator}", self.query_more),
            ("GET", "/queryAll/{locator}", self.query_all_more),
        ]

    async def query(self, request: Request, version: str) -> Response:
        return self._run(request, version, "query")

    async def query_all(self, request: Request, version: str) -> Response:
        return self._run(request, version, "queryAll")

    async def query_more(self, request: Request, version: str) -> Response:
        return self._more(request, version, "query")

    async def query_all_more(self, request: Request, version: str) -> Response:
        return self._more(request, version, "queryAll")

    def parse(self, text: str | None) -> soql.Query:
        """Parse SOQL as the API does; 400 with the API's code when it is refused."""
        if text is None:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            return soql.parse(text, now_ms=self.sim.now_ms(), hidden=self.sim.hidden_fields)
        except soql.SoqlError as err:
            raise ApiError(400, err.code, err.message) from None

    def _run(self, request: Request, version: str, endpoint: str) -> Response:
        query = self.parse(request.query_params.get("q"))
        rows = engine.select(self.sim.org, query, include_deleted=endpoint == "queryAll")
        if query.count:
            return json_response({"totalSize": len(rows), "done": True, "records": []})
        self._prune()
        sim = self.sim
        batch = batch_size(
            request.headers.get("sforce-query-options"),
            sim.query_batch_default,
            sim.query_batch_min,
            sim.query_batch_max,
        )
        cursor = _Cursor(query, rows, sim.wall_clock(), 0, batch)
        return self._page(request, version, endpoint, None, cursor)

    def _more(self, request: Request, version: str, endpoint: str) -> Response:
        locator, _, offset = request.path_params["locator"].rpartition("-")
        cursor = self.cursors.get(locator)
        expired = cursor is not None and self._expired(cursor)
        if expired:
            del self.cursors[locator]
        if cursor is None or expired or not offset.isdigit() or int(offset) != cursor.next_offset:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request, version, endpoint, locator, cursor)

    def _page(
        self, request: Request, version: str, endpoint: str, locator: str | None, cursor: _Cursor
    ) -> Response:
        sim = self.sim
        size = batch_size(
            request.headers.get("sforce-query-options"),
            cursor.batch,
            sim.query_batch_min,
            sim.query_batch_max,
        )
        if size > 1 and sim.short_page_rate > 0 and sim.rng.random() < sim.short_page_rate:
            size = sim.rng.randint(1, size - 1)
        start = cursor.next_offset
        page = cursor.rows[start : start + size]
        end = start + len(page)
        body: dict[str, object] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if end < len(cursor.rows):
            if locator is None:
                locator = sim.ids.new("0r8")
                self.cursors[locator] = cursor
            cursor.next_offset = end
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        elif locator is not None:
            self.cursors.pop(locator, None)
        body["records"] = engine.json_records(sim.org, cursor.query, page, version)
        return json_response(body)

    def _expired(self, cursor: _Cursor) -> bool:
        return self.sim.wall_clock() - cursor.created >= self.sim.locator_lifetime

    def _prune(self) -> None:
        for locator in [k for k, c in self.cursors.items() if self._expired(c)]:
            del self.cursors[locator]
