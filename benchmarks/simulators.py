"""Benchmark: each platform simulator alone, so a simulator is never the bottleneck of a test.

Each simulator (HubSpot, Mailchimp, Salesforce, Google Data Manager) is served on 127.0.0.1 in
a process of its own (the platform is another machine: its CPU is not the client's), with its
limits off, seeded with N records (default 100,000), and driven by a plain ``httpx`` client
over keep-alive connections. For each it measures records/s on

* the **main read path** — HubSpot ``GET /crm/v3/objects/contacts`` (100 a page, cursor),
  Mailchimp ``GET /3.0/lists/{id}/members`` (1,000 a page, offsets, ``--concurrency`` pages in
  flight, the connector's ``fields=``), Salesforce REST ``query`` (2,000 a page through
  ``nextRecordsUrl``, over TLS as the sandbox serves it); the Data Manager API has no read
  path for members;
* the **main write path** — HubSpot ``PUT /crm/v3/lists/{id}/memberships/add`` (the
  connector's 10,000 ids a call), Mailchimp ``POST /3.0/lists/{id}/segments/{tag}`` (500
  ``members_to_add`` a call), Salesforce ``POST /composite/sobjects`` (200 CampaignMembers a
  call), Data Manager ``POST /v1/audienceMembers:ingest`` (10,000 members a call, email and
  phone each); ``--concurrency`` calls in flight;

and the ratio to what the real platform's limits allow (its *ceiling*):

* HubSpot: 100 requests / 10 s (Free/Starter burst) → reads 100 × 100 / 10 = 1,000 records/s;
  writes 10 calls/s × 10,000 ids = 100,000 records/s;
* Mailchimp: no rate limit, 10 simultaneous connections: the ceiling is 10 × page / latency
  of the *real* API, which cannot be measured here. The report gives the simulator's
  records/s and the real per-request latency at or above which the simulator is ≥ 10× the
  ceiling (``break_even_latency_ms``), plus the ratio at ``--mailchimp-latency`` seconds;
* Salesforce: the daily allocation the simulator models (100,000 calls / 24 h) → reads
  100,000 × 2,000 / 86,400 = 2,315 records/s; writes 100,000 × 200 / 86,400 = 231 records/s;
* Data Manager: 300 requests/min per project × 10,000 members = 50,000 members/s.

Request bodies are built before the clock starts (encoding them is the client's cost).
Usage::

    .venv/bin/python benchmarks/simulators.py [--records 100000] [--only hubspot,mailchimp]
                                              [--concurrency 4] [--mailchimp-latency 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

TARGET = 10.0  # the simulator should serve at least ten times the platform's ceiling
DAY = 86_400
CEILINGS = {  # records/s the real platform's limits allow, per path
    ("hubspot", "read"): 100 * 100 / 10,
    ("hubspot", "write"): 100 / 10 * 10_000,
    ("salesforce", "read"): 100_000 * 2_000 / DAY,
    ("salesforce", "write"): 100_000 * 200 / DAY,
    ("google_ads", "write"): 300 / 60 * 10_000,
}
MAILCHIMP_CONNECTIONS = 10
PAGE = {"hubspot": 100, "mailchimp": 1000, "salesforce": 2000}
WRITE_BATCH = {"hubspot": 10_000, "mailchimp": 500, "salesforce": 200, "google_ads": 10_000}
TOKEN = "bench-token"
MC_KEY = "0123456789abcdef0123456789abcdef-us1"
SF_VERSION = "/services/data/v66.0"


def peak_rss_mib() -> int:
    """This process's own peak RSS (``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


# -- the simulator's own process -------------------------------------------------------------


def build(name: str, records: int) -> tuple[Any, dict[str, Any]]:
    """The simulator, limits off and seeded, and what the driver needs to reach its data."""
    if name == "hubspot":
        from segsync.connectors.hubspot.simulator import HubSpotSimulator

        hs = HubSpotSimulator(burst=10**9, daily=10**9, search_per_second=10**9)
        hs.add_credential(TOKEN)
        hs.seed_contacts(
            [{"email": f"person{i}@example.com", "first_name": f"P{i}"} for i in range(records)]
        )
        return hs, {"ids": sorted(hs.contacts, key=int)}
    if name == "mailchimp":
        from segsync.connectors.mailchimp.simulator import MailchimpSimulator

        mc = MailchimpSimulator(concurrency=None)
        mc.add_credential(MC_KEY)
        list_id = mc.default_list_id()
        mc.seed_members(
            list_id,
            ({"email": f"person{i}@example.com", "first_name": f"P{i}"} for i in range(records)),
        )
        return mc, {"list_id": list_id}
    if name == "salesforce":
        from segsync.connectors.salesforce.simulator import SalesforceSimulator

        sf = SalesforceSimulator(daily_api_requests=10**9, long_request_cap=None)
        sf.add_credential(TOKEN)
        ids = [
            sf.insert("Contact", LastName=f"L{i}", Email=f"person{i}@example.com")
            for i in range(records)
        ]
        return sf, {"ids": ids, "campaign": sf.insert("Campaign", Name="segsync: bench")}
    if name == "google_ads":
        from segsync.connectors.google_ads.simulator import DataManagerSimulator

        dm = DataManagerSimulator(seed=1, quotas_enabled=False, processing_polls=0)
        dm.add_project("bench")
        dm.add_account("1234567890", users=["bench@example.org"])
        dm.add_access_token(TOKEN, principal="bench@example.org", project="bench")
        return dm, {"list_id": dm.create_list("1234567890", "bench")}
    raise SystemExit(f"unknown simulator {name!r}")


def serve(name: str, records: int) -> None:
    """Serve one simulator until the driver closes our stdin; then print our peak RSS."""
    started = time.perf_counter()
    sim, info = build(name, records)
    seeded = time.perf_counter() - started
    with sim.serve() as served:
        info.update(base_url=served.base_url, ca_bundle=served.ca_bundle, seed_s=round(seeded, 2))
        print(json.dumps(info), flush=True)
        sys.stdin.readline()
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}), flush=True)


# -- the driver ------------------------------------------------------------------------------


async def gather_limited(calls: list[Callable[[], Awaitable[int]]], concurrency: int) -> int:
    """Run the calls, ``concurrency`` at a time; the sum of what they return."""
    queue = list(reversed(calls))
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            done = await queue.pop()()
            total += done

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


def check(r: httpx.Response, *ok: int) -> httpx.Response:
    if r.status_code not in (ok or (200,)):
        raise SystemExit(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")
    return r


async def hubspot(c: httpx.AsyncClient, info: dict[str, Any], conc: int) -> dict[str, Any]:
    c.headers["Authorization"] = f"Bearer {TOKEN}"
    path, params = "/crm/v3/objects/contacts", {"limit": "100", "properties": "email,firstname"}
    t, count = time.perf_counter(), 0
    after: str | None = None
    while True:
        body = check(await c.get(path, params={**params, **({"after": after} if after else {})}))
        page = body.json()
        count += len(page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    read = (count, time.perf_counter() - t)
    made = check(await c.post("/crm/v3/lists", json={"name": "bench", "objectTypeId": "0-1",
                                                     "processingType": "MANUAL"}))  # fmt: skip
    list_id = made.json()["list"]["listId"]
    ids, size = info["ids"], WRITE_BATCH["hubspot"]
    bodies = [json.dumps(ids[i : i + size]).encode() for i in range(0, len(ids), size)]

    def add(body: bytes) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            r = check(await c.put(f"/crm/v3/lists/{list_id}/memberships/add", content=body))
            return len(r.json()["recordsIdsAdded"])

        return call

    t = time.perf_counter()
    added = await gather_limited([add(b) for b in bodies], conc)
    return {"read": read, "write": (added, time.perf_counter() - t)}


async def mailchimp(c: httpx.AsyncClient, info: dict[str, Any], conc: int) -> dict[str, Any]:
    c.auth = httpx.BasicAuth("bench", MC_KEY)
    list_id = info["list_id"]
    fields = ",".join(
        [f"members.{f}" for f in ("id", "email_address", "status", "merge_fields", "stats",
                                   "last_changed", "timestamp_opt", "location.country_code")]
        + ["total_items"]
    )  # fmt: skip
    path = f"/3.0/lists/{list_id}/members"
    first = check(await c.get(path, params={"count": "1", "fields": "total_items"})).json()
    total = first["total_items"]

    def page(offset: int) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            params = {"count": "1000", "offset": str(offset), "fields": fields}
            return len(check(await c.get(path, params=params)).json()["members"])

        return call

    t = time.perf_counter()
    count = await gather_limited([page(o) for o in range(0, total, 1000)], conc)
    read = (count, time.perf_counter() - t)
    tag = check(await c.post(f"/3.0/lists/{list_id}/segments",
                             json={"name": "bench", "static_segment": []})).json()  # fmt: skip
    emails = [f"person{i}@example.com" for i in range(total)]
    size = WRITE_BATCH["mailchimp"]
    bodies = [
        json.dumps({"members_to_add": emails[i : i + size]}).encode()
        for i in range(0, len(emails), size)
    ]

    def add(body: bytes) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            params = {"fields": "members_added.id,members_added.email_address,errors"}
            r = check(await c.post(f"/3.0/lists/{list_id}/segments/{tag['id']}", content=body,
                                   params=params))  # fmt: skip
            return len(r.json()["members_added"])

        return call

    t = time.perf_counter()
    added = await gather_limited([add(b) for b in bodies], conc)
    return {"read": read, "write": (added, time.perf_counter() - t)}


async def salesforce(c: httpx.AsyncClient, info: dict[str, Any], conc: int) -> dict[str, Any]:
    c.headers["Authorization"] = f"Bearer {TOKEN}"
    q = "SELECT Id, Email, LastName, HasOptedOutOfEmail, SystemModstamp FROM Contact"
    t = time.perf_counter()
    body = check(await c.get(f"{SF_VERSION}/query", params={"q": q})).json()
    count = len(body["records"])
    while not body["done"]:
        body = check(await c.get(body["nextRecordsUrl"])).json()
        count += len(body["records"])
    read = (count, time.perf_counter() - t)
    ids, size = info["ids"], WRITE_BATCH["salesforce"]
    bodies = [
        json.dumps({"allOrNone": False, "records": [
            {"attributes": {"type": "CampaignMember"}, "CampaignId": info["campaign"],
             "ContactId": p, "Status": "Sent"} for p in ids[i : i + size]]}).encode()
        for i in range(0, len(ids), size)
    ]  # fmt: skip

    def add(body: bytes) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            r = check(await c.post(f"{SF_VERSION}/composite/sobjects", content=body,
                                   headers={"Content-Type": "application/json"}))  # fmt: skip
            return sum(1 for item in r.json() if item["success"])

        return call

    t = time.perf_counter()
    added = await gather_limited([add(b) for b in bodies], conc)
    return {"read": read, "write": (added, time.perf_counter() - t)}


async def google_ads(
    c: httpx.AsyncClient, info: dict[str, Any], conc: int, records: int
) -> dict[str, Any]:
    c.headers["Authorization"] = f"Bearer {TOKEN}"
    size = WRITE_BATCH["google_ads"]
    destination = {"operatingAccount": {"accountType": 1, "accountId": "1234567890"},
                   "productDestinationId": info["list_id"]}  # fmt: skip
    bodies = []
    for start in range(0, records, size):
        members = [
            {"userData": {"userIdentifiers": [
                {"emailAddress": hashlib.sha256(f"person{i}@example.com".encode()).hexdigest()},
                {"phoneNumber": hashlib.sha256(f"+1650{i:07d}".encode()).hexdigest()}]}}
            for i in range(start, min(start + size, records))
        ]  # fmt: skip
        bodies.append(json.dumps({
            "destinations": [destination], "audienceMembers": members, "encoding": 1,
            "consent": {"adUserData": 1, "adPersonalization": 1},
            "termsOfService": {"customerMatchTermsOfServiceStatus": 1}}).encode())  # fmt: skip

    def ingest(body: bytes, n: int) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            check(await c.post("/v1/audienceMembers:ingest", content=body,
                               headers={"Content-Type": "application/json"}))  # fmt: skip
            return n

        return call

    calls = [ingest(b, min(size, records - i * size)) for i, b in enumerate(bodies)]
    t = time.perf_counter()
    added = await gather_limited(calls, conc)
    return {"write": (added, time.perf_counter() - t)}


def rate(name: str, path: str, records: int, seconds: float, latency: float) -> dict[str, Any]:
    per_s = records / seconds
    out: dict[str, Any] = {"records": records, "seconds": round(seconds, 3),
                           "records_per_s": round(per_s)}  # fmt: skip
    if name == "mailchimp":
        batch = PAGE["mailchimp"] if path == "read" else WRITE_BATCH["mailchimp"]
        ceiling = MAILCHIMP_CONNECTIONS * batch / latency
        # the simulator is >= TARGET x the ceiling when latency >= TARGET * 10 * batch / per_s
        out["break_even_latency_ms"] = round(1000 * TARGET * MAILCHIMP_CONNECTIONS * batch / per_s)
        out["assumed_latency_s"] = latency
    else:
        ceiling = CEILINGS[(name, path)]
    out["ceiling_records_per_s"] = round(ceiling)
    out["x_ceiling"] = round(per_s / ceiling, 1)
    out["meets_target"] = per_s >= TARGET * ceiling
    return out


async def drive(name: str, args: argparse.Namespace) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", name, "--records", str(args.records)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        line = server.stdout.readline()
        if not line:
            raise SystemExit(f"{name}: the simulator process did not start")
        info = json.loads(line)
        limits = httpx.Limits(max_connections=max(args.concurrency, 1))
        verify: Any = info["ca_bundle"] or True
        async with httpx.AsyncClient(
            base_url=info["base_url"], limits=limits, timeout=300, verify=verify
        ) as client:
            if name == "hubspot":
                phases = await hubspot(client, info, args.concurrency)
            elif name == "mailchimp":
                phases = await mailchimp(client, info, args.concurrency)
            elif name == "salesforce":
                phases = await salesforce(client, info, args.concurrency)
            else:
                phases = await google_ads(client, info, args.concurrency, args.records)
        server.stdin.write("done\n")
        server.stdin.flush()
        rss = json.loads(server.stdout.readline())["peak_rss_mib"]
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    out: dict[str, Any] = {"seed_s": info["seed_s"], "server_peak_rss_mib": rss}
    for path, (records, seconds) in phases.items():
        out[path] = rate(name, path, records, seconds, args.mailchimp_latency)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--only", default="hubspot,mailchimp,salesforce,google_ads")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mailchimp-latency", type=float, default=0.25)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.records)
        return
    results: dict[str, Any] = {"records": args.records, "concurrency": args.concurrency}
    for name in args.only.split(","):
        results[name] = asyncio.run(drive(name.strip(), args))
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
