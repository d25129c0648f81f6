"""The Salesforce simulator's SOQL subset, query/queryAll paging and query locators."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import SalesforceSimulator, engine, soql

V = "/services/data/v66.0"
DAY_MS = 86_400_000
JAN_1_MS = 1_767_225_600_000
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


async def query(
    c: httpx.AsyncClient, text: str, endpoint: str = "query", **headers: str
) -> httpx.Response:
    return await c.get(f"{V}/{endpoint}", params={"q": text}, headers=headers)


async def records(c: httpx.AsyncClient, text: str) -> list[dict[str, Any]]:
    r = await query(c, text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["done"] is True
    out: list[dict[str, Any]] = body["records"]
    return out


def assert_error(r: httpx.Response, code: str, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and body[0]["errorCode"] == code, body
    message: str = body[0]["message"]
    return message


@pytest.fixture
def people(sim: SalesforceSimulator) -> dict[str, str]:
    """Five contacts a day apart (Jan 2–6), two leads (one converted), a campaign."""
    ids = {}
    for i, (first, email, opted) in enumerate([
        ("Ann", "ann@example.com", False), ("Bob", "BOB@example.com", True),
        ("Cid", "cid@example.com", False), ("Dee", None, False), ("Eve", "eve@example.com", False),
    ]):  # fmt: skip
        stamp = JAN_1_MS + (i + 1) * DAY_MS
        ids[first] = sim.insert("Contact", FirstName=first, LastName="Smith" if i % 2 else "Jones",
                                Email=email, HasOptedOutOfEmail=opted, CreatedDate=stamp,
                                SystemModstamp=stamp)  # fmt: skip
    ids["lead"] = sim.insert("Lead", LastName="Lead", Company="Acme", Email="lead@example.com")
    ids["converted"] = sim.insert("Lead", LastName="Conv", Company="Acme", Email="ann@example.com")
    sim.org.convert_lead(ids["converted"], ids["Ann"])
    ids["campaign"] = sim.insert("Campaign", Name="segsync: VIP")
    return ids


async def test_record_shape_and_field_order(people: dict[str, str], api: httpx.AsyncClient) -> None:
    r = await query(
        api,
        f"SELECT email, Id, SystemModstamp, HasOptedOutOfEmail FROM contact WHERE Id = '{people['Bob']}'",
    )
    body = r.json()
    assert list(body) == ["totalSize", "done", "records"]
    assert body["totalSize"] == 1
    record = body["records"][0]
    assert list(record) == ["attributes", "Email", "Id", "SystemModstamp", "HasOptedOutOfEmail"]
    assert record["attributes"] == {
        "type": "Contact",
        "url": f"{V}/sobjects/Contact/{people['Bob']}",
    }
    assert record["SystemModstamp"] == "2026-01-03T00:00:00.000+0000"
    assert record["HasOptedOutOfEmail"] is True and record["Email"] == "BOB@example.com"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("SystemModstamp > 2026-01-03T00:00:00Z", ["Cid", "Dee", "Eve"]),
        ("SystemModstamp >= 2026-01-03T00:00:00Z", ["Bob", "Cid", "Dee", "Eve"]),
        ("LastModifiedDate < 2026-01-03T00:00:00.000+00:00", ["Ann"]),
        (
            "SystemModstamp > 2026-01-03T01:00:00+02:00 AND SystemModstamp <= 2026-01-05T00:00:00Z",
            ["Bob", "Cid", "Dee"],
        ),
        ("Email IN ('ann@example.com', 'bob@example.com')", ["Ann", "Bob"]),
        ("Email NOT IN ('ann@example.com', 'bob@example.com')", ["Cid", "Dee", "Eve"]),
        ("Email = null", ["Dee"]),
        ("Email != null AND HasOptedOutOfEmail = false", ["Ann", "Cid", "Eve"]),
        ("Email != 'cid@example.com'", ["Ann", "Bob", "Dee", "Eve"]),
        ("(FirstName = 'Ann' OR FirstName = 'Eve') AND LastName = 'Jones'", ["Ann", "Eve"]),
        ("FirstName = 'Ann' OR (LastName = 'Smith' AND HasOptedOutOfEmail = true)", ["Ann", "Bob"]),
        ("NOT FirstName = 'Ann'", ["Bob", "Cid", "Dee", "Eve"]),
        ("NOT (FirstName = 'Ann' OR FirstName = 'Bob')", ["Cid", "Dee", "Eve"]),
        ("FirstName LIKE 'a%' OR FirstName LIKE '_ob'", ["Ann", "Bob"]),
        ("CreatedDate = TODAY", []),
        ("SystemModstamp = LAST_N_DAYS:3", []),
        ("SystemModstamp > TODAY", ["Ann", "Bob", "Cid", "Dee", "Eve"]),
    ],
)
async def test_where_clauses(
    people: dict[str, str], api: httpx.AsyncClient, where: str, expected: list[str]
) -> None:
    found = await records(api, f"SELECT FirstName FROM Contact WHERE {where} ORDER BY FirstName")
    assert [r["FirstName"] for r in found] == expected


async def test_date_literals_follow_the_wall_clock(
    people: dict[str, str], api: httpx.AsyncClient, clock: Any
) -> None:
    clock.now = (JAN_1_MS + 5 * DAY_MS) / 1000 + 3600  # 2026-01-06T01:00Z
    today = await records(api, "SELECT FirstName FROM Contact WHERE SystemModstamp = TODAY")
    yesterday = await records(api, "SELECT FirstName FROM Contact WHERE CreatedDate = YESTERDAY")
    recent = await records(
        api, "SELECT FirstName FROM Contact WHERE SystemModstamp = LAST_N_DAYS:2 ORDER BY FirstName"
    )
    assert [r["FirstName"] for r in today] == ["Eve"]
    assert [r["FirstName"] for r in yesterday] == ["Dee"]
    assert [r["FirstName"] for r in recent] == ["Cid", "Dee", "Eve"]


async def test_leads_campaign_members_and_opportunities(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient
) -> None:
    unconverted = await records(
        api, "SELECT Id, Email, IsConverted, ConvertedContactId FROM Lead WHERE IsConverted = false"
    )
    converted = await records(
        api, "SELECT Id, ConvertedContactId FROM Lead WHERE IsConverted = true"
    )
    assert [r["Id"] for r in unconverted] == [people["lead"]]
    assert converted == [{"attributes": converted[0]["attributes"], "Id": people["converted"],
                          "ConvertedContactId": people["Ann"]}]  # fmt: skip
    campaign = people["campaign"]
    sim.insert("CampaignMember", CampaignId=campaign, ContactId=people["Bob"], Status="Sent")
    sim.insert("CampaignMember", CampaignId=campaign, LeadId=people["lead"], Status="Responded")
    members = await records(
        api,
        f"SELECT Id, ContactId, LeadId, LeadOrContactId, Email, HasResponded FROM CampaignMember WHERE CampaignId = '{campaign[:15]}' ORDER BY Email",
    )
    assert [(m["LeadOrContactId"], m["Email"], m["HasResponded"]) for m in members] == [
        (people["Bob"], "BOB@example.com", False), (people["lead"], "lead@example.com", True)]  # fmt: skip
    statuses = await records(
        api,
        f"SELECT Label, IsDefault, HasResponded FROM CampaignMemberStatus WHERE CampaignId = '{campaign}' ORDER BY Label",
    )
    assert [(s["Label"], s["IsDefault"], s["HasResponded"]) for s in statuses] == [
        ("Responded", False, True), ("Sent", True, False)]  # fmt: skip
    opp = sim.insert(
        "Opportunity", Name="Big", StageName="Closed Won", Amount=1200.0, CloseDate="2026-01-05"
    )
    sim.insert("Opportunity", Name="Open", StageName="Prospecting", CloseDate="2026-02-01")
    sim.insert("OpportunityContactRole", OpportunityId=opp, ContactId=people["Cid"], IsPrimary=True)
    won = await records(
        api,
        "SELECT Id, Amount, IsWon, IsClosed, CloseDate FROM Opportunity WHERE StageName = 'Closed Won' AND IsWon = true",
    )
    assert [(o["Id"], o["Amount"], o["CloseDate"]) for o in won] == [(opp, 1200.0, "2026-01-05")]
    roles = await records(
        api,
        f"SELECT ContactId, IsPrimary FROM OpportunityContactRole WHERE OpportunityId = '{opp}'",
    )
    assert [(r["ContactId"], r["IsPrimary"]) for r in roles] == [(people["Cid"], True)]
    later = await records(api, "SELECT Name FROM Opportunity WHERE CloseDate > 2026-01-05")
    assert [o["Name"] for o in later] == ["Open"]


async def test_order_by_several_fields_nulls_limit_offset(
    people: dict[str, str], api: httpx.AsyncClient
) -> None:
    by_last_then_first = await records(
        api, "SELECT FirstName FROM Contact ORDER BY LastName DESC, FirstName ASC"
    )
    assert [r["FirstName"] for r in by_last_then_first] == ["Bob", "Dee", "Ann", "Cid", "Eve"]
    nulls_last = await records(
        api, "SELECT FirstName, Email FROM Contact ORDER BY Email NULLS LAST LIMIT 2"
    )
    assert [r["FirstName"] for r in nulls_last] == ["Ann", "Bob"]
    nulls_first = await records(api, "SELECT FirstName FROM Contact ORDER BY Email")
    assert nulls_first[0]["FirstName"] == "Dee"
    desc = await records(api, "SELECT FirstName FROM Contact ORDER BY Email DESC")
    assert [r["FirstName"] for r in desc] == ["Eve", "Cid", "Bob", "Ann", "Dee"]
    page = await records(
        api, "SELECT FirstName FROM Contact ORDER BY SystemModstamp DESC LIMIT 2 OFFSET 1"
    )
    assert [r["FirstName"] for r in page] == ["Dee", "Cid"]


async def test_count_query(people: dict[str, str], api: httpx.AsyncClient) -> None:
    r = await query(api, "SELECT COUNT() FROM Contact WHERE Email != null")
    assert r.json() == {"totalSize": 4, "done": True, "records": []}


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("SELECT Id FRM Contact", "MALFORMED_QUERY", "unexpected token: 'FRM'"),
        (
            "SELECT Id, Foo FROM Contact",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Contact'",
        ),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported"),
        (
            "SELECT Id FROM Contact WHERE Email = 'a' AND Email = 'b' OR Email = 'c'",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-01",
            "INVALID_FIELD",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Lead WHERE IsConverted = 'false'",
            "INVALID_FIELD",
            "must be of type boolean",
        ),
        (
            "SELECT Id FROM Contact WHERE Email = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM CampaignMember WHERE CampaignId = '701xyz'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: 701xyz",
        ),
        (
            "SELECT Id FROM Contact WHERE Email > null",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid operator",
        ),
        ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Contact LIMIT 5 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
        ("SELECT Id FROM Contact WHERE Email = 'x", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Account.Name FROM Contact", "MALFORMED_QUERY", "not supported"),
        (
            "SELECT Id FROM Contact WHERE Id IN (SELECT ContactId FROM CampaignMember)",
            "MALFORMED_QUERY",
            "not supported",
        ),
        ("SELECT Id FROM Contact GROUP BY Id", "MALFORMED_QUERY", "not supported"),
        ("", "MALFORMED_QUERY", "A query string has to be specified"),
    ],
)
async def test_refused_queries(api: httpx.AsyncClient, text: str, code: str, detail: str) -> None:
    message = assert_error(await query(api, text), code)
    assert detail in message


async def test_error_messages_point_at_the_offending_token(api: httpx.AsyncClient) -> None:
    message = assert_error(await query(api, "SELECT Id, Nme FROM Contact"), "INVALID_FIELD")
    assert message.startswith(
        "\nSELECT Id, Nme FROM Contact\n           ^\nERROR at Row:1:Column:12\n"
    )
    multi = assert_error(
        await query(api, "SELECT Id\nFROM Contact\nWHERE Bogus = 1"), "INVALID_FIELD"
    )
    assert "\nWHERE Bogus = 1\n      ^\nERROR at Row:3:Column:7\n" in multi
    assert_error(await api.get(f"{V}/query"), "MALFORMED_QUERY")


async def test_query_all_includes_deleted_records(
    sim: SalesforceSimulator, people: dict[str, str], api: httpx.AsyncClient, clock: Any
) -> None:
    clock.now = (JAN_1_MS + 9 * DAY_MS) / 1000
    assert (await api.delete(f"{V}/sobjects/Contact/{people['Cid']}")).status_code == 204
    live = await records(api, "SELECT Id FROM Contact")
    r = await query(
        api, "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", endpoint="queryAll"
    )
    assert people["Cid"] not in {x["Id"] for x in live} and len(live) == 4
    assert [(x["Id"], x["IsDeleted"]) for x in r.json()["records"]] == [(people["Cid"], True)]
    # a deletion moves SystemModstamp, so an incremental queryAll pull sees it
    later = await query(
        api,
        "SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-07T00:00:00Z",
        endpoint="queryAll",
    )
    assert [x["Id"] for x in later.json()["records"]] == [people["Cid"]]


# -- paging and locators -----------------------------------------------------------------------


@pytest.fixture
def many(sim: SalesforceSimulator) -> list[str]:
    return [sim.insert("Contact", LastName=f"P{i:04d}", Email=f"p{i}@example.com",
                       SystemModstamp=JAN_1_MS + i * 1000) for i in range(4500)]  # fmt: skip


async def test_paging_with_default_batch_and_next_records_url(
    many: list[str], api: httpx.AsyncClient
) -> None:
    first = (await query(api, "SELECT Id FROM Contact ORDER BY SystemModstamp")).json()
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    url = first["nextRecordsUrl"]
    locator, offset = url.rsplit("/", 1)[1].split("-")
    assert url.startswith(f"{V}/query/0r8") and len(locator) == 18 and offset == "2000"
    seen = [r["Id"] for r in first["records"]]
    while url:
        page = (await api.get(url)).json()
        assert page["totalSize"] == 4500
        seen += [r["Id"] for r in page["records"]]
        url = page.get("nextRecordsUrl")
        assert page["done"] is (url is None)
    assert seen == many


async def test_locators_are_single_use_and_query_all_keeps_its_endpoint(
    many: list[str], api: httpx.AsyncClient
) -> None:
    first = (await query(api, "SELECT Id FROM Contact", endpoint="queryAll/")).json()
    url = first["nextRecordsUrl"]
    assert url.startswith(f"{V}/queryAll/0r8")
    assert (await api.get(url + "/")).status_code == 200  # simple-salesforce style slash is fine
    body = await api.get(url)
    assert assert_error(body, "INVALID_QUERY_LOCATOR") == "invalid query locator"
    bogus = await api.get(f"{V}/query/0r8Hu0000000000AAA-2000")  # never issued
    assert_error(bogus, "INVALID_QUERY_LOCATOR")
    skipped = (
        (await query(api, "SELECT Id FROM Contact"))
        .json()["nextRecordsUrl"]
        .replace("-2000", "-4000")
    )
    assert_error(await api.get(skipped), "INVALID_QUERY_LOCATOR")


async def test_locators_expire(make: Make, connect: Connect, clock: Any) -> None:
    sim = make(locator_lifetime=3600, session_lifetime=10**6)
    for i in range(300):
        sim.insert("Contact", LastName=f"X{i}")
    async with connect(sim) as c:
        early = (
            await query(c, "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=200"})
        ).json()
        late = (
            await query(c, "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=200"})
        ).json()
        assert (await c.get(early["nextRecordsUrl"])).status_code == 200
        clock.now += 3600
        expired = await c.get(late["nextRecordsUrl"])
    assert_error(expired, "INVALID_QUERY_LOCATOR")
    assert not sim.query_resource.cursors


@pytest.mark.parametrize(("header", "size"), [
    ("batchSize=500", 500), ("batchSize=50", 200), ("batchSize=5000", 2000), ("batchSize=abc", 2000),
    ("foo=bar, batchSize=1000", 1000),
])  # fmt: skip
async def test_batch_size_header(
    many: list[str], api: httpx.AsyncClient, header: str, size: int
) -> None:
    first = (await query(api, "SELECT Id FROM Contact", **{"Sforce-Query-Options": header})).json()
    assert len(first["records"]) == size
    second = (
        await api.get(first["nextRecordsUrl"], headers={"Sforce-Query-Options": header})
    ).json()
    assert len(second["records"]) == size


async def test_short_pages_knob(make: Make, connect: Connect) -> None:
    sim = make(short_page_rate=0.5, seed=11)
    ids = [sim.insert("Contact", LastName=f"S{i}") for i in range(3000)]
    sizes, seen = [], []
    async with connect(sim) as c:
        page = (
            await query(c, "SELECT Id FROM Contact", **{"Sforce-Query-Options": "batchSize=200"})
        ).json()
        while True:
            sizes.append(len(page["records"]))
            seen += [r["Id"] for r in page["records"]]
            if page["done"]:
                break
            page = (await c.get(page["nextRecordsUrl"])).json()
    assert seen == ids
    assert max(sizes) == 200 and min(sizes) < 200


# -- the index planner agrees with a full scan --------------------------------------------------


def test_indexed_plans_select_what_a_scan_selects(make: Make) -> None:
    rng = random.Random(4)
    sim = make()
    org = sim.org
    campaigns = [sim.insert("Campaign", Name=f"C{i}") for i in range(3)]
    contacts = []
    for i in range(400):
        stamp = JAN_1_MS + rng.randrange(0, 50) * 60_000
        email = f"u{rng.randrange(60)}@example.com" if rng.random() < 0.9 else None
        contacts.append(sim.insert("Contact", LastName=f"L{i}", Email=email, SystemModstamp=stamp))
    for contact in rng.sample(contacts, 150):
        sim.insert(
            "CampaignMember", CampaignId=rng.choice(campaigns), ContactId=contact, Status="Sent"
        )
    for contact in rng.sample(contacts, 40):  # updates and deletes leave stale index entries behind
        org.update("Contact", contact, {"Email": f"u{rng.randrange(60)}@EXAMPLE.com"},
                   modified=JAN_1_MS + rng.randrange(0, 50) * 60_000)  # fmt: skip
    for contact in rng.sample(contacts, 20):
        org.delete("Contact", contact)

    def scan(q: soql.Query, include_deleted: bool) -> list[str]:
        pred = engine._compile(org, q.sobject.name, q.where) if q.where else (lambda r: True)
        return sorted(r["Id"] for r in org.records[q.sobject.name].values()
                      if (include_deleted or not r["IsDeleted"]) and pred(r))  # fmt: skip

    texts = [
        "SELECT Id FROM Contact WHERE SystemModstamp > {t}",
        "SELECT Id FROM Contact WHERE SystemModstamp >= {t} AND SystemModstamp < {u}",
        "SELECT Id FROM Contact WHERE LastModifiedDate <= {t}",
        "SELECT Id FROM Contact WHERE SystemModstamp = {t}",
        "SELECT Id FROM Contact WHERE Email IN ('{e}', 'U3@example.com') AND SystemModstamp > {t}",
        "SELECT Id FROM Contact WHERE Id IN ('{c}', '{d}')",
        "SELECT Id FROM CampaignMember WHERE CampaignId = '{k}'",
        "SELECT Id FROM CampaignMember WHERE ContactId = '{c}' AND CampaignId = '{k}'",
    ]
    for _ in range(30):
        t = engine_datetime(JAN_1_MS + rng.randrange(0, 50) * 60_000)
        u = engine_datetime(JAN_1_MS + rng.randrange(0, 50) * 60_000)
        for template in texts:
            text = template.format(t=t, u=u, e=f"u{rng.randrange(60)}@example.com",
                                   c=rng.choice(contacts), d=rng.choice(contacts)[:15],
                                   k=rng.choice(campaigns))  # fmt: skip
            q = soql.parse(text, now_ms=JAN_1_MS)
            for include in (False, True):
                got = sorted(r["Id"] for r in engine.select(org, q, include_deleted=include))
                assert got == scan(q, include), text


def engine_datetime(ms: int) -> str:
    from segsync.connectors.salesforce.simulator.schema import format_datetime

    return format_datetime(ms, csv=True)
