"""The ledger: what a batch's outcomes do to confirmed membership and failures, and the
questions status and erasure ask of it."""

from __future__ import annotations

from segsync.state.ledger import Delivery, Ledger, Outcome
from segsync.state.store import Store


def ledger() -> Ledger:
    return Ledger(Store.memory().engine)


def members(ledger: Ledger, sync: str = "s") -> dict[str, str | None]:
    return {k: p for k, p in ledger.engine.rows(ledger.confirmed(sync))}


def failures(ledger: Ledger) -> list[tuple[object, ...]]:
    return ledger.engine.rows(
        ledger.failed("s")
        .select("permanent", "attempts", "error", append=True)
        .order_by("member_key")
    )


def test_confirmed_adds_enter_and_removes_leave() -> None:
    led = ledger()
    led.record_batch("s", "add", [Outcome("a", "pa", True), Outcome("b", "pb", True)], "r1")
    assert members(led) == {"a": "pa", "b": "pb"}
    led.record_batch("s", "add", [Outcome("a", "pa", True)], "r2")  # twice is harmless
    assert led.confirmed_count("s") == 2
    led.record_batch("s", "remove", [Outcome("a", "pa", True)], "r2")
    assert members(led) == {"b": "pb"}


def test_failures_count_attempts_and_clear_on_success() -> None:
    led = ledger()
    fail = Outcome("a", "pa", False, error="503", permanent=False)
    led.record_batch("s", "add", [fail], "r1")
    led.record_batch("s", "add", [Outcome("a", "pa", False, error="bad", permanent=True)], "r2")
    assert failures(led) == [("a", "add", True, 2, "bad")]
    led.record_batch("s", "add", [Outcome("a", "pa", True)], "r3")
    assert failures(led) == [] and members(led) == {"a": "pa"}


def test_a_created_member_is_recorded_under_the_platforms_id() -> None:
    led = ledger()
    new = Outcome("new:c@example.org", "pc", False, error="503")
    led.record_batch("s", "add", [new], "r1")
    created = Outcome("new:c@example.org", "pc", True, delivered_key="R42")
    led.record_batch("s", "add", [created], "r2")
    assert members(led) == {"R42": "pc"}
    assert failures(led) == []


def test_audiences_keep_their_settled_size_and_start_afresh() -> None:
    led = ledger()
    led.remember_audience("s", "crm", "list", "VIP", "L1")
    led.settle("s", 120)
    led.remember_audience("s", "crm", "list", "VIP", "L1")
    record = led.audience("s")
    assert record is not None and record.settled_size == 120
    assert led.target_changed("s", ("crm", "list", "VIP")) is None
    assert led.target_changed("s", ("crm", "list", "VIPs")) == "crm list 'VIP'"
    led.record_batch("s", "add", [Outcome("a", "pa", True)], "r1")
    led.start_afresh("s")
    assert led.audience("s") is None and members(led) == {}


def test_status_and_erasure_questions() -> None:
    led = ledger()
    for sync, audience in (("s", "VIP"), ("t", "News")):
        led.remember_audience(sync, "crm", "list", audience, f"id-{sync}")
    led.record_batch(
        "s", "add", [Outcome("a@x.org", "pa", True), Outcome("b@x.org", "pb", True)], "r"
    )
    led.record_batch("t", "add", [Outcome("a@x.org", "pa", True)], "r")
    led.record_batch("t", "add", [Outcome("c@x.org", "pc", False, error="no", permanent=True)], "r")
    summary = led.summary()
    assert summary["s"] == {"audience": "VIP", "audience_id": "id-s", "members": 2}
    assert summary["t"]["failed_permanently"] == 1
    assert led.deliveries(["pa"]) == [
        Delivery("pa", "s", "crm", "list", "VIP", "id-s", "a@x.org"),
        Delivery("pa", "t", "crm", "list", "News", "id-t", "a@x.org"),
    ]
    assert led.deliveries([]) == []


def test_each_batch_is_logged_with_why_and_purged_after_retention() -> None:
    import datetime as dt

    led = ledger()
    led.record_batch("s", "add", [Outcome("a", "pa", False, error="transient: 503")], "r1")
    led.record_batch(
        "s",
        "add",
        [Outcome("a", "pa", True, reason="in segment 'vip'"), Outcome("b", "pb", True)],
        "r2",
    )
    led.record_batch("s", "remove", [Outcome("b", "pb", True, reason="left")], "r3")
    first = led.changes("s", run_id="r1")
    assert [(c.op, c.member_key, c.ok, c.reason) for c in first] == [
        ("add", "a", False, "transient: 503")
    ]
    second = {c.member_key: c.reason for c in led.changes("s", run_id="r2")}
    assert second == {
        "a": "in segment 'vip'; retried after failing with: transient: 503",
        "b": None,
    }
    assert led.last_changed("s") == "r3"
    assert [c.op for c in led.changes("s")] == ["remove"]
    assert led.change_counts("r2") == {"s": {"added": 2, "removed": 0, "failed": 0}}
    assert led.purge_changes(dt.datetime.now() - dt.timedelta(days=1)) == 0
    assert led.purge_changes(dt.datetime.now() + dt.timedelta(days=1)) == 4
    assert led.changes("s") == []
