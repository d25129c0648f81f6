"""What goes in is checked, not only what comes out: consent dated by the answer, future
times, phone regions and readable warnings, source guards, the add guard and its review, bad
rows, amounts, and a source failing for a while (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from projectkit import Project, contact

pytestmark = pytest.mark.e2e


def _store(project: Project) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)


NEWSLETTER = """
[connectors.news]
type = "files"
[connectors.news.contacts]
path = "data/news.jsonl"
id = "email"
updated_at = "at"
consent = { email_marketing = "subscribed" }
"""


def _news(project: Project, rows: list[dict[str, object]]) -> None:
    with (project.root / "data" / "news.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def test_a_rewritten_record_does_not_make_its_old_answer_newer(project: Project) -> None:
    """person 1 said yes in the shop in January and no to the newsletter in March; the shop's
    export is then rewritten (its time moves to September, nothing else changes). The March
    denial is still the newest answer: the shop's answer was given in January."""
    project.contacts = [contact(1, updated="2026-01-10T00:00:00Z"), contact(2)]
    project.extra_config = NEWSLETTER
    project.write()
    _news(project, [{"email": "person1@example.org", "subscribed": "no", "at": "2026-03-01"}])
    assert project.cli("run").code == 0
    assert project.audience("French_newsletter") == {"person2@example.org"}
    project.contacts[0] = contact(1, updated="2026-09-01T00:00:00Z")  # touched, not changed
    project.write()
    assert project.cli("run").code == 0
    assert project.audience("French_newsletter") == {"person2@example.org"}
    con = _store(project)
    try:
        row = con.execute(
            "SELECT updated_at, consent_email_marketing_at FROM source_contacts "
            "WHERE instance = 'shop' AND source_id = 'C00001'"
        ).fetchone()
    finally:
        con.close()
    assert row is not None and str(row[0]) == str(row[1]) == "2026-01-10 00:00:00"
    # an answer that changes is dated: no in the shop in October, then yes in November,
    # which is newer than the newsletter's March denial
    project.contacts[0] = contact(1, opt_in="no", updated="2026-10-01T00:00:00Z")
    project.write()
    assert project.cli("run").code == 0
    project.contacts[0] = contact(1, opt_in="yes", updated="2026-11-01T00:00:00Z")
    project.write()
    assert project.cli("run").code == 0
    assert project.audience("French_newsletter") == {"person1@example.org", "person2@example.org"}


def test_times_in_the_future_are_taken_as_the_pull_time(project: Project) -> None:
    project.contacts = [contact(1, opt_in="yes", updated="2099-01-01T00:00:00Z"), contact(2)]
    project.extra_config = NEWSLETTER
    project.write()
    _news(project, [])
    code, report = project.json("run")
    assert code == 0
    shop = next(
        s for s in report["sources"] if s["instance"] == "shop" and s["stream"] == "contacts"
    )
    assert shop["warning_samples"] == [
        "shop contacts: time in the future, taken as the pull's time; e.g. contact C00001 "
        "(2099-01-01)"
    ]
    # a denial given after the first pull is newer than the shop's "2099" grant
    _news(project, [{"email": "person1@example.org", "subscribed": "no", "at": "2026-12-31"}])
    code, report = project.json("run")
    shop = next(
        s for s in report["sources"] if s["instance"] == "shop" and s["stream"] == "contacts"
    )
    assert code == 0
    assert project.audience("French_newsletter") == {"person2@example.org"}
    con = _store(project)
    try:
        stored = con.execute(
            "SELECT max(updated_at) FROM source_contacts WHERE instance = 'shop'"
        ).fetchone()
    finally:
        con.close()
    assert stored is not None and stored[0].year == 2026
    assert shop["warnings"] == 0  # unchanged since the first pull, where it was said once


def test_phone_numbers_are_read_in_the_sources_region_and_warnings_are_tallied(
    project: Project,
) -> None:
    project.contacts = [contact(i, country="", phone="06 12 34 56 78") for i in range(1, 4)]
    project.contacts += [contact(i, phone="12") for i in range(4, 60)]
    project.write()
    text = project.config.read_text().replace('default_region = "FR"', "# no default region")
    project.config.write_text(
        text.replace(
            'type = "files"\n[connectors.shop.contacts]',
            'type = "files"\nphone_region = "FR"\n[connectors.shop.contacts]',
        )
    )
    code, report = project.json("run")
    assert code == 0
    shop = next(s for s in report["sources"] if s["stream"] == "contacts")
    assert shop["warnings"] == 56
    assert len(shop["warning_samples"]) == 1
    line = shop["warning_samples"][0]
    assert line.startswith("shop contacts: 56 × phone is not a valid number")
    assert "'**'" in line  # the example is masked
    con = _store(project)
    try:
        phones = {
            r[0]
            for r in con.execute("SELECT phone FROM profiles WHERE phone IS NOT NULL").fetchall()
        }
    finally:
        con.close()
    assert phones == {"+33612345678"}


def test_stored_warning_samples_hold_no_raw_identifiers(project: Project) -> None:
    project.contacts = [contact(1, email="not an email", phone="+33 6 99"), contact(2)]
    project.write()
    assert project.cli("run").code == 0
    con = _store(project)
    try:
        stored = " ".join(r[0] for r in con.execute("SELECT report FROM runs").fetchall())
    finally:
        con.close()
    assert "not an email" not in stored and "+33 6 99" not in stored
    assert "'n********l'" in stored and "'+******9'" in stored


def test_the_orphan_guard_refuses_events_that_name_no_one(project: Project) -> None:
    project.contacts = [contact(i) for i in range(1, 6)]
    project.orders = [
        {"order_id": f"O{i}", "customer_id": f"X{i:05d}", "ordered_at": "2026-02-01T10:00:00Z",
         "amount": "10"} for i in range(150)
    ]  # fmt: skip
    project.write()
    code, report = project.json("run")
    assert code == 3
    events = next(s for s in report["sources"] if s["stream"] == "events")
    assert "150 of 150 events (100%) name no known contact" in events["refused"]
    con = _store(project)
    try:
        assert con.execute("SELECT count(*) FROM source_contacts").fetchone() == (0,)
    finally:
        con.close()
    assert project.json("run", "--force")[0] == 0


def test_the_add_guard_waits_for_review(project: Project) -> None:
    project.contacts = [contact(i) for i in range(1, 11)]
    project.write()
    assert project.cli("run").code == 0
    project.contacts += [contact(i) for i in range(11, 32)]
    project.write()
    code, report = project.json("run")
    assert code == 3
    news = next(s for s in report["syncs"] if s["name"] == "french_news")
    assert "grow from 10 to 31 members (+210%)" in news["blocked"]
    assert "max_add_fraction = 1" in news["blocked"]
    assert "segsync plan --sync french_news" in news["blocked"]
    assert len(project.audience("French_newsletter")) == 10
    plan = project.cli("plan", "--sync", "french_news", "--limit", "3")
    assert plan.code == 3
    assert "french_news would add: person11@example.org, person12@example.org, " in plan.out
    assert "… and 18 more" in plan.out
    stored = _store(project)
    try:
        reports = " ".join(r[0] for r in stored.execute("SELECT report FROM runs").fetchall())
    finally:
        stored.close()
    assert "person12@example.org" not in reports  # the preview is shown, not kept
    assert project.json("run", "--force")[0] == 0
    assert len(project.audience("French_newsletter")) == 31
    # an interrupted push or a small step is not growth
    project.contacts += [contact(i) for i in range(32, 40)]
    project.write()
    assert project.json("run")[0] == 0


FLAKY_SOURCE = """
import os
from segsync import hookimpl
from segsync.connectors.files import FilesConnector, FilesSource
from segsync.errors import RetryableError


class FlakyReader(FilesSource):
    async def contacts(self, cursor):
        if os.environ.get("SEGSYNC_TEST_DOWN"):
            raise RetryableError("GET /contacts: 503 Service Unavailable (gave up after 6 attempts)")
        async for page in super().contacts(cursor):
            yield page


class FlakySource(FilesConnector):
    name = "flakysource"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.source = FlakyReader(self.settings, context)


@hookimpl
def register_connectors(register):
    register(FlakySource)
"""

CRM = """
[connectors.crm]
type = "flakysource"
[connectors.crm.contacts]
path = "data/crm.csv"
updated_at = "updated_at"

[segments.everyone]
where = "TRUE"

[syncs.everyone]
segment = "everyone"
destination = "out"
"""


def _with_flaky_crm(project: Project) -> None:
    """The project with source ``crm`` (down while SEGSYNC_TEST_DOWN is set) and a sync of
    everyone."""
    (project.root / "plugins").mkdir(parents=True)
    (project.root / "plugins" / "flaky.py").write_text(FLAKY_SOURCE)
    project.extra_config = CRM
    project.write()
    (project.root / "data" / "crm.csv").write_text(
        "id,email,updated_at\nK1,crm.only@example.org,2026-01-01T00:00:00Z\n"
    )


def test_a_source_down_for_a_while_is_retried_and_other_syncs_push(project: Project) -> None:
    _with_flaky_crm(project)
    assert project.cli("run").code == 0
    project.contacts.append(contact(9))
    project.write()
    result = project.cli("run", "--format", "json", env={"SEGSYNC_TEST_DOWN": "1"})
    report = json.loads(result.out)
    assert result.code == 1  # retried next run, not a configuration error
    crm = next(s for s in report["sources"] if s["instance"] == "crm")
    assert crm["transient"] and "503" in crm["error"]
    syncs = {s["name"]: s for s in report["syncs"]}
    assert syncs["everyone"]["status"] == "skipped"
    assert syncs["everyone"]["skipped_reason"] == "source crm failed (will retry)"
    assert syncs["french_news"]["status"] == "ok"  # crm feeds none of its people
    assert "person9@example.org" in project.audience("French_newsletter")
    text = project.cli("run", env={"SEGSYNC_TEST_DOWN": "1"}).out
    assert "skipped (source failed)" in text and "failed, will retry" in text
    assert project.cli("run").code == 0


def test_a_source_failing_before_it_ever_loaded_holds_every_sync(project: Project) -> None:
    """On the first run nothing says whom a failing source feeds: pushing the others' people
    alone would fill the lists short, and the next run's growth would then trip the add
    guard. Every sync waits until the source has loaded once, and then pushes in full."""
    _with_flaky_crm(project)
    result = project.cli("run", "--format", "json", env={"SEGSYNC_TEST_DOWN": "1"})
    assert result.code == 1
    syncs = {s["name"]: s for s in json.loads(result.out)["syncs"]}
    assert {s["status"] for s in syncs.values()} == {"skipped"}
    assert syncs["french_news"]["skipped_reason"] == (
        "source crm failed (will retry) before it ever loaded (whom it feeds is not known)"
    )
    assert not (project.root / "out").exists() or not any((project.root / "out").iterdir())
    assert project.cli("run").code == 0
    assert "alice@example.org" in project.audience("French_newsletter")
    assert "crm.only@example.org" in project.audience("everyone")


def test_amounts_out_of_range_name_their_line_and_big_sums_do_not_overflow(
    project: Project,
) -> None:
    project.contacts = [contact(1), contact(2)]
    project.orders = [
        {"order_id": f"O{i}", "customer_id": "C00001", "ordered_at": "2026-02-01T10:00:00Z",
         "amount": "99999999999999.99"} for i in range(12)
    ]  # fmt: skip
    project.write()
    code, report = project.json("run")
    assert code == 0
    assert next(s for s in report["segments"] if s["name"] == "buyers")["size"] == 1
    assert project.cli("segments").code == 0
    project.orders.append(
        {"order_id": "BIG", "customer_id": "C00002", "ordered_at": "2026-02-01T10:00:00Z",
         "amount": "1e30"}
    )  # fmt: skip
    project.write()
    result = project.cli("run")
    assert result.code == 2
    assert "orders.jsonl:13: amount out of range" in result.out + result.err
    assert "Traceback" not in result.out + result.err and "staging" not in result.out + result.err


def test_bad_rows_can_be_skipped_into_a_rejects_file(project: Project) -> None:
    project.contacts = [contact(i) for i in range(1, 6)]
    project.contacts[2]["email_opt_in"] = "maybe"
    project.write()
    result = project.cli("run")
    assert result.code == 2 and "contacts.csv:4: column 'email_opt_in'" in result.out + result.err
    text = project.config.read_text().replace(
        'type = "files"\n[connectors.shop.contacts]',
        'type = "files"\non_bad_row = "skip"\nmax_bad_rows = 1\n[connectors.shop.contacts]',
    )
    project.config.write_text(text)
    code, report = project.json("run")
    assert code == 0
    shop = next(s for s in report["sources"] if s["stream"] == "contacts")
    assert shop["rejected"] == 1 and shop["records"] == 4
    rejects = Path(shop["rejects_file"])
    assert rejects.parent == project.root / "segsync.duckdb.work" / "rejects"
    lines = rejects.read_text().splitlines()
    assert lines[0] == "location,reason"
    assert "contacts.csv:4," in lines[1] and "expected yes/no" in lines[1]
    project.contacts[3]["email_opt_in"] = "perhaps"
    project.write()
    project.config.write_text(text)
    result = project.cli("run")
    assert result.code == 2
    assert "more than max_bad_rows = 1 records could not be read" in result.out + result.err
