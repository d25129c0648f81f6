"""``segsync forget`` end to end against the HubSpot and Mailchimp simulators served on loopback,
with a files source and a files destination: a person in several audiences is forgotten; the
simulators show them removed (and deleted where configured); the DuckDB file holds no byte of
their email or phone; a later pull and run with the person still in a source does not bring
them back; the receipt lists every destination. A destination failing transiently is pending
until a later run completes it; a ``forget`` killed mid-way (``kill -9``) is completed by the
next ``forget`` or ``run``."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from projectkit import Project
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.connectors.mailchimp.simulator import MailchimpSimulator
from segsync.privacy.erasure import Erasures
from segsync.privacy.identifiers import Identifier, store_salt
from segsync.state.store import Store
from segsync.testing.simulator import Faults

pytestmark = pytest.mark.e2e

TOKEN = "pat-na1-e2e-forget-0000"
KEY = "e2e0forget0key000000000000000000-us1"
ENV = {"SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": TOKEN, "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY}
ADA, ADA_PHONE = "ada@example.org", "+33611112222"
BOB, BOB_PHONE = "bob@example.org", "+33633334444"
GDPR = "/crm/v3/objects/contacts/gdpr-delete"

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
erase_records = "{mailchimp_erase}"

[syncs.hs_french]
segment = "french"
destination = "hubspot"
kind = "list"
audience = "French (segsync)"

[syncs.mc_french]
segment = "french"
destination = "mailchimp"
audience = "segsync: French"
"""


@dataclass
class World:
    project: Project
    hubspot: HubSpotSimulator
    mailchimp: MailchimpSimulator
    list_id: str

    def cli(self, *args: str) -> Any:
        return self.project.cli(*args, env=ENV)

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self.cli(*args, "--format", "json")
        assert result.out, f"exit {result.code}: {result.err}"
        return result.code, json.loads(result.out)

    def everywhere(self, email: str) -> dict[str, bool]:
        """Where the person is now: each audience, and each platform's records."""
        hs_list = self.hubspot.list_id("French (segsync)")
        hs_id = self.hubspot.contact_id(email)
        return {
            "hubspot contact": hs_id is not None,
            "hubspot list": hs_list is not None
            and hs_id is not None
            and hs_id in self.hubspot.list_members(hs_list),
            "mailchimp member": email in self.mailchimp.member_emails(self.list_id),
            "mailchimp tag": email in self.mailchimp.tag_members(self.list_id, "segsync: French"),
            "csv french": email in self.project.audience("French_newsletter"),
            "csv buyers": email in self.project.audience("buyers"),
        }

    def store_bytes(self) -> bytes:
        path = self.project.root / "segsync.duckdb"
        wal = path.with_name(path.name + ".wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.project.root / "segsync.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


@pytest.fixture
def world(project: Project, request: pytest.FixtureRequest) -> Iterator[World]:
    mailchimp_erase = getattr(request, "param", "off")
    project.contacts[0].update(email=ADA, phone=ADA_PHONE)
    project.contacts[3].update(email=BOB, phone=BOB_PHONE)
    project.orders.append({"order_id": "O4", "customer_id": "C00004",
                           "ordered_at": "2026-02-03T10:00:00Z", "amount": "20"})  # fmt: skip
    hubspot = HubSpotSimulator(seed=11)
    hubspot.add_credential(TOKEN)
    mailchimp = MailchimpSimulator(seed=11)
    mailchimp.add_credential(KEY)
    list_id = mailchimp.create_list("Newsletter")
    for c in project.contacts:
        if c["email"]:
            hubspot.add_contact(c["email"], phone=c["phone"], firstname=c["first_name"])
    mailchimp.seed_members(
        list_id,
        [{"email": c["email"], "status": "subscribed"} for c in project.contacts if c["email"]],
    )
    with hubspot.serve() as hs, mailchimp.serve() as mc:
        project.extra_config = PLATFORMS.format(
            hubspot=hs.base_url, mailchimp=mc.base_url, list_id=list_id,
            mailchimp_erase=mailchimp_erase,
        )  # fmt: skip
        project.write()
        world = World(project, hubspot, mailchimp, list_id)
        code, report = world.json("run")
        assert code == 0, report
        assert all(world.everywhere(ADA).values()), world.everywhere(ADA)
        assert all(world.everywhere(BOB).values()), world.everywhere(BOB)
        yield world


def test_a_person_in_several_audiences_is_forgotten_everywhere(world: World) -> None:
    code, receipt = world.json("forget", ADA)
    assert code == 0, receipt
    (request,) = receipt["requests"]
    assert request["status"] == "complete"
    lines = {(d["instance"], d["action"], d["sync"]): (d["status"], d["outcome"])
             for d in request["destinations"]}  # fmt: skip
    assert lines == {  # every destination, and what it answered
        ("hubspot", "remove", "hs_french"): ("done", "removed"),
        ("hubspot", "erase", None): ("done", "deleted"),
        ("mailchimp", "remove", "mc_french"): ("done", "removed"),
        ("out", "remove", "french_news"): ("done", "removed"),
        ("out", "remove", "buyers"): ("done", "removed"),
        ("shop", "none", None): ("not_delivered", None),
    }
    where = world.everywhere(ADA)
    # removed from every audience; deleted at HubSpot (erase_records = "delete"); still a
    # Mailchimp member (erase_records off there)
    assert where == {"hubspot contact": False, "hubspot list": False, "mailchimp member": True,
                     "mailchimp tag": False, "csv french": False, "csv buyers": False}  # fmt: skip
    assert len(world.hubspot.gdpr_deleted()) == 1 and world.hubspot.blocklisted(ADA)
    data = world.store_bytes()
    assert ADA.encode() not in data and ADA_PHONE.encode() not in data
    assert BOB.encode() in data or world.rows(
        f"SELECT count(*) FROM profiles WHERE email = '{BOB}'"
    )

    # the person is still in two sources (the files export, the Mailchimp audience): a pull
    # and a run read them again, and they stay out
    world.project.write()
    code, report = world.json("run")
    assert code == 0, report
    assert world.everywhere(ADA) == where
    assert world.hubspot.contact_id(ADA) is None  # never re-created in HubSpot
    data = world.store_bytes()
    assert ADA.encode() not in data and ADA_PHONE.encode() not in data
    assert world.rows(f"SELECT count(*) FROM profiles WHERE email = '{BOB}'") == [(1,)]
    assert all(world.everywhere(BOB).values())  # others untouched
    # the erasure record holds no personal data
    record = world.rows("SELECT CAST(erasures AS VARCHAR) FROM erasures")[0][0]
    # (not "ada": the identifier's hash is hex, and "ada" is hex too)
    assert "@" not in record and "example.org" not in record and ADA_PHONE[1:] not in record


@pytest.mark.parametrize("world", ["delete"], indirect=True)
def test_a_destination_failing_transiently_is_pending_until_a_later_run(world: World) -> None:
    down = Faults(error_rate=1.0, error_statuses=(503,), only_paths=("/3.0/lists",))
    world.mailchimp.set_faults(down)
    code, receipt = world.json("forget", BOB)
    assert code == 1, receipt  # retry later
    (request,) = receipt["requests"]
    assert receipt["status"] == "pending" and request["status"] == "pending"
    lines = {(d["instance"], d["action"]): d for d in request["destinations"]}
    assert lines[("mailchimp", "remove")]["status"] == "pending"
    assert "503" in lines[("mailchimp", "remove")]["error"]
    assert lines[("mailchimp", "erase")]["status"] == "pending"  # waits for the removal
    assert lines[("hubspot", "erase")]["status"] == "done"
    assert world.everywhere(BOB)["mailchimp tag"] and not world.everywhere(BOB)["hubspot contact"]
    # the store no longer holds Bob, except the address the pending removal needs
    assert world.rows(f"SELECT count(*) FROM profiles WHERE email = '{BOB}'") == [(0,)]
    assert world.rows("SELECT count(*) FROM erasure_tasks WHERE status = 'pending'") == [(2,)]

    world.mailchimp.set_faults(Faults())
    code, report = world.json("run")
    assert code == 0, report
    assert report["privacy"]["erasures_completed"] == 1
    assert report["privacy"]["erasures_pending"] == 0
    assert world.everywhere(BOB) == {key: False for key in world.everywhere(BOB)}
    assert world.mailchimp.forgotten_emails(world.list_id, [BOB]) == {BOB}
    data = world.store_bytes()
    assert BOB.encode() not in data and BOB_PHONE.encode() not in data
    listed = json.loads(world.cli("erasures", "--format", "json").out)
    assert [r["status"] for r in listed] == ["complete"]


def _kill_when(process: Any, ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the forget never reached the point to kill it"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it and closes its pipes


@pytest.mark.parametrize("world", ["delete"], indirect=True)
@pytest.mark.parametrize("finisher", ["forget", "run"])
def test_a_forget_killed_mid_way_is_completed_by_the_next_forget_or_run(
    world: World, finisher: str
) -> None:
    hubspot = world.hubspot
    hs_list = hubspot.list_id("French (segsync)")
    assert hs_list is not None
    ada_id = hubspot.contact_id(ADA)
    # slow GDPR deletes: the process is killed while HubSpot deletes
    hubspot.set_faults(Faults(latency=5.0, only_paths=(GDPR,)))
    process = world.project.spawn("forget", ADA, env=ENV)
    _kill_when(process, lambda: ada_id not in hubspot.list_members(hs_list))
    assert process.returncode == -signal.SIGKILL
    hubspot.set_faults(Faults())
    time.sleep(5.5)  # the request in flight when it was killed may still land

    result = world.cli(finisher, "--format", "json")
    assert result.code == 0, result.out + result.err
    out = json.loads(result.out)
    if finisher == "forget":
        (resumed,) = out["resumed"]
        assert resumed["status"] == "complete"
    else:
        assert out["privacy"]["erasures_completed"] == 1
    assert world.everywhere(ADA) == {key: False for key in world.everywhere(ADA)}
    assert world.rows("SELECT status FROM erasures") == [("complete",)]
    data = world.store_bytes()
    assert ADA.encode() not in data and ADA_PHONE.encode() not in data


@pytest.mark.parametrize("world", ["delete"], indirect=True)
def test_a_forget_killed_before_erasing_the_store_is_resumed_from_its_hash(world: World) -> None:
    # what a forget killed right after registering its request leaves: the request, with the
    # identifier's salted hash only
    path = world.project.root / "segsync.duckdb"
    with Store.open(path) as store, store.transaction():
        salt = store_salt(store.engine)
        assert salt is not None
        Erasures(store.engine).register("killed", [Identifier("email", BOB, BOB)], salt, ["E1"])
    code, report = world.json("run")
    assert code == 0, report
    assert report["privacy"] == {
        **report["privacy"],
        "erasures_resumed": 1,
        "erasures_completed": 1,
    }
    assert world.everywhere(BOB) == {key: False for key in world.everywhere(BOB)}
    assert BOB.encode() not in world.store_bytes()
    # his records in the three sources: the files export, HubSpot, Mailchimp
    assert world.rows("SELECT status, erased->>'records' FROM erasures") == [("complete", "3")]


def test_the_receipt_in_text(world: World) -> None:
    result = world.cli("forget", ADA, "nobody@example.org")
    assert result.code == 0, result.err
    text = result.out
    assert "a***@example.org" in text and "complete" in text and "not found" in text
    assert "hubspot (hubspot)" in text and "erase the record" in text and "deleted" in text
    assert ADA not in text
