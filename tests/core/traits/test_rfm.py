"""``rfm`` traits against a plain-Python reference: n-tiles, ties, cells."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traitkit import GRID, Ev, TraitDb, in_window, ref_rfm, to_five, utc

from segsync.plugins import reset_plugins
from segsync.traits.rfm import DEFAULT_CELLS

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def rfm(**extra: Any) -> dict[str, Any]:
    return {"kind": "rfm", "event": "order", **extra}


def scores(got: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {k: (v["rfm"], v["rfm_r"], v["rfm_f"], v["rfm_m"]) for k, v in got.items()}


def test_the_default_cells_are_the_documented_grid() -> None:
    from_module = {tuple(map(int, p.split("-"))): c for c, ps in DEFAULT_CELLS.items() for p in ps}
    from_grid = {(r, f): GRID[r][f - 1] for r in range(1, 6) for f in range(1, 6)}
    assert from_module == from_grid
    assert set(DEFAULT_CELLS) == {
        "champions", "regulars", "potential_regulars", "recent_first", "promising",
        "need_attention", "about_to_sleep", "slipping", "cannot_lose", "hibernating", "dormant",
    }  # fmt: skip


def test_seven_profiles_in_five_buckets(db: TraitDb) -> None:
    """Uneven buckets: 2, 2, 1, 1, 1 (the larger first), as SQL ntile does."""
    keys = [f"p{i}" for i in range(7)]
    events = []
    for i, key in enumerate(keys):
        for j in range(i + 1):  # p0 buys once, p6 seven times
            events.append(
                Ev(
                    key,
                    f"{key}-{j}",
                    AS_OF - (10 - i) * DAY - j * dt.timedelta(hours=1),
                    Decimal(10 * (7 - i)),
                )
            )
    db.load([*keys, "none"], events)
    got = scores(db.compute({"rfm": rfm()}, AS_OF))
    assert [got[k][1] for k in keys] == [1, 1, 2, 2, 3, 4, 5]  # recency
    assert [got[k][2] for k in keys] == [1, 1, 2, 2, 3, 4, 5]  # frequency
    # monetary: p0 70, p1 120, p2 150, p3 160, p4 150, p5 120, p6 70 -> ties by key
    assert [got[k][3] for k in keys] == [1, 2, 3, 5, 4, 2, 1]
    assert got["none"] == (None, None, None, None)
    by_key = {k: [e for e in events if e.key == k] for k in keys}
    assert {k: got[k] for k in keys} == ref_rfm(by_key)


def test_ties_are_broken_by_profile_key(db: TraitDb) -> None:
    at = AS_OF - 3 * DAY
    keys = ["e", "c", "a", "d", "b"]
    db.load(keys, [Ev(k, k, at, Decimal(5)) for k in keys])
    got = scores(db.compute({"rfm": rfm()}, AS_OF))
    # everything tied: the order is the key's, so a=1 … e=5 on every score
    assert {k: got[k][1:] for k in keys} == {k: (i, i, i) for i, k in enumerate("abcde", 1)}


def test_fewer_profiles_than_buckets_and_a_single_profile(db: TraitDb) -> None:
    db.load(
        ["a", "b"],
        [Ev("a", "1", AS_OF - DAY, Decimal(1)), Ev("b", "2", AS_OF - 2 * DAY, Decimal(2))],
    )
    got = scores(db.compute({"rfm": rfm()}, AS_OF))
    # 2 profiles in 5 buckets: scores 1 and 2 only; the frequency tie goes by key
    assert got == {"a": ("hibernating", 2, 1, 1), "b": ("hibernating", 1, 2, 2)}
    db.load(["solo"], [Ev("solo", "1", AS_OF - DAY)])
    assert scores(db.compute({"rfm": rfm()}, AS_OF)) == {"solo": ("dormant", 1, 1, 1)}


def test_null_values_add_nothing_to_monetary(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - DAY, None),
        Ev("a", "2", AS_OF - DAY, None),
        Ev("b", "3", AS_OF - DAY, Decimal("0.01")),
        Ev("c", "4", AS_OF - DAY, Decimal("-5")),  # a refund-like negative value
    ]
    db.load(["a", "b", "c"], events)
    got = scores(db.compute({"rfm": rfm(buckets=3)}, AS_OF))
    assert {k: v[3] for k, v in got.items()} == {"a": 2, "b": 3, "c": 1}
    assert got == ref_rfm({k: [e for e in events if e.key == k] for k in "abc"}, buckets=3)


def test_window_and_as_of(db: TraitDb) -> None:
    events = [
        Ev("a", "1", AS_OF - 40 * DAY, Decimal(100)),  # outside within = "30d"
        Ev("a", "2", AS_OF - 5 * DAY, Decimal(1)),
        Ev("b", "3", AS_OF - 10 * DAY, Decimal(2)),
        Ev("c", "4", AS_OF + DAY, Decimal(3)),  # after as_of
    ]
    db.load(["a", "b", "c"], events)
    got = scores(db.compute({"rfm": rfm(within="30d", buckets=2)}, AS_OF))
    # on 2 buckets, scaled to the 5-point grid: 1 -> 1, 2 -> 5
    assert got == {"a": ("recent_first", 2, 1, 1), "b": ("cannot_lose", 1, 2, 2), "c": (None,) * 4}
    windowed = {
        k: [e for e in events if e.key == k and in_window(e, start=AS_OF - 30 * DAY, end=AS_OF)]
        for k in "abc"
    }
    expected = ref_rfm(windowed, buckets=2)
    assert {k: v for k, v in got.items() if v[0]} == expected


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [(2, [1, 5]), (3, [1, 3, 5]), (4, [1, 2, 4, 5]), (10, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])],
)
def test_scaling_to_the_five_point_grid(buckets: int, expected: list[int]) -> None:
    from segsync.traits.rfm import scale_to_five

    assert [scale_to_five(s, buckets) for s in range(1, buckets + 1)] == expected
    assert [to_five(s, buckets) for s in range(1, buckets + 1)] == expected


def test_custom_cells(db: TraitDb) -> None:
    cells = {"best": ["2-2", "2-1"], "rest": ["1-1", "1-2"]}
    events = [
        Ev("a", "1", AS_OF - DAY),
        Ev("b", "2", AS_OF - 9 * DAY),
        Ev("b", "3", AS_OF - 8 * DAY),
    ]
    db.load(["a", "b"], events)
    got = scores(db.compute({"rfm": rfm(buckets=2, cells=cells)}, AS_OF))
    # monetary ties at 0 (no values): broken by key
    assert got == {"a": ("best", 2, 1, 1), "b": ("rest", 1, 2, 2)}


# -- property test ------------------------------------------------------------------------

KEYS = [f"k{i:02d}" for i in range(12)]
BASE = utc("2026-01-01T00:00:00")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.integers(0, 60),  # day offsets: many ties
            st.one_of(st.none(), st.decimals(0, 500, places=2, allow_nan=False)),
            st.sampled_from(["order", "order", "order", "visit"]),
        ),
        max_size=50,
    ),
    buckets=st.integers(2, 7),
    as_of_day=st.integers(0, 70),
    within=st.sampled_from([None, "30d", "1w"]),
)
def test_rfm_matches_reference(
    db: TraitDb,
    rows: list[tuple[str, int, Decimal | None, str]],
    buckets: int,
    as_of_day: int,
    within: str | None,
) -> None:
    events = [Ev(k, f"e{i}", BASE + d * DAY, v, t) for i, (k, d, v, t) in enumerate(rows)]
    as_of = BASE + as_of_day * DAY
    db.load(KEYS, events)
    trait = rfm(buckets=buckets, **({"within": within} if within else {}))
    got = scores(db.compute({"rfm": trait}, as_of))
    start = (
        None
        if within is None
        else as_of - int(within[:-1]) * (DAY if within[-1] == "d" else 7 * DAY)
    )
    windowed = {
        k: [e for e in events if e.key == k and in_window(e, start=start, end=as_of)] for k in KEYS
    }
    expected = ref_rfm(windowed, buckets)
    assert {k: v for k, v in got.items() if v[1] is not None} == expected
    assert all(v == (None,) * 4 for k, v in got.items() if k not in expected)
    # every score uses 1..min(buckets, n) and bucket sizes differ by at most one
    for i in (1, 2, 3):
        sizes = Counter(v[i] for v in got.values() if v[i] is not None)
        if sizes:
            assert set(sizes) == set(range(1, min(buckets, len(expected)) + 1))
            assert max(sizes.values()) - min(sizes.values()) <= 1
