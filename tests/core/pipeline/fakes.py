"""A fake destination and a small in-memory store with profiles and a membership, for
component tests of plan, push and the ledger; a fake source, for tests of staging (no
connector, no CLI)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segsync.config import SegmentConfig, SyncConfig
from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    AudienceStats,
    Batch,
    Capabilities,
    Connector,
    ConnectorContext,
    RecordResult,
    SourceSettings,
)
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.model.segments import SegmentBook
from segsync.pipeline import load
from segsync.pipeline.plan import Destination, Planner, SyncPlan
from segsync.pipeline.pull import StagedSource, stage_source
from segsync.pipeline.segments import Membership, compute_segments
from segsync.pipeline.staging import StagingWriter
from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.state.store import Store
from segsync.state.workspace import StorePaths


@dataclass
class FakeSource:
    """A source whose one stream, ``contacts`` or ``events``, yields ``yielded`` in turn
    (pages, or what a broken plugin yields instead)."""

    stream: str
    yielded: list[Any]

    def streams(self) -> tuple[str, ...]:
        return (self.stream,)

    async def contacts(self, cursor: str | None) -> AsyncIterator[Any]:
        for item in self.yielded if self.stream == "contacts" else ():
            yield item

    async def events(self, cursor: str | None) -> AsyncIterator[Any]:
        for item in self.yielded if self.stream == "events" else ():
            yield item


class FakeConnector(Connector):
    name = "fake"
    Settings = SourceSettings
    capabilities = Capabilities(contacts=True, events=True)


PULLED = dt.datetime(2026, 6, 1, 12, 0)


def stage(
    tmp: Path,
    source: FakeSource,
    settings: SourceSettings | None = None,
    *,
    pulled_at: dt.datetime = PULLED,
) -> StagedSource:
    """Stage instance ``shop`` of a connector whose source is ``source``, as ``segsync pull``
    does before it loads (its store and work files in ``tmp``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "segsync.toml").write_text('[store]\npath = "store.duckdb"\n', encoding="utf-8")
    config = load(tmp / "segsync.toml")
    context = ConnectorContext(instance="shop", base_dir=tmp, work_dir=tmp / "w")
    connector = FakeConnector(settings or SourceSettings(), context)
    connector.source = source
    paths = StorePaths(tmp / "store.duckdb")
    return asyncio.run(
        stage_source(config, connector, paths=paths, cursors={}, pulled_at=pulled_at)
    )


def staged_one_by_one(
    encode: Callable[[Any, int], dict[str, Any] | None],
    records: Iterable[Any],
    columns: Mapping[str, str],
) -> str:
    """The staging file of ``records`` encoded one by one by ``encode`` (numbered from 7):
    the reference the column paths are held to, byte for byte."""
    out = io.StringIO()
    writer = StagingWriter(out, columns)
    for seq, record in enumerate(records, start=7):
        row = encode(record, seq)
        assert row is not None
        writer.write(row)
    return out.getvalue()


BOOK_COLUMNS = {"profile_key": "text", "email": "text", "country": "text"}


@dataclass
class FakeDestination:
    """A platform in memory: one audience per name, members by key.

    ``reject`` keys fail on their own (permanently); a batch holding a ``poison`` key is
    refused as a whole (:class:`FatalError`); ``transient`` keys make their batch fail with
    :class:`RetryableError`; ``auth``/``quota`` make every call raise."""

    limit: int = 10
    max_in_flight: int = 3
    delay: float = 0.0
    reject: set[str] = field(default_factory=set)
    poison: set[str] = field(default_factory=set)
    transient: set[str] = field(default_factory=set)
    auth: bool = False
    quota_after: int | None = None
    audiences: dict[str, set[str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    in_flight: int = 0
    max_seen: int = 0
    stats: AudienceStats | None = None
    """What ``audience_stats`` answers (None: nothing to say)."""
    stats_error: Exception | None = None

    def batch_limit(self, kind: str) -> int:
        return self.limit

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        if self.auth:
            raise AuthError("401 Unauthorized")
        created = spec.name not in self.audiences
        if created:
            self.audiences[spec.name] = set()
            self.ids[spec.name] = f"id-{len(self.ids) + 1}"
        return AudienceRef(id=self.ids[spec.name], name=spec.name, kind=spec.kind, created=created)

    async def audience_stats(self, audience: AudienceRef) -> AudienceStats | None:
        if self.stats_error is not None:
            raise self.stats_error
        return self.stats

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        op = "add" if batch.adds else "remove"
        members = batch.adds or batch.removes
        self.calls.append((op, len(members)))
        self.in_flight += 1
        self.max_seen = max(self.max_seen, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.quota_after is not None and len(self.calls) > self.quota_after:
                raise QuotaError("daily limit used up")
            keys = {m.key for m in members}
            if keys & self.poison:
                raise FatalError("400 Bad Request: the batch is invalid")
            if keys & self.transient:
                raise RetryableError("503 Service Unavailable")
            audience = self.audiences[batch.audience.name]
            out = []
            for m in members:
                if m.key in self.reject:
                    out.append(RecordResult.failure(m.key, op, "rejected", permanent=True))
                    continue
                (audience.add if op == "add" else audience.discard)(m.key)
                out.append(RecordResult.success(m.key, op))
            return out
        finally:
            self.in_flight -= 1


class Scene:
    """An in-memory store with profiles ``p000…``, one segment ``everyone`` (``where``
    condition over ``country``), a ledger, and a planner over its membership."""

    def __init__(self, emails: Iterable[str], *, where: str = "TRUE") -> None:
        self.store = Store.memory()
        self.engine = self.store.engine
        self.ledger = Ledger(self.engine)
        self.history = History(self.engine)
        self.load(emails)
        self.where = where

    def load(self, emails: Iterable[str], country: str = "FR") -> None:
        con = self.store.con
        con.execute(
            "CREATE OR REPLACE TABLE profiles (profile_key VARCHAR, email VARCHAR, "
            "phone VARCHAR, country VARCHAR, consent_email_marketing BOOLEAN, "
            "consent_ad_user_data BOOLEAN, consent_ad_personalization BOOLEAN)"
        )
        rows = [(f"k-{e}", e, None, country, True, None, None) for e in emails]
        if rows:
            con.executemany("INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("CREATE OR REPLACE VIEW segment_profiles AS SELECT * FROM profiles")

    def membership(self) -> Membership:
        book = SegmentBook(
            segments={"everyone": SegmentConfig(where=self.where)}, columns=BOOK_COLUMNS
        )
        self.book = book
        return compute_segments(self.engine, book, self.history)

    def plan(
        self,
        sync: SyncConfig | None = None,
        *,
        force: bool = False,
        fresh: bool = False,
        preview: int = 0,
        refresh_days: int | None = None,
        now: dt.datetime | None = None,
    ) -> SyncPlan:
        membership = self.membership()
        planner = Planner(self.engine, self.ledger, membership, self.book, now=now)
        sync = sync or SyncConfig(segment="everyone", destination="fake")
        destination = Destination(
            instance="fake",
            kind="list",
            identifier="email",
            purposes=frozenset(),
            refresh_days=refresh_days,
        )
        return planner.plan("s", sync, destination, force=force, fresh=fresh, preview=preview)
