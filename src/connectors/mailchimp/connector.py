"""The Mailchimp connector: an audience's members and its stores' orders in; tags out.

One instance is **one audience** (``list_id``): its members are the contacts pulled (keyed by
subscriber hash, the MD5 of the lower-cased email) and the audience its tags are pushed to, so
a profile that is not on the audience is skipped and counted as unmatched. To sync several
audiences, configure several instances, one per ``list_id`` (they may share the API key).

Everything generic comes from :mod:`segsync.http` (one client, paced per API key and retried
by the one policy); everything Mailchimp-specific lives beside this module — :mod:`.api` (what
Mailchimp's answers mean), :mod:`.source` (reading), :mod:`.destination` (writing).

Mailchimp has no request-rate quota but allows **10 simultaneous connections** per account
(more answer 429). The pacer caps requests in flight at ``concurrency`` (shared by every
instance using the key), and both the pull and the push use that many connections: pages are
fetched concurrently (yielded in order), and a push batch of up to ``500 × concurrency × 4``
changes is sent as 500-email bulk calls, ``concurrency`` at a time.
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
    Purpose,
    RecordResult,
)
from segsync.errors import FatalError
from segsync.http import BasicAuth, HttpClient, credential_key, pacer_for

from .api import classify
from .destination import BULK_MAX, MailchimpWriter
from .settings import MailchimpSettings
from .source import MemberReader

__all__ = ["MailchimpConnector"]

BATCH_WINDOWS = 4
"""Windows of concurrent bulk calls per batch: fewer, larger batches keep more calls in flight."""
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
    )
    settings: MailchimpSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = self.settings
        base = s.api_url
        pacer = pacer_for(credential_key("mailchimp", base, s.api_key), None, 1.0, s.concurrency)
        self.http = HttpClient(
            base,
            auth=BasicAuth("segsync", s.api_key),
            pacer=pacer,
            transport=context.transport,
            classify=classify,
            max_connections=s.concurrency,
            timeout=TIMEOUT,
            name=f"mailchimp:{context.instance}",
        )
        self.reader = MemberReader(s, self.http)
        self.writer = MailchimpWriter(s, self.http)

    def source_streams(self) -> tuple[str, ...]:
        return ("contacts", "events") if self.settings.orders else ("contacts",)

    @classmethod
    def create_requires(cls, settings: ConnectorSettings, kind: str) -> frozenset[Purpose]:
        """With ``new_members = "skip"`` only profiles with granted email-marketing consent
        are created (as subscribed); the others are counted as unmatched."""
        assert isinstance(settings, MailchimpSettings)
        if settings.new_members == "skip":
            return frozenset({Purpose.EMAIL_MARKETING})
        return frozenset()

    def batch_limit(self, kind: str) -> int:
        """``500 × concurrency × 4``: a batch goes out as 500-email bulk calls, ``concurrency``
        in flight at a time (a sliding window within the batch; between batches the pipeline
        drains, so a batch is several windows' worth)."""
        return BULK_MAX * self.settings.concurrency * BATCH_WINDOWS

    def http_stats(self) -> dict[str, Any]:
        return self.http.stats.as_dict()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def check(self) -> CheckResult:
        list_id = self.settings.list_id
        try:
            answer = await self.http.json(
                "GET", self.writer.list_path, params={"fields": "id,name,stats.member_count"}
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
        members = f"{count:,} subscribed members" if isinstance(count, int) else "members"
        return CheckResult(ok=True, detail=f"API key accepted; audience {name!r} has {members}")

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
