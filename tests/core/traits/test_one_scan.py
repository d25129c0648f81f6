"""One scan of the events gives every trait exactly the values of one scan per trait.

Every trait of the example configs and of ``segsync init``'s template, and traits covering
every aggregate function, filter, window, tie rule and kind that reads events, are computed
both ways — :func:`compute_traits` as runs do (one scan, traits side by side) and with
``one_scan=False`` (each trait its own ``GROUP BY``, what runs did before) — on seeded data
with NULL values and properties, ties, events on the windows' edges and after the as-of,
profiles without events and with only other events, at several run as-ofs and with traits
pinned to their own; profile_traits (values and column types), warnings and fitted models must
be identical.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlglot import exp

from segsync.engine.duckdb import DuckDBEngine
from segsync.model.profile import ATTRIBUTE_SQL_TYPES, BUILTIN_COLUMNS, AttributeType
from segsync.pipeline.traits import TraitResults, compute_traits
from segsync.plugins import load_plugins, reset_plugins
from segsync.state.store import Store
from segsync.traits import TraitContext, TraitKind, TraitSettings, TraitSpec, build_trait
from segsync.traits.base import EventSummary, output, per_profile

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "src" / "core" / "templates" / "segsync.toml"
CONFIGS = [*sorted((ROOT / "examples").glob("*/segsync.toml")), TEMPLATE]
AS_OF = dt.datetime(2026, 3, 1)
DAY = dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)

MORE: dict[str, dict[str, Any]] = {
    # every aggregate function, on the value and on a numeric property
    **{
        f"agg_{f}": {"kind": "aggregate", "event": "order", "function": f, "within": "365d"}
        for f in (
            "count",
            "count_days",
            "count_weeks",
            "sum",
            "avg",
            "min",
            "max",
            "first",
            "last",
            "first_at",
            "last_at",
        )
    },
    **{
        f"qty_{f}": {"kind": "aggregate", "event": "order", "function": f, "field": "qty"}
        for f in ("sum", "avg", "min", "max", "first", "last")
    },
    # filters: text, boolean, number; a type nobody has; a window of dates; an own as-of
    "web_orders": {
        "kind": "aggregate",
        "event": "order",
        "function": "count",
        "where": {"channel": "web"},
    },
    "gift_spend": {
        "kind": "aggregate",
        "event": "order",
        "function": "sum",
        "where": {"gift": True, "channel": "app"},
        "within": "90d",
    },
    "two_items": {"kind": "aggregate", "event": "order", "function": "count", "where": {"qty": 2}},
    "refunds": {"kind": "aggregate", "event": "refund", "function": "sum"},
    "returns": {"kind": "aggregate", "event": "return", "function": "max", "within": "30d"},
    "carts_q4": {
        "kind": "aggregate",
        "event": "cart",
        "function": "count",
        "since": "2025-10-01",
        "until": "2026-01-01",
    },
    "carts_pinned": {
        "kind": "aggregate",
        "event": "cart",
        "function": "last",
        "within": "30d",
        "as_of": "2025-12-24T18:00:00Z",
    },
    "days_since_visit": {"kind": "recency", "event": "visit"},
    "days_since_web": {"kind": "recency", "event": "order", "where": {"channel": "web"}},
    "span": {"kind": "tenure", "event": "order", "end": "last_event"},
    "age_pinned": {"kind": "tenure", "event": "order", "as_of": "2025-06-01"},
    "stage_custom": {
        "kind": "lifecycle",
        "new_days": 10,
        "active_days": 40,
        "lost_days": 100,
        "loyal_orders": 2,
        "loyal_window": "60d",
        "names": {"loyal": "vip"},
    },
    "visit_stage": {"kind": "lifecycle", "event": "visit"},
    "tier_share": {
        "kind": "value_tier",
        "quantiles": {"low": 0.3, "mid": 0.7, "top": 1.0},
        "ties": "share",
        "within": "365d",
    },
    "tier_avg": {
        "kind": "value_tier",
        "measure": "average",
        "quantiles": {"low": 0.5, "top": 1.0},
        "none": "nothing",
    },
    "rfm_split": {"kind": "rfm", "event": "order", "ties": "split", "buckets": 3, "within": "365d"},
    "rfm_carts": {"kind": "rfm", "event": "cart", "ties": "share", "buckets": 4},
    "points": {
        "kind": "score",
        "rules": [
            {"event": "order", "points": 2.5, "per_event": True, "half_life": "30d"},
            {"event": "visit", "points": -1, "within": "14d"},
            {"event": "order", "points": 7, "where": {"gift": True}},
            {"when": "agg_count >= 3", "points": 4},  # another trait's column: computed after it
        ],
    },
    "persona_traits": {
        "kind": "cluster",
        "features": ["agg_count", "agg_sum", "orders_count"],
        "k": 3,
        "seed": 1,
    },
}


def example_traits() -> dict[str, dict[str, Any]]:
    """Every trait of the examples and the template, named ``<example>_<trait>``."""
    found: dict[str, dict[str, Any]] = {}
    for path in CONFIGS:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        prefix = path.parent.name if path.parent.name != "templates" else "init"
        for name, table in config.get("traits", {}).items():
            found[f"{prefix}_{name}"] = table
    return found


def attributes() -> dict[str, str]:
    columns: dict[str, str] = {}
    for path in CONFIGS:
        columns |= tomllib.loads(path.read_text(encoding="utf-8")).get("attributes", {})
    return columns


class BigOrders(TraitKind[TraitSettings]):
    """A plugin kind with a summary of its own making: orders worth 100 or more (no window,
    no as-of), and events of any type with a value (no type): the scan cannot narrow them."""

    name: ClassVar[str] = "big_orders"
    Settings: ClassVar[type[TraitSettings]] = TraitSettings

    def columns(self) -> dict[str, AttributeType]:
        return {f"{self.trait}_n": "integer", f"{self.trait}_valued": "integer"}

    def events(self, ctx: TraitContext) -> EventSummary:
        value = exp.column("value")
        big = exp.GTE(this=value, expression=exp.Literal.number(100))
        return EventSummary(
            where=exp.or_(exp.not_(exp.Is(this=value.copy(), expression=exp.Null())), big),
            columns={
                "n": exp.Count(this=exp.Case(ifs=[exp.If(this=big.copy(), true=value.copy())])),
                "valued": exp.Count(this=exp.Star()),
            },
        )

    def summary_values(self, ctx: TraitContext) -> list[exp.Expr]:
        return [
            output(exp.column("n", table="a"), f"{self.trait}_n", "integer"),
            output(exp.column("valued", table="a"), f"{self.trait}_valued", "integer"),
        ]

    def query(self, ctx: TraitContext) -> exp.Select:
        return per_profile(self.event_rows(ctx), *self.summary_values(ctx))


class Store_:
    """A store with seeded profiles (every built-in column and the examples' attributes) and
    events."""

    def __init__(self, seed: int = 18) -> None:
        self.store = Store.memory()
        rng = random.Random(seed)
        columns = {n: ATTRIBUTE_SQL_TYPES[t] for n, t in BUILTIN_COLUMNS.items()}
        columns |= {n: ATTRIBUTE_SQL_TYPES[t] for n, t in attributes().items()}
        keys = [f"p{i:03d}" for i in range(240)]
        events = self._events(rng, keys[:200])  # p200.. have no event at all
        orders: dict[str, list[tuple[dt.datetime, Decimal | None]]] = {}
        for key, _, type_, at, value, _ in events:
            if type_ == "order":
                orders.setdefault(key, []).append((at, value))
        con = self.store.con
        con.execute(
            "CREATE OR REPLACE TABLE profiles ("
            + ", ".join(f'"{n}" {t}' for n, t in columns.items())
            + ")"
        )
        rows = []
        for key in keys:
            mine = orders.get(key, [])
            row: dict[str, Any] = {
                "profile_key": key,
                "orders_count": len(mine),
                "revenue": sum((v for _, v in mine if v is not None), Decimal(0)),
                "first_order_at": min((a for a, _ in mine), default=None),
                "last_order_at": max((a for a, _ in mine), default=None),
                "consent_email_marketing": rng.choice([True, False, None]),
                "interests": rng.choice(["running,yoga", "chess", None]),
                "latitude": rng.choice([48.85, 45.76, None]),
                "longitude": rng.choice([2.35, 4.83, None]),
                "country": rng.choice(["FR", "DE", None]),
            }
            rows.append([row.get(n) for n in columns])
        con.executemany(f"INSERT INTO profiles VALUES ({', '.join('?' * len(columns))})", rows)
        con.execute("DELETE FROM profile_events")
        con.executemany(
            "INSERT INTO profile_events (profile_key, event_id, type, occurred_at, value, "
            "properties) VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )

    @staticmethod
    def _events(rng: random.Random, keys: list[str]) -> list[list[Any]]:
        edges = [AS_OF - d * DAY for d in (14, 30, 60, 90, 365)]
        moments = [
            *edges,
            *(e - US for e in edges),
            AS_OF,
            AS_OF - US,
            AS_OF + DAY,
            dt.datetime(2025, 12, 24, 18),
            dt.datetime(2025, 6, 1),
        ]
        events = []
        for i, key in enumerate(keys):
            # a fifth have only carts and visits: in the scan, with no order
            types = ["cart", "visit"] if i % 5 == 0 else ["order"] * 6 + ["cart"] * 3 + ["visit"]
            if i % 7 == 0:
                types.append("refund")
            for j in range(rng.choice([1, 1, 2, 3, 5, 12])):
                if rng.random() < 0.3:
                    at = rng.choice(moments)  # on an edge, at or after the as-of
                else:
                    at = AS_OF - dt.timedelta(seconds=rng.randrange(3 * 365 * 86_400))
                if j and rng.random() < 0.2:
                    at = events[-1][3]  # the same moment as the previous: ties by event_id
                value = rng.choice([None, Decimal("10"), Decimal("20.5"), Decimal("20.5"),
                                    Decimal("99.99"), Decimal("150"), Decimal("0")])  # fmt: skip
                props: dict[str, Any] = {}
                if rng.random() < 0.8:
                    props["channel"] = rng.choice(["web", "app", "store"])
                if rng.random() < 0.5:
                    props["gift"] = rng.random() < 0.5
                if rng.random() < 0.7:
                    props["qty"] = rng.choice([1, 2, 2.0, "2", "3", "many", None, 7.5])
                events.append(
                    [key, f"{key}-{j:02d}", rng.choice(types), at, value, json.dumps(props)]
                )
        return events


@pytest.fixture(scope="module")
def store() -> Iterator[Store_]:
    reset_plugins()
    yield Store_()
    reset_plugins()


def specs(tables: dict[str, dict[str, Any]]) -> dict[str, TraitSpec]:
    kinds = load_plugins(None).trait_kinds
    built = {}
    for name, raw in tables.items():
        values = dict(raw)
        built[name] = build_trait(name, kinds[values.pop("kind")], values)
    built["big"] = build_trait("big", BigOrders, {})
    return built


def _plain(value: Any) -> Any:
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def computed(store: Store_, as_of: dt.datetime, one_scan: bool) -> tuple[Any, ...]:
    traits = specs({**example_traits(), **MORE})
    results: TraitResults = compute_traits(
        store.store.engine, traits, as_of=as_of, one_scan=one_scan
    )
    con = store.store.con
    types = con.execute("DESCRIBE profile_traits").fetchall()
    rows = con.execute("SELECT * FROM profile_traits ORDER BY profile_key").fetchall()
    return (
        [(name, type_) for name, type_, *_ in types],
        [tuple(_plain(v) for v in row) for row in rows],
        [w.model_dump() for w in results.warnings],
        [m.model_dump() for m in results.models],
    )


@pytest.mark.parametrize(
    "as_of",
    [
        AS_OF,
        AS_OF - 200 * DAY,  # in the middle of the data
        AS_OF + 3 * 365 * DAY,  # after it all: empty windows, stale warnings
        AS_OF - 4 * 365 * DAY,  # before it all: no event anywhere
    ],
    ids=["as-of", "mid-data", "after-data", "before-data"],
)
def test_one_scan_gives_exactly_the_values_of_one_scan_per_trait(
    store: Store_, as_of: dt.datetime
) -> None:
    columns, rows, warnings, models = computed(store, as_of, one_scan=True)
    assert computed(store, as_of, one_scan=False) == (columns, rows, warnings, models)
    assert len(rows) == 240
    if as_of == AS_OF:  # the data is rich enough to mean something
        named = [name for name, _ in columns]
        for column in ("agg_first", "qty_max", "web_orders", "tier_share", "rfm_split",
                       "points", "behaviour_days_since_order", "big_n"):  # fmt: skip
            values = [row[named.index(column)] for row in rows]
            assert len(set(values)) > 2, column  # not all NULL or 0
        assert {"trait": "returns", "code": "no_events"} in [
            {k: w[k] for k in ("trait", "code")} for w in warnings
        ]


def test_the_benchmark_traits_read_the_events_once(
    store: Store_, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from segments import trait_config
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    tables = tomllib.loads(trait_config())["traits"]
    assert len(tables) == 20
    seen: list[exp.Expr] = []
    render = DuckDBEngine.sql

    def recording(self: DuckDBEngine, statement: exp.Expr) -> str:
        seen.append(statement)
        return render(self, statement)

    monkeypatch.setattr(DuckDBEngine, "sql", recording)
    traits = specs(tables)
    del traits["big"]
    for one_scan, scans in ((True, 1), (False, 24)):  # 20 traits and 4 staleness questions
        seen.clear()
        compute_traits(store.store.engine, traits, as_of=AS_OF, one_scan=one_scan)
        reading = [
            s for s in seen if any(t.name == "profile_events" for t in s.find_all(exp.Table))
        ]
        assert len(reading) == scans
