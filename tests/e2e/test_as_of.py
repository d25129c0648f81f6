"""A run-level as-of: traits, KPIs and ``current_date``/``now()`` in conditions agree on a past
date ([segments] as_of, or --as-of, which wins); stale data warns once, and is counted."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from projectkit import Project, contact

pytestmark = pytest.mark.e2e

AS_OF = dt.datetime(2020, 7, 1)

TRAITS = """
[traits.orders_30d]
kind = "aggregate"
event = "order"
function = "count"
within = "30d"

[traits.spend_30d]
kind = "aggregate"
event = "order"
function = "sum"
within = "30d"

[traits.stage]
kind = "lifecycle"

[segments.recent_by_trait]
where = "orders_30d > 0"

[segments.recent_by_date]
where = "last_order_at >= current_date - INTERVAL 30 DAY"

[segments.recent_by_now]
where = "last_order_at >= now() - INTERVAL 30 DAY"

[segments.recent_by_timestamp]
where = "last_order_at >= current_timestamp - INTERVAL 30 DAY"

[segments.active_stage]
where = "stage IN ('new', 'active', 'loyal')"
"""


def orders() -> list[dict[str, Any]]:
    """Customer i's orders: one every 9 days going back from 2020-07-01 − i days, i + 1 of
    them."""
    out = []
    for i in range(1, 21):
        for j in range(i % 4 + 1):
            at = AS_OF - dt.timedelta(days=3 * i + 9 * j, hours=5)
            out.append({
                "order_id": f"O{i:03d}{j}", "customer_id": f"C{i:05d}",
                "ordered_at": at.isoformat() + "Z", "amount": f"{10 * i + j}.25",
            })  # fmt: skip
    return out


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path, contacts=[contact(i) for i in range(1, 26)], orders=orders())
    p.extra_config = TRAITS
    return p


def expected(as_of: dt.datetime) -> tuple[set[str], Decimal]:
    """Who ordered in [as_of − 30 days, as_of), and what they spent there, by hand."""
    start = as_of - dt.timedelta(days=30)
    buyers, spend = set(), Decimal(0)
    for o in orders():
        at = dt.datetime.fromisoformat(o["ordered_at"].removesuffix("Z"))
        if start <= at < as_of:
            buyers.add(o["customer_id"])
            spend += Decimal(o["amount"])
    return buyers, spend


def check_agreement(report: dict[str, Any], as_of: dt.datetime) -> None:
    sizes = {s["name"]: s for s in report["segments"]}
    buyers, spend = expected(as_of)
    assert sizes["recent_by_trait"]["size"] == len(buyers) > 0
    # last_order_at is the profile's last order of all time; before the as-of, a profile
    # with an order in the window has its last one there or later: condition ⊇ trait
    later = {o["customer_id"] for o in orders() if o["ordered_at"] >= as_of.isoformat()}
    assert sizes["recent_by_date"]["size"] == len(buyers | later)
    assert sizes["recent_by_now"]["size"] == sizes["recent_by_timestamp"]["size"]
    # the KPIs read the same window: everyone in recent_by_trait ordered in it
    assert sizes["recent_by_trait"]["conversion_rate"] == 1.0
    assert Decimal(sizes["recent_by_trait"]["revenue"]) == spend
    assert report["kpi_window_end"].startswith(as_of.date().isoformat())


def test_segments_as_of_in_the_config_pins_traits_kpis_and_conditions(project: Project) -> None:
    project.extra_config = "[segments]\nas_of = 2020-07-01\n" + TRAITS
    project.write()
    assert project.cli("pull").code == 0
    code, report = project.json("segments")
    assert code == 0, report
    assert report["as_of"] == "2020-07-01T00:00:00Z"
    assert report["as_of_source"] == "config"
    check_agreement(report, AS_OF)
    # on the as-of itself, now() and current_date agree (midnight): same members
    sizes = {s["name"]: s["size"] for s in report["segments"]}
    assert sizes["recent_by_now"] == sizes["recent_by_date"]
    assert sizes["active_stage"] == 20  # everyone ordered within 90 days of the as-of
    assert report["warnings"] == []


def test_as_of_on_the_command_line_wins_and_shows(project: Project) -> None:
    project.extra_config = "[segments]\nas_of = 2020-07-01\n" + TRAITS
    project.write()
    earlier = dt.datetime(2020, 6, 10, 12)
    code, report = project.json("run", "--as-of", "2020-06-10T14:00:00+02:00")
    assert code == 0, report
    assert report["as_of"] == "2020-06-10T12:00:00Z"
    assert report["as_of_source"] == "command_line"
    check_agreement(report, earlier)
    sizes = {s["name"]: s["size"] for s in report["segments"]}
    # current_date is the as-of's day (midnight), now() the as-of itself
    assert sizes["recent_by_date"] >= sizes["recent_by_now"]
    text = project.cli("plan", "--no-pull", "--as-of", "2020-06-10")
    assert text.code == 0, text.err
    assert "As of 2020-06-10 00:00:00 UTC (--as-of)" in text.out
    bad = project.cli("plan", "--as-of", "June 10th")
    assert bad.code == 2
    shown = re.sub(r"[\s│]+", " ", bad.err)  # rich draws the usage error in a box
    assert "expected an ISO date or date-time such as 2026-01-31" in shown


def test_historical_data_read_today_warns_once_and_counts(project: Project) -> None:
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    assert report["as_of_source"] == "run_start"
    codes = sorted((w["trait"], w["code"]) for w in report["warnings"])
    assert codes == [
        ("orders_30d", "stale_window"),
        ("spend_30d", "stale_window"),
        ("stage", "stale_lifecycle"),
    ]
    assert all("segsync run --as-of DATE" in w["message"] for w in report["warnings"])
    text = project.cli("segments")
    assert text.code == 0
    assert text.out.count("warning traits.stage:") == 1
    assert "3 warning(s) about the data" in text.out
    assert text.err.count("traits.stage: the newest 'order' event") == 1  # logged once


def test_a_segment_named_as_of_is_refused(project: Project) -> None:
    project.extra_config = '[segments.as_of]\nwhere = "TRUE"\n'
    project.write()
    result = project.cli("check")
    assert result.code == 2
    assert "segments.as_of: 'as_of' is the run's as-of date" in " ".join(result.err.split())
