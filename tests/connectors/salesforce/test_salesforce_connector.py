"""The Salesforce connector against its simulator, in-process: logging in, reading people and
orders, and what each Salesforce answer means."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from sfkit import LOGIN, make, no_wait, run, sim_with

from segsync.connector import Contact, ContactBatch, Event, Purpose
from segsync.connectors.salesforce import api, source
from segsync.connectors.salesforce.connector import SalesforceConnector
from segsync.connectors.salesforce.settings import SalesforceSettings
from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.errors import AuthError, FatalError, QuotaError
from segsync.testing.simulator import Faults

HOUR = 3_600_000


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "pause", no_wait)
    monkeypatch.setattr(api, "LONG_TXN_PAUSE", 0.0)


async def people(c: SalesforceConnector, cursor: str | None = None) -> list[Contact]:
    return [x async for page in c.source.contacts(cursor) for x in page.records]


async def orders(c: SalesforceConnector) -> list[Event]:
    return [x async for page in c.source.events(None) for x in page.records]


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def calls(sim: SalesforceSimulator, needle: str) -> list[str]:
    return [r.path + "?" + r.query for r in sim.requests if needle in r.path + "?" + r.query]


# -- reading people ----------------------------------------------------------------------------


def test_full_pull_reads_contacts_and_leads_as_a_snapshot(tmp_path: Path) -> None:
    sim = sim_with()
    ann = sim.insert("Contact", FirstName="Ann", LastName="A", Email="Ann@Example.org",
                     Phone="06 12 34 56 78", MailingCountry="FR", Title="CTO")  # fmt: skip
    lee = sim.insert("Lead", FirstName="Lee", LastName="L", Company="Acme", Email="lee@example.org",
                     MobilePhone="+4915112345678", Country="Germany")  # fmt: skip
    connector = make(
        sim,
        tmp_path,
        contact_fields={"first_name": "FirstName", "title": "Title"},
        lead_fields={"first_name": "FirstName", "company": "Company"},
    )

    async def work(c: SalesforceConnector) -> Any:
        return [page async for page in c.source.contacts(None)]

    pages = run(connector, work)
    assert pages and all(p.snapshot for p in pages)
    got = {x.source_id: x for p in pages for x in p.records}
    assert set(got) == {ann, lee}
    a, b = got[ann], got[lee]
    assert a.email == "Ann@Example.org" and a.phone == "06 12 34 56 78" and a.country == "FR"
    assert a.attributes == {"first_name": "Ann", "title": "CTO"}
    assert b.attributes == {"first_name": "Lee", "company": "Acme"}
    assert b.phone == "+4915112345678" and b.country is None  # only ISO codes hint a region
    assert a.consent == {} and a.consent_at == {}  # not being opted out is not consent
    assert a.updated_at is not None and a.updated_at.tzinfo is not None
    assert all(p.cursor and "/" in p.cursor for p in pages)


def test_identity_rule_converted_leads_yield_to_their_contact(tmp_path: Path) -> None:
    """A Contact and an unconverted Lead of one email are both read (segsync merges them; the
    Contact's id sorts first, so it is the one addressed). A converted Lead is read with its
    Contact's email and nothing else, even when its own email differs."""
    sim = sim_with()
    contact = sim.insert("Contact", LastName="C", Email="sam@example.org", HasOptedOutOfEmail=False)
    twin = sim.insert("Lead", LastName="L", Company="X", Email="SAM@example.org")
    old = sim.insert("Lead", LastName="Old", Company="X", Email="sam.old@example.org",
                     HasOptedOutOfEmail=True, FirstName="Sam")  # fmt: skip
    sim.convert_lead(old, contact)
    got = {x.source_id: x for x in run(make(sim, tmp_path, lead_fields={"first": "FirstName"}),
                                       people)}  # fmt: skip
    assert set(got) == {contact, twin, old}
    assert contact < twin  # "003…" before "00Q…": core addresses the Contact
    assert got[twin].email == "SAM@example.org"
    converted = got[old]
    assert converted.email == "sam@example.org"  # its Contact's, not its own
    assert converted.consent == {} and converted.attributes == {} and converted.phone is None


def test_incremental_pull_looks_up_contacts_of_newly_converted_leads(tmp_path: Path) -> None:
    sim = sim_with()
    old = ms("2025-06-01T00:00:00")
    contact = sim.insert("Contact", LastName="C", Email="kim@example.org", SystemModstamp=old)
    lead = sim.insert("Lead", LastName="L", Company="X", Email="kim@else.org", SystemModstamp=old)
    began = time.time()
    sim.convert_lead(lead, contact)  # the Lead changes now; its Contact does not
    connector = make(sim, tmp_path, overlap_minutes=0)
    cursor = f"{int(began * 1000) - 5000}/{int(began * 1000)}"
    (got,) = run(connector, lambda c: people(c, cursor))
    assert got.source_id == lead and got.email == "kim@example.org"
    assert calls(sim, "FROM+Contact+WHERE+Id+IN")


def test_incremental_pull_reads_changes_since_the_cursor_less_the_overlap(tmp_path: Path) -> None:
    sim = sim_with()
    stale = ms("2025-01-01T00:00:00")
    sim.insert("Contact", LastName="Old", Email="old@example.org", SystemModstamp=stale)
    fresh = sim.insert("Lead", LastName="New", Company="X", Email="new@example.org")
    connector = make(sim, tmp_path, overlap_minutes=30)
    began = int(time.time()) + 100
    connector.source.clock = lambda: float(began)
    since = int(time.time() * 1000) - 60_000

    async def work(c: SalesforceConnector) -> Any:
        return [p async for p in c.source.contacts(f"{since}/{since}")]

    pages = run(connector, work)
    assert [x.source_id for p in pages for x in p.records] == [fresh]
    assert not any(p.snapshot for p in pages)
    assert {p.cursor for p in pages} == {f"{(began - 1800) * 1000}/{since}"}
    assert calls(sim, "SystemModstamp+%3E%3D+")


def test_a_stale_full_pull_makes_this_one_full(tmp_path: Path) -> None:
    sim = sim_with()
    sim.insert("Contact", LastName="Old", Email="old@example.org",
               SystemModstamp=ms("2025-01-01T00:00:00"))  # fmt: skip
    week_ago = int((time.time() - 8 * 86_400) * 1000)

    async def work(c: SalesforceConnector) -> Any:
        return [p async for p in c.source.contacts(f"{week_ago}/{week_ago}")]

    pages = run(make(sim, tmp_path), work)
    assert pages[0].snapshot and len(pages[0].records) == 1
    assert pages[0].cursor is not None and pages[0].cursor.endswith(
        str(int(pages[0].cursor.split("/")[1]))
    )


def test_bad_cursor_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="pull --full"):
        run(make(sim_with(), tmp_path), lambda c: people(c, "yesterday"))


def test_an_empty_org_is_an_empty_snapshot(tmp_path: Path) -> None:
    async def work(c: SalesforceConnector) -> Any:
        return [p async for p in c.source.contacts(None)], [p async for p in c.source.events(None)]

    contacts, events = run(make(sim_with(), tmp_path), work)
    assert [(p.records, p.snapshot) for p in contacts] == [([], True)]
    assert [(p.records, p.snapshot) for p in events] == [([], True)]


def test_rest_pages_honour_page_size_and_bulk_takes_large_queries(tmp_path: Path) -> None:
    sim = sim_with()
    for i in range(1250):
        sim.insert("Contact", LastName=f"C{i}", Email=f"c{i}@example.org")
    for i in range(300):
        sim.insert("Lead", LastName=f"L{i}", Company="X", Email=f"l{i}@example.org")
    rest = run(make(sim, tmp_path, page_size=500, bulk_queries=False), people)
    queries = [r for r in sim.requests if "/query" in r.path and "Contact" in r.query + r.path]
    assert len(rest) == 1550 and len({x.source_id for x in rest}) == 1550
    sim.reset_log()
    bulk = run(make(sim, tmp_path, page_size=500, bulk_threshold=1000, bulk_page_size=1000),
               people)  # fmt: skip
    assert sorted((x.source_id, x.email) for x in bulk) == sorted(
        (x.source_id, x.email) for x in rest
    )
    jobs = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/jobs/query")]
    results = [r for r in sim.requests if r.path.endswith("/results")]
    assert len(jobs) == 1  # Contacts (1,250 > 1,000); the 300 Leads and history stay REST
    # the first REST page (500) is kept; the other 750 come in one 1,000-row result page
    assert len(results) == 1
    (job,) = sim.bulk.jobs.values()
    assert job.query.sobject.name == "Contact" and "Id > '" in job.query.text
    assert queries and len(queries) >= 3


def test_bulk_csv_cells_with_commas_quotes_and_line_breaks_read_as_rest(tmp_path: Path) -> None:
    """Bulk API 2.0 result pages are CSV: a quoted cell may hold commas, quotes and line breaks
    (the reader splits the page on LF only and lets the CSV parser join a cell's lines)."""
    sim = sim_with()
    names = ['Ann, "Jo"', "two\nlines", "cr\r\nlf", "", "tab\there", "x\x1cy\u2028z"]
    for i in range(450):  # a first REST page of 200, then 250 through Bulk
        sim.insert("Contact", FirstName=names[i % len(names)] or None, LastName=f"C{i}",
                   Email=f"c{i}@example.org")  # fmt: skip
    fields = {"first_name": "FirstName"}
    rest = run(make(sim, tmp_path, page_size=200, bulk_queries=False, contact_fields=fields),
               people)  # fmt: skip
    sim.reset_log()
    bulk = run(make(sim, tmp_path, page_size=200, bulk_threshold=10, bulk_page_size=1000,
                    contact_fields=fields, leads=False), people)  # fmt: skip
    assert [r for r in sim.requests if r.path.endswith("/results")]
    assert len(rest) == 450
    assert {(x.source_id, x.attributes["first_name"]) for x in bulk} == {
        (x.source_id, x.attributes["first_name"]) for x in rest
    }
    assert {x.attributes["first_name"] for x in bulk} == {n or None for n in names}


def test_an_expired_query_locator_resumes_after_the_last_id(tmp_path: Path) -> None:
    sim = sim_with(locator_lifetime=0.0)  # every nextRecordsUrl has expired by the time it is read
    for i in range(700):
        sim.insert("Contact", LastName=f"C{i}", Email=f"c{i}@example.org")
    got = run(make(sim, tmp_path, page_size=200, consent_history=False), people)
    assert len(got) == 700 and len({x.source_id for x in got}) == 700
    refused = [r for r in sim.requests if r.status == 400]
    assert refused and all("/query/0r8" in r.path for r in refused)
    assert calls(sim, "Id+%3E+")  # resumed with WHERE Id > '<last id read>'


def test_dropped_and_truncated_answers_lose_and_repeat_nothing(tmp_path: Path) -> None:
    sim = sim_with(faults=Faults(drop_rate=0.1, malformed_rate=0.1, error_rate=0.05), seed=5)
    for i in range(900):
        sim.insert("Contact", LastName=f"C{i}", Email=f"c{i}@example.org")
    for i in range(300):
        sim.insert("Lead", LastName=f"L{i}", Company="X", Email=f"l{i}@example.org")
    rest = run(make(sim, tmp_path, page_size=200, bulk_queries=False), people)
    assert len(rest) == 1200 and len({x.source_id for x in rest}) == 1200
    assert {r.fault for r in sim.requests} >= {"malformed", "error"}
    # Bulk result pages cut short on the way are read again (Sforce-NumberOfRecords says)
    sim.set_faults(
        Faults(malformed_rate=0.5, drop_rate=0.2, only_paths=("/services/data/v66.0/jobs",))
    )
    sim.reset_log()
    bulk = run(make(sim, tmp_path, page_size=200, bulk_threshold=500, bulk_page_size=1000), people)
    assert sorted(x.source_id for x in bulk) == sorted(x.source_id for x in rest)
    assert any(r.fault == "malformed" for r in sim.requests if r.path.endswith("/results"))


# -- consent -----------------------------------------------------------------------------------


def test_opt_out_is_a_denial_dated_by_the_field_history(tmp_path: Path) -> None:
    sim = sim_with()
    created = ms("2025-03-01T00:00:00")
    changed = sim.insert("Contact", LastName="A", Email="a@example.org", CreatedDate=created)
    sim.update("Contact", changed, at=ms("2026-02-10T08:00:00") / 1000, HasOptedOutOfEmail=True)
    always = sim.insert("Lead", LastName="B", Company="X", Email="b@example.org",
                        HasOptedOutOfEmail=True, CreatedDate=created)  # fmt: skip
    toggled = sim.insert("Contact", LastName="C", Email="c@example.org", CreatedDate=created)
    sim.update("Contact", toggled, at=ms("2026-01-01T00:00:00") / 1000, HasOptedOutOfEmail=True)
    sim.update("Contact", toggled, at=ms("2026-01-02T00:00:00") / 1000, HasOptedOutOfEmail=False)
    sim.update("Contact", toggled, at=ms("2026-01-03T00:00:00") / 1000, HasOptedOutOfEmail=True)
    sim.update("Contact", toggled, at=ms("2026-04-01T00:00:00") / 1000, FirstName="untracked")
    got = {x.source_id: x for x in run(make(sim, tmp_path), people)}

    def at(rid: str) -> str:
        return got[rid].consent_at[Purpose.EMAIL_MARKETING].isoformat()

    assert all(got[r].consent == {Purpose.EMAIL_MARKETING: False} for r in got)
    assert at(changed) == "2026-02-10T08:00:00+00:00"
    assert at(always) == "2025-03-01T00:00:00+00:00"  # no change recorded: since creation
    assert at(toggled) == "2026-01-03T00:00:00+00:00"  # the latest change, not the last write


def _one_row(
    row: dict[str, Any],
    fields: dict[str, str],
    country: str,
    history: dict[str, tuple[dt.datetime, bool]],
    dated: bool,
) -> Contact:
    """What a Contact or Lead row reads as, field by field, as the connector read them one
    at a time (each field by the module's own readers: what changed is only that a page is
    put together as columns)."""
    consent: dict[Purpose, bool | None] = {}
    given: dict[Purpose, dt.datetime] = {}
    if source._flag(row.get("HasOptedOutOfEmail")):
        consent = {Purpose.EMAIL_MARKETING: False}
        change = history.get(str(row["Id"]))
        when = (
            change[0] if change is not None and change[1] else source._time(row.get("CreatedDate"))
        )
        if dated and when:
            given = {Purpose.EMAIL_MARKETING: when}
    return Contact(
        source_id=str(row["Id"]),
        email=row.get("Email") or None,
        phone=row.get("Phone") or row.get("MobilePhone") or None,
        attributes={attr: row.get(name) for attr, name in fields.items()},
        consent=consent,
        consent_at=given,
        updated_at=source._time(row.get("LastModifiedDate")),
        country=source._country(row.get(country)),
    )


@pytest.mark.parametrize("dated", [True, False])
def test_a_page_of_people_is_columns_that_read_as_each_row(tmp_path: Path, dated: bool) -> None:
    """Contacts and Leads become pages of columns (ContactBatch, staged a column at a time);
    each of a page's contacts is what its row reads as on its own — on rows as REST (JSON
    values) and Bulk API (CSV texts) give them, fields missing or blank, opt-outs with and
    without a recorded change."""
    rng = random.Random(11)
    times = [None, "", "2025-03-01T00:00:00.000+0000", "2026-01-02T03:04:05Z", "soon"]
    flags = [None, True, False, "true", "false", "", "maybe"]

    def row(i: int) -> dict[str, Any]:
        def maybe(key: str, values: list[Any]) -> dict[str, Any]:
            return {key: rng.choice(values)} if rng.random() < 0.8 else {}

        return {
            "Id": f"003{i:012d}",
            **maybe("Email", [None, "", "a@example.org", " B@Example.org "]),
            **maybe("Phone", [None, "", "+33 6 12 34 56 78"]),
            **maybe("MobilePhone", [None, "", "06 12 34 56 78"]),
            **maybe("MailingCountry", [None, "", "fr", "France", "GB "]),
            **maybe("HasOptedOutOfEmail", flags),
            **maybe("CreatedDate", times),
            **maybe("LastModifiedDate", times),
            **maybe("Title", [None, "", "CEO", 3]),
        }

    rows = [row(i) for i in range(400)]
    when = dt.datetime(2026, 2, 10, 8, tzinfo=dt.UTC)
    history = {str(r["Id"]): (when, rng.random() < 0.5) for r in rows if rng.random() < 0.4}
    fields = {"title": "Title", "email_again": "Email"}
    connector = make(sim_with(), tmp_path, consent_history=dated)
    batch = connector.source.batch(rows, fields, "MailingCountry", history)
    assert isinstance(batch, ContactBatch)
    assert list(batch) == [_one_row(r, fields, "MailingCountry", history, dated) for r in rows]
    asyncio.run(connector.aclose())


def test_pages_are_columns_unless_they_carry_converted_leads(tmp_path: Path) -> None:
    sim = sim_with()
    contact = sim.insert("Contact", LastName="A", Email="a@example.org")
    sim.insert("Lead", LastName="B", Company="X", Email="b@example.org")
    sim.insert("Lead", LastName="C", Company="X", Email="c@example.org",
               IsConverted=True, ConvertedContactId=contact)  # fmt: skip

    async def pages(c: SalesforceConnector) -> list[Any]:
        return [page.records async for page in c.source.contacts(None)]

    leads, contacts = run(make(sim, tmp_path), pages)
    assert isinstance(leads, ContactBatch) and [c.email for c in leads] == ["b@example.org"]
    # the converted Lead says only its Contact's email: that page goes record by record
    assert isinstance(contacts, list) and [c.email for c in contacts] == ["a@example.org"] * 2
    assert contacts[1].attributes == {} and contacts[1].consent == {}


def test_without_field_history_answers_are_left_undated(tmp_path: Path) -> None:
    sim = sim_with(tracked_fields=())
    sim.insert("Contact", LastName="A", Email="a@example.org", HasOptedOutOfEmail=True)
    (got,) = run(make(sim, tmp_path, consent_history=False), people)
    assert got.consent == {Purpose.EMAIL_MARKETING: False} and got.consent_at == {}
    assert not calls(sim, "History")


def test_incremental_pull_reads_history_since_the_cursor(tmp_path: Path) -> None:
    sim = sim_with()
    rid = sim.insert("Contact", LastName="A", Email="a@example.org")
    since = int(time.time() * 1000) - 60_000
    sim.update("Contact", rid, HasOptedOutOfEmail=True)
    (got,) = run(make(sim, tmp_path), lambda c: people(c, f"{since}/{since}"))
    assert got.consent_at[Purpose.EMAIL_MARKETING].timestamp() * 1000 >= since
    history = calls(sim, "FROM+ContactHistory")
    assert history and all("CreatedDate+%3E%3D" in q for q in history)


# -- orders ------------------------------------------------------------------------------------


def test_won_opportunities_are_orders_of_their_primary_contact(tmp_path: Path) -> None:
    sim = sim_with()
    ann = sim.insert("Contact", LastName="Ann", Email="ann@example.org")
    bob = sim.insert("Contact", LastName="Bob", Email="bob@example.org")
    won = sim.insert("Opportunity", Name="Big", StageName="Closed Won", CloseDate="2026-03-01",
                     Amount=1200.5)  # fmt: skip
    sim.insert("OpportunityContactRole", OpportunityId=won, ContactId=bob, IsPrimary=False)
    sim.insert("OpportunityContactRole", OpportunityId=won, ContactId=ann, IsPrimary=True)
    other = sim.insert("Opportunity", Name="Small", StageName="Closed Won",
                       CloseDate="2026-03-02", Amount=10)  # fmt: skip
    sim.insert("OpportunityContactRole", OpportunityId=other, ContactId=bob, IsPrimary=False)
    sim.insert("Opportunity", Name="Direct", StageName="Closed Won", CloseDate="2026-03-03",
               Amount=5, ContactId=ann)  # fmt: skip
    sim.insert("Opportunity", Name="Lost", StageName="Closed Lost", CloseDate="2026-03-04",
               Amount=99, ContactId=ann)  # fmt: skip
    sim.insert("Opportunity", Name="Nobody", StageName="Closed Won", CloseDate="2026-03-05")
    got = {e.properties["opportunity_name"]: e for e in run(make(sim, tmp_path,
                                                                 default_currency="EUR"), orders)}  # fmt: skip
    assert set(got) == {"Big", "Small", "Direct"}
    big = got["Big"]
    assert big.contact_id == ann and big.type == "order" and big.value == Decimal("1200.5")
    assert big.occurred_at == dt.datetime(2026, 3, 1, tzinfo=dt.UTC) and big.currency == "EUR"
    assert big.event_id == f"opportunity-{won}"
    assert got["Small"].contact_id == bob and got["Direct"].contact_id == ann


def test_multi_currency_orders_carry_their_currency(tmp_path: Path) -> None:
    sim = sim_with(multi_currency=True, corporate_currency="EUR")
    ann = sim.insert("Contact", LastName="Ann", Email="ann@example.org")
    sim.insert("Opportunity", Name="A", StageName="Closed Won", CloseDate="2026-03-01",
               Amount=10, ContactId=ann, CurrencyIsoCode="GBP")  # fmt: skip
    sim.insert("Opportunity", Name="B", StageName="Closed Won", CloseDate="2026-03-01",
               Amount=20, ContactId=ann)  # fmt: skip
    got = run(make(sim, tmp_path, multi_currency=True), orders)
    assert sorted(str(e.currency) for e in got) == ["EUR", "GBP"]
    # without multi-currency the field does not exist: asking for it is an error
    single = sim_with()
    with pytest.raises(FatalError, match="CurrencyIsoCode"):
        run(make(single, tmp_path, multi_currency=True), orders)


def test_opportunities_can_be_switched_off(tmp_path: Path) -> None:
    connector = make(sim_with(), tmp_path, opportunities=False)
    assert connector.source.streams() == ("contacts",)
    run(connector, lambda c: asyncio.sleep(0))


# -- logging in --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_jwt_bearer_login(tmp_path: Path, pem_key: tuple[str, bytes]) -> None:
    private, public = pem_key
    sim = sim_with(sandbox_app=False)
    sim.add_app("jwt-app", "unused", certificate=public, preauthorized=["ops@acme.example"])
    sim.insert("Contact", LastName="A", Email="a@example.org")
    connector = make(sim, tmp_path, login_url="https://login.salesforce.com", auth="jwt_bearer",
                     client_id="jwt-app", client_secret=None, username="ops@acme.example",
                     private_key=private)  # fmt: skip
    assert len(run(connector, people)) == 1
    text = repr(connector.settings) + str(connector.settings)
    assert "PRIVATE KEY" not in text
    wrong_user = make(sim, tmp_path, login_url="https://login.salesforce.com",
                      auth="jwt_bearer", client_id="jwt-app", username="intruder@acme.example",
                      private_key=private)  # fmt: skip
    with pytest.raises(AuthError, match="invalid_grant"):
        run(wrong_user, people)


def test_refresh_token_rotation_is_persisted_for_the_next_run(tmp_path: Path) -> None:
    sim = sim_with(sandbox_app=False)
    sim.add_app("web-app", "web-secret", rotate_refresh_tokens=True)
    first = sim.issue_refresh_token("web-app")
    sim.insert("Contact", LastName="A", Email="a@example.org")
    settings = {"auth": "refresh_token", "client_id": "web-app", "client_secret": "web-secret",
                "refresh_token": first, "login_url": "https://login.salesforce.com"}  # fmt: skip
    assert len(run(make(sim, tmp_path, **settings), people)) == 1
    saved = json.loads((tmp_path / "work" / "salesforce-refresh-token.json").read_text())
    assert saved["refresh_token"] != first  # rotated: the configured one no longer works
    # a session ending mid-run: the next refresh sends the rotated token, and rotates again
    connector = make(sim, tmp_path, **settings)

    async def twice(c: SalesforceConnector) -> int:
        await people(c)
        sim.expire_sessions()
        return len(await people(c))

    assert run(connector, twice) == 1
    later = json.loads((tmp_path / "work" / "salesforce-refresh-token.json").read_text())
    assert later["refresh_token"] not in (first, saved["refresh_token"])
    assert first not in (tmp_path / "work" / "salesforce-refresh-token.json").read_text()


def test_an_expired_session_mid_run_logs_in_again_once(tmp_path: Path) -> None:
    sim = sim_with()
    for i in range(500):
        sim.insert("Contact", LastName=f"C{i}", Email=f"c{i}@example.org")

    async def work(c: SalesforceConnector) -> int:
        count = 0
        async for page in c.source.contacts(None):
            count += len(page.records)
            sim.expire_sessions()  # every session ends after each page
        return count

    assert run(make(sim, tmp_path, page_size=200), work) == 500
    logins = [r for r in sim.requests if r.path == "/services/oauth2/token"]
    refused = [r for r in sim.requests if r.status == 401]
    assert len(refused) >= 2 and len(logins) == len(refused) + 1


def test_wrong_secret_is_a_clear_auth_error(tmp_path: Path) -> None:
    sim = sim_with()
    with pytest.raises(AuthError) as info:
        run(make(sim, tmp_path, client_secret="wrong-secret-0000"), lambda c: c.check())
    assert "invalid_client" in str(info.value) and "wrong-secret-0000" not in str(info.value)
    assert len(sim.requests) == 1


def test_settings_are_checked() -> None:
    base = {"client_id": "k", "client_secret": "s", "login_url": LOGIN}
    with pytest.raises(ValidationError, match="My Domain"):
        SalesforceSettings(**{**base, "login_url": "https://login.salesforce.com"})
    with pytest.raises(ValidationError, match="needs username and private_key"):
        SalesforceSettings(**{**base, "auth": "jwt_bearer"})
    with pytest.raises(ValidationError, match="needs refresh_token"):
        SalesforceSettings(**{**base, "auth": "refresh_token"})
    with pytest.raises(ValidationError, match="API name"):
        SalesforceSettings(**base, contact_fields={"x": "Name; DROP"})
    with pytest.raises(ValidationError, match="API version"):
        SalesforceSettings(**base, api_version="66")
    assert SalesforceSettings(**base, api_version="v68.0").api_version == "68.0"
    jwt = SalesforceSettings(client_id="k", auth="jwt_bearer", username="u", private_key="p",
                             login_url="https://test.salesforce.com")  # fmt: skip
    assert jwt.audience == "https://test.salesforce.com"


# -- limits and errors -------------------------------------------------------------------------


def test_used_up_daily_allocation_is_a_quota_error(tmp_path: Path) -> None:
    sim = sim_with(daily_api_requests=50)
    sim.limits.use(50)
    with pytest.raises(QuotaError, match="daily API allocation"):
        run(make(sim, tmp_path), people)


def test_max_api_usage_stops_before_the_allocation_is_used_up(tmp_path: Path) -> None:
    sim = sim_with(daily_api_requests=1000)
    for i in range(3000):
        sim.insert("Contact", LastName=f"C{i}", Email=f"c{i}@example.org")
    sim.limits.use(897)
    with pytest.raises(QuotaError, match=r"max_api_usage = 0\.9"):
        run(make(sim, tmp_path, page_size=200, consent_history=False), people)
    assert sim.limits.api_usage <= 900  # stopped at 90 %, leaving the rest to others


def test_long_request_cap_is_retried(tmp_path: Path) -> None:
    sim = sim_with(faults=Faults(burst_429_rate=0.5, burst_429_length=2), seed=2)
    sim.insert("Contact", LastName="A", Email="a@example.org")
    connector = make(sim, tmp_path, consent_history=False)
    got = run(connector, people)
    assert len(got) == 1
    assert any(r.fault == "429-burst" for r in sim.requests)


def test_a_retired_api_version_says_what_to_set(tmp_path: Path) -> None:
    sim = sim_with(api_version_floor=60.0)
    with pytest.raises(FatalError, match="set api_version"):
        run(make(sim, tmp_path, api_version="59.0"), people)


def test_check_reports_the_login_and_the_usage(tmp_path: Path) -> None:
    result = run(make(sim_with(), tmp_path), lambda c: c.check())
    assert result.ok and "client_credentials login accepted" in result.detail
    assert "daily API requests used" in result.detail and LOGIN in result.detail
