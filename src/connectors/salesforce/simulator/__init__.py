"""A simulator of the Salesforce REST API and Bulk API 2.0 where segsync and common clients
touch them. Faithful to ``/work/shared/reference/platform-apis.md`` §3.

Served routes (``{v}`` = ``/services/data/vXX.X``, every version from ``api_version_floor``
(31.0) to ``latest_api_version`` (68.0); older → 410, newer or malformed → 404). Every path
answers identically with and without a trailing slash, as every simulator on the base does
(simple-salesforce sends ``…/query/?q=``, ``…/sobjects/Contact/``, ``…/limits/``):

* ``GET /services/data`` — the Versions URI (no auth, no ``Sforce-Limit-Info``);
  ``GET {v}`` — the resource directory.
* ``POST /services/oauth2/token`` — :mod:`.oauth` (client credentials, JWT bearer, refresh).
* ``GET {v}/query?q=``, ``{v}/queryAll?q=``, ``{v}/query/<0r8 locator>-<offset>`` — :mod:`.query`
  over the SOQL subset of :mod:`.soql`.
* ``{v}/jobs/query[/{id}[/results]]`` — Bulk API 2.0 query jobs, :mod:`.bulk`.
* ``{v}/sobjects[/{Type}[/describe|/{id}]]`` — :mod:`.sobjects` (create, read, update,
  delete); ``{v}/composite/sobjects[/{Type}]`` — :mod:`.collections` (create, update, retrieve,
  delete); ``GET {v}/limits`` — :mod:`.limits`.

Objects: Contact, Lead, Campaign, CampaignMember, CampaignMemberStatus, Opportunity,
OpportunityContactRole and the field history objects ContactHistory and LeadHistory
(:mod:`.schema`, :mod:`.data`), with real 15/18-character ids. Updates of tracked fields
(``tracked_fields``, default ``HasOptedOutOfEmail``) write history rows; :meth:`update` edits a
record as a user would (history included).

Auth: ``Authorization: Bearer <token>`` (or ``OAuth <token>``) of a live session; otherwise
401 ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``. Every
REST error is a JSON array ``[{"message", "errorCode", "fields"?}]``; unknown paths 404
``NOT_FOUND``, a known path with another method 405 ``METHOD_NOT_ALLOWED``.

Limits: ``Sforce-Limit-Info: api-usage=N/M`` on every authenticated answer; the daily
allocation and the long-request cap answer 403 ``REQUEST_LIMIT_EXCEEDED`` (:mod:`.limits`); a
URI over ``max_uri_bytes`` → 414, URI plus headers over ``max_request_bytes`` → 431 (both
16,384; :meth:`SalesforceSimulator.screen`, before auth). Faults come from the base
:class:`~segsync.testing.simulator.Faults`: injected error statuses answer Salesforce error
arrays (the token endpoint: 503 ``{"error": "temporarily_unavailable"}``, inferred), injected
429 bursts answer 403 ``REQUEST_LIMIT_EXCEEDED`` "ConcurrentPerOrgLongTxn
Limit exceeded." (Salesforce does not use 429; its only transient limit is the long-request
cap — the daily allocation's "TotalRequests Limit exceeded." means stop for the day).

Served with :meth:`SalesforceSimulator.serve` it speaks HTTPS by default (:mod:`.tls`; the
``ServedSimulator.ca_bundle`` PEM is the CA to trust); in-process tests use :meth:`client`.

Behaviours the reference marks "(inferred)" or leaves open, each a constructor argument:
``api_version_floor``, ``jwt_max_lifetime`` (180 s) and ``jwt_clock_skew`` (5 s),
``jwt_audiences`` (site URLs besides login/test.salesforce.com), ``session_lifetime`` (2 h),
``long_request_seconds`` (20) and ``long_request_cap`` (25), ``api_bursts`` (off),
``short_page_rate`` (0), ``locator_lifetime`` (2 days), ``max_uri_bytes`` and
``max_request_bytes`` (16,384), ``collection_max`` (200), ``bulk_upload_polls`` and
``bulk_progress_polls`` (1 each), ``bulk_default_max_records`` (page size without
``maxRecords``), ``bulk_job_not_complete_status`` (412), ``bulk_version_mismatch_status`` (409),
``lead_duplicate_rule`` (``"off"``), ``invalid_member_status`` (``"error"``),
``default_member_statuses`` (Sent, Responded), ``missing_id_delete_error``
(``ENTITY_IS_DELETED``), ``missing_id_update_error`` (``INVALID_CROSS_REFERENCE_KEY``). Org
features, also arguments: ``tracked_fields`` (field history tracking), ``multi_currency`` and
``corporate_currency`` (``Opportunity.CurrencyIsoCode`` exists only in a multi-currency org).

Simplifications: one org; ``Name`` is derived, not a compound field; no upserts, Bulk ingest
jobs, composite/batch/tree resources, relationship queries or parent-child sub-queries;
``AccountId`` references are only checked for shape; deleted records stay as tombstones
(nothing is purged from the recycle bin); history rows are written for field changes only (no
``created`` rows).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import (
    Faults,
    InputError,
    PlatformError,
    ServedSimulator,
    Simulator,
)

from .bulk import BulkQueryResource
from .collections import CollectionsResource
from .data import Org
from .ids import IdFactory, to_18
from .limits import LONG_TXN, ApiLimits
from .oauth import LOGIN_AUDIENCES, ConnectedApp, OAuthServer
from .query import QueryResource
from .rest import NOT_FOUND, ApiError, Handler, json_response, parse_version, release_label
from .schema import OPTIONAL_FIELDS, object_type
from .seed import SeedSummary, seed_org
from .sobjects import RecordWriter, SObjectResource
from .tls import LocalTLS

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_USERNAME",
    "ConnectedApp",
    "LocalTLS",
    "SalesforceSimulator",
]

DEFAULT_CLIENT_ID = "3MVG9sandbox.segsync.simulator.consumer.key"
DEFAULT_CLIENT_SECRET = "sandbox-consumer-secret"  # noqa: S105 - a public test credential
DEFAULT_USERNAME = "integration@segsync.sandbox"
DATA = "/services/data"
OAUTH = "/services/oauth2/"
_OAUTH_DOWN = "The service is temporarily unavailable; try again later"
_USER_KEY = "salesforce.user"
_SESSION_EXPIRED = "Session expired or invalid"
_ERRORS = {
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if "
        "you contact support: 1234567890-12345 (-1234567890)",
    ),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "The server is temporarily unable to service your request"),
}


class SalesforceSimulator(Simulator):
    name = "salesforce"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        api_version_floor: float = 31.0,
        latest_api_version: float = 68.0,
        instance_url: str | None = None,
        session_lifetime: float = 7200.0,
        jwt_audiences: Iterable[str] = (),
        jwt_max_lifetime: float | None = 180.0,
        jwt_clock_skew: float = 5.0,
        daily_api_requests: int = 100_000,
        api_bursts: tuple[int, int] | None = None,
        long_request_seconds: float = 20.0,
        long_request_cap: int | None = 25,
        query_batch_default: int = 2000,
        query_batch_min: int = 200,
        query_batch_max: int = 2000,
        short_page_rate: float = 0.0,
        locator_lifetime: float = 2 * 86_400.0,
        max_uri_bytes: int = 16_384,
        max_request_bytes: int = 16_384,
        collection_max: int = 200,
        bulk_upload_polls: int = 1,
        bulk_progress_polls: int = 1,
        bulk_default_max_records: int = 100_000,
        bulk_job_not_complete_status: int = 412,
        bulk_version_mismatch_status: int = 409,
        bulk_query_jobs_per_day: int = 10_000,
        lead_duplicate_rule: Literal["off", "alert", "block"] = "off",
        invalid_member_status: Literal["error", "default"] = "error",
        default_member_statuses: Iterable[tuple[str, bool]] = (
            ("Sent", False),
            ("Responded", True),
        ),
        missing_id_delete_error: str = "ENTITY_IS_DELETED",
        missing_id_update_error: str = "INVALID_CROSS_REFERENCE_KEY",
        tracked_fields: Iterable[str] = ("HasOptedOutOfEmail",),
        multi_currency: bool = False,
        corporate_currency: str = "USD",
        sandbox_app: bool = True,
        tls_dir: str | Path | None = None,
    ) -> None:
        super().__init__(seed=seed, faults=faults, clock=clock)
        self.wall_clock = wall_clock
        self.api_version_floor = api_version_floor
        self.latest_api_version = latest_api_version
        self.query_batch_default = query_batch_default
        self.query_batch_min = query_batch_min
        self.query_batch_max = query_batch_max
        self.short_page_rate = short_page_rate
        self.locator_lifetime = locator_lifetime
        self.max_uri_bytes = max_uri_bytes
        self.max_request_bytes = max_request_bytes
        self.collection_max = collection_max
        self.bulk_upload_polls = bulk_upload_polls
        self.bulk_progress_polls = bulk_progress_polls
        self.bulk_default_max_records = bulk_default_max_records
        self.bulk_job_not_complete_status = bulk_job_not_complete_status
        self.bulk_version_mismatch_status = bulk_version_mismatch_status
        self.lead_duplicate_rule = lead_duplicate_rule
        self.invalid_member_status = invalid_member_status
        self.missing_id_delete_error = missing_id_delete_error
        self.missing_id_update_error = missing_id_update_error
        self.multi_currency = multi_currency
        #: (object, field) pairs this org does not have
        self.hidden_fields: frozenset[tuple[str, str]] = frozenset(
            pair for pair, feature in OPTIONAL_FIELDS.items() if not getattr(self, feature)
        )
        self.tls_dir = tls_dir
        self.tls: LocalTLS | None = None
        self.rng = random.Random(f"salesforce-{seed}")  # noqa: S311 - paging, not secrets
        self.ids = IdFactory(seed)
        self.org = Org(
            self.ids,
            self.now_ms,
            default_member_statuses=default_member_statuses,
            tracked_fields=tracked_fields,
            corporate_currency=corporate_currency if multi_currency else None,
        )
        self.limits = ApiLimits(
            daily_api_requests=daily_api_requests,
            api_bursts=api_bursts,
            long_request_seconds=long_request_seconds,
            long_request_cap=long_request_cap,
            bulk_query_jobs_per_day=bulk_query_jobs_per_day,
            wall_clock=wall_clock,
        )
        self.oauth = OAuthServer(
            self.org,
            wall_clock=wall_clock,
            rng=random.Random(f"salesforce-tokens-{seed}"),  # noqa: S311 - simulator tokens
            session_lifetime=session_lifetime,
            jwt_audiences=(*LOGIN_AUDIENCES, *jwt_audiences),
            jwt_max_lifetime=jwt_max_lifetime,
            jwt_clock_skew=jwt_clock_skew,
            instance_url=instance_url,
        )
        self.query_resource = QueryResource(self)
        self.bulk = BulkQueryResource(self)
        self.sobjects = SObjectResource(self)
        self.collections = CollectionsResource(self)
        self.writer = RecordWriter(self)
        self.sandbox_app: ConnectedApp | None = None
        self.last_seed: SeedSummary | None = None
        if sandbox_app:
            self.sandbox_app = self.add_app(
                DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, run_as=DEFAULT_USERNAME
            )

    # -- org, apps and sessions -------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    def add_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        run_as: str | None = None,
        certificate: bytes | None = None,
        preauthorized: Iterable[str] = (),
        rotate_refresh_tokens: bool = False,
        require_secret_for_refresh: bool = True,
    ) -> ConnectedApp:
        """Register an External Client App: ``run_as`` enables client credentials,
        ``certificate`` (PEM certificate or public key) the JWT bearer flow for the
        ``preauthorized`` usernames."""
        for username in (run_as, *preauthorized):
            if username:
                self.org.add_user(username)
        app = ConnectedApp(
            client_id,
            client_secret,
            run_as,
            certificate,
            set(preauthorized),
            rotate_refresh_tokens,
            require_secret_for_refresh,
        )
        return self.oauth.add_app(app)

    def add_credential(self, secret: str, account: str = "default") -> None:
        """Accept ``secret`` as a session id (as if issued by a login) of the user
        ``account`` ("default" = the sandbox integration user)."""
        username = DEFAULT_USERNAME if account == "default" else account
        self.oauth.add_session(secret, username)
        self._credentials[secret] = username

    def issue_refresh_token(self, client_id: str, username: str = DEFAULT_USERNAME) -> str:
        """A refresh token for ``username`` and the app, as the web-server flow gives."""
        return self.oauth.issue_refresh_token(client_id, username)

    def expire_sessions(self) -> None:
        """Every access token stops working now (401 ``INVALID_SESSION_ID``)."""
        self.oauth.expire_sessions()

    def user_id(self, request: Request) -> str | None:
        user: str | None = request.scope.get(_USER_KEY)
        return user

    # -- base hooks ---------------------------------------------------------------------------

    def public_paths(self) -> tuple[str, ...]:
        return (OAUTH,)

    def authenticate(self, request: Request) -> str | None:
        if request.url.path == DATA:
            return "versions"
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            return None
        session = self.oauth.session(token.strip())
        if session is None:
            return None
        request.scope[_USER_KEY] = session.user_id
        return self.org.org_id

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        if not isinstance(error, ApiError):
            error = ApiError(error.status, "UNKNOWN_EXCEPTION", error.message)
        return error.response()

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        if error.kind == "json":
            message = f"{error.detail} at [line:{error.line}, column:{error.column}]"
            return ApiError(400, "JSON_PARSER_ERROR", message)
        if error.kind == "shape":
            return ApiError(400, "JSON_PARSER_ERROR", error.message)
        return ApiError(400, "INVALID_PARAMETER_VALUE", error.message)

    async def unrouted(self, request: Request, allowed: list[str]) -> Response:
        """405 ``METHOD_NOT_ALLOWED`` naming the allowed methods, else 404 ``NOT_FOUND``."""
        if allowed:
            message = (
                f"HTTP Method '{request.method}' not allowed. Allowed are "
                f"{','.join(sorted(set(allowed)))}"
            )
            raise ApiError(405, "METHOD_NOT_ALLOWED", message)
        raise ApiError(404, "NOT_FOUND", NOT_FOUND)

    def screen(self, request: Request) -> tuple[str, Response] | None:
        """414 when the URI is over ``max_uri_bytes``, 431 when URI and headers are over
        ``max_request_bytes`` (HTML pages, as the front end answers)."""
        scope = request.scope
        query: bytes = scope.get("query_string", b"")
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        uri = len(raw) + (len(query) + 1 if query else 0)
        refused = None
        if uri > self.max_uri_bytes:
            refused = 414, "URI Too Long"
        elif uri + sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_request_bytes:
            refused = 431, "Request Header Fields Too Large"
        if refused is None:
            return None
        status, reason = refused
        page = f"<html><body><h1>{status} {reason}</h1></body></html>"
        return "oversized", HTMLResponse(page, status_code=status)

    def unauthorized_response(self, request: Request) -> Response:
        error = ApiError(401, "INVALID_SESSION_ID", _SESSION_EXPIRED)
        return error.response({"WWW-Authenticate": "Token"})

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        if request.url.path.startswith(OAUTH):
            return self.error_response(request, 503)
        return ApiError(403, "REQUEST_LIMIT_EXCEEDED", LONG_TXN).response()

    def error_response(self, request: Request, status: int) -> Response:
        if request.url.path.startswith(OAUTH):  # the token endpoint's own shape (inferred)
            body = {"error": "temporarily_unavailable", "error_description": _OAUTH_DOWN}
            return json_response(body, status, {"Cache-Control": "no-store"})
        code, message = _ERRORS.get(status, ("UNKNOWN_EXCEPTION", "An unexpected error occurred"))
        return ApiError(status, code, message).response()

    def sends_rate_limit_headers(self, request: Request) -> bool:
        return request.url.path != DATA

    def rate_limit_headers(
        self,
        request: Request,
        account: str,
        remaining: int | None,
        limit: int | None,
        reset_in: float | None,
    ) -> dict[str, str]:
        return {"Sforce-Limit-Info": self.limits.header()}

    def uvicorn_options(self) -> dict[str, Any]:
        # let requests past h11's 16 KiB default reach the app, which answers 414/431 itself
        return {"h11_max_incomplete_event_size": 1 << 20}

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "", self._directory),
            ("GET", "/limits", self._limits),
            *self.query_resource.routes(),
            *self.bulk.routes(),
            *self.sobjects.routes(),
            *self.collections.routes(),
        ]
        return [
            Route(DATA, self._versions, methods=["GET"]),
            Route("/services/oauth2/token", self.oauth.token_endpoint, methods=["POST"]),
            *(Route(f"{DATA}/{{version}}{sub}", self._rest(h), methods=[m]) for m, sub, h in table),
        ]

    def _rest(self, handler: Handler) -> Callable[[Request], Any]:
        """A REST route: limits, then the API version, then the handler; errors as arrays."""

        async def endpoint(request: Request) -> Response:
            limits = self.limits
            limits.check_long_running(self.long_running(request, limits.long_request_seconds))
            limits.count_call()
            version = self._version(request.path_params["version"])
            return await handler(request, version)

        return endpoint

    def _version(self, segment: str) -> str:
        number = parse_version(segment)
        if number is None or number > self.latest_api_version:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND)
        if number < self.api_version_floor:
            message = f"Version {segment} of the API has been retired and is no longer supported."
            raise ApiError(410, "UNSUPPORTED_API_VERSION", message)
        return f"{number:.1f}"

    def _versions_list(self) -> list[float]:
        first, last = int(self.api_version_floor), int(self.latest_api_version)
        return [float(v) for v in range(max(first, 1), last + 1) if v >= self.api_version_floor]

    async def _versions(self, request: Request) -> Response:
        return json_response(
            [
                {"label": release_label(v), "url": f"{DATA}/v{v:.1f}", "version": f"{v:.1f}"}
                for v in self._versions_list()
            ]
        )

    async def _directory(self, request: Request, version: str) -> Response:
        base = f"{DATA}/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return json_response({name: f"{base}/{name}" for name in names})

    async def _limits(self, request: Request, version: str) -> Response:
        return json_response(self.limits.snapshot())

    # -- serving ------------------------------------------------------------------------------

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ca_bundle: str | None = None,
        tls: bool = True,
    ) -> ServedSimulator:
        """Serve on loopback, over HTTPS with a local CA unless ``tls`` is False (or a
        certificate is given); ``served.ca_bundle`` is the CA PEM a client must trust."""
        if tls and ssl_certfile is None:
            if self.tls is None:
                self.tls = LocalTLS(self.tls_dir)
            ssl_certfile, ssl_keyfile = str(self.tls.certfile), str(self.tls.keyfile)
            ca_bundle = str(self.tls.ca_bundle)
        return super().serve(
            host, port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, ca_bundle=ca_bundle
        )

    # -- seeding and inspection ---------------------------------------------------------------

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """The sandbox audience as Contacts, Leads (some converted, some sharing a Contact's
        email), opt-outs and closed-won Opportunities with contact roles (:mod:`.seed`)."""
        self.last_seed = self.seed_org(contacts)

    def seed_org(self, contacts: list[dict[str, Any]]) -> SeedSummary:
        user = self.org.add_user(DEFAULT_USERNAME)
        return seed_org(self.org, contacts, seed=self.seed, user_id=user)

    def insert(self, sobject: str, **values: Any) -> str:
        """Insert a record directly (no API rules; field names as the API spells them);
        returns its id. ``CreatedDate``/``SystemModstamp`` may be given as epoch ms."""
        obj = object_type(sobject)
        if obj is None:
            raise ValueError(f"unknown sObject type {sobject!r}")
        created = values.pop("CreatedDate", None)
        modified = values.pop("SystemModstamp", values.pop("LastModifiedDate", None))
        user = self.org.add_user(DEFAULT_USERNAME)
        record = self.org.insert(obj.name, values, user_id=user, created=created, modified=modified)
        return str(record["Id"])

    def update(
        self, sobject: str, record_id: str, *, at: float | None = None, **values: Any
    ) -> None:
        """Change a record as a user would in Salesforce (no API rules; field names as the API
        spells them): stamps bumped, history rows written for tracked fields. ``at`` is the
        time of the change (epoch seconds; default now)."""
        obj = object_type(sobject)
        rid = to_18(record_id)
        if obj is None or rid is None or rid not in self.org.records[obj.name]:
            raise ValueError(f"no {sobject} with id {record_id!r}")
        user = self.org.add_user(DEFAULT_USERNAME)
        modified = None if at is None else int(at * 1000)
        self.org.update(obj.name, rid, values, modified=modified, user_id=user)

    def delete(self, sobject: str, record_id: str) -> None:
        """Delete a record as a user would (to the recycle bin; members cascade)."""
        obj = object_type(sobject)
        rid = to_18(record_id)
        if obj is None or rid is None or rid not in self.org.records[obj.name]:
            raise ValueError(f"no {sobject} with id {record_id!r}")
        self.org.delete(obj.name, rid)

    def convert_lead(self, lead_id: str, contact_id: str) -> None:
        """Convert a Lead into an existing Contact (its campaign members keep the LeadId)."""
        self.org.convert_lead(str(to_18(lead_id)), str(to_18(contact_id)))

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """A record's stored values (tombstones included), or None."""
        obj = object_type(sobject)
        rid = to_18(record_id)
        if obj is None or rid is None:
            return None
        return self.org.get(obj.name, rid)

    def credentials_for_sandbox(self) -> dict[str, str]:
        """``{"client_id", "client_secret"}`` of the sandbox app (client credentials flow),
        else ``{"session_id"}`` of an added credential; LookupError when there is neither."""
        if self.sandbox_app is not None:
            app = self.sandbox_app
            return {"client_id": app.client_id, "client_secret": app.client_secret}
        for token in self._credentials:
            return {"session_id": token}
        raise LookupError("salesforce simulator has no credentials")

    def sandbox_settings(self) -> dict[str, str]:
        """``api_version``, and once served ``login_url`` (the token endpoint's host, also the
        ``instance_url`` logins return) and ``ca_bundle`` when served over TLS."""
        out = {"api_version": f"{self.latest_api_version:.1f}"}
        if self.served_url is not None:
            out["login_url"] = self.served_url
        if self.tls is not None and self.served_url and self.served_url.startswith("https"):
            out["ca_bundle"] = str(self.tls.ca_bundle)
        return out

    def campaign_members(self, campaign_id: str) -> set[str]:
        """The Contact/Lead ids that are live members of a campaign."""
        return set(self.org.members_of(to_18(campaign_id) or campaign_id))

    def campaigns(self, name: str | None = None) -> list[str]:
        """Ids of the live campaigns (called ``name``, when given), oldest first."""
        return [
            r["Id"]
            for r in self.org.records["Campaign"].values()
            if not r["IsDeleted"] and (name is None or r["Name"] == name)
        ]

    def state(self) -> dict[str, Any]:
        org = self.org
        campaigns = {
            r["Id"]: {"name": r["Name"], "members": sorted(org.members_of(r["Id"]))}
            for r in org.records["Campaign"].values()
            if not r["IsDeleted"]
        }
        return {
            "org_id": org.org_id,
            "objects": {name: org.live_count(name) for name in org.records},
            "campaigns": campaigns,
            "api_usage": self.limits.api_usage,
            "bulk_query_jobs": len(self.bulk.jobs),
            "open_query_locators": len(self.query_resource.cursors),
            "sessions": len(self.oauth.sessions),
        }
