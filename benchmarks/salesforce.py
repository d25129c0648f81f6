"""Benchmark: the Salesforce connector against its simulator, served over HTTPS on loopback.

Seeds the simulator with N people — three Contacts for every Lead, ``--opt-out`` of them
opted out of email by a change the field history records (the sandbox's synthetic audience
says no for 28 %), and closed-won Opportunities for 5 % — and drives the real CLI in
subprocesses (the simulator in this process is the "remote" org):

1. ``segsync pull`` with ``bulk_queries = false``: every Contact and Lead through REST query
   pages of 2,000, plus the ``HasOptedOutOfEmail`` field history that dates the opt-outs;
2. ``segsync pull`` into a fresh store with ``bulk_threshold = 0``: each object's first REST
   page, then the rest through a Bulk API 2.0 query job (``bulk_page_size`` rows a result
   page) — at the default threshold (50,000) the 75,000 Contacts would go this way and the
   25,000 Leads through REST;
3. ``segsync run --no-pull --sync bench``: every profile into one campaign, 200
   CampaignMembers a call, ``concurrency`` calls in flight;
4. the same sync again: the write calls Salesforce received (expected 0).

Salesforce has no per-second limit: what bounds a connector is the org's daily API allocation
(100,000 calls per rolling 24 h, the simulator's default) and what one call can carry — 2,000
rows a REST query page, 200 records a collection call, ``maxRecords`` rows a Bulk result page.
So for each phase:

* ``records_per_s`` — wall clock, the whole CLI in a subprocess (store, staging, resolve);
* ``fraction_of_ceiling`` — rows per call over the most one REST call can carry (2,000 rows a
  query page, 200 records a collection call): the share of what the daily allocation and the
  per-call limits allow that the connector gets, every call counted (the login, the opt-out
  history that dates consent, the campaign's lookup). Bulk API 2.0 result pages carry
  ``bulk_page_size`` rows, so the Bulk pull can pass 1.0: that is what it is for;
* ``allocation_ceiling_per_s`` — the sustained rate the allocation allows (calls a day × rows a
  call / 86,400 s): 2,315 rows/s for queries, 231 records/s for collections; a pull or push
  above it is bounded by the org's day, not by segsync;
* ``peak_rss_mib`` of each CLI process;
* ``cli_cpu_s`` / ``simulator_cpu_s`` — CPU seconds the CLI process and this process (the
  simulator's server thread) spent: the machine may be shared, and wall time then overstates
  what a phase costs.

The benchmark's org finishes a Bulk job by the first poll (a real org takes seconds to minutes:
the polls that takes, ``bulk_poll_seconds`` then doubling, are the org's time, not segsync's).

Usage::

    .venv/bin/python benchmarks/salesforce.py [--people 100000] [--opt-out 0.28]
                                              [--concurrency 4] [--store-threads N]
                                              [--skip-push]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import Measured, run_cli, run_cli_measured

from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceSimulator,
)

DAY = 86_400
ALLOCATION = 100_000
REST_PAGE, COLLECTION, BULK_PAGE = 2000, 200, 50_000

CONFIG = """
[store]
path = "bench.duckdb"
{store_threads}

[attributes]
first_name = "text"

[connectors.salesforce]
type = "salesforce"
login_url = "{base_url}"
client_id = "{client_id}"
ca_bundle = "{ca_bundle}"
concurrency = {concurrency}
bulk_queries = {bulk}
bulk_threshold = {threshold}
bulk_page_size = {bulk_page}
bulk_poll_seconds = 0.2
opportunities = false
contact_fields = {{ first_name = "FirstName" }}
lead_fields = {{ first_name = "FirstName" }}

[segments.everyone]
where = "email IS NOT NULL"

[syncs.bench]
segment = "everyone"
destination = "salesforce"
kind = "campaign"
audience = "segsync: bench"
max_add_fraction = 1000000
"""


def seed(sim: SalesforceSimulator, people: int, opt_out: float) -> dict[str, int]:
    rng = random.Random(42)
    org, user = sim.org, sim.org.add_user("integration@segsync.sandbox")
    now = sim.now_ms()
    created = now - 400 * DAY * 1000
    counts = {"contacts": 0, "leads": 0, "opted_out": 0, "won_opportunities": 0}
    for i in range(people):
        lead = i % 4 == 3
        values: dict[str, Any] = {"FirstName": f"F{i}", "LastName": f"L{i}",
                                  "Email": f"person{i}@example.org"}  # fmt: skip
        if lead:
            values["Company"] = f"Company {i}"
        obj = "Lead" if lead else "Contact"
        stamp = created + rng.randrange(0, 300 * DAY) * 1000
        record = org.insert(obj, values, user_id=user, created=created, modified=stamp)
        counts["leads" if lead else "contacts"] += 1
        if rng.random() < opt_out:
            when = stamp + rng.randrange(0, 60 * DAY) * 1000
            org.update(obj, record["Id"], {"HasOptedOutOfEmail": True}, modified=when,
                       user_id=user)  # fmt: skip
            counts["opted_out"] += 1
        if not lead and rng.random() < 0.05:
            opp = org.insert("Opportunity", {"Name": f"Deal {i}", "StageName": "Closed Won",
                                             "Amount": float(rng.randrange(100, 5000)),
                                             "CloseDate": "2026-03-01"},
                             user_id=user)  # fmt: skip
            org.insert("OpportunityContactRole", {"OpportunityId": opp["Id"],
                                                  "ContactId": record["Id"], "IsPrimary": True},
                       user_id=user)  # fmt: skip
            counts["won_opportunities"] += 1
    return counts


def cpu_of(done: Measured, since: float) -> dict[str, float]:
    """CPU seconds of the CLI run ``done`` measured (its own, from ``wait4``) and of this
    process (the simulator's server thread) since ``since`` (``time.process_time()``)."""
    return {
        "cli_cpu_s": round(done.cpu, 1),
        "simulator_cpu_s": round(time.process_time() - since, 1),
    }


def calls_by_path(sim: SalesforceSimulator, mark: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in sim.requests[mark:]:
        if r.path.startswith("/services/oauth2"):
            key = "login"
        elif "/jobs/query" in r.path:
            key = "bulk " + ("results" if r.path.endswith("/results") else
                             "create" if r.method == "POST" else "poll")  # fmt: skip
        else:
            key = f"{r.method} {r.path.split('/v66.0/')[-1].split('/')[0]}"
        out[key] = out.get(key, 0) + 1
    return out


def history_rows(sim: SalesforceSimulator) -> int:
    return sum(len(sim.org.records[h]) for h in ("ContactHistory", "LeadHistory"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--opt-out", type=float, default=0.28)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--store-threads",
        type=int,
        default=None,
        help="[store] threads (default: DuckDB's, one per core)",
    )
    parser.add_argument("--skip-push", action="store_true", help="only the two pulls")
    args = parser.parse_args()

    sim = SalesforceSimulator(seed=1, daily_api_requests=ALLOCATION * 100,
                              bulk_upload_polls=0, bulk_progress_polls=0)  # fmt: skip
    started = time.perf_counter()
    counts = seed(sim, args.people, args.opt_out)
    results: dict[str, Any] = {
        "seeded": counts,
        "history_rows": history_rows(sim),
        "seed_seconds": round(time.perf_counter() - started, 1),
    }
    env = {"SEGSYNC_CONNECTORS__SALESFORCE__CLIENT_SECRET": DEFAULT_CLIENT_SECRET}
    with tempfile.TemporaryDirectory() as tmp, sim.serve() as served:
        assert served.ca_bundle is not None

        threads = f"threads = {args.store_threads}" if args.store_threads else ""

        def folder(name: str, *, bulk: bool, threshold: int = 50_000) -> Path:
            path = Path(tmp) / name
            path.mkdir()
            (path / "segsync.toml").write_text(
                CONFIG.format(base_url=served.base_url, client_id=DEFAULT_CLIENT_ID,
                              ca_bundle=served.ca_bundle, concurrency=args.concurrency,
                              bulk=str(bulk).lower(), threshold=threshold,
                              store_threads=threads,
                              bulk_page=BULK_PAGE),
                encoding="utf-8",
            )  # fmt: skip
            return path

        rest, bulk = folder("rest", bulk=False), folder("bulk", bulk=True, threshold=0)
        rest_config = rest / "segsync.toml"

        for label, where in (("pull_rest", rest), ("pull_bulk", bulk)):
            mark, cpu = len(sim.requests), time.process_time()
            report, done = run_cli_measured(where / "segsync.toml", "pull", env=env)
            wall, rss = done.wall, done.rss
            pulled = sum(s["records"] for s in report["sources"] if s["stream"] == "contacts")
            calls = len(sim.requests) - mark
            by_path = calls_by_path(sim, mark)
            rows = pulled + results["history_rows"]
            fraction = rows / (calls * REST_PAGE)
            results[label] = {
                "records": pulled,
                "rows_read": rows,
                "seconds": round(wall, 1),
                "records_per_s": round(pulled / wall),
                "calls": calls,
                "calls_by_path": by_path,
                "records_per_call": round(pulled / calls),
                "rows_per_call": round(rows / calls),
                "fraction_of_ceiling": round(fraction, 3),
                "allocation_ceiling_per_s": round(ALLOCATION * REST_PAGE / DAY),
                "peak_rss_mib": rss,
                **cpu_of(done, cpu),
            }

        if args.skip_push:
            print(json.dumps(results, indent=2))
            return
        mark, cpu = len(sim.requests), time.process_time()
        report, done = run_cli_measured(rest_config, "run", "--no-pull", "--sync", "bench", env=env)
        wall, rss = done.wall, done.rss
        (sync,) = report["syncs"]
        calls = len(sim.requests) - mark
        (campaign,) = sim.campaigns("segsync: bench")
        members = len(sim.campaign_members(campaign))
        results["push"] = {
            "records": sync["applied_adds"],
            "campaign_members": members,
            "seconds": round(wall, 1),
            "records_per_s": round(sync["applied_adds"] / wall),
            "calls": calls,
            "calls_by_path": calls_by_path(sim, mark),
            "records_per_call": round(sync["applied_adds"] / calls, 1),
            "fraction_of_ceiling": round(sync["applied_adds"] / (calls * COLLECTION), 3),
            "allocation_ceiling_per_s": round(ALLOCATION * COLLECTION / DAY),
            "peak_rss_mib": rss,
            **cpu_of(done, cpu),
        }
        mark = len(sim.requests)
        report, _, _ = run_cli(rest_config, "run", "--no-pull", "--sync", "bench", env=env)
        writes = [r for r in sim.requests[mark:] if r.method in ("PATCH", "DELETE") or
                  (r.method == "POST" and not r.path.endswith(("/token", "/jobs/query")))]  # fmt: skip
        results["second_push"] = {
            "changes": [f"{s['name']}: +{s['adds']}/-{s['removes']}" for s in report["syncs"]],
            "write_calls": len(writes),
            "calls": len(sim.requests) - mark,
        }
    results["cpu_count"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
