"""Whole `segsync run`s pushing to the Data Manager API simulator on loopback: faults on (5xx,
429 bursts, dropped connections, cut bodies) ending with exactly the consented members on the
list; consent per member; memberships refreshed before they expire; the list's size and match
rate in the report and in `segsync status`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from connector_kit import (
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    MANAGER,
    PROJECT,
    REFRESH,
    digest,
    simulator,
)

from projectkit import Project, contact
from segsync.connectors.google_ads import api
from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.model.identity import ad_email, ad_phone
from segsync.testing.simulator import Faults

pytestmark = pytest.mark.e2e
DAY = 86_400.0
ENV = {"SEGSYNC_CONNECTORS__GADS__CLIENT_SECRET": CLIENT_SECRET,
       "SEGSYNC_CONNECTORS__GADS__REFRESH_TOKEN": REFRESH}  # fmt: skip
STORM = Faults(error_rate=0.15, burst_429_rate=0.05, burst_429_length=3, drop_rate=0.1,
               malformed_rate=0.05, error_statuses=(500, 502, 503))  # fmt: skip

SYNCS = """
[connectors.gads]
type = "google_ads"
base_url = "{base_url}"
token_uri = "{base_url}/token"
operating_account_id = "{account}"
login_account_id = "{manager}"
client_id = "{client_id}"
quota_project = "{project}"
members_per_request = 3

[syncs.french_ads]
segment = "french"
destination = "gads"
audience = "segsync: French"
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0  # 2026-01-01

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MINUTE_PAUSE", 0.01)


@pytest.fixture
def google(project: Project) -> Iterator[DataManagerSimulator]:
    project.contacts += [contact(i) for i in range(7, 13)]
    project.contacts[6] = contact(7, ads="no")  # denied ad purposes
    project.contacts[7] = contact(8, ads="")  # unknown
    project.contacts[8] = contact(9, email="First.Last+promo@Gmail.com", phone="06 12 34 56 78")
    sim = simulator(wall_clock=Clock())
    sim.seed_contacts(project.contacts)
    with sim.serve() as served:
        project.extra_config = SYNCS.format(
            base_url=served.base_url, account=ACCOUNT, manager=MANAGER, client_id=CLIENT_ID,
            project=PROJECT,
        )  # fmt: skip
        project.write()
        yield sim


def _run(project: Project, *args: str) -> tuple[int, dict[str, Any]]:
    """``segsync -v run``: every run is also a canary — neither a secret nor any member's
    email or phone, raw or hashed, in its output or its debug logs."""
    result = project.cli("-v", "run", "--format", "json", *args, env=ENV)
    said = result.out + result.err
    assert REFRESH not in said and CLIENT_SECRET not in said
    for person in project.contacts:
        email, phone = person["email"].strip(), person["phone"]
        for value in (email, ad_email(email), ad_phone(phone, "FR"), phone):
            if value:
                assert value not in said and digest(value) not in said, "an identifier leaked"
    assert result.out, f"exit {result.code}: {result.err}"
    return result.code, json.loads(result.out)


def _run_until_settled(project: Project, runs: int = 8) -> list[dict[str, Any]]:
    reports = []
    for _ in range(runs):
        code, report = _run(project)
        reports.append(report)
        changes = sum(s["adds"] + s["removes"] + s["refreshes"] for s in report["syncs"])
        if code == 0 and changes == 0:
            return reports
    raise AssertionError(f"not settled after {runs} runs: {json.dumps(reports[-1])[:2000]}")


def _holding(sim: DataManagerSimulator, candidates: list[str]) -> set[str]:
    """The emails among ``candidates`` on the list (by the digest of their normalised form);
    fails if the list holds anyone else."""
    (listed,) = sim.state()["lists"]
    by_digest = {digest(ad_email(e) or ""): e for e in candidates}
    found = set()
    for m in sim.list_members(listed["id"]):
        emails = [by_digest[d] for d in m["identifiers"] if d in by_digest]
        assert emails, "someone segsync never sent is on the list"
        found.add(emails[0])
    return found


def _ads(report: dict[str, Any]) -> dict[str, Any]:
    (sync,) = [s for s in report["syncs"] if s["name"] == "french_ads"]
    return sync


def _emails(project: Project) -> list[str]:
    return [c["email"].strip().lower() for c in project.contacts if c["email"].strip()]


# french = country FR; with both ad purposes granted: not 2 (DE), not 7 (denied), not 8
# (unknown), not 6 (no email: Customer Match is addressed by email here)
FRENCH = {"alice@example.org", "person3@example.org", "person4@example.org",
          "person5@example.org", "first.last+promo@gmail.com", "person10@example.org",
          "person11@example.org", "person12@example.org"}  # fmt: skip


def test_runs_through_faults_end_with_exactly_the_consented_members(
    project: Project, google: DataManagerSimulator
) -> None:
    google.set_faults(STORM)
    reports = _run_until_settled(project)
    google.set_faults(Faults())
    assert _holding(google, _emails(project)) == FRENCH
    first = _ads(reports[0])
    assert first["skipped"]["no_consent"] == 2  # persons 7 and 8: counted, never sent
    assert first["required_consent"] == ["ad_personalization", "ad_user_data"]
    assert reports[0]["http"]["gads"]["retries"] > 0
    # the gmail address went normalised (dots and +suffix dropped), with its phone
    gmail = digest("firstlast@gmail.com")
    (on_list,) = [m for m in google.list_members(google.state()["lists"][0]["id"])
                  if gmail in m["identifiers"]]  # fmt: skip
    assert digest("+33612345678") in on_list["identifiers"]

    # consent changes: person 4 withdraws ad consent, person 8 grants it, alice leaves FR
    project.contacts[3] = contact(4, ads="no")
    project.contacts[7] = contact(8, ads="yes")
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.write()
    google.set_faults(STORM)
    _run_until_settled(project)
    google.set_faults(Faults())
    expected = (FRENCH - {"person4@example.org", "alice@example.org"}) | {"person8@example.org"}
    assert _holding(google, _emails(project)) == expected


def test_the_second_run_writes_nothing_and_the_list_is_read_back(
    project: Project, google: DataManagerSimulator
) -> None:
    code, report = _run(project)
    assert code == 0, report
    sync = _ads(report)
    listed = google.state()["lists"][0]
    assert sync["audience_size"] == listed["size"] and sync["audience_size"] > 0
    assert sync["match_rate"] == listed["match_rate"] / 100
    assert sync["audience_min_size"] == 100
    assert "below the 100 it needs to be served" in sync["audience_warning"]
    before = len(google.requests)
    code, again = _run(project)
    assert code == 0 and _ads(again)["adds"] == 0
    writes = [r for r in google.requests[before:]
              if r.method != "GET" and r.path != "/token"]  # fmt: skip
    assert writes == [], writes
    text = project.cli("run", env=ENV).out
    assert "audience french_ads:" in text and "match rate" in text
    assert "below the 100 it needs to be served" in text
    page = project.root / "report.html"
    assert project.cli("report", "--out", str(page), env=ENV).code == 0
    html = page.read_text(encoding="utf-8")
    attention = html[html.index('id="summary"') : html.index('id="syncs"')]
    assert "sync french_ads" in attention and "below the 100 it needs to be served" in attention
    assert f"{listed['size']} people" in html and f"{listed['match_rate']:.1f}%" in html
    status = project.cli("status", "--format", "json", env=ENV)
    (row,) = [r for r in json.loads(status.out)["syncs"] if r["sync"] == "french_ads"]
    assert row["platform_size"] == listed["size"]
    assert row["match_rate"] == f"{listed['match_rate']}%"
    assert "below the 100" in row["warning"]


def _age_deliveries(project: Project, days: float) -> None:
    """Move every delivery time in the store ``days`` into the past (time passing)."""
    con = duckdb.connect(str(project.root / "segsync.duckdb"))
    try:
        con.execute(f"UPDATE sync_state SET delivered_at = delivered_at - INTERVAL {int(days)} DAY")
    finally:
        con.close()


def test_members_are_refreshed_before_their_membership_expires(
    project: Project, google: DataManagerSimulator
) -> None:
    code, _ = _run(project)
    assert code == 0
    list_id = google.state()["lists"][0]["id"]
    first_expiry = {m["expires_at"] for m in google.list_members(list_id)}
    assert len(google.list_members(list_id)) == len(FRENCH)
    # 520 days pass: memberships (540 days) run out in 20; refresh_days defaults to 510
    google.advance(520 * DAY)
    _age_deliveries(project, 520)
    plan = project.cli("plan", env=ENV)
    assert f"refresh french_ads: {len(FRENCH)} member(s) last delivered over 510 days ago" in (
        plan.out
    )
    code, report = _run(project)
    sync = _ads(report)
    assert (sync["adds"], sync["removes"], sync["refreshes"]) == (0, 0, len(FRENCH))
    assert sync["applied_refreshes"] == len(FRENCH) and sync["refresh_days"] == 510
    page = project.root / "report.html"
    assert project.cli("report", "--out", str(page), env=ENV).code == 0
    assert f"{len(FRENCH)} refreshed before their membership expires" in page.read_text("utf-8")
    refreshed = {m["expires_at"] for m in google.list_members(list_id)}
    assert min(refreshed) == max(first_expiry) + 520 * DAY
    # 30 more days: past the first uploads' 540 days, and the list still holds everyone
    google.advance(30 * DAY)
    assert _holding(google, _emails(project)) == FRENCH
    # nothing is due any more
    code, report = _run(project)
    assert _ads(report)["refreshes"] == 0


def test_a_list_deleted_at_google_is_made_again_in_full(
    project: Project, google: DataManagerSimulator
) -> None:
    _run(project)
    (listed,) = google.state()["lists"]
    google.user_lists.lists[ACCOUNT].pop(listed["id"])
    code, report = _run(project)
    assert code == 0, report
    (again,) = google.state()["lists"]
    assert again["id"] != listed["id"]
    assert _holding(google, _emails(project)) == FRENCH


def test_refresh_days_beyond_the_membership_is_refused(
    project: Project, google: DataManagerSimulator
) -> None:
    project.extra_config += "refresh_days = 540\n"
    project.write()
    result = project.cli("check", env=ENV)
    assert result.code == 2
    assert "syncs.french_ads.refresh_days: 540 is not below the 540 days" in result.out + result.err
