"""Whole `segsync run`s against the Salesforce simulator served over HTTPS on loopback, faults
on: 5xx, the long-request cap, dropped connections, truncated bodies, sessions that end.
Every scenario ends with Salesforce holding exactly the desired campaign members."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from sfkit import no_wait

from projectkit import Project, contact
from segsync.connectors.salesforce import api
from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceSimulator,
)
from segsync.testing.simulator import Faults, ServedSimulator

pytestmark = pytest.mark.e2e
ENV = {"SEGSYNC_CONNECTORS__SALESFORCE__CLIENT_SECRET": DEFAULT_CLIENT_SECRET}
STORM = Faults(error_rate=0.15, burst_429_rate=0.05, burst_429_length=3, drop_rate=0.1,
               malformed_rate=0.05, error_statuses=(500, 502, 503))  # fmt: skip

SYNCS = """
[connectors.salesforce]
type = "salesforce"
login_url = "{base_url}"
client_id = "{client_id}"
ca_bundle = "{ca_bundle}"
bulk_threshold = 2
bulk_poll_seconds = 0.01
contact_fields = {{ first_name = "FirstName" }}
lead_fields = {{ first_name = "FirstName" }}
{extra}

[syncs.french_sf]
segment = "french"
destination = "salesforce"
audience = "segsync: French"
require_consent = ["email_marketing"]

[syncs.buyers_sf]
segment = "buyers"
destination = "salesforce"
audience = "segsync: Buyers"
on_missing = "create"
"""


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "pause", no_wait)
    monkeypatch.setattr(api, "LONG_TXN_PAUSE", 0.0)


def serve(project: Project, sim: SalesforceSimulator, extra: str = "") -> ServedSimulator:
    served = sim.serve()  # HTTPS, with a local CA
    project.extra_config = SYNCS.format(
        base_url=served.base_url, client_id=DEFAULT_CLIENT_ID, ca_bundle=served.ca_bundle,
        extra=extra,
    )  # fmt: skip
    project.write()
    return served


@pytest.fixture
def salesforce(project: Project) -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator(seed=7)
    ids = {
        "alice": sim.insert("Contact", FirstName="P1", LastName="A", Email="alice@example.org"),
        "p3": sim.insert("Contact", FirstName="P3", LastName="C", Email="person3@example.org"),
        "p4": sim.insert("Contact", FirstName="P4", LastName="D", Email="person4@example.org"),
        "p4_lead": sim.insert("Lead", LastName="D", Company="X", Email="PERSON4@example.org"),
        "p5": sim.insert("Lead", FirstName="P5", LastName="E", Company="Y",
                         Email="person5@example.org"),
        "only": sim.insert("Contact", LastName="Only", Email="sf.only@example.org",
                           MailingCountry="FR"),
    }  # fmt: skip
    # person 5 was a Lead converted into a Contact of their own
    p5c = sim.insert("Contact", LastName="E", Email="person5@example.org")
    sim.convert_lead(ids["p5"], p5c)
    won = sim.insert("Opportunity", Name="Won", StageName="Closed Won", CloseDate="2026-03-01",
                     Amount=1200.5)  # fmt: skip
    sim.insert("OpportunityContactRole", OpportunityId=won, ContactId=ids["p4"], IsPrimary=True)
    sim.insert("Opportunity", Name="Open", StageName="Prospecting", CloseDate="2026-03-02",
               Amount=99, ContactId=p5c)  # fmt: skip
    sim.ids_by_name = {**ids, "p5c": p5c, "won": won}  # type: ignore[attr-defined]
    with serve(project, sim):
        yield sim


def _run_until_settled(project: Project, runs: int = 8) -> list[dict[str, Any]]:
    reports = []
    for _ in range(runs):
        result = project.cli("run", "--format", "json", env=ENV)
        assert DEFAULT_CLIENT_SECRET not in result.out + result.err
        assert result.out, f"exit {result.code}: {result.err}"
        report = json.loads(result.out)
        reports.append(report)
        changes = sum(s["adds"] + s["removes"] for s in report["syncs"])
        if result.code == 0 and changes == 0:
            return reports
    raise AssertionError(f"not settled after {runs} runs: {json.dumps(reports[-1])[:3000]}")


def _ids(sim: SalesforceSimulator, *names: str) -> set[str]:
    known: dict[str, str] = sim.ids_by_name  # type: ignore[attr-defined]
    return {known[n] for n in names}


def _members(sim: SalesforceSimulator, campaign: str) -> set[str]:
    (found,) = sim.campaigns(campaign)
    return sim.campaign_members(found)


def _lead_of(sim: SalesforceSimulator, email: str) -> str:
    (lead,) = [r["Id"] for r in sim.org.by_email("Lead", email) if not r["IsDeleted"]]
    return str(lead)


def test_runs_through_faults_end_exact(project: Project, salesforce: SalesforceSimulator) -> None:
    sim = salesforce
    sim.set_faults(STORM)
    reports = _run_until_settled(project)
    sim.set_faults(Faults())
    # french: FR with granted consent — alice and person 4 (the shop grants, Salesforce only
    # ever denies), person 4 addressed by the Contact, not the Lead of the same email.
    # buyers: orders O1 (alice), O2 (person 2, not in Salesforce: created as a Lead) from the
    # shop, and person 4's won Opportunity; person 5's Opportunity is open.
    assert _members(sim, "segsync: French") == _ids(sim, "alice", "p4")
    person2 = _lead_of(sim, "person2@example.org")
    assert _members(sim, "segsync: Buyers") == _ids(sim, "alice", "p4") | {person2}
    http = reports[0]["http"]["salesforce"]
    assert http["retries"] > 0 and http["requests"] > 0
    assert any(r.fault for r in sim.requests)

    # the people change: alice leaves France, person 3 opts in and person 4's deal is lost
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.contacts[2] = contact(3, opt_in="yes")
    project.write()
    sim.update("Opportunity", _ids(sim, "won").pop(), StageName="Closed Lost")
    sim.set_faults(STORM)
    _run_until_settled(project)
    sim.set_faults(Faults())
    assert _members(sim, "segsync: French") == _ids(sim, "p3", "p4")
    assert _members(sim, "segsync: Buyers") == _ids(sim, "alice") | {person2}


def test_sessions_ending_mid_run_log_in_again(
    project: Project, salesforce: SalesforceSimulator
) -> None:
    sim = salesforce
    sim.oauth.session_lifetime = 0.05  # every session ends almost at once
    _run_until_settled(project)
    assert _members(sim, "segsync: French") == _ids(sim, "alice", "p4")
    assert sum(1 for r in sim.requests if r.status == 401) > 0


def test_second_run_makes_no_write_calls(project: Project, salesforce: SalesforceSimulator) -> None:
    sim = salesforce
    _run_until_settled(project)
    before = len(sim.requests)
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.code == 0, result.err
    writes = [
        r
        for r in sim.requests[before:]
        if r.method in ("PATCH", "DELETE")
        or (r.method == "POST" and not r.path.endswith(("/token", "/jobs/query")))
    ]
    assert writes == [], writes


def test_used_up_daily_allocation_defers_and_the_next_run_finishes(
    project: Project, salesforce: SalesforceSimulator
) -> None:
    sim = salesforce
    # a run makes 20 calls: 13 to pull, 7 to push; past 90 % of 15 segsync stops on its own
    sim.limits.daily_api_requests = 15
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.out, result.err
    report = json.loads(result.out)
    assert result.code == 1, result.err
    deferred = [s for s in report["syncs"] if s["status"] == "deferred"]
    assert deferred and "daily API" in deferred[0]["deferred"], report["syncs"]
    assert not [s for s in report["syncs"] if s["status"] == "error"]
    sim.limits.daily_api_requests = 100_000  # a day later
    _run_until_settled(project)
    assert _members(sim, "segsync: French") == _ids(sim, "alice", "p4")


def test_used_up_allocation_during_the_pull_is_retried_later(
    project: Project, salesforce: SalesforceSimulator
) -> None:
    sim = salesforce
    sim.limits.daily_api_requests = 3
    result = project.cli("run", "--format", "json", env=ENV)
    report = json.loads(result.out)
    assert result.code == 1, result.err  # retry later, not a configuration error
    (source,) = [s for s in report["sources"] if s["instance"] == "salesforce"][:1]
    assert source["transient"] and "daily API" in source["error"]
    sim.limits.daily_api_requests = 100_000
    _run_until_settled(project)


@pytest.mark.parametrize("history", [True, False])
def test_a_withdrawal_in_salesforce_leaves_a_consented_only_campaign(
    project: Project, history: bool
) -> None:
    """Anna said yes to email in the shop in January. Later she ticks "Email Opt Out" in
    Salesforce: the next run removes her from the consented-only campaign — whether the
    answer is dated by the field history or, without it, by the pull that saw it."""
    sim = SalesforceSimulator(seed=9, tracked_fields=("HasOptedOutOfEmail",) if history else ())
    anna = sim.insert("Contact", FirstName="Anna", LastName="A", Email="anna@example.org")
    other = sim.insert("Contact", FirstName="Otto", LastName="O", Email="otto@example.org")
    project.contacts = [
        contact(1, email="anna@example.org", opt_in="yes", updated="2026-01-10T09:00:00Z"),
        contact(2, email="otto@example.org", opt_in="yes", updated="2026-01-10T09:00:00Z"),
    ]
    with serve(project, sim, extra=f"consent_history = {str(history).lower()}"):
        _run_until_settled(project)
        assert _members(sim, "segsync: French") == {anna, other}
        sim.update("Contact", anna, HasOptedOutOfEmail=True)  # now, in Salesforce
        result = project.cli("run", "--format", "json", env=ENV)
        assert result.code == 0, result.err
        french = next(s for s in json.loads(result.out)["syncs"] if s["name"] == "french_sf")
        assert french["removes"] == 1 and french["adds"] == 0
        assert _members(sim, "segsync: French") == {other}
        _run_until_settled(project)  # and she stays out
        assert _members(sim, "segsync: French") == {other}


def test_new_leads_only_for_people_with_the_consent_the_sync_requires(project: Project) -> None:
    """``on_missing = "create"`` on a sync requiring email-marketing consent: of three French
    shop customers Salesforce has never seen, only the one who said yes becomes a Lead (and a
    campaign member); the one who said no and the one who never answered are counted, not
    created — and stay so on later runs."""
    sim = SalesforceSimulator(seed=11)
    project.contacts = [
        contact(1, email="yes@example.org", opt_in="yes"),
        contact(2, email="no@example.org", opt_in="no"),
        contact(3, email="unknown@example.org", opt_in=""),
    ]
    project.orders = []
    with serve(project, sim):
        project.extra_config += textwrap.dedent("""
            [syncs.fr_new]
            segment = "french"
            destination = "salesforce"
            audience = "segsync: FR new"
            require_consent = ["email_marketing"]
            on_missing = "create"
            """)
        project.write()
        reports = _run_until_settled(project)
        (first,) = [s for s in reports[0]["syncs"] if s["name"] == "fr_new"]
        assert first["applied_adds"] == 1 and first["skipped"]["no_consent"] == 2, first
        leads = {r["Email"]: r["Id"] for r in sim.org.records["Lead"].values()}
        assert set(leads) == {"yes@example.org"}
        assert _members(sim, "segsync: FR new") == {leads["yes@example.org"]}
