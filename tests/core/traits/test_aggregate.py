"""``aggregate`` traits against a plain-Python reference over the same rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traitkit import Ev, TraitDb, in_window, ref_aggregate, utc

from segsync.plugins import reset_plugins

AS_OF = utc("2026-03-01T00:00:00")
US = dt.timedelta(microseconds=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def agg(function: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "aggregate", "event": "order", "function": function, **extra}


def test_within_window_is_half_open_at_the_boundaries(db: TraitDb) -> None:
    start = AS_OF - dt.timedelta(days=30)  # 2026-01-30T00:00
    events = [
        Ev("a", "1", start, Decimal(1)),  # exactly at the start: in
        Ev("a", "2", start - US, Decimal(2)),  # just before: out
        Ev("a", "3", start + US, Decimal(4)),  # just after: in
        Ev("a", "4", AS_OF - US, Decimal(8)),  # just before as_of: in
        Ev("a", "5", AS_OF, Decimal(16)),  # at as_of: out
        Ev("a", "6", AS_OF + dt.timedelta(days=1), Decimal(32)),  # after as_of: out
    ]
    db.load(["a"], events)
    got = db.compute({"n": agg("count", within="30d"), "s": agg("sum", within="30d")}, AS_OF)
    assert got["a"] == {"n": 3, "s": Decimal("13.0000")}
    # the same through the reference
    inside = [e for e in events if in_window(e, start=start, end=AS_OF)]
    assert [e.id for e in inside] == ["1", "3", "4"]
    assert ref_aggregate(inside, "sum") == Decimal(13)


@pytest.mark.parametrize(
    ("within", "delta"),
    [("12h", dt.timedelta(hours=12)), ("2w", dt.timedelta(weeks=2)), ("1d", dt.timedelta(days=1))],
)
def test_within_units(db: TraitDb, within: str, delta: dt.timedelta) -> None:
    start = AS_OF - delta
    db.load(["a"], [Ev("a", "1", start), Ev("a", "2", start - US), Ev("a", "3", AS_OF - US)])
    assert db.compute({"n": agg("count", within=within)}, AS_OF)["a"] == {"n": 2}


def test_since_until_is_half_open_and_until_ignores_as_of(db: TraitDb) -> None:
    since, until = utc("2026-01-01T00:00:00"), utc("2026-02-01T00:00:00")
    events = [
        Ev("a", "1", since, Decimal(1)),
        Ev("a", "2", since - US, Decimal(2)),
        Ev("a", "3", until - US, Decimal(4)),
        Ev("a", "4", until, Decimal(8)),
    ]
    db.load(["a"], events)
    window = {"since": "2026-01-01", "until": "2026-02-01"}
    got = db.compute({"s": agg("sum", **window)}, AS_OF)
    assert got["a"]["s"] == Decimal(5)
    # explicit dates are absolute: an as_of before the window does not cut it
    got = db.compute({"s": agg("sum", **window)}, since)
    assert got["a"]["s"] == Decimal(5)
    # since alone: until defaults to as_of
    got = db.compute({"s": agg("sum", since="2026-01-01")}, until)
    assert got["a"]["s"] == Decimal(5)


def test_offsets_are_converted_to_utc(db: TraitDb) -> None:
    """as_of and since written with +02:00 are the same instants in UTC; events are stored in
    UTC (the e2e test covers a source's offsets)."""
    boundary = utc("2026-01-30T02:00:00+02:00")  # = 2026-01-30T00:00 UTC
    assert boundary == utc("2026-01-30T00:00:00")
    db.load(["a"], [Ev("a", "1", boundary), Ev("a", "2", boundary - US)])
    traits = {
        "n": agg("count", within="30d", as_of="2026-03-01T02:00:00+02:00"),
        "m": agg("count", since="2026-01-30T02:00:00+02:00"),
    }
    assert db.compute(traits, AS_OF)["a"] == {"n": 1, "m": 1}


def test_empty_histories_and_nulls(db: TraitDb) -> None:
    events = [
        Ev("a", "1", utc("2026-01-01T00:00:00"), None),
        Ev("a", "2", utc("2026-01-02T00:00:00"), Decimal("2.5")),
        Ev("b", "3", utc("2026-01-03T00:00:00"), None),  # only a NULL value
        Ev("c", "4", utc("2026-01-03T00:00:00"), Decimal(1), type="visit"),  # another type
    ]
    db.load(["a", "b", "c", "d"], events)
    traits = {f: agg(f) for f in ("count", "sum", "avg", "min", "max", "first", "last")}
    got = db.compute(traits, AS_OF)
    assert got["a"] == {
        "count": 2,
        "sum": Decimal("2.5"),
        "avg": 2.5,
        "min": Decimal("2.5"),
        "max": Decimal("2.5"),
        "first": None,  # the earliest order has no value
        "last": Decimal("2.5"),
    }
    empty = {"count": 0, "sum": Decimal(0), "avg": None, "min": None, "max": None}
    assert got["b"] == {**empty, "count": 1, "first": None, "last": None}
    assert got["c"] == got["d"] == {**empty, "first": None, "last": None}
    for key in "abcd":
        mine = [e for e in events if e.key == key and in_window(e, end=AS_OF)]
        assert got[key] == {f: ref_aggregate(mine, f) for f in traits}


def test_first_and_last_ties_are_broken_by_event_id(db: TraitDb) -> None:
    at = utc("2026-01-01T00:00:00")
    db.load(
        ["a"],
        [Ev("a", "b", at, Decimal(2)), Ev("a", "a", at, Decimal(1)), Ev("a", "c", at, Decimal(3))],
    )
    got = db.compute({"f": agg("first"), "l": agg("last")}, AS_OF)
    assert got["a"] == {"f": Decimal(1), "l": Decimal(3)}


def test_property_field_and_where_filters(db: TraitDb) -> None:
    events = [
        Ev(
            "a",
            "1",
            utc("2026-01-01T00:00:00"),
            Decimal(1),
            props={"items": 3, "channel": "web", "gift": True},
        ),
        Ev(
            "a", "2", utc("2026-01-02T00:00:00"), Decimal(2), props={"items": "7", "channel": "web"}
        ),
        Ev(
            "a",
            "3",
            utc("2026-01-03T00:00:00"),
            Decimal(4),
            props={"items": "many", "channel": "shop"},
        ),
        Ev("a", "4", utc("2026-01-04T00:00:00"), Decimal(8), props={"channel": "web", "store": 12}),
    ]
    db.load(["a", "b"], events)
    traits = {
        "web": agg("count", where={"channel": "web"}),
        "web_gift": agg("count", where={"channel": "web", "gift": True}),
        "store12": agg("sum", where={"store": 12}),
        "items_sum": agg("sum", field="items"),
        "items_max": agg("max", field="items"),
        "items_last": agg("last", field="items"),
        "items_avg": agg("avg", field="items", where={"channel": "web"}),
    }
    got = db.compute(traits, AS_OF)
    assert got["a"] == {
        "web": 3,
        "web_gift": 1,
        "store12": Decimal(8),
        "items_sum": 10.0,
        "items_max": 7.0,
        "items_last": None,  # the latest order has no items property
        "items_avg": 5.0,
    }
    assert got["b"] == {
        "web": 0, "web_gift": 0, "store12": Decimal(0), "items_sum": 0.0,
        "items_max": None, "items_last": None, "items_avg": None,
    }  # fmt: skip
    for name, raw in traits.items():
        mine = [e for e in events if in_window(e, end=AS_OF, where=raw.get("where"))]
        assert got["a"][name] == ref_aggregate(mine, raw["function"], raw.get("field", "value"))


def test_single_profile_and_no_profiles(db: TraitDb) -> None:
    db.load(["only"], [Ev("only", "1", utc("2026-02-28T23:00:00"), Decimal("9.99"))])
    assert db.compute({"s": agg("sum", within="1d")}, AS_OF) == {"only": {"s": Decimal("9.99")}}
    db.load([], [])
    assert db.compute({"s": agg("sum")}, AS_OF) == {}


# -- property test ------------------------------------------------------------------------

KEYS = ["k1", "k2", "k3", "k4"]
BASE = utc("2026-01-01T00:00:00")
FUNCTIONS = ["count", "sum", "avg", "min", "max", "first", "last"]

prop_values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3)),
    st.sampled_from(["x", "web", "shop", "12"]),
    st.booleans(),
)
events_st = st.lists(
    st.builds(
        lambda key, minutes, value, type_, props: (key, minutes, value, type_, props),
        st.sampled_from(KEYS),
        st.integers(0, 180).map(lambda n: n * 12),  # hours after BASE: ties and exact boundaries
        st.one_of(
            st.none(), st.decimals(-10_000, 10_000, places=2, allow_nan=False, allow_infinity=False)
        ),
        st.sampled_from(["order", "order", "visit"]),
        st.dictionaries(st.sampled_from(["n", "channel", "gift"]), prop_values, max_size=3),
    ),
    max_size=30,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=events_st,
    function=st.sampled_from(FUNCTIONS),
    field=st.sampled_from(["value", "n"]),
    window=st.sampled_from([None, "7d", "36h", "3w", "dates"]),
    as_of_hours=st.integers(0, 200).map(lambda n: n * 12),
    where=st.sampled_from([None, {"channel": "web"}, {"gift": True}, {"n": 12}]),
)
def test_aggregate_matches_reference(
    db: TraitDb,
    rows: list[tuple[str, int, Decimal | None, str, dict[str, Any]]],
    function: str,
    field: str,
    window: str | None,
    as_of_hours: int,
    where: dict[str, Any] | None,
) -> None:
    events = [
        Ev(key, f"e{i:03d}", BASE + dt.timedelta(hours=h), value, type_, props)
        for i, (key, h, value, type_, props) in enumerate(rows)
    ]
    as_of = BASE + dt.timedelta(hours=as_of_hours)
    trait: dict[str, Any] = agg(function)
    if function != "count":
        trait["field"] = field
    if where:
        trait["where"] = where
    start: dt.datetime | None = None
    end = as_of
    if window == "dates":
        start, end = BASE + dt.timedelta(days=10), BASE + dt.timedelta(days=40)
        trait.update(since=start.isoformat(), until=end.isoformat())
    elif window:
        trait["within"] = window
        unit = {"d": dt.timedelta(days=1), "h": dt.timedelta(hours=1), "w": dt.timedelta(weeks=1)}
        start = as_of - int(window[:-1]) * unit[window[-1]]
    db.load(KEYS, events)
    got = db.compute({"t": trait}, as_of)
    for key in KEYS:
        mine = [
            e for e in events if e.key == key and in_window(e, start=start, end=end, where=where)
        ]
        expected = ref_aggregate(mine, function, field if function != "count" else "value")
        actual = got[key]["t"]
        if isinstance(expected, float) and isinstance(actual, float):
            assert actual == pytest.approx(expected, rel=1e-9, abs=1e-6), (key, mine)
        else:
            assert actual == expected, (key, mine)
