"""``segsync forget`` end to end against all four platforms' simulators on loopback — HubSpot,
Mailchimp, Salesforce (over HTTPS with its local CA) and Google Ads Customer Match — beside the
files source and destination: a person in audiences on every platform is forgotten; every
simulator shows them removed (HubSpot's contact GDPR-deleted and Salesforce's Contact deleted,
their erasers being on); Google Ads' list no longer holds the SHA-256 digests of their email
and phone, and no raw identifier ever reached it; the DuckDB file holds no byte of their email
or phone; a later pull and run, with the person still in the sources, does not bring them
back; the receipt names every destination."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from projectkit import Project
from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.connectors.mailchimp.simulator import MailchimpSimulator
from segsync.connectors.salesforce.simulator import SalesforceSimulator

pytestmark = pytest.mark.e2e

TOKEN = "pat-na1-e2e-forget-0000"
KEY = "e2e0forget0key000000000000000000-us1"
SF_CLIENT, SF_SECRET = "3MVG9e2e.forget.consumer.key", "e2e-forget-salesforce-secret"
ADA, ADA_PHONE = "ada@example.org", "+33611112222"
BOB, BOB_PHONE = "bob@example.org", "+33633334444"

PLATFORMS = """
[connectors.hubspot]
type = "hubspot"
base_url = "{hubspot}"
deals = false
erase_records = "delete"

[connectors.mailchimp]
type = "mailchimp"
base_url = "{mailchimp}"
list_id = "{list_id}"
orders = false

[connectors.salesforce]
type = "salesforce"
login_url = "{salesforce}"
client_id = "{sf_client}"
opportunities = false
erase_records = "delete"

[connectors.google_ads]
type = "google_ads"
base_url = "{google_ads}"
token_uri = "{google_ads}/token"
operating_account_id = "{operating_account_id}"
login_account_id = "{login_account_id}"
quota_project = "{quota_project}"
client_id = "{gads_client}"

[syncs.hs_french]
segment = "french"
destination = "hubspot"
kind = "list"
audience = "French (segsync)"

[syncs.mc_french]
segment = "french"
destination = "mailchimp"
audience = "segsync: French"

[syncs.sf_french]
segment = "french"
destination = "salesforce"
kind = "campaign"
audience = "segsync: French"

[syncs.gads_french]
segment = "french"
destination = "google_ads"
kind = "customer_match"
audience = "segsync: French"
"""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class World:
    project: Project
    env: dict[str, str]
    hubspot: HubSpotSimulator
    mailchimp: MailchimpSimulator
    salesforce: SalesforceSimulator
    google_ads: DataManagerSimulator
    list_id: str
    sf_ids: dict[str, str]

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self.project.cli(*args, "--format", "json", env=self.env)
        assert result.out, f"exit {result.code}: {result.err}"
        return result.code, json.loads(result.out)

    def gads_digests(self) -> set[str]:
        """Every identifier digest (hex) in the Customer Match list."""
        lists = [
            r.list_id
            for r in self.google_ads.user_lists.all_lists()
            if r.display_name == "segsync: French"
        ]
        assert len(lists) == 1, lists
        return {d for m in self.google_ads.list_members(lists[0]) for d in m["identifiers"]}

    def everywhere(self, email: str, phone: str) -> dict[str, bool]:
        hs_list = self.hubspot.list_id("French (segsync)")
        hs_id = self.hubspot.contact_id(email)
        (campaign,) = self.salesforce.campaigns("segsync: French")
        sf_id = self.sf_ids[email]
        sf_record = self.salesforce.record("Contact", sf_id)
        in_gads = self.gads_digests()
        return {
            "hubspot contact": hs_id is not None,
            "hubspot list": hs_list is not None
            and hs_id is not None
            and hs_id in self.hubspot.list_members(hs_list),
            "mailchimp tag": email in self.mailchimp.tag_members(self.list_id, "segsync: French"),
            "salesforce contact": sf_record is not None and not sf_record["IsDeleted"],
            "salesforce campaign": sf_id in self.salesforce.campaign_members(campaign),
            "google ads email": digest(email) in in_gads,
            "google ads phone": digest(phone) in in_gads,
            "csv french": email in self.project.audience("French_newsletter"),
        }

    def store_bytes(self) -> bytes:
        path = self.project.root / "segsync.duckdb"
        wal = path.with_name(path.name + ".wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def world(project: Project) -> Iterator[World]:
    project.contacts[0].update(email=ADA, phone=ADA_PHONE)
    project.contacts[3].update(email=BOB, phone=BOB_PHONE)
    people = [c for c in project.contacts if c["email"]]
    hubspot = HubSpotSimulator(seed=11)
    hubspot.add_credential(TOKEN)
    mailchimp = MailchimpSimulator(seed=11)
    mailchimp.add_credential(KEY)
    list_id = mailchimp.create_list("Newsletter")
    mailchimp.seed_members(list_id, [{"email": c["email"], "status": "subscribed"} for c in people])
    salesforce = SalesforceSimulator(seed=11)
    salesforce.add_app(SF_CLIENT, SF_SECRET, run_as="integration@segsync.sandbox")
    google_ads = DataManagerSimulator(seed=11)
    sf_ids: dict[str, str] = {}
    for c in people:
        hubspot.add_contact(c["email"], phone=c["phone"], firstname=c["first_name"])
        sf_ids[c["email"]] = salesforce.insert(
            "Contact", Email=c["email"], Phone=c["phone"] or None, FirstName=c["first_name"],
            LastName="Example",
        )  # fmt: skip
        google_ads.add_google_user(emails=[c["email"]], phones=[c["phone"]] if c["phone"] else [])
    with (
        hubspot.serve() as hs,
        mailchimp.serve() as mc,
        salesforce.serve() as sf,
        google_ads.serve() as ga,
    ):
        creds = google_ads.credentials_for_sandbox()
        settings = google_ads.sandbox_settings()
        assert sf.ca_bundle is not None and sf.base_url.startswith("https://127.0.0.1:")
        env = {
            "SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": TOKEN,
            "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY,
            "SEGSYNC_CONNECTORS__SALESFORCE__CLIENT_SECRET": SF_SECRET,
            "SEGSYNC_CONNECTORS__SALESFORCE__CA_BUNDLE": sf.ca_bundle,
            "SEGSYNC_CONNECTORS__GOOGLE_ADS__CLIENT_SECRET": creds["client_secret"],
            "SEGSYNC_CONNECTORS__GOOGLE_ADS__REFRESH_TOKEN": creds["refresh_token"],
        }
        project.extra_config = PLATFORMS.format(
            hubspot=hs.base_url, mailchimp=mc.base_url, list_id=list_id,
            salesforce=sf.base_url, sf_client=SF_CLIENT, google_ads=ga.base_url,
            gads_client=creds["client_id"], **settings,
        )  # fmt: skip
        project.write()
        world = World(project, env, hubspot, mailchimp, salesforce, google_ads, list_id, sf_ids)
        code, report = world.json("run")
        assert code == 0, report
        assert all(world.everywhere(ADA, ADA_PHONE).values()), world.everywhere(ADA, ADA_PHONE)
        assert all(world.everywhere(BOB, BOB_PHONE).values()), world.everywhere(BOB, BOB_PHONE)
        yield world


def test_a_person_in_audiences_on_all_four_platforms_is_forgotten(world: World) -> None:
    code, receipt = world.json("forget", ADA)
    assert code == 0, receipt
    (request,) = receipt["requests"]
    assert request["status"] == "complete", request
    lines = {(d["instance"], d["action"], d["sync"]): (d["status"], d["outcome"])
             for d in request["destinations"]}  # fmt: skip
    assert lines == {  # every destination, and what it answered
        ("hubspot", "remove", "hs_french"): ("done", "removed"),
        ("hubspot", "erase", None): ("done", "deleted"),
        ("mailchimp", "remove", "mc_french"): ("done", "removed"),
        ("salesforce", "remove", "sf_french"): ("done", "removed"),
        ("salesforce", "erase", None): ("done", "deleted"),
        ("google_ads", "remove", "gads_french"): ("done", "removed"),
        ("out", "remove", "french_news"): ("done", "removed"),
        ("out", "remove", "buyers"): ("done", "removed"),
        ("shop", "none", None): ("not_delivered", None),
    }, lines
    gone = {key: False for key in world.everywhere(ADA, ADA_PHONE)}
    assert world.everywhere(ADA, ADA_PHONE) == gone
    # what Google held were the SHA-256 digests of the normalised email and phone (the
    # fixture's run put them there); neither is left, and Bob's still are
    assert {digest(BOB), digest(BOB_PHONE)} <= world.gads_digests()
    removals = [r for r in world.google_ads.requests if r.path.endswith("audienceMembers:remove")]
    assert removals and all(r.status == 200 for r in removals)
    data = world.store_bytes()
    assert ADA.encode() not in data and ADA_PHONE.encode() not in data

    # the person is still in the files export and the Mailchimp audience: a pull and a run
    # read them again, and they stay out everywhere
    world.project.write()
    code, report = world.json("run")
    assert code == 0, report
    assert world.everywhere(ADA, ADA_PHONE) == gone
    data = world.store_bytes()
    assert ADA.encode() not in data and ADA_PHONE.encode() not in data
    assert all(world.everywhere(BOB, BOB_PHONE).values())  # others untouched
