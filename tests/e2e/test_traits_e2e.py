"""End-to-end: computed traits through the CLI — a source with +02:00 offsets, traits in the
store, and segments whose conditions use them."""

from __future__ import annotations

import duckdb
import pytest

from projectkit import Project

pytestmark = pytest.mark.e2e

TRAITS = """
[traits.feb_orders]
kind = "aggregate"
event = "order"
function = "count"
since = 2026-02-01
until = 2026-03-01

[traits.feb_spend]
kind = "aggregate"
event = "order"
function = "sum"
since = 2026-02-01
until = 2026-03-01

[traits.rfm]
kind = "rfm"
event = "order"
buckets = 2

[segments.february_regulars]
where = "feb_orders >= 2 AND feb_spend > 20"

[segments.rfm_recent]
where = "rfm_r = 2"

[segments.rfm_none]
where = "rfm IS NULL"
"""


def order(oid: str, customer: str, at: str, amount: str) -> dict[str, str]:
    return {"order_id": oid, "customer_id": customer, "ordered_at": at, "amount": amount}


def test_traits_feed_segments_through_the_cli(project: Project) -> None:
    project.orders = [
        # 2026-02-01T00:00 UTC exactly: inside [since, until)
        order("O1", "C00001", "2026-02-01T02:00:00+02:00", "10.00"),
        order("O2", "C00001", "2026-02-10T12:00:00+02:00", "15.00"),
        # 2026-01-31T23:59:59 UTC: just before since
        order("O3", "C00003", "2026-02-01T01:59:59+02:00", "50.00"),
        order("O4", "C00003", "2026-02-05T10:00:00Z", "5.00"),
        order("O5", "C00004", "2026-02-05T10:00:00Z", "5.00"),
    ]
    project.extra_config = TRAITS
    project.write()
    assert project.cli("run").code == 0

    code, out = project.json("segments")
    assert code == 0
    sizes = {s["name"]: s["size"] for s in out["segments"]}
    assert sizes["february_regulars"] == 1  # person1 only: person3's first order is in January
    assert sizes["rfm_recent"] == 1  # 3 buyers in 2 buckets: 2 + 1; alice ordered last
    assert sizes["rfm_none"] == 3  # people without orders: no scores, no cell

    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT p.email, t.feb_orders, t.feb_spend, t.rfm, t.rfm_r, t.rfm_f, t.rfm_m
            FROM profiles p JOIN profile_traits t USING (profile_key) ORDER BY p.email"""
        ).fetchall()
        events = con.execute(
            "SELECT event_id, occurred_at::VARCHAR FROM profile_events ORDER BY event_id"
        ).fetchall()
    finally:
        con.close()
    by_email = {r[0]: r[1:] for r in rows}
    assert by_email["alice@example.org"][:2] == (2, 25)
    assert by_email["person3@example.org"][:2] == (1, 5)
    assert by_email["person4@example.org"][:2] == (1, 5)
    assert by_email["person2@example.org"][:2] == (0, 0)
    assert by_email["person2@example.org"][2:] == (None, None, None, None)
    # offsets converted to UTC on the way in
    assert events[0] == ("O1", "2026-02-01 00:00:00")
    assert events[2] == ("O3", "2026-01-31 23:59:59")

    # the second run changes nothing
    code, again = project.json("segments")
    assert [s["entered"] + s["left"] for s in again["segments"]] == [0] * len(again["segments"])


def test_a_trait_without_events_says_when_their_source_failed(project: Project) -> None:
    """The rfm trait finds no order: the warning says first that the orders failed to pull
    (a bad amount), rather than only that the trait's event may be misspelt."""
    project.orders = [
        order("O1", "C00001", "2026-02-01T02:00:00+02:00", "10.00"),
        order("O2", "C00003", "2026-02-05T10:00:00Z", "ten"),
    ]
    project.extra_config = TRAITS
    project.write()
    code, out = project.json("run")
    assert code == 2  # a source failed
    (events,) = [s for s in out["sources"] if s["stream"] == "events"]
    assert events["error"] and "orders.jsonl:2" in events["error"]
    (rfm,) = [w for w in out["warnings"] if w["trait"] == "rfm"]
    assert rfm["code"] == "no_events"
    assert rfm["message"].startswith(
        "traits.rfm: the events of shop failed to pull in this run (see its error), so the "
        "store holds only what earlier runs pulled; no 'order' event before "
    )

    project.orders[1]["amount"] = "10.00"  # fixed: the orders pull, and the warning goes
    project.write()
    code, out = project.json("run")
    assert code == 0
    assert "no_events" not in {w["code"] for w in out["warnings"] if w["trait"] == "rfm"}
