"""``score`` traits against a plain-Python reference: conditions, counts, decay, windows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from pydantic import ValidationError
from traitkit import Ev, TraitDb, in_window, utc

from segsync.model.profile import BUILTIN_COLUMNS
from segsync.plugins import reset_plugins
from segsync.traits import build_trait
from segsync.traits.score import Score, ScoreSettings

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)
UNITS = {"h": dt.timedelta(hours=1), "d": DAY, "w": 7 * DAY}


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def load(db: TraitDb, profiles: Mapping[str, Mapping[str, Any]], events: Sequence[Ev]) -> None:
    """Profiles with a ``country`` (text), ``age`` (integer) and ``vip`` (boolean) column."""
    db.load(list(profiles), events)
    con = db.store.con
    con.execute(
        "CREATE OR REPLACE TABLE profiles "
        "(profile_key VARCHAR NOT NULL, country VARCHAR, age BIGINT, vip BOOLEAN)"
    )
    con.executemany(
        "INSERT INTO profiles VALUES (?, ?, ?, ?)",
        [[k, p.get("country"), p.get("age"), p.get("vip")] for k, p in profiles.items()],
    )


def duration(text: str) -> dt.timedelta:
    return int(text[:-1]) * UNITS[text[-1]]


def ref_score(
    profile: Mapping[str, Any], events: Sequence[Ev], rules: Sequence[Mapping[str, Any]]
) -> float:
    """The unrounded score. ``when`` rules are given here as Python predicates (``test``)."""
    total = 0.0
    for rule in rules:
        if "test" in rule:
            total += rule["points"] if rule["test"](profile) else 0.0
            continue
        start = AS_OF - duration(rule["within"]) if "within" in rule else None
        mine = [
            e
            for e in events
            if in_window(e, event=rule["event"], start=start, end=AS_OF, where=rule.get("where"))
        ]
        if not mine:
            continue

        def worth(e: Ev, rule: Mapping[str, Any] = rule) -> float:
            if "half_life" not in rule:
                return float(rule["points"])
            return float(rule["points"]) * 0.5 ** ((AS_OF - e.at) / duration(rule["half_life"]))

        if rule.get("per_event"):
            total += sum(worth(e) for e in mine)
        else:
            total += worth(max(mine, key=lambda e: e.at))
    return total


def config(rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"kind": "score", "rules": [{k: v for k, v in r.items() if k != "test"} for r in rules]}


def check(got: float, expected: float) -> None:
    assert got == round(got, 2)
    assert abs(got - expected) <= 0.005 + 1e-9, (got, expected)


def test_conditions_over_profile_columns(db: TraitDb) -> None:
    profiles = {
        "fr_vip": {"country": "FR", "age": 40, "vip": True},
        "fr": {"country": "FR", "age": 17},
        "de": {"country": "DE", "age": 30, "vip": False},
        "nulls": {},
    }
    rules = [
        {"when": "country = 'FR'", "points": 10, "test": lambda p: p.get("country") == "FR"},
        {"when": "vip", "points": 5.5, "test": lambda p: p.get("vip") is True},
        {
            "when": "age >= 18",  # NULL age: not true, no points
            "points": -2.25,
            "test": lambda p: p.get("age") is not None and p["age"] >= 18,
        },
    ]
    load(db, profiles, [])
    got = db.compute({"s": config(rules)}, AS_OF)
    assert {k: v["s"] for k, v in got.items()} == {
        "de": -2.25,
        "fr": 10.0,
        "fr_vip": 13.25,
        "nulls": 0.0,
    }
    for key, profile in profiles.items():
        check(got[key]["s"], ref_score(profile, [], rules))


def test_counts_once_or_per_event_with_where_and_window(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - 30 * DAY, type="visit"),  # exactly at the window's start: in
        Ev("a", "2", AS_OF - 30 * DAY - US, type="visit"),  # just before: out
        Ev("a", "3", AS_OF - US, type="visit"),
        Ev("a", "4", AS_OF, type="visit"),  # at as_of: out
        Ev("a", "5", AS_OF - 3 * DAY, type="email_click", props={"campaign": "spring"}),
        Ev("a", "6", AS_OF - 2 * DAY, type="email_click", props={"campaign": "autumn"}),
        Ev("b", "7", AS_OF - 100 * DAY, type="visit"),
    ]
    rules = [
        {"event": "visit", "points": 1, "per_event": True, "within": "30d"},
        {"event": "visit", "points": 3},  # once, any time before as_of
        {"event": "email_click", "points": 7, "per_event": True, "where": {"campaign": "spring"}},
    ]
    load(db, {"a": {}, "b": {}, "c": {}}, events)
    got = db.compute({"s": config(rules)}, AS_OF)
    assert {k: v["s"] for k, v in got.items()} == {"a": 2 + 3 + 7.0, "b": 3.0, "c": 0.0}
    for key in "abc":
        check(got[key]["s"], ref_score({}, [e for e in events if e.key == key], rules))


@pytest.mark.parametrize(
    ("ages", "half_life", "per_event"),
    [
        ([dt.timedelta(0) + US], "14d", True),
        ([14 * DAY], "14d", True),  # one half-life: half the points
        ([28 * DAY], "14d", True),  # two: a quarter
        ([7 * DAY, 14 * DAY, 21 * DAY], "14d", True),
        ([7 * DAY, 14 * DAY, 21 * DAY], "14d", False),  # once: the most recent's decay
        ([dt.timedelta(hours=5, minutes=17)], "12h", True),
        ([3 * DAY + dt.timedelta(seconds=1), 400 * DAY], "2w", True),
    ],
)
def test_decay_matches_the_formula(
    db: TraitDb, ages: list[dt.timedelta], half_life: str, per_event: bool
) -> None:
    events = [Ev("a", str(i), AS_OF - age, type="visit") for i, age in enumerate(ages)]
    rules = [{"event": "visit", "points": 10, "per_event": per_event, "half_life": half_life}]
    load(db, {"a": {}}, events)
    got = db.compute({"s": config(rules)}, AS_OF)["a"]["s"]
    check(got, ref_score({}, events, rules))


def test_decay_exact_values(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - 14 * DAY, type="visit"),
        Ev("a", "2", AS_OF - 28 * DAY, type="visit"),
        Ev("a", "3", AS_OF - 7 * DAY, type="visit"),
    ]
    load(db, {"a": {}}, events)
    rules = [{"event": "visit", "points": 8, "per_event": True, "half_life": "14d"}]
    # 8 × (0.5 + 0.25 + 2^-0.5) = 11.656854… → 11.66
    assert db.compute({"s": config(rules)}, AS_OF)["a"]["s"] == 11.66


def test_everything_together_and_rounding(db: TraitDb) -> None:
    profiles = {"a": {"country": "FR"}, "b": {"country": "US", "vip": True}}
    events = [
        Ev("a", "1", AS_OF - 5 * DAY, type="visit"),
        Ev("a", "2", AS_OF - 40 * DAY, type="order"),
        Ev("b", "3", AS_OF - DAY, type="order"),
    ]
    rules = [
        {
            "when": "country IN ('FR', 'BE')",
            "points": 0.333,
            "test": lambda p: p["country"] in ("FR", "BE"),
        },
        {"when": "vip IS TRUE", "points": 1 / 3, "test": lambda p: p.get("vip") is True},
        {"event": "visit", "points": 2, "half_life": "3d", "per_event": True},
        {"event": "order", "points": 25, "within": "30d"},
    ]
    load(db, profiles, events)
    got = db.compute({"s": config(rules)}, AS_OF)
    for key, profile in profiles.items():
        check(got[key]["s"], ref_score(profile, [e for e in events if e.key == key], rules))
    assert got["b"]["s"] == 25.33


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"expected exactly one of 'when' .* or 'event'"):
        ScoreSettings(rules=[{"points": 1}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match=r"expected exactly one of 'when' .* or 'event'"):
        ScoreSettings(rules=[{"points": 1, "when": "vip", "event": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="expected no 'half_life', 'where' in a 'when' rule"):
        ScoreSettings(rules=[{"points": 1, "when": "vip", "half_life": "1d", "where": {}}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="expected a duration"):
        ScoreSettings(rules=[{"points": 1, "event": "x", "half_life": "two weeks"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="subqueries are not allowed"):
        ScoreSettings(rules=[{"points": 1, "when": "country IN (SELECT 1)"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="should be a finite number"):
        ScoreSettings(rules=[{"points": float("inf"), "event": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="at least 1 item"):
        ScoreSettings(rules=[])


def test_check_against_the_profile_columns() -> None:
    spec = build_trait(
        "s",
        Score,
        {"rules": [{"when": "country = 'FR'", "points": 1}, {"when": "rfm = 'x'", "points": 1}]},
    )
    columns = {**BUILTIN_COLUMNS, "country": "text"}
    problems = spec.trait.check(columns)
    assert len(problems) == 1
    assert problems[0].startswith(
        'traits.s.rules.1.when: expected a valid condition: unknown column "rfm"'
    )
