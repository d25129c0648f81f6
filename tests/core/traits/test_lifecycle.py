"""``lifecycle`` traits against a plain-Python reference: every boundary, precedence, names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from traitkit import Ev, TraitDb, in_window, utc

from segsync.plugins import reset_plugins
from segsync.traits.lifecycle import LifecycleSettings

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def ref_lifecycle(
    events: list[Ev],
    as_of: dt.datetime,
    *,
    event: str = "order",
    new_days: int = 30,
    active_days: int = 90,
    lost_days: int = 180,
    loyal_orders: int = 3,
    loyal_window: dt.timedelta = 365 * DAY,
    where: dict[str, Any] | None = None,
) -> str:
    """The stage, written from the product rules: ages in days as exact fractions."""
    orders = [e.at for e in events if in_window(e, event=event, end=as_of, where=where)]
    if not orders:
        return "prospect"
    first_age = (as_of - min(orders)) / DAY
    last_age = (as_of - max(orders)) / DAY
    recent = sum(1 for at in orders if as_of - at <= loyal_window)
    if first_age <= new_days:
        return "new"
    if last_age <= active_days:
        return "loyal" if recent >= loyal_orders else "active"
    if last_age <= lost_days:
        return "at_risk"
    return "lost"


def stage(db: TraitDb, events: list[Ev], **extra: Any) -> str:
    db.load(["a"], events)
    got = db.compute({"s": {"kind": "lifecycle", **extra}}, AS_OF)
    return str(got["a"]["s"])


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (US, "new"),
        (30 * DAY, "new"),  # exactly new_days: still new (the window's start is in)
        (30 * DAY + US, "active"),  # a microsecond older: no longer new
        (90 * DAY, "active"),  # exactly active_days: active
        (90 * DAY + US, "at_risk"),
        (180 * DAY, "at_risk"),  # exactly lost_days: at risk
        (180 * DAY + US, "lost"),  # more than lost_days: lost
        (4000 * DAY, "lost"),
    ],
)
def test_single_order_boundaries(db: TraitDb, ago: dt.timedelta, expected: str) -> None:
    events = [Ev("a", "1", AS_OF - ago)]
    assert stage(db, events) == expected == ref_lifecycle(events, AS_OF)


def test_orders_at_or_after_as_of_are_ignored(db: TraitDb) -> None:
    events = [Ev("a", "1", AS_OF), Ev("a", "2", AS_OF + DAY)]
    assert stage(db, events) == "prospect" == ref_lifecycle(events, AS_OF)
    events.append(Ev("a", "3", AS_OF - 100 * DAY))
    assert stage(db, events) == "at_risk" == ref_lifecycle(events, AS_OF)


@pytest.mark.parametrize(
    ("first_ago", "expected"),
    [
        (365 * DAY, "loyal"),  # the oldest of 3 orders exactly at the loyal window's start
        (365 * DAY + US, "active"),  # just outside: only 2 in the window
    ],
)
def test_loyal_window_boundary(db: TraitDb, first_ago: dt.timedelta, expected: str) -> None:
    events = [
        Ev("a", "1", AS_OF - first_ago),
        Ev("a", "2", AS_OF - 200 * DAY),
        Ev("a", "3", AS_OF - 60 * DAY),
    ]
    assert stage(db, events) == expected == ref_lifecycle(events, AS_OF)


def test_loyal_needs_the_last_order_to_be_active(db: TraitDb) -> None:
    # 5 orders in the year, but the last one 91 days ago: at risk, not loyal
    events = [Ev("a", str(i), AS_OF - (91 + i) * DAY) for i in range(5)]
    assert stage(db, events) == "at_risk" == ref_lifecycle(events, AS_OF)


def test_new_wins_over_loyal(db: TraitDb) -> None:
    events = [Ev("a", str(i), AS_OF - (i + 1) * DAY) for i in range(5)]  # 5 orders this week
    assert stage(db, events) == "new" == ref_lifecycle(events, AS_OF)
    assert stage(db, events, new_days=1) == "loyal"  # first order 5 days ago: no longer new
    assert ref_lifecycle(events, AS_OF, new_days=1) == "loyal"


def test_loyal_orders_threshold(db: TraitDb) -> None:
    events = [Ev("a", str(i), AS_OF - (40 + i) * DAY) for i in range(3)]
    assert stage(db, events) == "loyal"
    assert stage(db, events, loyal_orders=4) == "active"
    assert stage(db, events[:2]) == "active"


def test_custom_thresholds_event_where_and_names(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - 10 * DAY, type="purchase", props={"channel": "web"}),
        Ev("a", "2", AS_OF - 2 * DAY, type="purchase", props={"channel": "shop"}),
    ]
    extra = {
        "event": "purchase",
        "where": {"channel": "web"},
        "new_days": 7,
        "active_days": 14,
        "lost_days": 28,
        "loyal_orders": 1,
        "loyal_window": "2w",
        "names": {"loyal": "vip", "lost": "gone"},
    }
    assert stage(db, events, **extra) == "vip"
    assert (
        ref_lifecycle(
            events,
            AS_OF,
            event="purchase",
            where={"channel": "web"},
            new_days=7,
            active_days=14,
            lost_days=28,
            loyal_orders=1,
            loyal_window=14 * DAY,
        )
        == "loyal"
    )
    assert (
        stage(
            db, [Ev("a", "1", AS_OF - 29 * DAY, type="purchase", props={"channel": "web"})], **extra
        )
        == "gone"
    )


def test_every_stage_at_once_and_profiles_without_orders(db: TraitDb) -> None:
    events = [
        Ev("new", "1", AS_OF - DAY),
        Ev("act", "2", AS_OF - 50 * DAY),
        *(Ev("loy", f"3{i}", AS_OF - (10 + 40 * i) * DAY) for i in range(3)),
        Ev("risk", "4", AS_OF - 120 * DAY),
        Ev("lost", "5", AS_OF - 300 * DAY),
        Ev("pros", "6", AS_OF - DAY, type="visit"),
    ]
    keys = ["act", "loy", "lost", "new", "none", "pros", "risk"]
    db.load(keys, events)
    got = db.compute({"s": {"kind": "lifecycle"}}, AS_OF)
    assert {k: v["s"] for k, v in got.items()} == {
        "act": "active",
        "loy": "loyal",
        "lost": "lost",
        "new": "new",
        "none": "prospect",
        "pros": "prospect",
        "risk": "at_risk",
    }
    for key in keys:
        assert got[key]["s"] == ref_lifecycle([e for e in events if e.key == key], AS_OF)


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="expected new_days ≤ active_days < lost_days"):
        LifecycleSettings(active_days=200, lost_days=180)
    with pytest.raises(ValidationError, match=r"expected stages .* as keys, found 'vip'"):
        LifecycleSettings(names={"vip": "x"})
    with pytest.raises(ValidationError, match="expected a duration"):
        LifecycleSettings(loyal_window="1 year")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        LifecycleSettings(loyal_days=3)  # type: ignore[call-arg]


# -- property test ------------------------------------------------------------------------

KEYS = [f"k{i:02d}" for i in range(8)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.integers(-5, 400),  # days before as_of (negative: after it)
            st.sampled_from([dt.timedelta(0), US, -US, dt.timedelta(hours=12)]),
            st.sampled_from(["order", "order", "visit"]),
        ),
        max_size=40,
    ),
    limits=st.tuples(st.integers(1, 60), st.integers(0, 100), st.integers(1, 200)),
    loyal_orders=st.integers(1, 4),
    loyal_days=st.integers(1, 400),
)
def test_lifecycle_matches_reference(
    db: TraitDb,
    rows: list[tuple[str, int, dt.timedelta, str]],
    limits: tuple[int, int, int],
    loyal_orders: int,
    loyal_days: int,
) -> None:
    new_days = limits[0]
    active_days = new_days + limits[1]
    lost_days = active_days + limits[2]
    events = [Ev(k, f"e{i}", AS_OF - d * DAY + j, None, t) for i, (k, d, j, t) in enumerate(rows)]
    db.load(KEYS, events)
    trait = {
        "kind": "lifecycle",
        "new_days": new_days,
        "active_days": active_days,
        "lost_days": lost_days,
        "loyal_orders": loyal_orders,
        "loyal_window": f"{loyal_days}d",
    }
    got = db.compute({"s": trait}, AS_OF)
    for key in KEYS:
        assert got[key]["s"] == ref_lifecycle(
            [e for e in events if e.key == key],
            AS_OF,
            new_days=new_days,
            active_days=active_days,
            lost_days=lost_days,
            loyal_orders=loyal_orders,
            loyal_window=loyal_days * DAY,
        ), key
