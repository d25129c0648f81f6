"""Benchmark: how fast the Data Manager API simulator ingests Customer Match members.

The simulator must never be what limits a push: Google allows 300 requests a minute per Cloud
project and 10,000 members a request, so a connector at full speed sends 50,000 members/s.
With the quotas off (``quotas_enabled=False``), N members (default 1,000,000; email + phone
each, SHA-256 hex) go to one list in requests of 10,000, and this measures:

1. **in-process** — through httpx's ASGI transport, one request at a time: members/s and the
   simulator's own milliseconds per request (from its request log);
2. **loopback** — the simulator served by uvicorn in a process of its own (the platform is
   another machine: its CPU is not the client's), ``--concurrency`` requests in flight:
   members/s end to end and the server process's own peak RSS (``VmHWM``);

then checks the list holds every member (size and match rate from ``userLists.get``) and
reports each rate against the 50,000 members/s the default quota allows. Request bodies are
encoded before the clock starts: the client's JSON encoding is the connector's cost, not the
simulator's.

Usage:

    .venv/bin/python benchmarks/google_ads_simulator.py [--members 1000000] [--batch 10000]
                                                        [--concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
from typing import Any

import httpx
from measure import peak_rss_mib

from segsync.connectors.google_ads.simulator import DataManagerSimulator

ACCOUNT, PROJECT, TOKEN, USER = "1234567890", "bench", "bench-token", "bench@example.org"
QUOTA_MEMBERS_PER_S = 300 / 60 * 10_000  # the default per-project rate at full batches


def make_simulator() -> tuple[DataManagerSimulator, str]:
    sim = DataManagerSimulator(seed=1, quotas_enabled=False, processing_polls=0,
                               background_match_share=0.4)  # fmt: skip
    sim.add_project(PROJECT)
    sim.add_account(ACCOUNT, users=[USER])
    sim.add_access_token(TOKEN, principal=USER, project=PROJECT)
    return sim, sim.create_list(ACCOUNT, "bench")


def bodies(members: int, batch: int, list_id: str) -> list[bytes]:
    """The ingest requests, JSON-encoded."""
    out = []
    destination = {"operatingAccount": {"accountType": 1, "accountId": ACCOUNT},
                   "productDestinationId": list_id}  # fmt: skip
    for start in range(0, members, batch):
        audience = [
            {"userData": {"userIdentifiers": [
                {"emailAddress": hashlib.sha256(f"person{i}@example.org".encode()).hexdigest()},
                {"phoneNumber": hashlib.sha256(f"+1650{i:07d}".encode()).hexdigest()},
            ]}}
            for i in range(start, min(start + batch, members))
        ]  # fmt: skip
        body = {"destinations": [destination], "audienceMembers": audience,
                "consent": {"adUserData": 1, "adPersonalization": 1}, "encoding": 1,
                "termsOfService": {"customerMatchTermsOfServiceStatus": 1}}  # fmt: skip
        out.append(json.dumps(body).encode())
    return out


HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


async def push(client: httpx.AsyncClient, requests: list[bytes], concurrency: int) -> float:
    """Send every body, ``concurrency`` at a time; wall seconds."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            r = await client.post("/v1/audienceMembers:ingest", content=body, headers=HEADERS)
            if r.status_code != 200:
                raise SystemExit(f"ingest failed: {r.status_code} {r.text[:500]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def rate(members: int, seconds: float) -> dict[str, Any]:
    per_s = members / seconds
    return {
        "seconds": round(seconds, 2),
        "members_per_s": round(per_s),
        "x_default_quota_rate": round(per_s / QUOTA_MEMBERS_PER_S, 2),
    }


async def in_process(args: argparse.Namespace) -> dict[str, Any]:
    sim, list_id = make_simulator()
    requests = bodies(args.members, args.batch, list_id)
    async with httpx.AsyncClient(transport=sim.transport(), base_url="http://sim") as client:
        wall = await push(client, requests, 1)
        info = (await client.get(f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists/"
                                 f"{list_id}", headers=HEADERS)).json()  # fmt: skip
    spans = [r.finished - r.started for r in sim.requests if r.path.endswith(":ingest")]
    return {
        **rate(args.members, wall),
        "simulator_ms_per_request": round(1000 * sum(spans) / len(spans), 1),
        "list_size": int(info["sizeInfo"]["displayNetworkMembersCount"]),
        "list_members": len(sim.user_lists.find(ACCOUNT, list_id).members),  # type: ignore[union-attr]
        "match_rate_percentage": info["ingestedUserListInfo"]["contactIdInfo"][
            "matchRatePercentage"
        ],
        "peak_rss_mib_with_client": peak_rss_mib(),
    }


def serve() -> None:
    """The simulator's own process, until the benchmark closes our stdin; then its peak RSS."""
    sim, list_id = make_simulator()
    with sim.serve() as served:
        print(json.dumps({"base_url": served.base_url, "list_id": list_id}), flush=True)
        sys.stdin.readline()
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}), flush=True)


async def loopback(args: argparse.Namespace) -> dict[str, Any]:
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    where = json.loads(server.stdout.readline())
    try:
        requests = bodies(args.members, args.batch, where["list_id"])
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=where["base_url"], limits=limits, timeout=120) as c:
            wall = await push(c, requests, args.concurrency)
            path = f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists/{where['list_id']}"
            info = (await c.get(path, headers=HEADERS)).json()
        server.stdin.write("done\n")
        server.stdin.flush()
        server_rss = json.loads(server.stdout.readline())["peak_rss_mib"]
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    return {
        **rate(args.members, wall),
        "concurrency": args.concurrency,
        "list_size": int(info["sizeInfo"]["displayNetworkMembersCount"]),
        "server_peak_rss_mib": server_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--skip-loopback", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    results: dict[str, Any] = {
        "members": args.members,
        "batch": args.batch,
        "identifiers_per_member": 2,
        "default_quota_members_per_s": round(QUOTA_MEMBERS_PER_S),
        "in_process": asyncio.run(in_process(args)),
    }
    if not args.skip_loopback:
        results["loopback"] = asyncio.run(loopback(args))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
