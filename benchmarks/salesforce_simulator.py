"""Benchmark: how fast the Salesforce simulator itself serves (it must never be the bottleneck).

Seeds N Contacts (limits off: a daily allocation of 10^9, no long-request cap) and measures,
through httpx, records/s served for:

1. **REST query paging** — ``SELECT Id, Email, FirstName, LastName, HasOptedOutOfEmail,
   SystemModstamp FROM Contact WHERE SystemModstamp > … ORDER BY SystemModstamp``, 2,000 a page
   through ``nextRecordsUrl``, one request at a time;
2. **Bulk API 2.0 query** — one job, polled to completion, results read ``--bulk-page`` rows a
   page through ``Sforce-Locator``;
3. **collection inserts** — N CampaignMembers into one campaign, 200 a
   ``POST /composite/sobjects``, ``--concurrency`` calls in flight;
4. **collection deletes** — the same members removed, 200 ids a ``DELETE``.

``--transport inprocess`` (default) calls the ASGI app directly, measuring the simulator alone;
``--transport tls`` serves it on 127.0.0.1 over HTTPS (the sandbox's way) and adds uvicorn,
TLS and the loopback socket. Usage:

    .venv/bin/python benchmarks/salesforce_simulator.py [--records 100000]
                                                        [--transport inprocess|tls]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import ExitStack
from typing import Any

import httpx

from segsync.connectors.salesforce.simulator import SalesforceSimulator

V = "/services/data/v66.0"
TOKEN = "00DHu0000000001!bench"
JAN_1_MS = 1_767_225_600_000
SOQL = (
    "SELECT Id, Email, FirstName, LastName, HasOptedOutOfEmail, SystemModstamp FROM Contact "
    "WHERE SystemModstamp > 2025-12-31T00:00:00Z ORDER BY SystemModstamp"
)


def seed(sim: SalesforceSimulator, records: int) -> list[str]:
    return [
        sim.insert(
            "Contact",
            FirstName=f"First{i}",
            LastName=f"Last{i}",
            Email=f"person{i}@example.com",
            HasOptedOutOfEmail=i % 7 == 0,
            CreatedDate=JAN_1_MS,
            SystemModstamp=JAN_1_MS + i * 10,
        )
        for i in range(records)
    ]


async def rest_pull(c: httpx.AsyncClient) -> tuple[int, int]:
    r = await c.get(f"{V}/query", params={"q": SOQL})
    body = r.json()
    count, calls = len(body["records"]), 1
    while not body["done"]:
        body = (await c.get(body["nextRecordsUrl"])).json()
        count, calls = count + len(body["records"]), calls + 1
    return count, calls


async def bulk_pull(c: httpx.AsyncClient, page: int) -> tuple[int, int]:
    job = (await c.post(f"{V}/jobs/query", json={"operation": "query", "query": SOQL})).json()
    calls = 1
    while (await c.get(f"{V}/jobs/query/{job['id']}")).json()["state"] != "JobComplete":
        calls += 1
    count, locator = 0, None
    while locator != "null":
        params: dict[str, Any] = {"maxRecords": page}
        if locator:
            params["locator"] = locator
        r = await c.get(f"{V}/jobs/query/{job['id']}/results", params=params)
        count += int(r.headers["Sforce-NumberOfRecords"])
        locator = r.headers["Sforce-Locator"]
        calls += 1
    return count, calls + 1


async def in_batches(items: list[Any], concurrency: int, call: Any) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(chunk: list[Any]) -> Any:
        async with gate:
            return await call(chunk)

    chunks = [items[i : i + 200] for i in range(0, len(items), 200)]
    return await asyncio.gather(*(one(chunk) for chunk in chunks))


async def push(
    c: httpx.AsyncClient, campaign: str, people: list[str], concurrency: int
) -> list[str]:
    async def add(chunk: list[str]) -> list[dict[str, Any]]:
        records = [{"attributes": {"type": "CampaignMember"}, "CampaignId": campaign,
                    "ContactId": p, "Status": "Sent"} for p in chunk]  # fmt: skip
        r = await c.post(f"{V}/composite/sobjects", json={"allOrNone": False, "records": records})
        result: list[dict[str, Any]] = r.json()
        return result

    results = await in_batches(people, concurrency, add)
    ids = [item["id"] for batch in results for item in batch if item["success"]]
    assert len(ids) == len(people), "every member should be added"
    return ids


async def remove(c: httpx.AsyncClient, members: list[str], concurrency: int) -> int:
    async def delete(chunk: list[str]) -> int:
        r = await c.delete(
            f"{V}/composite/sobjects", params={"ids": ",".join(chunk), "allOrNone": "false"}
        )
        return sum(1 for item in r.json() if item["success"])

    return sum(await in_batches(members, concurrency, delete))


def timed(label: str, records: int, calls: int, seconds: float) -> dict[str, Any]:
    rate = records / seconds if seconds else float("inf")
    print(
        f"{label:<22} {records:>8,} records {calls:>5,} calls {seconds:8.2f} s {rate:>12,.0f} records/s"
    )
    return {"phase": label, "records": records, "calls": calls, "seconds": round(seconds, 3),
            "records_per_s": round(rate)}  # fmt: skip


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    sim = SalesforceSimulator(daily_api_requests=10**9, long_request_cap=None,
                              bulk_upload_polls=0, bulk_progress_polls=1)  # fmt: skip
    sim.add_credential(TOKEN)
    started = time.perf_counter()
    people = seed(sim, args.records)
    print(f"seeded {len(people):,} contacts in {time.perf_counter() - started:.2f} s")
    campaign = sim.insert("Campaign", Name="segsync: bench")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    out = []
    with ExitStack() as stack:
        if args.transport == "tls":
            served = stack.enter_context(sim.serve())
            assert sim.tls is not None
            client = httpx.AsyncClient(base_url=served.base_url, headers=headers, timeout=120,
                                       verify=sim.tls.client_context(),
                                       limits=httpx.Limits(max_connections=args.concurrency))  # fmt: skip
        else:
            client = httpx.AsyncClient(transport=sim.transport(), base_url="https://sim.test",
                                       headers=headers, timeout=120)  # fmt: skip
        async with client as c:
            t = time.perf_counter()
            count, calls = await rest_pull(c)
            out.append(timed("REST query paging", count, calls, time.perf_counter() - t))
            t = time.perf_counter()
            count, calls = await bulk_pull(c, args.bulk_page)
            out.append(timed("Bulk 2.0 query", count, calls, time.perf_counter() - t))
            t = time.perf_counter()
            members = await push(c, campaign, people, args.concurrency)
            calls = -(-len(people) // 200)
            out.append(timed("collection inserts", len(members), calls, time.perf_counter() - t))
            t = time.perf_counter()
            removed = await remove(c, members, args.concurrency)
            out.append(timed("collection deletes", removed, calls, time.perf_counter() - t))
    assert not sim.campaign_members(campaign)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--transport", choices=("inprocess", "tls"), default="inprocess")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--bulk-page", type=int, default=50_000)
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    print(json.dumps({"transport": arguments.transport, "records": arguments.records,
                      "phases": results}))  # fmt: skip
