"""Erasure in the store: what a request resolves to, what is deleted from every table, what is
kept for destinations, what is suppressed — resumed from a hash alike — and compaction."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from segsync.pipeline.resolve import resolve_profiles
from segsync.privacy.erasure import Erasures, scrub_json, scrub_text
from segsync.privacy.identifiers import Identifier, digest, store_salt
from segsync.state.store import Store

ADA, PHONE, BOB = "ada@example.org", "+33612345678", "bob@example.org"
REPORT = {
    "run_id": "r0",
    "sources": [
        {
            "instance": "crm",
            "warning_samples": [
                "crm contacts: 2 × phone is not a valid number; e.g. contact C1 ('06*****78'), "
                "contact C3 ('07*****11')"
            ],
        }
    ],
    "syncs": [
        {
            "name": "news",
            "failed": 1,
            "failures": [{"error": "HubSpot has no contact with record id 101 (deleted)"}],
        }
    ],
    "profiles": {"records": 101},
}


def _contacts(store: Store, rows: list[tuple[str, str, str | None, str | None]]) -> None:
    for instance, source_id, email, phone in rows:
        store.con.execute(
            "INSERT INTO source_contacts (instance, source_id, email, phone, attributes, "
            "updated_at, run_id) VALUES (?, ?, ?, ?, '{}', '2026-01-01', 'r0')",
            [instance, source_id, email, phone],
        )


def build(path: Path) -> Store:
    """Ada in three sources, a record holding her phone only, Bob; their events and
    deliveries; a run report and a rejects file naming them."""
    store = Store.open(path)
    _contacts(
        store,
        [
            ("crm", "C1", ADA, PHONE),
            ("crm", "C2", None, PHONE),  # someone's record holding Ada's phone
            ("crm", "C3", BOB, "+33711111111"),
            ("shop", "S9", ADA, None),
            ("hub", "101", ADA, None),
            ("hub", "102", BOB, None),
        ],
    )
    for instance, event_id, contact_id, email in [
        ("crm", "E1", "C1", None),
        ("shop", "E2", None, ADA),
        ("crm", "E3", "C3", None),
    ]:
        store.con.execute(
            "INSERT INTO events (instance, event_id, type, occurred_at, contact_id, email, "
            "value, run_id) VALUES (?, ?, 'order', '2026-01-02', ?, ?, 10, 'r0')",
            [instance, event_id, contact_id, email],
        )
    resolve_profiles(store.engine, {})
    keys = dict(store.rows("SELECT email, profile_key FROM profiles WHERE email IS NOT NULL"))
    store.con.execute(
        "INSERT INTO audiences VALUES ('news', 'hub', 'list', 'News', 'L1', now()::TIMESTAMP, 2),"
        " ('csv', 'out', 'csv', 'All', 'all.csv', now()::TIMESTAMP, 2)"
    )
    for sync, member, email in [("news", "101", ADA), ("news", "102", BOB),
                                ("csv", ADA, ADA), ("csv", BOB, BOB)]:  # fmt: skip
        store.con.execute(
            "INSERT INTO sync_state VALUES (?, ?, ?, now()::TIMESTAMP, 'r0')",
            [sync, member, keys[email]],
        )
        store.con.execute(
            "INSERT INTO change_log VALUES ('r0', ?, 'add', ?, ?, true, false, 'in segment', "
            "now()::TIMESTAMP)",
            [sync, member, keys[email]],
        )
    store.con.execute(
        "INSERT INTO failures VALUES ('news', '101', 'remove', NULL, 'HTTP 503', false, 1, "
        "now()::TIMESTAMP, now()::TIMESTAMP, 'r0')"
    )
    store.con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, report) "
        "VALUES ('r0', 'run', '2026-01-01', 'ok', ?)",
        [json.dumps(REPORT)],
    )
    rejects = path.parent / (path.name + ".work") / "rejects"
    rejects.mkdir(parents=True)
    with (rejects / "crm-contacts.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(
            [["location", "reason"], ["crm contact C1", "bad date"], ["crm contact C3", "bad"]]
        )
    return store


def erase(store: Store, identifiers: list[Identifier], *, resume: bool = False) -> dict[str, Any]:
    engine = store.engine
    erasures = Erasures(engine)
    with engine.transaction():
        salt = store_salt(engine)
        assert salt is not None
        ids = [f"R{i}" for i in range(len(identifiers))]
        requests = erasures.register("b1", identifiers, salt, ids)
    known = {} if resume else {r.request_id: r.value for r in requests if r.value}
    started = erasures.started(known)
    assert [r.request_id for r in started] == ids
    resolution = erasures.resolve(started, salt)
    totals = erasures.erase(
        resolution, salt, {"hub": "id"}, work_dir=store.path.parent / (store.path.name + ".work")
    )
    erasures.close()
    return {"totals": totals, "found": resolution.found, "salt": salt}


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "records": store.rows("SELECT instance, source_id FROM source_contacts ORDER BY ALL"),
        "events": store.rows("SELECT event_id FROM events ORDER BY ALL"),
        "profiles": store.rows("SELECT email, phone FROM profiles ORDER BY ALL"),
        "identifiers": store.rows(
            "SELECT instance, source_id FROM profile_identifiers ORDER BY ALL"
        ),
        "profile_events": store.rows("SELECT event_id FROM profile_events ORDER BY ALL"),
        "sync_state": store.rows("SELECT sync, member_key FROM sync_state ORDER BY ALL"),
        "failures": store.rows("SELECT sync, member_key FROM failures ORDER BY ALL"),
        "change_log": store.rows("SELECT sync, member_key FROM change_log ORDER BY ALL"),
        "tasks": store.rows(
            "SELECT request_id, task, instance, sync, member_key, person, status "
            "FROM erasure_tasks ORDER BY ALL"
        ),
        "suppressions": store.rows(
            "SELECT hash, kind, origin, request_id FROM suppressions ORDER BY ALL"
        ),
        "requests": store.rows(
            "SELECT request_id, status, profiles, erased FROM erasures ORDER BY ALL"
        ),
    }


def ada() -> Identifier:
    return Identifier("email", ADA, ADA)


def test_forgetting_an_email_erases_every_record_holding_her_identifiers(tmp_path: Path) -> None:
    with build(tmp_path / "s.duckdb") as store:
        done = erase(store, [ada()])
        after = snapshot(store)
        report = json.loads(store.scalar("SELECT CAST(report AS VARCHAR) FROM runs"))
    # her three records, and the record holding her phone; Bob stays
    assert after["records"] == [("crm", "C3"), ("hub", "102")]
    assert after["events"] == [("E3",)]
    assert after["profiles"] == [(BOB, "+33711111111")]
    assert after["identifiers"] == [("crm", "C3"), ("hub", "102")]
    assert after["profile_events"] == [("E3",)]
    assert after["sync_state"] == [("csv", BOB), ("news", "102")]
    assert after["failures"] == []
    assert after["change_log"] == [("csv", BOB), ("news", "102")]
    found = done["found"]["R0"]
    assert (found.records, found.events) == (4, 2)
    assert {d["sync"] for d in found.deliveries} == {"news", "csv"}
    # what destinations still owe, with the address they need until they confirm
    tasks = after["tasks"]
    assert [(t[1], t[2], t[3], t[4]) for t in tasks] == [
        ("erase", "hub", None, None),
        ("remove", "hub", "news", "101"),
        ("remove", "out", "csv", ADA),
    ]
    assert json.loads(tasks[0][5]) == {"record_ids": ["101"], "emails": [ADA], "phones": [PHONE]}
    assert json.loads(tasks[2][5]) == {"email": ADA, "phone": PHONE}
    assert {t[6] for t in tasks} == {"pending"}
    # suppressed: the email, her phone, her own record ids — hashes only
    salt = done["salt"]
    wanted = {
        (digest(salt, "email", ADA), "email"),
        (digest(salt, "phone", PHONE), "phone"),
        *((digest(salt, "record", r), "record") for r in ("crm:C1", "shop:S9", "hub:101")),
    }
    assert {(h, k) for h, k, _, _ in after["suppressions"]} == wanted
    assert {(o, r) for _, _, o, r in after["suppressions"]} == {("forget", "R0")}
    # the request: pending (destinations owe work), what was erased in counts only
    (request,) = after["requests"]
    assert request[:3] == ("R0", "pending", found.profiles)
    assert json.loads(request[3]) == {"records": 4, "events": 2, "profiles": found.profiles,
                                      "deliveries": 2}  # fmt: skip
    # the report: her record ids replaced, Bob's and the numbers kept
    samples = report["sources"][0]["warning_samples"][0]
    assert "contact [erased] ('06*****78')" in samples and "contact C3" in samples
    assert report["syncs"][0]["failures"][0]["error"] == (
        "HubSpot has no contact with record id [erased] (deleted)"
    )
    assert report["profiles"]["records"] == 101  # a number, not a word: kept
    assert done["totals"]["reports"] == 1
    rejects = (tmp_path / "s.duckdb.work" / "rejects" / "crm-contacts.csv").read_text()
    assert "crm contact [erased]" in rejects and "crm contact C3" in rejects


def test_a_request_resumed_from_its_hash_erases_exactly_the_same(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with build(tmp_path / "a" / "s.duckdb") as a, build(tmp_path / "b" / "s.duckdb") as b:
        erase(a, [ada(), Identifier("record", "crm:C3", "crm:C3")])
        erase(b, [ada(), Identifier("record", "crm:C3", "crm:C3")], resume=True)
        left, right = snapshot(a), snapshot(b)
    for part in ("suppressions",):  # salted per store
        left.pop(part), right.pop(part)
    assert left == right
    assert left["records"] == []  # Bob's records went too: one named, one by his email


def test_an_unknown_identifier_is_not_found_but_suppressed(tmp_path: Path) -> None:
    with build(tmp_path / "s.duckdb") as store:
        before = snapshot(store)
        done = erase(store, [Identifier("phone", "+33799999999", "+33799999999")])
        after = snapshot(store)
    assert not done["found"]["R0"].anything
    for part in ("records", "events", "profiles", "sync_state", "change_log", "tasks"):
        assert after[part] == before[part]
    assert after["requests"][0][1] == "not_found"
    assert [s[1] for s in after["suppressions"]] == ["phone"]


def test_compaction_leaves_no_byte_of_the_person_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with build(path) as store:
        store.con.execute("CHECKPOINT")
        assert ADA.encode() in path.read_bytes()
        erase(store, [ada()])
        store.con.execute("CHECKPOINT")
        # deleted, yet its bytes stay in the file's freed blocks until compacted
        assert ADA.encode() in path.read_bytes() or PHONE.encode() in path.read_bytes()
        # the tasks still hold her address (until the destinations confirm): settle them
        store.con.execute("UPDATE erasure_tasks SET member_key = NULL, person = NULL")
        store.compact()
        assert store.scalar("SELECT count(*) FROM source_contacts") == 2  # still a store
        assert store.scalar("SELECT value FROM segsync_meta WHERE key = 'schema_version'") == "8"
        store.con.execute("INSERT INTO profiles (profile_key) VALUES ('x')")  # and writable
    data = path.read_bytes()
    assert ADA.encode() not in data and PHONE.encode() not in data
    assert BOB.encode() in data
    assert not (tmp_path / "s.duckdb.wal").exists()
    assert not (tmp_path / "s.duckdb.compact").exists()
    with Store.open(path) as again:
        assert again.scalar("SELECT count(*) FROM sync_state") == 2
        assert again.scalar("SELECT count(*) FROM segment_profiles") >= 1


@pytest.mark.parametrize(
    ("text", "tokens", "expected"),
    [
        ("contact 101 (a***@x.org)", {"101"}, "contact [erased] (a***@x.org)"),
        ("1010 records; id 101.", {"101"}, "1010 records; id [erased]."),
        ("sent to ada@example.org, bob@x.org", {ADA}, "sent to [erased], bob@x.org"),
        ("crm contact #12: bad", {"12"}, "crm contact #[erased]: bad"),
        ("101", {"101"}, "[erased]"),
    ],
)
def test_scrubbing_replaces_whole_words_only(text: str, tokens: set[str], expected: str) -> None:
    assert scrub_text(text, tokens) == expected


def test_scrubbing_json_touches_strings_only() -> None:
    data = {"101": "id 101", "n": 101, "list": ["101", {"x": "contact 101"}]}
    assert scrub_json(data, {"101"}) == {
        "101": "id [erased]", "n": 101, "list": ["[erased]", {"x": "contact [erased]"}]
    }  # fmt: skip
