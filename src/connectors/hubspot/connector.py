"""The HubSpot connector: contacts and won deals in; lists and a segments property out.

The reference HTTP connector: everything generic comes from :mod:`segsync.http` (one client,
paced per token and retried by the one policy), everything HubSpot-specific lives beside this
module — :mod:`.api` (what HubSpot's answers mean), :mod:`.source` (reading),
:mod:`.destination` (writing). See ``docs/connectors/hubspot.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
from segsync.http import BearerAuth, HttpClient, PacerChain, credential_key, pacer_for

from .api import classify, read_limits
from .destination import BATCH_MAX, HubSpotWriter
from .settings import HubSpotSettings
from .source import ContactReader

__all__ = ["HubSpotConnector"]


class HubSpotConnector(Connector):
    name = "hubspot"
    description = "HubSpot CRM: contacts and won deals in; MANUAL lists and a segments property out"
    Settings = HubSpotSettings
    capabilities = Capabilities(
        contacts=True,
        events=True,
        audience_kinds={"list": frozenset(), "property": frozenset()},
        identifier="id",
        max_batch_size=BATCH_MAX,
        creates_members=True,
    )
    settings: HubSpotSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        account = pacer_for(credential_key("hubspot", s.base_url, s.token), s.requests_per_10s,
                            10.0, s.concurrency)  # fmt: skip
        search = pacer_for(credential_key("hubspot-search", s.base_url, s.token),
                           s.search_per_second, 1.0, 1)  # fmt: skip
        common: dict[str, Any] = {
            "auth": BearerAuth(s.token),
            "transport": context.transport,
            "classify": classify,
            "max_connections": s.concurrency,
        }
        self.http = HttpClient(
            s.base_url,
            pacer=account,
            read_limits=read_limits,
            name=f"hubspot:{context.instance}",
            **common,
        )
        # searches count against both the search limit and the account's burst limit; their
        # answers carry no burst headers
        self.search_http = HttpClient(
            s.base_url,
            pacer=PacerChain(search, account),
            name=f"hubspot:{context.instance}:search",
            **common,
        )
        self.reader = ContactReader(s, self.http, self.search_http)
        self.writer = HubSpotWriter(s, self.http)

    def source_streams(self) -> tuple[str, ...]:
        return ("contacts", "events") if self.settings.deals else ("contacts",)

    def batch_limit(self, kind: str) -> int:
        """List memberships go by ``membership_chunk`` ids a call; property writes and
        contact upserts by HubSpot's batch limit of 100."""
        return self.settings.membership_chunk if kind == "list" else BATCH_MAX

    def http_stats(self) -> dict[str, Any]:
        return self.http.stats.merge(self.search_http.stats).as_dict()

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.search_http.aclose()

    async def check(self) -> CheckResult:
        response = await self.http.get(
            "/crm/v3/objects/contacts", params={"limit": 1, "properties": "email"}
        )
        headers = response.headers
        detail = f"token accepted by {self.settings.base_url}"
        if "x-hubspot-ratelimit-max" in headers:
            interval = int(headers.get("x-hubspot-ratelimit-interval-milliseconds", "10000"))
            detail += (
                f"; burst limit {headers['x-hubspot-ratelimit-max']} requests per "
                f"{interval / 1000:g} s"
            )
        daily = headers.get("x-hubspot-ratelimit-daily-remaining")
        if daily is not None:
            detail += f", {int(daily):,} left today"
        return CheckResult(ok=True, detail=detail)

    def stream_contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        return self.reader.contacts(cursor)

    def stream_events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        return self.reader.orders()

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        return await self.writer.ensure(spec)

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        if not batch.adds and not batch.removes:
            return []
        return await self.writer.apply(batch)
