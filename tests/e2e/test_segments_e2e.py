"""End-to-end: split groups and holdouts, priority tiers, min_size and KPIs through the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

from projectkit import Project, contact

pytestmark = pytest.mark.e2e

SPLIT = """
[segments.newsletter_test]
include = ["french"]
split = { a = 45, b = 45 }
holdout = 10
seed = "2026-q4"

[syncs.test_all]
segment = "newsletter_test"
destination = "out"

[syncs.test_a]
segment = "newsletter_test.a"
destination = "out"

[syncs.test_holdout]
segment = "newsletter_test.holdout"
destination = "out"
"""


def group_of(email: str) -> str:
    """The documented assignment: md5(seed ':' profile_key) → bucket → a, b or holdout."""
    key = hashlib.md5(f"email:{email}".encode()).hexdigest()
    bucket = int(hashlib.md5(f"2026-q4:{key}".encode()).hexdigest()[:8], 16) % 10_000
    return "a" if bucket < 4500 else "b" if bucket < 9000 else "holdout"


def test_a_sync_of_the_split_segment_never_sends_the_holdout(project: Project) -> None:
    project.contacts = [contact(i) for i in range(1, 201)]
    project.orders = []
    project.extra_config = SPLIT
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    emails = {f"person{i}@example.org" for i in range(1, 201)}
    holdout = {e for e in emails if group_of(e) == "holdout"}
    assert 5 < len(holdout) < 40
    assert project.audience("test_all") == emails - holdout
    assert project.audience("test_a") == {e for e in emails if group_of(e) == "a"}
    assert project.audience("test_holdout") == holdout  # only when synced by name
    sizes = {s["name"]: s["size"] for s in report["segments"]}
    assert sizes["newsletter_test"] == 200  # the segment itself still counts everyone
    assert sizes["newsletter_test.holdout"] == len(holdout)
    test_all = next(s for s in report["syncs"] if s["name"] == "test_all")
    assert test_all["segment_size"] == 200 - len(holdout)

    project.contacts += [contact(i) for i in range(201, 301)]  # more people: nobody moves
    project.write()
    code, report = project.json("run")
    assert code == 0
    for sync in report["syncs"]:
        if sync["name"].startswith("test_"):
            assert sync["removes"] == 0, sync
    everyone = [f"person{i}@example.org" for i in range(1, 301)]
    assert project.audience("test_holdout") == {e for e in everyone if group_of(e) == "holdout"}


MIN_SIZE = """
[segments.french]
where = "country = 'FR'"
min_size = 10
"""


@pytest.mark.parametrize("action", ["warn", "skip_syncs"])
def test_min_size_warns_or_blocks_and_force_overrides(project: Project, action: str) -> None:
    config = MIN_SIZE.rstrip() + (f'\nmin_size_action = "{action}"\n' if action != "warn" else "\n")
    project.write()
    project.config.write_text(
        project.config.read_text().replace("[segments.french]\nwhere = \"country = 'FR'\"\n", "")
        + config
    )
    code, report = project.json("run")
    french = next(s for s in report["segments"] if s["name"] == "french")
    assert (french["size"], french["min_size"], french["too_small"]) == (5, 10, True)
    news = next(s for s in report["syncs"] if s["name"] == "french_news")
    if action == "warn":
        assert code == 0
        assert news["status"] == "ok" and news["applied_adds"] == 2
        return
    assert code == 3
    assert news["status"] == "blocked"
    assert news["blocked"] == (
        "segment 'french' has 5 members, below min_size 10; rerun with --force to push it anyway"
    )
    assert news["applied_adds"] == 0
    buyers = next(s for s in report["syncs"] if s["name"] == "buyers")
    assert buyers["status"] == "ok"  # other segments' syncs go ahead
    text = project.cli("plan")
    assert text.code == 3
    assert "too small french: 5 members, below min_size 10" in text.out
    assert "segment 'french' has 5 members, below min_size 10" in text.out
    code, forced = project.json("run", "--force")
    assert code == 0
    news = next(s for s in forced["syncs"] if s["name"] == "french_news")
    assert news["status"] == "ok" and news["applied_adds"] == 2
    assert project.audience("French_newsletter") == {"alice@example.org", "person4@example.org"}


KPIS = """
[segments.tier]
priority = ["buyers", "french"]

[kpis]
window = "30d"
"""


def test_segments_command_shows_kpis(project: Project) -> None:
    now = dt.datetime.now(dt.UTC)

    def order(oid: str, customer: str, days_ago: float, amount: str) -> dict[str, str]:
        at = (now - dt.timedelta(days=days_ago)).isoformat()
        return {"order_id": oid, "customer_id": customer, "ordered_at": at, "amount": amount}

    project.orders = [
        order("O1", "C00001", 2, "10.50"),  # Alice, FR: in the window
        order("O2", "C00001", 40, "100.00"),  # Alice: before the window
        order("O3", "C00002", 5, "20.00"),  # DE
        order("O4", "C00004", 29, "30.25"),  # FR
    ]
    project.extra_config = KPIS
    project.write()
    assert project.cli("run").code == 0

    code, payload = project.json("segments")
    assert code == 0
    assert payload["profiles"] == 6 and payload["kpi_window"] == "30d"
    segments = {s["name"]: s for s in payload["segments"]}
    assert list(segments) == ["french", "buyers", "tier", "tier.buyers", "tier.french"]
    french = segments["french"]  # FR: 1, 3, 4, 5, 6
    assert french == {
        "name": "french",
        "size": 5,
        "entered": 0,
        "left": 0,
        "share": round(5 / 6, 4),
        "group_of": None,
        "min_size": None,
        "too_small": False,
        "conversion_rate": 0.4,
        "average_order_value": "20.3750",
        "revenue": "40.7500",
        "mean_value": "28.1500",  # (110.50 + 30.25) / 5
    }
    buyers = segments["buyers"]  # 1, 2, 4
    assert (buyers["size"], buyers["conversion_rate"], buyers["revenue"]) == (3, 1.0, "60.7500")
    assert buyers["average_order_value"] == "20.2500" and buyers["mean_value"] == "53.5833"
    assert segments["tier.buyers"]["size"] == 3 and segments["tier.french"]["size"] == 3
    assert segments["tier.french"]["group_of"] == "tier"
    assert segments["tier.french"]["conversion_rate"] == 0.0
    assert segments["tier.french"]["average_order_value"] is None

    text = project.cli("segments")
    assert text.code == 0
    assert "Segments (KPIs, orders in the last 30d)" in text.out
    for header in ("conversion", "avg order", "revenue", "mean value"):
        assert header in text.out
    line = next(row for row in text.out.splitlines() if "│ french " in row)
    assert "40.0%" in line and "20.38" in line and "40.75" in line and "28.15" in line

    # the run stored the KPIs
    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT segment, size, revenue::VARCHAR, kpi_window FROM segment_kpis "
            "WHERE segment IN ('french', 'tier.buyers') ORDER BY segment"
        ).fetchall()
    finally:
        con.close()
    assert rows == [("french", 5, "40.7500", "30d"), ("tier.buyers", 3, "60.7500", "30d")]


def test_min_size_of_a_split_segment_blocks_the_syncs_of_its_groups(project: Project) -> None:
    project.extra_config = """
[segments.test]
include = ["french"]
split = { a = 50, b = 50 }
min_size = 6
min_size_action = "skip_syncs"

[syncs.test_a]
segment = "test.a"
destination = "out"
"""
    project.write()
    code, report = project.json("plan")
    assert code == 3
    test_a = next(s for s in report["syncs"] if s["name"] == "test_a")
    assert test_a["blocked"] == (
        "segment 'test' has 5 members, below min_size 6; rerun with --force to push it anyway"
    )
    flagged = {s["name"]: s["too_small"] for s in report["segments"]}
    assert flagged == {
        "french": False,
        "buyers": False,
        "test": True,
        "test.a": False,
        "test.b": False,
    }
