"""The Salesforce connector's campaigns, in-process: finding and creating them, member status,
adds and removes in 200s, converted Leads, and Leads made for ``on_missing = "create"``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sfkit import make, no_wait, run, sim_with

from segsync.connector import NEW_MEMBER_PREFIX, AudienceRef, AudienceSpec, Member, Purpose
from segsync.connectors.salesforce import api
from segsync.connectors.salesforce.connector import SalesforceConnector
from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.errors import FatalError
from segsync.pipeline.push import apply_batch
from segsync.testing.conformance import LoseFirstAnswer

V = "/services/data/v66.0"


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "pause", no_wait)


class Before(httpx.AsyncBaseTransport):
    """Wraps a transport: before the first ``method path`` request, ``action()`` runs; it may
    return a response to answer instead of the platform (a refusal), or None to go on."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        method: str,
        path: str,
        action: Callable[[], httpx.Response | None],
    ) -> None:
        self.inner, self.method, self.path, self.action, self.done = inner, method, path, action, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.done and (request.method, request.url.path) == (self.method, self.path):
            self.done += 1
            answer = self.action()
            if answer is not None:
                return answer
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def spec(name: str = "segsync: VIP", sync: str = "vip") -> AudienceSpec:
    return AudienceSpec(sync=sync, name=name, kind="campaign")


def push(
    connector: SalesforceConnector,
    steps: list[tuple[list[Any], list[Any]]],
    audience: AudienceSpec | None = None,
) -> tuple[AudienceRef, list[list[Any]]]:
    """Ensure the campaign, then apply each (adds, removes) as a run would (batches of ≤ 200,
    split by segsync when refused as a whole)."""

    async def work(c: SalesforceConnector) -> tuple[AudienceRef, list[list[Any]]]:
        ref = await c.destination.ensure_audience(audience or spec())
        out = []
        for adds, removes in steps:
            results: list[Any] = []
            for op, members in (("add", adds), ("remove", removes)):
                members = [m if isinstance(m, Member) else Member(key=m) for m in members]
                for start in range(0, len(members), 200):
                    part = members[start : start + 200]
                    results += await apply_batch(c.destination, ref, op, part)
            out.append(results)
        return ref, out

    return run(connector, work)


def people(sim: SalesforceSimulator, n: int, prefix: str = "p") -> list[str]:
    return [sim.insert("Contact", LastName=f"L{i}", Email=f"{prefix}{i}@example.org")
            for i in range(n)]  # fmt: skip


# -- campaigns ---------------------------------------------------------------------------------


def test_campaign_is_created_once_and_found_after(tmp_path: Path) -> None:
    sim = sim_with()
    first = run(make(sim, tmp_path), lambda c: c.destination.ensure_audience(spec()))
    again = run(make(sim, tmp_path), lambda c: c.destination.ensure_audience(spec()))
    assert first.created and not again.created and first.id == again.id
    assert sim.campaigns("segsync: VIP") == [first.id]
    record = sim.record("Campaign", first.id) or {}
    assert record["IsActive"] is True and "segsync" in str(record["Description"])


def test_the_oldest_campaign_of_a_name_is_used(tmp_path: Path) -> None:
    sim = sim_with()
    older = sim.insert("Campaign", Name="O'Brien \\ Co", CreatedDate=1_700_000_000_000)
    sim.insert("Campaign", Name="O'Brien \\ Co", CreatedDate=1_800_000_000_000)
    ref = run(make(sim, tmp_path), lambda c: c.destination.ensure_audience(spec("O'Brien \\ Co")))
    assert ref.id == older and not ref.created


@pytest.mark.parametrize("fault", ["lost", "refused"])
def test_a_failed_create_looks_before_trying_again(tmp_path: Path, fault: str) -> None:
    """The create is never retried blindly: a lost answer finds the campaign it made; a
    refused one (503) finds none and is tried again. Either way there is one campaign."""
    sim = sim_with()
    path = f"{V}/sobjects/Campaign"
    transport: httpx.AsyncBaseTransport
    if fault == "lost":
        transport = LoseFirstAnswer(sim.transport(), "POST", path)
    else:
        refusal = [{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}]
        transport = Before(sim.transport(), "POST", path, lambda: httpx.Response(503, json=refusal))
    ref = run(make(sim, tmp_path, transport=transport),
              lambda c: c.destination.ensure_audience(spec()))  # fmt: skip
    assert sim.campaigns("segsync: VIP") == [ref.id]
    creates = [r for r in sim.requests if r.method == "POST" and r.path == path]
    assert len(creates) == 1  # a refused create never reached Salesforce; a lost one did


def test_other_audience_kinds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="use campaign"):
        run(make(sim_with(), tmp_path),
            lambda c: c.destination.ensure_audience(AudienceSpec("s", "x", "list")))  # fmt: skip


def test_member_status_is_created_on_the_campaign_and_per_sync(tmp_path: Path) -> None:
    sim = sim_with()
    a, b = people(sim, 2)
    connector = make(sim, tmp_path, member_status="Targeted", member_statuses={"event": "Invited"})
    ref, _ = push(connector, [([a], [])])
    assert (sim.record("CampaignMember", sim.org.member_id(ref.id, a) or "") or {})[
        "Status"
    ] == "Targeted"
    labels = {s["Label"] for s in sim.org.member_statuses(ref.id).values()}
    assert labels == {"Sent", "Responded", "Targeted"}
    event, _ = push(make(sim, tmp_path, member_statuses={"event": "Invited"}), [([b], [])],
                    spec("segsync: Event", sync="event"))  # fmt: skip
    member = sim.record("CampaignMember", sim.org.member_id(event.id, b) or "") or {}
    assert member["Status"] == "Invited"
    default, _ = push(make(sim, tmp_path), [([a], [])], spec("segsync: Plain"))
    member = sim.record("CampaignMember", sim.org.member_id(default.id, a) or "") or {}
    assert member["Status"] == "Sent"  # the campaign's default status


# -- members -----------------------------------------------------------------------------------


def test_adds_and_removes_go_in_collections_of_200(tmp_path: Path) -> None:
    sim = sim_with()
    keys = people(sim, 450)
    leads = [sim.insert("Lead", LastName=f"L{i}", Company="X") for i in range(30)]
    ref, (added, removed) = push(make(sim, tmp_path), [(keys + leads, []), ([], keys[:250])])
    assert all(r.ok for r in added + removed) and len(added) == 480 and len(removed) == 250
    assert sim.campaign_members(ref.id) == set(keys[250:] + leads)
    inserts = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/sobjects")]
    deletes = [r for r in sim.requests if r.method == "DELETE"]
    assert len(inserts) == 3 and len(deletes) == 2


def test_a_batch_sent_twice_is_harmless(tmp_path: Path) -> None:
    sim = sim_with()
    keys = people(sim, 5)
    ref, results = push(
        make(sim, tmp_path), [(keys, []), (keys, []), ([], keys[:2]), ([], keys[:2])]
    )
    assert all(r.ok for step in results for r in step)
    assert sim.campaign_members(ref.id) == set(keys[2:])


def test_records_salesforce_no_longer_has_fail_alone(tmp_path: Path) -> None:
    sim = sim_with()
    good, gone = people(sim, 2)
    sim.delete("Contact", gone)
    ref, (results,) = push(make(sim, tmp_path), [([good, gone, "not-an-id"], [])])
    by_key = {r.key: r for r in results}
    assert by_key[good].ok
    assert (
        not by_key[gone].ok
        and by_key[gone].permanent
        and "deleted or merged" in str(by_key[gone].error)
    )
    assert not by_key["not-an-id"].ok and by_key["not-an-id"].permanent
    assert sim.campaign_members(ref.id) == {good}


def test_converted_leads_are_addressed_through_their_contact(tmp_path: Path) -> None:
    sim = sim_with()
    contact = sim.insert("Contact", LastName="C", Email="c@example.org")
    lead = sim.insert("Lead", LastName="L", Company="X", Email="c@example.org")
    other = sim.insert("Lead", LastName="M", Company="X")
    ref, _ = push(make(sim, tmp_path), [([lead, other], [])])
    assert sim.campaign_members(ref.id) == {lead, other}
    sim.convert_lead(lead, contact)  # its old membership keeps the LeadId
    # adding it again (another campaign) adds the Contact; removing it removes both
    vip, (added,) = push(make(sim, tmp_path), [([lead], [])], spec("segsync: Other"))
    assert all(r.ok for r in added) and sim.campaign_members(vip.id) == {contact}
    _, (removed,) = push(make(sim, tmp_path), [([], [lead])])
    assert all(r.ok for r in removed) and sim.campaign_members(ref.id) == {other}
    _, (removed,) = push(make(sim, tmp_path), [([], [lead])], spec("segsync: Other"))
    assert sim.campaign_members(vip.id) == set()


def test_removing_non_members_and_strangers_is_harmless(tmp_path: Path) -> None:
    sim = sim_with()
    kept, never = people(sim, 2)
    ref, results = push(make(sim, tmp_path), [([kept], []), ([], [never, "junk"])])
    assert all(r.ok for step in results for r in step)
    assert sim.campaign_members(ref.id) == {kept}


# -- new members -------------------------------------------------------------------------------


def new(email: str, **kwargs: Any) -> Member:
    return Member(key=NEW_MEMBER_PREFIX + email, email=email, **kwargs)


def test_new_members_are_found_by_email_or_created_as_leads(tmp_path: Path) -> None:
    sim = sim_with()
    known = sim.insert("Contact", LastName="K", Email="Known@example.org")
    lead = sim.insert("Lead", LastName="L", Company="X", Email="lead@example.org")
    connector = make(sim, tmp_path, lead_source="segsync", lead_company="Prospect")
    members = [
        new("known@example.org"),
        new("lead@example.org"),
        new("fresh@example.org", phone="+33612345678"),
        new("nope@example.org", consent={Purpose.EMAIL_MARKETING: False}),
    ]
    ref, (results,) = push(connector, [(members, [])])
    delivered = {r.key: r.delivered_key for r in results}
    assert all(r.ok for r in results)
    assert delivered[NEW_MEMBER_PREFIX + "known@example.org"] == known
    assert delivered[NEW_MEMBER_PREFIX + "lead@example.org"] == lead
    fresh = sim.record("Lead", delivered[NEW_MEMBER_PREFIX + "fresh@example.org"] or "") or {}
    assert (fresh["Email"], fresh["Company"], fresh["LastName"], fresh["LeadSource"]) == (
        "fresh@example.org", "Prospect", "[not provided]", "segsync")  # fmt: skip
    assert fresh["Phone"] == "+33612345678" and fresh["HasOptedOutOfEmail"] is False
    nope = sim.record("Lead", delivered[NEW_MEMBER_PREFIX + "nope@example.org"] or "") or {}
    assert nope["HasOptedOutOfEmail"] is True  # the denial travels with the new Lead
    assert sim.campaign_members(ref.id) == {d for d in delivered.values() if d}
    # sent again (a crashed run): found, not made twice
    _, (again,) = push(make(sim, tmp_path), [(members, [])])
    assert {r.delivered_key for r in again} == set(delivered.values())
    assert len(sim.org.by_email("Lead", "fresh@example.org")) == 1


def test_a_lost_lead_create_answer_makes_no_duplicate(tmp_path: Path) -> None:
    sim = sim_with()
    transport = LoseFirstAnswer(sim.transport(), "POST", f"{V}/composite/sobjects")
    _, (results,) = push(make(sim, tmp_path, transport=transport), [([new("x@example.org")], [])])
    assert transport.lost == 1 and all(r.ok for r in results)
    assert len(sim.org.by_email("Lead", "x@example.org")) == 1


@pytest.mark.parametrize(
    ("rule", "allow", "creates"),
    [
        ("block", False, False),
        ("block", True, False),
        ("alert", False, False),
        ("alert", True, True),
    ],
)
def test_duplicate_rules(tmp_path: Path, rule: str, allow: bool, creates: bool) -> None:
    """Someone makes a Contact of that email between segsync's lookup and its create: the
    org's duplicate rule refuses the Lead (DUPLICATES_DETECTED) and segsync adds the record it
    names. An *Alert* rule lets the Lead through with ``allow_duplicate_save``."""
    sim = sim_with(lead_duplicate_rule=rule)
    made: list[str] = []

    def meanwhile() -> None:
        made.append(sim.insert("Contact", LastName="E", Email="dup@example.org"))

    transport = Before(sim.transport(), "POST", f"{V}/composite/sobjects", meanwhile)
    connector = make(sim, tmp_path, transport=transport, allow_duplicate_save=allow)
    ref, (results,) = push(connector, [([new("dup@example.org")], [])])
    (result,) = results
    assert result.ok
    if creates:
        assert str(result.delivered_key).startswith("00Q")
        assert sim.campaign_members(ref.id) == {result.delivered_key}
    else:
        assert result.delivered_key == made[0] and sim.campaign_members(ref.id) == set(made)
        assert sim.org.by_email("Lead", "dup@example.org") == []
