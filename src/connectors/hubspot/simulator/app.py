""":class:`HubSpotSimulator`: the routes, the base's hooks in HubSpot's words, and inspection.

Routes (each guarded by its scope and the daily limit, :mod:`.limits`):

=======================================================  =====================================
``GET /crm/v3/objects/contacts[/{id}]``                   :mod:`.objects`
``POST /crm/v3/objects/contacts/search``                  :mod:`.search` (+ the search limit)
``POST /crm/v3/objects/contacts/batch/{read,update,…}``   :mod:`.batch`
``GET /crm/v3/objects/deals``                             :mod:`.deals`
``GET|POST|PATCH /crm/v3/properties/contacts[/{name}]``   :mod:`.properties`
``/crm/v3/lists…``                                        :mod:`.lists`
``GET /crm/v3/schemas[/{objectType}]``                    :mod:`.schemas`
=======================================================  =====================================

Unknown paths (and known paths with another method) answer 404 ``OBJECT_NOT_FOUND``. Every
path answers with and without a trailing slash (the base's pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
)

from .batch import Batch
from .deals import Deals
from .errors import (
    FAULTS,
    UNAUTHORIZED,
    HubSpotError,
    answer,
    bad,
    error_body,
    not_found,
    rate_error,
)
from .limits import Limits
from .lists import Lists
from .objects import Contacts
from .properties import Properties, default_definitions
from .schemas import Schemas
from .search import Search
from .seed import seed_contacts

__all__ = ["DEFAULT_TOKEN", "HubSpotSimulator"]

DEFAULT_TOKEN = "pat-sandbox-0000"  # noqa: S105 - a public test credential for the simulator
_CATEGORIES = {401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
               429: "RATE_LIMITS"}  # fmt: skip


class HubSpotSimulator(Simulator):
    """The HubSpot CRM v3 API where segsync touches it (contacts, deals, properties, Lists v3,
    schemas), faithful to ``platform-apis.md`` §1. See the package docstring for the modules.

    Auth: ``Authorization: Bearer <token>``; 401 ``INVALID_AUTHENTICATION``; 403
    ``MISSING_SCOPES`` when a token added with ``scopes=`` lacks the route's scope. Every error
    is the HubSpot envelope and every answer carries ``X-HubSpot-Correlation-Id``. Limits
    (:mod:`.limits`): ``burst`` per ``window`` s, ``daily``, ``search_per_second``, per token.
    Faults: by default ``Faults.error_statuses`` is (423, 477, 502); 477 adds ``Retry-After``.

    Behaviours the reference marks "(inferred)", each a constructor argument:
    ``max_membership_ids`` (10,000 ids per membership call), ``list_limit_max`` (100),
    ``search_result_cap`` (10,000), ``search_per_second`` (4; docs now say 5),
    ``search_daily_headers`` (False), ``daily_headers`` (True; OAuth calls omit them),
    ``strict_batch_validation`` (True), ``migration_retry_after`` (5 s), ``history_limit_max``
    (50), ``history_on_unchanged_write`` (False), ``custom_objects`` (none), ``portal_id``
    (1) and ``schemas_scope`` (``crm.schemas.custom.read``). Also inferred: duplicate list
    names → 400; the ``OBJECT_NOT_FOUND``/``MISSING_SCOPES``/``RATE_LIMITS`` categories;
    numbers accepted as record ids; PATCH replacing the options array; no ``Retry-After`` on
    429s (undocumented).

    Simplifications: one portal shared by all tokens (limits are per token); ``hs_language``
    is a plain string property; DYNAMIC lists are stored but never evaluated.
    """

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
        custom_objects: Iterable[Mapping[str, Any]] = (),
        portal_id: int = 1,
        schemas_scope: str = "crm.schemas.custom.read",
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
        self.portal_id = portal_id
        self.schemas_scope = schemas_scope
        self.ids = IdSource("hubspot-ids", seed)
        self.version = 0  # bumped on every contact write (search results are kept until then)
        self._last_ms = 0
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, dict[str, Any]] = default_definitions(self.now_ms())
        self.limits = Limits(self)
        self.contact_api = Contacts(self)
        self.deal_api = Deals(self)
        self.search_api = Search(self)
        self.batch_api = Batch(self)
        self.property_api = Properties(self)
        self.list_api = Lists(self)
        self.schema_api = Schemas(self)
        for spec in custom_objects:
            self.schema_api.add(spec)

    # -- credentials ---------------------------------------------------------------------------

    def add_credential(
        self, secret: str, account: str | None = None, *, scopes: Iterable[str] | None = None
    ) -> None:
        """Add a token; ``account`` defaults to the token itself (limits are per token)."""
        super().add_credential(secret, account or secret)
        self.limits.scopes[secret] = None if scopes is None else frozenset(scopes)

    def credentials_for_sandbox(self) -> dict[str, str]:
        if not self._credentials:
            self.add_credential(DEFAULT_TOKEN)
        return super().credentials_for_sandbox()

    # -- answers -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The wall clock in epoch milliseconds, strictly increasing from call to call."""
        self._last_ms = max(int(self.wall_clock() * 1000), self._last_ms + 1)
        return self._last_ms

    _now_ms = now_ms  # the name tests written against the one-module simulator use

    def json(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A HubSpot answer (``None``: no body) with a fresh correlation id."""
        return answer(body, self.ids.uuid4(), status, headers)

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        if not isinstance(error, HubSpotError):
            category = _CATEGORIES.get(error.status, "VALIDATION_ERROR")
            error = HubSpotError(error.status, error.message, category)
        return self.json(error_body(error), error.status)

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        if error.kind == "json":
            return bad("Invalid input JSON on line 1: the body is not valid JSON")
        if error.kind == "shape":
            return bad(f"Invalid input JSON: expected a JSON {error.expected}")
        return bad(f"Invalid input: {error.message}")

    async def unrouted(self, request: Request, allowed: list[str]) -> Response:
        """404 ``OBJECT_NOT_FOUND`` for any path or method no route serves (it still needs
        a contacts-read scope and counts against the day)."""
        self.limits.check(request, "crm.objects.contacts.read")
        raise not_found(f"Unable to route {request.url.path}")

    def unauthorized_response(self, request: Request) -> Response:
        return self.error_envelope(
            request, HubSpotError(401, UNAUTHORIZED, "INVALID_AUTHENTICATION")
        )

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        error = rate_error(
            "TEN_SECONDLY_ROLLING", "You have reached your secondly limit.", self.ids.uuid4()
        )
        return self.error_envelope(request, error)

    def error_response(self, request: Request, status: int) -> Response:
        category, message = FAULTS.get(status, ("INTERNAL_ERROR", "Something went wrong."))
        headers = {"Retry-After": str(self.migration_retry_after)} if status == 477 else None
        error = HubSpotError(status, message, category)
        return self.json(error_body(error), status, headers)

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
        return self.limits.headers(request, account, remaining, limit)

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        c, p, lst = "/crm/v3/objects/contacts", "/crm/v3/properties/contacts", "/crm/v3/lists"
        cr, cw = "crm.objects.contacts.read", "crm.objects.contacts.write"
        sr, sw = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
        lr, lw = "crm.lists.read", "crm.lists.write"
        contacts, batch, props = self.contact_api, self.batch_api, self.property_api
        lists, schemas = self.list_api, self.schema_api
        table: list[tuple[str, str, Any, str]] = [
            ("GET", c, contacts.list_contacts, cr),
            ("POST", f"{c}/batch/read", batch.read, cr),
            ("POST", f"{c}/batch/update", batch.update, cw),
            ("POST", f"{c}/batch/upsert", batch.upsert, cw),
            ("GET", f"{c}/{{id}}", contacts.get_contact, cr),
            ("GET", "/crm/v3/objects/deals", self.deal_api.list_deals, "crm.objects.deals.read"),
            ("GET", p, props.list_all, sr),
            ("POST", p, props.create, sw),
            ("GET", f"{p}/{{name}}", props.get, sr),
            ("PATCH", f"{p}/{{name}}", props.patch, sw),
            ("POST", lst, lists.create, lw),
            ("GET", lst, lists.by_ids, lr),
            ("POST", f"{lst}/search", lists.search, lr),
            ("GET", f"{lst}/object-type-id/{{type}}/name/{{name}}", lists.by_name, lr),
            ("GET", f"{lst}/{{id}}", lists.get, lr),
            ("DELETE", f"{lst}/{{id}}", lists.delete, lw),
            ("GET", f"{lst}/{{id}}/memberships", lists.memberships, lr),
            ("DELETE", f"{lst}/{{id}}/memberships", lists.clear, lw),
            ("PUT", f"{lst}/{{id}}/memberships/{{op}}", lists.change, lw),
        ]
        for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            table.append(("GET", prefix, schemas.list_all, self.schemas_scope))
            table.append(("GET", f"{prefix}/{{object_type}}", schemas.get, self.schemas_scope))
        guard = self.limits.guard
        return [
            Route(f"{c}/search", guard(self.search_api.search, cr, search=True), methods=["POST"]),
            *(Route(path, guard(h, scope), methods=[m]) for m, path, h, scope in table),
        ]

    # -- seeding and inspection ----------------------------------------------------------------

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """One contact per row with an email (:mod:`.seed`); ids from 101."""
        seed_contacts(self, contacts)

    def seed_deals(self, deals: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add deals: each mapping's ``contacts`` (ids) are associated, the rest are
        properties (e.g. amount, closedate, dealstage). Returns the new deal ids."""
        return self.deal_api.seed(deals)

    def add_custom_object(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Add a custom object schema (:meth:`.schemas.Schemas.add`); returns it."""
        return self.schema_api.add(spec)

    def state(self) -> dict[str, Any]:
        return {
            "contacts": len(self.contacts),
            "deals": len(self.deals),
            "lists": {i: {"name": x["name"], "size": len(x["members"])}
                      for i, x in self.lists.items()},
            "properties": len(self.properties),
        }  # fmt: skip

    def contact_id(self, email: str) -> str | None:
        return self.contact_api.by_email.get(email.strip().lower())

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The stored contact: ``{"id", "properties", "createdAt", "updatedAt"}``."""
        return self.contacts[contact_id]

    def list_id(self, name: str) -> str | None:
        return self.list_api.id_of(name)

    def list_members(self, list_id: str) -> set[str]:
        return set(self.lists[list_id]["members"])

    def property_values(self, name: str) -> dict[str, str]:
        return {
            i: c["properties"][name]
            for i, c in self.contacts.items()
            if c["properties"].get(name, "") != ""
        }

    def add_contact(self, email: str, **props: Any) -> str:
        record: dict[str, Any] = self.contact_api.write(None, {"email": email, **props})
        return str(record["id"])

    def set_properties(self, contact_id: str, **props: Any) -> None:
        """Change a contact as a person in HubSpot would (history source ``CRM_UI``)."""
        self.contact_api.write(contact_id, props, source="CRM_UI")
