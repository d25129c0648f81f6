"""The HubSpot connector passes segsync's connector conformance suite, for both audience kinds."""

from __future__ import annotations

from typing import Any

from segsync.connector import AudienceRef
from segsync.connectors.hubspot.connector import HubSpotConnector
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.testing.conformance import ConnectorConformance


class _HubSpot(ConnectorConformance):
    connector = HubSpotConnector
    simulator = HubSpotSimulator

    def settings(self, credential: str) -> dict[str, Any]:
        # membership_chunk keeps the many-batches test small; the real default is 10,000
        return {"token": credential, "base_url": "http://hubspot.test", "membership_chunk": 250}

    def member_keys(self, sim: HubSpotSimulator, emails: list[str]) -> list[str]:
        return [sim.contact_id(e) or sim.add_contact(e) for e in emails]

    def reject_key(self, sim: HubSpotSimulator) -> str | None:
        return "999999999"  # a record id HubSpot does not have


class TestHubSpotListConformance(_HubSpot):
    audience_kind = "list"

    def audience_members(self, sim: HubSpotSimulator, audience: AudienceRef) -> set[str]:
        return sim.list_members(audience.id)


class TestHubSpotPropertyConformance(_HubSpot):
    audience_kind = "property"

    def audience_members(self, sim: HubSpotSimulator, audience: AudienceRef) -> set[str]:
        return {
            rid
            for rid, value in sim.property_values("segsync_segments").items()
            if audience.id in value.split(";")
        }
