"""``recency`` traits against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from traitkit import Ev, TraitDb, in_window, utc

from segsync.plugins import reset_plugins

AS_OF = utc("2026-03-01T12:00:00")
US = dt.timedelta(microseconds=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def ref_recency(events: list[Ev], as_of: dt.datetime) -> int | None:
    seen = [e.at for e in events if in_window(e, end=as_of)]
    return None if not seen else (as_of - max(seen)) // dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("ago", "days"),
    [
        (US, 0),  # just before as_of
        (dt.timedelta(hours=23, minutes=59), 0),
        (dt.timedelta(days=1), 1),  # exactly 24 h: one whole day
        (dt.timedelta(days=1) - US, 0),
        (dt.timedelta(days=1) + US, 1),
        (dt.timedelta(days=400, hours=5), 400),
    ],
)
def test_whole_days_rounded_down(db: TraitDb, ago: dt.timedelta, days: int) -> None:
    events = [Ev("a", "1", AS_OF - ago)]
    db.load(["a"], events)
    got = db.compute({"r": {"kind": "recency", "event": "order"}}, AS_OF)
    assert got["a"]["r"] == days == ref_recency(events, AS_OF)


def test_last_event_before_as_of_only_and_none_is_null(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - dt.timedelta(days=10)),
        Ev("a", "2", AS_OF - dt.timedelta(days=3)),
        Ev("a", "3", AS_OF),  # at as_of: ignored
        Ev("a", "4", AS_OF + dt.timedelta(days=2)),  # after: ignored
        Ev("b", "5", AS_OF + dt.timedelta(days=2)),  # only after as_of: NULL
        Ev("c", "6", AS_OF - dt.timedelta(days=1), type="visit"),
        Ev("c", "7", AS_OF - dt.timedelta(days=5), props={"channel": "web"}),
        Ev("c", "8", AS_OF - dt.timedelta(days=2), props={"channel": "shop"}),
    ]
    db.load(["a", "b", "c", "d"], events)
    traits = {
        "r": {"kind": "recency", "event": "order"},
        "visit": {"kind": "recency", "event": "visit"},
        "web": {"kind": "recency", "event": "order", "where": {"channel": "web"}},
    }
    got = db.compute(traits, AS_OF)
    assert {k: v["r"] for k, v in got.items()} == {"a": 3, "b": None, "c": 2, "d": None}
    for key in "abcd":
        assert got[key]["r"] == ref_recency([e for e in events if e.key == key], AS_OF)
    assert got["c"]["visit"] == 1
    assert got["c"]["web"] == 5


def test_as_of_setting_with_an_offset(db: TraitDb) -> None:
    db.load(["a"], [Ev("a", "1", utc("2026-01-01T00:00:00"))])
    trait = {"kind": "recency", "event": "order", "as_of": "2026-01-11T01:00:00+02:00"}
    # 2026-01-10T23:00 UTC: 9 days 23 hours after the order
    assert db.compute({"r": trait}, AS_OF)["a"]["r"] == 9
