"""The Mailchimp connector passes segsync's connector conformance suite (kind "tag")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segsync.connector import AudienceRef
from segsync.connectors.mailchimp.connector import MailchimpConnector
from segsync.connectors.mailchimp.simulator import MailchimpSimulator, subscriber_hash
from segsync.testing.conformance import ConnectorConformance, Platform

# the suite builds MailchimpSimulator(seed=0): ids are seeded, so its first audience is this one
LIST_ID = MailchimpSimulator(seed=0).default_list_id()


class TestMailchimpConformance(ConnectorConformance):
    connector = MailchimpConnector
    simulator = MailchimpSimulator
    # a key naming its data centre, which the simulator checks against the host's
    credential = "conformance0secret0key000000000000-us1"

    def settings(self, credential: str) -> dict[str, Any]:
        # concurrency 1 keeps the many-batches test small (batch_limit = 500 × concurrency × 4)
        return {
            "api_key": credential,
            "base_url": "http://us1.api.mailchimp.test/3.0",
            "list_id": LIST_ID,
            "concurrency": 1,
        }

    def make_platform(self, tmp_path: Path) -> Platform:
        platform = super().make_platform(tmp_path)
        platform.keys([])  # creates the audience (member_keys), for tests that seed no one
        return platform

    def member_keys(self, sim: MailchimpSimulator, emails: list[str]) -> list[str]:
        """Members of the audience (subscribed); their keys are subscriber hashes. The suite
        sends these hashes as ``Member.email`` too, so the connector looks emails up."""
        assert sim.default_list_id() == LIST_ID
        return sim.seed_members(LIST_ID, [{"email": e, "status": "subscribed"} for e in emails])

    def audience_members(self, sim: MailchimpSimulator, audience: AudienceRef) -> set[str]:
        return {subscriber_hash(e) for e in sim.tag_members(LIST_ID, audience.name)}

    def reject_key(self, sim: MailchimpSimulator) -> str | None:
        return subscriber_hash("not-on-the-audience@example.org")  # adding it fails
