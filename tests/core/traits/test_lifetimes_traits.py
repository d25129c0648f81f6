"""The BG/NBD summary as traits: ``aggregate`` ``count_days``/``count_weeks``/``first_at``/
``last_at`` and the ``tenure`` kind, against a plain-Python reference and against
``segsync.predict.summarize`` (the ``lifetimes`` definitions)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest
from traitkit import Ev, TraitDb, utc

from segsync.plugins import reset_plugins

AS_OF = utc("2026-03-04T06:00:00")  # a Wednesday morning
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def random_events(seed: int, customers: int = 40) -> tuple[list[str], list[Ev]]:
    rng = random.Random(seed)
    keys = [f"k{i:03d}" for i in range(customers)]
    events = []
    for key in keys[:-3]:  # the last three never buy
        for j in range(rng.choice([1, 1, 1, 2, 3, 5, 8])):
            at = AS_OF - dt.timedelta(seconds=rng.randrange(400 * 86400))
            events.append(Ev(key, f"{key}-{j}", at, Decimal(rng.randrange(100, 9000)) / 100))
    events.append(Ev(keys[0], "late", AS_OF + DAY, Decimal(1)))  # after as_of: ignored
    events.append(Ev(keys[1], "visit", AS_OF - DAY, None, type="visit"))  # another type
    return keys, events


TRAITS = {
    "days": {"kind": "aggregate", "event": "order", "function": "count_days"},
    "weeks": {"kind": "aggregate", "event": "order", "function": "count_weeks"},
    "weeks_90d": {
        "kind": "aggregate", "event": "order", "function": "count_weeks", "within": "90d",
    },
    "first": {"kind": "aggregate", "event": "order", "function": "first_at"},
    "last": {"kind": "aggregate", "event": "order", "function": "last_at"},
    "age": {"kind": "tenure", "event": "order"},
    "span": {"kind": "tenure", "event": "order", "end": "last_event"},
}  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_against_a_plain_python_reference(db: TraitDb, seed: int) -> None:
    keys, events = random_events(seed)
    db.load(keys, events)
    got = db.compute(TRAITS, AS_OF)
    for key in keys:
        mine = [e.at for e in events if e.key == key and e.type == "order" and e.at < AS_OF]
        row = got[key]
        if not mine:
            assert (row["days"], row["weeks"], row["weeks_90d"]) == (0, 0, 0)
            assert row["first"] is row["last"] is row["age"] is row["span"] is None
            continue
        monday = {(t.date() - dt.timedelta(days=t.weekday())) for t in mine}
        recent = {
            (t.date() - dt.timedelta(days=t.weekday())) for t in mine if t >= AS_OF - 90 * DAY
        }
        assert row["days"] == len({t.date() for t in mine})
        assert row["weeks"] == len(monday)
        assert row["weeks_90d"] == len(recent)
        assert (row["first"], row["last"]) == (min(mine), max(mine))
        assert row["age"] == (AS_OF - min(mine)) // DAY
        assert row["span"] == (max(mine) - min(mine)) // DAY


def test_frequency_recency_and_age_are_the_bgnbd_summary(db: TraitDb) -> None:
    """x = count_days − 1; t_x and T in whole days as ``lifetimes`` counts them (calendar
    days) — equal to the tenure traits when the as-of is a midnight and events are dated."""
    from segsync.predict import summarize

    keys, events = random_events(4)
    as_of = utc("2026-03-04T00:00:00")
    dated = [
        Ev(e.key, e.id, dt.datetime.combine(e.at.date(), dt.time()), e.value, e.type)
        for e in events
    ]
    db.load(keys, dated)
    got = db.compute(TRAITS, as_of)
    orders = [e for e in dated if e.type == "order" and e.at < as_of]
    index = {k: i for i, k in enumerate(keys)}
    s = summarize(
        np.array([index[e.key] for e in orders]),
        np.array([e.at for e in orders], dtype="datetime64[us]"),
        end=as_of - dt.timedelta(microseconds=1),
        period="day",
    )
    for i, x, t_x, T in zip(s.customer, s.x, s.t_x, s.T, strict=True):
        row = got[keys[i]]
        assert row["days"] - 1 == x
        assert row["span"] == t_x
        assert row["age"] - 1 == T  # T counts to the last day before as_of, tenure to as_of


def test_fieldless_functions_take_no_field(db: TraitDb) -> None:
    for function in ("count_days", "count_weeks", "first_at", "last_at"):
        with pytest.raises(ValueError, match=f"expected no 'field' with function = '{function}'"):
            db.compute(
                {"x": {"kind": "aggregate", "event": "order", "function": function,
                       "field": "value"}},
                AS_OF,
            )  # fmt: skip
