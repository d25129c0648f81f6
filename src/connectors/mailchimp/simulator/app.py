""":class:`MailchimpSimulator`: the routes (all under ``/3.0``), the base's hooks in Mailchimp's
words, seeding and inspection.

Unknown paths answer 404 "Resource Not Found", a known path with another method 405 "Method
Not Allowed" (both problem documents). Every path answers with and without a trailing slash
(the base's pipeline).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import (
    Faults,
    IdSource,
    InputError,
    PlatformError,
    RateLimit,
    Simulator,
    query_int,
    query_param,
)

from .answers import API, JSON_CT, api_base, drop, field_tree, links, select
from .audiences import Audiences
from .auth import auth_failure, key_dc, presented_key, unauthorized_error
from .batch import BatchSubscribe
from .ecommerce import Ecommerce
from .errors import FAULTS, MailchimpError, invalid, not_found, problem
from .members import Members, subscriber_hash
from .merge_fields import DEFAULT_FIELDS, MergeFields
from .seed import contact_rows, seed_members
from .tags import Tags

__all__ = ["DEFAULT_API_KEY", "MailchimpSimulator"]

DEFAULT_API_KEY = "sandbox0000000000000000000000000-us1"  # a public test key for the simulator
#: renders one item of a collection: (API host for its links, item) → JSON
Render = Callable[[str, dict[str, Any]], dict[str, Any]]
_JSON_ERROR = "We encountered an unspecified JSON parsing error."


class MailchimpSimulator(Simulator):
    """The Mailchimp Marketing API v3 where segsync touches it, faithful to
    ``platform-apis.md`` §2. See the package docstring for the modules.

    Behaviours the reference marks "(inferred)" or leaves open, each a constructor argument:
    ``concurrency`` (10 simultaneous connections per account before 429); ``count_max``
    (1000) and ``count_over_max`` (``"error"``: a 400, or ``"clamp"``);
    ``batch_subscribe_max`` / ``segment_members_max`` (500); ``report_unknown_segment_emails``
    (False: emails not on the audience are ignored by ``POST /segments/{id}``, as the spec
    says); ``since_inclusive`` (False: ``since_*`` filters keep what changed after the given
    second, as the docs say); ``tag_changes_bump_last_changed`` (False);
    ``validation_field_errors`` (True: 400 "Invalid Resource" carries ``errors[{field,
    message}]``); ``reject_unknown_merge_fields`` (True; ``skip_merge_validation=true``
    bypasses it and the required-field check); ``default_merge_fields`` (FNAME, LNAME,
    ADDRESS, PHONE, BIRTHDAY); ``check_datacenter`` (True).

    Simplifications: one Mailchimp account shared by every key (the concurrency cap is per
    ``account`` given to :meth:`add_credential`); tag names match exactly; saved segments are
    stored but never evaluated; interests, campaigns, notes, activity and ``/batches`` are not
    simulated; a segment's ``member_count`` counts subscribed members.
    """

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
        default_merge_fields: Iterable[str] = tuple(DEFAULT_FIELDS),
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
        unknown = [t for t in self.default_merge_fields if t not in DEFAULT_FIELDS]
        if unknown:
            raise ValueError(f"unknown default merge fields: {', '.join(unknown)}")
        self.check_datacenter = check_datacenter
        self.ids = IdSource("mailchimp-ids", seed)
        self._request_ids = IdSource("mailchimp-requests", seed)
        self.lists: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}  # list id → hash → record
        self.merge_fields: dict[str, list[dict[str, Any]]] = {}
        self.segments: dict[str, dict[int, dict[str, Any]]] = {}  # list id → id → segment
        self.stores: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, dict[str, Any]]] = {}  # store id → order id → order
        self._default_list: str | None = None
        self.audience_api = Audiences(self)
        self.member_api = Members(self)
        self.batch_api = BatchSubscribe(self)
        self.tag_api = Tags(self)
        self.merge_field_api = MergeFields(self)
        self.ecommerce_api = Ecommerce(self)

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
        return {"api_key": key, "server": key_dc(key) or "us1"}

    def sandbox_settings(self) -> dict[str, str]:
        """The audience the sandbox seeded: ``{"list_id"}``."""
        return {"list_id": self.default_list_id()}

    def authenticate(self, request: Request) -> str | None:
        if auth_failure(request, self._credentials, check_datacenter=self.check_datacenter):
            return None
        return self._credentials.get(presented_key(request) or "")

    # -- answers -------------------------------------------------------------------------------

    def base(self, request: Request | None) -> str:
        """The API host of the key the request carries, for ``_links``."""
        return api_base(request)

    def audience(self, request: Request) -> dict[str, Any]:
        """The audience (list) the path names; 404 when there is none."""
        lst = self.lists.get(request.path_params["list_id"])
        if lst is None:
            raise not_found()
        return lst

    def json(self, request: Request, body: Any, status: int = 200) -> Response:
        """A success (``None``: no body), trimmed by ``fields``/``exclude_fields``."""
        headers = {"X-Request-Id": self._request_ids.uuid4()}
        if body is None:
            return Response(status_code=status, headers=headers, media_type=JSON_CT)
        include = field_tree(query_param(request, "fields"))
        exclude = field_tree(query_param(request, "exclude_fields"))
        if include:
            body = select(body, include)
        if exclude:
            body = drop(body, exclude)
        return Response(json.dumps(body).encode(), status, headers=headers, media_type=JSON_CT)

    def collection(
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
        clamp = self.count_over_max == "clamp"
        high = None if clamp else self.count_max
        count = query_int(request, "count", default=10, low=0, high=high, blank_is_default=True)
        offset = query_int(request, "offset", default=0, low=0, blank_is_default=True)
        base = self.base(request)
        page = [render(base, item) for item in items[offset : offset + min(count, self.count_max)]]
        return self.json(request, {key: page, **extra, "total_items": len(items),
                                   "_links": links(base, path, schema)})  # fmt: skip

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        if not isinstance(error, MailchimpError):
            error = MailchimpError(error.status, "Error", error.message)
        return problem(error, self._request_ids.uuid4(), self.base(request),
                       field_errors=self.validation_field_errors)  # fmt: skip

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        if error.kind in ("json", "shape"):
            return MailchimpError(400, "JSON Parse Error", _JSON_ERROR)
        if error.kind == "range" and error.value is not None and error.low is not None:
            if error.value < error.low:
                return invalid(f"{error.name} must not be negative, got {error.value}", error.name)
            detail = f"{error.name} must be less than or equal to {error.high}, got {error.value}"
            return invalid(detail, error.name)
        return invalid(error.message, error.name)

    async def unrouted(self, request: Request, allowed: list[str]) -> Response:
        if allowed:
            detail = ("The requested method and resource are not compatible. See the Allow "
                      "header for this resource's available methods.")  # fmt: skip
            raise MailchimpError(405, "Method Not Allowed", detail)
        raise not_found()

    def unauthorized_response(self, request: Request) -> Response:
        failure = auth_failure(request, self._credentials, check_datacenter=self.check_datacenter)
        return self.error_envelope(request, unauthorized_error(failure))

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        limit = self.rate_limit.concurrency or 10
        detail = f"You have exceeded the limit of {limit} simultaneous connections."
        return self.error_envelope(request, MailchimpError(429, "Too Many Requests", detail))

    def error_response(self, request: Request, status: int) -> Response:
        if status == 403:  # a bare 403, as seen under heavy load
            return Response(status_code=403, headers={"X-Request-Id": self._request_ids.uuid4()})
        title, detail = FAULTS.get(status, ("Error", "An unexpected error has occurred."))
        return self.error_envelope(request, MailchimpError(status, title, detail))

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        ls = f"{API}/lists/{{list_id}}"
        m, seg, st = f"{ls}/members/{{hash}}", f"{ls}/segments", f"{API}/ecommerce/stores"
        audiences, members, tags = self.audience_api, self.member_api, self.tag_api
        fields, shop = self.merge_field_api, self.ecommerce_api
        table: list[tuple[str, str, Any]] = [
            ("GET", API, audiences.root),
            ("GET", f"{API}/ping", audiences.ping),
            ("GET", f"{API}/lists", audiences.list_all),
            ("GET", ls, audiences.get),
            ("POST", ls, self.batch_api.subscribe),
            ("GET", f"{ls}/members", members.list_members),
            ("POST", f"{ls}/members", members.create),
            ("GET", m, members.get),
            ("PUT", m, members.put),
            ("PATCH", m, members.patch),
            ("DELETE", m, members.archive),
            ("POST", f"{m}/actions/delete-permanent", members.delete),
            ("GET", f"{m}/tags", tags.member_tags),
            ("POST", f"{m}/tags", tags.post_member_tags),
            ("GET", f"{ls}/merge-fields", fields.list_all),
            ("POST", f"{ls}/merge-fields", fields.create),
            ("GET", seg, tags.list_all),
            ("POST", seg, tags.create),
            ("GET", f"{seg}/{{segment_id}}", tags.get),
            ("PATCH", f"{seg}/{{segment_id}}", tags.patch),
            ("DELETE", f"{seg}/{{segment_id}}", tags.delete),
            ("POST", f"{seg}/{{segment_id}}", tags.batch),
            ("GET", f"{seg}/{{segment_id}}/members", tags.segment_members),
            ("GET", f"{ls}/tag-search", tags.search),
            ("GET", st, shop.stores),
            ("GET", f"{st}/{{store_id}}", shop.store),
            ("GET", f"{st}/{{store_id}}/orders", shop.store_orders),
            ("GET", f"{API}/ecommerce/orders", shop.all_orders),
        ]
        return [Route(path, handler, methods=[method]) for method, path, handler in table]

    # -- seeding -------------------------------------------------------------------------------

    def create_list(self, name: str) -> str:
        """A new audience with the ``default_merge_fields``; returns its id."""
        list_id = self.audience_api.create(name)
        if self._default_list is None:
            self._default_list = list_id
        return list_id

    def default_list_id(self) -> str:
        """The first audience; one named "segsync sandbox" is created when there is none."""
        return self._default_list or self.create_list("segsync sandbox")

    def add_merge_field(
        self, list_id: str, tag: str | None, name: str, field_type: str = "text", **options: Any
    ) -> dict[str, Any]:
        """Define a merge field (:meth:`.merge_fields.MergeFields.add`: ``required``,
        ``options``, ``default_value``); a taken tag or an unknown type raises ValueError."""
        return self.merge_field_api.add(list_id, tag, name, field_type, **options)

    def seed_members(self, list_id: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add or update members without validation (:func:`.seed.seed_members`)."""
        return seed_members(self, list_id, rows)

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """contacts.csv rows into :meth:`default_list_id`: ``email_opt_in`` yes → subscribed,
        no → unsubscribed, anything else → transactional."""
        seed_members(self, self.default_list_id(), contact_rows(contacts))

    def create_store(self, store_id: str, **details: Any) -> str:
        """An e-commerce store (:meth:`.ecommerce.Ecommerce.create_store`: ``list_id``, by
        default :meth:`default_list_id`; ``name``; ``currency_code``)."""
        return self.ecommerce_api.create_store(store_id, **details)

    def seed_orders(self, store_id: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add orders to a store (created if missing); returns the order ids
        (:meth:`.ecommerce.Ecommerce.seed_orders`)."""
        return self.ecommerce_api.seed_orders(store_id, rows)

    def _new_segment(self, list_id: str, name: str, options: Any = None) -> dict[str, Any]:
        """A static segment (a tag), or a saved one when ``options`` are given (the name
        tests written against the one-module simulator use)."""
        return self.tag_api.new(list_id, name, options)

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
        return None if record is None else self.member_api.to_json(self.base(None), record)

    def member_emails(self, list_id: str, status: str | None = None) -> set[str]:
        """Lower-cased emails of the members with ``status`` (default: all but archived)."""
        return {r["email_address"].lower() for r in self.members[list_id].values()
                if (r["status"] == status if status else r["status"] != "archived")}  # fmt: skip

    def tag_members(self, list_id: str, tag_name: str) -> set[str]:
        """Lower-cased emails of the (non-archived) members carrying the tag."""
        segment = self.tag_api.find(list_id, tag_name)
        members = self.members[list_id]
        return {members[h]["email_address"].lower() for h in (segment or {}).get("members", {})
                if h in members and members[h]["status"] != "archived"}  # fmt: skip

    def segment_id(self, list_id: str, name: str) -> int | None:
        segment = self.tag_api.find(list_id, name)
        return None if segment is None else int(segment["id"])
