"""The HubSpot connector: contacts and won deals in; lists and a segments property out.

The reference HTTP connector: everything generic comes from :mod:`segsync.http` (one client,
paced per token and retried by the one policy), everything HubSpot-specific lives beside this
module — :mod:`.api` (what HubSpot's answers mean), :mod:`.source` (reading),
:mod:`.destination` (writing), :mod:`.eraser` (GDPR delete, with ``erase_records =
"delete"``). See ``docs/connectors/hubspot.md``.
"""

from __future__ import annotations

from typing import Any

from segsync.connector import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
)
from segsync.http import BearerAuth, connect, credential_key, pacer_for

from .api import classify, read_limits
from .destination import BATCH_MAX, HubSpotWriter
from .eraser import HubSpotEraser
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
        erases=frozenset({"delete"}),
    )
    settings: HubSpotSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        common: dict[str, Any] = {
            "platform": "hubspot",
            "credential": s.token,
            "auth": BearerAuth(s.token),
            "requests": s.requests_per_10s,
            "per": 10.0,
            "concurrency": s.concurrency,
            "classify": classify,
        }
        self.http = connect(context, s.base_url, read_limits=read_limits, **common)
        # searches count against both the search limit and the account's burst limit; their
        # answers carry no burst headers
        search = pacer_for(credential_key("hubspot-search", s.base_url, s.token),
                           s.search_per_second, 1.0, 1)  # fmt: skip
        self.search_http = connect(
            context,
            s.base_url,
            also_paced_by=search,
            name=f"hubspot:{context.instance}:search",
            **common,
        )
        self.source: ContactReader = ContactReader(s, self.http, self.search_http)
        self.destination: HubSpotWriter = HubSpotWriter(s, self.http)
        if s.erase_records == "delete":
            self.eraser = HubSpotEraser(s, self.http)

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
        problems = await self.source.property_problems()
        if problems:
            return CheckResult(ok=False, detail="; ".join([detail, *problems]))
        if problems is None:
            detail += (
                "; the mapped properties are not checked (reading the portal's property "
                "definitions needs the scope crm.schemas.contacts.read)"
            )
        return CheckResult(ok=True, detail=detail)
