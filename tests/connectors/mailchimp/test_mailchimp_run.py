"""Whole `segsync run`s against the Mailchimp simulator served on loopback, faults on (5xx,
429 bursts, dropped connections, truncated bodies): every scenario ends with exactly the
desired tags, and no one is subscribed without granted consent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from projectkit import Project, contact
from segsync.connectors.mailchimp.simulator import MailchimpSimulator
from segsync.testing.simulator import Faults, ServedSimulator

pytestmark = pytest.mark.e2e
KEY = "e2e0secret0key0000000000000000000-us1"
ENV = {"SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY}
STORM = Faults(error_rate=0.15, burst_429_rate=0.05, burst_429_length=2, drop_rate=0.1,
               malformed_rate=0.05)  # fmt: skip

SYNCS = """
[connectors.mailchimp]
type = "mailchimp"
base_url = "{base_url}"
list_id = "{list_id}"
merge_fields = {{ first_name = "FNAME" }}

[syncs.french_tag]
segment = "french"
destination = "mailchimp"
audience = "segsync: French"
require_consent = ["email_marketing"]

[syncs.buyers_tag]
segment = "buyers"
destination = "mailchimp"
audience = "Buyers"
on_missing = "create"
"""


@pytest.fixture
def mailchimp(project: Project) -> Iterator[tuple[MailchimpSimulator, str]]:
    sim = MailchimpSimulator(seed=5)
    sim.add_credential(KEY)
    list_id = sim.create_list("Newsletter")
    sim.seed_members(
        list_id,
        [
            {"email": "alice@example.org", "status": "subscribed", "first_name": "Alice"},
            {"email": "person3@example.org", "status": "unsubscribed"},
            {"email": "person4@example.org", "status": "subscribed"},
            {"email": "person5@example.org", "status": "pending"},
            {"email": "mc.only@example.org", "status": "subscribed"},
        ],
    )
    sim.create_store("shop-1", list_id=list_id, currency_code="EUR")
    sim.seed_orders("shop-1", [{"id": "M1", "email": "person5@example.org",
                                "order_total": "42.00", "processed_at": "2026-03-01T10:00:00+00:00"}])  # fmt: skip
    # person 7 buys but said no to email marketing, and is not on the audience
    project.contacts.append(contact(7, country="DE", opt_in="no"))
    project.orders.append({"order_id": "O7", "customer_id": "C00007",
                           "ordered_at": "2026-02-03T10:00:00Z", "amount": "5"})  # fmt: skip
    served: ServedSimulator
    with sim.serve() as served:
        project.extra_config = SYNCS.format(base_url=served.base_url, list_id=list_id)
        project.write()
        yield sim, list_id


def _run_until_settled(project: Project, *args: str, runs: int = 6) -> list[dict[str, Any]]:
    reports = []
    for _ in range(runs):
        result = project.cli("run", "--format", "json", *args, env=ENV)
        assert KEY not in result.out + result.err
        assert result.out, f"exit {result.code}: {result.err}"
        report = json.loads(result.out)
        reports.append(report)
        if sum(s["adds"] + s["removes"] for s in report["syncs"]) == 0:
            return reports
    raise AssertionError(f"not settled after {runs} runs: {json.dumps(reports[-1])[:2000]}")


def test_runs_through_faults_end_with_exact_tags(
    project: Project, mailchimp: tuple[MailchimpSimulator, str]
) -> None:
    sim, list_id = mailchimp
    before = {e: (sim.member(list_id, e) or {}).get("status") for e in sim.member_emails(list_id)}
    sim.set_faults(STORM)
    reports = _run_until_settled(project)
    sim.set_faults(Faults())
    # french: FR with granted consent (3 unsubscribed, 5 pending); buyers: O1, O2 from the
    # shop files and person 5's Mailchimp order; person 2 is created (consent granted in the
    # shop's files); person 7 is not (no consent, new_members = "skip")
    assert sim.tag_members(list_id, "segsync: French") == {
        "alice@example.org",
        "person4@example.org",
    }
    assert sim.tag_members(list_id, "Buyers") == {
        "alice@example.org",
        "person2@example.org",
        "person5@example.org",
    }
    assert (sim.member(list_id, "person2@example.org") or {})["status"] == "subscribed"
    assert sim.member(list_id, "person7@example.org") is None
    for email, status in before.items():  # no one's status was changed
        assert (sim.member(list_id, email) or {}).get("status") == status
    assert reports[0]["http"]["mailchimp"]["requests"] > 0
    # person 7 is counted as unmatched (not on the audience, cannot be created), not failed
    buyers = next(s for s in reports[-1]["syncs"] if s["name"] == "buyers_tag")
    assert buyers["skipped"]["unmatched"] == 1 and buyers["failed"] == 0
    assert all(r["exit_code"] in (0, 1) for r in reports)

    # people change: alice and person 4 leave France
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.contacts[3] = contact(4, country="DE")
    project.write()
    sim.set_faults(STORM)
    _run_until_settled(project, "--force")  # everyone leaves: past the removal guard
    sim.set_faults(Faults())
    assert sim.tag_members(list_id, "segsync: French") == set()
    # a second, settled run made no write calls
    mark = len(sim.requests)
    result = project.cli("run", "--format", "json", env=ENV)
    assert result.code == 0, result.err
    assert not [r for r in sim.requests[mark:] if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def test_unsubscribed_in_mailchimp_wins_over_an_older_grant(
    project: Project, mailchimp: tuple[MailchimpSimulator, str]
) -> None:
    """person 3 said yes in the shop long ago, then unsubscribed in Mailchimp: no French tag."""
    sim, list_id = mailchimp
    project.contacts[2] = contact(3, opt_in="yes", updated="2020-01-01T00:00:00Z")
    project.write()
    _run_until_settled(project)
    assert "person3@example.org" not in sim.tag_members(list_id, "segsync: French")
    assert (sim.member(list_id, "person3@example.org") or {})["status"] == "unsubscribed"
