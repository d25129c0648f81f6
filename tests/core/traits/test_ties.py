"""``ties = "share"`` and ``"split"`` (rfm, value_tier quantiles) against plain-Python references
written from the documented rules, on hand-made tie-heavy data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from traitkit import GRID, Ev, TraitDb, ref_ntile, ref_rfm, to_five, utc

from segsync.pipeline.traits import compute_traits
from segsync.plugins import reset_plugins
from segsync.traits import build_trait
from segsync.traits.ties import ntile_score, share_starts, sizes

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


# -- the documented rule, written out group by group ---------------------------------------


def ref_share(counts: Sequence[int], buckets: int) -> list[int]:
    """The score of each tie group (in ascending order of the measure) by the documented
    ``share`` rule: walk the groups, one bucket at a time; the bucket's fair share is the
    profiles not yet in a closed bucket over the buckets left, rounded up; a group joins
    the current bucket if it is empty, or the last, or if at least half of the group fits."""
    total = sum(counts)
    scores, bucket, opened, position = [], 1, 0, 0
    for count in counts:
        filled = position - opened
        fair = -(-(total - opened) // (buckets - bucket + 1))
        if bucket < buckets and filled > 0 and filled + Fraction(count, 2) > fair:
            bucket, opened = bucket + 1, position
        scores.append(bucket)
        position += count
    return scores


def scores_from_starts(counts: Sequence[int], starts: Sequence[int]) -> list[int]:
    out, position = [], 0
    for count in counts:
        out.append(1 + sum(1 for s in starts if s <= position))
        position += count
    return out


def starts_of(counts: Sequence[int], buckets: int) -> list[int]:
    groups, position = [], 0
    for count in counts:
        if count >= 2:
            groups.append((position, count))
        position += count
    return share_starts(groups, sum(counts), buckets)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 40) | st.just(1), min_size=1, max_size=60),
    st.integers(2, 10),
)
def test_share_follows_the_documented_rule(counts: list[int], buckets: int) -> None:
    starts = starts_of(counts, buckets)
    assert scores_from_starts(counts, starts) == ref_share(counts, buckets)
    assert len(starts) <= buckets - 1
    assert all(b > 0 for b in sizes(starts, sum(counts)))  # no empty bucket, no score skipped


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(2, 20))
def test_without_ties_share_is_split(total: int, buckets: int) -> None:
    ones = [1] * total
    got = scores_from_starts(ones, starts_of(ones, buckets))
    assert got == [ntile_score(p, total, buckets) for p in range(total)]
    assert got == list(ref_ntile(buckets, [f"k{p:04d}" for p in range(total)]).values())


def test_one_time_buyers_on_the_published_retail_history() -> None:
    """Orders per customer in the CDNOW master file (23,570 customers; 1, 2, …, 12 orders,
    then 13 or more): half bought once; share keeps each frequency whole and evens out the
    rest."""
    counts = [11908, 4079, 2217, 1441, 995, 635, 475, 392, 274, 204, 142, 147, 661]
    starts = starts_of(counts, 5)
    assert scores_from_starts(counts, starts) == [1, 2, 3, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5]
    assert sizes(starts, sum(counts)) == [11908, 4079, 2217, 2436, 2930]


# -- rfm -------------------------------------------------------------------------------------


def tie_heavy() -> tuple[list[str], list[Ev]]:
    """30 customers: 12 who bought once on the same day for the same amount, 6 twice on the
    same two days, and 12 all different."""
    keys, events = [], []
    for i in range(12):
        key = f"once-{i:02d}"
        keys.append(key)
        events.append(Ev(key, f"{key}-1", AS_OF - 40 * DAY, Decimal("20.00")))
    for i in range(6):
        key = f"twice-{i:02d}"
        keys.append(key)
        for j, days in enumerate((30, 10)):
            events.append(Ev(key, f"{key}-{j}", AS_OF - days * DAY, Decimal("35.00")))
    for i in range(12):
        key = f"other-{i:02d}"
        keys.append(key)
        for j in range(i % 5 + 1):
            at = AS_OF - (i * 7 + j + 1) * DAY - i * dt.timedelta(minutes=13)
            events.append(Ev(key, f"{key}-{j}", at, Decimal(17 * i + j + 1)))
    return keys, events


def ref_rfm_shared(events: Sequence[Ev], buckets: int = 5) -> dict[str, tuple[Any, ...]]:
    by_key: dict[str, list[Ev]] = {}
    for e in events:
        by_key.setdefault(e.key, []).append(e)
    measures = {
        "r": {k: max(e.at for e in evs) for k, evs in by_key.items()},
        "f": {k: len(evs) for k, evs in by_key.items()},
        "m": {
            k: sum((e.value for e in evs if e.value is not None), Decimal(0))
            for k, evs in by_key.items()
        },
    }
    scores: dict[str, dict[str, int]] = {}
    for name, measure in measures.items():
        values = sorted(set(measure.values()))
        counts = [sum(1 for v in measure.values() if v == value) for value in values]
        by_value = dict(zip(values, ref_share(counts, buckets), strict=True))
        scores[name] = {k: by_value[v] for k, v in measure.items()}
    return {
        k: (
            GRID[to_five(scores["r"][k], buckets)][to_five(scores["f"][k], buckets) - 1],
            scores["r"][k],
            scores["f"][k],
            scores["m"][k],
        )
        for k in by_key
    }


def rfm_values(db: TraitDb, ties: str | None, as_of: dt.datetime = AS_OF) -> Any:
    settings: dict[str, Any] = {"event": "order"}
    if ties is not None:
        settings["ties"] = ties
    spec = build_trait("rfm", db.kinds["rfm"], settings)
    results = compute_traits(db.store.engine, {"rfm": spec}, as_of=as_of)
    rows = db.store.dicts("SELECT * FROM segment_profiles ORDER BY profile_key")
    got = {r["profile_key"]: (r["rfm"], r["rfm_r"], r["rfm_f"], r["rfm_m"]) for r in rows}
    return got, results


def test_share_gives_identical_customers_one_score_and_cell(db: TraitDb) -> None:
    keys, events = tie_heavy()
    db.load([*keys, "never"], events)
    got, results = rfm_values(db, "share")
    assert got.pop("never") == (None, None, None, None)
    assert got == ref_rfm_shared(events)
    once = {got[k] for k in keys if k.startswith("once")}
    twice = {got[k] for k in keys if k.startswith("twice")}
    assert len(once) == 1 and len(twice) == 1
    assert next(iter(once))[2] == 1  # one-time buyers: the lowest frequency score
    assert [w for w in results.warnings if w.code == "ties_split"] == []


def test_split_spreads_identical_customers_by_key_and_says_so(db: TraitDb) -> None:
    keys, events = tie_heavy()
    db.load(keys, events)
    got, results = rfm_values(db, "split")
    by_key = {k: [e for e in events if e.key == k] for k in keys}
    assert got == ref_rfm(by_key)
    once = {got[k] for k in keys if k.startswith("once")}
    assert len(once) > 1  # the same customer, different scores: the problem share fixes
    messages = [w.message for w in results.warnings if w.code == "ties_split"]
    assert messages, results.warnings
    assert any(
        "15 of 30 scored profiles (50.0%) have the same number of events (1)" in m
        and "F scores 1 to 3 by profile key" in m
        for m in messages
    ), messages
    assert all("set ties = 'share'" in m for m in messages)


def test_without_the_setting_rfm_splits_as_before_and_says_ties_is_not_set(db: TraitDb) -> None:
    keys, events = tie_heavy()
    db.load(keys, events)
    implicit, results = rfm_values(db, None)
    explicit, _ = rfm_values(db, "split")
    assert implicit == explicit
    assert any("ties is not set" in w.message for w in results.warnings)


def test_small_ties_are_not_reported(db: TraitDb) -> None:
    keys = [f"p{i:02d}" for i in range(20)]
    events = [  # pairs share a last day and a number of orders: 2 of 20 is 10 %, not more
        Ev(k, f"{k}-{j}", AS_OF - (i // 2 + 1 + j) * DAY, Decimal(i + 1))
        for i, k in enumerate(keys)
        for j in range(i // 2 + 1)
    ]
    db.load(keys, events)
    _, results = rfm_values(db, "split")
    assert [w for w in results.warnings if w.code == "ties_split"] == []


# -- value tiers -----------------------------------------------------------------------------


def tiers(db: TraitDb, ties: str) -> dict[str, str | None]:
    spec = build_trait(
        "tier",
        db.kinds["value_tier"],
        {"quantiles": {"low": 0.5, "mid": 0.8, "top": 1.0}, "ties": ties},
    )
    compute_traits(db.store.engine, {"tier": spec}, as_of=AS_OF)
    rows = db.store.dicts("SELECT profile_key, tier FROM segment_profiles ORDER BY profile_key")
    return {r["profile_key"]: r["tier"] for r in rows}


def ref_tier_shared(totals: dict[str, Decimal]) -> dict[str, str]:
    """Each tie group gets the tier of its middle member (the lower middle one), ranked by
    the documented quantile rule: rank i is in the first tier with i ≤ bound × N."""
    ordered = sorted(totals.values())
    n = len(ordered)
    bounds = [(Fraction(1, 2), "low"), (Fraction(4, 5), "mid"), (Fraction(1), "top")]
    out = {}
    for key, value in totals.items():
        first = ordered.index(value) + 1
        count = ordered.count(value)
        middle = first + (count - 1) // 2
        out[key] = next(name for bound, name in bounds if middle <= bound * n)
    return out


def test_value_tiers_share_ties(db: TraitDb) -> None:
    values = [Decimal(10)] * 6 + [Decimal(v) for v in (12, 15, 15, 40)]  # 10 profiles
    keys = [f"v{i:02d}" for i in range(len(values))]
    events = [Ev(k, k, AS_OF - DAY, v) for k, v in zip(keys, values, strict=True)]
    db.load(keys, events)
    shared = tiers(db, "share")
    assert shared == ref_tier_shared(dict(zip(keys, values, strict=True)))
    assert {shared[k] for k in keys[:6]} == {"low"}  # 6 equal totals, one tier
    split = tiers(db, "split")
    assert {split[k] for k in keys[:6]} == {"low", "mid"}  # cut by key at rank 5


def test_ties_is_a_quantile_setting() -> None:
    reset_plugins()
    kinds = TraitDb().kinds
    with pytest.raises(ValueError, match="ties: applies to quantiles only"):
        build_trait("t", kinds["value_tier"], {"thresholds": {"a": 0}, "ties": "share"})
