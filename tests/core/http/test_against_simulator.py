"""segsync.http against a real simulator with its faults switched on.

The Acme example simulator (plugins/segsync-acme) injects 5xx, 429 bursts, dropped
connections (after applying the change) and truncated JSON; the client must still pull every
page exactly once, apply every batch exactly, and stay under the platform's limits.
"""

from __future__ import annotations

import asyncio

import pytest

from segsync.errors import FatalError
from segsync.http import (
    BearerAuth,
    CursorPaginator,
    HttpClient,
    Pacer,
    RetryPolicy,
    chunks,
    paginate,
)
from segsync.testing.simulator import Faults, RateLimit
from segsync_acme.simulator import AcmeSimulator

TOKEN = "acme-test-token"
FAULTS = Faults(
    error_rate=0.15, burst_429_rate=0.1, burst_429_length=2, drop_rate=0.1, malformed_rate=0.1
)


class FakeTime:
    """Backoff and throttle pauses advance this clock instead of the wall clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def client(sim: AcmeSimulator, pacer: Pacer | None = None) -> HttpClient:
    time = FakeTime()
    return HttpClient(
        "http://simulator.test",
        auth=BearerAuth(TOKEN),
        transport=sim.transport(),
        pacer=pacer or Pacer(None, 1.0, None, clock=time.clock, sleep=time.sleep),
        retry=RetryPolicy(max_attempts=12, max_elapsed=60.0),
        sleep=time.sleep,
        clock=time.clock,
    )


def simulator(faults: Faults | None = None, rate_limit: RateLimit | None = None) -> AcmeSimulator:
    sim = AcmeSimulator(seed=7, faults=faults, rate_limit=rate_limit or RateLimit())
    sim.add_credential(TOKEN)
    return sim


async def test_every_page_exactly_once_despite_faults() -> None:
    sim = simulator(FAULTS)
    sim.seed_contacts([{"id": f"c{i:04d}", "email": f"p{i}@example.org"} for i in range(1000)])
    async with client(sim) as http:
        ids = [
            row["id"]
            async for page in paginate(
                http, "GET", "/v1/contacts", CursorPaginator(), params={"limit": 40}
            )
            for row in page.json()["results"]
        ]
        stats = http.stats
    assert ids == [f"c{i:04d}" for i in range(1000)]
    faults = sim.stats()["faults"]
    assert {"error", "429-burst", "drop", "malformed"} <= set(faults), faults
    assert stats.retries == sum(faults.values())
    assert stats.malformed == faults["malformed"]


async def test_batches_apply_exactly_despite_faults() -> None:
    sim = simulator(FAULTS)
    emails = [f"member{i}@example.org" for i in range(1000)]
    async with client(sim) as http:
        try:
            list_id = (await http.json("POST", "/v1/lists", json={"name": "faulty"}))["id"]
        except FatalError:  # created, but the answer was lost: a retry met "name taken"
            found = await http.json("GET", "/v1/lists", params={"name": "faulty"})
            list_id = found["results"][0]["id"]
        for batch in chunks(emails, max_count=100, max_bytes=64_000):
            answer = await http.json("POST", f"/v1/lists/{list_id}/members", json={"add": batch})
            assert answer["errors"] == []
        for batch in chunks(emails[:300], max_count=100):
            await http.json("POST", f"/v1/lists/{list_id}/members", json={"remove": batch})
    # dropped connections had applied their change before the retry: idempotency kept it exact
    assert sim.members(list_id) == set(emails[300:])
    assert sim.stats()["faults"].get("drop", 0) > 0


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_pacer_stays_under_the_simulator_limits(concurrency: int) -> None:
    sim = simulator(rate_limit=RateLimit(requests=20, window=0.5, concurrency=concurrency))
    pacer = Pacer(20, 0.5, concurrency)
    async with client(sim, pacer) as http:
        await asyncio.gather(*(http.get("/v1/lists") for _ in range(50)))
    stats = sim.stats()
    assert stats["by_status"] == {"200": 50}
    assert max(stats["max_concurrency"].values()) <= concurrency
