"""The Salesforce simulator's writes: sObject create/read/delete, describes, sObject Collections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import SalesforceSimulator
from segsync.connectors.salesforce.simulator.ids import to_18

V = "/services/data/v66.0"
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}
NO_MEMBER = str(to_18("00vHu0000000000"))  # well-formed, but no record has it
NO_CONTACT = str(to_18("003Hu0000000000"))
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


def member(campaign: str, **person: str) -> dict[str, Any]:
    return {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, **person}


def failure(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields or []}],
    }


async def add(
    api: httpx.AsyncClient, records: list[dict[str, Any]], all_or_none: bool = False
) -> list[dict[str, Any]]:
    r = await api.post(
        f"{V}/composite/sobjects", json={"allOrNone": all_or_none, "records": records}
    )
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


@pytest.fixture
def org(sim: SalesforceSimulator) -> dict[str, str]:
    ids = {
        "c1": sim.insert("Contact", LastName="One", Email="one@example.com"),
        "c2": sim.insert("Contact", LastName="Two", Email="two@example.com"),
        "lead": sim.insert("Lead", LastName="Lead", Company="Acme", Email="lead@example.com"),
        "converted": sim.insert("Lead", LastName="Conv", Company="Acme", Email="one@example.com"),
        "campaign": sim.insert("Campaign", Name="segsync: VIP", IsActive=True),
    }
    sim.org.convert_lead(ids["converted"], ids["c1"])
    return ids


# -- single records ----------------------------------------------------------------------------


async def test_campaign_create_read_and_names_are_not_unique(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    first = await api.post(
        f"{V}/sobjects/Campaign", json={"Name": "segsync: VIP", "IsActive": True}
    )
    second = await api.post(
        f"{V}/sobjects/Campaign/", json={"Name": "segsync: VIP", "IsActive": True}
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": []}
    assert first.json()["id"].startswith("701") and first.json()["id"] != second.json()["id"]
    assert sim.campaigns("segsync: VIP") == [first.json()["id"], second.json()["id"]]
    found = await api.get(
        f"{V}/query", params={"q": "SELECT Id, Name FROM Campaign WHERE Name = 'SEGSYNC: vip'"}
    )
    assert found.json()["totalSize"] == 2
    record = (await api.get(f"{V}/sobjects/Campaign/{first.json()['id']}")).json()
    assert record["attributes"] == {
        "type": "Campaign",
        "url": f"{V}/sobjects/Campaign/{first.json()['id']}",
    }
    assert (
        record["Name"] == "segsync: VIP"
        and record["IsActive"] is True
        and record["IsDeleted"] is False
    )
    assert record["NumberOfContacts"] == 0 and record["Status"] == "Planned"
    some = (
        await api.get(
            f"{V}/sobjects/campaign/{first.json()['id'][:15]}", params={"fields": "name,isactive"}
        )
    ).json()
    assert list(some) == ["attributes", "Name", "IsActive"]


async def test_lead_needs_company_and_last_name(api: httpx.AsyncClient) -> None:
    r = await api.post(f"{V}/sobjects/Lead", json={"FirstName": "No", "Email": "x@example.com"})
    assert r.status_code == 400
    assert r.json() == [{"message": "Required fields are missing: [LastName, Company]",
                         "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName", "Company"]}]  # fmt: skip
    ok = await api.post(f"{V}/sobjects/Lead", json={"LastName": "Yes", "Company": "Acme"})
    assert ok.status_code == 201 and ok.json()["id"].startswith("00Q")


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"LastName": "X", "Foo__c": 1}, "INVALID_FIELD", []),
        ({"LastName": "X", "Id": "003Hu0000000001AAA"}, "INVALID_FIELD", ["Id"]),
        (
            {"LastName": "X", "SystemModstamp": "2026-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["SystemModstamp"],
        ),
        (
            {"LastName": "X", "HasOptedOutOfEmail": "yes"},
            "JSON_PARSER_ERROR",
            ["HasOptedOutOfEmail"],
        ),
        ({"LastName": 5}, "JSON_PARSER_ERROR", ["LastName"]),
        ({"LastName": "X", "AccountId": "nope"}, "MALFORMED_ID", ["AccountId"]),
    ],
)
async def test_refused_contacts(
    api: httpx.AsyncClient, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    r = await api.post(f"{V}/sobjects/Contact", json=body)
    assert r.status_code == 400
    error = r.json()[0]
    assert error["errorCode"] == code and error["fields"] == fields


async def test_lead_duplicate_rule_and_header(make: Make, connect: Connect) -> None:
    for rule, allowed in (("alert", True), ("block", False), ("off", True)):
        sim = make(lead_duplicate_rule=rule)
        sim.insert("Contact", LastName="Existing", Email="dupe@example.com")
        async with connect(sim) as c:
            lead = {"LastName": "New", "Company": "Acme", "Email": "DUPE@example.com"}
            plain = await c.post(f"{V}/sobjects/Lead", json=lead)
            saved = await c.post(f"{V}/sobjects/Lead", json=lead,
                                 headers={"Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=true"})  # fmt: skip
        if rule == "off":
            assert plain.status_code == 201
            continue
        assert plain.status_code == 400
        error = plain.json()[0]
        assert error["errorCode"] == "DUPLICATES_DETECTED"
        assert error["duplicateResult"]["allowSave"] is (rule == "alert")
        matches = error["duplicateResult"]["matchResults"]
        assert matches[0]["entityType"] == "Contact" and matches[0]["size"] == 1
        assert saved.status_code == (201 if allowed else 400)


async def test_read_and_delete_errors(
    sim: SalesforceSimulator, org: dict[str, str], api: httpx.AsyncClient
) -> None:
    c2 = org["c2"]
    malformed = await api.get(f"{V}/sobjects/Contact/not-an-id")
    assert malformed.status_code == 404
    assert (
        malformed.json()[0]["message"]
        == "Provided external ID field does not exist or is not accessible: not-an-id"
    )
    wrong_type = await api.get(f"{V}/sobjects/Lead/{c2}")
    assert wrong_type.status_code == 404 and wrong_type.json()[0]["errorCode"] == "NOT_FOUND"
    assert (await api.delete(f"{V}/sobjects/Contact/{c2}")).status_code == 204
    again = await api.delete(f"{V}/sobjects/Contact/{c2}")
    gone = await api.get(f"{V}/sobjects/Contact/{c2}")
    for r in (again, gone):
        assert r.status_code == 404
        assert r.json() == [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}]
    bad_field = await api.get(f"{V}/sobjects/Contact/{org['c1']}", params={"fields": "Nope"})
    assert bad_field.status_code == 400 and bad_field.json()[0]["errorCode"] == "INVALID_FIELD"


async def test_single_campaign_member_duplicate(
    org: dict[str, str], api: httpx.AsyncClient
) -> None:
    body = {"CampaignId": org["campaign"], "ContactId": org["c2"]}
    assert (await api.post(f"{V}/sobjects/CampaignMember", json=body)).status_code == 201
    dup = await api.post(f"{V}/sobjects/CampaignMember", json=body)
    assert dup.status_code == 400
    assert dup.json() == [
        {"message": "Already a campaign member.", "errorCode": "DUPLICATE_VALUE", "fields": []}
    ]


async def test_describes(api: httpx.AsyncClient) -> None:
    every = (await api.get(f"{V}/sobjects")).json()
    names = {o["name"]: o["keyPrefix"] for o in every["sobjects"]}
    assert names == {"Contact": "003", "Lead": "00Q", "Campaign": "701", "CampaignMember": "00v",
                     "CampaignMemberStatus": "01Y", "Opportunity": "006",
                     "OpportunityContactRole": "00K", "ContactHistory": "017",
                     "LeadHistory": "017"}  # fmt: skip
    history = next(o for o in every["sobjects"] if o["name"] == "ContactHistory")
    assert not history["createable"] and not history["updateable"] and history["queryable"]
    lead = (await api.get(f"{V}/sobjects/Lead/describe/")).json()
    fields = {f["name"]: f for f in lead["fields"]}
    assert fields["Company"]["createable"] and not fields["Company"]["nillable"]
    assert fields["IsConverted"]["type"] == "boolean" and not fields["IsConverted"]["createable"]
    assert fields["ConvertedContactId"]["referenceTo"] == ["Contact"]
    basic = (await api.get(f"{V}/sobjects/CampaignMember")).json()
    assert basic["objectDescribe"]["keyPrefix"] == "00v"


# -- collections: insert -----------------------------------------------------------------------


async def test_add_members_results_in_request_order(
    sim: SalesforceSimulator, org: dict[str, str], api: httpx.AsyncClient
) -> None:
    campaign = org["campaign"]
    results = await add(api, [
        member(campaign, ContactId=org["c1"], Status="Sent"),
        member(campaign, LeadId=org["lead"]),
        member(campaign, ContactId=org["c1"]),  # the same pair again in one request
        member(campaign, LeadId=org["converted"]),
        member(campaign, ContactId=org["c2"], Status="Bogus"),
        member(campaign),
        {"CampaignId": campaign, "ContactId": org["c2"]},
        {"attributes": {"type": "Widget__c"}},
        member(campaign, ContactId=NO_CONTACT),
        member(org["c2"], ContactId=org["c2"]),
    ])  # fmt: skip
    assert (
        results[0]["success"] and results[0]["id"].startswith("00v") and results[0]["errors"] == []
    )
    assert results[1]["success"]
    assert results[2] == failure("DUPLICATE_VALUE", "Already a campaign member.")
    assert results[3] == failure("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
    assert results[4] == failure("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                 "Status: bad value for restricted picklist field: Bogus", ["Status"])  # fmt: skip
    assert results[5] == failure("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]",
                                 ["ContactId", "LeadId"])  # fmt: skip
    assert results[6] == failure("INVALID_TYPE", "Must send a concrete entity type.")
    assert results[7]["errors"][0]["statusCode"] == "INVALID_TYPE"
    assert results[8]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert results[9]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert sim.campaign_members(campaign) == {org["c1"], org["lead"]}
    again = await add(api, [member(campaign, ContactId=org["c1"])])
    assert again == [failure("DUPLICATE_VALUE", "Already a campaign member.")]
    statuses = await api.get(
        f"{V}/query",
        params={
            "q": f"SELECT LeadOrContactId, Status FROM CampaignMember WHERE CampaignId = '{campaign}'"
        },
    )
    assert {(r["LeadOrContactId"], r["Status"]) for r in statuses.json()["records"]} == {
        (org["c1"], "Sent"), (org["lead"], "Sent")}  # the default status  # fmt: skip


async def test_invalid_status_can_fall_back_to_the_default(make: Make, connect: Connect) -> None:
    sim = make(
        invalid_member_status="default",
        default_member_statuses=[("Planned", False), ("Attended", True)],
    )
    campaign = sim.insert("Campaign", Name="Event")
    contact = sim.insert("Contact", LastName="Guest")
    async with connect(sim) as c:
        results = await add(c, [member(campaign, ContactId=contact, Status="Whatever")])
        status = await c.get(
            f"{V}/sobjects/CampaignMember/{results[0]['id']}",
            params={"fields": "Status,HasResponded"},
        )
    assert status.json()["Status"] == "Planned" and status.json()["HasResponded"] is False


async def test_all_or_none_rolls_everything_back(
    sim: SalesforceSimulator, org: dict[str, str], api: httpx.AsyncClient
) -> None:
    campaign = org["campaign"]
    results = await add(api, [
        member(campaign, ContactId=org["c1"]),
        member(campaign, LeadId=org["converted"]),
        member(campaign, ContactId=org["c2"]),
    ], all_or_none=True)  # fmt: skip
    assert results == [{"success": False, "errors": [ROLLED_BACK]},
                       failure("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"),
                       {"success": False, "errors": [ROLLED_BACK]}]  # fmt: skip
    assert sim.campaign_members(campaign) == set()
    ok = await add(
        api,
        [member(campaign, ContactId=org["c1"]), member(campaign, ContactId=org["c2"])],
        all_or_none=True,
    )
    assert all(r["success"] for r in ok)


async def test_collection_size_limit_and_malformed_bodies(make: Make, connect: Connect) -> None:
    sim = make(collection_max=5)
    campaign = sim.insert("Campaign", Name="C")
    people = [sim.insert("Contact", LastName=f"P{i}") for i in range(6)]
    async with connect(sim) as c:
        over = await c.post(
            f"{V}/composite/sobjects",
            json={"records": [member(campaign, ContactId=p) for p in people]},
        )
        at_limit = await c.post(
            f"{V}/composite/sobjects",
            json={"records": [member(campaign, ContactId=p) for p in people[:5]]},
        )
        no_records = await c.post(f"{V}/composite/sobjects", json={"allOrNone": False})
    assert over.status_code == 400
    assert over.json() == [{"message": "record limit reached. cannot submit more than 5 records into this call",
                            "errorCode": "EXCEEDED_ID_LIMIT"}]  # fmt: skip
    assert at_limit.status_code == 200 and all(r["success"] for r in at_limit.json())
    assert (
        no_records.status_code == 400 and no_records.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    )


async def test_default_collection_limit_is_200(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    campaign = sim.insert("Campaign", Name="C")
    people = [sim.insert("Contact", LastName=f"P{i}") for i in range(201)]
    ok = await add(api, [member(campaign, ContactId=p) for p in people[:200]])
    assert len(ok) == 200 and all(r["success"] for r in ok)
    over = await api.post(
        f"{V}/composite/sobjects", json={"records": [member(campaign, ContactId=p) for p in people]}
    )
    assert over.status_code == 400


# -- collections: delete -----------------------------------------------------------------------


async def test_remove_members(
    sim: SalesforceSimulator, org: dict[str, str], api: httpx.AsyncClient
) -> None:
    campaign = org["campaign"]
    added = await add(
        api, [member(campaign, ContactId=org["c1"]), member(campaign, LeadId=org["lead"])]
    )
    m1, m2 = added[0]["id"], added[1]["id"]
    sim.org.convert_lead(org["lead"], org["c2"])  # converted after joining: still removable
    r = await api.delete(
        f"{V}/composite/sobjects",
        params={"ids": f"{m1},{m2[:15]},bogus,{m1},{NO_MEMBER}", "allOrNone": "false"},
    )
    assert r.status_code == 200
    assert r.json() == [
        {"id": m1, "success": True, "errors": []},
        {"id": m2, "success": True, "errors": []},
        failure("MALFORMED_ID", "malformed id bogus"),
        failure("ENTITY_IS_DELETED", "entity is deleted"),
        failure("ENTITY_IS_DELETED", "entity is deleted"),
    ]
    assert sim.campaign_members(campaign) == set()
    assert (await add(api, [member(campaign, ContactId=org["c1"])]))[0]["success"]  # may rejoin


async def test_remove_all_or_none_and_limits(make: Make, connect: Connect) -> None:
    sim = make(collection_max=3, missing_id_delete_error="INVALID_CROSS_REFERENCE_KEY")
    campaign = sim.insert("Campaign", Name="C")
    people = [sim.insert("Contact", LastName=f"P{i}") for i in range(3)]
    members = [sim.insert("CampaignMember", CampaignId=campaign, ContactId=p) for p in people]
    async with connect(sim) as c:
        rolled = await c.delete(
            f"{V}/composite/sobjects",
            params={"ids": f"{members[0]},{NO_MEMBER}", "allOrNone": "true"},
        )
        over = await c.delete(
            f"{V}/composite/sobjects", params={"ids": ",".join([*members, members[0]])}
        )
        missing = await c.delete(f"{V}/composite/sobjects")
    assert rolled.json() == [{"success": False, "errors": [ROLLED_BACK]},
                             failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]  # fmt: skip
    assert sim.campaign_members(campaign) == set(people)
    assert over.status_code == 400 and over.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert missing.status_code == 400


async def test_deleting_a_campaign_or_person_cascades(
    sim: SalesforceSimulator, org: dict[str, str], api: httpx.AsyncClient
) -> None:
    campaign = org["campaign"]
    await add(api, [member(campaign, ContactId=org["c1"]), member(campaign, ContactId=org["c2"])])
    r = await api.delete(f"{V}/composite/sobjects", params={"ids": org["c2"]})
    assert r.json()[0]["success"]
    assert sim.campaign_members(campaign) == {org["c1"]}
    count = await api.get(
        f"{V}/query", params={"q": "SELECT NumberOfContacts, NumberOfLeads FROM Campaign"}
    )
    assert [(x["NumberOfContacts"], x["NumberOfLeads"]) for x in count.json()["records"]] == [
        (1, 0)
    ]
    assert (await api.delete(f"{V}/sobjects/Campaign/{campaign}")).status_code == 204
    assert sim.campaign_members(campaign) == set()
    left = await api.get(f"{V}/queryAll", params={"q": "SELECT Id, IsDeleted FROM CampaignMember"})
    assert [x["IsDeleted"] for x in left.json()["records"]] == [True, True]
