"""Benchmark: segsync pushing a Customer Match list through the Data Manager API simulator.

The simulator runs in a process of its own (Google is another machine: its CPU is not ours),
at its **default limits**: 10,000 members a request and 300 ingestion requests a minute per
Cloud project — a ceiling of 50,000 members/s. segsync runs in a second process, as a run
would: a store of N profiles (email for all, phone for half, both ad purposes granted for
95%), the segment, then the planner and the push with the real ``google_ads`` connector
(OAuth refresh-token flow, hashing, pacing, one request per batch, the ledger recording every
batch). Measured:

1. **first push** — every consented member added: members/s, and the fraction of the
   50,000/s ceiling the project's request rate allows (target ≥ 0.9), end to end (finding
   the list, uploading, reading it back), and the gaps between upload starts; the list's size
   and match rate read back;
2. **second push** — nothing changed: the write calls the simulator received (expected 0);
3. **scheduled refresh** — ``--refresh-share`` of the deliveries aged past ``refresh_days``
   (510 days, memberships lasting 540): the write calls are exactly the refresh's batches;
4. peak RSS of segsync's process (``VmHWM``) and of the simulator's.

The first push is bound either by the project's request rate (the pacer spreads starts evenly
under it) or by segsync's CPU: ``members_per_segsync_cpu_s`` is what one free core would
allow, and the load average is printed beside the figures, because on a shared machine the
wall-clock rate measures the machine as much as segsync. ``--requests-per-minute`` lowers the
project's quota (simulator and connector alike) to show the pacing-bound case.

Usage:

    .venv/bin/python benchmarks/google_ads.py [--members 1000000] [--refresh-share 0.1]
                                              [--requests-per-minute 300]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from measure import peak_rss_mib

from segsync.config import SegmentConfig, SyncConfig
from segsync.connector import AudienceSpec, ConnectorContext, Purpose, default_refresh_days
from segsync.connectors.google_ads.connector import GoogleAdsConnector
from segsync.connectors.google_ads.settings import GoogleAdsSettings
from segsync.connectors.google_ads.simulator import DataManagerSimulator, QuotaLimits
from segsync.model.segments import SegmentBook
from segsync.pipeline.plan import Destination, Planner
from segsync.pipeline.push import PushTarget, push_sync
from segsync.pipeline.segments import compute_segments
from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.state.store import Store
from segsync.values import utcnow

PROJECT, ACCOUNT, MANAGER = "bench-project", "1234567890", "5555555555"
USER = "bench@example.org"
CLIENT_ID, CLIENT_SECRET = "bench.apps.googleusercontent.com", "bench-secret"
REFRESH = "1//bench-refresh"
MEMBERSHIP_DAYS = 540
PER_REQUEST = 10_000


# -- the simulator's process -----------------------------------------------------------------


def ceiling(per_minute: int) -> float:
    """Members/s the per-project request rate allows (300 a minute: 50,000)."""
    return per_minute / 60 * PER_REQUEST


def serve(per_minute: int) -> None:
    """Google, until the benchmark closes our stdin; then this process's peak RSS."""
    sim = DataManagerSimulator(
        seed=1,
        processing_polls=0,
        background_match_share=0.5,
        quota=QuotaLimits(ingestion_mutate_per_minute=per_minute),
    )
    sim.add_project(PROJECT)
    sim.add_account(MANAGER, users=[USER])
    sim.add_account(ACCOUNT, manager_id=MANAGER)
    sim.add_oauth_client(CLIENT_ID, CLIENT_SECRET, PROJECT)
    sim.add_refresh_token(REFRESH, client_id=CLIENT_ID, principal=USER)
    with sim.serve() as served:
        print(json.dumps({"base_url": served.base_url}), flush=True)
        sys.stdin.readline()
        spans = [r.finished - r.started for r in sim.requests if r.path.endswith(":ingest")]
        print(json.dumps({"peak_rss_mib": peak_rss_mib(), "cpu_seconds": time.process_time(),
                          "ms_per_ingest": 1000 * sum(spans) / max(len(spans), 1)}),
              flush=True)  # fmt: skip


# -- segsync's process -----------------------------------------------------------------------


def build_store(path: Path, members: int) -> Store:
    """A store with ``members`` resolved profiles (as the resolve stage leaves them)."""
    store = Store.open(path)
    store.con.execute(
        f"""CREATE OR REPLACE TABLE profiles AS
        SELECT 'p' || lpad(CAST(i AS VARCHAR), 8, '0') AS profile_key,
               CASE WHEN i % 10 = 0 THEN 'first.last' || CAST(i AS VARCHAR) || '@gmail.com'
                    ELSE 'member' || CAST(i AS VARCHAR) || '@example.org' END AS email,
               CASE WHEN i % 2 = 0 THEN '+3361' || lpad(CAST(i % 10000000 AS VARCHAR), 7, '0')
                    END AS phone,
               TRUE AS consent_email_marketing,
               i % 20 <> 7 AS consent_ad_user_data,
               i % 20 <> 7 AS consent_ad_personalization
        FROM range({members}) AS t(i)"""
    )
    store.con.execute("CREATE OR REPLACE VIEW segment_profiles AS SELECT * FROM profiles")
    return store


def settings(base_url: str, per_minute: int) -> GoogleAdsSettings:
    return GoogleAdsSettings(
        requests_per_minute=per_minute,
        operating_account_id=ACCOUNT,
        login_account_id=MANAGER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH,
        quota_project=PROJECT,
        base_url=base_url,
        token_uri=f"{base_url}/token",
        membership_days=MEMBERSHIP_DAYS,
    )


def start_gaps(base_url: str, per_minute: int) -> dict[str, float]:
    """Seconds between the starts of successive ingest requests of the first push, as the
    simulator received them. The pacer spaces starts ``60 s x 1.01 / requests_per_minute``
    apart and does not make up a start the event loop reached late (busy hashing or
    recording, or starved of CPU): a mean above the interval is time lost to that."""
    logged = httpx.get(f"{base_url}/_sim/requests", timeout=60).json()
    starts = sorted(r["started"] for r in logged if r["path"].endswith(":ingest"))
    gaps = sorted(b - a for a, b in itertools.pairwise(starts)) or [0.0]
    return {"pacer_interval": round(60 * 1.01 / per_minute, 3),
            "median": round(gaps[len(gaps) // 2], 3), "mean": round(sum(gaps) / len(gaps), 3),
            "max": round(gaps[-1], 3)}  # fmt: skip


def write_calls(base_url: str, since: int) -> tuple[int, int]:
    """(write calls among the simulator's requests after the first ``since``, total)."""
    logged = httpx.get(f"{base_url}/_sim/requests", timeout=60).json()
    writes = [r for r in logged[since:] if r["method"] != "GET" and r["path"] != "/token"]
    return len(writes), len(logged)


async def one_push(
    store: Store, base_url: str, tmp: Path, refresh_days: int, per_minute: int
) -> tuple[dict[str, Any], float, float]:
    """Plan and push the sync once: (its report, plan seconds, push seconds)."""
    engine = store.engine
    ledger = Ledger(engine)
    book = SegmentBook(
        segments={"everyone": SegmentConfig(where="TRUE")}, columns={"profile_key": "text"}
    )
    started = time.perf_counter()
    membership = compute_segments(engine, book, History(engine))
    planner = Planner(engine, ledger, membership, book, now=utcnow())
    purposes = frozenset({Purpose.AD_USER_DATA, Purpose.AD_PERSONALIZATION})
    destination = Destination(instance="gads", kind="customer_match", identifier="email",
                              purposes=purposes, refresh_days=refresh_days)  # fmt: skip
    sync = SyncConfig(segment="everyone", destination="gads", audience="segsync: everyone")
    plan = planner.plan("everyone_ads", sync, destination, force=True)
    planned = time.perf_counter() - started
    connector = GoogleAdsConnector(
        settings(base_url, per_minute), ConnectorContext("gads", tmp, tmp / "w")
    )
    target = PushTarget(
        destination=connector.destination,
        instance="gads",
        spec=AudienceSpec("everyone_ads", "segsync: everyone", "customer_match"),
    )
    started, cpu = time.perf_counter(), time.process_time()
    try:
        report = await push_sync(plan, target, ledger, "bench-run")
    finally:
        await connector.aclose()
    pushed = time.perf_counter() - started
    out = report.model_dump(mode="json")
    out["http"] = connector.http_stats()
    out["cpu_seconds"] = time.process_time() - cpu
    return out, planned, pushed


def client(base_url: str, members: int, refresh_share: float, per_minute: int) -> dict[str, Any]:
    refresh_days = default_refresh_days(MEMBERSHIP_DAYS)
    limit = ceiling(per_minute)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        store = build_store(tmp / "bench.duckdb", members)
        built = time.perf_counter() - started
        try:
            load = os.getloadavg()[0]
            report, plan_s, push_s = asyncio.run(
                one_push(store, base_url, tmp, refresh_days, per_minute)
            )
            sent = report["applied_adds"]
            per_cpu_s = sent / report["cpu_seconds"]
            rate = sent / push_s
            first = {
                "members_added": sent,
                "skipped_no_consent": report["skipped"]["no_consent"],
                "failed": report["failed"],
                "plan_seconds": round(plan_s, 2),
                "push_seconds": round(push_s, 2),
                "members_per_s": round(rate),
                "ceiling_members_per_s": round(limit),
                "fraction_of_ceiling": round(rate / limit, 3),
                "segsync_cpu_seconds": round(report["cpu_seconds"], 2),
                "members_per_segsync_cpu_s": round(per_cpu_s),
                "fraction_of_ceiling_one_free_core": round(min(per_cpu_s / limit, 1.0), 3),
                "load_average_before": round(load, 1),
                "load_average_after": round(os.getloadavg()[0], 1),
                "requests": report["http"]["requests"],
                "throttled_429": report["http"]["throttled"],
                "list_size": report["audience_size"],
                "match_rate": report["match_rate"],
                "upload_start_gap_s": start_gaps(base_url, per_minute),
            }
            _, mark = write_calls(base_url, 0)
            report, plan_s, push_s = asyncio.run(
                one_push(store, base_url, tmp, refresh_days, per_minute)
            )
            writes, mark = write_calls(base_url, mark)
            second = {
                "changes": f"+{report['adds']}/-{report['removes']}/~{report['refreshes']}",
                "write_calls": writes,
                "seconds": round(plan_s + push_s, 2),
            }
            due = int(members * refresh_share)
            store.con.execute(
                f"""UPDATE sync_state SET delivered_at = delivered_at - INTERVAL
                    {refresh_days + 10} DAY
                WHERE member_key IN (SELECT member_key FROM sync_state
                                     ORDER BY member_key LIMIT {due})"""
            )
            report, plan_s, push_s = asyncio.run(
                one_push(store, base_url, tmp, refresh_days, per_minute)
            )
            writes, _ = write_calls(base_url, mark)
            refresh = {
                "aged_past_refresh_days": due,
                "refresh_days": refresh_days,
                "changes": f"+{report['adds']}/-{report['removes']}/~{report['refreshes']}",
                "refreshed": report["applied_refreshes"],
                "write_calls": writes,
                "expected_write_calls": -(-report["refreshes"] // PER_REQUEST),
                "push_seconds": round(push_s, 2),
            }
        finally:
            store.close()
    return {
        "store_build_seconds": round(built, 1),
        "first_push": first,
        "second_push": second,
        "scheduled_refresh": refresh,
        "segsync_peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--refresh-share", type=float, default=0.1)
    parser.add_argument("--requests-per-minute", type=int, default=300)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    per_minute = args.requests_per_minute
    if args.serve:
        serve(per_minute)
        return
    if args.client:
        result = client(args.client, args.members, args.refresh_share, per_minute)
        print(json.dumps(result), flush=True)
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--requests-per-minute",
                               str(per_minute)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    base_url = json.loads(server.stdout.readline())["base_url"]
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--client", base_url, "--members", str(args.members),
             "--refresh-share", str(args.refresh_share), "--requests-per-minute",
             str(per_minute)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the segsync process failed:\n{done.stderr[-3000:]}")
        results: dict[str, Any] = {"members": args.members, "requests_per_minute": per_minute,
                                   **json.loads(done.stdout)}  # fmt: skip
        server.stdin.write("done\n")
        server.stdin.flush()
        served = json.loads(server.stdout.readline())
        results["simulator"] = {
            "peak_rss_mib": served["peak_rss_mib"],
            "cpu_seconds": round(served["cpu_seconds"], 1),
            "ms_per_10k_ingest": round(served["ms_per_ingest"], 1),
        }
    finally:
        server.stdin.close()
        server.wait(timeout=120)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
