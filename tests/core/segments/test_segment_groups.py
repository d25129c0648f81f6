"""Segment groups: ``split`` (deterministic, stable, by percentage, with a holdout) and
``priority`` (mutually exclusive tiers, first listed wins), against plain-Python references."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from segkit import P, SegDb, key_of, make_config, ref_group

SPLIT = """
[segments.french]
where = "country = 'FR'"

[segments.newsletter_test]
include = ["french"]
split = { a = 45, b = 45 }
holdout = 10
seed = "2026-q4"
"""

LAYOUT = [("a", 45.0), ("b", 45.0), ("holdout", 10.0)]


@pytest.fixture
def db() -> SegDb:
    return SegDb()


def test_split_groups_match_the_documented_hash(tmp_path: Path, db: SegDb) -> None:
    config = make_config(tmp_path, SPLIT)
    db.load([*(P(key_of(i)) for i in range(500)), *(P(key_of(i), "DE") for i in range(500, 600))])
    results = db.compute(config)
    groups = db.groups("newsletter_test")
    french = {key_of(i) for i in range(500)}
    assert set(groups) == french == db.members("newsletter_test")  # the DE profiles are in none
    assert groups == {k: ref_group("2026-q4", k, LAYOUT) for k in french}
    assert list(results) == [
        "french",
        "newsletter_test",
        "newsletter_test.a",
        "newsletter_test.b",
        "newsletter_test.holdout",
    ]
    assert sum(results[f"newsletter_test.{g}"].size for g in ("a", "b", "holdout")) == 500
    assert results["newsletter_test.a"].group_of == "newsletter_test"
    assert results["newsletter_test"].group_of is None


def test_split_is_the_same_on_every_run(tmp_path: Path, db: SegDb) -> None:
    config = make_config(tmp_path, SPLIT)
    db.load_many(1000)
    db.compute(config, persist=True)
    first = db.groups("newsletter_test")
    results = db.compute(config, persist=True)
    assert db.groups("newsletter_test") == first
    for group in ("a", "b", "holdout"):
        r = results[f"newsletter_test.{group}"]
        assert (r.entered, r.left) == (0, 0) and r.size > 0


def test_changing_only_the_seed_changes_the_groups(tmp_path: Path, db: SegDb) -> None:
    db.load_many(1000)
    db.compute(make_config(tmp_path, SPLIT))
    before = db.groups("newsletter_test")
    db.compute(make_config(tmp_path, SPLIT.replace('"2026-q4"', '"2027-q1"')))
    after = db.groups("newsletter_test")
    assert set(before) == set(after)
    moved = sum(before[k] != after[k] for k in before)
    # independent draws: a profile stays in its group with p = .45² + .45² + .1² = .415
    assert 450 < moved < 720
    assert after == {k: ref_group("2027-q1", k, LAYOUT) for k in after}


def test_the_seed_defaults_to_the_segment_name(tmp_path: Path, db: SegDb) -> None:
    db.load_many(300)
    db.compute(make_config(tmp_path, SPLIT.replace('seed = "2026-q4"\n', "")))
    groups = db.groups("newsletter_test")
    assert groups == {k: ref_group("newsletter_test", k, LAYOUT) for k in groups}


def test_a_profile_keeps_its_group_when_others_are_added(tmp_path: Path, db: SegDb) -> None:
    config = make_config(tmp_path, SPLIT)
    db.load_many(1000)
    db.compute(config, persist=True)
    before = db.groups("newsletter_test")
    db.load_many(3000)  # the same 1,000 and 2,000 more
    results = db.compute(config, persist=True)
    after = db.groups("newsletter_test")
    assert {k: after[k] for k in before} == before
    assert sum(results[f"newsletter_test.{g}"].left for g in ("a", "b", "holdout")) == 0
    assert sum(results[f"newsletter_test.{g}"].entered for g in ("a", "b", "holdout")) == 2000


@pytest.mark.parametrize(
    ("split", "holdout", "layout"),
    [
        ("{ a = 45, b = 45 }", "10", LAYOUT),
        (
            "{ x = 33.33, y = 33.33, z = 33.34 }",
            None,
            [("x", 33.33), ("y", 33.33), ("z", 33.34)],
        ),
        ("{ big = 97.5 }", "2.5", [("big", 97.5), ("holdout", 2.5)]),
    ],
)
def test_percentages_hold_on_10000_profiles(
    tmp_path: Path, db: SegDb, split: str, holdout: str | None, layout: list[tuple[str, float]]
) -> None:
    text = f'[segments.everyone]\nwhere = "TRUE"\nsplit = {split}\n'
    if holdout is not None:
        text += f"holdout = {holdout}\n"
    db.load_many(10_000)
    db.compute(make_config(tmp_path, text))
    groups = db.groups("everyone")
    counts = Counter(groups.values())
    assert sum(counts.values()) == 10_000
    for name, percentage in layout:
        p = percentage / 100
        tolerance = 4 * (p * (1 - p) / 10_000) ** 0.5  # four standard deviations
        assert abs(counts[name] / 10_000 - p) < tolerance, (name, counts[name])
    assert groups == {k: ref_group("everyone", k, layout) for k in groups}


def test_a_zero_percent_group_is_empty_and_listed(tmp_path: Path, db: SegDb) -> None:
    db.load_many(200)
    results = db.compute(
        make_config(tmp_path, '[segments.s]\nwhere = "TRUE"\nsplit = { on = 100, off = 0 }\n')
    )
    assert results["s.on"].size == 200
    assert results["s.off"].size == 0


def test_groups_are_usable_in_include_and_exclude(tmp_path: Path, db: SegDb) -> None:
    text = (
        SPLIT
        + """
[segments.test_b_only]
include = ["newsletter_test.b"]

[segments.treated]
include = ["newsletter_test"]
exclude = ["newsletter_test.holdout"]
"""
    )
    db.load_many(800)
    db.compute(make_config(tmp_path, text))
    groups = db.groups("newsletter_test")
    assert db.members("test_b_only") == {k for k, g in groups.items() if g == "b"}
    assert db.members("treated") == {k for k, g in groups.items() if g != "holdout"}


PRIORITY = """
[segments.vip]
where = "revenue >= 1000"

[segments.loyal]
where = "revenue >= 200"

[segments.french]
where = "country = 'FR'"

[segments.tier]
priority = ["vip", "loyal", "french"]
"""


def _tier_profiles() -> list[P]:
    from decimal import Decimal

    out = []
    for i in range(300):
        revenue = Decimal((i * 37) % 1500)
        out.append(P(key_of(i), "FR" if i % 3 else "DE", revenue))
    return out


def ref_tier(p: P, order: list[str]) -> str | None:
    belongs = {"vip": p.revenue >= 1000, "loyal": p.revenue >= 200, "french": p.country == "FR"}
    return next((s for s in order if belongs[s]), None)


def test_priority_groups_are_exclusive_and_first_match_wins(tmp_path: Path, db: SegDb) -> None:
    profiles = _tier_profiles()
    db.load(profiles)
    results = db.compute(make_config(tmp_path, PRIORITY))
    groups = db.groups("tier")  # asserts that no profile is in two groups
    expected = {p.key: t for p in profiles if (t := ref_tier(p, ["vip", "loyal", "french"]))}
    assert groups == expected
    assert db.members("tier") == set(expected)
    assert db.members("vip") == {p.key for p in profiles if p.revenue >= 1000}  # unchanged
    assert db.members("loyal") == {p.key for p in profiles if p.revenue >= 200}
    assert results["tier"].size == sum(
        results[f"tier.{s}"].size for s in ("vip", "loyal", "french")
    )
    assert [n for n in results if n.startswith("tier")] == [
        "tier",
        "tier.vip",
        "tier.loyal",
        "tier.french",
    ]


def test_priority_order_decides(tmp_path: Path, db: SegDb) -> None:
    profiles = _tier_profiles()
    db.load(profiles)
    order = ["french", "loyal", "vip"]
    text = PRIORITY.replace('"vip", "loyal", "french"', '"french", "loyal", "vip"')
    results = db.compute(make_config(tmp_path, text))
    expected = {p.key: t for p in profiles if (t := ref_tier(p, order))}
    assert db.groups("tier") == expected
    # every vip is loyal, and loyal now comes first: the vip group is empty
    assert results["tier.vip"].size == 0 and results["vip"].size > 0
    assert results["tier.french"].size == sum(p.country == "FR" for p in profiles)


def test_priority_with_exclude_leaves_the_excluded_out_of_every_group(
    tmp_path: Path, db: SegDb
) -> None:
    profiles = _tier_profiles()
    db.load(profiles)
    text = PRIORITY + "\n[segments.germans]\nwhere = \"country = 'DE'\"\n"
    text = text.replace('priority = ["vip"', 'exclude = ["germans"]\npriority = ["vip"')
    db.compute(make_config(tmp_path, text))
    expected = {
        p.key: t
        for p in profiles
        if p.country != "DE" and (t := ref_tier(p, ["vip", "loyal", "french"]))
    }
    assert db.groups("tier") == expected
    assert db.members("tier") == set(expected)


def test_a_split_of_a_priority_group(tmp_path: Path, db: SegDb) -> None:
    """Groups are segments: a split may include one, and a priority tier may list a split."""
    text = (
        PRIORITY
        + """
[segments.vip_test]
include = ["tier.vip"]
split = { mail = 50, sms = 50 }

[segments.tier2]
priority = ["vip_test", "french"]
"""
    )
    profiles = _tier_profiles()
    db.load(profiles)
    db.compute(make_config(tmp_path, text))
    vips = {k for k, g in db.groups("tier").items() if g == "vip"}
    assert set(db.groups("vip_test")) == vips
    assert {k for k, g in db.groups("tier2").items() if g == "vip_test"} == vips
