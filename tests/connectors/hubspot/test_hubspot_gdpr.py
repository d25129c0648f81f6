"""HubSpot's GDPR delete: the simulator's ``POST /crm/v3/objects/contacts/gdpr-delete`` (as the
spec and the official client have it) and the connector's eraser role on top of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hubspot
import pytest
from hubspot.crm.contacts import PublicGdprDeleteInput
from hubspot.crm.contacts.exceptions import ApiException

from segsync.connector import ConnectorContext, Person
from segsync.connectors.hubspot.connector import HubSpotConnector
from segsync.connectors.hubspot.eraser import GDPR_DELETE
from segsync.connectors.hubspot.settings import HubSpotSettings
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.errors import AuthError
from segsync.testing.simulator import ServedSimulator

TOKEN = "pat-na1-gdpr-secret-0000"


def sim_with(**kwargs: Any) -> HubSpotSimulator:
    sim = HubSpotSimulator(seed=4, burst=1000, **kwargs)
    sim.add_credential(TOKEN)
    return sim


async def _asgi(
    sim: HubSpotSimulator, method: str, path: str, token: str, **kw: Any
) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=sim.transport(),
        base_url="http://hubspot.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        return await http.request(method, path, **kw)


def call(
    sim: HubSpotSimulator, method: str, path: str, token: str = TOKEN, **kw: Any
) -> httpx.Response:
    return asyncio.run(_asgi(sim, method, path, token, **kw))


def test_gdpr_delete_by_id_removes_the_contact_everywhere_and_answers_204() -> None:
    sim = sim_with()
    ada = sim.add_contact("ada@example.org", firstname="Ada")
    bob = sim.add_contact("bob@example.org")
    listed = call(sim, "POST", "/crm/v3/lists",
                  json={"name": "VIP", "objectTypeId": "0-1", "processingType": "MANUAL"})  # fmt: skip
    list_id = listed.json()["list"]["listId"]
    call(sim, "PUT", f"/crm/v3/lists/{list_id}/memberships/add", json=[ada, bob])
    (deal,) = sim.seed_deals([{"dealname": "d", "amount": "10", "contacts": [ada]}])

    answer = call(sim, "POST", GDPR_DELETE, json={"objectId": ada})
    assert answer.status_code == 204 and answer.content == b""
    assert answer.headers["x-hubspot-correlation-id"]
    assert ada not in sim.contacts and sim.gdpr_deleted() == [ada]
    assert sim.list_members(list_id) == {bob}
    assert call(sim, "GET", f"/crm/v3/lists/{list_id}/memberships").json()["total"] == 1
    assert sim.deals[deal]["contacts"] == []
    assert call(sim, "GET", f"/crm/v3/objects/contacts/{ada}").status_code == 404
    pages = call(sim, "GET", "/crm/v3/objects/contacts", params={"limit": 100}).json()
    assert [c["id"] for c in pages["results"]] == [bob]
    # deleted for good: no longer an id, and its email is blocklisted (inferred default)
    again = call(sim, "POST", GDPR_DELETE, json={"objectId": ada})
    assert again.status_code == 404 and again.json()["category"] == "OBJECT_NOT_FOUND"
    assert sim.blocklisted("ada@example.org")


def test_gdpr_delete_by_email_deletes_or_blocklists_an_unknown_address() -> None:
    sim = sim_with()
    ada = sim.add_contact("ada@example.org")
    gone = call(
        sim, "POST", GDPR_DELETE, json={"objectId": "ADA@example.org", "idProperty": "email"}
    )
    assert gone.status_code == 204 and ada not in sim.contacts
    unknown = call(
        sim, "POST", GDPR_DELETE, json={"objectId": "zed@example.org", "idProperty": "email"}
    )
    assert unknown.status_code == 204 and sim.blocklisted("zed@example.org")
    # a blocklisted address cannot be given to a contact again
    upsert = call(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "zed@example.org", "idProperty": "email", "properties": {},
         "objectWriteTraceId": "t1"}]})  # fmt: skip
    assert upsert.status_code == 207
    (error,) = upsert.json()["errors"]
    assert "BLOCKLISTED_EMAIL" in error["message"] and error["context"]["objectWriteTraceId"] == [
        "t1"
    ]
    assert sim.contact_id("zed@example.org") is None


def test_gdpr_delete_inferred_behaviours_are_constructor_arguments() -> None:
    sim = sim_with(gdpr_unknown_id_status=204, gdpr_blocklist_deleted=False,
                   blocklist_blocks_create=False)  # fmt: skip
    ada = sim.add_contact("ada@example.org")
    assert call(sim, "POST", GDPR_DELETE, json={"objectId": "999"}).status_code == 204
    assert call(sim, "POST", GDPR_DELETE, json={"objectId": ada}).status_code == 204
    assert not sim.blocklisted("ada@example.org")
    call(sim, "POST", GDPR_DELETE, json={"objectId": "zed@example.org", "idProperty": "email"})
    upsert = call(sim, "POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "zed@example.org", "idProperty": "email", "properties": {}}]})  # fmt: skip
    assert upsert.status_code == 200
    with pytest.raises(ValueError, match="gdpr_unknown_id_status"):
        HubSpotSimulator(gdpr_unknown_id_status=500)


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"objectId": ""}, 400), ({"objectId": True}, 400),
     ({"objectId": "a@x.org", "idProperty": "phone"}, 400), ([], 400)],
)  # fmt: skip
def test_gdpr_delete_refuses_bad_bodies_in_hubspots_envelope(body: Any, status: int) -> None:
    sim = sim_with()
    answer = call(sim, "POST", GDPR_DELETE, json=body)
    assert answer.status_code == status
    error = answer.json()
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR"
    assert error["correlationId"] == answer.headers["x-hubspot-correlation-id"]


def test_gdpr_delete_needs_the_contacts_write_scope_and_a_token() -> None:
    sim = sim_with()
    sim.add_credential("pat-read-only", scopes=["crm.objects.contacts.read"])
    ada = sim.add_contact("ada@example.org")
    denied = call(sim, "POST", GDPR_DELETE, "pat-read-only", json={"objectId": ada})
    assert denied.status_code == 403 and denied.json()["category"] == "MISSING_SCOPES"
    assert call(sim, "POST", GDPR_DELETE, "wrong", json={"objectId": ada}).status_code == 401
    assert ada in sim.contacts
    # the route answers with a trailing slash too, and counts against the burst limit
    answer = call(sim, "POST", GDPR_DELETE + "/", json={"objectId": ada})
    assert answer.status_code == 204 and "x-hubspot-ratelimit-remaining" in answer.headers


@pytest.fixture
def served() -> Iterator[tuple[HubSpotSimulator, ServedSimulator]]:
    sim = HubSpotSimulator(seed=3)
    sim.add_credential(TOKEN)
    with sim.serve() as server:
        yield sim, server


def test_the_official_client_purges_through_the_simulator(
    served: tuple[HubSpotSimulator, ServedSimulator],
) -> None:
    sim, server = served
    ada = sim.add_contact("ada@example.org")
    api = hubspot.Client.create(access_token=TOKEN, host=server.base_url).crm.contacts.basic_api
    assert api.purge(public_gdpr_delete_input=PublicGdprDeleteInput(object_id=ada)) is None
    assert ada not in sim.contacts
    api.purge(PublicGdprDeleteInput(object_id="bob@example.org", id_property="email"))
    assert sim.blocklisted("bob@example.org")
    with pytest.raises(ApiException) as missing:
        api.purge(PublicGdprDeleteInput(object_id=ada))
    assert missing.value.status == 404


# -- the eraser role ---------------------------------------------------------------------------


def connector(sim: HubSpotSimulator, tmp_path: Path, **settings: Any) -> HubSpotConnector:
    values = {"token": TOKEN, "base_url": "http://hubspot.test", "requests_per_10s": 1000,
              **settings}  # fmt: skip
    context = ConnectorContext("hs", tmp_path, tmp_path / "work", transport=sim.transport())
    return HubSpotConnector(HubSpotSettings(**values), context)


def test_the_eraser_is_opt_in_per_instance(tmp_path: Path) -> None:
    sim = sim_with()
    off = connector(sim, tmp_path)
    on = connector(sim, tmp_path, erase_records="delete")
    assert off.eraser is None and on.eraser is not None
    assert on.eraser.mode == "delete" and on.eraser.erase_limit == 1
    assert HubSpotConnector.capabilities.erases == frozenset({"delete"})
    with pytest.raises(ValueError, match="erase_records"):
        HubSpotSettings(token=TOKEN, erase_records="anonymise")
    asyncio.run(off.aclose())
    asyncio.run(on.aclose())


def test_the_eraser_deletes_by_record_id_then_by_email_and_says_not_found(
    tmp_path: Path,
) -> None:
    sim = sim_with()
    ada, ada2 = sim.add_contact("ada@example.org"), sim.add_contact("ada.work@example.org")
    bob = sim.add_contact("bob@example.org")
    hs = connector(sim, tmp_path, erase_records="delete")
    people = [
        Person("r1", record_ids=(ada, ada2), emails=("ada@example.org",)),
        Person("r2", emails=("bob@example.org",)),  # known only by email: deleted by email
        Person("r3", record_ids=("4242",)),  # gone already
    ]

    async def go() -> list[Any]:
        try:
            assert hs.eraser is not None
            return await hs.eraser.erase(people)
        finally:
            await hs.aclose()

    results = {r.key: r.outcome for r in asyncio.run(go())}
    assert results == {"r1": "deleted", "r2": "deleted", "r3": "not_found"}
    assert sim.gdpr_deleted() == [ada, ada2, bob]
    bodies = [r for r in sim.requests if r.path == GDPR_DELETE]
    assert len(bodies) == 4  # one contact a call


def test_the_eraser_raises_auth_errors(tmp_path: Path) -> None:
    sim = sim_with()
    sim.add_credential("pat-read-only", scopes=["crm.objects.contacts.read"])
    hs = connector(sim, tmp_path, erase_records="delete", token="pat-read-only")

    async def go() -> None:
        try:
            assert hs.eraser is not None
            await hs.eraser.erase([Person("r1", record_ids=("101",))])
        finally:
            await hs.aclose()

    with pytest.raises(AuthError, match=r"crm\.objects\.contacts\.write"):
        asyncio.run(go())
