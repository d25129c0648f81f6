"""The HubSpot connector against its simulator, in-process: reading, writing, and what each
HubSpot answer means."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import ValidationError

from segsync.connector import (
    AudienceSpec,
    Batch,
    ConnectorContext,
    Contact,
    Member,
    Purpose,
    RecordResult,
)
from segsync.connectors.hubspot.connector import HubSpotConnector
from segsync.connectors.hubspot.destination import option_value
from segsync.connectors.hubspot.settings import HubSpotSettings
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.errors import AuthError, FatalError, QuotaError
from segsync.testing.conformance import LoseFirstAnswer

TOKEN = "pat-na1-unit-secret-0000"
T = TypeVar("T")


def make(
    sim: HubSpotSimulator, tmp_path: Path, token: str = TOKEN, **settings: Any
) -> HubSpotConnector:
    values = {"token": token, "base_url": "http://hubspot.test", "requests_per_10s": 1000,
              "search_per_second": 50, **settings}  # fmt: skip
    context = ConnectorContext("hs", tmp_path, tmp_path / "work", transport=sim.transport())
    return HubSpotConnector(HubSpotSettings(**values), context)


def sim_with(**kwargs: Any) -> HubSpotSimulator:
    sim = HubSpotSimulator(seed=1, burst=1000, search_per_second=50, **kwargs)
    sim.add_credential(TOKEN)
    return sim


def run(connector: HubSpotConnector, work: Callable[[HubSpotConnector], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await work(connector)
        finally:
            await connector.aclose()

    return asyncio.run(go())


async def all_contacts(c: HubSpotConnector, cursor: str | None) -> list[Contact]:
    return [x async for page in c.source.contacts(cursor) for x in page.records]


# -- reading -----------------------------------------------------------------------------------


def test_full_pull_maps_properties_consent_and_is_a_snapshot(tmp_path: Path) -> None:
    sim = sim_with()
    sim.add_contact("a@example.org", firstname="Ann", phone="06 12 34 56 78", country="FR")
    sim.add_contact("b@example.org", firstname="Bob", hs_email_optout="true")
    sim.add_contact("c@example.org", mobilephone="+4915112345678", country="Germany")

    async def work(c: HubSpotConnector) -> Any:
        return [page async for page in c.source.contacts(None)]

    pages = run(make(sim, tmp_path, properties={"first_name": "firstname"}), work)
    assert all(p.snapshot for p in pages)
    got = {x.email: x for p in pages for x in p.records}
    a, b, c = got["a@example.org"], got["b@example.org"], got["c@example.org"]
    assert a.attributes == {"first_name": "Ann"} and a.phone == "06 12 34 56 78"
    assert a.country == "FR" and c.country is None  # only ISO codes are a phone-region hint
    assert c.phone == "+4915112345678"
    assert b.consent == {Purpose.EMAIL_MARKETING: False}
    assert a.consent == {}  # not being unsubscribed is not consent
    assert a.source_id == sim.contact_id("a@example.org")
    assert isinstance(a.updated_at, dt.datetime) and a.updated_at.tzinfo is not None


def test_legal_basis_of_consent_is_a_grant(tmp_path: Path) -> None:
    sim = sim_with()
    sim.properties["hs_legal_basis"] = dict(sim.properties["email"], name="hs_legal_basis")
    sim.add_contact("g@example.org", hs_legal_basis="Freely given consent from contact")
    (got,) = run(make(sim, tmp_path), lambda c: all_contacts(c, None))
    assert got.consent == {Purpose.EMAIL_MARKETING: True}


def test_pages_pass_on_while_sparse_answers_are_gathered_for_dating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages wait for a batch of answers to date, but never more than HELD_MAX contacts'
    worth, and a page with no answer waiting before it passes on at once: memory stays flat
    however large the portal."""
    from segsync.connectors.hubspot import source as hubspot_source

    monkeypatch.setattr(hubspot_source, "HELD_MAX", 300)
    sim = sim_with()
    sim.properties["hs_legal_basis"] = dict(sim.properties["email"], name="hs_legal_basis")
    for i in range(1000):
        basis = {"hs_legal_basis": "Freely given consent from contact"} if i % 250 == 7 else {}
        sim.add_contact(f"p{i}@example.org", **basis)

    async def work(c: HubSpotConnector) -> list[tuple[list[Contact], int]]:
        def pages_read() -> int:
            return sum(1 for r in sim.requests if r.method == "GET")

        return [(page.records, pages_read()) async for page in c.source.contacts(None)]

    pages = run(make(sim, tmp_path, page_size=100), work)
    assert [len(records) for records, _ in pages] == [100] * 10
    for yielded, (_, read) in enumerate(pages, start=1):
        assert read <= yielded + 3  # 300 contacts held at most, then their batch is read
    dated = [c for records, _ in pages for c in records if c.consent]
    assert len(dated) == 4 and all(c.consent_at for c in dated)
    batches = [r for r in sim.requests if r.path.endswith("/batch/read")]
    assert len(batches) == 2  # the answers of each 300 contacts held, in one call


def test_incremental_pull_walks_past_the_search_cap(tmp_path: Path) -> None:
    sim = sim_with(search_result_cap=400)
    for i in range(1200):
        sim.add_contact(f"p{i}@example.org")

    async def work(c: HubSpotConnector) -> tuple[list[Contact], str | None]:
        cursor = None
        async for page in c.source.contacts(None):
            cursor = page.cursor
        return await all_contacts(c, f"0/{sim._now_ms()}"), cursor

    changed, cursor = run(make(sim, tmp_path, search_result_cap=400, search_page_size=100), work)
    ids = [x.source_id for x in changed]
    assert len(ids) == len(set(ids)) == 1200, "contacts missed or read twice across restarts"
    assert cursor is not None and int(cursor.split("/")[0]) > 0
    searches = [r for r in sim.requests if r.path.endswith("/search")]
    assert all(r.status == 200 for r in searches), "a search went past the cap"


def test_incremental_pull_walks_an_instant_shared_by_more_than_a_window(tmp_path: Path) -> None:
    """A bulk import can stamp thousands of contacts with one lastmodifieddate."""
    sim = sim_with(search_result_cap=400)
    ids = [sim.add_contact(f"bulk{i}@example.org") for i in range(900)]
    stamp = sim.contact(ids[0])["properties"]["lastmodifieddate"]
    for rid in ids:
        sim.contact(rid)["properties"]["lastmodifieddate"] = stamp
    later = [sim.add_contact(f"later{i}@example.org") for i in range(50)]
    changed = run(
        make(sim, tmp_path, search_result_cap=400, search_page_size=100),
        lambda c: all_contacts(c, f"0/{sim._now_ms()}"),
    )
    got = [x.source_id for x in changed]
    assert sorted(got, key=int) == sorted(ids + later, key=int)
    assert len(got) == len(set(got))


def test_incremental_pull_reads_only_changes_since_the_cursor(tmp_path: Path) -> None:
    sim = sim_with()
    sim.add_contact("old@example.org")
    cut = sim._now_ms() + 1
    sim.add_contact("new@example.org")
    changed = run(make(sim, tmp_path), lambda c: all_contacts(c, f"{cut}/{cut}"))
    assert [x.email for x in changed] == ["new@example.org"]


def test_next_cursor_is_the_pull_start_less_the_overlap(tmp_path: Path) -> None:
    sim = sim_with()
    sim.add_contact("a@example.org")

    async def work(c: HubSpotConnector) -> str | None:
        c.source.clock = lambda: 1_700_000_000.0
        return [p async for p in c.source.contacts(None)][-1].cursor

    cursor = run(make(sim, tmp_path, overlap_minutes=10), work)
    assert cursor == f"{(1_700_000_000 - 600) * 1000}/{1_700_000_000 * 1000}"


def test_incremental_cursor_keeps_when_the_last_full_pull_was(tmp_path: Path) -> None:
    sim = sim_with()
    sim.add_contact("a@example.org")
    now = sim._now_ms() / 1000
    full_at = int((now - 86_400) * 1000)  # a day ago

    async def work(c: HubSpotConnector) -> Any:
        return [p async for p in c.source.contacts(f"{full_at}/{full_at}")]

    pages = run(make(sim, tmp_path), work)
    assert pages and not any(p.snapshot for p in pages)
    assert all(p.cursor and p.cursor.endswith(f"/{full_at}") for p in pages)


def test_a_stale_full_pull_makes_this_one_full(tmp_path: Path) -> None:
    """Search cannot see deletions: a weekly full read (a snapshot) drops deleted contacts."""
    sim = sim_with()
    sim.add_contact("a@example.org")
    long_ago = int((sim._now_ms() / 1000 - 8 * 86_400) * 1000)

    async def work(c: HubSpotConnector) -> Any:
        return [p async for p in c.source.contacts(f"{long_ago + 1}/{long_ago}")]

    pages = run(make(sim, tmp_path, full_refresh_days=7), work)
    assert pages and all(p.snapshot for p in pages)
    never = run(make(sim_with(), tmp_path, full_refresh_days=None),
                lambda c: all_contacts(c, f"{long_ago}/{long_ago}"))  # fmt: skip
    assert never == []


def test_bad_cursor_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="is not '<epoch ms>/<epoch ms>'"):
        run(make(sim_with(), tmp_path), lambda c: all_contacts(c, "yesterday"))


def test_won_deals_become_orders(tmp_path: Path) -> None:
    sim = sim_with()
    a, b = sim.add_contact("a@example.org"), sim.add_contact("b@example.org")
    sim.seed_deals(
        [
            {"dealname": "W", "amount": "1200.50", "closedate": "2026-03-01T10:00:00Z",
             "dealstage": "closedwon", "deal_currency_code": "EUR", "contacts": [a, b]},
            {"dealname": "L", "amount": "10", "closedate": "2026-03-02T00:00:00Z",
             "dealstage": "closedlost", "contacts": [a]},
            {"dealname": "Nobody", "amount": "5", "dealstage": "closedwon", "contacts": []},
            {"dealname": "Custom", "amount": "7", "closedate": "2026-03-03T00:00:00Z",
             "dealstage": "won_b2b", "contacts": [b]},
        ]
    )  # fmt: skip

    async def work(c: HubSpotConnector) -> Any:
        return [p async for p in c.source.events(None)]

    pages = run(make(sim, tmp_path, won_stages=["closedwon", "won_b2b"],
                     default_currency="USD"), work)  # fmt: skip
    assert all(p.snapshot for p in pages)
    events = sorted((e for p in pages for e in p.records), key=lambda e: e.event_id)
    assert [(e.contact_id, e.value, e.currency, e.type) for e in events] == [
        (a, Decimal("1200.50"), "EUR", "order"),
        (b, Decimal("7"), "USD", "order"),
    ]
    assert events[0].occurred_at == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_deals_can_be_switched_off(tmp_path: Path) -> None:
    connector = make(sim_with(), tmp_path, deals=False)
    assert connector.source.streams() == ("contacts",)
    asyncio.run(connector.aclose())


# -- writing -----------------------------------------------------------------------------------


def push(
    connector: HubSpotConnector,
    kind: str,
    name: str,
    adds: list[str],
    removes: tuple[str, ...] = (),
) -> tuple[Any, list[RecordResult]]:
    async def work(c: HubSpotConnector) -> tuple[Any, list[RecordResult]]:
        audience = await c.destination.ensure_audience(
            AudienceSpec(sync=name, name=name, kind=kind)
        )
        batch = Batch(
            audience,
            adds=[Member(key=k, email=k[4:] if k.startswith("new:") else None) for k in adds],
            removes=[Member(key=k) for k in removes],
        )
        return audience, await c.destination.apply_batch(batch)

    return run(connector, work)


def test_list_is_created_once_and_found_after(tmp_path: Path) -> None:
    sim = sim_with()
    a = sim.add_contact("a@example.org")
    first, _ = push(make(sim, tmp_path), "list", "segsync: VIP / FR", [a])
    again, _ = push(make(sim, tmp_path), "list", "segsync: VIP / FR", [a])
    assert first.created and not again.created and first.id == again.id
    assert sim.list_members(first.id) == {a}


@pytest.mark.parametrize(
    ("kind", "path"), [("list", "/crm/v3/lists"), ("property", "/crm/v3/properties/contacts")]
)
def test_lost_create_answer_finds_what_it_created(tmp_path: Path, kind: str, path: str) -> None:
    sim = sim_with()
    lossy = LoseFirstAnswer(sim.transport(), "POST", path)
    context = ConnectorContext("hs", tmp_path, tmp_path / "work", transport=lossy)
    settings = HubSpotSettings(token=TOKEN, base_url="http://hubspot.test", requests_per_10s=1000)
    connector = HubSpotConnector(settings, context)
    ref = run(
        connector, lambda c: c.destination.ensure_audience(AudienceSpec("s", "Dropped", kind))
    )
    assert lossy.lost == 1 and ref.created
    if kind == "list":
        assert sim.list_id("Dropped") == ref.id
    else:
        assert [o["value"] for o in sim.properties["segsync_segments"]["options"]] == ["dropped"]


def test_dynamic_list_of_that_name_is_refused(tmp_path: Path) -> None:
    sim = sim_with()
    sim.lists["9"] = {"listId": "9", "listVersion": 1, "name": "Active", "objectTypeId": "0-1",
                      "processingStatus": "COMPLETE", "processingType": "DYNAMIC",
                      "members": {}}  # fmt: skip
    with pytest.raises(FatalError, match=r"DYNAMIC.*MANUAL lists only"):
        push(make(sim, tmp_path), "list", "Active", [])


def test_list_membership_missing_ids_fail_adds_but_not_removes(tmp_path: Path) -> None:
    sim = sim_with()
    a = sim.add_contact("a@example.org")
    _, results = push(make(sim, tmp_path), "list", "L", [a, "424242"], ("525252",))
    by_key = {r.key: r for r in results}
    assert by_key[a].ok and by_key["525252"].ok
    assert not by_key["424242"].ok and by_key["424242"].permanent
    assert "424242" in (by_key["424242"].error or "")


def test_list_changes_go_in_membership_chunks(tmp_path: Path) -> None:
    sim = sim_with()
    ids = [sim.add_contact(f"p{i}@example.org") for i in range(25)]
    connector = make(sim, tmp_path, membership_chunk=10)
    assert (
        connector.destination.batch_limit("list") == 10
        and connector.destination.batch_limit("property") == 100
    )
    audience, results = push(connector, "list", "Chunked", ids)
    assert all(r.ok for r in results) and sim.list_members(audience.id) == set(ids)
    calls = [r for r in sim.requests if r.path.endswith("/add-and-remove")]
    assert len(calls) == 3


def test_new_members_are_upserted_by_email(tmp_path: Path) -> None:
    sim = sim_with()
    known = sim.add_contact("known@example.org")
    audience, results = push(
        make(sim, tmp_path), "list", "N", ["new:fresh@example.org", "new:known@example.org"]
    )
    by_key = {r.key: r for r in results}
    fresh = sim.contact_id("fresh@example.org")
    assert by_key["new:fresh@example.org"].delivered_key == fresh
    assert by_key["new:known@example.org"].delivered_key == known
    assert sim.list_members(audience.id) == {fresh, known}


def test_new_member_with_invalid_email_fails_alone(tmp_path: Path) -> None:
    sim = sim_with()
    _, results = push(make(sim, tmp_path), "list", "N", ["new:not-an-email", "new:ok@example.org"])
    by_key = {r.key: r for r in results}
    assert not by_key["new:not-an-email"].ok and by_key["new:not-an-email"].permanent
    assert by_key["new:ok@example.org"].ok


def test_property_is_created_with_options_and_writes_full_sets(tmp_path: Path) -> None:
    sim = sim_with()
    a, b = sim.add_contact("a@example.org"), sim.add_contact("b@example.org")
    vip, _ = push(make(sim, tmp_path), "property", "VIP Customers", [a, b])
    churn, _ = push(make(sim, tmp_path), "property", "Churn risk", [a])
    assert vip.id == option_value("VIP Customers") == "vip_customers"
    definition = sim.properties["segsync_segments"]
    assert (definition["type"], definition["fieldType"]) == ("enumeration", "checkbox")
    assert [o["value"] for o in definition["options"]] == ["vip_customers", "churn_risk"]
    assert [o["label"] for o in definition["options"]] == ["VIP Customers", "Churn risk"]
    assert sim.property_values("segsync_segments") == {a: "churn_risk;vip_customers",
                                                        b: "vip_customers"}  # fmt: skip
    push(make(sim, tmp_path), "property", "VIP Customers", [], (a, b))
    assert sim.property_values("segsync_segments") == {a: "churn_risk"}
    assert churn.id == "churn_risk"


def test_property_skips_contacts_whose_set_is_unchanged(tmp_path: Path) -> None:
    sim = sim_with()
    a = sim.add_contact("a@example.org")
    push(make(sim, tmp_path), "property", "VIP", [a])
    before = len(sim.requests)
    push(make(sim, tmp_path), "property", "VIP", [a])
    assert not [r for r in sim.requests[before:] if r.path.endswith("/batch/update")]


def test_property_of_another_type_is_refused(tmp_path: Path) -> None:
    sim = sim_with()
    with pytest.raises(FatalError, match="multiple checkboxes"):
        push(make(sim, tmp_path, audience_property="firstname"), "property", "VIP", [])


def test_property_write_drops_options_deleted_in_hubspot(tmp_path: Path) -> None:
    sim = sim_with()
    a = sim.add_contact("a@example.org")
    push(make(sim, tmp_path), "property", "Old", [a])
    # a marketer deletes the "old" option in HubSpot; alice's stored value still names it
    sim.properties["segsync_segments"]["options"] = []
    sim.strict_batch_validation = True
    _, results = push(make(sim, tmp_path), "property", "New", [a])
    assert all(r.ok for r in results)
    assert sim.property_values("segsync_segments") == {a: "new"}


# -- what HubSpot's answers mean -----------------------------------------------------------------


def test_daily_limit_is_a_quota_error(tmp_path: Path) -> None:
    sim = HubSpotSimulator(seed=1, burst=1000, daily=2)
    sim.add_credential(TOKEN)
    with pytest.raises(QuotaError, match="daily API limit"):
        push(make(sim, tmp_path), "list", "Q", [sim.add_contact("a@example.org")])


def test_missing_scope_names_the_scope(tmp_path: Path) -> None:
    sim = HubSpotSimulator(seed=1, burst=1000)
    sim.add_credential(TOKEN, scopes=["crm.objects.contacts.read"])
    with pytest.raises(AuthError, match=r"crm\.lists\.read") as info:
        push(make(sim, tmp_path), "list", "S", [])
    assert TOKEN not in str(info.value)


def test_locked_and_migrating_answers_are_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segsync.connectors.hubspot import api
    from segsync.testing.simulator import Faults

    monkeypatch.setattr(api, "LOCKED_PAUSE", 0.01)
    sim = sim_with(migration_retry_after=0)
    a = sim.add_contact("a@example.org")
    sim.set_faults(Faults(error_rate=0.5, error_statuses=(423, 477)))
    connector = make(sim, tmp_path)
    audience, results = push(connector, "list", "Locked", [a])
    assert all(r.ok for r in results) and sim.list_members(audience.id) == {a}
    statuses = {r.status for r in sim.requests}
    assert statuses & {423, 477}, "no fault was injected"


def test_check_reports_limits(tmp_path: Path) -> None:
    sim = sim_with()
    result = run(make(sim, tmp_path), lambda c: c.check())
    assert result.ok and "burst limit 1000 requests per 10 s" in result.detail
    assert "left today" in result.detail


def test_pacing_tightens_from_headers(tmp_path: Path) -> None:
    sim = HubSpotSimulator(seed=1, burst=50)
    sim.add_credential(TOKEN)
    connector = make(sim, tmp_path, requests_per_10s=190)
    run(connector, lambda c: c.check())
    assert connector.http.pacer.requests == 50  # type: ignore[union-attr]


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a HubSpot property name"):
        HubSpotSettings(token="x", audience_property="Segsync Segments")
    with pytest.raises(ValidationError, match="internal name"):
        HubSpotSettings(token="x", properties={"first_name": "First Name"})
    settings = HubSpotSettings(token=TOKEN)
    assert TOKEN not in repr(settings) + str(settings)


def test_rolling_window_headers_pause_for_one_slot_not_the_whole_window() -> None:
    """HubSpot's 10 s window rolls: at Remaining 0 a slot frees within ~interval/max."""
    from segsync.connectors.hubspot.api import read_limits

    headers = {
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": "0",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    assert read_limits(httpx.Response(200, headers=headers)) == (100, 0, 0.1)
    assert read_limits(httpx.Response(200)) is None  # search answers carry no burst headers


# -- mapped properties ---------------------------------------------------------------------------


def test_a_mapped_property_the_portal_lacks_is_named_with_what_it_may_mean(
    tmp_path: Path,
) -> None:
    """HubSpot reads an unknown property as empty: a typo would empty an attribute for
    everyone. ``check`` names it (with the property a close name or a label points to) and a
    pull refuses to run on it."""
    sim = sim_with()
    sim.add_contact("a@example.org", firstname="Ann", city="Lyon")
    mapping = {"first_name": "first_name", "town": "citty", "lang": "hs_language",
               "odd": "favourite_colour"}  # fmt: skip

    async def work(c: HubSpotConnector) -> Any:
        checked = await c.check()
        with pytest.raises(FatalError) as failed:
            await all_contacts(c, None)
        return checked, str(failed.value)

    checked, failure = run(make(sim, tmp_path, properties=mapping), work)
    problems = [
        "properties.first_name = 'first_name': there is no contact property 'first_name' (did "
        "you mean 'firstname', labelled \"First Name\"?)",
        "properties.town = 'citty': there is no contact property 'citty' (did you mean 'city', "
        'labelled "City"?)',
        "properties.odd = 'favourite_colour': there is no contact property 'favourite_colour'",
    ]
    assert not checked.ok
    assert checked.detail.split("; ")[2:] == problems  # after the token and the limits
    assert failure == "; ".join(problems)
    pages = [
        r for r in sim.requests if r.path == "/crm/v3/objects/contacts" and "limit=100" in r.query
    ]
    assert pages == []  # refused before reading a contact

    # mapped as the portal names them: checked, and pulled
    good = {"first_name": "firstname", "town": "city", "lang": "hs_language"}
    checked = run(make(sim, tmp_path, properties=good), lambda c: c.check())
    assert checked.ok and "not checked" not in checked.detail
    got = run(make(sim, tmp_path, properties=good), lambda c: all_contacts(c, None))
    assert [x.attributes.get("first_name") for x in got] == ["Ann"]


def test_without_the_schemas_scope_the_mapping_is_not_checked_and_the_pull_runs(
    tmp_path: Path,
) -> None:
    sim = sim_with()
    sim.add_credential("pat-na1-narrow-0000", scopes={"crm.objects.contacts.read"})
    sim.add_contact("a@example.org", firstname="Ann")
    connector = make(sim, tmp_path, token="pat-na1-narrow-0000", deals=False,
                     properties={"first_name": "firstname"})  # fmt: skip
    checked = run(connector, lambda c: c.check())
    assert checked.ok
    assert "the mapped properties are not checked" in checked.detail
    assert "crm.schemas.contacts.read" in checked.detail
    again = make(sim, tmp_path, token="pat-na1-narrow-0000", deals=False,
                 properties={"first_name": "firstname"})  # fmt: skip
    got = run(again, lambda c: all_contacts(c, None))
    assert [x.attributes.get("first_name") for x in got] == ["Ann"]
