"""``value_tier`` traits against a plain-Python reference: quantile and threshold edges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from traitkit import Ev, TraitDb, in_window, utc

from segsync.plugins import reset_plugins
from segsync.traits.value_tier import ValueTierSettings

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)
TIERS = {"bronze": 0.5, "silver": 0.8, "gold": 0.95, "platinum": 1.0}


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def measures(events_by_key: Mapping[str, Sequence[Ev]], measure: str) -> dict[str, Any]:
    """profile → its measure (None: no measure). Total as Decimal, average as float."""
    out: dict[str, Any] = {}
    for key, evs in events_by_key.items():
        values = [e.value for e in evs if e.value is not None]
        if measure == "total":
            out[key] = sum(values, Decimal(0)) if evs else None
        else:
            out[key] = float(sum(values, Decimal(0))) / len(values) if values else None
    return out


def ref_quantiles(values: Mapping[str, Any], tiers: Mapping[str, float]) -> dict[str, str | None]:
    ranked = sorted((v, k) for k, v in values.items() if v is not None)
    n = len(ranked)
    bounds = sorted((Fraction(str(b)), name) for name, b in tiers.items())
    out: dict[str, str | None] = {k: None for k in values}
    for i, (_, key) in enumerate(ranked, 1):
        out[key] = next(name for bound, name in bounds if Fraction(i, n) <= bound)
    return out


def ref_thresholds(
    events_by_key: Mapping[str, Sequence[Ev]], measure: str, tiers: Mapping[str, Any]
) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, evs in events_by_key.items():
        values = [e.value for e in evs if e.value is not None]
        if measure == "total":
            exact = Fraction(sum(values, Decimal(0))) if evs else None
        else:
            exact = Fraction(sum(values, Decimal(0))) / len(values) if values else None
        fits = [
            (Decimal(str(b)), name)
            for name, b in tiers.items()
            if exact is not None and exact >= Fraction(Decimal(str(b)))
        ]
        out[key] = max(fits)[1] if fits else None
    return out


def tier(**extra: Any) -> dict[str, Any]:
    return {"kind": "value_tier", **extra}


def test_quantile_boundaries_are_cumulative_and_inclusive(db: TraitDb) -> None:
    """20 profiles spending 1..20: ranks ≤ 10 bronze, ≤ 16 silver, ≤ 19 gold, 20 platinum."""
    keys = [f"p{i:02d}" for i in range(1, 21)]
    events = [Ev(k, k, AS_OF - DAY, Decimal(i)) for i, k in enumerate(keys, 1)]
    db.load([*keys, "none"], events)
    got = db.compute({"t": tier(quantiles=TIERS)}, AS_OF)
    expected = ["bronze"] * 10 + ["silver"] * 6 + ["gold"] * 3 + ["platinum"]
    assert [got[k]["t"] for k in keys] == expected
    assert got["none"] == {"t": None, "t_value": None}
    assert got["p07"]["t_value"] == Decimal(7)
    by_key = {k: [e for e in events if e.key == k] for k in [*keys, "none"]}
    assert {k: v["t"] for k, v in got.items()} == ref_quantiles(measures(by_key, "total"), TIERS)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, ["platinum"]),  # a single profile is at 1/1: the top tier
        (2, ["bronze", "platinum"]),
        (3, ["bronze", "silver", "platinum"]),  # 2/3 ≤ 0.8
        (4, ["bronze", "bronze", "silver", "platinum"]),  # 2/4 = 0.5 exactly: bronze
    ],
)
def test_small_populations(db: TraitDb, n: int, expected: list[str]) -> None:
    keys = [f"p{i}" for i in range(n)]
    events = [Ev(k, k, AS_OF - DAY, Decimal(10 * (i + 1))) for i, k in enumerate(keys)]
    db.load(keys, events)
    got = db.compute({"t": tier(quantiles=TIERS)}, AS_OF)
    assert [got[k]["t"] for k in keys] == expected
    by_key = {k: [e for e in events if e.key == k] for k in keys}
    assert [got[k]["t"] for k in keys] == list(
        ref_quantiles(measures(by_key, "total"), TIERS).values()
    )


def test_ties_are_split_by_profile_key(db: TraitDb) -> None:
    keys = ["d", "b", "a", "c"]
    db.load(keys, [Ev(k, k, AS_OF - DAY, Decimal(5)) for k in keys])
    got = db.compute({"t": tier(quantiles={"low": 0.5, "high": 1})}, AS_OF)
    assert {k: got[k]["t"] for k in "abcd"} == {"a": "low", "b": "low", "c": "high", "d": "high"}


def test_thresholds_are_decimal_lower_bounds(db: TraitDb) -> None:
    cuts = {"bronze": 0, "silver": 100, "gold": "500.01"}
    events = [
        Ev("at", "1", AS_OF - DAY, Decimal("60.00")),
        Ev("at", "2", AS_OF - DAY, Decimal("40.00")),  # total exactly 100: silver
        Ev("below", "3", AS_OF - DAY, Decimal("99.9999")),
        Ev("gold", "4", AS_OF - DAY, Decimal("500.01")),
        Ev("almost", "5", AS_OF - DAY, Decimal("500.0099")),
        Ev("neg", "6", AS_OF - DAY, Decimal("-1")),  # below every bound
        Ev("novalue", "7", AS_OF - DAY, None),  # an order without value: total 0
        Ev("late", "8", AS_OF, Decimal(1000)),  # at as_of: not read
    ]
    keys = ["almost", "at", "below", "gold", "late", "neg", "novalue"]
    db.load(keys, events)
    got = db.compute({"t": tier(thresholds=cuts), "u": tier(thresholds=cuts, none="zero")}, AS_OF)
    assert {k: v["t"] for k, v in got.items()} == {
        "almost": "silver",
        "at": "silver",
        "below": "bronze",
        "gold": "gold",
        "late": None,
        "neg": None,
        "novalue": "bronze",
    }
    assert got["late"]["u"] == got["neg"]["u"] == "zero"
    by_key = {k: [e for e in events if e.key == k and in_window(e, end=AS_OF)] for k in keys}
    assert {k: v["t"] for k, v in got.items()} == ref_thresholds(by_key, "total", cuts)


def test_average_measure(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - DAY, Decimal("10.0001")),
        Ev("a", "2", AS_OF - DAY, Decimal("10.0000")),  # average 10.00005: not ≥ 10.0001
        Ev("b", "3", AS_OF - DAY, Decimal("30")),
        Ev("b", "4", AS_OF - DAY, None),  # no value: not part of the average
        Ev("c", "5", AS_OF - DAY, None),  # orders, but no value at all: no measure
    ]
    keys = ["a", "b", "c", "d"]
    db.load(keys, events)
    cuts = {"low": 0, "mid": "10.0001", "high": 25}
    got = db.compute(
        {
            "t": tier(measure="average", thresholds=cuts),
            "q": tier(measure="average", quantiles={"lo": 0.5, "hi": 1.0}),
        },
        AS_OF,
    )
    assert {k: (v["t"], v["q"]) for k, v in got.items()} == {
        "a": ("low", "lo"),
        "b": ("high", "hi"),
        "c": (None, None),
        "d": (None, None),
    }
    assert got["a"]["t_value"] == pytest.approx(10.00005)
    assert got["c"]["t_value"] is None
    by_key = {k: [e for e in events if e.key == k] for k in keys}
    assert {k: v["t"] for k, v in got.items()} == ref_thresholds(by_key, "average", cuts)
    assert {k: v["q"] for k, v in got.items()} == ref_quantiles(
        measures(by_key, "average"), {"lo": 0.5, "hi": 1.0}
    )


def test_window(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - 31 * DAY, Decimal(500)),
        Ev("a", "2", AS_OF - 30 * DAY, Decimal(5)),
    ]
    db.load(["a"], events)
    got = db.compute({"t": tier(thresholds={"x": 0, "y": 100}, within="30d")}, AS_OF)
    assert got["a"] == {"t": "x", "t_value": Decimal(5)}


def test_settings_are_checked() -> None:
    with pytest.raises(
        ValidationError, match="expected exactly one of 'quantiles' or 'thresholds'"
    ):
        ValueTierSettings()
    with pytest.raises(
        ValidationError, match="expected exactly one of 'quantiles' or 'thresholds'"
    ):
        ValueTierSettings(quantiles={"a": 1.0}, thresholds={"a": 0})
    with pytest.raises(ValidationError, match=r"expected the largest bound to be 1\.0"):
        ValueTierSettings(quantiles={"a": 0.5, "b": 0.9})
    with pytest.raises(ValidationError, match=r"expected bounds in \(0, 1\]; 'a' is 0"):
        ValueTierSettings(quantiles={"a": 0, "b": 1})
    with pytest.raises(
        ValidationError, match=r"expected distinct bounds; 'a' and 'b' are both 1\b"
    ):
        ValueTierSettings(thresholds={"a": 1, "b": "1.0"})
    with pytest.raises(ValidationError, match="at most 4 decimals"):
        ValueTierSettings(thresholds={"a": "0.00001"})
    with pytest.raises(ValidationError, match="expected tier names of letters"):
        ValueTierSettings(thresholds={"top tier": 1})
    with pytest.raises(ValidationError, match="Input should be 'total' or 'average'"):
        ValueTierSettings(measure="aov_x_frequency", thresholds={"a": 1})  # type: ignore[arg-type]


# -- property test ------------------------------------------------------------------------

KEYS = [f"k{i:02d}" for i in range(15)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.one_of(st.none(), st.decimals(-50, 200, places=2, allow_nan=False)),
        ),
        max_size=40,
    ),
    bounds=st.lists(
        st.sampled_from([0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.8, 0.9, 0.95, 0.99]),
        unique=True,
        max_size=4,
    ),
    measure=st.sampled_from(["total", "average"]),
)
def test_quantiles_match_reference(
    db: TraitDb, rows: list[tuple[str, Decimal | None]], bounds: list[float], measure: str
) -> None:
    events = [Ev(k, f"e{i}", AS_OF - DAY, v) for i, (k, v) in enumerate(rows)]
    tiers = {f"t{i}": b for i, b in enumerate(sorted(bounds))} | {"top": 1.0}
    db.load(KEYS, events)
    got = db.compute({"t": tier(measure=measure, quantiles=tiers)}, AS_OF)
    by_key = {k: [e for e in events if e.key == k] for k in KEYS}
    values = measures(by_key, measure)
    assert {k: v["t"] for k, v in got.items()} == ref_quantiles(values, tiers)
    # tier sizes: at most the rounded-up share of the profiles ranked
    n = sum(v is not None for v in values.values())
    previous = Fraction(0)
    for bound, name in sorted((Fraction(str(b)), name) for name, b in tiers.items()):
        size = sum(v["t"] == name for v in got.values())
        assert size <= (bound - previous) * n + 1
        previous = bound
