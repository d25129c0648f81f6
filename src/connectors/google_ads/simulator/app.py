"""The Data Manager API simulator: routes, auth, quotas and the sandbox hooks, on the base
:class:`~segsync.testing.simulator.Simulator` (faults, request log, serving on loopback).

Every call goes: bearer token (:mod:`.oauth`) → the ``datamanager`` scope → the quota project
(``x-goog-user-project`` or the credential's own: known, API enabled, allowlisted) → quota
(:mod:`.quota`) → accepted uploads whose time has come are applied → the route. Every route
answers with and without a trailing slash (the base's pipeline) and ignores ``$alt`` and other
unknown query parameters; unknown paths (and known paths with another method) get Google's
HTML 404.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import (
    Faults,
    IdSource,
    InputError,
    PlatformError,
    Simulator,
)

from .accounts import AdsAccount, Directory, Project
from .errors import ApiError, error_response, payload_error
from .ingest import IngestionService
from .matching import GoogleUsers
from .oauth import DATAMANAGER_SCOPE, Grant, OAuthServer
from .quota import QUOTA_CLASSES, QuotaClass, QuotaCounter, QuotaLimits
from .status import StatusService
from .userlists import DAY, UserListRecord, UserListService

__all__ = ["DataManagerSimulator"]

SANDBOX_PROJECT = "segsync-sandbox"
SANDBOX_MANAGER = "5555555555"
SANDBOX_ACCOUNT = "1234567890"
SANDBOX_PRINCIPAL = "sandbox-user@segsync.test"
SANDBOX_CLIENT_ID = "segsync-sandbox.apps.googleusercontent.com"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a public test credential
SANDBOX_REFRESH_TOKEN = "1//sandbox-refresh-token"  # noqa: S105 - a public test credential
ANONYMOUS = "anonymous"
UNROUTED = "-"  # the "account" of calls to no API method (they get the HTML 404)

Handler = Callable[[Request, Grant], Awaitable[Response]]

_LISTS = "/v1/accountTypes/{account_type}/accounts/{account_id}/userLists"
_SERVICE = "google.ads.datamanager.v1."
_L = r"/v1/accountTypes/[^/]+/accounts/[^/]+/userLists"
# (method, path regex, RPC, quota class)
_RPC_TABLE: tuple[tuple[str, str, str, QuotaClass], ...] = (
    ("POST", _L, "UserListService.CreateUserList", "ManagementMutate"),
    ("GET", _L, "UserListService.ListUserLists", "ManagementRead"),
    ("GET", _L + "/[^/]+", "UserListService.GetUserList", "ManagementRead"),
    ("PATCH", _L + "/[^/]+", "UserListService.UpdateUserList", "ManagementMutate"),
    ("DELETE", _L + "/[^/]+", "UserListService.DeleteUserList", "ManagementMutate"),
    ("POST", "/v1/audienceMembers:ingest", "IngestionService.IngestAudienceMembers",
     "IngestionMutate"),
    ("POST", "/v1/audienceMembers:remove", "IngestionService.RemoveAudienceMembers",
     "IngestionMutate"),
    ("POST", "/v1/audienceMembers:removeAll", "IngestionService.RemoveAllAudienceMembers",
     "IngestionMutate"),
    ("GET", "/v1/requestStatus:retrieve", "IngestionService.RetrieveRequestStatus",
     "IngestionRead"),
)  # fmt: skip
_RPCS = [(m, re.compile(p + "/?"), _SERVICE + rpc, q) for m, p, rpc, q in _RPC_TABLE]
_NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error {code} ({title})!!1</title>
  <p><b>{code}.</b> <ins>That's an error.</ins>
  <p>{text}  <ins>That's all we know.</ins>
"""


def _rpc(method: str, path: str) -> tuple[str, QuotaClass] | None:
    for rpc_method, pattern, rpc, quota in _RPCS:
        if rpc_method == method and pattern.fullmatch(path):
            return rpc, quota
    return None


class DataManagerSimulator(Simulator):
    """Google's Data Manager API (Customer Match) as segsync uses it (see the package
    docstring for the modules and the contract each one keeps).

    Clocks: ``clock`` times the request log; ``wall_clock`` (epoch seconds) is the API's time
    — token expiry, processing delays, membership expiry, quota windows — and
    :meth:`advance` moves it on.

    Documented limits (reference defaults): ``quota`` (:class:`~.quota.QuotaLimits`; all off
    with ``quotas_enabled=False``), ``max_members_per_request`` 10,000,
    ``max_identifiers_per_member`` 10, ``max_destinations_per_request`` 10, ``default_page_size``
    50 / ``max_page_size`` 1000, ``max_membership_days`` 540, ``min_display_size`` /
    ``min_search_size`` 100 (the size from which a list is eligible to serve),
    ``token_lifetime`` 3599 s.

    Simulation: ``match_share`` / ``phone_match_share`` / ``background_match_share`` (who
    matches, :mod:`.matching`), ``search_share`` (search-network size as a share of the
    display-network size), ``processing_polls`` / ``processing_seconds`` (how long an upload
    stays ``PROCESSING``, :mod:`.status`), ``allow_anonymous`` (no credentials needed, for
    ``AnonymousCredentials``), ``enforce_access`` (check principals against accounts).

    Inferred behaviours, each settable: ``member_path`` (field-path prefix of audience
    members), ``error_info_reason`` (``ErrorInfo.reason`` generic or the first violation's),
    ``accept_uppercase_hex``, ``consent_override`` (member consent overrides the request's per
    field or whole), ``missing_consent`` (drop or accept members with unknown consent),
    ``all_failed_status``, ``match_rate_min_records`` (below it an upload is
    ``MATCH_RATE_RANGE_NOT_ELIGIBLE``), ``display_names_case_sensitive``,
    ``not_allowlisted_status``, ``emit_defaults`` (write zero-valued fields that proto3 JSON
    leaves out).
    """

    name = "google_ads"

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        quota: QuotaLimits | None = None,
        quotas_enabled: bool = True,
        max_members_per_request: int = 10_000,
        max_identifiers_per_member: int = 10,
        max_destinations_per_request: int = 10,
        default_page_size: int = 50,
        max_page_size: int = 1000,
        max_membership_days: int = 540,
        min_display_size: int = 100,
        min_search_size: int = 100,
        search_share: float = 1.0,
        match_share: float = 0.6,
        phone_match_share: float = 0.5,
        background_match_share: float = 0.0,
        processing_polls: int = 1,
        processing_seconds: float = 0.0,
        member_path: str = "audience_members.audience_members",
        error_info_reason: Literal["status", "violation"] = "status",
        accept_uppercase_hex: bool = True,
        consent_override: Literal["field", "object"] = "field",
        missing_consent: Literal["drop", "accept"] = "drop",
        all_failed_status: Literal["FAILED", "PARTIAL_SUCCESS"] = "FAILED",
        match_rate_min_records: int = 1,
        display_names_case_sensitive: bool = True,
        not_allowlisted_status: int = 403,
        emit_defaults: bool = False,
        allow_anonymous: bool = False,
        enforce_access: bool = True,
        token_lifetime: int = 3599,
    ) -> None:
        super().__init__(seed=seed, faults=faults, clock=clock)
        self.wall_clock = wall_clock
        self._offset = 0.0
        self.error_info_reason = error_info_reason
        self.not_allowlisted_status = not_allowlisted_status
        self.allow_anonymous = allow_anonymous
        self.enforce_access = enforce_access
        self._error_ids = IdSource("datamanager-errors", seed)
        self.directory = Directory()
        self.oauth = OAuthServer(
            self.now,
            random.Random(f"datamanager-tokens-{seed}"),  # noqa: S311 - test tokens
            token_lifetime=token_lifetime,
        )
        self.quota = QuotaCounter(quota or QuotaLimits(), self.now) if quotas_enabled else None
        self.users = GoogleUsers(
            seed=seed,
            match_share=match_share,
            phone_share=phone_match_share,
            background_share=background_match_share,
        )
        access = self._enforcing
        self.user_lists = UserListService(
            self.directory,
            rng=random.Random(f"datamanager-lists-{seed}"),  # noqa: S311 - list ids
            max_membership_days=max_membership_days,
            min_display_size=min_display_size,
            min_search_size=min_search_size,
            search_share=search_share,
            default_page_size=default_page_size,
            max_page_size=max_page_size,
            display_names_case_sensitive=display_names_case_sensitive,
            emit_defaults=emit_defaults,
            enforce_access=access,
        )
        self.statuses = StatusService(
            self.directory,
            processing_polls=processing_polls,
            match_rate_min_records=match_rate_min_records,
            all_failed_status=all_failed_status,
            emit_defaults=emit_defaults,
            enforce_access=access,
        )
        self.ingestion = IngestionService(
            self.directory,
            self.user_lists,
            self.users,
            self.statuses,
            clock=self.now,
            rng=random.Random(f"datamanager-requests-{seed}"),  # noqa: S311 - request ids
            enforce_access=access,
            max_members=max_members_per_request,
            max_identifiers=max_identifiers_per_member,
            max_destinations=max_destinations_per_request,
            member_path=member_path,
            accept_uppercase_hex=accept_uppercase_hex,
            consent_override=consent_override,
            missing_consent=missing_consent,
            processing_seconds=processing_seconds,
        )
        if allow_anonymous:
            self.directory.add_project(ANONYMOUS)

    # -- time --------------------------------------------------------------------------------

    def now(self) -> float:
        """The simulator's wall-clock time (epoch seconds), moved on by :meth:`advance`."""
        return self.wall_clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward: tokens expire, uploads get processed,
        memberships run out, quota windows roll over."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds
        self.ingestion.settle()

    def _enforcing(self) -> bool:
        return self.enforce_access

    # -- set-up helpers ----------------------------------------------------------------------

    def add_project(self, project_id: str, **kwargs: Any) -> Project:
        """A Cloud project (``number``, ``api_enabled``, ``allowlisted``)."""
        return self.directory.add_project(project_id, **kwargs)

    def add_account(
        self,
        account_id: str,
        *,
        manager_id: str | None = None,
        users: Iterable[str] = (),
        eu_political_ads_declared: bool = True,
    ) -> AdsAccount:
        """A Google Ads account (10 digits), optionally under a manager, with its users."""
        return self.directory.add_account(
            account_id,
            manager_id=manager_id,
            users=list(users),
            eu_political_ads_declared=eu_political_ads_declared,
        )

    def add_access_token(
        self,
        token: str,
        *,
        principal: str,
        project: str,
        scopes: tuple[str, ...] = (DATAMANAGER_SCOPE,),
        expires_in: float | None = None,
    ) -> None:
        """A bearer token for ``principal`` on ``project`` (never expiring by default)."""
        expires = None if expires_in is None else self.now() + expires_in
        self.oauth.add_access_token(
            token, principal=principal, project=project, scopes=scopes, expires_at=expires
        )

    def add_credential(self, secret: str, account: str = "default") -> None:
        """A static bearer token for the sandbox user on project ``account`` (created if
        missing) — what ``segsync sandbox`` adds when a simulator has no credentials."""
        if account not in self.directory.projects:
            self.directory.add_project(account)
        self.add_access_token(secret, principal=SANDBOX_PRINCIPAL, project=account)

    def new_service_account(self, email: str, project: str) -> dict[str, str]:
        """A service account on ``project`` with a new key; returns its key file (``token_uri``
        points at this simulator once served). Needs ``cryptography``."""
        token_uri = (
            f"{self.served_url}/token" if self.served_url else "https://oauth2.googleapis.com/token"
        )
        return self.oauth.new_service_account_key(email, project, token_uri)

    def add_oauth_client(
        self, client_id: str, secret: str, project: str, *, testing: bool = False
    ) -> None:
        """An OAuth client of ``project`` (``testing``: refresh tokens expire after 7 days)."""
        self.oauth.add_client(client_id, secret, project, testing=testing)

    def add_refresh_token(
        self,
        token: str,
        *,
        client_id: str,
        principal: str,
        scopes: tuple[str, ...] = (DATAMANAGER_SCOPE,),
    ) -> None:
        self.oauth.add_refresh_token(token, client_id=client_id, principal=principal, scopes=scopes)

    def create_list(
        self,
        account_id: str,
        display_name: str,
        *,
        membership_days: int = 540,
        upload_key_type: str = "CONTACT_ID",
    ) -> str:
        """Create a Customer Match list directly (no call, no quota); returns its id."""
        if account_id not in self.directory.accounts:
            raise ValueError(f"unknown account {account_id}")
        rec = UserListRecord(
            account_id=account_id,
            list_id=self.user_lists.new_id(),
            display_name=display_name,
            duration=membership_days * DAY,
            upload_key_type=upload_key_type,
            data_source_type="DATA_SOURCE_TYPE_FIRST_PARTY"
            if upload_key_type == "CONTACT_ID"
            else None,
        )
        self.user_lists.lists.setdefault(account_id, {})[rec.list_id] = rec
        return rec.list_id

    def add_google_user(self, *, emails: Iterable[str] = (), phones: Iterable[str] = ()) -> int:
        """A Google user known by these *normalised* emails and E.164 phones; returns its id."""
        digests = [hashlib.sha256(v.encode()).digest() for v in (*emails, *phones)]
        return self.users.add_user(digests)

    # -- sandbox hooks -----------------------------------------------------------------------

    def ensure_sandbox(self) -> None:
        """The sandbox's project, manager and operating account, user and OAuth client."""
        if SANDBOX_PROJECT not in self.directory.projects:
            self.directory.add_project(SANDBOX_PROJECT)
        if SANDBOX_MANAGER not in self.directory.accounts:
            self.directory.add_account(SANDBOX_MANAGER, users=[SANDBOX_PRINCIPAL])
        if SANDBOX_ACCOUNT not in self.directory.accounts:
            self.directory.add_account(SANDBOX_ACCOUNT, manager_id=SANDBOX_MANAGER)
        if SANDBOX_CLIENT_ID not in self.oauth.clients:
            self.oauth.add_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_PROJECT)
            self.oauth.add_refresh_token(
                SANDBOX_REFRESH_TOKEN, client_id=SANDBOX_CLIENT_ID, principal=SANDBOX_PRINCIPAL
            )

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        """Seed the Google users uploads can match (see :mod:`.matching`) from
        ``segsync sandbox``'s contacts, and set up the sandbox accounts."""
        self.ensure_sandbox()
        self.users.seed_contacts(contacts)

    def credentials_for_sandbox(self) -> dict[str, str]:
        """A user OAuth client and refresh token for the sandbox user, and the token URI to
        exchange them at (this simulator's ``/token`` once served)."""
        self.ensure_sandbox()
        token_uri = f"{self.served_url}/token" if self.served_url else "/token"
        return {
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "refresh_token": SANDBOX_REFRESH_TOKEN,
            "token_uri": token_uri,
        }

    def sandbox_settings(self) -> dict[str, str]:
        """The operating account (with its account type), the manager account the sandbox
        user logs in through, and the quota project."""
        self.ensure_sandbox()
        return {
            "account_type": "GOOGLE_ADS",
            "operating_account_id": SANDBOX_ACCOUNT,
            "login_account_id": SANDBOX_MANAGER,
            "quota_project": SANDBOX_PROJECT,
        }

    # -- inspection --------------------------------------------------------------------------

    def _list(self, list_id: str) -> UserListRecord:
        for rec in self.user_lists.all_lists():
            if rec.list_id == list_id:
                return rec
        raise KeyError(f"no user list {list_id}")

    def list_info(self, list_id: str) -> dict[str, Any]:
        """The list as ``userLists.get`` answers it."""
        self.ingestion.settle()
        return self.user_lists.to_json(self._list(list_id))

    def list_members(self, list_id: str) -> list[dict[str, Any]]:
        """The list's members: identifier digests (hex), matched user, upload and expiry."""
        self.ingestion.settle()
        return [
            {
                "identifiers": [d.hex() for d in m.digests],
                "user": m.user,
                "uploaded_at": m.uploaded_at,
                "expires_at": m.expires_at,
            }
            for m in self._list(list_id).members
        ]

    def state(self) -> dict[str, Any]:
        """Accounts, lists (sizes, match rates), uploads and quota use — no identifiers."""
        self.ingestion.settle()
        quota: dict[str, dict[str, dict[str, int]]] = {}
        if self.quota is not None:
            for project in self.directory.projects:
                quota[project] = {q: self.quota.usage(project, q) for q in QUOTA_CLASSES}
        return {
            "projects": {p.project_id: {"number": p.number, "api_enabled": p.api_enabled,
                                        "allowlisted": p.allowlisted}
                         for p in self.directory.projects.values()},
            "accounts": {a.account_id: {"manager_id": a.manager_id, "users": sorted(a.users)}
                         for a in self.directory.accounts.values()},
            "lists": [
                {"account_id": rec.account_id, "id": rec.list_id,
                 "display_name": rec.display_name, "members": len(rec.members),
                 "size": rec.members.size, "match_rate": rec.members.match_rate()}
                for rec in self.user_lists.all_lists()
            ],
            "uploads": {"total": len(self.statuses.uploads),
                        "pending": len(self.ingestion.pending)},
            "google_users": self.users.count,
            "quota": quota,
        }  # fmt: skip

    # -- auth --------------------------------------------------------------------------------

    def public_paths(self) -> tuple[str, ...]:
        return ("/token",)

    def authenticate(self, request: Request) -> str | None:
        if _rpc(request.method, request.url.path) is None:
            return UNROUTED  # Google's front end answers 404 before looking at credentials
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        grant: Grant | str
        if not header:
            grant = (
                Grant(ANONYMOUS, ANONYMOUS, frozenset({DATAMANAGER_SCOPE}))
                if self.allow_anonymous
                else "CREDENTIALS_MISSING"
            )
        elif scheme.lower() != "bearer" or not token.strip():
            grant = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        else:
            grant = self.oauth.verify_bearer(token.strip())
        if isinstance(grant, str):
            request.state.auth_failure = grant
            return None
        user_project = request.headers.get("x-goog-user-project")
        if user_project:
            grant = replace(grant, project=user_project)
        request.state.grant = grant
        return grant.project

    def _metadata(self, request: Request) -> dict[str, str]:
        found = _rpc(request.method, request.url.path)
        meta = {"service": "datamanager.googleapis.com"}
        if found is not None:
            meta["method"] = found[0]
        return meta

    def unauthorized_response(self, request: Request) -> Response:
        reason = getattr(request.state, "auth_failure", "CREDENTIALS_MISSING")
        message = None
        if reason == "CREDENTIALS_MISSING":
            message = (
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            )
        challenge = 'Bearer realm="https://accounts.google.com/"'
        if reason != "CREDENTIALS_MISSING":
            challenge += ', error="invalid_token"'
        err = ApiError(
            401,
            message=message,
            reason=reason,
            domain="googleapis.com",
            metadata=self._metadata(request),
            headers={"WWW-Authenticate": challenge},
            request_info=False,
        )
        return error_response(err, self._error_id())

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        """An injected 429 looks like the per-minute quota of the call's class."""
        found = _rpc(request.method, request.url.path)
        quota: QuotaClass = found[1] if found else "IngestionMutate"
        err = ApiError(
            429,
            reason="RATE_LIMIT_EXCEEDED",
            domain="googleapis.com",
            metadata={
                "quota_limit": f"{quota}RequestsPerMinutePerProject",
                "service": "datamanager.googleapis.com",
            },
            request_info=False,
        )
        return error_response(err, self._error_id())

    def error_response(self, request: Request, status: int) -> Response:
        if status == 502:  # Google's front end answers a bad gateway in HTML
            page = _NOT_FOUND_PAGE.format(
                code=502,
                title="Server Error",
                text="The server encountered a temporary error and could not complete your "
                "request.<p>Please try again in 30 seconds.",
            )
            return HTMLResponse(page, status_code=502)
        return error_response(ApiError(status, request_info=False), self._error_id())

    def _error_id(self) -> str:
        return f"t-{self._error_ids.uuid4()}"

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        if not isinstance(error, ApiError):
            error = ApiError(error.status, message=error.message or None, request_info=False)
        return error_response(error, self._error_id(), error_info_reason=self.error_info_reason)

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        if error.kind == "boolean":
            return payload_error(
                f"Invalid value at '{error.name}' (TYPE_BOOL), \"{error.raw}\"", error.name
            )
        return payload_error("Invalid JSON payload received. Unexpected token.")

    async def unrouted(self, request: Request, allowed: list[str]) -> Response:
        """Google's front end's HTML 404, for unknown paths and other methods alike."""
        path = request.url.path
        page = _NOT_FOUND_PAGE.format(
            code=404,
            title="Not Found",
            text=f"The requested URL <code>{path}</code> was not found on this server.",
        )
        return HTMLResponse(page, status_code=404)

    # -- routes ------------------------------------------------------------------------------

    def _endpoint(
        self, handler: Handler, quota_class: QuotaClass
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            grant: Grant = request.state.grant
            if DATAMANAGER_SCOPE not in grant.scopes:
                raise ApiError(
                    403,
                    message="Request had insufficient authentication scopes.",
                    reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    domain="googleapis.com",
                    metadata=self._metadata(request),
                    headers={
                        "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                        f'error="insufficient_scope", scope="{DATAMANAGER_SCOPE}"'
                    },
                    request_info=False,
                )
            problem = self.directory.project_problem(grant.project)
            if problem is not None:
                raise problem
            project = self.directory.projects[grant.project]
            if not project.allowlisted:
                raise ApiError(
                    self.not_allowlisted_status,
                    message="The Cloud project is not allowlisted for the Data Manager API.",
                    reason="NOT_ALLOWLISTED",
                )
            if self.quota is not None:
                self.quota.charge(project.project_id, project.number, quota_class)
            self.ingestion.settle()
            return await handler(request, grant)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        e, lists = self._endpoint, self.user_lists
        one = f"{_LISTS}/{{list_id}}"
        ingestion = self.ingestion
        table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
            ("POST", "/token", self.oauth.token_endpoint),
            ("POST", _LISTS, e(lists.create, "ManagementMutate")),
            ("GET", _LISTS, e(lists.list_page, "ManagementRead")),
            ("GET", one, e(lists.get, "ManagementRead")),
            ("PATCH", one, e(lists.update, "ManagementMutate")),
            ("DELETE", one, e(lists.delete, "ManagementMutate")),
            ("POST", "/v1/audienceMembers:ingest", e(ingestion.ingest, "IngestionMutate")),
            ("POST", "/v1/audienceMembers:remove", e(ingestion.remove, "IngestionMutate")),
            ("POST", "/v1/audienceMembers:removeAll", e(ingestion.remove_all, "IngestionMutate")),
            ("GET", "/v1/requestStatus:retrieve", e(self.statuses.retrieve, "IngestionRead")),
        ]
        return [Route(path, handler, methods=[method]) for method, path, handler in table]
