"""KPIs per segment against a plain-Python reference over the same rows: window edges, orders
without a value, non-order events, empty segments, rounding; stored per run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from segkit import AS_OF, E, P, SegDb, make_config

from segsync.pipeline.segments import SegmentResult

D = Decimal
START = AS_OF - dt.timedelta(days=30)  # [kpis] window = "30d": [START, AS_OF)
US = dt.timedelta(microseconds=1)

PROFILES = [
    P("p1", "FR", D("120.50")),
    P("p2", "FR", D("0")),
    P("p3", "FR", D("33.3333")),
    P("p4", "DE", D("999.99")),
    P("p5", "DE", D("10.01")),
    P("p6", "FR", D("0")),
]
EVENTS = [
    E("p1", START, D("10.00")),  # exactly at the window's start: in
    E("p1", AS_OF, D("99.00")),  # at the window's end: out
    E("p2", START - US, D("50.00")),  # just before: out
    E("p2", START + dt.timedelta(days=1), D("7.00"), type="visit"),  # not an order
    E("p3", AS_OF - US, None),  # an order without a value: converts, not in the average
    E("p3", START + dt.timedelta(days=3), D("20.50")),
    E("p4", START + dt.timedelta(days=5), D("10")),
    E("p4", START + dt.timedelta(days=6), D("10")),
    E("p4", START + dt.timedelta(days=7), D("10.01")),  # 30.01 / 3 = 10.00333…
    E("p5", AS_OF + dt.timedelta(days=1), D("5")),  # in the future: out
]

SEGMENTS = """
[segments.everyone]
where = "TRUE"

[segments.french]
where = "country = 'FR'"

[segments.german]
where = "country = 'DE'"

[segments.nobody]
where = "FALSE"

[segments.tier]
priority = ["german", "french"]
"""

MEMBERS: dict[str, Callable[[P], bool]] = {
    "everyone": lambda p: True,
    "french": lambda p: p.country == "FR",
    "german": lambda p: p.country == "DE",
    "nobody": lambda p: False,
    "tier": lambda p: True,
    "tier.german": lambda p: p.country == "DE",
    "tier.french": lambda p: p.country == "FR",
}


def q(value: Decimal) -> Decimal:
    return value.quantize(D("0.0001"), rounding=ROUND_HALF_EVEN)


def reference(
    members: Sequence[P], events: Sequence[E], start: dt.datetime, end: dt.datetime, total: int
) -> dict[str, Any]:
    keys = {p.key for p in members}
    orders = [e for e in events if e.key in keys and e.type == "order" and start <= e.at < end]
    valued = [e.value for e in orders if e.value is not None]
    revenue = sum(valued, D(0))
    n = len(members)
    return {
        "size": n,
        "share": round(n / total, 4),
        "conversion_rate": round(len({e.key for e in orders}) / n, 4) if n else None,
        "average_order_value": q(revenue / len(valued)) if valued else None,
        "revenue": q(revenue),
        "mean_value": q(sum((p.revenue for p in members), D(0)) / n) if n else None,
    }


def kpis(r: SegmentResult) -> dict[str, Any]:
    return {
        "size": r.size,
        "share": r.share,
        "conversion_rate": r.conversion_rate,
        "average_order_value": r.average_order_value,
        "revenue": r.revenue,
        "mean_value": r.mean_value,
    }


def test_kpis_match_the_reference(tmp_path: Path) -> None:
    db = SegDb()
    db.load(PROFILES, EVENTS)
    results = db.compute(make_config(tmp_path, SEGMENTS))
    assert set(results) == set(MEMBERS)
    for name, belongs in MEMBERS.items():
        members = [p for p in PROFILES if belongs(p)]
        assert kpis(results[name]) == reference(members, EVENTS, START, AS_OF, 6), name


def test_kpi_values_spelled_out(tmp_path: Path) -> None:
    """The same, by hand, for the French and German segments."""
    db = SegDb()
    db.load(PROFILES, EVENTS)
    results = db.compute(make_config(tmp_path, SEGMENTS))
    assert kpis(results["french"]) == {
        "size": 4,
        "share": 0.6667,
        "conversion_rate": 0.5,  # p1 and p3
        "average_order_value": D("15.2500"),  # (10.00 + 20.50) / 2 valued orders
        "revenue": D("30.5000"),
        "mean_value": D("38.4583"),  # 153.8333 / 4 = 38.458325 → half-even
    }
    assert kpis(results["german"]) == {
        "size": 2,
        "share": 0.3333,
        "conversion_rate": 0.5,
        "average_order_value": D("10.0033"),
        "revenue": D("30.0100"),
        "mean_value": D("505.0000"),
    }
    nobody = results["nobody"]
    assert (nobody.size, nobody.share, nobody.conversion_rate, nobody.revenue) == (
        0,
        0.0,
        None,
        D("0.0000"),
    )
    assert nobody.average_order_value is None and nobody.mean_value is None


@pytest.mark.parametrize(
    ("window", "start"),
    [("1w", AS_OF - dt.timedelta(weeks=1)), ("36h", AS_OF - dt.timedelta(hours=36))],
)
def test_the_window_is_configurable(tmp_path: Path, window: str, start: dt.datetime) -> None:
    db = SegDb()
    db.load(PROFILES, EVENTS)
    results = db.compute(make_config(tmp_path, SEGMENTS + f'\n[kpis]\nwindow = "{window}"\n'))
    assert kpis(results["everyone"]) == reference(PROFILES, EVENTS, start, AS_OF, 6)


def test_kpis_are_stored_per_run(tmp_path: Path) -> None:
    db = SegDb()
    config = make_config(tmp_path, SEGMENTS)
    db.load(PROFILES, EVENTS)
    db.compute(config, persist=True)
    db.load([*PROFILES, P("p7", "FR", D("1"))], EVENTS)  # one more French profile
    db.compute(config, persist=True)
    rows = db.store.dicts("SELECT * FROM segment_kpis WHERE segment = 'french' ORDER BY run_id")
    assert [(r["run_id"], r["size"], r["entered"], r["left"]) for r in rows] == [
        ("run1", 4, 4, 0),
        ("run2", 5, 1, 0),
    ]
    second = rows[1]
    assert second["share"] == round(5 / 7, 4)
    assert second["conversion_rate"] == 0.4
    assert second["average_order_value"] == D("15.2500")
    assert second["revenue"] == D("30.5000")
    assert second["mean_value"] == q(D("154.8333") / 5)
    assert second["kpi_window"] == "30d" and second["too_small"] is False
    groups = db.store.rows("SELECT DISTINCT segment FROM segment_kpis ORDER BY segment")
    assert [g[0] for g in groups] == sorted(MEMBERS)


def test_min_size_flags_too_small(tmp_path: Path) -> None:
    db = SegDb()
    db.load(PROFILES, EVENTS)
    text = SEGMENTS.replace(
        "where = \"country = 'DE'\"", "where = \"country = 'DE'\"\nmin_size = 3"
    ).replace("where = \"country = 'FR'\"", "where = \"country = 'FR'\"\nmin_size = 4")
    results = db.compute(make_config(tmp_path, text))
    assert (results["german"].min_size, results["german"].too_small) == (3, True)
    assert (results["french"].min_size, results["french"].too_small) == (4, False)
    assert (results["everyone"].min_size, results["everyone"].too_small) == (None, False)
