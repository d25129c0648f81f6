"""Warnings about stale data: a window or ``lost_days`` that holds no event, a top recency score
with nobody active, an event type with no event at all — and none once the as-of is right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from traitkit import Ev, TraitDb, utc

from segsync.pipeline.traits import compute_traits
from segsync.plugins import reset_plugins
from segsync.traits import build_trait
from segsync.traits.notes import TraitWarning

DATA_END = utc("1998-07-01T00:00:00")  # historical data: the last order is on 1998-06-30
TODAY = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    db = TraitDb()
    keys = [f"c{i:02d}" for i in range(10)]
    events = [
        Ev(k, f"{k}-{j}", DATA_END - (i * 20 + j * 3 + 1) * DAY, Decimal(10 + i))
        for i, k in enumerate(keys)
        for j in range(i % 3 + 1)
    ]
    db.load(keys, events)
    yield db
    reset_plugins()


TRAITS: dict[str, dict[str, Any]] = {
    "rfm": {"kind": "rfm", "event": "order", "ties": "share"},
    "orders_90d": {"kind": "aggregate", "event": "order", "function": "count", "within": "90d"},
    "stage": {"kind": "lifecycle"},
    "days_since": {"kind": "recency", "event": "order"},
    "visits": {"kind": "aggregate", "event": "visit", "function": "count"},
}


def warnings_at(
    db: TraitDb, as_of: dt.datetime, failed_events: tuple[str, ...] = ()
) -> dict[str, TraitWarning]:
    specs = {}
    for name, raw in TRAITS.items():
        values = dict(raw)
        specs[name] = build_trait(name, db.kinds[values.pop("kind")], values)
    results = compute_traits(db.store.engine, specs, as_of=as_of, failed_events=failed_events)
    found = {w.trait: w for w in results.warnings}
    assert len(found) == len(results.warnings), "one warning per trait at most"
    return found


def test_historical_data_read_as_of_today_warns_per_trait(db: TraitDb) -> None:
    found = warnings_at(db, TODAY)
    assert {name: w.code for name, w in found.items()} == {
        "rfm": "stale_recency",
        "orders_90d": "stale_window",
        "stage": "stale_lifecycle",
        "visits": "no_events",
    }
    newest = "1998-06-30 (10,106 days before as_of 2026-03-01)"
    assert found["rfm"].message == (
        f"traits.rfm: the newest 'order' event is from {newest}, so the top recency score "
        "(R = 5) holds nobody with one in the last 365d, and cells such as 'champions' name "
        "people who have not bought for that long; if the data is historical, pin the run's "
        "as-of to its end: segsync run --as-of DATE, or [segments] as_of = DATE"
    )
    assert f"is from {newest}, so its window [2025-12-01 00:00:00, 2026-03-01 00:00:00)" in (
        found["orders_90d"].message
    )
    assert "holds none and every profile gets 0" in found["orders_90d"].message
    assert "every customer is 'lost' (no order in the last lost_days = 180 days)" in (
        found["stage"].message
    )
    assert found["visits"].message.startswith(
        "traits.visits: no 'visit' event before 2026-03-01 00:00:00; check the trait's event"
    )


def test_a_failed_events_source_is_named_first_in_every_such_warning(db: TraitDb) -> None:
    found = warnings_at(db, TODAY, failed_events=("shop", "web"))
    lead = (
        "the events of shop, web failed to pull in this run (see its error), so the store "
        "holds only what earlier runs pulled; "
    )
    assert set(found) == {"rfm", "orders_90d", "stage", "visits"}
    for name, warning in found.items():
        assert warning.message.startswith(f"traits.{name}: {lead}"), warning.message
    assert found["visits"].message == (
        f"traits.visits: {lead}no 'visit' event before 2026-03-01 00:00:00; check the trait's "
        "event (and where), and the as-of (if the data is historical, pin the run's as-of to "
        "its end: segsync run --as-of DATE, or [segments] as_of = DATE)"
    )


def test_pinned_to_the_end_of_the_data_nothing_is_stale(db: TraitDb) -> None:
    found = warnings_at(db, DATA_END)
    assert {name: w.code for name, w in found.items()} == {"visits": "no_events"}


def test_the_window_is_what_counts_not_the_data(db: TraitDb) -> None:
    # 100 days after the data ends: the 90-day window is empty, lost_days and R are fine
    found = warnings_at(db, DATA_END + 100 * DAY)
    assert found["orders_90d"].code == "stale_window"
    assert "rfm" not in found and "stage" not in found


@pytest.mark.parametrize("one_scan", [True, False])
def test_a_score_rule_whose_event_type_has_no_event_warns(db: TraitDb, one_scan: bool) -> None:
    """A misspelt event type in a score rule scores nobody: said once per type, as the other
    event-based kinds say it; a rule reading events that exist, or a window that is empty,
    says nothing (a score counts recent events by design)."""
    rules = [
        {"event": "vist", "points": 1, "per_event": True},
        {"event": "vist", "points": 2, "within": "7d"},
        {"event": "order", "points": 5, "within": "7d"},
        {"event": "order", "points": 1, "where": {"channel": "web"}},
    ]
    spec = build_trait("lead", db.kinds["score"], {"rules": rules})
    results = compute_traits(db.store.engine, {"lead": spec}, as_of=TODAY, one_scan=one_scan)
    assert [(w.trait, w.code) for w in results.warnings] == [
        ("lead", "no_events"),
        ("lead", "no_events"),
    ]
    first, second = (w.message for w in results.warnings)
    assert first.startswith("traits.lead: no 'vist' event before 2026-03-01 00:00:00")
    assert second.startswith("traits.lead: no 'order' event matching {channel = 'web'} before")


def test_an_event_type_or_filter_held_in_another_case_is_named() -> None:
    """``event = "Order"`` over ``'order'``, or ``channel = "App "`` over ``'app'``: the
    warning says how many events match without case or spaces, and the spelling held."""
    reset_plugins()
    db = TraitDb()
    at = DATA_END - DAY
    db.load(
        ["a", "b"],
        [
            Ev("a", "e1", at, Decimal(5), props={"channel": "app", "items": 2}),
            Ev("b", "e2", at, Decimal(7), props={"channel": "web", "items": 2}),
        ],
    )
    traits = {
        "typo": {"kind": "aggregate", "event": "Order", "function": "count"},
        "app": {
            "kind": "aggregate",
            "event": "order",
            "function": "count",
            "where": {"channel": "App ", "items": 2},
        },
        "none": {"kind": "aggregate", "event": "order", "function": "count",
                 "where": {"channel": "store"}},
    }  # fmt: skip
    specs = {n: build_trait(n, db.kinds[v.pop("kind")], v) for n, v in traits.items()}
    found = {
        w.trait: w.message for w in compute_traits(db.store.engine, specs, as_of=DATA_END).warnings
    }
    assert found["typo"].startswith(
        "traits.typo: no 'Order' event before 1998-07-01 00:00:00 (but 2 match it in another "
        "case or with spaces: event 'order'); check the trait's event"
    )
    assert (
        "no 'order' event matching {channel = 'App ', items = 2} before 1998-07-01 00:00:00 "
        "(but 1 match it in another case or with spaces: channel 'app'); check"
    ) in found["app"]
    # a text held in no spelling: nothing more to say
    assert "(but" not in found["none"]
    reset_plugins()
