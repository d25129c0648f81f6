"""The Salesforce simulator's updates and what they leave behind: single-record and collection
``PATCH``, collection retrieve, field history (``ContactHistory``/``LeadHistory``), and the
fields that exist only with an org feature (multi-currency)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.connectors.salesforce.simulator.ids import to_18

V = "/services/data/v66.0"
JAN_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the fake wall clock's start (conftest)
NO_CONTACT = str(to_18("003Hu0000000000"))
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


def failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


async def patch(
    api: httpx.AsyncClient, records: list[dict[str, Any]], all_or_none: bool = False
) -> list[dict[str, Any]]:
    r = await api.patch(
        f"{V}/composite/sobjects", json={"allOrNone": all_or_none, "records": records}
    )
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def contact(rid: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, "id": rid, **fields}


@pytest.fixture
def people(sim: SalesforceSimulator) -> dict[str, str]:
    ids = {
        "ann": sim.insert("Contact", LastName="Ann", Email="ann@example.com", Phone="+3312"),
        "bob": sim.insert("Contact", LastName="Bob", Email="bob@example.com"),
        "lead": sim.insert("Lead", LastName="Lee", Company="Acme", Email="lee@example.com"),
        "converted": sim.insert("Lead", LastName="Conv", Company="Acme", Email="ann@example.com"),
    }
    sim.convert_lead(ids["converted"], ids["ann"])
    return ids


async def test_single_record_update_changes_fields_and_stamps(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient, clock: Any
) -> None:
    before = dict(sim.record("Contact", people["ann"]) or {})
    clock.now += 60
    r = await api.patch(
        f"{V}/sobjects/Contact/{people['ann']}", json={"FirstName": "Anna", "Phone": None}
    )
    assert r.status_code == 204 and r.content == b""
    after = sim.record("Contact", people["ann"]) or {}
    assert after["FirstName"] == "Anna" and after["Phone"] is None and after["Name"] == "Anna Ann"
    assert after["SystemModstamp"] == before["SystemModstamp"] + 60_000


async def test_a_converted_lead_is_read_only(
    people: dict[str, str], api: httpx.AsyncClient
) -> None:
    r = await api.patch(f"{V}/sobjects/Lead/{people['converted']}", json={"Email": None})
    assert r.status_code == 400
    assert r.json() == [
        {
            "message": "cannot reference converted lead",
            "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "fields": [],
        }
    ]


async def test_collection_update_results_in_request_order(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient
) -> None:
    lead = {"attributes": {"type": "Lead"}, "id": people["lead"], "Company": None}
    results = await patch(
        api,
        [
            contact(people["ann"], Email=None, HasOptedOutOfEmail=True),
            {"attributes": {"type": "Lead"}, "id": people["converted"], "Email": None},
            contact(people["bob"], LastName=""),
            lead,
            contact("nonsense"),
            contact(NO_CONTACT, FirstName="x"),
            {"attributes": {"type": "Contact"}, "FirstName": "no id"},
            contact(people["bob"], IsConverted=True),
        ],
    )
    assert results == [
        {"id": people["ann"], "success": True, "errors": []},
        failure("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"),
        failure("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"]),
        failure("REQUIRED_FIELD_MISSING", "Required fields are missing: [Company]", ["Company"]),
        failure("MALFORMED_ID", "Contact ID: id value of incorrect type: nonsense"),
        failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
        failure("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]),
        failure(
            "INVALID_FIELD",
            "No such column 'IsConverted' on sobject of type Contact",
        ),
    ]
    ann = sim.record("Contact", people["ann"]) or {}
    assert ann["Email"] is None and ann["HasOptedOutOfEmail"] is True
    assert (sim.record("Contact", people["bob"]) or {})["LastName"] == "Bob"


async def test_collection_update_all_or_none_rolls_back(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient
) -> None:
    results = await patch(
        api,
        [contact(people["ann"], FirstName="Nope"), contact(NO_CONTACT, FirstName="x")],
        all_or_none=True,
    )
    assert not results[0]["success"] and not results[1]["success"]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert (sim.record("Contact", people["ann"]) or {})["FirstName"] is None


async def test_collection_update_of_a_deleted_record(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient
) -> None:
    sim.delete("Contact", people["bob"])
    (result,) = await patch(api, [contact(people["bob"], FirstName="x")])
    assert result == failure("ENTITY_IS_DELETED", "entity is deleted")


async def test_collection_update_limit(sim: SalesforceSimulator, api: httpx.AsyncClient) -> None:
    r = await api.patch(
        f"{V}/composite/sobjects",
        json={"records": [contact(NO_CONTACT, FirstName="x")] * 201},
    )
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


async def test_collection_retrieve(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient
) -> None:
    sim.delete("Contact", people["bob"])
    r = await api.get(
        f"{V}/composite/sobjects/Contact",
        params={"ids": f"{people['ann']},{people['bob']},{NO_CONTACT}", "fields": "Email,Name"},
    )
    assert r.status_code == 200
    first, *rest = r.json()
    assert first == {
        "attributes": {"type": "Contact", "url": f"{V}/sobjects/Contact/{people['ann']}"},
        "Email": "ann@example.com",
        "Name": "Ann",
    }
    assert rest == [None, None]
    bad = await api.get(
        f"{V}/composite/sobjects/Contact", params={"ids": people["ann"], "fields": "Nope"}
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


# -- field history -----------------------------------------------------------------------------


async def test_tracked_field_changes_write_history_rows(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient, clock: Any
) -> None:
    clock.now = JAN_1 + 3600
    await api.patch(f"{V}/sobjects/Contact/{people['ann']}", json={"HasOptedOutOfEmail": True})
    await api.patch(f"{V}/sobjects/Contact/{people['ann']}", json={"FirstName": "untracked"})
    sim.update("Lead", people["lead"], at=JAN_1 + 7200, HasOptedOutOfEmail=True)
    sim.update("Lead", people["lead"], at=JAN_1 + 9000, HasOptedOutOfEmail=False)
    q = (
        "SELECT ContactId, Field, OldValue, NewValue, CreatedDate FROM ContactHistory "
        "WHERE Field = 'HasOptedOutOfEmail'"
    )
    rows = (await api.get(f"{V}/query", params={"q": q})).json()["records"]
    assert [{k: v for k, v in r.items() if k != "attributes"} for r in rows] == [
        {
            "ContactId": people["ann"],
            "Field": "HasOptedOutOfEmail",
            "OldValue": False,
            "NewValue": True,
            "CreatedDate": "2026-01-01T01:00:00.000+0000",
        }
    ]
    q = (
        f"SELECT LeadId, NewValue, CreatedDate FROM LeadHistory WHERE LeadId = '{people['lead']}'"
        " ORDER BY CreatedDate DESC"
    )
    rows = (await api.get(f"{V}/query", params={"q": q})).json()["records"]
    assert [(r["NewValue"], r["CreatedDate"][11:19]) for r in rows] == [
        (False, "02:30:00"),
        (True, "02:00:00"),
    ]


async def test_history_values_cannot_be_filtered_and_rows_not_written(
    people: dict[str, str], api: httpx.AsyncClient
) -> None:
    q = "SELECT Id FROM ContactHistory WHERE NewValue = true"
    r = await api.get(f"{V}/query", params={"q": q})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "can not be filtered" in r.json()[0]["message"]
    r = await api.post(
        f"{V}/sobjects/ContactHistory",
        json={"ContactId": people["ann"], "Field": "Email"},
    )
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


async def test_untracked_org_writes_no_history(make: Make, connect: Connect) -> None:
    sim = make(tracked_fields=())
    rid = sim.insert("Contact", LastName="X")
    sim.update("Contact", rid, HasOptedOutOfEmail=True)
    async with connect(sim) as api:
        r = await api.get(f"{V}/query", params={"q": "SELECT Id FROM ContactHistory"})
    assert r.json()["totalSize"] == 0


def test_seeded_opt_outs_have_history_at_their_update_time(sim: SalesforceSimulator) -> None:
    rows = [
        {"id": str(i), "last_name": f"L{i}", "email": f"p{i}@example.org",
         "email_opt_in": "no" if i % 2 else "yes", "updated_at": "2026-02-03T04:05:06Z",
         "signup_date": "2025-01-01"}
        for i in range(40)
    ]  # fmt: skip
    sim.seed_contacts(rows)
    history = [
        *sim.org.records["ContactHistory"].values(),
        *sim.org.records["LeadHistory"].values(),
    ]
    assert history and all(h["NewValue"] is True for h in history)
    assert {h["CreatedDate"] for h in history} == {1_770_091_506_000}
    opted = {
        r["Id"]
        for obj in ("Contact", "Lead")
        for r in sim.org.records[obj].values()
        if r["HasOptedOutOfEmail"] and not r.get("IsConverted")
    }
    tracked = {h.get("ContactId") or h.get("LeadId") for h in history}
    assert tracked <= opted and len(tracked) >= 15


# -- multi-currency ----------------------------------------------------------------------------


async def test_currency_field_exists_only_in_a_multi_currency_org(
    make: Make, connect: Connect
) -> None:
    single, multi = make(), make(multi_currency=True, corporate_currency="EUR")
    q = "SELECT Id, Amount, CurrencyIsoCode FROM Opportunity"
    for sim in (single, multi):
        sim.insert("Opportunity", Name="D", StageName="Closed Won", CloseDate="2026-01-02")
    async with connect(single) as api:
        r = await api.get(f"{V}/query", params={"q": q})
        assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
        described = (await api.get(f"{V}/sobjects/Opportunity/describe")).json()
        assert "CurrencyIsoCode" not in {f["name"] for f in described["fields"]}
    async with connect(multi) as api:
        r = await api.get(f"{V}/query", params={"q": q})
        assert r.status_code == 200 and r.json()["records"][0]["CurrencyIsoCode"] == "EUR"
