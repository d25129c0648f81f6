"""Benchmark: the Mailchimp connector against its simulator on loopback.

Serves :class:`MailchimpSimulator` in a process of its own (10 simultaneous connections per
account, as Mailchimp)
with a fixed per-request latency standing in for Mailchimp's own, seeded with N subscribed
members, and measures:

1. **connector pull** — every member through the source role (1,000 a page, ``concurrency``
   pages at once); records/s against the ceiling ``concurrency × 1000 / latency``;
2. **connector tag push** — every member tagged in batches of 500 emails (one bulk call each),
   ``concurrency`` batches in flight as segsync's push keeps them; records/s against
   ``concurrency × 500 / latency``;
3. **end to end** — ``segsync run`` in a subprocess (pull into the store, resolve, segment,
   plan, tag everyone with a second tag, record): wall time, peak RSS;
4. a second ``segsync run``: the write calls Mailchimp received (expected 0).

Usage:

    .venv/bin/python benchmarks/mailchimp.py [--members 100000] [--latency 0.5]
                                             [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from measure import run_cli

from segsync.connector import AudienceSpec, ConnectorContext, Member
from segsync.connectors.mailchimp.connector import MailchimpConnector
from segsync.connectors.mailchimp.settings import MailchimpSettings
from segsync.connectors.mailchimp.simulator import MailchimpSimulator, subscriber_hash
from segsync.pipeline.push import apply_batch
from segsync.testing.simulator import Faults

KEY = "bench000000000000000000000000000-us1"
PAGE, BULK = 1000, 500

CONFIG = """
[store]
path = "bench.duckdb"

[connectors.mailchimp]
type = "mailchimp"
base_url = "{base_url}"
list_id = "{list_id}"
concurrency = {concurrency}
orders = false

[segments.everyone]
where = "email IS NOT NULL"

[syncs.everyone_tag]
segment = "everyone"
destination = "mailchimp"
kind = "tag"
audience = "segsync: everyone"
"""


def observed_latency(base_url: str, since: int, path_part: str) -> float:
    """Mean seconds the simulator took to answer the requests logged after ``since`` whose
    path contains ``path_part``: the injected latency plus its own processing and queueing."""
    logged = httpx.get(f"{base_url}/_sim/requests", timeout=60).json()[since:]
    spans = [r["finished"] - r["started"] for r in logged if path_part in r["path"]]
    return float(sum(spans)) / max(len(spans), 1)


def logged(base_url: str) -> int:
    return len(httpx.get(f"{base_url}/_sim/requests", timeout=60).json())


async def connector_phases(
    base_url: str, list_id: str, members: list[str], args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    settings = MailchimpSettings(
        api_key=KEY, base_url=base_url, list_id=list_id, concurrency=args.concurrency
    )
    connector = MailchimpConnector(settings, ConnectorContext("bench", tmp, tmp / "work"))
    out: dict[str, Any] = {}
    try:
        mark = logged(base_url)
        started = time.perf_counter()
        pulled = 0
        async for page in connector.source.contacts(None):
            pulled += len(page.records)
        wall = time.perf_counter() - started
        out["connector_pull"] = _rates(
            pulled, wall, args, PAGE, observed_latency(base_url, mark, "/members")
        )
        destination = connector.destination
        audience = await destination.ensure_audience(AudienceSpec("bench", "bench", "tag"))
        size = destination.batch_limit("tag")
        gate = asyncio.Semaphore(destination.max_in_flight)  # as segsync's push keeps them

        async def one(part: list[Member]) -> int:
            async with gate:
                results = await apply_batch(destination, audience, "add", part)
            return sum(r.ok for r in results)

        mark = logged(base_url)
        started = time.perf_counter()
        parts = [
            [Member(key=subscriber_hash(e), email=e) for e in members[i : i + size]]
            for i in range(0, len(members), size)
        ]
        tagged = sum(await asyncio.gather(*(one(part) for part in parts)))
        wall = time.perf_counter() - started
        out["connector_tag"] = _rates(
            tagged, wall, args, BULK, observed_latency(base_url, mark, f"/segments/{audience.id}")
        )
        out["connector_tag"]["http"] = connector.http_stats()
    finally:
        await connector.aclose()
    return out


def _rates(
    records: int, wall: float, args: argparse.Namespace, per_call: int, observed: float
) -> dict[str, Any]:
    """Records/s against the ceiling ``concurrency × per_call / latency``, at the nominal
    latency injected and at the latency the simulator showed (its own processing included:
    one process serves every concurrent call, which a real platform does not)."""
    rate = records / wall
    nominal = args.concurrency * per_call / args.latency
    shown = args.concurrency * per_call / observed
    return {
        "records": records,
        "seconds": round(wall, 2),
        "records_per_s": round(rate),
        "ceiling_per_s_at_nominal_latency": round(nominal),
        "fraction_of_nominal_ceiling": round(rate / nominal, 3),
        "observed_latency_s": round(observed, 3),
        "ceiling_per_s_at_observed_latency": round(shown),
        "fraction_of_observed_ceiling": round(rate / shown, 3),
    }


def segsync(folder: Path, *args: str) -> tuple[dict[str, Any], float, int]:
    """``segsync`` on the benchmark's config: its JSON report, wall seconds, peak RSS (MiB)."""
    env = {"SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY}
    return run_cli(folder / "segsync.toml", *args, env=env)


def serve(args: argparse.Namespace) -> None:
    """The simulator's own process (Mailchimp is another machine: its CPU is not ours)."""
    sim = MailchimpSimulator(seed=1, concurrency=10, faults=Faults(latency=args.latency))
    sim.add_credential(KEY)
    list_id = sim.create_list("Bench")
    members = [f"bench{i}@example.org" for i in range(args.members)]
    sim.seed_members(list_id, [{"email": e, "status": "subscribed"} for e in members])
    with sim.serve() as served:
        print(json.dumps({"base_url": served.base_url, "list_id": list_id}), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


def write_calls(base_url: str, since: int) -> tuple[int, int]:
    """(write calls among the simulator's requests after the first ``since``, total)."""
    logged = httpx.get(f"{base_url}/_sim/requests", timeout=60).json()
    writes = [r for r in logged[since:] if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
    return len(writes), len(logged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--members", str(args.members),
         "--latency", str(args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    where = json.loads(server.stdout.readline())
    base_url, list_id = where["base_url"], where["list_id"]
    members = [f"bench{i}@example.org" for i in range(args.members)]
    results: dict[str, Any] = {
        "members": args.members,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "connection_cap": 10,
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            results |= asyncio.run(connector_phases(base_url, list_id, members, args, folder))
            (folder / "segsync.toml").write_text(
                CONFIG.format(base_url=base_url, list_id=list_id, concurrency=args.concurrency)
            )
            report, wall, rss = segsync(folder, "run")
            (sync,) = report["syncs"]
            results["end_to_end_run"] = {
                "pulled": sum(s["records"] for s in report["sources"]),
                "tagged": sync["applied_adds"],
                "seconds": round(wall, 1),
                "peak_rss_mib": rss,
                "throttled_429": report["http"]["mailchimp"]["throttled"],
            }
            _, mark = write_calls(base_url, 0)
            report, _, _ = segsync(folder, "run")
            writes, _ = write_calls(base_url, mark)
            results["second_run"] = {
                "changes": [f"{s['name']}: +{s['adds']}/-{s['removes']}" for s in report["syncs"]],
                "write_calls": writes,
            }
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
