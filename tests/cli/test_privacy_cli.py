"""The privacy commands on a files project: forget (receipt, dry run, bad input, from a file),
suppression holding after the source still sends the person, objection, export-person,
suppressions list/remove, the suppression file, consent defaults per kind, retention of
sources no longer configured."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from projectkit import Project, contact

ALICE = "alice@example.org"
PHONE = "+33612345678"


def store_bytes(project: Project) -> bytes:
    return (project.root / "segsync.duckdb").read_bytes()


def rows(project: Project, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def forget(project: Project, *args: str) -> tuple[int, dict[str, Any]]:
    return project.json("forget", *args)


@pytest.fixture
def delivered(project: Project) -> Project:
    project.contacts[0]["phone"] = PHONE
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    assert ALICE in project.audience("French_newsletter") and ALICE in project.audience("buyers")
    return project


def test_forget_removes_erases_suppresses_and_returns_a_receipt(delivered: Project) -> None:
    project = delivered
    code, receipt = forget(project, "ALICE@example.org ")
    assert code == 0, receipt
    assert receipt["status"] == "ok" and receipt["exit_code"] == 0
    (request,) = receipt["requests"]
    assert request["identifier"] == "a***@example.org" and request["kind"] == "email"
    assert request["status"] == "complete" and request["suppressed"] is True
    assert request["found"] == {"records": 1, "events": 1, "profiles": 1, "deliveries": 2}
    lines = {(d["instance"], d["action"], d["sync"], d["status"], d["outcome"])
             for d in request["destinations"]}  # fmt: skip
    assert lines == {
        ("out", "remove", "french_news", "done", "removed"),
        ("out", "remove", "buyers", "done", "removed"),
        ("shop", "none", None, "not_delivered", None),  # files instances are destinations too
    }
    assert ALICE not in project.audience("French_newsletter") | project.audience("buyers")
    data = store_bytes(project)
    assert ALICE.encode() not in data and PHONE.encode() not in data
    assert b"C00001" not in data  # her record id, and her order
    assert rows(project, "SELECT count(*) FROM source_contacts") == [(5,)]
    assert rows(project, "SELECT request_id, status FROM erasures") == [
        (request["request_id"], "complete")
    ]
    # the ledger recorded the removals, never the address
    logged = rows(project, "SELECT sync, member_key, reason FROM change_log WHERE op = 'remove'")
    assert sorted(logged) == [
        (sync, f"erased:{request['request_id']}",
         f"erased (segsync forget, request {request['request_id']})")
        for sync in ("buyers", "french_news")
    ]  # fmt: skip
    # the text receipt
    text = project.cli("forget", "--dry-run", ALICE)
    assert text.code == 0 and "not found" in text.out


def test_the_source_still_sending_her_never_brings_her_back(delivered: Project) -> None:
    project = delivered
    forget(project, ALICE)
    project.orders.append({"order_id": "O9", "customer_id": "C00001",
                           "ordered_at": "2026-03-01T10:00:00Z", "amount": "5"})  # fmt: skip
    project.write()  # the files source reads everything again, Alice included
    code, report = project.json("run")
    assert code == 0, report
    assert report["profiles"]["profiles"] == 5  # of 6
    assert ALICE not in project.audience("French_newsletter") | project.audience("buyers")
    data = store_bytes(project)
    assert ALICE.encode() not in data and PHONE.encode() not in data
    assert rows(project, "SELECT count(*) FROM events WHERE contact_id = 'C00001'") == [(0,)]
    # staged files are gone too
    assert not any((project.root / "segsync.duckdb.work" / "staging").glob("*"))


def test_dry_run_lists_what_would_go_and_changes_nothing(delivered: Project) -> None:
    project = delivered
    before = rows(project, "SELECT count(*) FROM source_contacts")
    code, receipt = forget(project, "--dry-run", ALICE, "nobody@example.org")
    assert code == 0 and receipt["dry_run"] is True and receipt["status"] == "dry_run"
    would, nobody = receipt["requests"]
    assert would["status"] == "dry_run" and would["found"]["deliveries"] == 2
    assert {d["status"] for d in would["destinations"] if d["action"] == "remove"} == {"would_do"}
    assert nobody["status"] == "not_found"
    assert rows(project, "SELECT count(*) FROM source_contacts") == before
    assert rows(project, "SELECT count(*) FROM erasures") == [(0,)]
    assert rows(project, "SELECT count(*) FROM suppressions") == [(0,)]
    assert ALICE in project.audience("buyers")
    # no erasure yet, so no salt: the dry run matched with a throwaway hash, and shows none
    # (the real erasure's would differ)
    assert would["hash_prefix"] is None
    assert (
        "no hash yet: the first erasure makes the salt"
        in project.cli("forget", "--dry-run", ALICE).out
    )
    assert rows(project, "SELECT count(*) FROM segsync_meta WHERE key LIKE '%salt%'") == [(0,)]
    # once a salt exists, a dry run shows the hash the erasure then records
    forget(project, "nobody@example.org")
    code, receipt = forget(project, "--dry-run", ALICE)
    shown = receipt["requests"][0]["hash_prefix"]
    assert code == 0 and shown is not None and len(shown) == 12
    code, done = forget(project, ALICE)
    assert code == 0 and done["requests"][0]["hash_prefix"] == shown


def test_unknown_identifiers_are_reported_and_malformed_ones_stop_everything(
    delivered: Project,
) -> None:
    project = delivered
    code, receipt = forget(project, "nobody@example.org", "+33 7 99 99 99 99")
    assert code == 0
    assert [r["status"] for r in receipt["requests"]] == ["not_found", "not_found"]
    result = project.cli("forget", "--format", "json", ALICE, "not-an-identifier")
    assert result.code == 2
    assert "'not-an-identifier' is not an email" in result.err
    assert "nothing was done" in json.loads(result.out)["errors"][0]
    assert ALICE in project.audience("buyers")
    assert rows(project, "SELECT count(*) FROM erasures") == [(2,)]  # only the first call's
    assert project.cli("forget", "--dry-run").code == 2


def test_forget_from_a_file_and_by_record_id(delivered: Project, tmp_path: Path) -> None:
    project = delivered
    requests = tmp_path / "requests.txt"
    requests.write_text("# March\nshop:C00004\n\nperson2@example.org\n", encoding="utf-8")
    code, receipt = forget(project, "--from-file", str(requests))
    assert code == 0, receipt
    assert [r["status"] for r in receipt["requests"]] == ["complete", "complete"]
    assert [r["identifier"] for r in receipt["requests"]] == ["shop:C****4", "p***@example.org"]
    emails = {r[0] for r in rows(project, "SELECT email FROM profiles")}
    assert "person4@example.org" not in emails and "person2@example.org" not in emails
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert project.cli("forget", "--from-file", str(empty)).code == 2


def test_forget_without_identifiers_finishes_what_is_pending(delivered: Project) -> None:
    code, receipt = forget(delivered)
    assert code == 0 and receipt["requests"] == [] and receipt["resumed"] == []
    assert "nothing pending" in delivered.cli("forget").out


def test_erasures_and_suppressions_commands(delivered: Project) -> None:
    project = delivered
    _, receipt = forget(project, ALICE)
    request_id = receipt["requests"][0]["request_id"]
    listed = json.loads(project.cli("erasures", "--format", "json").out)
    assert [(r["request_id"], r["status"], r["identifier"]) for r in listed] == [
        (request_id, "complete", "(given earlier)")
    ]
    entries = json.loads(project.cli("suppressions", "list", "--format", "json").out)
    assert {e["kind"] for e in entries} == {"email", "phone", "record"}
    assert all(len(e["hash"]) == 64 and e["request_id"] == request_id for e in entries)
    # lift the suppression of her email and phone: the next full read brings her back
    result = project.cli("suppressions", "remove", ALICE, entries[0]["hash"][:12])
    assert result.code == 0 and "suppression(s) removed" in result.out
    left = json.loads(project.cli("suppressions", "list", "--format", "json").out)
    project.cli("suppressions", "remove", *(e["hash"][:10] for e in left))
    assert project.cli("suppressions", "list").out.strip() == "no suppressions"
    missing = project.cli("suppressions", "remove", "nobody@example.org")
    assert missing.code == 0 and "not suppressed" in missing.err
    project.write()
    code, _ = project.json("run")
    assert code == 0 and ALICE in project.audience("buyers")


def test_export_person_prints_everything_stored_about_them(delivered: Project) -> None:
    project = delivered
    result = project.cli("export-person", ALICE)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["found"] is True and data["identifier"] == {"kind": "email", "value": ALICE}
    (profile,) = data["profiles"]
    assert profile["email"] == ALICE and profile["phone"] == PHONE
    assert [r["source_id"] for r in data["source_records"]] == ["C00001"]
    assert data["source_records"][0]["attributes"]["first_name"] == "Person1"
    assert [e["event_id"] for e in data["events"]] == ["O1"]
    assert {s["segment"] for s in data["segments"]} == {"french", "buyers"}
    assert {d["sync"] for d in data["deliveries"]} == {"french_news", "buyers"}
    assert len(data["change_log"]) == 2 and data["suppressed"] is False
    none = json.loads(project.cli("export-person", "nobody@example.org").out)
    assert none["found"] is False and none["profiles"] == []
    out = project.root / "alice.json"
    assert project.cli("export-person", ALICE, "-o", str(out)).code == 0
    assert json.loads(out.read_text())["found"] is True
    # nothing was written: her data is all still there
    assert ALICE.encode() in store_bytes(project) or rows(
        project, f"SELECT count(*) FROM profiles WHERE email = '{ALICE}'"
    ) == [(1,)]


OPTOUT = """
[connectors.optout]
type = "files"
[connectors.optout.contacts]
path = "data/optout.csv"
consent = { do_not_profile = "objects" }
"""


def test_an_objection_keeps_them_out_of_profiles_and_audiences(project: Project) -> None:
    project.extra_config = OPTOUT
    optout = project.root / "data" / "optout.csv"
    optout.parent.mkdir(parents=True, exist_ok=True)
    optout.write_text("id,email,objects\nX1,person4@example.org,no\n", encoding="utf-8")
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    assert "person4@example.org" in project.audience("French_newsletter")
    assert report["profiles"]["objected"] == 0
    optout.write_text("id,email,objects\nX1,person4@example.org,yes\n", encoding="utf-8")
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    assert report["profiles"]["objected"] == 1
    assert "person4@example.org" not in project.audience("French_newsletter")
    assert rows(project, "SELECT count(*) FROM profiles WHERE email = 'person4@example.org'") == [
        (0,)
    ]
    assert rows(project, "SELECT count(*) FROM profile_traits") == rows(
        project, "SELECT count(*) FROM profiles"
    )
    assert "objected to profiling" in project.cli("run").out


SUPPRESSION = """
[privacy]
suppression_file = "unsubscribed.csv"
"""


def test_the_suppression_file_purges_and_keeps_out_what_platform_exports_list(
    delivered: Project,
) -> None:
    project = delivered
    # an order naming person4 by id alone: a suppression of her email keeps it out too
    project.orders.append({"order_id": "O4", "customer_id": "C00004",
                           "ordered_at": "2026-03-01T10:00:00Z", "amount": "5"})  # fmt: skip
    export = project.root / "unsubscribed.csv"
    export.write_text(
        'Email Address,First Name,MEMBER_RATING\n"person4@example.org",P,2\nnot-an-email,x,1\n',
        encoding="utf-8",
    )
    project.extra_config = SUPPRESSION
    project.write()
    code, report = project.json("run")
    assert code == 0, report
    assert report["privacy"]["suppressions_added"] == 1
    assert report["privacy"]["records_purged"] == 1
    assert "person4@example.org" not in project.audience("French_newsletter")
    # no record, no profile; the change log keeps the removal, as for anyone removed
    assert rows(project, "SELECT count(*) FROM source_contacts WHERE source_id = 'C00004'") == [
        (0,)
    ]
    assert rows(project, "SELECT reason FROM change_log WHERE member_key = 'person4@example.org' "
                "AND op = 'remove'") == [("no longer in any source (or objected to profiling, "
                                          "or suppressed)",)]  # fmt: skip
    # the files are read again whole at the next run: neither her record nor her order loads
    assert project.json("run")[0] == 0
    for table, column in (("source_contacts", "source_id"), ("events", "contact_id")):
        assert rows(project, f"SELECT count(*) FROM {table} WHERE {column} = 'C00004'") == [(0,)]
    # emptied: the person may come back with the next full read
    export.write_text("Email Address\n", encoding="utf-8")
    project.write()
    code, report = project.json("run")
    assert report["privacy"]["suppressions_removed"] == 1
    assert "person4@example.org" in project.audience("French_newsletter")
    export.unlink()
    result = project.cli("run")
    assert result.code == 2 and "privacy.suppression_file" in result.err


def test_consent_defaults_per_audience_kind(project: Project) -> None:
    project.extra_config = '\n[privacy]\nrequire_consent = { csv = ["ad_user_data"] }\n'
    project.contacts[3]["ads_opt_in"] = "no"  # person4 said no to ads
    project.write()
    code, report = project.json("plan")
    assert code == 0, report
    syncs = {s["name"]: s for s in report["syncs"]}
    # buyers sets none of its own: the kind's default applies; french_news sets its own
    assert syncs["buyers"]["required_consent"] == ["ad_user_data"]
    assert syncs["french_news"]["required_consent"] == ["email_marketing"]
    assert syncs["french_news"]["skipped"]["no_consent"] == 2  # person3 (no) and 5 (unknown)
    assert syncs["buyers"]["skipped"]["no_consent"] == 0  # buyers: persons 1, 2 said yes
    project.extra_config = '\n[privacy]\nrequire_consent = { csv = ["do_not_profile"] }\n'
    project.write()
    result = project.cli("check")
    assert result.code == 2 and "do_not_profile is an objection" in result.err
    project.extra_config = '\n[privacy]\nrequire_consent = { lsit = ["email_marketing"] }\n'
    project.write()
    result = project.cli("check")
    assert result.code == 2 and "privacy.require_consent.lsit" in result.err


def test_retention_deletes_what_a_source_no_longer_configured_left(project: Project) -> None:
    project.extra_config = OPTOUT
    (project.root / "data" / "optout.csv").write_text("id,email,objects\nX1,z@x.org,no\n")
    project.write()
    assert project.cli("run").code == 0
    project.extra_config = ""
    project.write()
    assert project.cli("run").code == 0
    assert rows(project, "SELECT count(*) FROM source_contacts WHERE instance = 'optout'") == [(1,)]
    con = duckdb.connect(str(project.root / "segsync.duckdb"))
    con.execute("UPDATE runs SET started_at = started_at - INTERVAL 400 DAY")
    con.close()
    code, report = project.json("run")
    assert code == 0 and report["status"] == "ok"
    assert rows(project, "SELECT count(*) FROM source_contacts WHERE instance = 'optout'") == [(0,)]
    assert rows(project, "SELECT count(*) FROM cursors WHERE instance = 'optout'") == [(0,)]
    assert rows(project, "SELECT count(*) FROM source_contacts WHERE instance = 'shop'") == [(6,)]


def test_forget_needs_a_store_and_the_lock(project: Project) -> None:
    result = project.cli("forget", ALICE)
    assert result.code == 2 and "no store yet" in result.err
    project.cli("run")
    holder = project.spawn("run")  # a run holds the lock while it works...
    try:
        lock = project.root / "segsync.duckdb.lock"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"run" not in lock.read_bytes():
            time.sleep(0.05)
        busy = project.cli("forget", ALICE)
        assert busy.code in (0, 4)  # 4 while the run holds it; 0 when it was already done
        if busy.code == 4:
            assert "holds the lock" in busy.err
    finally:
        holder.communicate(timeout=60)


def test_a_phone_identifier_needs_a_region_or_a_country_code(project: Project) -> None:
    project.cli("run")
    code, receipt = forget(project, "06 99 99 99 99")  # read in [resolve] default_region FR
    assert code == 0 and receipt["requests"][0]["kind"] == "phone"


def test_contact_helper_phone_is_stored_e164(project: Project) -> None:
    project.contacts.append(contact(9, email="zed@example.org", phone="06 11 22 33 44"))
    project.write()
    project.cli("run")
    code, receipt = forget(project, "+33611223344")
    assert code == 0 and receipt["requests"][0]["found"]["records"] == 1


def test_a_suppressed_buyer_s_orders_stay_out_with_two_contact_sources(tmp_path: Path) -> None:
    """The starter project (shop's contacts and orders, then the newsletter's contacts): a
    buyer suppressed by email in the suppression file, whose order names her by id alone, has
    neither her record nor her order loaded by the next full reads. (Each source's contacts
    were dated in one shared table, which the newsletter's replaced before shop's orders were
    filtered.)"""
    project = Project(root=tmp_path)
    assert project.cli("init", str(tmp_path), "--sample-data", "--force").code == 0
    text = (tmp_path / "data" / "orders.jsonl").read_text(encoding="utf-8")
    orders = [json.loads(line) for line in text.splitlines()]
    assert [o["order_id"] for o in orders if o["customer_id"] == "C000002"] == ["O0006287"]
    (tmp_path / "unsub.csv").write_text("OLIVER_TAYLOR@yahoo.co.uk\n", encoding="utf-8")
    with (tmp_path / "segsync.toml").open("a", encoding="utf-8") as config:
        config.write('\n[privacy]\nsuppression_file = "unsub.csv"\n')
    for _ in range(3):  # the first purges nothing stored yet; then full reads, twice
        code, report = project.json("pull", "--full")
        assert code == 0, report
        assert rows(project, "SELECT count(*) FROM events WHERE contact_id = 'C000002'") == [(0,)]
        assert rows(
            project, "SELECT count(*) FROM source_contacts WHERE source_id = 'C000002'"
        ) == [(0,)]
    assert rows(project, "SELECT count(*) FROM events") == [(len(orders) - 1,)]
