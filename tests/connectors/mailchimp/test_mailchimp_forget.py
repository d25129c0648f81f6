"""Mailchimp's permanent delete: the simulator's ``…/actions/delete-permanent`` and the
"Forgotten Email Not Subscribed" refusal that follows it (recorded answers), and the
connector's eraser role on top of them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync.connector import ConnectorContext, Person
from segsync.connectors.mailchimp.connector import MailchimpConnector
from segsync.connectors.mailchimp.settings import MailchimpSettings
from segsync.connectors.mailchimp.simulator import MailchimpSimulator, subscriber_hash
from segsync.errors import AuthError

KEY = "0123456789abcdef0123456789abcdef-us1"
BASE = "http://us1.api.mailchimp.test/3.0"
FORGOTTEN = "was permanently deleted and cannot be re-imported"


def sim_with(**kwargs: Any) -> MailchimpSimulator:
    sim = MailchimpSimulator(seed=2, **kwargs)
    sim.add_credential(KEY)
    list_id = sim.create_list("Main")
    sim.seed_members(
        list_id,
        [
            {"email": "ada@example.org", "status": "subscribed"},
            {"email": "bob@example.org", "status": "subscribed"},
            {"email": "old@example.org", "status": "archived"},
        ],
    )
    return sim


async def _call(sim: MailchimpSimulator, method: str, path: str, **kw: Any) -> httpx.Response:
    auth = base64.b64encode(f"any:{KEY}".encode()).decode()
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=BASE, headers={"Authorization": f"Basic {auth}"}
    ) as http:
        return await http.request(method, path, **kw)


def call(sim: MailchimpSimulator, method: str, path: str, **kw: Any) -> httpx.Response:
    return asyncio.run(_call(sim, method, path, **kw))


def test_delete_permanent_forgets_the_member_and_refuses_to_import_it_again() -> None:
    sim = sim_with()
    list_id = sim.default_list_id()
    segment = sim.tag_api.new(list_id, "vip", None)
    call(sim, "POST", f"/lists/{list_id}/segments/{segment['id']}",
         json={"members_to_add": ["ada@example.org", "bob@example.org"]})  # fmt: skip
    ada = subscriber_hash("ada@example.org")
    member = f"/lists/{list_id}/members/{ada}"

    gone = call(sim, "POST", f"{member}/actions/delete-permanent")
    assert gone.status_code == 204 and gone.content == b"" and gone.headers["x-request-id"]
    assert sim.member(list_id, "ada@example.org") is None
    assert sim.tag_members(list_id, "vip") == {"bob@example.org"}
    assert sim.forgotten_emails(list_id, ["ada@example.org", "bob@example.org"]) == {
        "ada@example.org"
    }
    assert call(sim, "GET", member).status_code == 404
    assert call(sim, "POST", f"{member}/actions/delete-permanent").status_code == 404

    # the API can never add the address back: PUT, POST and batch subscribe all refuse it
    put = call(sim, "PUT", member,
               json={"email_address": "ada@example.org", "status_if_new": "subscribed"})  # fmt: skip
    assert put.status_code == 400
    assert put.headers["content-type"] == "application/problem+json; charset=utf-8"
    problem = put.json()
    assert problem["title"] == "Forgotten Email Not Subscribed"
    assert problem["detail"] == (
        "ada@example.org was permanently deleted and cannot be re-imported. The contact must "
        "re-subscribe to get back on the list."
    )
    post = call(sim, "POST", f"/lists/{list_id}/members",
                json={"email_address": "Ada@Example.org", "status": "pending"})  # fmt: skip
    assert post.status_code == 400 and FORGOTTEN in post.json()["detail"]
    batch = call(sim, "POST", f"/lists/{list_id}", json={"members": [
        {"email_address": "ada@example.org", "status": "subscribed"},
        {"email_address": "new@example.org", "status": "subscribed"}]})  # fmt: skip
    answer = batch.json()
    assert answer["total_created"] == 1 and answer["error_count"] == 1
    assert FORGOTTEN in answer["errors"][0]["error"]
    # a bulk tag add ignores the address, as it ignores anyone not on the audience
    bulk = call(sim, "POST", f"/lists/{list_id}/segments/{segment['id']}",
                json={"members_to_add": ["ada@example.org"]})  # fmt: skip
    assert bulk.json()["total_added"] == 0
    assert sim.member(list_id, "ada@example.org") is None


def test_an_archived_member_can_be_deleted_for_good_too() -> None:
    sim = sim_with()
    list_id = sim.default_list_id()
    old = subscriber_hash("old@example.org")
    assert (
        call(sim, "POST", f"/lists/{list_id}/members/{old}/actions/delete-permanent").status_code
        == 204
    )
    assert sim.members[list_id].get(old) is None


def test_forgotten_addresses_can_be_allowed_back_for_other_scenarios() -> None:
    sim = sim_with(forgotten_blocks_reimport=False)
    list_id = sim.default_list_id()
    ada = subscriber_hash("ada@example.org")
    call(sim, "POST", f"/lists/{list_id}/members/{ada}/actions/delete-permanent")
    put = call(sim, "PUT", f"/lists/{list_id}/members/{ada}",
               json={"email_address": "ada@example.org", "status_if_new": "subscribed"})  # fmt: skip
    assert put.status_code == 200


# -- the eraser role ---------------------------------------------------------------------------


def connector(sim: MailchimpSimulator, tmp_path: Path, **settings: Any) -> MailchimpConnector:
    values = {"api_key": KEY, "base_url": BASE, "list_id": sim.default_list_id(), **settings}
    context = ConnectorContext("mc", tmp_path, tmp_path / "work", transport=sim.transport())
    return MailchimpConnector(MailchimpSettings(**values), context)


def test_the_eraser_is_opt_in_per_instance(tmp_path: Path) -> None:
    sim = sim_with()
    off, on = connector(sim, tmp_path), connector(sim, tmp_path, erase_records="delete")
    assert off.eraser is None and on.eraser is not None and on.eraser.erase_limit == 1
    assert MailchimpConnector.capabilities.erases == frozenset({"delete"})
    asyncio.run(off.aclose())
    asyncio.run(on.aclose())


def test_the_eraser_deletes_by_subscriber_hash_and_by_email(tmp_path: Path) -> None:
    sim = sim_with()
    list_id = sim.default_list_id()
    mc = connector(sim, tmp_path, erase_records="delete")
    people = [
        Person("r1", record_ids=(subscriber_hash("ada@example.org"),)),
        Person("r2", emails=("BOB@example.org",)),
        Person("r3", record_ids=("0" * 32,), emails=("nobody@example.org",)),
    ]

    async def go() -> list[Any]:
        try:
            assert mc.eraser is not None
            return await mc.eraser.erase(people)
        finally:
            await mc.aclose()

    results = {r.key: r.outcome for r in asyncio.run(go())}
    assert results == {"r1": "deleted", "r2": "deleted", "r3": "not_found"}
    assert sim.member_emails(list_id) == set()
    assert sim.forgotten_emails(list_id, ["ada@example.org", "bob@example.org"]) == {
        "ada@example.org",
        "bob@example.org",
    }


def test_the_eraser_raises_auth_errors(tmp_path: Path) -> None:
    sim = sim_with()
    mc = connector(
        sim, tmp_path, erase_records="delete", api_key="ffff0000ffff0000ffff0000ffff0000-us1"
    )

    async def go() -> None:
        try:
            assert mc.eraser is not None
            await mc.eraser.erase([Person("r1", emails=("ada@example.org",))])
        finally:
            await mc.aclose()

    with pytest.raises(AuthError):
        asyncio.run(go())
