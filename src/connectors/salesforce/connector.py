"""The Salesforce connector: Contacts, Leads and won Opportunities in; campaigns out.

Everything generic comes from :mod:`segsync.http`; what is Salesforce's lives beside this
module — :mod:`.api` (OAuth, what its answers mean, the calls), :mod:`.source` (reading),
:mod:`.destination` (campaigns), :mod:`.eraser` (``segsync forget``). See
``docs/connectors/salesforce.md``.
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

from .api import COLLECTION_MAX, SalesforceApi
from .destination import CampaignWriter
from .eraser import SalesforceEraser
from .settings import SalesforceSettings
from .source import SalesforceReader

__all__ = ["SalesforceConnector"]


class SalesforceConnector(Connector):
    name = "salesforce"
    description = "Salesforce: Contacts, Leads and won Opportunities in; campaigns out"
    Settings = SalesforceSettings
    capabilities = Capabilities(
        contacts=True,
        events=True,
        audience_kinds={"campaign": frozenset()},
        identifier="id",
        max_batch_size=COLLECTION_MAX,
        creates_members=True,
        erases=frozenset({"delete", "anonymise"}),
    )
    settings: SalesforceSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.api = SalesforceApi(self.settings, context)
        self.source: SalesforceReader = SalesforceReader(self.settings, self.api)
        self.destination: CampaignWriter = CampaignWriter(self.settings, self.api)
        if self.settings.erase_records != "off":
            self.eraser = SalesforceEraser(self.settings, self.api)

    def http_stats(self) -> dict[str, Any]:
        return self.api.stats()

    async def aclose(self) -> None:
        await self.api.aclose()

    async def check(self) -> CheckResult:
        limits = await self.api.call("GET", "/limits")
        instance = await self.api.instance()
        detail = f"{self.settings.auth} login accepted; API at {instance}"
        daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
        if isinstance(daily, dict) and "Max" in daily:
            used = int(daily["Max"]) - int(daily.get("Remaining", 0))
            detail += f"; {used:,} of {int(daily['Max']):,} daily API requests used"
        return CheckResult(ok=True, detail=detail)
