"""The Mailchimp connector against its simulator, in-process: reading, writing, and what each
Mailchimp answer means."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    Batch,
    ConnectorContext,
    Contact,
    ContactBatch,
    Member,
    Purpose,
    RecordResult,
)
from segsync.connectors.mailchimp.connector import MailchimpConnector
from segsync.connectors.mailchimp.destination import SKIPPED_NEW_MEMBER
from segsync.connectors.mailchimp.settings import MailchimpSettings
from segsync.connectors.mailchimp.simulator import MailchimpSimulator, subscriber_hash
from segsync.connectors.mailchimp.source import parse_time
from segsync.errors import AuthError, FatalError, RetryableError
from segsync.http import RetryPolicy, reset_pacers
from segsync.pipeline.push import apply_batch
from segsync.testing.conformance import LoseFirstAnswer
from segsync.testing.simulator import Faults

KEY = "0123456789abcdef0123456789abcdef-us1"
BASE = "http://us1.api.mailchimp.test/3.0"
EM = Purpose.EMAIL_MARKETING
T = TypeVar("T")


def sim_with(**kwargs: Any) -> MailchimpSimulator:
    sim = MailchimpSimulator(seed=1, **kwargs)
    sim.add_credential(KEY)
    sim.create_list("Main")
    return sim


def make(
    sim: MailchimpSimulator,
    tmp_path: Path,
    key: str = KEY,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: Any,
) -> MailchimpConnector:
    values = {"api_key": key, "base_url": BASE, "list_id": sim.default_list_id(), **settings}
    context = ConnectorContext("mc", tmp_path, tmp_path / "work",
                               transport=transport or sim.transport())  # fmt: skip
    return MailchimpConnector(MailchimpSettings(**values), context)


def run(connector: MailchimpConnector, work: Callable[[MailchimpConnector], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await work(connector)
        finally:
            await connector.aclose()

    return asyncio.run(go())


def seed(sim: MailchimpSimulator, emails: list[str], **row: Any) -> list[str]:
    return sim.seed_members(sim.default_list_id(), [{"email": e, **row} for e in emails])


async def all_contacts(c: MailchimpConnector, cursor: str | None) -> list[Contact]:
    return [x async for page in c.source.contacts(cursor) for x in page.records]


def queries(sim: MailchimpSimulator, method: str, suffix: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in sim.requests
            if r.method == method and r.path.endswith(suffix)]  # fmt: skip


# -- reading -----------------------------------------------------------------------------------


def test_full_pull_maps_merge_fields_stats_phone_and_is_a_snapshot(tmp_path: Path) -> None:
    sim = sim_with()
    (a,) = seed(sim, ["Ann@Example.org"], first_name="Ann", phone="06 12 34 56 78",
                avg_open_rate=0.42, avg_click_rate=0.1)  # fmt: skip
    seed(sim, ["bob@example.org"])
    values: dict[str, Any] = {
        "merge_fields": {"first_name": "FNAME", "last_name": "LNAME"},
        "stats": {"open_rate": "avg_open_rate"},
    }

    async def work(c: MailchimpConnector) -> Any:
        return [page async for page in c.source.contacts(None)]

    pages = run(make(sim, tmp_path, **values), work)
    assert pages and all(p.snapshot for p in pages)
    got = {x.email: x for p in pages for x in p.records}
    ann, bob = got["Ann@Example.org"], got["bob@example.org"]
    assert ann.source_id == a == subscriber_hash("ann@example.org")
    assert ann.attributes == {"first_name": "Ann", "last_name": None, "open_rate": 0.42}
    assert ann.phone == "06 12 34 56 78" and bob.phone is None
    assert isinstance(ann.updated_at, dt.datetime) and ann.updated_at.tzinfo is not None
    # only what is mapped is asked for
    (fields,) = {q["fields"][0] for q in queries(sim, "GET", "/members")}
    assert "members.merge_fields" in fields and "members.tags" not in fields


def test_status_decides_email_marketing_consent(tmp_path: Path) -> None:
    sim = sim_with()
    statuses = ["subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"]
    for status in statuses:
        seed(sim, [f"{status}@example.org"], status=status)
    got = {x.email: x.consent for x in run(make(sim, tmp_path), lambda c: all_contacts(c, None))}
    assert got == {
        "subscribed@example.org": {EM: True},
        "unsubscribed@example.org": {EM: False},
        "cleaned@example.org": {EM: False},
        "pending@example.org": {},  # not confirmed yet: says nothing
        "transactional@example.org": {},
    }  # archived members are not on the audience


def _one_member(settings: MailchimpSettings, member: dict[str, Any]) -> Contact:
    """What a member reads as, field by field, as the connector read members one at a time."""
    email = str(member.get("email_address") or "").strip()
    merge = member.get("merge_fields") or {}
    stats = member.get("stats") or {}
    attributes = {
        a: None if merge.get(t) == "" else merge.get(t) for a, t in settings.merge_fields.items()
    }
    attributes.update({a: stats.get(k) for a, k in settings.stats.items()})
    phone = merge.get("PHONE")
    country = str((member.get("location") or {}).get("country_code") or "").strip()
    answer = {"subscribed": True, "unsubscribed": False, "cleaned": False}.get(
        str(member.get("status"))
    )
    changed = parse_time(member.get("last_changed"))
    given = parse_time(member.get("timestamp_opt")) if answer else None
    when = given or changed
    return Contact(
        source_id=str(member.get("id") or subscriber_hash(email)),
        email=email or None,
        phone=(phone.strip() or None) if isinstance(phone, str) else None,
        attributes=attributes,
        consent={} if answer is None else {EM: answer},
        consent_at={EM: when} if answer is not None and when is not None else {},
        updated_at=changed,
        country=country.upper() if len(country) == 2 and country.isalpha() else None,
    )


def test_a_page_of_members_is_columns_that_read_as_each_member(tmp_path: Path) -> None:
    """Members become a page of columns (ContactBatch, staged a column at a time); each of its
    contacts is what that member reads as on its own — on members missing fields, with blank
    ones, with values of other types, and a stats attribute named like a merge field."""
    rng = random.Random(7)
    settings = MailchimpSettings(
        api_key=KEY, base_url=BASE, list_id="l1",
        merge_fields={"first_name": "FNAME", "age": "AGE", "address": "ADDRESS"},
        stats={"open_rate": "avg_open_rate", "age": "avg_click_rate"},
    )  # fmt: skip
    times = [None, "", "2025-06-01T10:00:00+00:00", "2025-06-01 10:00:00", "soon"]
    values = [None, "", "Ann", " ", 42, 1.5, True, {"addr1": "1 rue"}, ["x"]]

    def member() -> dict[str, Any]:
        def maybe(key: str, value: Any) -> dict[str, Any]:
            return {key: value} if rng.random() < 0.8 else {}

        email = rng.choice(["ann@example.org", " Bob@Example.org ", "", "not an email"])
        merge = {t: rng.choice(values) for t in ("FNAME", "AGE", "PHONE") if rng.random() < 0.7}
        return {
            **maybe("id", rng.choice(["", "a1b2", None])),
            **maybe("email_address", email),
            **maybe(
                "status",
                rng.choice(
                    ["subscribed", "unsubscribed", "cleaned", "pending", "transactional", None]
                ),
            ),
            **maybe("merge_fields", merge if rng.random() < 0.9 else None),
            **maybe(
                "stats",
                {
                    "avg_open_rate": rng.choice([0, 0.5, None]),
                    "avg_click_rate": rng.choice([0.1, 1]),
                },
            ),
            **maybe("last_changed", rng.choice(times)),
            **maybe("timestamp_opt", rng.choice(times)),
            **maybe("location", {"country_code": rng.choice(["FR", "fr ", "", "FRA", "1A"])}),
        }

    sim = sim_with()
    connector = make(sim, tmp_path, list_id="l1", merge_fields=settings.merge_fields,
                     stats=settings.stats)  # fmt: skip
    reader = connector.source
    members = [member() for _ in range(400)]
    batch = reader.batch(members)
    assert isinstance(batch, ContactBatch)
    assert list(batch) == [_one_member(settings, m) for m in members]
    assert reader.contact(members[0]) == _one_member(settings, members[0])
    asyncio.run(connector.aclose())
    # and a pull hands its pages over as columns
    seed(sim, ["ann@example.org", "bob@example.org"], first_name="Ann")
    pages = run(make(sim, tmp_path), lambda c: _pages(c))
    assert pages and all(isinstance(p.records, ContactBatch) for p in pages)


async def _pages(c: MailchimpConnector) -> list[Any]:
    return [page async for page in c.source.contacts(None)]


def test_incremental_pull_asks_for_changes_since_the_cursor(tmp_path: Path) -> None:
    sim = sim_with()
    seed(sim, ["old@example.org"], last_changed="2025-06-01T00:00:00+00:00")
    seed(sim, ["new@example.org"], last_changed="2026-02-01T00:00:00+00:00")

    async def work(c: MailchimpConnector) -> Any:
        recent_full = dt.datetime.now(dt.UTC).isoformat()
        return [page async for page in c.source.contacts(f"2026-01-01T00:00:00Z/{recent_full}")]

    pages = run(make(sim, tmp_path), work)
    assert [x.email for p in pages for x in p.records] == ["new@example.org"]
    assert not any(p.snapshot for p in pages)
    asked = queries(sim, "GET", "/members")  # the first window of pages, requested at once
    assert asked and all(q["since_last_changed"] == ["2026-01-01T00:00:00+00:00"] for q in asked)


def test_next_cursor_is_the_pull_start_less_the_overlap(tmp_path: Path) -> None:
    sim = sim_with()
    seed(sim, ["a@example.org"])

    async def work(c: MailchimpConnector) -> str | None:
        c.source.clock = lambda: 1_767_225_600.0  # 2026-01-01T00:00:00Z
        return [p async for p in c.source.contacts(None)][-1].cursor

    cursor = run(make(sim, tmp_path, overlap_minutes=10), work)
    assert cursor == "2025-12-31T23:50:00+00:00/2026-01-01T00:00:00+00:00"


def test_a_stale_full_pull_makes_this_one_full(tmp_path: Path) -> None:
    """Incremental pulls cannot see archived members: a weekly full read (a snapshot) can."""
    sim = sim_with()
    seed(sim, ["a@example.org"], last_changed="2025-06-01T00:00:00+00:00")
    week_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat()

    async def work(c: MailchimpConnector) -> Any:
        return [p async for p in c.source.contacts(f"{week_ago}/{week_ago}")]

    pages = run(make(sim, tmp_path, full_refresh_days=7), work)
    assert pages and all(p.snapshot for p in pages)
    assert [x.email for p in pages for x in p.records] == ["a@example.org"]
    never = run(make(sim, tmp_path, full_refresh_days=None), work)
    assert not any(p.snapshot for p in never)
    assert [x.email for p in never for x in p.records] == []


def test_bad_cursor_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="is not '<ISO 8601 time>/<ISO 8601 time>'"):
        run(make(sim_with(), tmp_path), lambda c: all_contacts(c, "yesterday"))


def test_pages_are_fetched_concurrently_and_yielded_in_order(tmp_path: Path) -> None:
    sim = sim_with(faults=Faults(latency_jitter=0.004))  # later pages may finish first
    seed(sim, [f"p{i:04d}@example.org" for i in range(1250)])

    async def work(c: MailchimpConnector) -> list[list[Contact]]:
        return [page.records async for page in c.source.contacts(None)]

    pages = run(make(sim, tmp_path, page_size=100, concurrency=5), work)
    assert [len(p) for p in pages] == [100] * 12 + [50]
    assert [x.email for p in pages for x in p] == [f"p{i:04d}@example.org" for i in range(1250)]
    offsets = sorted(int(q["offset"][0]) for q in queries(sim, "GET", "/members"))
    assert offsets == list(range(0, 1300, 100))
    assert 1 < sim.stats()["max_concurrency"]["default"] <= 5


def test_orders_of_the_audiences_stores_become_events(tmp_path: Path) -> None:
    sim = sim_with()
    other = sim.create_list("Other")
    sim.create_store("shop", list_id=sim.default_list_id(), currency_code="EUR")
    sim.create_store("elsewhere", list_id=other)
    sim.seed_orders("shop", [
        {"id": "o1", "email": "a@example.org", "order_total": 1200.5,
         "processed_at": "2026-03-01T10:00:00Z"},
        {"id": "o2", "email": "b@example.org", "order_total": 7, "currency_code": "USD",
         "processed_at": "2026-03-02T00:00:00Z"},
    ])  # fmt: skip
    sim.seed_orders("elsewhere", [{"id": "x", "email": "a@example.org", "order_total": 5}])

    async def work(c: MailchimpConnector) -> Any:
        return [p async for p in c.source.events(None)]

    pages = run(make(sim, tmp_path), work)
    assert pages and all(p.snapshot for p in pages)
    events = sorted((e for p in pages for e in p.records), key=lambda e: e.event_id)
    assert [(e.event_id, e.email, e.value, e.currency, e.type) for e in events] == [
        ("shop:o1", "a@example.org", Decimal("1200.5"), "EUR", "order"),
        ("shop:o2", "b@example.org", Decimal("7.0"), "USD", "order"),
    ]
    assert events[0].occurred_at == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    # store_ids names the stores instead
    named = run(make(sim, tmp_path, store_ids=["elsewhere"]), work)
    assert [e.event_id for p in named for e in p.records] == ["elsewhere:x"]


def test_orders_can_be_switched_off(tmp_path: Path) -> None:
    connector = make(sim_with(), tmp_path, orders=False, concurrency=3)
    assert connector.source.streams() == ("contacts",)
    assert connector.destination.batch_limit("tag") == 500  # one bulk call
    assert connector.destination.max_in_flight == 3
    asyncio.run(connector.aclose())


# -- writing -----------------------------------------------------------------------------------


def push(
    connector: MailchimpConnector,
    name: str,
    adds: Sequence[Member | str] = (),
    removes: Sequence[Member | str] = (),
) -> tuple[AudienceRef, list[RecordResult]]:
    def member(m: Member | str) -> Member:
        return m if isinstance(m, Member) else Member(key=m)

    async def work(c: MailchimpConnector) -> tuple[AudienceRef, list[RecordResult]]:
        audience = await c.destination.ensure_audience(
            AudienceSpec(sync=name, name=name, kind="tag")
        )
        batch = Batch(audience, adds=[member(m) for m in adds],
                      removes=[member(m) for m in removes])  # fmt: skip
        return audience, await c.destination.apply_batch(batch)

    return run(connector, work)


def by_email(emails: list[str]) -> list[Member]:
    return [Member(key=subscriber_hash(e), email=e) for e in emails]


def test_tag_is_created_once_and_found_after(tmp_path: Path) -> None:
    sim = sim_with()
    a = by_email(["a@example.org"])
    seed(sim, ["a@example.org"])
    first, _ = push(make(sim, tmp_path), "segsync: VIP / FR", a)
    again, _ = push(make(sim, tmp_path), "segsync: VIP / FR", a)
    assert first.created and not again.created and first.id == again.id
    assert first.id == str(sim.segment_id(sim.default_list_id(), "segsync: VIP / FR"))
    assert sim.tag_members(sim.default_list_id(), "segsync: VIP / FR") == {"a@example.org"}


def test_lost_create_answer_finds_what_it_created(tmp_path: Path) -> None:
    sim = sim_with()
    path = f"/3.0/lists/{sim.default_list_id()}/segments"
    lossy = LoseFirstAnswer(sim.transport(), "POST", path)
    connector = make(sim, tmp_path, transport=lossy)
    ref = run(
        connector, lambda c: c.destination.ensure_audience(AudienceSpec("s", "Dropped", "tag"))
    )
    assert lossy.lost == 1 and ref.created
    assert ref.id == str(sim.segment_id(sim.default_list_id(), "Dropped"))
    assert len(sim.segments[sim.default_list_id()]) == 1


def test_saved_segment_of_that_name_is_refused(tmp_path: Path) -> None:
    sim = sim_with()
    sim._new_segment(sim.default_list_id(), "Active", {"match": "all", "conditions": []})
    with pytest.raises(FatalError, match="saved segment: segsync manages tags"):
        push(make(sim, tmp_path), "Active")


def test_batches_of_500_in_flight_together_stay_within_the_connection_cap(
    tmp_path: Path,
) -> None:
    """segsync keeps ``concurrency`` batches in flight, each one bulk call of 500 emails."""
    sim = sim_with(concurrency=10, faults=Faults(latency=0.002))
    emails = [f"m{i:05d}@example.org" for i in range(5000)]
    seed(sim, emails)
    connector = make(sim, tmp_path, concurrency=10)
    assert connector.destination.batch_limit("tag") == 500
    sim.reset_log()

    async def work(c: MailchimpConnector) -> list[RecordResult]:
        audience = await c.destination.ensure_audience(AudienceSpec("s", "Big", "tag"))
        members = by_email(emails)
        parts = [members[i : i + 500] for i in range(0, 5000, 500)]
        done = await asyncio.gather(
            *(apply_batch(c.destination, audience, "add", part) for part in parts)
        )
        return [r for part in done for r in part]

    results = run(connector, work)
    assert len(results) == 5000 and all(r.ok for r in results)
    assert sim.tag_members(sim.default_list_id(), "Big") == set(emails)
    bulk = [r for r in sim.requests if r.method == "POST" and "/segments/" in r.path]
    assert len(bulk) == 10
    assert not [r for r in sim.requests if r.status == 429], "went past the connection cap"
    assert 5 <= sim.stats()["max_concurrency"]["default"] <= 10


def test_per_email_errors_fail_those_emails_only(tmp_path: Path) -> None:
    sim = sim_with(report_unknown_segment_emails=True)
    seed(sim, ["a@example.org", "b@example.org"])
    adds = by_email(["a@example.org", "stranger@example.org", "b@example.org"])
    removes = by_email(["gone@example.org"])
    _, results = push(make(sim, tmp_path), "Errors", adds)
    by_key = {r.key: r for r in results}
    bad = by_key[subscriber_hash("stranger@example.org")]
    assert not bad.ok and bad.permanent and "not members of this list" in (bad.error or "")
    assert by_key[adds[0].key].ok and by_key[adds[2].key].ok
    _, results = push(make(sim, tmp_path), "Errors", removes=removes)
    assert [r.ok for r in results] == [True]  # not a member: removing is harmless
    assert sim.tag_members(sim.default_list_id(), "Errors") == {"a@example.org", "b@example.org"}


def test_adds_not_on_the_audience_fail_and_retagging_succeeds(tmp_path: Path) -> None:
    sim = sim_with()
    seed(sim, ["a@example.org", "b@example.org"])
    seed(sim, ["old@example.org"], status="archived")
    push(make(sim, tmp_path), "T", by_email(["a@example.org"]))
    adds = by_email(["a@example.org", "b@example.org", "nobody@example.org", "old@example.org"])
    _, results = push(make(sim, tmp_path), "T", adds)
    assert {r.key: r.ok for r in results} == {
        adds[0].key: True,  # already tagged: a success
        adds[1].key: True,
        adds[2].key: False,
        adds[3].key: False,
    }
    failed = [r for r in results if not r.ok]
    assert all(r.permanent and "not on the audience" in (r.error or "") for r in failed)
    assert sim.tag_members(sim.default_list_id(), "T") == {"a@example.org", "b@example.org"}


def test_tag_deleted_mid_run_fails_adds_for_a_later_run(tmp_path: Path) -> None:
    sim = sim_with()
    a, b = by_email(["a@example.org", "b@example.org"])
    seed(sim, ["a@example.org", "b@example.org"])

    async def work(c: MailchimpConnector) -> list[RecordResult]:
        audience = await c.destination.ensure_audience(AudienceSpec("s", "Gone", "tag"))
        del sim.segments[sim.default_list_id()][int(audience.id)]  # a marketer deletes it
        adds = await apply_batch(c.destination, audience, "add", [a])
        return adds + await apply_batch(c.destination, audience, "remove", [b])

    results = run(make(sim, tmp_path), work)
    by_key = {(r.key, r.op): r for r in results}
    added, removed = by_key[(a.key, "add")], by_key[(b.key, "remove")]
    assert not added.ok and not added.permanent and "gone from Mailchimp" in (added.error or "")
    assert removed.ok
    bulk = [r for r in sim.requests if r.method == "POST" and "/segments/" in r.path]
    assert len(bulk) == 2, "a deleted tag is not a reason to bisect"


def test_members_without_their_email_are_looked_up(tmp_path: Path) -> None:
    """A profile whose email changed since the pull, or a removal whose profile is gone."""
    sim = sim_with()
    a, b = seed(sim, ["a@example.org", "b@example.org"])
    push(make(sim, tmp_path), "L", [Member(key=a, email="a.new@example.org"), Member(key=b)])
    assert sim.tag_members(sim.default_list_id(), "L") == {"a@example.org", "b@example.org"}
    _, results = push(make(sim, tmp_path), "L", removes=[a, subscriber_hash("x@example.org")])
    assert all(r.ok for r in results)
    assert sim.tag_members(sim.default_list_id(), "L") == {"b@example.org"}


def new(email: str, consent: bool | str | None = "absent") -> Member:
    granted: dict[Purpose, bool | None] = {}
    if not isinstance(consent, str):
        granted[EM] = consent
    return Member(key=f"new:{email}", email=email, consent=granted)


def test_new_members_with_granted_consent_are_subscribed(tmp_path: Path) -> None:
    sim = sim_with()
    _, results = push(make(sim, tmp_path), "N", [new("Fresh@example.org", True)])
    (r,) = results
    assert r.ok and r.delivered_key == subscriber_hash("fresh@example.org")
    member = sim.member(sim.default_list_id(), "fresh@example.org")
    assert member is not None and member["status"] == "subscribed"
    assert sim.tag_members(sim.default_list_id(), "N") == {"fresh@example.org"}
    (body,) = [q for q in queries(sim, "PUT", r.delivered_key or "")]
    assert body["skip_merge_validation"] == ["true"]


def test_new_members_without_consent_are_pending_or_skipped(tmp_path: Path) -> None:
    sim = sim_with()
    adds = [new("p@example.org", False), new("q@example.org")]
    _, results = push(make(sim, tmp_path, new_members="pending"), "N", adds)
    assert all(r.ok for r in results)
    list_id = sim.default_list_id()
    assert sim.member_emails(list_id, "pending") == {"p@example.org", "q@example.org"}
    _, results = push(make(sim, tmp_path), "N", [new("s@example.org", None)])
    (r,) = results
    assert not r.ok and r.permanent and r.error == SKIPPED_NEW_MEMBER
    assert sim.member(list_id, "s@example.org") is None
    assert not queries(sim, "PUT", subscriber_hash("s@example.org"))


def test_an_unsubscribed_member_is_never_resubscribed(tmp_path: Path) -> None:
    sim = sim_with()
    seed(sim, ["gone@example.org"], status="unsubscribed")
    _, results = push(make(sim, tmp_path), "N", [new("gone@example.org", True)])
    assert all(r.ok for r in results)  # tagged, but still unsubscribed
    member = sim.member(sim.default_list_id(), "gone@example.org")
    assert member is not None and member["status"] == "unsubscribed"
    assert sim.tag_members(sim.default_list_id(), "N") == {"gone@example.org"}


PRIOR = st.sampled_from([None, "subscribed", "unsubscribed", "cleaned", "pending",
                         "transactional", "archived"])  # fmt: skip
CONSENT = st.sampled_from([True, False, None, "absent"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    people=st.lists(st.tuples(PRIOR, CONSENT), min_size=1, max_size=8),
    mode=st.sampled_from(["skip", "pending"]),
)
def test_no_one_is_subscribed_without_granted_consent(
    tmp_path: Path, people: list[tuple[str | None, bool | str | None]], mode: str
) -> None:
    reset_pacers()
    sim = sim_with()
    list_id = sim.default_list_id()
    emails = [f"person{i}@example.org" for i in range(len(people))]
    before: dict[str, str | None] = {}
    for email, (prior, _) in zip(emails, people, strict=True):
        if prior is not None:
            seed(sim, [email], status=prior)
        before[email] = prior
    adds = [new(e, consent) for e, (_, consent) in zip(emails, people, strict=True)]
    _, results = push(make(sim, tmp_path, new_members=mode), "Prop", adds)
    assert len(results) == len(adds)
    for email, (prior, consent) in zip(emails, people, strict=True):
        member = sim.member(list_id, email)
        status = None if member is None else member["status"]
        if status == "subscribed":
            assert prior == "subscribed" or consent is True, (email, prior, consent)
        if prior not in (None, "archived"):
            assert status == prior, "an existing member's status changed"
        if consent is not True and mode == "skip":
            assert status == prior, "a member was created without consent"


def test_faults_end_with_exactly_the_desired_tag_members(tmp_path: Path) -> None:
    sim = sim_with()
    emails = [f"f{i:04d}@example.org" for i in range(3000)]
    seed(sim, emails)
    sim.set_faults(Faults(error_rate=0.2, drop_rate=0.1, malformed_rate=0.05))
    members = by_email(emails)
    steps: list[tuple[list[Member], list[Member]]] = [
        (members[i : i + 1000], []) for i in range(0, 3000, 1000)
    ]
    steps.append(([], members[2500:]))

    async def work(c: MailchimpConnector) -> list[RecordResult]:
        c.http.retry = RetryPolicy(max_attempts=4, base=0.001, cap=0.005)  # fast backoff
        audience = None
        for _ in range(20):
            try:
                audience = await c.destination.ensure_audience(AudienceSpec("f", "Faulty", "tag"))
                break
            except RetryableError:  # retried like a next run would
                continue
        assert audience is not None
        permanent: list[RecordResult] = []
        for adds, removes in steps:
            todo_adds, todo_removes = list(adds), list(removes)
            for _ in range(30):
                if not todo_adds and not todo_removes:
                    break
                results = []  # batches as segsync sends them: 500 of one op, split if refused
                for op, todo in (("add", todo_adds), ("remove", todo_removes)):
                    for i in range(0, len(todo), 500):
                        results += await apply_batch(c.destination, audience, op, todo[i : i + 500])
                retry = {r.key for r in results if not r.ok and not r.permanent}
                permanent += [r for r in results if not r.ok and r.permanent]
                todo_adds = [m for m in todo_adds if m.key in retry]
                todo_removes = [m for m in todo_removes if m.key in retry]
            assert not todo_adds and not todo_removes, "still failing after 30 rounds"
        return permanent

    permanent = run(make(sim, tmp_path, concurrency=4), work)
    assert not permanent, permanent[:3]
    assert sim.tag_members(sim.default_list_id(), "Faulty") == set(emails[:2500])
    faults = sim.stats()["faults"]
    assert faults.get("error") and faults.get("drop") and faults.get("malformed")


# -- what Mailchimp's answers mean ---------------------------------------------------------------


def test_wrong_data_centre_is_an_auth_error_with_a_hint(tmp_path: Path) -> None:
    sim = sim_with()
    other_dc = KEY.replace("-us1", "-us2")
    sim.add_credential(other_dc)
    with pytest.raises(AuthError, match="data-centre suffix") as info:
        push(make(sim, tmp_path, key=other_dc), "X")
    assert other_dc not in str(info.value)
    assert len(sim.requests) == 1


def test_bare_403_under_load_is_retried(tmp_path: Path) -> None:
    sim = sim_with(faults=Faults(error_rate=0.5, error_statuses=(403,)))
    seed(sim, ["a@example.org"])

    async def work(c: MailchimpConnector) -> list[Contact]:
        c.http.retry = RetryPolicy(base=0.001, cap=0.005)
        return await all_contacts(c, None)

    assert [x.email for x in run(make(sim, tmp_path), work)] == ["a@example.org"]
    assert any(r.status == 403 for r in sim.requests)


def test_check_names_the_audience(tmp_path: Path) -> None:
    sim = sim_with()
    seed(sim, ["a@example.org", "b@example.org"])
    seed(sim, ["c@example.org"], status="unsubscribed")
    result = run(make(sim, tmp_path), lambda c: c.check())
    assert (
        result.ok and result.detail == "API key accepted; audience 'Main' has 2 subscribed members"
    )
    missing = run(make(sim, tmp_path, list_id="nope"), lambda c: c.check())
    assert not missing.ok and "no audience with list_id 'nope'" in missing.detail


def test_settings_are_checked() -> None:
    settings = MailchimpSettings(api_key=KEY.replace("-us1", "-us21"), list_id="L")
    assert settings.api_url == "https://us21.api.mailchimp.com/3.0"
    assert MailchimpSettings(api_key="k", list_id="L", base_url="http://127.0.0.1:8080/").api_url \
        == "http://127.0.0.1:8080/3.0"  # fmt: skip
    with pytest.raises(ValidationError, match="-us21") as info:
        MailchimpSettings(api_key="secretkeywithoutdc", list_id="L")
    assert "secretkeywithoutdc" not in str(info.value)
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        MailchimpSettings(api_key=KEY, list_id="L", concurrency=11)
    with pytest.raises(ValidationError, match="not a merge tag"):
        MailchimpSettings(api_key=KEY, list_id="L", merge_fields={"first_name": "First Name"})
    with pytest.raises(ValidationError, match="not a member statistic"):
        MailchimpSettings(api_key=KEY, list_id="L", stats={"rating": "member_rating"})
    assert KEY not in repr(settings) + str(settings)


# -- mapped merge fields ---------------------------------------------------------------------------


def test_a_mapped_merge_tag_the_audience_lacks_is_named_with_what_it_may_mean(
    tmp_path: Path,
) -> None:
    """A member's answer simply lacks an unknown merge tag: a typo would empty an attribute
    for everyone. ``check`` names it, with the tag a name or a close tag points to, and a
    pull refuses to run on it."""
    sim = sim_with()
    seed(sim, ["ann@example.org"], first_name="Ann")
    mapping = {"first_name": "FIRSTNAME", "last_name": "LNAM", "odd": "SHOESIZE"}

    async def work(c: MailchimpConnector) -> Any:
        checked = await c.check()
        with pytest.raises(FatalError) as failed:
            await all_contacts(c, None)
        return checked, str(failed.value)

    checked, failure = run(make(sim, tmp_path, merge_fields=mapping), work)
    problems = [
        "merge_fields.first_name = 'FIRSTNAME': there is no merge tag 'FIRSTNAME' (did you "
        "mean 'FNAME', labelled \"First Name\"?)",
        "merge_fields.last_name = 'LNAM': there is no merge tag 'LNAM' (did you mean 'LNAME', "
        'labelled "Last Name"?)',
        "merge_fields.odd = 'SHOESIZE': there is no merge tag 'SHOESIZE'",
    ]
    assert not checked.ok
    assert checked.detail.split("; ")[2:] == problems  # after the key and the audience
    assert failure == "; ".join(problems)
    assert queries(sim, "GET", "/members") == []  # refused before reading a member

    good = {"first_name": "FNAME", "last_name": "LNAME"}
    assert run(make(sim, tmp_path, merge_fields=good), lambda c: c.check()).ok
    got = run(make(sim, tmp_path, merge_fields=good), lambda c: all_contacts(c, None))
    assert [x.attributes.get("first_name") for x in got] == ["Ann"]
