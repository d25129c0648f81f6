"""Whole `segsync run`s against the HubSpot simulator served on loopback, faults on: 429
storms, 423 locks, 477 migrations, 502s, dropped connections and truncated bodies. Every
scenario ends with HubSpot holding exactly the desired lists and property values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from projectkit import Project, contact
from segsync.connectors.hubspot import api
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.testing.simulator import Faults, ServedSimulator

pytestmark = pytest.mark.e2e
TOKEN = "pat-na1-e2e-secret-0000"
ENV = {"SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": TOKEN}
STORM = Faults(error_rate=0.15, burst_429_rate=0.05, burst_429_length=3, drop_rate=0.1,
               malformed_rate=0.05, error_statuses=(423, 477, 502))  # fmt: skip

SYNCS = """
[connectors.hubspot]
type = "hubspot"
base_url = "{base_url}"
requests_per_10s = 1000
properties = {{ first_name = "firstname" }}

[syncs.french_hs]
segment = "french"
destination = "hubspot"
kind = "list"
audience = "segsync: French"
require_consent = ["email_marketing"]

[syncs.buyers_hs]
segment = "buyers"
destination = "hubspot"
kind = "list"
audience = "segsync: Buyers"
on_missing = "create"

[syncs.buyers_prop]
segment = "buyers"
destination = "hubspot"
kind = "property"
audience = "buyers"

[syncs.french_prop]
segment = "french"
destination = "hubspot"
kind = "property"
audience = "French"
require_consent = ["email_marketing"]
"""


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "LOCKED_PAUSE", 0.01)


@pytest.fixture
def hubspot(project: Project) -> Iterator[tuple[HubSpotSimulator, ServedSimulator]]:
    sim = HubSpotSimulator(seed=7, burst=1000, migration_retry_after=0)
    sim.add_credential(TOKEN)
    # person 2 is not in HubSpot: only the buyers list (on_missing = "create") creates them
    for i in (1, 3, 4, 5):
        sim.add_contact(f"person{i}@example.org".replace("person1@", "alice@"), firstname=f"P{i}")
    sim.add_contact("hubspot.only@example.org", firstname="Hub", country="FR")
    sim.seed_deals(
        [
            {"dealname": "Won", "amount": "1200.50", "closedate": "2026-03-01T00:00:00Z",
             "dealstage": "closedwon", "contacts": [sim.contact_id("person4@example.org")]},
            {"dealname": "Open", "amount": "99", "closedate": "2026-03-02T00:00:00Z",
             "dealstage": "appointmentscheduled",
             "contacts": [sim.contact_id("person5@example.org")]},
        ]
    )  # fmt: skip
    with sim.serve() as served:
        project.extra_config = SYNCS.format(base_url=served.base_url)
        project.write()
        yield sim, served


def _run_until_settled(project: Project, runs: int = 6) -> list[dict[str, Any]]:
    reports = []
    for _ in range(runs):
        result = project.cli("run", "--format", "json", env=ENV)
        assert TOKEN not in result.out + result.err
        assert result.out, f"exit {result.code}: {result.err}"
        report = json.loads(result.out)
        reports.append(report)
        changes = sum(s["adds"] + s["removes"] for s in report["syncs"])
        if result.code == 0 and changes == 0:
            return reports
    raise AssertionError(f"not settled after {runs} runs: {json.dumps(reports[-1])[:2000]}")


def _ids(sim: HubSpotSimulator, *emails: str) -> set[str]:
    found = {sim.contact_id(e) for e in emails}
    assert None not in found, f"not in HubSpot: {emails}"
    return {i for i in found if i is not None}


def _holding(sim: HubSpotSimulator, option: str) -> set[str]:
    return {
        rid
        for rid, value in sim.property_values("segsync_segments").items()
        if option in value.split(";")
    }


def _check_exact(sim: HubSpotSimulator, french: set[str], buyers: set[str]) -> None:
    french_ids, buyer_ids = _ids(sim, *french), _ids(sim, *buyers)
    assert sim.list_members(sim.list_id("segsync: French") or "") == french_ids
    assert sim.list_members(sim.list_id("segsync: Buyers") or "") == buyer_ids
    assert _holding(sim, "french") == french_ids
    assert _holding(sim, "buyers") == buyer_ids


def test_runs_through_faults_end_exact(
    project: Project, hubspot: tuple[HubSpotSimulator, ServedSimulator]
) -> None:
    sim, _ = hubspot
    sim.set_faults(STORM)
    reports = _run_until_settled(project)
    sim.set_faults(Faults())
    # french: FR with granted consent (person 3 opted out, 5 unknown; the HubSpot-only
    # contact is FR but HubSpot's fields grant nothing). buyers: orders O1, O2 from the
    # shop files, and person 4's won deal from HubSpot; person 5's deal is not won.
    _check_exact(
        sim,
        french={"alice@example.org", "person4@example.org"},
        buyers={"alice@example.org", "person2@example.org", "person4@example.org"},
    )
    http = reports[0]["http"]["hubspot"]
    assert http["retries"] > 0 and http["requests"] > 0
    assert sim.contact(sim.contact_id("person2@example.org") or "")["properties"]["email"]

    # the people change: alice leaves France, person 2 moves there and opts in; person 4
    # stops being a buyer (the deal is lost)
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.contacts[1] = contact(2, country="FR")
    project.write()
    deal = next(d for d in sim.deals.values() if d["properties"]["dealname"] == "Won")
    deal["properties"]["dealstage"] = "closedlost"
    sim.set_faults(STORM)
    _run_until_settled(project)
    sim.set_faults(Faults())
    _check_exact(
        sim,
        french={"person2@example.org", "person4@example.org"},
        buyers={"alice@example.org", "person2@example.org"},
    )


def test_second_run_makes_no_write_calls(
    project: Project, hubspot: tuple[HubSpotSimulator, ServedSimulator]
) -> None:
    sim, _ = hubspot
    _run_until_settled(project)
    before = len(sim.requests)
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.code == 0, result.err
    writes = [
        r
        for r in sim.requests[before:]
        if r.method in ("PUT", "PATCH", "DELETE")
        or (r.method == "POST" and not r.path.endswith(("/search", "/batch/read")))
    ]
    assert writes == [], writes


def test_property_keeps_segments_it_does_not_manage(
    project: Project, hubspot: tuple[HubSpotSimulator, ServedSimulator]
) -> None:
    """Two syncs share the property, and a value segsync's syncs do not touch survives."""
    sim, _ = hubspot
    _run_until_settled(project)
    alice = sim.contact_id("alice@example.org") or ""
    assert set(sim.property_values("segsync_segments")[alice].split(";")) == {"buyers", "french"}
    # a marketer adds an option of their own in HubSpot and ticks it for alice
    options = sim.properties["segsync_segments"]["options"]
    options.append({"label": "VIP (manual)", "value": "vip_manual", "hidden": False,
                    "displayOrder": len(options), "description": ""})  # fmt: skip
    sim.contact(alice)["properties"]["segsync_segments"] = "buyers;french;vip_manual"
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.write()
    _run_until_settled(project)
    assert sim.property_values("segsync_segments")[alice] == "buyers;vip_manual"


def test_daily_limit_defers_the_syncs_and_the_next_run_finishes(
    project: Project, hubspot: tuple[HubSpotSimulator, ServedSimulator]
) -> None:
    sim, _ = hubspot
    sim.daily = 12  # enough for the pull and a little more, then HubSpot says DAILY
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.out, result.err
    report = json.loads(result.out)
    deferred = [s for s in report["syncs"] if s["status"] == "deferred"]
    assert result.code == 1, result.err
    assert deferred and "daily API limit" in deferred[0]["deferred"]
    assert not [s for s in report["syncs"] if s["status"] == "error"]
    sim.daily = 250_000  # midnight in the portal's time zone
    _run_until_settled(project)
    _check_exact(
        sim,
        french={"alice@example.org", "person4@example.org"},
        buyers={"alice@example.org", "person2@example.org", "person4@example.org"},
    )


def test_a_list_deleted_in_hubspot_is_made_again_in_full(
    project: Project, hubspot: tuple[HubSpotSimulator, ServedSimulator]
) -> None:
    """A marketer deletes the list segsync fills: the next run makes it again with everyone,
    not just with the people who joined since."""
    sim, _ = hubspot
    _run_until_settled(project)
    del sim.lists[sim.list_id("segsync: French") or ""]
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.code == 0, result.err
    assert "sending every member again" in result.err
    sync = next(s for s in json.loads(result.out)["syncs"] if s["name"] == "french_hs")
    assert sync["adds"] == 2 and sync["in_audience_before"] == 0
    _check_exact(
        sim,
        french={"alice@example.org", "person4@example.org"},
        buyers={"alice@example.org", "person2@example.org", "person4@example.org"},
    )
    _run_until_settled(project, runs=1)
