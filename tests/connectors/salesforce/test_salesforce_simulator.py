"""The Salesforce simulator: versions, auth, the error envelope, paths, limits, faults, seeding."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceSimulator,
)
from segsync.connectors.salesforce.simulator.ids import IdFactory, is_id, to_18
from segsync.sandbox.serve import sandbox_audience
from segsync.testing.simulator import Faults

V = "/services/data/v66.0"
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    body = r.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["errorCode"] == code
    assert isinstance(body[0]["message"], str)
    item: dict[str, Any] = body[0]
    return item


# -- ids ---------------------------------------------------------------------------------------


def test_ids_have_the_real_shapes_and_checksums() -> None:
    assert to_18("003R0000000UyrW") == "003R0000000UyrWIAS"  # the docs' example id
    assert to_18("003R0000000GiwjIAC") == "003R0000000GiwjIAC"
    assert to_18("003R0000000GiwjIAD") is None  # wrong checksum
    assert to_18("003R0000000Giwj!") is None
    assert to_18("003R00000") is None
    factory = IdFactory(seed=7)
    ids = [factory.new("003") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 18 and is_id(i, "003") and to_18(i[:15]) == i for i in ids)
    assert IdFactory(seed=7).new("003") == ids[0]
    assert factory.new("0r8").startswith("0r8")
    with pytest.raises(ValueError):
        factory.new("00")


# -- versions, auth, envelope ------------------------------------------------------------------


async def test_versions_uri_is_public_and_has_no_limit_info(make: Make, connect: Connect) -> None:
    sim = make(api_version_floor=40.0)
    async with connect(sim, token=None) as c:
        plain = await c.get("/services/data")
        slash = await c.get("/services/data/")
    assert plain.status_code == slash.status_code == 200
    assert plain.json() == slash.json()
    versions = plain.json()
    assert versions[0] == {"label": "Summer '17", "url": "/services/data/v40.0", "version": "40.0"}
    assert versions[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    assert {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"} in versions
    assert "sforce-limit-info" not in plain.headers
    assert sim.limits.api_usage == 0


async def test_every_version_in_range_answers_and_older_ones_are_gone(
    make: Make, connect: Connect
) -> None:
    sim = make(api_version_floor=35.0)
    async with connect(sim) as c:
        ok = [await c.get(f"/services/data/v{v}.0/limits") for v in (35, 52, 66, 68)]
        gone = await c.get("/services/data/v34.0/limits")
        future = await c.get("/services/data/v69.0/limits")
        junk = await c.get("/services/data/66/limits")
    assert all(r.status_code == 200 for r in ok)
    assert_error(gone, 410, "UNSUPPORTED_API_VERSION")
    assert_error(future, 404, "NOT_FOUND")
    assert_error(junk, 404, "NOT_FOUND")


async def test_missing_or_unknown_session_is_401_array(
    sim: SalesforceSimulator, connect: Connect
) -> None:
    async with connect(sim, token=None) as c:
        missing = await c.get(f"{V}/limits")
        unknown = await c.get(f"{V}/limits", headers={"Authorization": "Bearer nope"})
    for r in (missing, unknown):
        assert r.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        assert r.status_code == 401
        assert "sforce-limit-info" not in r.headers
    async with connect(
        sim, token=None, headers={"Authorization": f"OAuth {next(iter(sim.oauth.sessions))}"}
    ) as c:
        assert (await c.get(f"{V}/limits")).status_code == 200


async def test_sessions_expire_after_their_lifetime_and_on_demand(
    make: Make, connect: Connect, clock: Any
) -> None:
    sim = make(session_lifetime=600)
    async with connect(sim) as c:
        assert (await c.get(f"{V}/limits")).status_code == 200
        clock.now += 601
        assert_error(await c.get(f"{V}/limits"), 401, "INVALID_SESSION_ID")
    sim.add_credential("fresh")
    async with connect(sim, token="fresh") as c:
        assert (await c.get(f"{V}/limits")).status_code == 200
        sim.expire_sessions()
        assert_error(await c.get(f"{V}/limits"), 401, "INVALID_SESSION_ID")


async def test_trailing_slashes_route_identically(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    sim.insert("Contact", LastName="Slash", Email="slash@example.com")
    q = {"q": "SELECT Id, Email FROM Contact"}
    with_slash, without = (
        await api.get(f"{V}/query/", params=q),
        await api.get(f"{V}/query", params=q),
    )
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.json() == without.json()
    created = await api.post(f"{V}/sobjects/Contact/", json={"LastName": "Again"})
    assert created.status_code == 201
    limits = await api.get(f"{V}/limits/")
    assert limits.status_code == 200 and "DailyApiRequests" in limits.json()
    directory = await api.get(f"{V}/")
    assert directory.json()["query"] == f"{V}/query"


async def test_unknown_paths_404_and_wrong_methods_405(api: httpx.AsyncClient) -> None:
    assert_error(await api.get(f"{V}/nothing/here"), 404, "NOT_FOUND")
    assert_error(await api.get(f"{V}/sobjects/Widget__c/describe"), 404, "NOT_FOUND")
    wrong = assert_error(await api.put(f"{V}/query"), 405, "METHOD_NOT_ALLOWED")
    assert wrong["message"] == "HTTP Method 'PUT' not allowed. Allowed are GET,HEAD"
    body = assert_error(
        await api.post(f"{V}/sobjects/Contact", content=b"{nope"), 400, "JSON_PARSER_ERROR"
    )
    assert "line:1" in body["message"]


# -- limits ------------------------------------------------------------------------------------


async def test_limit_info_counts_calls_and_the_allocation_answers_403(
    make: Make, connect: Connect
) -> None:
    sim = make(daily_api_requests=3, api_bursts=(1, 750))
    async with connect(sim) as c:
        answers = [await c.get(f"{V}/limits") for _ in range(4)]
        versions = await c.get("/services/data")
    assert [r.headers["sforce-limit-info"] for r in answers[:3]] == [
        f"api-usage={n}/3; api-bursts=1/750" for n in (1, 2, 3)
    ]
    refused = assert_error(answers[3], 403, "REQUEST_LIMIT_EXCEEDED")
    assert refused["message"] == "TotalRequests Limit exceeded."
    assert answers[3].headers["sforce-limit-info"].startswith("api-usage=3/3")
    assert versions.status_code == 200  # the Versions URI is not counted
    assert answers[2].json()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}


async def test_allocation_is_a_rolling_24_hours(make: Make, connect: Connect, clock: Any) -> None:
    sim = make(daily_api_requests=5, session_lifetime=7 * 86_400)
    sim.limits.use(5)
    async with connect(sim) as c:
        assert_error(await c.get(f"{V}/limits"), 403, "REQUEST_LIMIT_EXCEEDED")
        clock.now += 86_400
        r = await c.get(f"{V}/limits")
    assert r.status_code == 200
    assert r.headers["sforce-limit-info"] == "api-usage=1/5"


async def test_long_running_requests_are_capped(make: Make, connect: Connect) -> None:
    slow = Faults(latency=0.3, only_paths=(f"{V}/query",))
    sim = make(long_request_seconds=0.1, long_request_cap=2, faults=slow)
    sim.insert("Contact", LastName="Slow")
    async with connect(sim) as c:
        q = {"q": "SELECT Id FROM Contact"}
        pending = [asyncio.create_task(c.get(f"{V}/query", params=q)) for _ in range(2)]
        await asyncio.sleep(0.15)  # both are now long-running
        refused = await c.get(f"{V}/limits")
        done = await asyncio.gather(*pending)
        after = await c.get(f"{V}/limits")
    body = assert_error(refused, 403, "REQUEST_LIMIT_EXCEEDED")
    assert body["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."
    assert all(r.status_code == 200 for r in done)
    assert after.status_code == 200


async def test_short_requests_are_never_capped(make: Make, connect: Connect) -> None:
    sim = make(long_request_seconds=5, long_request_cap=1)
    async with connect(sim) as c:
        answers = await asyncio.gather(*(c.get(f"{V}/limits") for _ in range(10)))
    assert all(r.status_code == 200 for r in answers)


async def test_uri_and_header_size_limits(make: Make, connect: Connect) -> None:
    sim = make(max_uri_bytes=300, max_request_bytes=600)
    async with connect(sim) as c:
        emails = ",".join(f"'user{i}@example.com'" for i in range(30))
        long_uri = await c.get(
            f"{V}/query", params={"q": f"SELECT Id FROM Contact WHERE Email IN ({emails})"}
        )
        big_headers = await c.get(f"{V}/limits", headers={"X-Padding": "x" * 500})
        fine = await c.get(f"{V}/limits")
    assert long_uri.status_code == 414
    assert big_headers.status_code == 431
    assert fine.status_code == 200
    assert sim.limits.api_usage == 1  # refused requests are not counted
    assert [r.fault for r in sim.requests[:2]] == ["oversized", "oversized"]


async def test_defaults_match_the_documented_16k_limit(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    def soql(n: int) -> str:
        emails = ",".join(f"'user{i}@example.com'" for i in range(n))
        return f"SELECT Id FROM Contact WHERE Email IN ({emails})"

    under = await api.get(f"{V}/query", params={"q": soql(250)})
    over = await api.get(f"{V}/query", params={"q": soql(700)})
    assert len(str(under.request.url)) < 16_384 < len(str(over.request.url))
    assert under.status_code == 200 and under.json()["totalSize"] == 0
    assert over.status_code == 414


# -- faults ------------------------------------------------------------------------------------


async def test_injected_faults_use_salesforce_shapes(make: Make, connect: Connect) -> None:
    sim = make(faults=Faults(error_rate=1.0, error_statuses=(500, 503)), seed=3)
    async with connect(sim) as c:
        errors = [await c.get(f"{V}/limits") for _ in range(6)]
    assert {r.status_code for r in errors} == {500, 503}
    for r in errors:
        assert_error(
            r, r.status_code, "UNKNOWN_EXCEPTION" if r.status_code == 500 else "SERVER_UNAVAILABLE"
        )
    sim.set_faults(Faults(burst_429_rate=1.0, burst_429_length=2))
    async with connect(sim) as c:
        burst = await c.get(f"{V}/limits")
    assert_error(burst, 403, "REQUEST_LIMIT_EXCEEDED")
    # a transient refusal: the long-request cap, not the daily allocation (which means: stop)
    assert burst.json()[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."


async def test_a_dropped_connection_still_applies_the_write(make: Make, connect: Connect) -> None:
    sim = make(faults=Faults(drop_rate=1.0, only_paths=(f"{V}/sobjects",)))
    async with connect(sim) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post(f"{V}/sobjects/Campaign", json={"Name": "segsync: dropped"})
    assert sim.campaigns("segsync: dropped")


# -- seeding and sandbox -----------------------------------------------------------------------


def test_seeding_builds_a_realistic_org(make: Make) -> None:
    audience = sandbox_audience(seed=5, contacts=1500)
    sim = make(seed=5)
    sim.seed_contacts(audience)
    org, summary = sim.org, sim.last_seed
    assert summary is not None
    contacts = [r for r in org.records["Contact"].values()]
    leads = [r for r in org.records["Lead"].values()]
    converted = [r for r in leads if r["IsConverted"]]
    assert len(contacts) == summary.contacts > 900
    assert len(converted) == summary.converted_leads > 50
    for lead in converted:
        contact = org.get("Contact", lead["ConvertedContactId"])
        assert contact is not None and contact["Email"] == lead["Email"]
    contact_emails = {str(c["Email"]).lower() for c in contacts if c["Email"]}
    shared = [
        r
        for r in leads
        if not r["IsConverted"] and r["Email"] and r["Email"].lower() in contact_emails
    ]
    assert len(shared) >= summary.shared_email_leads > 10
    assert any(c["HasOptedOutOfEmail"] for c in contacts)
    assert any(not c["HasOptedOutOfEmail"] for c in contacts)
    won = [o for o in org.records["Opportunity"].values() if o["IsWon"]]
    assert won and all(o["IsClosed"] and o["StageName"] == "Closed Won" for o in won)
    roles = list(org.records["OpportunityContactRole"].values())
    assert any(r["IsPrimary"] for r in roles) and any(not r["IsPrimary"] for r in roles)
    assert all(c["SystemModstamp"] >= c["CreatedDate"] for c in contacts)
    again = make(seed=5)
    again.seed_contacts(audience)
    assert sorted(again.org.records["Contact"]) == sorted(org.records["Contact"])


def test_sandbox_credentials_and_settings(make: Make) -> None:
    sim = make()
    assert sim.credentials_for_sandbox() == {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    assert sim.sandbox_settings() == {"api_version": "68.0"}
    bare = SalesforceSimulator(sandbox_app=False)
    with pytest.raises(LookupError):
        bare.credentials_for_sandbox()
    bare.add_credential("session-1")
    assert bare.credentials_for_sandbox() == {"session_id": "session-1"}
    assert DEFAULT_CLIENT_SECRET not in repr(sim.sandbox_app)


async def test_state_lists_campaigns_with_member_ids(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    contact = sim.insert("Contact", LastName="Member")
    campaign = sim.insert("Campaign", Name="segsync: state")
    body = {
        "records": [
            {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, "ContactId": contact}
        ]
    }
    assert (await api.post(f"{V}/composite/sobjects", json=body)).json()[0]["success"]
    state = sim.state()
    assert state["campaigns"] == {campaign: {"name": "segsync: state", "members": [contact]}}
    assert state["objects"]["CampaignMember"] == 1
    assert state["objects"]["CampaignMemberStatus"] == 2
    assert sim.campaign_members(campaign) == {contact}
    assert sim.campaign_members(campaign[:15]) == {contact}
    sim_state = await api.get("/_sim/state")
    assert sim_state.json()["campaigns"][campaign]["members"] == [contact]
