"""The HubSpot CRM v3 simulator: contacts, search, batch, properties, deals, Lists v3, limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from segsync.connectors.hubspot.simulator import DEFAULT_TOKEN, HubSpotSimulator
from segsync.testing.simulator import Faults

TOKEN = "pat-na1-test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
C = "/crm/v3/objects/contacts"
ENVELOPE = {"status", "message", "correlationId", "category", "errors", "context", "links"}
RATE_HEADERS = [
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> HubSpotSimulator:
    sim = HubSpotSimulator(**kwargs)
    sim.add_credential(TOKEN)
    return sim


def client(sim: HubSpotSimulator) -> httpx.AsyncClient:
    return sim.client(headers=AUTH)


def assert_envelope(body: dict[str, Any], category: str) -> None:
    assert set(body) >= ENVELOPE, body
    assert body["status"] == "error"
    assert body["category"] == category
    assert len(body["correlationId"]) == 36


@pytest.fixture
def sim() -> HubSpotSimulator:
    s = make(search_per_second=1000)  # the search limit has its own test
    for i in range(25):
        s.add_contact(f"user{i}@example.com", firstname=f"U{i}", country="DE" if i % 2 else "FR")
    return s


# -- auth and envelope -------------------------------------------------------------------------


async def test_401_envelope_and_correlation_header(sim: HubSpotSimulator) -> None:
    async with sim.client() as c:
        r = await c.get(C)
        bad = await c.get(C, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and bad.status_code == 401
    assert_envelope(r.json(), "INVALID_AUTHENTICATION")
    assert r.headers["X-HubSpot-Correlation-Id"] == r.json()["correlationId"]
    assert r.headers["content-type"] == "application/json;charset=utf-8"


async def test_403_missing_scopes() -> None:
    sim = make()
    sim.add_credential("pat-readonly", scopes=["crm.objects.contacts.read"])
    async with sim.client(headers={"Authorization": "Bearer pat-readonly"}) as c:
        ok = await c.get(C)
        r = await c.post("/crm/v3/lists", json={"name": "x"})
    assert ok.status_code == 200
    assert r.status_code == 403
    body = r.json()
    assert_envelope(body, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.lists.write"]


async def test_unknown_route_is_404_envelope(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await c.get("/crm/v3/nothing")
    assert r.status_code == 404
    assert_envelope(r.json(), "OBJECT_NOT_FOUND")


@pytest.mark.parametrize("status", [423, 477, 502])
async def test_injected_errors(status: int) -> None:
    sim = make(faults=Faults(error_rate=1.0, error_statuses=(status,)))
    async with client(sim) as c:
        r = await c.get(C)
    assert r.status_code == status
    assert_envelope(r.json(), r.json()["category"])
    assert "X-HubSpot-Correlation-Id" in r.headers
    assert ("Retry-After" in r.headers) == (status == 477)


def test_default_fault_statuses() -> None:
    assert HubSpotSimulator().faults.error_statuses == (423, 477, 502)


# -- rate limits -------------------------------------------------------------------------------


async def test_headers_on_objects_and_lists_not_on_search(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        objects = await c.get(C)
        lists = await c.post(
            "/crm/v3/lists", json={"name": "L", "objectTypeId": "0-1", "processingType": "MANUAL"}
        )
        search = await c.post(f"{C}/search", json={})
    for r in (objects, lists):
        for h in RATE_HEADERS:
            assert h in r.headers, h
        assert "X-HubSpot-Correlation-Id" in r.headers
    assert objects.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert objects.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert objects.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert objects.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert objects.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    assert objects.headers["X-HubSpot-RateLimit-Secondly"] == "10"
    assert search.status_code == 200
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in search.headers)
    assert "X-HubSpot-Correlation-Id" in search.headers


async def test_burst_429_ten_secondly_rolling() -> None:
    clock = FakeClock()
    sim = make(burst=3, clock=clock)
    async with client(sim) as c:
        codes = [(await c.get(C)).status_code for _ in range(3)]
        r = await c.get(C)
        clock.now += 10.0
        again = await c.get(C)
    assert codes == [200, 200, 200]
    assert r.status_code == 429
    body = r.json()
    assert_envelope(body, "RATE_LIMITS")
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert again.status_code == 200


async def test_burst_configurable_to_190() -> None:
    sim = make(burst=190, clock=FakeClock())
    async with client(sim) as c:
        r = await c.get(C)
    assert r.headers["X-HubSpot-RateLimit-Max"] == "190"


async def test_search_secondly_limit() -> None:
    clock = FakeClock()
    sim = make(search_per_second=2, clock=clock)
    async with client(sim) as c:
        codes = [(await c.post(f"{C}/search", json={})).status_code for _ in range(2)]
        r = await c.post(f"{C}/search", json={})
        other = await c.get(C)
        clock.now += 1.0
        later = await c.post(f"{C}/search", json={})
    assert codes == [200, 200]
    assert r.status_code == 429
    assert r.json()["policyName"] == "SECONDLY"
    assert r.json()["errorType"] == "RATE_LIMIT"
    assert other.status_code == 200
    assert later.status_code == 200


async def test_daily_limit() -> None:
    clock = FakeClock()
    sim = make(daily=2, clock=clock)
    async with client(sim) as c:
        first = await c.get(C)
        await c.get(C)
        r = await c.get(C)
        clock.now += 86_400
        next_day = await c.get(C)
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert r.status_code == 429
    assert r.json()["policyName"] == "DAILY"
    assert r.json()["message"] == "You have reached your daily limit."
    assert next_day.status_code == 200


# -- contacts ----------------------------------------------------------------------------------


async def test_list_contacts_paging_and_link(sim: HubSpotSimulator) -> None:
    seen: list[str] = []
    async with client(sim) as c:
        r = await c.get(C, params={"limit": 10, "properties": "email,firstname,nope"})
        body = r.json()
        first = body["results"][0]
        assert first["id"] == "101"
        assert first["properties"]["email"] == "user0@example.com"
        assert set(first["properties"]) == {
            "email", "firstname", "createdate", "hs_object_id", "lastmodifieddate"
        }  # fmt: skip
        assert all(isinstance(v, str) for v in first["properties"].values())
        assert {"createdAt", "updatedAt", "archived"} <= set(first)
        link = body["paging"]["next"]["link"]
        assert link.startswith("http://simulator.test/crm/v3/objects/contacts?")
        seen += [x["id"] for x in body["results"]]
        while "paging" in body:
            body = (await c.get(body["paging"]["next"]["link"])).json()
            seen += [x["id"] for x in body["results"]]
    assert seen == [str(i) for i in range(101, 126)]


async def test_list_limit_over_100_is_400(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await c.get(C, params={"limit": 101})
    assert r.status_code == 400
    assert_envelope(r.json(), "VALIDATION_ERROR")


async def test_served_link_uses_own_base_url(sim: HubSpotSimulator) -> None:
    with sim.serve() as served:
        async with httpx.AsyncClient(base_url=served.base_url, headers=AUTH) as c:
            body = (await c.get(C, params={"limit": 5})).json()
    assert body["paging"]["next"]["link"].startswith(served.base_url + C)


# -- search ------------------------------------------------------------------------------------


async def search(c: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await c.post(f"{C}/search", json=body)


def eq(name: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    f = {"propertyName": name, "operator": op, **extra}
    if value is not None:
        f["value"] = value
    return {"filters": [f]}


async def test_search_operators(sim: HubSpotSimulator) -> None:
    sim.add_contact("nophone@example.com")
    async with client(sim) as c:
        de = (await search(c, filterGroups=[eq("country", "EQ", "DE")], limit=100)).json()
        neq = (await search(c, filterGroups=[eq("country", "NEQ", "DE")], limit=100)).json()
        gt = (await search(c, filterGroups=[eq("hs_object_id", "GT", "120")])).json()
        gte = (await search(c, filterGroups=[eq("hs_object_id", "GTE", "120")])).json()
        lt = (await search(c, filterGroups=[eq("hs_object_id", "LT", "103")])).json()
        lte = (await search(c, filterGroups=[eq("hs_object_id", "LTE", "103")])).json()
        has = (await search(c, filterGroups=[eq("country", "HAS_PROPERTY")], limit=100)).json()
        nhas = (await search(c, filterGroups=[eq("country", "NOT_HAS_PROPERTY")])).json()
        inn = await search(
            c, filterGroups=[eq("email", "IN", values=["user1@example.com", "user2@example.com"])]
        )
        either = await search(
            c, filterGroups=[eq("email", "EQ", "user3@example.com"), eq("firstname", "EQ", "U4")]
        )
    assert de["total"] == 12
    assert neq["total"] == 14  # 13 FR + the contact with no country
    assert gt["total"] == 6 and gte["total"] == 7  # 121..126
    assert lt["total"] == 2 and lte["total"] == 3
    assert has["total"] == 25 and nhas["total"] == 1
    assert [x["id"] for x in inn.json()["results"]] == ["102", "103"]
    assert {x["id"] for x in either.json()["results"]} == {"104", "105"}
    # the default search properties, those with a value (lastname is unset)
    assert set(de["results"][0]["properties"]) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate"
    }  # fmt: skip


async def test_search_lastmodifieddate_gte_epoch_ms() -> None:
    wall = WallClock()
    sim = make(wall_clock=wall)
    a = sim.add_contact("a@example.com")
    sim.add_contact("b@example.com")
    wall.now += 3600
    since = str(int(wall.now * 1000))
    async with client(sim) as c:
        await c.post(f"{C}/batch/update", json={"inputs": [{"id": a, "properties": {"city": "X"}}]})
        r = await search(
            c,
            filterGroups=[eq("lastmodifieddate", "GTE", since)],
            sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            properties=["email", "city"],
        )
    body = r.json()
    assert body["total"] == 1
    assert body["results"][0]["properties"]["email"] == "a@example.com"
    assert body["results"][0]["properties"]["city"] == "X"


async def test_search_sorts_and_paging(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        desc = (
            await search(
                c, sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}], limit=3
            )
        ).json()
        as_strings = (await search(c, sorts=["-hs_object_id"], limit=3)).json()
        page2 = (await search(c, limit=10, after=desc["paging"]["next"]["after"])).json()
        last = (await search(c, limit=10, after="20")).json()
    assert [x["id"] for x in desc["results"]] == ["125", "124", "123"]
    assert as_strings["results"] == desc["results"]
    assert desc["paging"]["next"]["after"] == "3"
    assert page2["results"][0]["id"] == "104"
    assert "paging" not in last and len(last["results"]) == 5


async def test_search_limits(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        too_big = await search(c, limit=201)
        ok = await search(c, limit=200, after="9800")
        capped = await search(c, limit=200, after="9801")
    assert too_big.status_code == 400
    assert_envelope(too_big.json(), "VALIDATION_ERROR")
    assert ok.status_code == 200
    assert capped.status_code == 400
    assert_envelope(capped.json(), "VALIDATION_ERROR")


async def test_search_cap_configurable(sim: HubSpotSimulator) -> None:
    sim.search_result_cap = 20
    async with client(sim) as c:
        r = await search(c, limit=10, after="15")
    assert r.status_code == 400


# -- batch -------------------------------------------------------------------------------------


async def test_batch_read_by_id_and_email(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        ok = await c.post(
            f"{C}/batch/read", json={"inputs": [{"id": "101"}], "properties": ["email"]}
        )
        by_email = await c.post(
            f"{C}/batch/read",
            json={
                "inputs": [{"id": "USER2@example.com"}],
                "idProperty": "email",
                "properties": ["firstname"],
            },
        )
        partial = await c.post(f"{C}/batch/read", json={"inputs": [{"id": "101"}, {"id": "999"}]})
    assert ok.status_code == 200
    body = ok.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt", "results"} <= set(body)
    assert "numErrors" not in body
    assert by_email.json()["results"][0]["id"] == "103"
    assert by_email.json()["results"][0]["properties"]["firstname"] == "U2"
    assert partial.status_code == 207
    p = partial.json()
    assert p["numErrors"] == 1
    assert p["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert p["errors"][0]["context"]["ids"] == ["999"]
    assert len(p["results"]) == 1


async def test_batch_update_207_and_lastmodified_bump() -> None:
    wall = WallClock()
    sim = make(wall_clock=wall)
    cid = sim.add_contact("a@example.com", firstname="A")
    before = sim.contact(cid)["properties"]["lastmodifieddate"]
    wall.now += 60
    async with client(sim) as c:
        r = await c.post(
            f"{C}/batch/update",
            json={
                "inputs": [
                    {
                        "id": cid,
                        "properties": {"firstname": "Anna", "phone": 123},
                        "objectWriteTraceId": "t1",
                    },
                    {"id": "999", "properties": {"firstname": "X"}, "objectWriteTraceId": "t2"},
                ]
            },
        )
    assert r.status_code == 207
    body = r.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert body["errors"][0]["context"]["ids"] == ["999"]
    assert body["results"][0]["objectWriteTraceId"] == "t1"
    props = sim.contact(cid)["properties"]
    assert props["firstname"] == "Anna" and props["phone"] == "123"
    assert props["lastmodifieddate"] > before
    assert sim.contact(cid)["updatedAt"] == props["lastmodifieddate"]


async def test_batch_update_by_email_and_clear(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await c.post(
            f"{C}/batch/update",
            json={
                "inputs": [
                    {
                        "id": "user0@example.com",
                        "idProperty": "email",
                        "properties": {"firstname": ""},
                    }
                ]
            },
        )
    assert r.status_code == 200
    assert "firstname" not in sim.contact("101")["properties"]


async def test_batch_invalid_property_fails_whole_batch(sim: HubSpotSimulator) -> None:
    inputs = [
        {"id": "101", "properties": {"firstname": "ok"}},
        {"id": "102", "properties": {"missing": "x"}},
    ]
    async with client(sim) as c:
        r = await c.post(f"{C}/batch/update", json={"inputs": inputs})
        traced = await c.post(
            f"{C}/batch/update",
            json={"inputs": [dict(i, objectWriteTraceId=f"t{n}") for n, i in enumerate(inputs)]},
        )
    assert r.status_code == 400
    assert_envelope(r.json(), "VALIDATION_ERROR")
    assert traced.status_code == 207
    err = traced.json()["errors"][0]
    assert err["category"] == "VALIDATION_ERROR"
    assert err["context"]["objectWriteTraceId"] == ["t1"]
    assert "PROPERTY_DOESNT_EXIST" in err["message"]
    assert sim.contact("101")["properties"]["firstname"] == "ok"


async def test_batch_upsert(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await c.post(
            f"{C}/batch/upsert",
            json={
                "inputs": [
                    {
                        "id": "NEW@example.com",
                        "idProperty": "email",
                        "properties": {"firstname": "N"},
                    },
                    {
                        "id": "user1@example.com",
                        "idProperty": "email",
                        "properties": {"city": "Köln"},
                    },
                ]
            },
        )
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["new"] for x in results] == [True, False]
    new_id = sim.contact_id("new@example.com")
    assert new_id == "126" == results[0]["id"]
    assert sim.contact(new_id)["properties"]["email"] == "new@example.com"
    assert sim.contact("102")["properties"]["city"] == "Köln"


async def test_batch_over_100_is_400(sim: HubSpotSimulator) -> None:
    inputs = [{"id": str(i)} for i in range(101)]
    async with client(sim) as c:
        for op in ("read", "update", "upsert"):
            r = await c.post(f"{C}/batch/{op}", json={"inputs": inputs, "idProperty": "email"})
            assert r.status_code == 400, op
            assert_envelope(r.json(), "VALIDATION_ERROR")


# -- properties --------------------------------------------------------------------------------


async def test_properties_and_checkbox_validation(sim: HubSpotSimulator) -> None:
    definition = {
        "name": "segsync_segments",
        "label": "segsync segments",
        "type": "enumeration",
        "fieldType": "checkbox",
        "groupName": "contactinformation",
        "options": [{"label": "VIP", "value": "vip", "hidden": False, "displayOrder": 0}],
    }
    p = "/crm/v3/properties/contacts"
    async with client(sim) as c:
        names = {x["name"] for x in (await c.get(p)).json()["results"]}
        created = await c.post(p, json=definition)
        dup = await c.post(p, json=definition)
        bad = await c.post(
            f"{C}/batch/update",
            json={"inputs": [{"id": "101", "properties": {"segsync_segments": "vip;churn"}}]},
        )
        patched = await c.patch(
            f"{p}/segsync_segments",
            json={
                "options": [
                    {"label": "VIP", "value": "vip", "hidden": False},
                    {"label": "Churn", "value": "churn", "hidden": False},
                ]
            },
        )
        good = await c.post(
            f"{C}/batch/update",
            json={"inputs": [{"id": "101", "properties": {"segsync_segments": "vip;churn"}}]},
        )
        got = await c.get(f"{p}/segsync_segments")
        missing = await c.get(f"{p}/nope")
        invalid = await c.post(p, json={"name": "x"})
    assert {"email", "firstname", "lastname", "phone", "country", "city", "hs_email_optout",
            "hs_object_id", "createdate", "lastmodifieddate"} <= names  # fmt: skip
    assert created.status_code == 201
    assert dup.status_code == 409
    assert_envelope(dup.json(), dup.json()["category"])
    assert bad.status_code == 400
    assert_envelope(bad.json(), "VALIDATION_ERROR")
    assert patched.status_code == 200
    assert [o["value"] for o in got.json()["options"]] == ["vip", "churn"]
    assert good.status_code == 200
    assert sim.property_values("segsync_segments") == {"101": "vip;churn"}
    assert missing.status_code == 404
    assert invalid.status_code == 400


async def test_read_only_property_rejected(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await c.post(
            f"{C}/batch/update",
            json={"inputs": [{"id": "101", "properties": {"hs_object_id": "5"}}]},
        )
    assert r.status_code == 400


# -- deals -------------------------------------------------------------------------------------


async def test_deals_with_contact_associations(sim: HubSpotSimulator) -> None:
    ids = sim.seed_deals(
        [
            {
                "amount": 120.5,
                "closedate": "2026-01-05T00:00:00Z",
                "dealstage": "closedwon",
                "contacts": ["101"],
            },
            {"amount": "99", "dealstage": "appointmentscheduled"},
        ]
    )
    async with client(sim) as c:
        r = await c.get(
            "/crm/v3/objects/deals",
            params={
                "limit": 1,
                "properties": "amount,closedate,dealstage",
                "associations": "contacts",
            },
        )
        body = r.json()
        nxt = (await c.get(body["paging"]["next"]["link"])).json()
    first = body["results"][0]
    assert first["id"] == ids[0]
    assert first["properties"]["amount"] == "120.5"
    assert first["properties"]["dealstage"] == "closedwon"
    assert first["associations"] == {
        "contacts": {"results": [{"id": "101", "type": "deal_to_contact"}]}
    }
    assert "X-HubSpot-RateLimit-Max" in r.headers
    assert "associations" not in nxt["results"][0]
    assert "paging" not in nxt


# -- lists -------------------------------------------------------------------------------------


async def create_list(c: httpx.AsyncClient, name: str) -> httpx.Response:
    return await c.post(
        "/crm/v3/lists", json={"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}
    )


async def test_lists_create_find_duplicate(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        r = await create_list(c, "segsync: VIP")
        dup = await create_list(c, "SEGSYNC: vip")
        by_name = await c.get("/crm/v3/lists/object-type-id/0-1/name/segsync: vip")
        absent = await c.get("/crm/v3/lists/object-type-id/0-1/name/nope")
        list_id = r.json()["list"]["listId"]
        by_id = await c.get(f"/crm/v3/lists/{list_id}")
        found = await c.post(
            "/crm/v3/lists/search", json={"query": "segsync", "processingTypes": ["MANUAL"]}
        )
    assert r.status_code == 200
    lst = r.json()["list"]
    assert {
        "listId",
        "listVersion",
        "name",
        "objectTypeId",
        "processingStatus",
        "processingType",
    } <= set(lst)
    assert lst["processingType"] == "MANUAL" and lst["objectTypeId"] == "0-1"
    assert dup.status_code == 400
    assert_envelope(dup.json(), "VALIDATION_ERROR")
    assert by_name.json()["list"]["listId"] == list_id
    assert absent.status_code == 404
    assert_envelope(absent.json(), "OBJECT_NOT_FOUND")
    assert by_id.json()["list"]["name"] == "segsync: VIP"
    assert found.json()["total"] == 1 and found.json()["lists"][0]["listId"] == list_id
    assert sim.list_id("SEGSYNC: VIP") == list_id


async def test_list_memberships(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        list_id = (await create_list(c, "L")).json()["list"]["listId"]
        base = f"/crm/v3/lists/{list_id}/memberships"
        add = await c.put(f"{base}/add", json=["101", 102, "103", "999"])
        again = await c.put(f"{base}/add", json=["101"])
        remove = await c.put(f"{base}/remove", json=["103", "104", "888"])
        both = await c.put(
            f"{base}/add-and-remove",
            json={"recordIdsToAdd": ["110", "105"], "recordIdsToRemove": ["101"]},
        )
        assert sim.list_members(list_id) == {"102", "105", "110"}
        page1 = (await c.get(base, params={"limit": 2})).json()
        page2 = (
            await c.get(base, params={"limit": 2, "after": page1["paging"]["next"]["after"]})
        ).json()
        too_big = await c.get(base, params={"limit": 251})
        deleted = await c.delete(f"/crm/v3/lists/{list_id}")
        gone = await c.get(f"/crm/v3/lists/{list_id}")
    assert add.status_code == 200
    assert add.json() == {
        "recordsIdsAdded": ["101", "102", "103"],
        "recordIdsRemoved": [],
        "recordIdsMissing": ["999"],
    }
    assert again.json()["recordsIdsAdded"] == []
    assert remove.json() == {
        "recordsIdsAdded": [],
        "recordIdsRemoved": ["103"],
        "recordIdsMissing": ["888"],
    }
    assert both.json()["recordsIdsAdded"] == ["110", "105"]
    assert both.json()["recordIdsRemoved"] == ["101"]
    assert [x["recordId"] for x in page1["results"]] == ["102", "105"]
    assert "membershipTimestamp" in page1["results"][0]
    assert [x["recordId"] for x in page2["results"]] == ["110"]
    assert "paging" not in page2
    assert too_big.status_code == 400
    assert deleted.status_code == 204
    assert gone.status_code == 404


async def test_membership_call_size_limit() -> None:
    sim = make(max_membership_ids=3)
    async with client(sim) as c:
        list_id = (await create_list(c, "L")).json()["list"]["listId"]
        r = await c.put(f"/crm/v3/lists/{list_id}/memberships/add", json=["1", "2", "3", "4"])
        r2 = await c.put(
            f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
            json={"recordIdsToAdd": ["1", "2"], "recordIdsToRemove": ["3", "4"]},
        )
    assert r.status_code == 400 and r2.status_code == 400
    assert_envelope(r.json(), "VALIDATION_ERROR")
    assert "X-HubSpot-RateLimit-Max" in r.headers


# -- seeding and helpers -----------------------------------------------------------------------


def test_seed_contacts_and_sandbox_credentials() -> None:
    sim = HubSpotSimulator()
    rows = [
        {"id": "C1", "email": " Ann@Example.org ", "first_name": "Ann", "last_name": "A", "phone": "+491",
         "country": "DE", "city": "Berlin", "language": "de", "email_opt_in": "no"},
        {"id": "C2", "email": "ann@example.org", "first_name": "Dup", "email_opt_in": "yes"},
        {"id": "C3", "email": "", "first_name": "NoEmail"},
        {"id": "C4", "email": "bob@example.org", "first_name": "Bob", "email_opt_in": "yes"},
    ]  # fmt: skip
    sim.seed_contacts(rows)
    assert sim.contact_id("ANN@example.org") == "101"
    assert sim.contact_id("bob@example.org") == "102"
    assert len(sim.contacts) == 2
    ann = sim.contact("101")["properties"]
    assert ann["email"] == "ann@example.org"
    assert ann["firstname"] == "Ann" and ann["lastname"] == "A" and ann["country"] == "DE"
    assert ann["hs_email_optout"] == "true" and ann["hs_object_id"] == "101"
    assert sim.contact("102")["properties"]["hs_email_optout"] == "false"
    assert all(isinstance(v, str) for v in ann.values())
    assert sim.credentials_for_sandbox() == {"token": DEFAULT_TOKEN}
    assert sim.property_values("firstname") == {"101": "Ann", "102": "Bob"}


async def test_sandbox_token_works() -> None:
    sim = HubSpotSimulator()
    token = sim.credentials_for_sandbox()["token"]
    async with sim.client(headers={"Authorization": f"Bearer {token}"}) as c:
        r = await c.get(C)
    assert r.status_code == 200


# -- trailing slashes, schemas, membership order, kept search results --------------------------


async def test_paths_answer_with_and_without_a_trailing_slash(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        made = await c.post("/crm/v3/lists/", json={"name": "Slashed", "objectTypeId": "0-1",
                                                   "processingType": "MANUAL"})  # fmt: skip
        list_id = made.json()["list"]["listId"]
        fetched = await c.get("/crm/v3/lists/", params={"listIds": [list_id, "77"]})
        plain, slashed = (
            await c.get(C, params={"limit": 3}),
            await c.get(f"{C}/", params={"limit": 3}),
        )
        one = await c.get(f"{C}/101/")
    assert made.status_code == 200 and sim.list_id("Slashed") == list_id
    assert [x["listId"] for x in fetched.json()["lists"]] == [list_id]
    assert [r["id"] for r in plain.json()["results"]] == [
        r["id"] for r in slashed.json()["results"]
    ]
    assert one.json()["id"] == "101"
    assert [r.path for r in sim.requests][:2] == ["/crm/v3/lists/", "/crm/v3/lists/"]


@pytest.mark.parametrize("path", ["/crm/v3/schemas", "/crm-object-schemas/v3/schemas"])
async def test_schemas_list_no_custom_objects_as_empty_results(path: str) -> None:
    sim = make()
    async with client(sim) as c:
        r = await c.get(path)
        slashed = await c.get(f"{path}/")
        missing = await c.get(f"{path}/pets")
    assert r.status_code == 200
    assert r.json() == {"results": []}
    assert slashed.json() == {"results": []}
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    assert "X-HubSpot-RateLimit-Max" in r.headers
    assert missing.status_code == 404
    assert_envelope(missing.json(), "OBJECT_NOT_FOUND")


async def test_schemas_of_custom_objects() -> None:
    pets = {"name": "pets", "labels": {"singular": "Pet", "plural": "Pets"},
            "requiredProperties": ["pet_name"],
            "properties": [{"name": "pet_name", "label": "Pet name", "type": "string",
                            "fieldType": "text"}]}  # fmt: skip
    sim = make(custom_objects=[pets, {"name": "old_things", "archived": True}], portal_id=42)
    async with client(sim) as c:
        live = (await c.get("/crm/v3/schemas")).json()["results"]
        archived = (await c.get("/crm/v3/schemas", params={"archived": "true"})).json()
        by_type = await c.get("/crm/v3/schemas/2-1000001")
        by_name = await c.get("/crm/v3/schemas/p42_pets")
        bad = await c.get("/crm/v3/schemas", params={"archived": "maybe"})
    assert [s["name"] for s in live] == ["pets"]
    schema = live[0]
    assert schema["objectTypeId"] == "2-1000001"
    assert schema["fullyQualifiedName"] == "p42_pets"
    assert schema["labels"] == {"singular": "Pet", "plural": "Pets"}
    assert schema["primaryDisplayProperty"] == "pet_name"
    assert schema["requiredProperties"] == ["pet_name"]
    assert schema["properties"][0]["groupName"] == "pets_information"
    assert {"associations", "createdAt", "updatedAt", "archived", "id"} <= set(schema)
    assert [s["name"] for s in archived["results"]] == ["old_things"]
    assert by_type.json() == schema == by_name.json()
    assert bad.status_code == 400
    assert_envelope(bad.json(), "VALIDATION_ERROR")


async def test_schemas_need_their_scope() -> None:
    sim = make()
    sim.add_credential("pat-contacts", scopes=["crm.objects.contacts.read"])
    sim.add_credential("pat-schemas", scopes=["crm.schemas.custom.read"])
    async with sim.client() as c:
        refused = await c.get("/crm/v3/schemas", headers={"Authorization": "Bearer pat-contacts"})
        allowed = await c.get("/crm/v3/schemas", headers={"Authorization": "Bearer pat-schemas"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.schemas.custom.read"
    ]
    assert allowed.status_code == 200


async def test_memberships_page_in_record_id_order_however_they_were_added() -> None:
    import random

    sim = make(burst=10_000)
    ids = [sim.add_contact(f"m{i}@example.org") for i in range(300)]
    shuffled = random.Random(5).sample(ids, len(ids))
    async with client(sim) as c:
        list_id = (await create_list(c, "Big")).json()["list"]["listId"]
        base = f"/crm/v3/lists/{list_id}/memberships"
        for start in range(0, 300, 70):
            assert (
                await c.put(f"{base}/add", json=shuffled[start : start + 70])
            ).status_code == 200
        await c.put(f"{base}/remove", json=ids[10:20])
        await c.put(f"{base}/add", json=ids[15:17])  # back in before the next read
        seen, after = [], None
        while True:
            params = {"limit": 37, **({"after": after} if after else {})}
            page = (await c.get(base, params=params)).json()
            seen += [m["recordId"] for m in page["results"]]
            assert page["total"] == 292
            after = page.get("paging", {}).get("next", {}).get("after")
            if after is None:
                break
        await c.delete(base)
        emptied = (await c.get(base)).json()
    expected = [i for i in ids if i not in ids[10:20] or i in ids[15:17]]
    assert seen == sorted(expected, key=int)
    assert emptied == {"results": [], "total": 0}


async def test_membership_call_with_an_invalid_id_changes_nothing(sim: HubSpotSimulator) -> None:
    async with client(sim) as c:
        list_id = (await create_list(c, "Strict")).json()["list"]["listId"]
        r = await c.put(f"/crm/v3/lists/{list_id}/memberships/add", json=["101", {"id": 2}])
        both = await c.put(
            f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
            json={"recordIdsToAdd": ["102"], "recordIdsToRemove": [True]},
        )
    assert r.status_code == 400 and both.status_code == 400
    assert_envelope(r.json(), "VALIDATION_ERROR")
    assert sim.list_members(list_id) == set()


async def test_search_pages_see_a_write_made_between_them(sim: HubSpotSimulator) -> None:
    query = {"filterGroups": [{"filters": [{"propertyName": "country", "operator": "EQ",
                                            "value": "DE"}]}], "limit": 5}  # fmt: skip
    async with client(sim) as c:
        first = (await c.post(f"{C}/search", json=query)).json()
        again = (await c.post(f"{C}/search", json=query)).json()
        sim.set_properties(first["results"][0]["id"], country="FR")
        after = (await c.post(f"{C}/search", json=query)).json()
    assert first == again
    assert first["total"] == 12
    assert after["total"] == 11
    assert after["results"][0]["id"] == first["results"][1]["id"]
