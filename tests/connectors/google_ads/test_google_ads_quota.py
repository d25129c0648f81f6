"""Per-Cloud-project quotas: per minute and per day, per service class → 429."""

from __future__ import annotations

import httpx
from gads_kit import ACCOUNT, LISTS, PROJECT, USER, client, error_info, google_error, make

from segsync.connectors.google_ads.simulator import QuotaLimits

RETRIEVE = "/v1/requestStatus:retrieve"
INGEST = "/v1/audienceMembers:ingest"


async def exhausted(r: httpx.Response, limit: str, value: int) -> dict[str, str]:
    error = google_error(r, 429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    info = error_info(error)
    assert info["domain"] == "googleapis.com"
    meta: dict[str, str] = info["metadata"]
    assert meta["quota_limit"] == limit and meta["quota_limit_value"] == str(value)
    assert meta["service"] == "datamanager.googleapis.com"
    assert meta["consumer"] == "projects/100000000001"
    help_links = [d for d in error["details"] if d["@type"].endswith("google.rpc.Help")]
    assert help_links and help_links[0]["links"]
    assert error["message"].startswith("Quota exceeded for quota metric")
    assert "retry-after" not in r.headers
    return meta


def test_defaults_are_the_documented_limits() -> None:
    limits = QuotaLimits()
    assert [limits.limit(q, "minute") for q in ("IngestionMutate", "IngestionRead",
            "ManagementMutate", "ManagementRead")] == [300, 300, 300, 300]  # fmt: skip
    assert [limits.limit(q, "day") for q in ("IngestionMutate", "IngestionRead",
            "ManagementMutate", "ManagementRead")] == [100_000, 100_000, 50_000, 50_000]  # fmt: skip


async def test_300_requests_a_minute_then_429_until_the_next_minute() -> None:
    sim = make()
    async with client(sim) as c:
        for _ in range(300):
            assert (await c.get(LISTS)).status_code == 200
        r = await c.get(LISTS)
        await exhausted(r, "ManagementReadRequestsPerMinutePerProject", 300)
        # other classes have their own budget
        assert (await c.post(LISTS, json={"displayName": "x", "ingestedUserListInfo": {
            "uploadKeyTypes": ["CONTACT_ID"]}})).status_code == 200  # fmt: skip
        sim.advance(60)
        assert (await c.get(LISTS)).status_code == 200
    assert sim.state()["quota"][PROJECT]["ManagementRead"] == {"minute": 1, "day": 301}


async def test_refused_calls_are_not_counted_and_projects_are_separate() -> None:
    sim = make(quota=QuotaLimits(ingestion_read_per_minute=2))
    sim.add_project("proj-2")
    sim.add_access_token("t2", principal=USER, project="proj-2")
    async with client(sim) as c:
        for _ in range(2):
            assert (await c.get(RETRIEVE)).status_code == 400  # invalid calls count
        for _ in range(3):
            await exhausted(await c.get(RETRIEVE), "IngestionReadRequestsPerMinutePerProject", 2)
        assert sim.quota is not None
        assert sim.quota.usage(PROJECT, "IngestionRead") == {"minute": 2, "day": 2}
    async with client(sim, token="t2") as c:
        assert (await c.get(RETRIEVE)).status_code == 400
    async with client(sim, headers={"x-goog-user-project": "proj-2"}) as c:
        assert (await c.get(RETRIEVE)).status_code == 400  # the header names the quota project
        r = await c.get(RETRIEVE)
    meta = error_info(google_error(r, 429, "RESOURCE_EXHAUSTED"))["metadata"]
    assert meta["consumer"] == "projects/100000000002"


async def test_fixed_minutes_reset_on_the_clock_minute() -> None:
    sim = make(quota=QuotaLimits(ingestion_mutate_per_minute=1))
    async with client(sim) as c:
        sim.advance(59)
        assert (await c.post(INGEST, json={})).status_code == 400
        await exhausted(
            await c.post(INGEST, json={}), "IngestionMutateRequestsPerMinutePerProject", 1
        )
        sim.advance(1)  # a new clock minute, one second later
        assert (await c.post(INGEST, json={})).status_code == 400


async def test_rolling_minutes_and_retry_after() -> None:
    sim = make(quota=QuotaLimits(ingestion_mutate_per_minute=1, window="rolling", retry_after=True))
    async with client(sim) as c:
        sim.advance(59)
        assert (await c.post(INGEST, json={})).status_code == 400
        sim.advance(1)
        r = await c.post(INGEST, json={})
        assert r.status_code == 429 and r.headers["retry-after"] == "59"
        sim.advance(59)
        assert (await c.post(INGEST, json={})).status_code == 400


async def test_per_day_resets_at_midnight_pacific() -> None:
    # the clock starts at 2026-01-01T00:00Z, i.e. 16:00 on Dec 31 in Los Angeles
    sim = make(quota=QuotaLimits(management_mutate_per_day=2))
    body = {"displayName": "d0", "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"]}}
    async with client(sim) as c:
        for i in range(2):
            assert (await c.post(LISTS, json={**body, "displayName": f"d{i}"})).status_code == 200
        sim.advance(3600)
        r = await c.post(LISTS, json={**body, "displayName": "d2"})
        await exhausted(r, "ManagementMutateRequestsPerDayPerProject", 2)
        sim.advance(7 * 3600)  # 08:00Z = midnight in Los Angeles
        assert (await c.post(LISTS, json={**body, "displayName": "d3"})).status_code == 200
    utc = make(quota=QuotaLimits(management_mutate_per_day=1, timezone="UTC"))
    async with client(utc) as c:
        assert (await c.post(LISTS, json=body)).status_code == 200
        utc.advance(86399)
        assert (await c.post(LISTS, json=body)).status_code == 429
        utc.advance(1)
        assert (await c.post(LISTS, json={**body, "displayName": "next"})).status_code == 200


async def test_quotas_can_be_turned_off() -> None:
    sim = make(quotas_enabled=False)
    async with client(sim) as c:
        for _ in range(301):
            assert (await c.get(f"{LISTS}/")).status_code == 200
    assert sim.state()["quota"] == {}
    assert ACCOUNT in sim.state()["accounts"]
