"""Resolve groups large stores' records, and sorts their identifiers and events, in several
passes: the tables are the same."""

from __future__ import annotations

from typing import Any

import pytest

from segsync.engine import parse
from segsync.model.profile import CONSENT_COLUMNS
from segsync.pipeline import resolve
from segsync.pipeline.resolve import _key_ranges, _passes, resolve_profiles
from segsync.state.store import Store

ATTRIBUTES: dict[str, Any] = {"first_name": "text", "age": "integer", "vip": "boolean"}


def _seeded_store(memory_limit: str = "128MiB") -> Store:
    """3,000 records of ~1,200 people across two sources (shared emails and phones, some
    without either, attributes and consent answers missing at random, ties in time) and their
    orders, by contact id and by email; at ``memory_limit`` (the one the pass sizes are set
    for, by default: a larger one makes the passes larger)."""
    store = Store.memory(options={"memory_limit": memory_limit})
    store.con.execute("SELECT setseed(0.18)")
    store.con.execute(
        """INSERT INTO source_contacts (instance, source_id, email, phone, attributes,
                consent_email_marketing, consent_email_marketing_at, consent_ad_user_data,
                consent_do_not_profile, updated_at)
        SELECT CASE WHEN i % 3 = 0 THEN 'crm' ELSE 'shop' END, 'c' || i,
               CASE WHEN random() < 0.8 THEN 'p' || (i * 7919 % 1200) || '@example.com' END,
               CASE WHEN random() < 0.5 THEN '+3361234' || lpad(CAST(i % 900 AS VARCHAR), 4, '0')
               END,
               json_object('first_name', CASE WHEN random() < 0.7 THEN 'n' || (i % 37) END,
                           'age', CASE WHEN random() < 0.6 THEN 18 + i % 60 END,
                           'vip', CASE WHEN random() < 0.5 THEN i % 2 = 0 END),
               CASE WHEN random() < 0.6 THEN random() < 0.5 END,
               CASE WHEN random() < 0.5 THEN TIMESTAMP '2024-01-01' + INTERVAL (i % 5) DAY END,
               CASE WHEN random() < 0.4 THEN random() < 0.5 END,
               CASE WHEN random() < 0.02 THEN true END,
               CASE WHEN random() < 0.9 THEN TIMESTAMP '2024-06-01' + INTERVAL (i % 11) HOUR END
        FROM range(3000) t(i)"""
    )
    store.con.execute(
        """INSERT INTO events (instance, event_id, type, occurred_at, contact_id, email, value)
        SELECT 'shop', 'o' || i, CASE WHEN i % 4 = 0 THEN 'visit' ELSE 'order' END,
               TIMESTAMP '2024-01-01' + INTERVAL (i % 300) DAY,
               CASE WHEN i % 5 <> 0 THEN 'c' || (i * 31 % 3000) END,
               CASE WHEN i % 5 = 0 THEN 'p' || (i % 1300) || '@example.com' END,
               CAST(i % 97 AS DECIMAL(18,4))
        FROM range(8000) t(i)"""
    )
    return store


def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: store.rows(f"SELECT * FROM {table}")  # in the order the tables hold them
        for table in ("profiles", "profile_identifiers", "profile_events")
    }


def test_passes_cover_every_key_once() -> None:
    assert _passes(10) == [None]
    for records, picked, count in ((62_501, 16, 2), (1_000_000, 8, 8), (1_350_000, 16, 32),
                                   (10**9, 16, 256)):  # fmt: skip
        passes = _passes(records, picked)
        assert len(passes) == count
        keys = [f"{n:02x}" + "0" * 30 for n in range(256)] + ["ff" + "f" * 30]
        store = Store.memory()
        try:
            store.con.execute("CREATE TABLE k AS SELECT unnest(?) AS profile_key", [keys])
            hits = [
                store.scalar(f"SELECT count(*) FROM k WHERE {where.sql(dialect='duckdb')}")
                for where in passes
                if where is not None
            ]
        finally:
            store.close()
        assert sum(hits) == len(keys) and all(hits)


@pytest.mark.parametrize("per_pass", [400, 7_000])
def test_several_passes_resolve_the_same_profiles_as_one(
    per_pass: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _seeded_store()
    several = _seeded_store()
    try:
        whole = resolve_profiles(one.engine, ATTRIBUTES)
        monkeypatch.setattr(resolve, "STATES_PER_PASS", per_pass)
        monkeypatch.setattr(resolve, "SORTED_ROWS_PER_PASS", per_pass)
        monkeypatch.setattr(resolve, "SORTED_BYTES_PER_PASS", per_pass * 10)
        assert len(_passes(3000, 1 + len(CONSENT_COLUMNS) + len(ATTRIBUTES))) > 1
        assert len(_key_ranges(8000 * 50, per_pass * 10)) > 1  # the events (~50 bytes) too
        parts = resolve_profiles(several.engine, ATTRIBUTES)
        assert parts == whole
        assert whole.objected and whole.merged_records and whole.orphan_events
        assert _tables(several) == _tables(one)
    finally:
        one.close()
        several.close()


def test_orders_in_several_currencies_are_counted_and_warned_about() -> None:
    """revenue adds amounts as they are: the orders' currencies are counted (orders with a
    value and a profile, a currency named), and more than one is a warning that says so."""
    from segsync.pipeline.resolve import mixed_currencies

    store = Store.memory()
    store.con.execute(
        """INSERT INTO source_contacts (instance, source_id, email) VALUES
           ('shop', 'c1', 'a@example.com'), ('shop', 'c2', 'b@example.com')"""
    )
    store.con.execute(
        """INSERT INTO events (instance, event_id, type, occurred_at, contact_id, value,
                               currency) VALUES
           ('shop', 'o1', 'order', TIMESTAMP '2026-01-01', 'c1', 10, 'EUR'),
           ('shop', 'o2', 'order', TIMESTAMP '2026-01-02', 'c1', 20, 'EUR'),
           ('shop', 'o3', 'order', TIMESTAMP '2026-01-03', 'c2', 1000, 'PLN'),
           ('shop', 'o4', 'order', TIMESTAMP '2026-01-04', 'c2', 5, NULL),
           ('shop', 'o5', 'order', TIMESTAMP '2026-01-05', 'c2', NULL, 'USD'),
           ('shop', 'o6', 'order', TIMESTAMP '2026-01-06', 'nobody', 7, 'GBP'),
           ('shop', 'v1', 'visit', TIMESTAMP '2026-01-06', 'c1', 3, 'CHF')"""
    )
    result = resolve_profiles(store.engine, {})
    assert result.order_currencies == {"EUR": 2, "PLN": 1}
    warning = mixed_currencies(result.order_currencies)
    assert warning is not None and (warning.trait, warning.code) == ("revenue", "mixed_currencies")
    assert warning.message.startswith(
        "revenue: the orders are in 2 currencies (orders: EUR 2, PLN 1), whose amounts are "
        "added as they are"
    )
    assert mixed_currencies({"EUR": 5}) is None and mixed_currencies({}) is None
    store.close()


def test_profiles_of_one_record_resolve_as_if_ranked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile of one record takes its values unranked: the same tables as when every
    profile's records are ranked."""
    split = _seeded_store()
    ranked = _seeded_store()
    try:
        fast = resolve_profiles(split.engine, ATTRIBUTES)
        sizes = split.rows(
            "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1) FROM ("
            "SELECT count(*) AS n FROM source_contacts GROUP BY coalesce(email, phone, source_id))"
        )[0]
        assert all(sizes)  # both kinds of profile are there
        create_table, alone = ranked.engine.create_table, resolve._alone

        def every_profile_ranked(name: str, query: Any, **kwargs: Any) -> None:
            if name == "_shared":  # every record ranked, as if of a profile of several
                query = parse("SELECT * FROM _records")
            create_table(name, query, **kwargs)

        monkeypatch.setattr(ranked.engine, "create_table", every_profile_ranked)
        monkeypatch.setattr(resolve, "_alone", lambda *a, **k: alone(*a, **k).where("FALSE"))
        slow = resolve_profiles(ranked.engine, ATTRIBUTES)
        assert fast == slow
        assert _tables(split) == _tables(ranked)
    finally:
        split.close()
        ranked.close()


def test_the_events_sort_is_split_by_their_size_not_their_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events with long properties sort in more passes than as many short ones: 375,000 events
    of 1 KB a pass ran out of memory at 128 MiB, where 750,000 of 130 bytes did not."""
    sizes: dict[str, int] = {}
    for label, width in (("short", 10), ("long", 1000)):
        store = _seeded_store()
        store.con.execute(
            "UPDATE events SET properties = json_object('note', repeat('x', ?))", [width]
        )
        calls: list[tuple[int, int]] = []

        def spy(rows: int, per_pass: int, calls: list[tuple[int, int]] = calls) -> Any:
            calls.append((rows, per_pass))
            return _key_ranges(rows, per_pass)

        monkeypatch.setattr(resolve, "_key_ranges", spy)
        try:
            result = resolve_profiles(store.engine, ATTRIBUTES)
        finally:
            store.close()
        kept = result.events - result.orphan_events
        # sized by bytes: the profiles, then the events
        _, events_size = [rows for rows, per in calls if per == resolve.SORTED_BYTES_PER_PASS]
        assert events_size >= kept * width
        sizes[label] = events_size
    assert sizes["long"] > 10 * sizes["short"]


@pytest.mark.parametrize(
    ("memory_limit", "scale"), [("64MiB", 1), ("128MiB", 1), ("256MiB", 2), ("1GiB", 8)]
)
def test_the_passes_grow_with_the_memory_limit_and_resolve_the_same(
    memory_limit: str, scale: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pass holds the same share of the limit: twice the limit, passes twice as large
    (never smaller than those set for 128 MiB); the profiles are the same however many."""
    monkeypatch.setattr(resolve, "STATES_PER_PASS", 2_000)
    monkeypatch.setattr(resolve, "SORTED_ROWS_PER_PASS", 200)
    monkeypatch.setattr(resolve, "SORTED_BYTES_PER_PASS", 8_000)
    per_pass: list[int] = []

    def spy(rows: int, size: int) -> Any:
        per_pass.append(size)
        return _key_ranges(rows, size)

    monkeypatch.setattr(resolve, "_key_ranges", spy)
    reference, store = _seeded_store(), _seeded_store(memory_limit)
    try:
        whole = resolve_profiles(reference.engine, ATTRIBUTES)
        at_128 = list(per_pass)
        per_pass.clear()
        assert resolve_profiles(store.engine, ATTRIBUTES) == whole
        assert per_pass == [size * scale for size in at_128]
        assert _tables(store) == _tables(reference)
    finally:
        reference.close()
        store.close()


def test_an_engine_without_a_memory_limit_keeps_the_passes_as_set() -> None:
    class Unbounded:
        def memory_bytes(self) -> int | None:
            return None

    assert resolve._scale(Unbounded()) == 1.0  # type: ignore[arg-type]


def test_an_event_finds_its_profile_by_contact_id_else_by_email_only_without_one() -> None:
    """An event naming a contact id belongs to that record's profile, or to none when no
    record of its instance has that id — its email is not asked then, even when it names
    another person; an event with no contact id belongs to the profile of its email."""
    store = Store.memory()
    try:
        store.con.execute(
            """INSERT INTO source_contacts (instance, source_id, email) VALUES
               ('shop', 'c1', 'a@example.com'), ('shop', 'c2', 'b@example.com'),
               ('crm', 'c1', 'c@example.com')"""
        )
        store.con.execute(
            """INSERT INTO events (instance, event_id, type, occurred_at, contact_id, email)
            VALUES ('shop', 'e1', 'order', TIMESTAMP '2026-01-01', 'c1', NULL),
                   ('shop', 'e2', 'order', TIMESTAMP '2026-01-02', 'c1', 'b@example.com'),
                   ('shop', 'e3', 'order', TIMESTAMP '2026-01-03', NULL, 'b@example.com'),
                   ('shop', 'e4', 'order', TIMESTAMP '2026-01-04', 'gone', 'a@example.com'),
                   ('shop', 'e5', 'order', TIMESTAMP '2026-01-05', NULL, 'who@example.com'),
                   ('shop', 'e6', 'order', TIMESTAMP '2026-01-06', NULL, NULL),
                   ('crm', 'e7', 'visit', TIMESTAMP '2026-01-07', 'c1', NULL),
                   ('crm', 'e8', 'visit', TIMESTAMP '2026-01-08', NULL, 'c@example.com')"""
        )
        result = resolve_profiles(store.engine, {})
        owner = dict(
            store.rows(
                """SELECT e.event_id, p.email FROM profile_events e
                JOIN profiles p USING (profile_key) ORDER BY e.event_id"""
            )
        )
        assert owner == {
            "e1": "a@example.com",
            "e2": "a@example.com",
            "e3": "b@example.com",
            "e7": "c@example.com",
            "e8": "c@example.com",
        }
        assert (result.events, result.orphan_events) == (8, 3)
    finally:
        store.close()
