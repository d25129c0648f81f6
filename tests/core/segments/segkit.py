"""Helpers for segment tests: a config from TOML text, an in-memory store filled by hand with
profiles and events, and plain-Python references (written independently of segsync's SQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from segsync.config import Config, load_config
from segsync.pipeline.kpis import compute_kpis
from segsync.pipeline.segments import Membership, SegmentResult, compute_segments
from segsync.pipeline.traits import compute_traits
from segsync.plugins import load_plugins, reset_plugins
from segsync.state.history import History
from segsync.state.store import Store

AS_OF = dt.datetime(2026, 3, 1)

HEADER = """
[attributes]
country = "text"
"""


def make_config(tmp_path: Path, text: str) -> Config:
    """A config of ``[attributes] country`` plus ``text`` (segments, kpis, …)."""
    path = tmp_path / "segsync.toml"
    path.write_text(HEADER + text, encoding="utf-8")
    reset_plugins()
    return load_config(path, load_plugins(None))


@dataclass(frozen=True)
class P:
    key: str
    country: str = "FR"
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class E:
    key: str
    at: dt.datetime
    value: Decimal | None = None
    type: str = "order"


class SegDb:
    """An in-memory store whose ``profiles`` and ``profile_events`` are filled by hand."""

    def __init__(self) -> None:
        self.store = Store.memory()
        self.runs = 0
        self.membership: Membership | None = None

    def load(self, profiles: Iterable[P], events: Sequence[E] = ()) -> None:
        con = self.store.con
        con.execute(
            "CREATE OR REPLACE TABLE profiles (profile_key VARCHAR NOT NULL, country VARCHAR, "
            "revenue DECIMAL(18,4), orders_count BIGINT)"
        )
        rows = [[p.key, p.country, p.revenue] for p in profiles]
        if rows:
            con.executemany("INSERT INTO profiles VALUES (?, ?, ?, 0)", rows)
        con.execute("DELETE FROM profile_events")
        if events:
            con.executemany(
                "INSERT INTO profile_events (profile_key, event_id, type, occurred_at, value, "
                "properties) VALUES (?, ?, ?, ?, ?, '{}')",
                [[e.key, f"E{i}", e.type, e.at, e.value] for i, e in enumerate(events)],
            )

    def load_many(self, n: int, *, start: int = 0, country: str = "FR") -> None:
        """``n`` profiles keyed like resolved ones (md5 hex, as :func:`key_of`), numbered
        from ``start``."""
        self.load([])
        self.store.con.execute(
            "INSERT INTO profiles SELECT md5('email:person' || i || '@example.org'), ?, 0, 0 "
            "FROM range(?, ?) t(i)",
            [country, start, start + n],
        )

    def compute(self, config: Config, *, persist: bool = False) -> dict[str, SegmentResult]:
        engine = self.store.engine
        compute_traits(engine, config.traits, as_of=AS_OF)
        history = History(engine)
        membership = compute_segments(engine, config.segment_book, history)
        start, end = config.settings.kpis.bounds(AS_OF)
        compute_kpis(engine, membership, start=start, end=end)
        if persist:
            self.runs += 1
            membership.persist(history, f"run{self.runs}", kpi_window="30d")
        self.membership = membership
        return membership.results

    def members(self, segment: str) -> set[str]:
        assert self.membership is not None
        return {r[0] for r in self.store.engine.rows(self.membership.of(segment))}

    def groups(self, parent: str) -> dict[str, str]:
        """profile_key → group name (without the parent) for ``parent``'s groups."""
        assert self.membership is not None
        rows = [
            (key, segment)
            for segment, key in self.store.engine.rows(self.membership.rows())
            if segment.startswith(parent + ".")
        ]
        out: dict[str, str] = {}
        for key, segment in rows:
            assert key not in out, f"{key} is in two groups of {parent}"
            out[key] = segment.split(".", 1)[1]
        return out


def key_of(i: int) -> str:
    return hashlib.md5(f"email:person{i}@example.org".encode()).hexdigest()


def ref_bucket(seed: str, key: str) -> int:
    """The split bucket as documented: md5(seed ':' key), first 8 hex digits, mod 10,000."""
    return int(hashlib.md5(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 10_000


def ref_group(seed: str, key: str, layout: Sequence[tuple[str, float]]) -> str:
    """The group of ``key``: groups take consecutive bucket ranges in the listed order."""
    bucket = ref_bucket(seed, key)
    upper = 0
    for name, percentage in layout:
        upper += round(percentage * 100)
        if bucket < upper:
            return name
    raise AssertionError("percentages do not cover every bucket")
