"""A simulator of the HubSpot CRM v3 API where segsync touches it (contacts, deals, Lists v3).

Faithful to ``/work/shared/reference/platform-apis.md`` §1. Served routes:

* ``GET /crm/v3/objects/contacts?limit≤100&after=&properties=a,b&associations=deals`` and
  ``GET /crm/v3/objects/contacts/{id}`` — every property value a string (requested but unset
  properties answer ``null``); ``paging.next.{after,link}`` on all but the last page, the link
  built on the request's own base URL.
* ``POST /crm/v3/objects/contacts/search`` — filterGroups (OR of ANDs; ``EQ NEQ GT GTE LT LTE
  BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN``; dates as
  epoch milliseconds or ISO), ``sorts`` as objects or strings, ``limit`` ≤ 200, ``after`` offset,
  ``{"total", "results", "paging"}``; 400 when after + limit passes ``search_result_cap``.
* ``POST /crm/v3/objects/contacts/batch/{read,update,upsert}`` (≤ ``batch_max`` inputs, else
  400): 200 ``{"status": "COMPLETE", "results", "startedAt", "completedAt", ...}``, or 207 with
  ``numErrors``/``errors[]`` (unknown ids → ``OBJECT_NOT_FOUND`` with ``context.ids``).
  Every write bumps ``lastmodifieddate``/``updatedAt``; ``objectWriteTraceId`` is echoed.
* ``propertiesWithHistory`` (list and single reads as a query parameter, batch read in the
  body) adds ``propertiesWithHistory: {name: [{value, timestamp, sourceType, sourceId,
  updatedByUserId}]}``, newest first; it lowers the list's ``limit`` maximum.
* ``GET /crm/v3/properties/contacts``, ``GET|PATCH /crm/v3/properties/contacts/{name}``,
  ``POST /crm/v3/properties/contacts`` (409 on a duplicate name); enumeration values
  (checkbox = ``;``-separated) must be options, else 400 ``VALIDATION_ERROR``.
* ``GET /crm/v3/objects/deals?...&associations=contacts`` →
  ``associations: {"contacts": {"results": [{"id", "type": "deal_to_contact"}]}}``.
* Lists v3: ``POST /crm/v3/lists`` (200 ``{"list"}``; duplicate name, case-insensitive → 400),
  ``POST /crm/v3/lists/search``, ``GET /crm/v3/lists/object-type-id/0-1/name/{name}``
  (case-insensitive, 404 when missing), ``GET|DELETE /crm/v3/lists/{id}`` (DELETE → 204),
  ``PUT .../memberships/{add,remove,add-and-remove}`` answering ``{"recordsIdsAdded",
  "recordIdsRemoved", "recordIdsMissing"}`` (sic), ``GET .../memberships?limit≤250&after=``
  sorted by recordId, ``DELETE .../memberships``.
* Auth: ``Authorization: Bearer <token>``; 401 ``INVALID_AUTHENTICATION``; 403
  ``MISSING_SCOPES`` when a token added with ``scopes=`` lacks the route's scope. Every error
  is the HubSpot envelope ``{status, message, correlationId, category, errors, context, links}``
  and every response carries ``X-HubSpot-Correlation-Id``.
* Limits: ``burst`` requests per ``window`` s per token (429 ``TEN_SECONDLY_ROLLING``), ``daily``
  per token (429 ``DAILY``), ``search_per_second`` searches per token (429 ``SECONDLY``); 429
  bodies add ``errorType: "RATE_LIMIT"``, ``policyName`` and ``requestId``. Object, property and
  list responses carry ``X-HubSpot-RateLimit-{Daily, Daily-Remaining, Interval-Milliseconds,
  Max, Remaining, Secondly, Secondly-Remaining}``; search responses carry none of them.
* Faults: by default ``Faults.error_statuses`` is (423, 477, 502); 477 adds ``Retry-After``.

Behaviours the reference marks "(inferred)", each a constructor argument:

* ``max_membership_ids`` (10,000) — ids per membership call; more → 400.
* ``list_limit_max`` (100) — the max ``limit`` of ``GET /objects/...``.
* ``search_result_cap`` (10,000) — how far search can page; past it → 400.
* ``search_per_second`` (4; docs now say 5) — the search limit.
* ``search_daily_headers`` (False) — whether search answers carry the two Daily headers (the
  2021 recordings did; a community report says search sends only the correlation id).
* ``daily_headers`` (True) — OAuth calls omit ``X-HubSpot-RateLimit-Daily*``.
* ``strict_batch_validation`` (True) — an invalid property value fails the whole batch with
  400 unless every input carries an ``objectWriteTraceId`` (then 207 per input).
* ``migration_retry_after`` (5) — the ``Retry-After`` of an injected 477.
* ``history_limit_max`` (50) — the list ``limit`` maximum with ``propertiesWithHistory``.
* ``history_on_unchanged_write`` (False) — whether writing a property's current value again
  adds a history entry.
* Duplicate list names → 400; ``OBJECT_NOT_FOUND``/``MISSING_SCOPES``/``RATE_LIMITS``
  categories; numbers accepted as record ids; PATCH replaces the options array. No
  ``Retry-After`` on 429s (undocumented).

Simplifications: one portal shared by all tokens (limits are per token); ``hs_language`` is a
plain string property; DYNAMIC lists are stored but never evaluated.
"""

from __future__ import annotations

import base64
import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import Faults, RateLimit, Simulator

__all__ = ["DEFAULT_TOKEN", "HubSpotSimulator"]

DEFAULT_TOKEN = "pat-sandbox-0000"  # noqa: S105 - a public test credential for the simulator
CONTACTS = "0-1"
_CT = "application/json;charset=utf-8"
_DEFAULT_SEARCH_PROPS = (
    "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname",
)  # fmt: skip
_ALWAYS_PROPS = ("createdate", "hs_object_id", "lastmodifieddate")
_READ_ONLY = {"hs_object_id", "lastmodifieddate"}
_DATE_PROPS = {"createdate", "lastmodifieddate", "closedate"}
_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
_FIELD_TYPES = {
    "booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number",
    "phonenumber", "radio", "select", "text", "textarea",
}  # fmt: skip
_LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
              "opportunity", "customer", "evangelist", "other"]  # fmt: skip
_DEFAULT_PROPERTIES: list[tuple[str, str, str, str]] = [  # name, label, type, fieldType
    ("email", "Email", "string", "text"),
    ("firstname", "First Name", "string", "text"),
    ("lastname", "Last Name", "string", "text"),
    ("phone", "Phone Number", "string", "phonenumber"),
    ("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
    ("country", "Country/Region", "string", "text"),
    ("city", "City", "string", "text"),
    ("state", "State/Region", "string", "text"),
    ("zip", "Postal Code", "string", "text"),
    ("address", "Street Address", "string", "text"),
    ("company", "Company Name", "string", "text"),
    ("jobtitle", "Job Title", "string", "text"),
    ("website", "Website URL", "string", "text"),
    ("hs_language", "Preferred language", "string", "text"),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
    ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox"),
    ("hs_object_id", "Record ID", "number", "number"),
    ("createdate", "Create Date", "datetime", "date"),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date"),
]

Handler = Callable[[Request], Awaitable[Response]]


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def _to_ms(value: Any) -> float | None:
    """Epoch milliseconds of a date value (ms number/string or ISO), else None."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


def _as_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _ApiError(Exception):
    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra


def _bad(message: str, **extra: Any) -> _ApiError:
    return _ApiError(400, message, "VALIDATION_ERROR", **extra)


class HubSpotSimulator(Simulator):
    name = "hubspot"

    def __init__(
        self,
        *,
        seed: int = 0,
        burst: int = 100,
        window: float = 10.0,
        daily: int = 250_000,
        search_per_second: int = 4,
        max_membership_ids: int = 10_000,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        concurrency: int | None = None,
        list_limit_max: int = 100,
        search_limit_max: int = 200,
        search_result_cap: int = 10_000,
        batch_max: int = 100,
        memberships_limit_max: int = 250,
        search_daily_headers: bool = False,
        daily_headers: bool = True,
        strict_batch_validation: bool = True,
        migration_retry_after: int = 5,
        history_limit_max: int = 50,
        history_on_unchanged_write: bool = False,
    ) -> None:
        super().__init__(
            seed=seed,
            rate_limit=RateLimit(requests=burst, window=window, concurrency=concurrency),
            faults=faults or Faults(error_statuses=(423, 477, 502)),
            clock=clock,
        )
        self.daily = daily
        self.search_per_second = search_per_second
        self.max_membership_ids = max_membership_ids
        self.wall_clock = wall_clock
        self.list_limit_max = list_limit_max
        self.search_limit_max = search_limit_max
        self.search_result_cap = search_result_cap
        self.batch_max = batch_max
        self.memberships_limit_max = memberships_limit_max
        self.search_daily_headers = search_daily_headers
        self.daily_headers = daily_headers
        self.strict_batch_validation = strict_batch_validation
        self.migration_retry_after = migration_retry_after
        self.history_limit_max = history_limit_max
        self.history_on_unchanged_write = history_on_unchanged_write
        self._ids = random.Random(f"hubspot-ids-{seed}")  # noqa: S311 - ids, not secrets
        self._scopes: dict[str, frozenset[str] | None] = {}
        self._daily_used: Counter[str] = Counter()
        self._daily_day: dict[str, int] = {}
        self._searches: defaultdict[str, deque[float]] = defaultdict(deque)
        self._last_ms = 0
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self._by_email: dict[str, str] = {}
        self._next_contact = 101
        self._next_deal = 5001
        self._next_list = 1
        self.lists: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        now = self._now_ms()
        for order, (pname, label, ptype, field) in enumerate(_DEFAULT_PROPERTIES):
            options: list[dict[str, Any]] = []
            if pname == "lifecyclestage":
                options = [_option(v, v.title(), i) for i, v in enumerate(_LIFECYCLE)]
            elif ptype == "bool":
                options = [_option("true", "True", 0), _option("false", "False", 1)]
            self.properties[pname] = self._definition(
                {"name": pname, "label": label, "type": ptype, "fieldType": field,
                 "groupName": "contactinformation", "options": options, "displayOrder": order},
                now, hubspot_defined=True,
            )  # fmt: skip

    # -- credentials ---------------------------------------------------------------------------

    def add_credential(
        self, secret: str, account: str | None = None, *, scopes: Iterable[str] | None = None
    ) -> None:
        """Add a token; ``account`` defaults to the token itself (limits are per token)."""
        super().add_credential(secret, account or secret)
        self._scopes[secret] = None if scopes is None else frozenset(scopes)

    def credentials_for_sandbox(self) -> dict[str, str]:
        if not self._credentials:
            self.add_credential(DEFAULT_TOKEN)
        return super().credentials_for_sandbox()

    # -- responses -----------------------------------------------------------------------------

    def _cid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _json(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        cid = self._cid()
        if isinstance(body, dict) and body.get("status") == "error":
            body["correlationId"] = cid
        content = b"" if body is None else json.dumps(body).encode()
        out = {"X-HubSpot-Correlation-Id": cid, **(headers or {})}
        if body is None:
            return Response(status_code=status, headers=out)
        return Response(content, status_code=status, headers=out, media_type=_CT)

    def _error(self, err: _ApiError, headers: Mapping[str, str] | None = None) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": err.message,
            "correlationId": "",
            "category": err.category,
            "errors": [],
            "context": {},
            "links": {},
        }
        body.update(err.extra)
        return self._json(body, err.status, headers)

    def unauthorized_response(self, request: Request) -> Response:
        return self._error(
            _ApiError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        )

    def _rate_error(self, policy: str, message: str) -> Response:
        return self._error(
            _ApiError(
                429,
                message,
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName=policy,
                requestId=self._cid(),
            )
        )

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        return self._rate_error("TEN_SECONDLY_ROLLING", "You have reached your secondly limit.")

    def error_response(self, request: Request, status: int) -> Response:
        known = {
            423: ("LOCKED", "Too many concurrent writes to the same records; retry in 2s."),
            477: ("MIGRATION_IN_PROGRESS", "This portal is being migrated; retry later."),
            502: ("BAD_GATEWAY", "The request could not be processed in time."),
        }
        category, message = known.get(status, ("INTERNAL_ERROR", "Something went wrong."))
        headers = {"Retry-After": str(self.migration_retry_after)} if status == 477 else None
        return self._error(_ApiError(status, message, category), headers)

    def sends_rate_limit_headers(self, request: Request) -> bool:
        return not request.url.path.endswith("/search") or self.search_daily_headers

    def rate_limit_headers(
        self,
        request: Request,
        account: str,
        remaining: int | None,
        limit: int | None,
        reset_in: float | None,
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.daily_headers:
            used = self._daily_used[account] if self._daily_day.get(account) == self._day() else 0
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(self.daily - used, 0))
        if request.url.path.endswith("/search") or limit is None or remaining is None:
            return headers
        window = self.rate_limit.window
        secondly = max(1, math.floor(limit / window))
        now = self.clock()
        last_second = sum(1 for t in self._windows[account] if t > now - 1.0)
        headers.update(
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Secondly": str(secondly),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(secondly - last_second, 0)),
            }
        )
        return headers

    def _day(self) -> int:
        return int(self.clock() // 86_400)

    def _endpoint(self, handler: Handler, scope: str, *, search: bool = False) -> Handler:
        """Wrap a route: scopes, the daily and search limits, and errors as the envelope."""

        async def endpoint(request: Request) -> Response:
            token = request.headers.get("authorization", "").partition(" ")[2].strip()
            account = self.authenticate(request) or ""
            granted = self._scopes.get(token)
            if granted is not None and scope not in granted:
                return self._error(
                    _ApiError(
                        403,
                        "This app hasn't been granted all required scopes to make this call. "
                        "Read more about required scopes here: "
                        "https://developers.hubspot.com/scopes.",
                        "MISSING_SCOPES",
                        errors=[
                            {
                                "message": "One or more of the following scopes are required.",
                                "context": {"requiredGranularScopes": [scope]},
                            }
                        ],
                    )
                )
            day = self._day()
            if self._daily_day.get(account) != day:
                self._daily_day[account], self._daily_used[account] = day, 0
            if self._daily_used[account] >= self.daily:
                return self._rate_error("DAILY", "You have reached your daily limit.")
            if search:
                now, times = self.clock(), self._searches[account]
                while times and times[0] <= now - 1.0:
                    times.popleft()
                if len(times) >= self.search_per_second:
                    return self._rate_error("SECONDLY", "You have reached your secondly limit.")
                times.append(now)
            self._daily_used[account] += 1
            try:
                return await handler(request)
            except _ApiError as err:
                return self._error(err)

        return endpoint

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        c, p, lst = "/crm/v3/objects/contacts", "/crm/v3/properties/contacts", "/crm/v3/lists"
        cr, cw = "crm.objects.contacts.read", "crm.objects.contacts.write"
        sr, sw = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
        lr, lw = "crm.lists.read", "crm.lists.write"
        e = self._endpoint
        return [
            Route(c, e(self._list_contacts, cr), methods=["GET"]),
            Route(f"{c}/search", e(self._search, cr, search=True), methods=["POST"]),
            Route(f"{c}/batch/read", e(self._batch_read, cr), methods=["POST"]),
            Route(f"{c}/batch/update", e(self._batch_update, cw), methods=["POST"]),
            Route(f"{c}/batch/upsert", e(self._batch_upsert, cw), methods=["POST"]),
            Route(f"{c}/{{id}}", e(self._get_contact, cr), methods=["GET"]),
            Route(
                "/crm/v3/objects/deals",
                e(self._list_deals, "crm.objects.deals.read"),
                methods=["GET"],
            ),
            Route(p, e(self._get_properties, sr), methods=["GET"]),
            Route(p, e(self._create_property, sw), methods=["POST"]),
            Route(f"{p}/{{name}}", e(self._get_property, sr), methods=["GET"]),
            Route(f"{p}/{{name}}", e(self._patch_property, sw), methods=["PATCH"]),
            Route(lst, e(self._create_list, lw), methods=["POST"]),
            Route(f"{lst}/search", e(self._search_lists, lr), methods=["POST"]),
            Route(
                f"{lst}/object-type-id/{{type}}/name/{{name}}",
                e(self._list_by_name, lr),
                methods=["GET"],
            ),
            Route(f"{lst}/{{id}}", e(self._get_list, lr), methods=["GET"]),
            Route(f"{lst}/{{id}}", e(self._delete_list, lw), methods=["DELETE"]),
            Route(f"{lst}/{{id}}/memberships", e(self._memberships, lr), methods=["GET"]),
            Route(f"{lst}/{{id}}/memberships", e(self._clear_list, lw), methods=["DELETE"]),
            Route(f"{lst}/{{id}}/memberships/{{op}}", e(self._change_members, lw), methods=["PUT"]),
            Route(
                "/{path:path}",
                e(self._not_found, cr),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]

    async def _not_found(self, request: Request) -> Response:
        raise _ApiError(404, f"Unable to route {request.url.path}", "OBJECT_NOT_FOUND")

    # -- contacts ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        self._last_ms = max(int(self.wall_clock() * 1000), self._last_ms + 1)
        return self._last_ms

    def _object(
        self,
        record: dict[str, Any],
        props: list[str] | None,
        defaults: Iterable[str],
        with_history: list[str] | None = None,
    ) -> dict[str, Any]:
        stored: dict[str, str] = record["properties"]
        shown: dict[str, str | None]
        if props is None:
            shown = {k: stored.get(k) for k in defaults if k in stored}
        else:
            names = [n for n in [*props, *_ALWAYS_PROPS] if n in self.properties or n in stored]
            shown = {n: stored.get(n) for n in names}
        out: dict[str, Any] = {
            "id": record["id"],
            "properties": shown,
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }
        if with_history:
            history: dict[str, list[dict[str, Any]]] = record.get("history", {})
            out["propertiesWithHistory"] = {
                name: list(history.get(name, ()))
                for name in with_history
                if name in self.properties or name in history
            }
        return out

    @staticmethod
    def _csv_param(request: Request, name: str) -> list[str] | None:
        raw = request.query_params.getlist(name)
        if not raw:
            return None
        return [p.strip() for part in raw for p in part.split(",") if p.strip()]

    def _int_param(self, request: Request, name: str, default: int, maximum: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _bad(f"Invalid input: {name} must be an integer, got '{raw}'") from None
        if not 1 <= value <= maximum:
            raise _bad(f"Invalid input: {name} must be between 1 and {maximum}, got {value}")
        return value

    def _page(
        self, request: Request, records: dict[str, dict[str, Any]], kind: str
    ) -> dict[str, Any]:
        history = self._csv_param(request, "propertiesWithHistory")
        maximum = min(self.list_limit_max, self.history_limit_max) if history else None
        limit = self._int_param(request, "limit", 10, maximum or self.list_limit_max)
        after = request.query_params.get("after")
        ids = sorted(records, key=int)
        if after:
            try:
                cursor = int(after)
            except ValueError:
                raise _bad(f"Invalid after cursor '{after}'") from None
            ids = [i for i in ids if int(i) >= cursor]
        props = self._csv_param(request, "properties")
        assoc = self._csv_param(request, "associations") or []
        defaults = _DEFAULT_SEARCH_PROPS if kind == "contacts" else self._deal_defaults()
        results = []
        for record_id in ids[:limit]:
            item = self._object(records[record_id], props, defaults, history)
            links = self._associations(kind, record_id, assoc)
            if links:
                item["associations"] = links
            results.append(item)
        body: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            nxt = str(int(ids[limit - 1]) + 1)
            link = str(request.url.include_query_params(after=nxt))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return body

    def _deal_defaults(self) -> tuple[str, ...]:
        return ("amount", "closedate", "createdate", "dealname", "dealstage",
                "hs_lastmodifieddate", "hs_object_id", "pipeline")  # fmt: skip

    def _associations(self, kind: str, record_id: str, wanted: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if kind == "deals" and "contacts" in wanted:
            ids = self.deals[record_id]["contacts"]
            rows = [{"id": i, "type": "deal_to_contact"} for i in ids]
            if rows:
                out["contacts"] = {"results": rows}
        if kind == "contacts" and "deals" in wanted:
            rows = [
                {"id": d["id"], "type": "contact_to_deal"}
                for d in self.deals.values()
                if record_id in d["contacts"]
            ]
            if rows:
                out["deals"] = {"results": rows}
        return out

    async def _list_contacts(self, request: Request) -> Response:
        return self._json(self._page(request, self.contacts, "contacts"))

    async def _get_contact(self, request: Request) -> Response:
        record_id = request.path_params["id"]
        if request.query_params.get("idProperty") == "email":
            record_id = self._by_email.get(record_id.lower(), "")
        record = self.contacts.get(record_id)
        if record is None:
            raise _ApiError(404, "Object not found.", "OBJECT_NOT_FOUND")
        props = self._csv_param(request, "properties")
        history = self._csv_param(request, "propertiesWithHistory")
        return self._json(self._object(record, props, _DEFAULT_SEARCH_PROPS, history))

    async def _list_deals(self, request: Request) -> Response:
        return self._json(self._page(request, self.deals, "deals"))

    # -- search --------------------------------------------------------------------------------

    async def _search(self, request: Request) -> Response:
        body = await _body(request, dict)
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= self.search_limit_max:
            raise _bad(f"limit must be between 0 and {self.search_limit_max}, got {limit}")
        try:
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            raise _bad(f"Invalid after: {body.get('after')!r}") from None
        if after + limit > self.search_result_cap:
            raise _bad(
                f"Search results are capped at {self.search_result_cap}; "
                f"after ({after}) + limit ({limit}) is past the cap.",
                subCategory="SEARCH_RESULT_LIMIT_EXCEEDED",
            )
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 6:
            raise _bad("filterGroups must be a list of at most 6 groups")
        matched = [r for r in self.contacts.values() if self._matches(r, groups)]
        query = str(body.get("query") or "").strip().lower()
        if query:
            matched = [
                r
                for r in matched
                if any(query in r["properties"].get(k, "").lower()
                       for k in ("email", "firstname", "lastname", "phone", "company"))
            ]  # fmt: skip
        matched.sort(key=lambda r: int(r["id"]))
        for sort in reversed(body.get("sorts") or []):
            name, descending = self._sort_spec(sort)
            present = [r for r in matched if r["properties"].get(name, "") != ""]
            missing = [r for r in matched if r["properties"].get(name, "") == ""]
            present.sort(key=lambda r: _sort_key(name, r["properties"][name]), reverse=descending)
            matched = present + missing
        props = body.get("properties")
        if props is not None and not isinstance(props, list):
            raise _bad("properties must be a list")
        page = matched[after : after + limit]
        out: dict[str, Any] = {
            "total": len(matched),
            "results": [self._object(r, props or None, _DEFAULT_SEARCH_PROPS) for r in page],
        }
        if after + limit < len(matched):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return self._json(out)

    @staticmethod
    def _sort_spec(sort: Any) -> tuple[str, bool]:
        if isinstance(sort, str):  # the spec types sorts as strings: "-name" or "name"
            return sort.lstrip("-"), sort.startswith("-")
        if isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
            return sort["propertyName"], str(sort.get("direction", "")).upper() == "DESCENDING"
        raise _bad(f"Invalid sort: {sort!r}")

    def _matches(self, record: dict[str, Any], groups: list[Any]) -> bool:
        if not groups:
            return True
        for group in groups:
            filters = group.get("filters", []) if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise _bad("each filterGroup needs a filters list")
            if all(self._filter(record, f) for f in filters):
                return True
        return False

    def _filter(self, record: dict[str, Any], flt: Any) -> bool:
        if not isinstance(flt, dict) or not isinstance(flt.get("propertyName"), str):
            raise _bad(f"Invalid filter: {flt!r}")
        name, op = flt["propertyName"], str(flt.get("operator", "EQ")).upper()
        stored: str = record["properties"].get(name, "")
        if op == "HAS_PROPERTY":
            return stored != ""
        if op == "NOT_HAS_PROPERTY":
            return stored == ""
        if op in ("IN", "NOT_IN"):
            values = flt.get("values")
            if not isinstance(values, list):
                raise _bad(f"operator {op} needs values[]")
            hit = any(_compare(name, stored, v) == 0 for v in values if stored != "")
            return hit if op == "IN" else not hit
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = _as_value(flt.get("value")).lower().strip("*")
            hit = token in stored.lower()
            return hit if op == "CONTAINS_TOKEN" else not hit
        if "value" not in flt:
            raise _bad(f"operator {op} needs a value")
        if op == "NEQ":
            return stored == "" or _compare(name, stored, flt["value"]) != 0
        if stored == "":
            return False
        cmp = _compare(name, stored, flt["value"])
        checks: dict[str, Callable[[int], bool]] = {
            "EQ": lambda c: c == 0,
            "GT": lambda c: c > 0,
            "GTE": lambda c: c >= 0,
            "LT": lambda c: c < 0,
            "LTE": lambda c: c <= 0,
        }
        if op == "BETWEEN":
            return cmp >= 0 and _compare(name, stored, flt.get("highValue")) <= 0
        if op not in checks:
            raise _bad(f"Unknown operator {op}")
        return checks[op](cmp)

    # -- batch ---------------------------------------------------------------------------------

    async def _inputs(self, request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = await _body(request, dict)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise _bad("inputs must be a list of objects")
        if len(inputs) > self.batch_max:
            raise _bad(
                f"Batch input is limited to {self.batch_max} inputs, got {len(inputs)}",
                subCategory="BATCH_TOO_LARGE",
            )
        return body, inputs

    def _batch(
        self, started: str, results: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> Response:
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": _iso(int(self.wall_clock() * 1000)),
            "links": {},
        }
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        return self._json(out, 207 if errors else 200)

    def _not_found_error(self, ids: list[str]) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": ids},
            "errors": [],
            "links": {},
        }

    def _lookup(self, ident: Any, id_property: str | None) -> str | None:
        key = _as_value(ident).strip()
        if id_property == "email":
            return self._by_email.get(key.lower())
        if id_property not in (None, "", "hs_object_id"):
            raise _bad(f"Unsupported idProperty {id_property!r}")
        return key if key in self.contacts else None

    async def _batch_read(self, request: Request) -> Response:
        started = _iso(int(self.wall_clock() * 1000))
        body, inputs = await self._inputs(request)
        id_property = body.get("idProperty")
        props = body.get("properties") or None
        history = body.get("propertiesWithHistory") or None
        if history is not None and not (
            isinstance(history, list) and all(isinstance(h, str) for h in history)
        ):
            raise _bad("propertiesWithHistory must be an array of property names")
        results, missing = [], []
        for item in inputs:
            found = self._lookup(item.get("id"), id_property)
            if found is None:
                missing.append(_as_value(item.get("id")))
            else:
                contact = self.contacts[found]
                results.append(self._object(contact, props, _DEFAULT_SEARCH_PROPS, history))
        return self._batch(started, results, [self._not_found_error(missing)] if missing else [])

    def _validate(self, props: Any, record_id: str | None) -> list[dict[str, Any]]:
        """HubSpot's per-property validation results for a write (empty when valid)."""
        if not isinstance(props, dict):
            raise _bad("properties must be an object")
        problems = []
        for name, raw in props.items():
            value = _as_value(raw)
            definition = self.properties.get(name)
            err: tuple[str, str] | None = None
            if definition is None:
                err = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            elif name in _READ_ONLY:
                msg = f'"{name}" is a read only property; its value cannot be set.'
                err = ("READ_ONLY_VALUE", msg)
            elif value == "":
                err = None
            elif (
                definition["type"] == "enumeration" or definition["fieldType"] == "booleancheckbox"
            ):
                allowed = {o["value"] for o in definition["options"]}
                parts = value.split(";") if definition["fieldType"] == "checkbox" else [value]
                bad = [v for v in parts if v != "" and v not in allowed]
                if bad:
                    err = ("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: "
                           f"{sorted(allowed)}")  # fmt: skip
            elif definition["type"] == "number":
                try:
                    float(value)
                except ValueError:
                    err = ("INVALID_DECIMAL", f"{value} was not a valid number")
            elif name == "email":
                owner = self._by_email.get(value.lower())
                if "@" not in value:
                    err = ("INVALID_EMAIL", f"Email address {value} is invalid")
                elif owner is not None and owner != record_id:
                    err = ("CONFLICT", f"Contact already exists. Existing ID: {owner}")
            if err:
                problems.append({"isValid": False, "message": err[1], "error": err[0],
                                 "name": name, "localizedErrorMessage": err[1]})  # fmt: skip
        return problems

    def _invalid(self, problems: list[dict[str, Any]], trace: str | None) -> dict[str, Any]:
        error: dict[str, Any] = {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": f"Property values were not valid: {json.dumps(problems)}",
            "context": {},
            "errors": [],
            "links": {},
        }
        if trace is not None:
            error["context"] = {"objectWriteTraceId": [trace]}
        return error

    def _write(
        self, record_id: str | None, props: dict[str, Any], *, source: str = "API"
    ) -> dict[str, Any]:
        """Create (record_id None) or update a contact; values stored as strings. Each value
        that changes (or every value written, with ``history_on_unchanged_write``) gets a
        history entry, newest first, as ``propertiesWithHistory`` shows them."""
        now = self._now_ms()
        if record_id is None:
            record_id = str(self._next_contact)
            self._next_contact += 1
            record: dict[str, Any] = {"id": record_id, "createdAt": _iso(now), "properties": {
                "hs_object_id": record_id, "createdate": _iso(now)}}  # fmt: skip
            self.contacts[record_id] = record
        record = self.contacts[record_id]
        stored: dict[str, str] = record["properties"]
        for name, raw in props.items():
            value = _as_value(raw)
            if name == "email":
                old = stored.get("email", "").lower()
                if self._by_email.get(old) == record_id:
                    del self._by_email[old]
                value = value.strip().lower()
                if value:
                    self._by_email[value] = record_id
            if stored.get(name, "") != value or self.history_on_unchanged_write:
                entry = {"value": value, "timestamp": _iso(now), "sourceType": source,
                         "sourceId": "segsync-simulator", "updatedByUserId": None}  # fmt: skip
                record.setdefault("history", {}).setdefault(name, []).insert(0, entry)
            if value == "":
                stored.pop(name, None)
            else:
                stored[name] = value
        stored["lastmodifieddate"] = record["updatedAt"] = _iso(now)
        return record

    async def _batch_write(self, request: Request, *, upsert: bool) -> Response:
        started = _iso(int(self.wall_clock() * 1000))
        body, inputs = await self._inputs(request)
        planned: list[tuple[dict[str, Any], str | None, bool]] = []
        errors: list[dict[str, Any]] = []
        missing: list[str] = []
        traced = all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        for item in inputs:
            id_property = item.get("idProperty", body.get("idProperty"))
            if upsert and id_property != "email":
                raise _bad("batch upsert needs idProperty 'email' (a unique property)")
            found = self._lookup(item.get("id"), id_property)
            trace = item.get("objectWriteTraceId")
            if found is None and not upsert:
                missing.append(_as_value(item.get("id")))
                continue
            props = dict(item.get("properties") or {})
            if upsert and found is None:
                props.setdefault("email", _as_value(item.get("id")))
            problems = self._validate(props, found)
            if problems:
                if self.strict_batch_validation and not traced:
                    raise _bad(
                        f"Property values were not valid: {json.dumps(problems)}",
                        errors=[{"message": p["message"], "code": p["error"],
                                 "context": {"propertyName": [p["name"]]}} for p in problems],
                    )  # fmt: skip
                errors.append(self._invalid(problems, trace))
                continue
            planned.append((props, found, found is None))
        results = []
        for props, found, new in planned:
            record = self._write(found, props)
            result = self._object(record, list(props), ())
            if upsert:
                result["new"] = new
            results.append(result)
        self._echo_traces(inputs, results, body)
        if missing:
            errors.append(self._not_found_error(missing))
        return self._batch(started, results, errors)

    def _echo_traces(
        self, inputs: list[dict[str, Any]], results: list[dict[str, Any]], body: dict[str, Any]
    ) -> None:
        by_id: dict[str, str] = {}
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            if not isinstance(trace, str):
                continue
            id_property = item.get("idProperty", body.get("idProperty"))
            found = self._lookup(item.get("id"), id_property)
            if found is not None:
                by_id[found] = trace
        for result in results:
            if result["id"] in by_id:
                result["objectWriteTraceId"] = by_id[result["id"]]

    async def _batch_update(self, request: Request) -> Response:
        return await self._batch_write(request, upsert=False)

    async def _batch_upsert(self, request: Request) -> Response:
        return await self._batch_write(request, upsert=True)

    # -- properties ----------------------------------------------------------------------------

    def _definition(
        self, data: dict[str, Any], now: int, *, hubspot_defined: bool = False
    ) -> dict[str, Any]:
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not data.get(k)
        ]
        if missing:
            raise _bad(f"Missing required fields: {', '.join(missing)}")
        if data["type"] not in _TYPES:
            raise _bad(f"Invalid type {data['type']!r}; one of {sorted(_TYPES)}")
        if data["fieldType"] not in _FIELD_TYPES:
            raise _bad(f"Invalid fieldType {data['fieldType']!r}; one of {sorted(_FIELD_TYPES)}")
        return {
            "name": data["name"],
            "label": data["label"],
            "type": data["type"],
            "fieldType": data["fieldType"],
            "description": data.get("description", ""),
            "groupName": data["groupName"],
            "options": _options(data.get("options") or []),
            "displayOrder": data.get("displayOrder", -1),
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": data.get("hasUniqueValue", data["name"] == "email"),
            "hidden": bool(data.get("hidden", False)),
            "hubspotDefined": hubspot_defined,
            "modificationMetadata": {
                "archivable": not hubspot_defined,
                "readOnlyDefinition": hubspot_defined,
                "readOnlyValue": data["name"] in _READ_ONLY,
            },
            "formField": bool(data.get("formField", False)),
            "createdAt": _iso(now),
            "updatedAt": _iso(now),
            "archived": False,
        }

    def _property(self, request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        if name not in self.properties:
            raise _ApiError(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return self.properties[name]

    async def _get_properties(self, request: Request) -> Response:
        return self._json({"results": list(self.properties.values())})

    async def _get_property(self, request: Request) -> Response:
        return self._json(self._property(request))

    async def _create_property(self, request: Request) -> Response:
        data = await _body(request, dict)
        definition = self._definition(data, self._now_ms())
        if definition["name"] in self.properties:
            raise _ApiError(409, f"Property named '{definition['name']}' already exists.",
                            "OBJECT_ALREADY_EXISTS")  # fmt: skip
        self.properties[definition["name"]] = definition
        return self._json(definition, 201)

    async def _patch_property(self, request: Request) -> Response:
        definition = self._property(request)
        data = await _body(request, dict)
        merged = {**definition, **{k: v for k, v in data.items() if k != "name"}}
        updated = self._definition(merged, self._now_ms())
        for key in ("hubspotDefined", "modificationMetadata", "createdAt"):
            updated[key] = definition[key]
        self.properties[definition["name"]] = updated
        return self._json(updated)

    # -- lists ---------------------------------------------------------------------------------

    def _list_json(self, lst: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in lst.items() if k != "members"}
        out["size"] = len(lst["members"])
        return out

    def _find_list(self, request: Request) -> dict[str, Any]:
        lst = self.lists.get(request.path_params["id"])
        if lst is None:
            raise _ApiError(404, f"List {request.path_params['id']} does not exist.",
                            "OBJECT_NOT_FOUND")  # fmt: skip
        return lst

    async def _create_list(self, request: Request) -> Response:
        data = await _body(request, dict)
        missing = [k for k in ("name", "objectTypeId", "processingType") if not data.get(k)]
        if missing:
            raise _bad(f"Missing required fields: {', '.join(missing)}")
        name, kind = str(data["name"]), data["processingType"]
        if kind not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
            raise _bad(f"Invalid processingType {kind!r}")
        if self.list_id(name) is not None:
            raise _bad(f"A list named '{name}' already exists.", subCategory="ILS_NAME_TAKEN")
        list_id, now = str(self._next_list), _iso(self._now_ms())
        self._next_list += 1
        self.lists[list_id] = {
            "listId": list_id,
            "listVersion": 1,
            "name": name,
            "objectTypeId": str(data["objectTypeId"]),
            "processingStatus": "COMPLETE",
            "processingType": kind,
            "createdAt": now,
            "updatedAt": now,
            "filtersUpdatedAt": now,
            "createdById": "1",
            "updatedById": "1",
            "members": {},
        }
        return self._json({"list": self._list_json(self.lists[list_id])})

    async def _search_lists(self, request: Request) -> Response:
        data = await _body(request, dict)
        query = str(data.get("query") or "").lower()
        count, offset = int(data.get("count", 20)), int(data.get("offset", 0))
        if not 1 <= count <= 500:
            raise _bad("count must be between 1 and 500")
        kinds = data.get("processingTypes") or None
        found = [
            lst
            for lst in self.lists.values()
            if query in lst["name"].lower() and (kinds is None or lst["processingType"] in kinds)
        ]
        page = found[offset : offset + count]
        lists = []
        for lst in page:
            item = self._list_json(lst)
            item["additionalProperties"] = {"hs_list_size": str(len(lst["members"]))}
            lists.append(item)
        return self._json(
            {"lists": lists, "offset": offset + len(page),
             "hasMore": offset + count < len(found), "total": len(found)}
        )  # fmt: skip

    async def _list_by_name(self, request: Request) -> Response:
        list_id = self.list_id(request.path_params["name"])
        if request.path_params["type"] != CONTACTS or list_id is None:
            raise _ApiError(404, f"List with name {request.path_params['name']} does not exist.",
                            "OBJECT_NOT_FOUND")  # fmt: skip
        return self._json({"list": self._list_json(self.lists[list_id])})

    async def _get_list(self, request: Request) -> Response:
        return self._json({"list": self._list_json(self._find_list(request))})

    async def _delete_list(self, request: Request) -> Response:
        del self.lists[self._find_list(request)["listId"]]
        return self._json(None, 204)

    async def _clear_list(self, request: Request) -> Response:
        lst = self._find_list(request)
        lst["members"].clear()
        return self._json(None, 204)

    async def _memberships(self, request: Request) -> Response:
        lst = self._find_list(request)
        limit = self._int_param(request, "limit", 100, self.memberships_limit_max)
        ids = sorted(lst["members"], key=int)
        after = request.query_params.get("after")
        if after:
            try:
                cursor = int(base64.urlsafe_b64decode(after.encode()).decode())
            except ValueError:
                raise _bad(f"Invalid after cursor '{after}'") from None
            ids = [i for i in ids if int(i) > cursor]
        rows = [{"recordId": i, "membershipTimestamp": lst["members"][i]} for i in ids[:limit]]
        body: dict[str, Any] = {"results": rows, "total": len(lst["members"])}
        if len(ids) > limit:
            cursor_text = base64.urlsafe_b64encode(ids[limit - 1].encode()).decode()
            body["paging"] = {"next": {"after": cursor_text}}
        return self._json(body)

    async def _change_members(self, request: Request) -> Response:
        lst = self._find_list(request)
        op = request.path_params["op"]
        if op not in ("add", "remove", "add-and-remove"):
            raise _ApiError(404, f"Unknown membership operation {op}", "OBJECT_NOT_FOUND")
        data = await _body(request, dict if op == "add-and-remove" else list)
        if op == "add-and-remove":
            add, remove = data.get("recordIdsToAdd", []), data.get("recordIdsToRemove", [])
        else:
            add, remove = (data, []) if op == "add" else ([], data)
        if not isinstance(add, list) or not isinstance(remove, list):
            raise _bad("record ids must be arrays")
        if len(add) + len(remove) > self.max_membership_ids:
            raise _bad(
                f"At most {self.max_membership_ids} record ids per call, got "
                f"{len(add) + len(remove)}"
            )
        if lst["processingType"] not in ("MANUAL", "SNAPSHOT"):
            raise _bad(f"List {lst['listId']} is {lst['processingType']}; memberships of "
                       "MANUAL and SNAPSHOT lists only can be changed.")  # fmt: skip
        added: list[str] = []
        removed: list[str] = []
        missing: list[str] = []
        now = _iso(self._now_ms())
        for raw in add:
            rid = _record_id(raw)
            if rid not in self.contacts:
                missing.append(rid)
            elif rid not in lst["members"]:
                lst["members"][rid] = now
                added.append(rid)
        for raw in remove:
            rid = _record_id(raw)
            if rid not in self.contacts:
                missing.append(rid)
            elif rid in lst["members"]:
                del lst["members"][rid]
                removed.append(rid)
        if added or removed:
            lst["updatedAt"] = now
        return self._json(
            {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}
        )

    # -- seeding and inspection ----------------------------------------------------------------

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """One contact per row with an email (lower-cased, first row wins); ids from 101."""
        for row in contacts:
            email = str(row.get("email") or "").strip().lower()
            if not email or email in self._by_email:
                continue
            props = {
                "email": email,
                "firstname": row.get("first_name", ""),
                "lastname": row.get("last_name", ""),
                "phone": row.get("phone", ""),
                "country": row.get("country", ""),
                "city": row.get("city", ""),
                "hs_language": row.get("language", ""),
                "hs_email_optout": "true" if row.get("email_opt_in") == "no" else "false",
            }
            self._write(None, props)

    def seed_deals(self, deals: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add deals: each mapping's ``contacts`` (ids) are associated, the rest are
        properties (e.g. amount, closedate, dealstage). Returns the new deal ids."""
        created = []
        for row in deals:
            now = self._now_ms()
            deal_id = str(self._next_deal)
            self._next_deal += 1
            props = {k: _as_value(v) for k, v in row.items() if k != "contacts"}
            props = {k: v for k, v in props.items() if v != ""}
            props.update(hs_object_id=deal_id, createdate=_iso(now), hs_lastmodifieddate=_iso(now))
            self.deals[deal_id] = {
                "id": deal_id,
                "createdAt": _iso(now),
                "updatedAt": _iso(now),
                "properties": props,
                "contacts": [str(c) for c in row.get("contacts", [])],
            }
            created.append(deal_id)
        return created

    def state(self) -> dict[str, Any]:
        return {
            "contacts": len(self.contacts),
            "deals": len(self.deals),
            "lists": {i: {"name": x["name"], "size": len(x["members"])}
                      for i, x in self.lists.items()},
            "properties": len(self.properties),
        }  # fmt: skip

    def contact_id(self, email: str) -> str | None:
        return self._by_email.get(email.strip().lower())

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The stored contact: ``{"id", "properties", "createdAt", "updatedAt"}``."""
        return self.contacts[contact_id]

    def list_id(self, name: str) -> str | None:
        wanted = name.lower()
        return next((i for i, x in self.lists.items() if x["name"].lower() == wanted), None)

    def list_members(self, list_id: str) -> set[str]:
        return set(self.lists[list_id]["members"])

    def property_values(self, name: str) -> dict[str, str]:
        return {
            i: c["properties"][name]
            for i, c in self.contacts.items()
            if c["properties"].get(name, "") != ""
        }

    def add_contact(self, email: str, **props: Any) -> str:
        record: dict[str, Any] = self._write(None, {"email": email, **props})
        return str(record["id"])

    def set_properties(self, contact_id: str, **props: Any) -> None:
        """Change a contact as a person in HubSpot would (history source ``CRM_UI``)."""
        self._write(contact_id, props, source="CRM_UI")


def _option(value: str, label: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "hidden": False, "displayOrder": order,
            "description": ""}  # fmt: skip


def _options(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _bad("options must be a list")
    out = []
    for i, opt in enumerate(raw):
        if not isinstance(opt, dict) or "label" not in opt or "value" not in opt:
            raise _bad(f"Option {i} needs a label and a value")
        out.append(
            {
                "label": str(opt["label"]),
                "value": str(opt["value"]),
                "hidden": bool(opt.get("hidden", False)),
                "displayOrder": opt.get("displayOrder", i),
                "description": str(opt.get("description", "")),
            }
        )
    return out


def _record_id(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _bad(f"Invalid record id {raw!r}")
    return str(raw).strip()


def _sort_key(name: str, value: str) -> tuple[int, float, str]:
    if name in _DATE_PROPS or name.endswith("date"):
        ms = _to_ms(value)
        if ms is not None:
            return (0, ms, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value.lower())


def _compare(name: str, stored: str, value: Any) -> int:
    """-1, 0 or 1: the stored value against a filter value (dates and numbers numerically)."""
    a, b = _sort_key(name, stored), _sort_key(name, _as_value(value))
    if a[0] == b[0] == 0:
        return (a[1] > b[1]) - (a[1] < b[1])
    x, y = stored.lower(), _as_value(value).lower()
    return (x > y) - (x < y)


async def _body(request: Request, kind: type) -> Any:
    try:
        data = json.loads(await request.body() or b"null")
    except ValueError:
        raise _bad("Invalid input JSON on line 1: the body is not valid JSON") from None
    if not isinstance(data, kind):
        raise _bad(f"Invalid input JSON: expected a JSON {'object' if kind is dict else 'array'}")
    return data
