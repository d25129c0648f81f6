"""Acme runs segsync's connector conformance suite against its simulator, in one class."""

from __future__ import annotations

from typing import Any

from segsync.connector import AudienceRef
from segsync.testing.conformance import ConnectorConformance
from segsync_acme.connector import AcmeConnector
from segsync_acme.simulator import AcmeSimulator


class TestAcmeConformance(ConnectorConformance):
    connector = AcmeConnector
    simulator = AcmeSimulator

    def settings(self, credential: str) -> dict[str, Any]:
        return {"token": credential, "base_url": "http://simulator.test"}

    def audience_members(self, sim: AcmeSimulator, audience: AudienceRef) -> set[str]:
        return sim.members(audience.id)

    def reject_key(self, sim: AcmeSimulator) -> str | None:
        return "not-an-email"
