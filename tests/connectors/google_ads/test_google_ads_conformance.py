"""The Google Ads connector passes segsync's connector conformance suite against the Data
Manager API simulator (user OAuth through a manager account, as in the sandbox)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector_kit import CLIENT_ID, CLIENT_SECRET, USER, emails_on, settings, simulator

from segsync.connector import AudienceRef
from segsync.connectors.google_ads.connector import GoogleAdsConnector
from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.testing.conformance import ConnectorConformance, FaultTransport, Platform


class TestGoogleAdsConformance(ConnectorConformance):
    connector = GoogleAdsConnector
    simulator = DataManagerSimulator
    credential = "1//conformance-refresh-token"

    def make_platform(self, tmp_path: Path) -> Platform:
        sim = simulator()
        sim.add_refresh_token(self.credential, client_id=CLIENT_ID, principal=USER)
        keys: list[str] = []

        def remember(emails: list[str]) -> list[str]:
            keys.extend(emails)
            return list(emails)

        return Platform(
            settings=self.settings,
            credential=self.credential,
            members=lambda audience: self.audience_members(sim, audience, keys),
            seed=lambda contacts: None,
            transport=FaultTransport(sim.transport()),
            reject_key="not-an-email",
            keys=remember,
            secrets=[self.credential, CLIENT_SECRET],
        )

    def settings(self, credential: str) -> dict[str, Any]:
        # a small request size keeps the many-batches test small; the real default is 10,000
        return settings(refresh_token=credential, members_per_request=200)

    def audience_members(  # type: ignore[override]
        self, sim: DataManagerSimulator, audience: AudienceRef, keys: list[str]
    ) -> set[str]:
        return emails_on(sim, audience.id, keys)
