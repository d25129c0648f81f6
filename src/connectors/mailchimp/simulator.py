"""A simulator of the Mailchimp Marketing API v3 where segsync touches it.

Faithful to ``/work/shared/reference/platform-apis.md`` §2. Served routes (all under ``/3.0``):

* ``GET /`` (account root) and ``GET /ping`` → ``{"health_status": "Everything's Chimpy!"}``.
* Audiences: ``GET /lists`` and ``GET /lists/{list_id}`` (with computed ``stats``).
* Members: ``GET /lists/{id}/members?count≤1000&offset&status&since_last_changed&
  before_last_changed&since_timestamp_opt&before_timestamp_opt&unique_email_id&vip_only&
  email_type&sort_field&sort_dir`` → ``{"members", "list_id", "total_items", "_links"}``;
  archived members are listed only with ``status=archived``. ``GET|PUT|PATCH|DELETE
  /lists/{id}/members/{hash}`` where ``hash`` is ``md5(email.lower())`` (a raw email is also
  accepted); ``PUT`` requires ``email_address`` and ``status_if_new`` and the hash must be the
  email's; ``DELETE`` archives (204); ``POST /lists/{id}/members`` creates (an existing member
  → 400 "Member Exists"); ``POST .../members/{hash}/actions/delete-permanent`` (204).
* Batch subscribe: ``POST /lists/{id}`` ``{"members": [...] (≤ 500), "update_existing"}`` →
  ``{"new_members", "updated_members", "errors": [{"email_address", "error", "error_code",
  "field", "field_message"}], "total_created", "total_updated", "error_count", "_links"}``.
* Tags: ``POST /lists/{id}/members/{hash}/tags`` ``{"tags": [{"name", "status"}]}`` → 204 with
  an empty body (an ``active`` unknown tag is created); ``GET .../members/{hash}/tags``.
* Tags are static segments: ``GET|POST /lists/{id}/segments`` (``type`` filter; a duplicate
  name → 400), ``GET|PATCH|DELETE /lists/{id}/segments/{segment_id}``, ``POST
  /lists/{id}/segments/{segment_id}`` with ``members_to_add``/``members_to_remove`` (≤ 500
  each) → ``{"members_added", "members_removed", "errors": [{"email_addresses", "error"}],
  "total_added", "total_removed", "error_count", "_links"}``, ``GET
  .../segments/{segment_id}/members?count≤1000&offset&include_cleaned&include_transactional&
  include_unsubscribed`` and ``GET /lists/{id}/tag-search?name=<prefix>``.
* Merge fields: ``GET|POST /lists/{id}/merge-fields`` (``type``/``required`` filters).
* E-commerce: ``GET /ecommerce/stores``, ``GET /ecommerce/stores/{store_id}``, ``GET
  /ecommerce/stores/{store_id}/orders?count≤1000&offset&customer_id`` and ``GET
  /ecommerce/orders`` (every store's orders). Unknown query parameters are ignored.
* ``fields`` and ``exclude_fields`` (comma-separated dotted paths, lists walked through, e.g.
  ``members.email_address,total_items``) apply to every successful JSON answer.
* Auth: HTTP Basic with any user name and the API key as password (``Bearer``/``OAuth`` with a
  registered token also works). The key's data centre is its suffix after the last ``-``; when
  the request host's first label is a data centre (``us\\d+``) and differs, the answer is 401
  "API Key Invalid", as for an unknown key; no key → 401 "API Key Missing".
* Every error is a problem document, ``Content-Type: application/problem+json;
  charset=utf-8``, ``{"type", "title", "status", "detail", "instance"}`` with ``instance`` equal
  to the ``X-Request-Id`` header every answer carries; unknown paths → 404, a known path with
  another method → 405. Successes are ``application/json; charset=utf-8``.
* Limits: ``concurrency`` simultaneous requests per account (10) → 429 "You have exceeded the
  limit of 10 simultaneous connections."; no rate-limit headers and no ``Retry-After``. Faults
  come from the base :class:`~segsync.testing.simulator.Faults`; an injected 403 is bare (no
  body), as seen under heavy load, every other status a problem document.

Behaviours the reference marks "(inferred)" or leaves open, each a constructor argument:

* ``concurrency`` (10) — simultaneous connections per account before 429.
* ``count_max`` (1000) and ``count_over_max`` (``"error"``) — whether a ``count`` above the
  max is a 400 or silently clamped (``"clamp"``).
* ``batch_subscribe_max`` / ``segment_members_max`` (500) — sizes past which the call is 400.
* ``report_unknown_segment_emails`` (False) — the spec says emails not on the audience are
  ignored by ``POST /segments/{id}``; True reports them in ``errors`` instead.
* ``since_inclusive`` (False) — whether ``since_*`` filters keep records changed exactly at
  the given second (the docs say "after"); ``before_*`` filters are always strict.
* ``tag_changes_bump_last_changed`` (False) — whether tagging a member moves its
  ``last_changed`` (and so shows up in a ``since_last_changed`` pull).
* ``validation_field_errors`` (True) — 400 "Invalid Resource" answers carry ``errors[{field,
  message}]``.
* ``reject_unknown_merge_fields`` (True) — a merge tag the audience does not define is a 400
  (``skip_merge_validation=true`` bypasses it and the required-field check).
* ``default_merge_fields`` (FNAME, LNAME, ADDRESS, PHONE, BIRTHDAY) — a new audience's fields.
* ``check_datacenter`` (True) — the host-vs-key data-centre check.

Simplifications: one Mailchimp account shared by every key (the concurrency cap is per
``account`` given to :meth:`MailchimpSimulator.add_credential`); tag names match exactly;
saved segments are stored but never evaluated; interests, campaigns, notes, activity and
``/batches`` are not simulated; a segment's ``member_count`` counts subscribed members.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from segsync.testing.simulator import Faults, RateLimit, Simulator

__all__ = ["DEFAULT_API_KEY", "MailchimpSimulator", "subscriber_hash"]

DEFAULT_API_KEY = "sandbox0000000000000000000000000-us1"  # a public test key for the simulator
API = "/3.0"
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
_JSON_CT = "application/json; charset=utf-8"
_PROBLEM_CT = "application/problem+json; charset=utf-8"
_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
_LISTABLE = (*_STATUSES, "archived")
_DC = re.compile(r"^us\d+$")
_KEY_DC = re.compile(r"^[a-z]+\d+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INVALID = (
    "The resource submitted could not be validated. For field-specific details, "
    "see the 'errors' array."
)
_BLANK = "This value should not be blank."
# tag: (name, type, options) of the fields a new audience has
_MERGE_FIELDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "FNAME": ("First Name", "text", {"size": 25}),
    "LNAME": ("Last Name", "text", {"size": 25}),
    "ADDRESS": ("Address", "address", {"default_country": 164}),
    "PHONE": ("Phone Number", "phone", {"phone_format": "none"}),
    "BIRTHDAY": ("Birthday", "birthday", {"date_format": "MM/DD"}),
}
_MERGE_TYPES = {"text", "number", "address", "phone", "date", "url", "imageurl", "radio",
                "dropdown", "birthday", "zip"}  # fmt: skip

Handler = Callable[[Request], Awaitable[Response]]
Render = Callable[[Request | None, dict[str, Any]], dict[str, Any]]


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased email address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _epoch(text: str, field: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{field} must be an ISO 8601 time, got '{text}'", field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _key_dc(key: str) -> str | None:
    dc = key.rpartition("-")[2] if "-" in key else ""
    return dc if _KEY_DC.match(dc) else None


class _ApiError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


def _invalid(detail: str, field: str | None = None, message: str | None = None) -> _ApiError:
    errors = None if field is None else [{"field": field, "message": message or detail}]
    return _ApiError(400, "Invalid Resource", detail, errors)


def _invalid_fields(errors: list[dict[str, str]]) -> _ApiError:
    return _ApiError(400, "Invalid Resource", _INVALID, errors)


def _not_found() -> _ApiError:
    return _ApiError(404, "Resource Not Found", "The requested resource could not be found.")


def _select(value: Any, paths: list[list[str]]) -> Any:
    """Keep only ``paths`` (lists of keys; arrays are walked through)."""
    if any(not p for p in paths):
        return value
    if isinstance(value, list):
        return [_select(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in value.items():
        subs = [p[1:] for p in paths if p[0] == key]
        if subs:
            out[key] = _select(sub, subs)
    return out


def _drop(value: Any, paths: list[list[str]]) -> Any:
    """Remove ``paths`` (lists of keys; arrays are walked through)."""
    if isinstance(value, list):
        return [_drop(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in value.items():
        subs = [p[1:] for p in paths if p[0] == key]
        if any(not s for s in subs):
            continue
        out[key] = _drop(sub, subs) if subs else sub
    return out


def _paths(raw: str | None) -> list[list[str]]:
    return [p.strip().split(".") for p in (raw or "").split(",") if p.strip()]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").strip().lower() == "true"


def _same(request: Request | None, item: dict[str, Any]) -> dict[str, Any]:
    return item


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _ApiError(
            400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
        )
    return data


class MailchimpSimulator(Simulator):
    name = "mailchimp"

    def __init__(
        self,
        *,
        seed: int = 0,
        concurrency: int | None = 10,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        count_max: int = 1000,
        count_over_max: Literal["error", "clamp"] = "error",
        batch_subscribe_max: int = 500,
        segment_members_max: int = 500,
        report_unknown_segment_emails: bool = False,
        since_inclusive: bool = False,
        tag_changes_bump_last_changed: bool = False,
        validation_field_errors: bool = True,
        reject_unknown_merge_fields: bool = True,
        default_merge_fields: Iterable[str] = tuple(_MERGE_FIELDS),
        check_datacenter: bool = True,
    ) -> None:
        super().__init__(
            seed=seed, rate_limit=RateLimit(concurrency=concurrency), faults=faults, clock=clock
        )
        self.wall_clock = wall_clock
        self.count_max = count_max
        self.count_over_max = count_over_max
        self.batch_subscribe_max = batch_subscribe_max
        self.segment_members_max = segment_members_max
        self.report_unknown_segment_emails = report_unknown_segment_emails
        self.since_inclusive = since_inclusive
        self.tag_changes_bump_last_changed = tag_changes_bump_last_changed
        self.validation_field_errors = validation_field_errors
        self.reject_unknown_merge_fields = reject_unknown_merge_fields
        self.default_merge_fields = tuple(default_merge_fields)
        unknown = [t for t in self.default_merge_fields if t not in _MERGE_FIELDS]
        if unknown:
            raise ValueError(f"unknown default merge fields: {', '.join(unknown)}")
        self.check_datacenter = check_datacenter
        self._ids = random.Random(f"mailchimp-ids-{seed}")  # noqa: S311 - ids, not secrets
        self._request_ids = random.Random(f"mailchimp-requests-{seed}")  # noqa: S311
        self._used_ids: set[int] = set()
        self.lists: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}  # list id → hash → record
        self.merge_fields: dict[str, list[dict[str, Any]]] = {}
        self.segments: dict[str, dict[int, dict[str, Any]]] = {}  # list id → id → segment
        self.stores: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, dict[str, Any]]] = {}  # store id → order id → order
        self._default_list: str | None = None
        self._routes: list[BaseRoute] = []

    # -- credentials ---------------------------------------------------------------------------

    def add_credential(self, secret: str, account: str = "default") -> None:
        """Add an API key (``<hex>-us<N>``) or OAuth token. Every key shares one account's
        concurrency cap unless given its own ``account``."""
        super().add_credential(secret, account)

    def credentials_for_sandbox(self) -> dict[str, str]:
        """``{"api_key", "server"}``, adding :data:`DEFAULT_API_KEY` if there is no key."""
        if not self._credentials:
            self.add_credential(DEFAULT_API_KEY)
        key = next(iter(self._credentials))
        return {"api_key": key, "server": _key_dc(key) or "us1"}

    def sandbox_settings(self) -> dict[str, str]:
        """The audience the sandbox seeded: ``{"list_id"}``."""
        return {"list_id": self.default_list_id()}

    @staticmethod
    def _presented_key(request: Request) -> str | None:
        """The key or token a request carries: None when absent, "" when unreadable."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic":
            try:
                return base64.b64decode(value, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return ""
        return value if scheme in ("bearer", "oauth") else None

    def _auth_failure(self, request: Request) -> str | None:
        """Why a request is refused ("missing" or "invalid"), or None."""
        key = self._presented_key(request)
        if not key:
            return "missing" if key is None else "invalid"
        if key not in self._credentials:
            return "invalid"
        host_dc, key_dc = (request.url.hostname or "").split(".")[0].lower(), _key_dc(key)
        if self.check_datacenter and _DC.match(host_dc) and key_dc and key_dc != host_dc:
            return "invalid"
        return None

    def authenticate(self, request: Request) -> str | None:
        if self._auth_failure(request) is not None:
            return None
        return self._credentials.get(self._presented_key(request) or "")

    # -- responses -----------------------------------------------------------------------------

    def _request_id(self) -> str:
        return str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))

    def _base(self, request: Request | None) -> str:
        key = self._presented_key(request) if request is not None else None
        return f"https://{(_key_dc(key) if key else None) or 'us1'}.api.mailchimp.com"

    def _links(self, request: Request | None, path: str, schema: str) -> list[dict[str, str]]:
        base = self._base(request)
        return [{"rel": "self", "href": f"{base}{API}{path}", "method": "GET",
                 "targetSchema": f"{base}/schema/3.0/{schema}.json"}]  # fmt: skip

    def _json(self, request: Request, body: Any, status: int = 200) -> Response:
        headers = {"X-Request-Id": self._request_id()}
        if body is None:
            return Response(status_code=status, headers=headers, media_type=_JSON_CT)
        include = _paths(request.query_params.get("fields"))
        exclude = _paths(request.query_params.get("exclude_fields"))
        if include:
            body = _select(body, include)
        if exclude:
            body = _drop(body, exclude)
        return Response(json.dumps(body).encode(), status, headers=headers, media_type=_JSON_CT)

    def _collection(
        self,
        request: Request,
        key: str,
        items: list[dict[str, Any]],
        render: Render,
        path: str,
        schema: str,
        **extra: Any,
    ) -> Response:
        """A paged collection answer: ``{key: [...], **extra, "total_items", "_links"}``."""
        page = [render(request, item) for item in self._page(request, items)]
        return self._json(request, {key: page, **extra, "total_items": len(items),
                                    "_links": self._links(request, path, schema)})  # fmt: skip

    def _problem(self, request: Request | None, err: _ApiError) -> Response:
        rid = self._request_id()
        body: dict[str, Any] = {"type": ERRORS_DOC, "title": err.title, "status": err.status,
                                "detail": err.detail, "instance": rid}  # fmt: skip
        if err.errors is not None and self.validation_field_errors:
            body["errors"] = err.errors
        schema = f"{self._base(request)}/schema/3.0/Definitions/ProblemDetailDocument.json"
        headers = {"X-Request-Id": rid, "Link": f'<{schema}>; rel="describedBy"'}
        return Response(json.dumps(body).encode(), err.status, headers, media_type=_PROBLEM_CT)

    def unauthorized_response(self, request: Request) -> Response:
        if self._auth_failure(request) == "missing":
            err = _ApiError(401, "API Key Missing", "Your request did not include an API key.")
        else:
            detail = (
                "Your API key may be invalid, or you've attempted to access the wrong datacenter."
            )
            err = _ApiError(401, "API Key Invalid", detail)
        return self._problem(request, err)

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        limit = self.rate_limit.concurrency or 10
        detail = f"You have exceeded the limit of {limit} simultaneous connections."
        return self._problem(request, _ApiError(429, "Too Many Requests", detail))

    def error_response(self, request: Request, status: int) -> Response:
        if status == 403:  # a bare 403, as seen under heavy load
            return Response(status_code=403, headers={"X-Request-Id": self._request_id()})
        known = {
            500: ("Internal Server Error", "An unexpected internal error has occurred. "
                  "Please contact Support for more information."),
            502: ("Bad Gateway", "The server received an invalid response from upstream."),
            503: ("Service Unavailable", "This method has been disabled."),
        }  # fmt: skip
        title, detail = known.get(status, ("Error", "An unexpected error has occurred."))
        return self._problem(request, _ApiError(status, title, detail))

    def _endpoint(self, handler: Handler) -> Handler:
        """Wrap a route: its :class:`_ApiError` becomes a problem document."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except _ApiError as err:
                return self._problem(request, err)

        return endpoint

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        e, ls = self._endpoint, f"{API}/lists/{{list_id}}"
        m, seg, st = f"{ls}/members/{{hash}}", f"{ls}/segments", f"{API}/ecommerce/stores"
        table: list[tuple[str, str, Handler]] = [
            ("GET", f"{API}/", self._root),
            ("GET", f"{API}/ping", self._ping),
            ("GET", f"{API}/lists", self._get_lists),
            ("GET", ls, self._get_list),
            ("POST", ls, self._batch_subscribe),
            ("GET", f"{ls}/members", self._list_members),
            ("POST", f"{ls}/members", self._create_member),
            ("GET", m, self._get_member),
            ("PUT", m, self._put_member),
            ("PATCH", m, self._patch_member),
            ("DELETE", m, self._archive_member),
            ("POST", f"{m}/actions/delete-permanent", self._delete_member),
            ("GET", f"{m}/tags", self._get_member_tags),
            ("POST", f"{m}/tags", self._post_member_tags),
            ("GET", f"{ls}/merge-fields", self._get_merge_fields),
            ("POST", f"{ls}/merge-fields", self._create_merge_field),
            ("GET", seg, self._get_segments),
            ("POST", seg, self._create_segment),
            ("GET", f"{seg}/{{segment_id}}", self._get_segment),
            ("PATCH", f"{seg}/{{segment_id}}", self._patch_segment),
            ("DELETE", f"{seg}/{{segment_id}}", self._delete_segment),
            ("POST", f"{seg}/{{segment_id}}", self._segment_batch),
            ("GET", f"{seg}/{{segment_id}}/members", self._segment_members),
            ("GET", f"{ls}/tag-search", self._tag_search),
            ("GET", st, self._get_stores),
            ("GET", f"{st}/{{store_id}}", self._get_store),
            ("GET", f"{st}/{{store_id}}/orders", self._get_orders),
            ("GET", f"{API}/ecommerce/orders", self._get_all_orders),
        ]
        self._routes = [Route(path, e(h), methods=[method]) for method, path, h in table]
        every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*self._routes, Route("/{path:path}", e(self._no_route), methods=every)]

    async def _no_route(self, request: Request) -> Response:
        if any(r.matches(request.scope)[0] == Match.PARTIAL for r in self._routes):
            detail = ("The requested method and resource are not compatible. See the Allow "
                      "header for this resource's available methods.")  # fmt: skip
            raise _ApiError(405, "Method Not Allowed", detail)
        raise _not_found()

    # -- request helpers -----------------------------------------------------------------------

    def _now(self) -> float:
        return self.wall_clock()

    def _new_int_id(self, low: int, high: int) -> int:
        while True:
            value = self._ids.randrange(low, high)
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _hex_id(self) -> str:
        return f"{self._ids.getrandbits(40):010x}"

    def _int_param(self, request: Request, name: str, default: int, maximum: int | None) -> int:
        raw = request.query_params.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid(f"{name} must be an integer, got '{raw}'", name) from None
        if value < 0:
            raise _invalid(f"{name} must not be negative, got {value}", name)
        if maximum is not None and value > maximum:
            if self.count_over_max == "clamp":
                return maximum
            raise _invalid(f"{name} must be less than or equal to {maximum}, got {value}", name)
        return value

    def _page(self, request: Request, items: list[Any]) -> list[Any]:
        count = self._int_param(request, "count", 10, self.count_max)
        offset = self._int_param(request, "offset", 0, None)
        return items[offset : offset + count]

    def _list(self, request: Request) -> dict[str, Any]:
        lst = self.lists.get(request.path_params["list_id"])
        if lst is None:
            raise _not_found()
        return lst

    def _hash_param(self, request: Request) -> str:
        raw: str = request.path_params["hash"]
        return subscriber_hash(raw) if "@" in raw else raw.lower()

    def _record(self, request: Request) -> dict[str, Any]:
        record = self.members[self._list(request)["id"]].get(self._hash_param(request))
        if record is None:
            raise _not_found()
        return record

    def _segment(self, request: Request) -> dict[str, Any]:
        lst = self._list(request)
        try:
            segment = self.segments[lst["id"]].get(int(request.path_params["segment_id"]))
        except ValueError:
            segment = None
        if segment is None:
            raise _not_found()
        return segment

    # -- account -------------------------------------------------------------------------------

    async def _root(self, request: Request) -> Response:
        subscribed = sum(1 for ms in self.members.values() for r in ms.values()
                         if r["status"] == "subscribed")  # fmt: skip
        return self._json(request, {
            "account_id": f"{self.seed:024x}", "login_id": "1", "account_name": "segsync",
            "email": "sandbox@example.org", "first_name": "Sandbox", "last_name": "User",
            "username": "sandbox", "role": "owner", "total_subscribers": subscribed,
            "_links": self._links(request, "/", "Root"),
        })  # fmt: skip

    async def _ping(self, request: Request) -> Response:
        return self._json(request, {"health_status": "Everything's Chimpy!"})

    # -- audiences -----------------------------------------------------------------------------

    def _list_json(self, request: Request | None, lst: dict[str, Any]) -> dict[str, Any]:
        records = list(self.members[lst["id"]].values())

        def n(status: str) -> int:
            return sum(1 for r in records if r["status"] == status)

        subs = [r["timestamp_opt"] for r in records if r["status"] == "subscribed"]
        stats = {
            "member_count": n("subscribed"), "unsubscribe_count": n("unsubscribed"),
            "cleaned_count": n("cleaned"), "total_contacts": len(records) - n("archived"),
            "member_count_since_send": n("subscribed"),
            "unsubscribe_count_since_send": n("unsubscribed"),
            "cleaned_count_since_send": n("cleaned"), "campaign_count": 0,
            "campaign_last_sent": "", "merge_field_count": len(self.merge_fields[lst["id"]]),
            "avg_sub_rate": 0, "avg_unsub_rate": 0, "target_sub_rate": 0, "open_rate": 0,
            "click_rate": 0, "last_sub_date": max(subs, default=""), "last_unsub_date": "",
        }  # fmt: skip
        links = self._links(request, f"/lists/{lst['id']}", "Lists/Instance")
        return {**lst, "stats": stats, "_links": links}

    async def _get_lists(self, request: Request) -> Response:
        constraints = {"may_create": True, "max_instances": -1,
                       "current_total_instances": len(self.lists)}  # fmt: skip
        return self._collection(request, "lists", list(self.lists.values()), self._list_json,
                                "/lists", "Lists/Collection", constraints=constraints)  # fmt: skip

    async def _get_list(self, request: Request) -> Response:
        return self._json(request, self._list_json(request, self._list(request)))

    # -- members -------------------------------------------------------------------------------

    def _tags_of(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": s["id"], "name": s["name"], "date_added": s["members"][record["id"]]}
                for s in self.segments[record["list_id"]].values()
                if s["type"] == "static" and record["id"] in s["members"]]  # fmt: skip

    def _member_json(self, request: Request | None, record: dict[str, Any]) -> dict[str, Any]:
        list_id = record["list_id"]
        tags = [{"id": t["id"], "name": t["name"]} for t in self._tags_of(record)]
        merge = {f["tag"]: record["merge_fields"].get(f["tag"], "")
                 for f in self.merge_fields[list_id]}  # fmt: skip
        out = {**record, "merge_fields": merge, "tags_count": len(tags), "tags": tags}
        path = f"/lists/{list_id}/members/{record['id']}"
        out["_links"] = self._links(request, path, "Lists/Members/Instance")
        return out

    def _validate_write(
        self, list_id: str, data: dict[str, Any], existing: dict[str, Any] | None, skip: bool
    ) -> list[dict[str, str]]:
        """Field errors of a member write: statuses, email, merge fields (unknown tags,
        numbers, required fields left blank); ``skip`` is ``skip_merge_validation``."""
        errors = [{"field": k, "message": f"Invalid status '{data[k]}'; one of "
                   f"{', '.join(_STATUSES)}"} for k in ("status", "status_if_new")
                  if k in data and data[k] not in _STATUSES]  # fmt: skip
        email = data.get("email_address")
        if email is not None and (not isinstance(email, str) or not _EMAIL.match(email.strip())):
            errors.append({"field": "email_address",
                           "message": "Please provide a valid email address."})  # fmt: skip
        values = data.get("merge_fields", {})
        if not isinstance(values, dict):
            message = "Data did not match any of the schemas described in anyOf."
            return [*errors, {"field": "merge_fields", "message": message}]
        if skip:
            return errors
        defs = {f["tag"]: f for f in self.merge_fields[list_id]}
        for tag, value in values.items():
            definition = defs.get(tag)
            if definition is None:
                if self.reject_unknown_merge_fields:
                    message = f"Merge field {tag} does not exist on this audience."
                    errors.append({"field": tag, "message": message})
            elif definition["type"] == "number" and value not in ("", None):
                try:
                    float(value)
                except (TypeError, ValueError):
                    errors.append({"field": tag, "message": "Please enter a number"})
        merged = {**(existing or {}).get("merge_fields", {}), **values}
        errors += [{"field": f["tag"], "message": _BLANK} for f in defs.values()
                   if f["required"] and merged.get(f["tag"]) in ("", None)]  # fmt: skip
        return errors

    def _write_member(
        self, list_id: str, data: dict[str, Any], existing: dict[str, Any] | None, status: str
    ) -> dict[str, Any]:
        """Create (``existing`` None) or update a member; ``status`` is its new status."""
        now = _ts(self._now())
        record: dict[str, Any]
        if existing is None:
            email = str(data["email_address"]).strip()
            record = {
                "id": subscriber_hash(email), "email_address": email,
                "unique_email_id": self._hex_id(), "web_id": self._new_int_id(10**8, 10**9),
                "email_type": "html", "status": "", "merge_fields": {}, "interests": {},
                "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "",
                "timestamp_signup": "", "ip_opt": "", "timestamp_opt": "", "member_rating": 2,
                "last_changed": now, "language": "", "vip": False, "email_client": "",
                "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                             "country_code": "", "timezone": "", "region": ""},
                "source": "API - Generic", "list_id": list_id,
            }  # fmt: skip
            self.members[list_id][record["id"]] = record
        else:
            record = existing
        new_email = data.get("email_address")
        if isinstance(new_email, str) and subscriber_hash(new_email) != record["id"]:
            self._rehash(list_id, record, new_email.strip())
        if status in ("subscribed", "pending") and record["status"] != status:
            record["timestamp_opt"] = now
        record["status"] = status
        for key in ("language", "email_type"):
            if isinstance(data.get(key), str):
                record[key] = data[key]
        if "vip" in data:
            record["vip"] = bool(data["vip"])
        if isinstance(data.get("merge_fields"), dict):
            record["merge_fields"].update(data["merge_fields"])
        record["last_changed"] = now
        return record

    def _rehash(self, list_id: str, record: dict[str, Any], email: str) -> None:
        """A member's email changed: move it (and its tags) to the new hash."""
        members, new_hash, old = self.members[list_id], subscriber_hash(email), record["id"]
        if new_hash in members:
            raise _ApiError(400, "Member Exists", f"{email} is already a list member.")
        record.update(id=new_hash, email_address=email)
        members[new_hash] = members.pop(old)
        for segment in self.segments[list_id].values():
            if old in segment["members"]:
                segment["members"][new_hash] = segment["members"].pop(old)

    def _bounds(self, bound: float, since: bool) -> tuple[str, str]:
        """The stamps (whole seconds, one format, so they compare as strings) a ``since_*``
        or ``before_*`` filter keeps, as an inclusive (low, high) range."""
        if since:
            first = math.ceil(bound) if self.since_inclusive else math.floor(bound) + 1
            return _ts(first), "~"
        return "", _ts(math.ceil(bound) - 1)

    async def _list_members(self, request: Request) -> Response:
        lst, q = self._list(request), request.query_params
        records = list(self.members[lst["id"]].values())
        status = q.get("status")
        if status and status not in _LISTABLE:
            raise _invalid(f"Invalid status '{status}'", "status")
        if status:
            records = [r for r in records if r["status"] == status]
        else:
            records = [r for r in records if r["status"] != "archived"]
        for param, key, since in (
            ("since_last_changed", "last_changed", True),
            ("before_last_changed", "last_changed", False),
            ("since_timestamp_opt", "timestamp_opt", True),
            ("before_timestamp_opt", "timestamp_opt", False),
        ):
            if q.get(param):
                low, high = self._bounds(_epoch(q[param], param), since)
                records = [r for r in records if r[key] and low <= r[key] <= high]
        for param in ("unique_email_id", "email_type"):
            if q.get(param):
                records = [r for r in records if r[param] == q[param]]
        if _flag(request, "vip_only"):
            records = [r for r in records if r["vip"]]
        sort_field = q.get("sort_field")
        if sort_field:
            if sort_field not in ("timestamp_opt", "timestamp_signup", "last_changed"):
                raise _invalid(f"Invalid sort_field '{sort_field}'", "sort_field")
            descending = q.get("sort_dir", "ASC").upper() == "DESC"
            records.sort(key=lambda r: str(r[sort_field]), reverse=descending)
        return self._collection(request, "members", records, self._member_json,
                                f"/lists/{lst['id']}/members", "Lists/Members/Collection",
                                list_id=lst["id"])  # fmt: skip

    async def _get_member(self, request: Request) -> Response:
        return self._json(request, self._member_json(request, self._record(request)))

    async def _put_member(self, request: Request) -> Response:
        lst = self._list(request)
        data = await _body(request)
        missing = [k for k in ("email_address", "status_if_new") if not data.get(k)]
        if missing:
            raise _invalid_fields([{"field": k, "message": _BLANK} for k in missing])
        wanted = self._hash_param(request)
        existing = self.members[lst["id"]].get(wanted)
        errors = self._validate_write(
            lst["id"], data, existing, _flag(request, "skip_merge_validation")
        )
        if errors:
            raise _invalid_fields(errors)
        if subscriber_hash(str(data["email_address"])) != wanted:
            detail = "The subscriber hash in the URL does not match the email_address."
            raise _invalid(detail, "email_address")
        if existing is None or existing["status"] == "archived":
            status = str(data["status_if_new"])
        else:
            status = str(data.get("status") or existing["status"])
        record = self._write_member(lst["id"], data, existing, status)
        return self._json(request, self._member_json(request, record))

    async def _patch_member(self, request: Request) -> Response:
        record = self._record(request)
        data = await _body(request)
        skip = _flag(request, "skip_merge_validation")
        errors = self._validate_write(record["list_id"], data, record, skip)
        if errors:
            raise _invalid_fields(errors)
        status = str(data.get("status") or record["status"])
        record = self._write_member(record["list_id"], data, record, status)
        return self._json(request, self._member_json(request, record))

    async def _create_member(self, request: Request) -> Response:
        lst = self._list(request)
        data = await _body(request)
        missing = [k for k in ("email_address", "status") if not data.get(k)]
        if missing:
            raise _invalid_fields([{"field": k, "message": _BLANK} for k in missing])
        errors = self._validate_write(
            lst["id"], data, None, _flag(request, "skip_merge_validation")
        )
        if errors:
            raise _invalid_fields(errors)
        email = str(data["email_address"]).strip()
        existing = self.members[lst["id"]].get(subscriber_hash(email))
        if existing is not None and existing["status"] != "archived":
            detail = f"{email} is already a list member. Use PUT to insert or update list members."
            raise _ApiError(400, "Member Exists", detail)
        record = self._write_member(lst["id"], data, existing, str(data["status"]))
        for name in data.get("tags") or []:
            self._tag(lst["id"], record["id"], str(name), True)
        return self._json(request, self._member_json(request, record))

    async def _archive_member(self, request: Request) -> Response:
        record = self._record(request)
        if record["status"] == "archived":
            raise _not_found()
        record.update(status="archived", last_changed=_ts(self._now()))
        return self._json(request, None, 204)

    async def _delete_member(self, request: Request) -> Response:
        record = self._record(request)
        del self.members[record["list_id"]][record["id"]]
        for segment in self.segments[record["list_id"]].values():
            segment["members"].pop(record["id"], None)
        return self._json(request, None, 204)

    # -- batch subscribe -----------------------------------------------------------------------

    async def _batch_subscribe(self, request: Request) -> Response:
        lst = self._list(request)
        data = await _body(request)
        rows = data.get("members")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _invalid("members must be an array of objects", "members")
        if len(rows) > self.batch_subscribe_max:
            detail = (
                f"You may add up to {self.batch_subscribe_max} members per call, not {len(rows)}."
            )
            raise _invalid(detail, "members")
        update, skip = bool(data.get("update_existing")), _flag(request, "skip_merge_validation")
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for row in rows:
            email = str(row.get("email_address") or "").strip()
            existing = self.members[lst["id"]].get(subscriber_hash(email)) if email else None
            live = existing is not None and existing["status"] != "archived"
            problems = self._validate_write(lst["id"], row, existing if live else None, skip)
            for key in ("email_address", "status"):
                if not row.get(key):
                    problems.insert(0, {"field": key, "message": _BLANK})
            if problems:
                first = problems[0]
                error = (f"{email} looks fake or invalid, please enter a real email address."
                         if first["field"] == "email_address" else first["message"])  # fmt: skip
                errors.append({"email_address": email, "error": error, "error_code":
                               "ERROR_GENERIC", "field": first["field"],
                               "field_message": first["message"]})  # fmt: skip
            elif live and not update:
                errors.append({"email_address": email, "error": f"{email} is already a list "
                               "member. Use PUT to insert or update list members.",
                               "error_code": "ERROR_CONTACT_EXISTS", "field": "",
                               "field_message": ""})  # fmt: skip
            else:
                record = self._write_member(lst["id"], row, existing, str(row["status"]))
                (updated if live else created).append(self._member_json(request, record))
        return self._json(request, {
            "new_members": created, "updated_members": updated, "errors": errors,
            "total_created": len(created), "total_updated": len(updated),
            "error_count": len(errors),
            "_links": self._links(request, f"/lists/{lst['id']}", "Lists/BatchPOST"),
        })  # fmt: skip

    # -- tags and segments ---------------------------------------------------------------------

    def _find_segment(self, list_id: str, name: str) -> dict[str, Any] | None:
        return next((s for s in self.segments[list_id].values() if s["name"] == name), None)

    def _new_segment(self, list_id: str, name: str, options: Any = None) -> dict[str, Any]:
        """A static segment (a tag), or a saved one when ``options`` are given."""
        now = _ts(self._now())
        segment: dict[str, Any] = {
            "id": self._new_int_id(10_000, 10_000_000), "name": name,
            "type": "static" if options is None else "saved", "created_at": now,
            "updated_at": now, "list_id": list_id, "members": {},
        }  # fmt: skip
        if options is not None:
            segment["options"] = options
        self.segments[list_id][segment["id"]] = segment
        return segment

    def _tag(self, list_id: str, member: str, name: str, active: bool) -> None:
        """Add (``active``) or remove a tag; an unknown active tag is created."""
        segment = self._find_segment(list_id, name)
        if segment is None:
            if not active:
                return
            segment = self._new_segment(list_id, name)
        now = _ts(self._now())
        if active and member not in segment["members"]:
            segment["members"][member] = now
        elif not active and member in segment["members"]:
            del segment["members"][member]
        else:
            return
        segment["updated_at"] = now
        if self.tag_changes_bump_last_changed:
            self.members[list_id][member]["last_changed"] = now

    def _segment_records(self, segment: dict[str, Any], include: set[str]) -> list[dict[str, Any]]:
        members, shown = self.members[segment["list_id"]], {"subscribed", *include}
        records = [members[h] for h in segment["members"] if h in members]
        return [r for r in records if r["status"] in shown]

    def _segment_json(self, request: Request | None, segment: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in segment.items() if k != "members"}
        out["member_count"] = len(self._segment_records(segment, set()))
        path = f"/lists/{segment['list_id']}/segments/{segment['id']}"
        out["_links"] = self._links(request, path, "Lists/Segments/Instance")
        return out

    async def _get_member_tags(self, request: Request) -> Response:
        record = self._record(request)
        path = f"/lists/{record['list_id']}/members/{record['id']}/tags"
        return self._collection(request, "tags", self._tags_of(record), _same, path,
                                "Lists/Members/Tags/Collection")  # fmt: skip

    async def _post_member_tags(self, request: Request) -> Response:
        record = self._record(request)
        tags = (await _body(request)).get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise _invalid(_INVALID, "tags", "Schema describes array, object found instead")
        for i, tag in enumerate(tags):
            if not isinstance(tag.get("name"), str) or not tag["name"].strip():
                raise _invalid(_INVALID, f"tags.item:{i}.name", _BLANK)
            if tag.get("status") not in ("active", "inactive"):
                message = "Value is not one of the enum values: active, inactive"
                raise _invalid(_INVALID, f"tags.item:{i}.status", message)
        for tag in tags:
            active = tag["status"] == "active"
            self._tag(record["list_id"], record["id"], tag["name"].strip(), active)
        return self._json(request, None, 204)

    async def _get_segments(self, request: Request) -> Response:
        lst = self._list(request)
        kind = request.query_params.get("type")
        if kind and kind not in ("saved", "static", "fuzzy"):
            raise _invalid(f"Invalid type '{kind}'", "type")
        found = [s for s in self.segments[lst["id"]].values() if not kind or s["type"] == kind]
        return self._collection(request, "segments", found, self._segment_json,
                                f"/lists/{lst['id']}/segments", "Lists/Segments/Collection",
                                list_id=lst["id"])  # fmt: skip

    def _known_emails(self, list_id: str, emails: Any, field: str) -> tuple[list[str], list[str]]:
        """(hashes of the emails on the audience, the emails that are not), at most
        ``segment_members_max`` emails."""
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise _invalid(f"{field} must be an array of email addresses", field)
        if len(emails) > self.segment_members_max:
            detail = f"{field} accepts up to {self.segment_members_max} emails, not {len(emails)}."
            raise _invalid(detail, field)
        members = self.members[list_id]
        known, unknown = [], []
        for email in emails:
            record = members.get(subscriber_hash(email))
            if record is None or record["status"] == "archived":
                unknown.append(email)
            else:
                known.append(record["id"])
        return known, unknown

    def _segment_name(self, list_id: str, data: dict[str, Any], current: Any = None) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _invalid(_INVALID, "name", _BLANK)
        other = self._find_segment(list_id, name.strip())
        if other is not None and other is not current:
            raise _invalid(f"A tag or segment named '{name.strip()}' already exists.", "name")
        return name.strip()

    async def _create_segment(self, request: Request) -> Response:
        lst = self._list(request)
        data = await _body(request)
        name = self._segment_name(lst["id"], data)
        if "static_segment" in data and "options" in data:
            raise _invalid("static_segment cannot be combined with options", "static_segment")
        if "static_segment" in data:
            known, _ = self._known_emails(lst["id"], data["static_segment"], "static_segment")
            segment = self._new_segment(lst["id"], name)
            for h in known:
                self._tag(lst["id"], h, name, True)
        elif isinstance(data.get("options"), dict):
            segment = self._new_segment(lst["id"], name, data["options"])
        else:
            raise _invalid("Provide static_segment or options.", "static_segment")
        return self._json(request, self._segment_json(request, segment))

    async def _get_segment(self, request: Request) -> Response:
        return self._json(request, self._segment_json(request, self._segment(request)))

    async def _patch_segment(self, request: Request) -> Response:
        segment = self._segment(request)
        data = await _body(request)
        list_id = segment["list_id"]
        segment["name"] = self._segment_name(list_id, data, segment)
        now = _ts(self._now())
        if "static_segment" in data and segment["type"] == "static":
            known, _ = self._known_emails(list_id, data["static_segment"], "static_segment")
            segment["members"] = {h: segment["members"].get(h, now) for h in known}
        if isinstance(data.get("options"), dict) and segment["type"] == "saved":
            segment["options"] = data["options"]
        segment["updated_at"] = now
        return self._json(request, self._segment_json(request, segment))

    async def _delete_segment(self, request: Request) -> Response:
        segment = self._segment(request)
        del self.segments[segment["list_id"]][segment["id"]]
        return self._json(request, None, 204)

    async def _segment_batch(self, request: Request) -> Response:
        segment = self._segment(request)
        if segment["type"] != "static":
            raise _invalid("Members can only be added to or removed from static segments.")
        data = await _body(request)
        list_id, name, members = segment["list_id"], segment["name"], segment["members"]
        add, add_unknown = self._known_emails(
            list_id, data.get("members_to_add", []), "members_to_add"
        )
        remove, remove_unknown = self._known_emails(
            list_id, data.get("members_to_remove", []), "members_to_remove"
        )
        added = [h for h in dict.fromkeys(add) if h not in members]
        removed = [h for h in dict.fromkeys(remove) if h in members]
        for h in added:
            self._tag(list_id, h, name, True)
        for h in removed:
            self._tag(list_id, h, name, False)
        errors = []
        unknown = [*add_unknown, *remove_unknown]
        if unknown and self.report_unknown_segment_emails:
            error = "Email addresses are not members of this list."
            errors.append({"email_addresses": unknown, "error": error})
        records = self.members[list_id]
        path = f"/lists/{list_id}/segments/{segment['id']}"
        return self._json(request, {
            "members_added": [self._member_json(request, records[h]) for h in added],
            "members_removed": [self._member_json(request, records[h]) for h in removed],
            "errors": errors, "total_added": len(added), "total_removed": len(removed),
            "error_count": len(errors),
            "_links": self._links(request, path, "Lists/Segments/BatchPOST"),
        })  # fmt: skip

    async def _segment_members(self, request: Request) -> Response:
        segment = self._segment(request)
        include = {s for s in ("cleaned", "transactional", "unsubscribed")
                   if _flag(request, f"include_{s}")}  # fmt: skip
        path = f"/lists/{segment['list_id']}/segments/{segment['id']}/members"
        return self._collection(request, "members", self._segment_records(segment, include),
                                self._member_json, path,
                                "Lists/Segments/Members/Collection")  # fmt: skip

    async def _tag_search(self, request: Request) -> Response:
        lst = self._list(request)
        prefix = request.query_params.get("name", "").lower()
        tags = [{"id": s["id"], "name": s["name"]} for s in self.segments[lst["id"]].values()
                if s["type"] == "static" and s["name"].lower().startswith(prefix)]  # fmt: skip
        return self._json(request, {"tags": tags, "total_items": len(tags)})

    # -- merge fields --------------------------------------------------------------------------

    def _merge_json(self, request: Request | None, field: dict[str, Any]) -> dict[str, Any]:
        path = f"/lists/{field['list_id']}/merge-fields/{field['merge_id']}"
        return {**field, "_links": self._links(request, path, "Lists/MergeFields/Instance")}

    async def _get_merge_fields(self, request: Request) -> Response:
        lst, q = self._list(request), request.query_params
        required = _flag(request, "required")
        found = [f for f in self.merge_fields[lst["id"]]
                 if (not q.get("type") or f["type"] == q["type"])
                 and ("required" not in q or f["required"] == required)]  # fmt: skip
        return self._collection(request, "merge_fields", found, self._merge_json,
                                f"/lists/{lst['id']}/merge-fields",
                                "Lists/MergeFields/Collection", list_id=lst["id"])  # fmt: skip

    async def _create_merge_field(self, request: Request) -> Response:
        lst = self._list(request)
        data = await _body(request)
        name, kind, tag = data.get("name"), data.get("type"), data.get("tag")
        if not isinstance(name, str) or not name.strip():
            raise _invalid(_INVALID, "name", _BLANK)
        if kind not in _MERGE_TYPES:
            message = f"Value is not one of the enum values: {', '.join(sorted(_MERGE_TYPES))}"
            raise _invalid(_INVALID, "type", message)
        options = data.get("options") if isinstance(data.get("options"), dict) else None
        try:
            field = self.add_merge_field(lst["id"], str(tag) if tag else None, name.strip(),
                                         str(kind), required=bool(data.get("required")),
                                         options=options)  # fmt: skip
        except ValueError as exc:
            raise _invalid(str(exc), "tag") from None
        return self._json(request, self._merge_json(request, field))

    # -- e-commerce ----------------------------------------------------------------------------

    def _store(self, request: Request) -> dict[str, Any]:
        store = self.stores.get(request.path_params["store_id"])
        if store is None:
            raise _not_found()
        return store

    def _store_json(self, request: Request | None, store: dict[str, Any]) -> dict[str, Any]:
        path = f"/ecommerce/stores/{store['id']}"
        return {**store, "_links": self._links(request, path, "Ecommerce/Stores/Instance")}

    def _order_json(self, request: Request | None, order: dict[str, Any]) -> dict[str, Any]:
        path = f"/ecommerce/stores/{order['store_id']}/orders/{order['id']}"
        return {**order, "_links": self._links(request, path, "Ecommerce/Stores/Orders/Instance")}

    def _customer_filter(self, request: Request, orders: list[dict[str, Any]]) -> list[Any]:
        customer = request.query_params.get("customer_id")
        return [o for o in orders if not customer or o["customer"]["id"] == customer]

    async def _get_stores(self, request: Request) -> Response:
        return self._collection(request, "stores", list(self.stores.values()), self._store_json,
                                "/ecommerce/stores", "Ecommerce/Stores/Collection")  # fmt: skip

    async def _get_store(self, request: Request) -> Response:
        return self._json(request, self._store_json(request, self._store(request)))

    async def _get_orders(self, request: Request) -> Response:
        store_id = self._store(request)["id"]
        orders = self._customer_filter(request, list(self.orders[store_id].values()))
        path = f"/ecommerce/stores/{store_id}/orders"
        schema = "Ecommerce/Stores/Orders/Collection"
        return self._collection(
            request, "orders", orders, self._order_json, path, schema, store_id=store_id
        )

    async def _get_all_orders(self, request: Request) -> Response:
        orders = [o for by_id in self.orders.values() for o in by_id.values()]
        return self._collection(request, "orders", self._customer_filter(request, orders),
                                self._order_json, "/ecommerce/orders",
                                "Ecommerce/Orders/Collection")  # fmt: skip

    # -- seeding -------------------------------------------------------------------------------

    def create_list(self, name: str) -> str:
        """A new audience with the ``default_merge_fields``; returns its id."""
        list_id, now, web_id = self._hex_id(), _ts(self._now()), self._new_int_id(10**5, 10**6)
        self.lists[list_id] = {
            "id": list_id, "web_id": web_id, "name": name,
            "contact": {"company": "segsync sandbox", "address1": "1 Example Street",
                        "address2": "", "city": "Atlanta", "state": "GA", "zip": "30308",
                        "country": "US", "phone": ""},
            "permission_reminder": "You signed up on our website.", "use_archive_bar": True,
            "campaign_defaults": {"from_name": name, "from_email": "sandbox@example.org",
                                  "subject": "", "language": "en"},
            "notify_on_subscribe": "", "notify_on_unsubscribe": "", "date_created": now,
            "list_rating": 0, "email_type_option": False,
            "subscribe_url_short": f"http://eepurl.com/{list_id[:6]}",
            "subscribe_url_long": f"https://example.us1.list-manage.com/subscribe?id={list_id}",
            "beamer_address": f"us1-{list_id}@inbound.mailchimp.com", "visibility": "prv",
            "double_optin": False, "has_welcome": False, "marketing_permissions": False,
            "modules": [],
        }  # fmt: skip
        self.members[list_id], self.merge_fields[list_id], self.segments[list_id] = {}, [], {}
        for tag in self.default_merge_fields:
            label, kind, options = _MERGE_FIELDS[tag]
            self.add_merge_field(list_id, tag, label, kind, options=options)
        if self._default_list is None:
            self._default_list = list_id
        return list_id

    def default_list_id(self) -> str:
        """The first audience; one named "segsync sandbox" is created when there is none."""
        return self._default_list or self.create_list("segsync sandbox")

    def add_merge_field(
        self,
        list_id: str,
        tag: str | None,
        name: str,
        field_type: str = "text",
        *,
        required: bool = False,
        options: Mapping[str, Any] | None = None,
        default_value: str = "",
    ) -> dict[str, Any]:
        """Define a merge field (the tag defaults to ``MMERGE<n>``); a taken tag or an unknown
        type raises ValueError."""
        if field_type not in _MERGE_TYPES:
            raise ValueError(f"unknown merge field type {field_type!r}")
        fields = self.merge_fields[list_id]
        merge_id = max((f["merge_id"] for f in fields), default=0) + 1
        tag = (tag or f"MMERGE{merge_id}").upper()
        if any(f["tag"] == tag for f in fields):
            raise ValueError(f'A Merge Field with the tag "{tag}" already exists for this list.')
        field = {
            "merge_id": merge_id, "tag": tag, "name": name, "type": field_type,
            "required": required, "default_value": default_value, "public": False,
            "display_order": merge_id + 1, "options": dict(options or {}), "help_text": "",
            "list_id": list_id,
        }  # fmt: skip
        fields.append(field)
        return field

    def seed_members(self, list_id: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add or update members (no validation); returns their subscriber hashes. Each row:
        ``email`` (or ``email_address``), ``status`` (subscribed), ``merge_fields`` and/or
        ``first_name``, ``last_name``, ``phone``, ``birthday``; ``tags`` (names),
        ``language``, ``vip``, ``avg_open_rate``, ``avg_click_rate``, ``country`` (the
        member's ``location.country_code``), and ``last_changed`` / ``timestamp_opt`` (ISO
        8601) to backdate them."""
        hashes = []
        for row in rows:
            email = str(row.get("email") or row.get("email_address") or "").strip()
            if not email:
                continue
            status = str(row.get("status") or "subscribed")
            if status not in _LISTABLE:
                raise ValueError(f"unknown member status {status!r}")
            merge = dict(row.get("merge_fields") or {})
            for key, tag in (("first_name", "FNAME"), ("last_name", "LNAME"),
                             ("phone", "PHONE"), ("birthday", "BIRTHDAY")):  # fmt: skip
                if row.get(key):
                    merge.setdefault(tag, row[key])
            data = {"email_address": email, "merge_fields": merge}
            data.update({k: row[k] for k in ("language", "vip", "email_type") if k in row})
            existing = self.members[list_id].get(subscriber_hash(email))
            record = self._write_member(list_id, data, existing, status)
            for key in ("avg_open_rate", "avg_click_rate"):
                if key in row:
                    record["stats"][key] = float(row[key])
            for name in row.get("tags") or []:
                self._tag(list_id, record["id"], str(name), True)
            for key in ("timestamp_opt", "last_changed"):
                if row.get(key):
                    record[key] = _ts(_epoch(str(row[key]), key))
            if row.get("country"):  # Mailchimp geolocates members; seeding says where
                record["location"]["country_code"] = str(row["country"]).upper()
            hashes.append(record["id"])
        return hashes

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """contacts.csv rows into :meth:`default_list_id`: ``email_opt_in`` yes → subscribed,
        no → unsubscribed, anything else → transactional."""
        statuses = {"yes": "subscribed", "no": "unsubscribed"}
        rows = []
        for c in contacts:
            birth = str(c.get("birth_date") or "")
            rows.append({
                "email": c.get("email"), "first_name": c.get("first_name"),
                "status": statuses.get(str(c.get("email_opt_in", "")).lower(), "transactional"),
                "last_name": c.get("last_name"), "phone": c.get("phone"),
                "language": c.get("language") or "",
                "birthday": f"{birth[5:7]}/{birth[8:10]}" if len(birth) >= 10 else "",
                "country": c.get("country") or "",
            })  # fmt: skip
        self.seed_members(self.default_list_id(), rows)

    def create_store(
        self,
        store_id: str,
        *,
        list_id: str | None = None,
        name: str | None = None,
        currency_code: str = "USD",
    ) -> str:
        """An e-commerce store connected to ``list_id`` (default: :meth:`default_list_id`)."""
        now = _ts(self._now())
        self.stores[store_id] = {
            "id": store_id, "list_id": list_id or self.default_list_id(),
            "name": name or store_id, "platform": "", "domain": f"{store_id}.example.org",
            "is_syncing": False, "email_address": "shop@example.org",
            "currency_code": currency_code, "money_format": "", "primary_locale": "en",
            "timezone": "UTC", "phone": "", "address": {}, "list_is_active": True,
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        self.orders[store_id] = {}
        return store_id

    def seed_orders(self, store_id: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add orders to a store (created if missing); returns the order ids. Each row: ``id``
        (or ``order_id``), ``email``, ``customer_id`` (default: the email's hash),
        ``order_total`` (or ``amount``), ``currency_code``, ``processed_at`` (or
        ``ordered_at``, ISO 8601; default now), ``first_name``, ``last_name``, ``lines``."""
        if store_id not in self.stores:
            self.create_store(store_id)
        orders, currency = self.orders[store_id], self.stores[store_id]["currency_code"]
        ids = []
        for row in rows:
            order_id = str(row.get("id") or row.get("order_id") or f"order-{len(orders) + 1}")
            email = str(row.get("email") or "").strip()
            processed = row.get("processed_at") or row.get("ordered_at")
            stamp = _ts(_epoch(str(processed), "processed_at") if processed else self._now())
            customer = {
                "id": str(row.get("customer_id") or subscriber_hash(email)),
                "email_address": email, "opt_in_status": False, "company": "",
                "first_name": str(row.get("first_name") or ""),
                "last_name": str(row.get("last_name") or ""), "orders_count": 0,
                "total_spent": 0.0, "address": {}, "created_at": stamp, "updated_at": stamp,
            }  # fmt: skip
            orders[order_id] = {
                "id": order_id, "customer": customer, "store_id": store_id, "campaign_id": "",
                "landing_site": "", "financial_status": str(row.get("financial_status") or "paid"),
                "fulfillment_status": "",
                "currency_code": str(row.get("currency_code") or currency),
                "order_total": float(row.get("order_total", row.get("amount", 0)) or 0),
                "order_url": "", "discount_total": 0.0, "tax_total": 0.0, "shipping_total": 0.0,
                "tracking_code": "", "processed_at_foreign": stamp, "cancelled_at_foreign": "",
                "updated_at_foreign": stamp, "shipping_address": {}, "billing_address": {},
                "promos": [], "lines": list(row.get("lines") or []), "tracking_number": "",
                "tracking_carrier": "", "tracking_url": "",
            }  # fmt: skip
            ids.append(order_id)
        counts: Counter[str] = Counter()
        spent: defaultdict[str, float] = defaultdict(float)
        for order in orders.values():  # each customer's totals across the store's orders
            counts[order["customer"]["id"]] += 1
            spent[order["customer"]["id"]] += order["order_total"]
        for order in orders.values():
            customer = order["customer"]
            customer.update(orders_count=counts[customer["id"]],
                            total_spent=round(spent[customer["id"]], 2))  # fmt: skip
        return ids

    # -- inspection ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "lists": {i: {"name": lst["name"], "members": len(self.members[i]),
                          "segments": len(self.segments[i])} for i, lst in self.lists.items()},
            "stores": {i: {"orders": len(self.orders[i])} for i in self.stores},
        }  # fmt: skip

    def list_id(self, name: str) -> str | None:
        return next((i for i, lst in self.lists.items() if lst["name"] == name), None)

    def member(self, list_id: str, email: str) -> dict[str, Any] | None:
        """The member as the API shows it (``merge_fields``, ``tags``, ...), or None."""
        record = self.members[list_id].get(subscriber_hash(email))
        return None if record is None else self._member_json(None, record)

    def member_emails(self, list_id: str, status: str | None = None) -> set[str]:
        """Lower-cased emails of the members with ``status`` (default: all but archived)."""
        return {r["email_address"].lower() for r in self.members[list_id].values()
                if (r["status"] == status if status else r["status"] != "archived")}  # fmt: skip

    def tag_members(self, list_id: str, tag_name: str) -> set[str]:
        """Lower-cased emails of the (non-archived) members carrying the tag."""
        segment = self._find_segment(list_id, tag_name)
        members = self.members[list_id]
        return {members[h]["email_address"].lower() for h in (segment or {}).get("members", {})
                if h in members and members[h]["status"] != "archived"}  # fmt: skip

    def segment_id(self, list_id: str, name: str) -> int | None:
        segment = self._find_segment(list_id, name)
        return None if segment is None else int(segment["id"])
