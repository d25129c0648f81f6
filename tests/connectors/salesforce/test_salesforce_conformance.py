"""The Salesforce connector passes segsync's connector conformance suite (campaigns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segsync.connector import AudienceRef
from segsync.connectors.salesforce.connector import SalesforceConnector
from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.testing.conformance import ConnectorConformance, FaultTransport, Platform, SeedContact

CLIENT_ID = "3MVG9conformance.consumer.key"


class TestSalesforceConformance(ConnectorConformance):
    connector = SalesforceConnector
    simulator = SalesforceSimulator
    audience_kind = "campaign"

    def settings(self, credential: str) -> dict[str, Any]:
        # the credential is the External Client App's consumer secret (client credentials)
        return {
            "login_url": "https://conformance.my.salesforce.com",
            "client_id": CLIENT_ID,
            "client_secret": credential,
            "bulk_poll_seconds": 0.01,
        }

    def make_platform(self, tmp_path: Path) -> Platform:
        sim = SalesforceSimulator(seed=0, sandbox_app=False)
        sim.add_app(CLIENT_ID, self.credential, run_as="conformance@segsync.test")
        transport = FaultTransport(sim.transport())

        def seed(contacts: list[SeedContact]) -> None:
            for c in contacts:
                sim.insert("Contact", FirstName=c.first_name, LastName=c.id, Email=c.email)

        return Platform(
            settings=self.settings,
            credential=self.credential,
            members=lambda audience: self.audience_members(sim, audience),
            seed=seed,
            transport=transport,
            reject_key=self.reject_key(sim),
            keys=lambda emails: self.member_keys(sim, emails),
            secrets=[self.credential],
        )

    def audience_members(self, sim: SalesforceSimulator, audience: AudienceRef) -> set[str]:
        return sim.campaign_members(audience.id)

    def member_keys(self, sim: SalesforceSimulator, emails: list[str]) -> list[str]:
        keys = []
        for email in emails:
            found = [r["Id"] for r in sim.org.by_email("Contact", email) if not r["IsDeleted"]]
            keys.append(found[0] if found else sim.insert("Contact", LastName="M", Email=email))
        return keys

    def reject_key(self, sim: SalesforceSimulator) -> str:
        gone = sim.insert("Contact", LastName="Gone", Email="gone@example.org")
        sim.delete("Contact", gone)
        return gone  # a Contact deleted in Salesforce: its add fails, alone
