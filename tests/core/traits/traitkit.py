"""Helpers for trait tests: a store loaded with profiles and events, and plain-Python
references computed over the same rows (written independently of segsync's SQL)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from segsync.pipeline.traits import compute_traits
from segsync.plugins import load_plugins
from segsync.state.store import Store
from segsync.traits import build_trait

UTC = dt.UTC


def utc(text: str) -> dt.datetime:
    """An ISO moment as naive UTC (offsets converted), as the store keeps it."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@dataclass(frozen=True)
class Ev:
    key: str
    id: str
    at: dt.datetime
    value: Decimal | None = None
    type: str = "order"
    props: Mapping[str, Any] = field(default_factory=dict)


class TraitDb:
    """An in-memory store with ``profiles`` and ``profile_events`` filled by hand."""

    def __init__(self) -> None:
        self.store = Store.memory()
        self.kinds = load_plugins(None).trait_kinds

    def load(self, keys: Iterable[str], events: Sequence[Ev]) -> None:
        con = self.store.con
        con.execute("CREATE OR REPLACE TABLE profiles (profile_key VARCHAR NOT NULL)")
        rows = [[k] for k in keys]
        if rows:
            con.executemany("INSERT INTO profiles VALUES (?)", rows)
        con.execute("DELETE FROM profile_events")
        if events:
            con.executemany(
                "INSERT INTO profile_events (profile_key, event_id, type, occurred_at, value, "
                "properties) VALUES (?, ?, ?, ?, ?, ?)",
                [[e.key, e.id, e.type, e.at, e.value, json.dumps(dict(e.props))] for e in events],
            )

    def compute(
        self, traits: Mapping[str, Mapping[str, Any]], as_of: dt.datetime
    ) -> dict[str, dict[str, Any]]:
        """Compute ``traits`` (name → table as in segsync.toml) as of ``as_of``; return
        profile_key → the profile's row of ``segment_profiles``."""
        specs = {}
        for name, raw in traits.items():
            values = dict(raw)
            kind = self.kinds[values.pop("kind")]
            specs[name] = build_trait(name, kind, values)
        compute_traits(self.store.engine, specs, as_of=as_of)
        rows = self.store.dicts("SELECT * FROM segment_profiles ORDER BY profile_key")
        return {r.pop("profile_key"): r for r in rows}


# -- references --------------------------------------------------------------------------


def in_window(
    e: Ev,
    *,
    event: str = "order",
    start: dt.datetime | None = None,
    end: dt.datetime,
    where: Mapping[str, Any] | None = None,
) -> bool:
    if e.type != event or e.at >= end or (start is not None and e.at < start):
        return False
    for k, v in (where or {}).items():
        got = e.props.get(k)
        if isinstance(v, bool):
            if got is not v:
                return False
        elif isinstance(v, int | float):
            if number(got) != float(v):
                return False
        elif not (isinstance(got, str) and got == v):
            return False
    return True


def number(raw: Any) -> float | None:
    """A JSON property read as a number the way a lenient cast would: numbers and numeric
    text; anything else (booleans, words, absent) is None."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def ref_aggregate(events: Iterable[Ev], function: str, field: str = "value") -> Any:
    """One profile's aggregate over its (already windowed) events."""
    evs = list(events)
    if function == "count":
        return len(evs)

    def get(e: Ev) -> Any:
        return e.value if field == "value" else number(e.props.get(field))

    if function in ("first", "last"):
        if not evs:
            return None
        ordered = sorted(evs, key=lambda e: (e.at, e.id))
        return get(ordered[0] if function == "first" else ordered[-1])
    values = [get(e) for e in evs if get(e) is not None]
    if function == "sum":
        if field == "value":
            return sum(values, Decimal(0))
        return float(sum(values))
    if not values:
        return None
    if function == "avg":
        return float(sum(Decimal(str(v)) for v in values) / len(values))
    return min(values) if function == "min" else max(values)


def ref_ntile(buckets: int, ordered_keys: Sequence[str]) -> dict[str, int]:
    """SQL ntile: rows in order split into ``buckets`` groups whose sizes differ by at most
    one, the larger groups first."""
    size, extra = divmod(len(ordered_keys), buckets)
    out: dict[str, int] = {}
    i = 0
    for bucket in range(1, buckets + 1):
        n = size + (1 if bucket <= extra else 0)
        for key in ordered_keys[i : i + n]:
            out[key] = bucket
        i += n
    return out


# rows R = 5 .. 1, columns F = 1 .. 5: the documented default RFM cells
GRID = {
    5: ["recent_first", "potential_regulars", "potential_regulars", "champions", "champions"],
    4: ["promising", "potential_regulars", "potential_regulars", "regulars", "regulars"],
    3: ["about_to_sleep", "about_to_sleep", "need_attention", "regulars", "regulars"],
    2: ["hibernating", "hibernating", "slipping", "slipping", "cannot_lose"],
    1: ["dormant", "hibernating", "slipping", "slipping", "cannot_lose"],
}


def to_five(score: int, buckets: int) -> int:
    exact = 1 + Fraction((score - 1) * 4, buckets - 1)
    whole = int(exact)
    return whole + (1 if exact - whole >= Fraction(1, 2) else 0)


def ref_rfm(
    events_by_key: Mapping[str, Sequence[Ev]], buckets: int = 5
) -> dict[str, tuple[str, int, int, int]]:
    """profile → (cell, r, f, m) for profiles with at least one (windowed) event."""
    active = {k: evs for k, evs in events_by_key.items() if evs}
    last = {k: max(e.at for e in evs) for k, evs in active.items()}
    freq = {k: len(evs) for k, evs in active.items()}
    money = {
        k: sum((e.value for e in evs if e.value is not None), Decimal(0))
        for k, evs in active.items()
    }
    scores = []
    for measure in (last, freq, money):
        order = sorted(active, key=lambda k, m=measure: (m[k], k))  # type: ignore[misc]
        scores.append(ref_ntile(buckets, order))
    r, f, m = scores
    return {
        k: (GRID[to_five(r[k], buckets)][to_five(f[k], buckets) - 1], r[k], f[k], m[k])
        for k in active
    }
