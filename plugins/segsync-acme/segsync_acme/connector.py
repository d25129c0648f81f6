"""The Acme CRM connector: contacts in, lists out, over segsync's HTTP kit.

Everything platform-specific is here; everything generic comes from segsync:

* :func:`segsync.http.connect` — one client, paced by a pacer shared by every client using the
  same token, retried by the one retry policy, responses classified by
  :func:`segsync.http.classify_response`;
* :func:`segsync.http.paginate` with a :class:`segsync.http.CursorPaginator` for contacts;
* segsync's push cuts batches for us: ``batch_limit`` is the platform's limit per call, so one
  ``apply_batch`` is one API call, and up to ``max_in_flight`` of them run at once.

The connector plays two roles: :class:`AcmeContacts` is its source and :class:`AcmeLists` its
destination. Per-record errors from the platform become per-record results; a whole-call
failure raises and segsync decides what to do (retry next run, split the batch, or stop on
bad credentials).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import Field, SecretStr

from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    Batch,
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Contact,
    Event,
    Page,
    RecordResult,
)
from segsync.errors import FatalError
from segsync.http import BearerAuth, CursorPaginator, HttpClient, connect, paginate

from .simulator import MAX_MEMBERS_PER_CALL

__all__ = ["AcmeConnector", "AcmeSettings"]


class AcmeSettings(ConnectorSettings):
    token: SecretStr
    """API token (or ``token_file``, or SEGSYNC_CONNECTORS__<NAME>__TOKEN)."""
    base_url: str = "https://api.acme.example"
    page_size: int = Field(default=100, ge=1, le=100)
    requests_per_10s: int = Field(default=50, ge=1)
    """The account's rate limit; pacing tightens further from the X-Acme-RateLimit headers."""


def _read_limits(response: httpx.Response) -> tuple[int | None, int | None, float | None] | None:
    headers = response.headers
    if "x-acme-ratelimit-remaining" not in headers:
        return None
    return (
        int(headers["x-acme-ratelimit-limit"]),
        int(headers["x-acme-ratelimit-remaining"]),
        float(headers["x-acme-ratelimit-reset"]),
    )


class AcmeContacts:
    """The source role: every contact, as a snapshot."""

    def __init__(self, settings: AcmeSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http

    def streams(self) -> tuple[str, ...]:
        return ("contacts",)

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        paginator = CursorPaginator("paging.next.after", "after")
        params = {"limit": self.settings.page_size}
        async for response in paginate(self.http, "GET", "/v1/contacts", paginator, params=params):
            records = [
                Contact(
                    source_id=row["id"],
                    email=row.get("email"),
                    attributes={"first_name": row.get("first_name")},
                )
                for row in response.json()["results"]
            ]
            yield Page(records, snapshot=True)

    async def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        return
        yield  # Acme has no events: an empty stream


class AcmeLists:
    """The destination role: static lists, members by email."""

    max_in_flight = 4

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def batch_limit(self, kind: str) -> int:
        return MAX_MEMBERS_PER_CALL

    async def _find_list(self, name: str) -> str | None:
        found = (await self.http.json("GET", "/v1/lists", params={"name": name}))["results"]
        return str(found[0]["id"]) if found else None

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        list_id = await self._find_list(spec.name)
        if list_id is not None:
            return AudienceRef(id=list_id, name=spec.name, kind=spec.kind)
        try:
            created = await self.http.json("POST", "/v1/lists", json={"name": spec.name})
        except FatalError:
            # A create whose answer was lost (dropped connection) is retried and meets
            # "name taken": the list exists, which is what we wanted. Anything else re-raises.
            list_id = await self._find_list(spec.name)
            if list_id is None:
                raise
            return AudienceRef(id=list_id, name=spec.name, kind=spec.kind, created=True)
        return AudienceRef(id=created["id"], name=spec.name, kind=spec.kind, created=True)

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        body: dict[str, Any] = {
            "add": [m.key for m in batch.adds],
            "remove": [m.key for m in batch.removes],
        }
        answer = await self.http.json("POST", f"/v1/lists/{batch.audience.id}/members", json=body)
        rejected = {e["email"]: e["message"] for e in answer.get("errors", [])}
        results = [
            RecordResult.failure(m.key, "add", rejected[m.key], permanent=True)
            if m.key in rejected
            else RecordResult.success(m.key, "add")
            for m in batch.adds
        ]
        return results + [RecordResult.success(m.key, "remove") for m in batch.removes]


class AcmeConnector(Connector):
    name = "acme"
    description = "Acme CRM: contacts in, static lists out"
    Settings = AcmeSettings
    capabilities = Capabilities(
        contacts=True,
        audience_kinds={"list": frozenset()},
        identifier="email",
        max_batch_size=MAX_MEMBERS_PER_CALL,
    )
    settings: AcmeSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        self.http = connect(
            context,
            s.base_url,
            platform="acme",
            credential=s.token,
            auth=BearerAuth(s.token),
            requests=s.requests_per_10s,
            per=10.0,
            concurrency=4,
            read_limits=_read_limits,
        )
        self.source = AcmeContacts(s, self.http)
        self.destination = AcmeLists(self.http)

    def http_stats(self) -> dict[str, Any]:
        return self.http.stats.as_dict()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check(self) -> CheckResult:
        response = await self.http.get("/v1/lists", params={"name": "segsync-check"})
        return CheckResult(ok=True, detail=f"token accepted ({response.status_code})")
