"""The Mailchimp connector: an audience's members and its stores' orders in; tags out.

One instance is **one audience** (``list_id``): its members are the contacts pulled (keyed by
subscriber hash, the MD5 of the lower-cased email) and the audience its tags are pushed to, so
a profile that is not on the audience is skipped and counted as unmatched. To sync several
audiences, configure several instances, one per ``list_id`` (they may share the API key).

Everything generic comes from :mod:`segsync.http` (one client, paced per API key and retried
by the one policy); everything Mailchimp-specific lives beside this module — :mod:`.api` (what
Mailchimp's answers mean), :mod:`.source` (reading), :mod:`.destination` (writing),
:mod:`.eraser` (permanent deletion, with ``erase_records = "delete"``).

Mailchimp has no request-rate quota but allows **10 simultaneous connections** per account
(more answer 429). The pacer caps requests in flight at ``concurrency`` (shared by every
instance using the key), and both the pull and the push use that many connections: pages are
fetched concurrently (yielded in order), and segsync keeps ``concurrency`` push batches of 500
emails (one bulk call each) in flight.
"""

from __future__ import annotations

from typing import Any

from segsync.connector import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Purpose,
)
from segsync.errors import FatalError
from segsync.http import BasicAuth, connect

from .api import classify
from .destination import BULK_MAX, MailchimpWriter
from .eraser import MailchimpEraser
from .settings import MailchimpSettings
from .source import MemberReader

__all__ = ["MailchimpConnector"]

TIMEOUT = 120.0
"""Seconds before a request times out (Mailchimp's own limit; bulk calls can be slow)."""


class MailchimpConnector(Connector):
    name = "mailchimp"
    description = "Mailchimp: one audience's members and store orders in; tags out"
    Settings = MailchimpSettings
    capabilities = Capabilities(
        contacts=True,
        events=True,
        audience_kinds={"tag": frozenset()},
        identifier="id",
        max_batch_size=BULK_MAX,
        creates_members=True,
        erases=frozenset({"delete"}),
    )
    settings: MailchimpSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        self.http = connect(
            context,
            s.api_url,
            platform="mailchimp",
            credential=s.api_key,
            auth=BasicAuth("segsync", s.api_key),
            concurrency=s.concurrency,
            classify=classify,
            timeout=TIMEOUT,
        )
        self.source: MemberReader = MemberReader(s, self.http)
        self.destination: MailchimpWriter = MailchimpWriter(s, self.http)
        if s.erase_records == "delete":
            self.eraser = MailchimpEraser(s, self.http, self.destination.list_path)

    @classmethod
    def create_requires(cls, settings: ConnectorSettings, kind: str) -> frozenset[Purpose]:
        """With ``new_members = "skip"`` only profiles with granted email-marketing consent
        are created (as subscribed); the others are counted as unmatched."""
        assert isinstance(settings, MailchimpSettings)
        if settings.new_members == "skip":
            return frozenset({Purpose.EMAIL_MARKETING})
        return frozenset()

    def http_stats(self) -> dict[str, Any]:
        return self.http.stats.as_dict()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check(self) -> CheckResult:
        list_id = self.settings.list_id
        try:
            answer = await self.http.json(
                "GET", self.destination.list_path, params={"fields": "id,name,stats.member_count"}
            )
        except FatalError as exc:
            if exc.status == 404:
                return CheckResult(
                    ok=False,
                    detail=f"API key accepted, but there is no audience with list_id "
                    f"{list_id!r} (Audience → Settings → Audience name and defaults)",
                )
            raise
        name = answer.get("name", list_id) if isinstance(answer, dict) else list_id
        stats = answer.get("stats") if isinstance(answer, dict) else None
        count = stats.get("member_count") if isinstance(stats, dict) else None
        members = (
            f"{count:,} subscribed member{'' if count == 1 else 's'}"
            if isinstance(count, int)
            else "members"
        )
        detail = f"API key accepted; audience {name!r} has {members}"
        problems = await self.source.merge_field_problems()
        return CheckResult(ok=not problems, detail="; ".join([detail, *problems]))
