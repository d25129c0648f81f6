"""Benchmark: ``segsync forget`` for many identifiers at once, and the store's erasure at scale.

**destinations** — the HubSpot and Mailchimp simulators on loopback at their default limits
(HubSpot: 100 requests per 10 s per token; Mailchimp: 10 connections), each holding N people
that a first ``segsync run`` put in a HubSpot list, a Mailchimp tag and an audience file. Then
``segsync forget --from-file`` with ``--count`` of them (10,000 by default), both erasers on:
each person leaves the list (10,000 ids a call), the tag (500 a call) and the file, then is
GDPR-deleted in HubSpot (one contact a call) and deleted for good in Mailchimp (one member a
call). Reported: identifiers/s, and the fraction of what the slowest destination's limits
allow — HubSpot's, whose calls (``ceil(count / 10,000)`` list removals + ``count`` GDPR
deletes) cannot go faster than 100 per 10 s after the first 100 (target ≥ 80%).

**store** — a store of ``--profiles`` (1M) profiles with 3 events each, delivered to two syncs,
a change log of every delivery and a year of run reports; the erasure of 1 and of 10,000
people measured in its parts: resolving them (raw identifiers; and from their hashes, as a
resumed request is), the erasure transaction, and the compaction that leaves no deleted byte
in the file. No destination is called.

Usage:

    .venv/bin/python benchmarks/forget.py [--count 10000] [--people 12000]
    .venv/bin/python benchmarks/forget.py --store-only [--profiles 1000000]
    .venv/bin/python benchmarks/forget.py --destinations-only --count 2000   # ~4 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import peak_rss_mib, run_cli

from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.connectors.mailchimp.simulator import MailchimpSimulator
from segsync.pipeline.resolve import resolve_profiles
from segsync.privacy.erasure import Erasures, Request
from segsync.privacy.identifiers import Identifier, store_salt
from segsync.state.store import Store

TOKEN = "pat-na1-bench-forget-0000"
KEY = "bench0forget000000000000000000000-us1"
ENV = {"SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": TOKEN, "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY}
BURST, WINDOW, LIST_IDS = 100, 10.0, 10_000

CONFIG = """
[store]
path = "bench.duckdb"

[connectors.shop]
type = "files"
output_dir = "out"
[connectors.shop.contacts]
path = "contacts.csv"

[connectors.hubspot]
type = "hubspot"
base_url = "{hubspot}"
deals = false
erase_records = "delete"

[connectors.mailchimp]
type = "mailchimp"
base_url = "{mailchimp}"
list_id = "{list_id}"
orders = false
erase_records = "delete"

[segments.everyone]
where = "email IS NOT NULL"

[syncs.hs_list]
segment = "everyone"
destination = "hubspot"
kind = "list"
audience = "Everyone"

[syncs.mc_tag]
segment = "everyone"
destination = "mailchimp"
audience = "Everyone"

[syncs.csv]
segment = "everyone"
destination = "shop"
audience = "everyone"
"""


def destinations(args: argparse.Namespace) -> dict[str, Any]:
    people = [f"person{i:06d}@example.org" for i in range(args.people)]
    hubspot = HubSpotSimulator(seed=1, daily=10_000_000)  # burst 100 / 10 s: the default
    hubspot.add_credential(TOKEN)
    hubspot.seed_contacts([{"email": e} for e in people])
    mailchimp = MailchimpSimulator(seed=1)  # 10 simultaneous connections: the default
    mailchimp.add_credential(KEY)
    list_id = mailchimp.create_list("Bench")
    mailchimp.seed_members(list_id, [{"email": e, "status": "subscribed"} for e in people])
    out: dict[str, Any] = {"people": args.people, "count": args.count}
    with tempfile.TemporaryDirectory() as tmp, hubspot.serve() as hs, mailchimp.serve() as mc:
        folder = Path(tmp)
        (folder / "contacts.csv").write_text(
            "id,email\n" + "".join(f"S{i},{e}\n" for i, e in enumerate(people))
        )
        (folder / "segsync.toml").write_text(
            CONFIG.format(hubspot=hs.base_url, mailchimp=mc.base_url, list_id=list_id)
        )
        report, wall, _ = run_cli(folder / "segsync.toml", "run", env=ENV)
        out["first_run_seconds"] = round(wall, 1)
        assert {s["name"]: s["applied_adds"] for s in report["syncs"]} == {
            "hs_list": args.people, "mc_tag": args.people, "csv": args.people
        }, report["syncs"]  # fmt: skip
        requests = folder / "requests.txt"
        requests.write_text("\n".join(people[: args.count]) + "\n")
        time.sleep(WINDOW)  # a fresh HubSpot window, as the limits would give a new day's job
        hs_mark, mc_mark = len(hubspot.requests), len(mailchimp.requests)
        receipt, wall, rss = run_cli(
            folder / "segsync.toml", "forget", "--from-file", str(requests), env=ENV
        )
        statuses: dict[str, int] = {}
        for request in receipt["requests"]:
            statuses[request["status"]] = statuses.get(request["status"], 0) + 1
        hs_calls = len(hubspot.requests) - hs_mark
        mc_calls = len(mailchimp.requests) - mc_mark
        needed = math.ceil(args.count / LIST_IDS) + args.count  # list removals + GDPR deletes
        floor = max(0.0, (needed - BURST) / (BURST / WINDOW))
        out["forget"] = {
            "identifiers": args.count,
            "seconds": round(wall, 1),
            "identifiers_per_s": round(args.count / wall, 2),
            "statuses": statuses,
            "store": receipt["store"],
            "peak_rss_mib": rss,
            "hubspot_calls": hs_calls,
            "hubspot_gdpr_deleted": len(hubspot.gdpr_deleted()),
            "mailchimp_calls": mc_calls,
            "slowest_destination": "hubspot (100 requests / 10 s)",
            "slowest_allows_seconds": round(floor, 1),
            "slowest_allows_identifiers_per_s": round(args.count / floor, 2) if floor else None,
            "fraction_of_slowest_limit": round(floor / wall, 3) if floor else None,
        }
        left = {e for e in people[: args.count] if hubspot.contact_id(e) is not None}
        left |= mailchimp.member_emails(list_id) & set(people[: args.count])
        out["forget"]["still_at_a_platform"] = len(left)
    return out


def build_store(path: Path, profiles: int) -> Store:
    """``profiles`` people in a CRM export, 3 orders each, in two syncs' audiences, a change
    log of each delivery and a year of stored reports (4 runs a day)."""
    store = Store.open(path, options={"memory_limit": "2GB"})
    con = store.con
    con.execute(
        f"""INSERT INTO source_contacts (instance, source_id, email, phone, attributes,
                consent_email_marketing, updated_at, run_id)
            SELECT 'crm', 'C' || i, 'person' || i || '@example.org',
                   '+336' || (10000000 + i)::VARCHAR, '{{"country": "FR"}}', true,
                   TIMESTAMP '2026-01-01' + to_seconds(i), 'r0'
            FROM range({profiles}) t(i)"""
    )
    con.execute(
        f"""INSERT INTO events (instance, event_id, type, occurred_at, contact_id, value, run_id)
            SELECT 'crm', 'O' || i, 'order', TIMESTAMP '2025-01-01' + to_seconds(i * 7),
                   'C' || (i % {profiles}), (i % 500)::DECIMAL(18,4), 'r0'
            FROM range({profiles * 3}) t(i)"""
    )
    resolve_profiles(store.engine, {})
    con.execute(
        "INSERT INTO audiences VALUES ('hs_list', 'hubspot', 'list', 'Everyone', 'L1', "
        f"now()::TIMESTAMP, {profiles}), ('csv', 'shop', 'csv', 'everyone', 'everyone.csv', "
        f"now()::TIMESTAMP, {profiles})"
    )
    con.execute(
        """INSERT INTO sync_state SELECT 'hs_list', i.source_id, i.profile_key,
                now()::TIMESTAMP, 'r0' FROM profile_identifiers i"""
    )
    con.execute(
        """INSERT INTO sync_state SELECT 'csv', p.email, p.profile_key, now()::TIMESTAMP, 'r0'
           FROM profiles p"""
    )
    con.execute(
        """INSERT INTO change_log SELECT 'r0', sync, 'add', member_key, profile_key, true,
                false, 'in segment ''everyone''', now()::TIMESTAMP FROM sync_state"""
    )
    report = json.dumps(
        {"sources": [{"warning_samples": ["crm contacts: 3 × phone is not a valid number; "
                                          "e.g. contact C17 ('06*****12')"]}]}
    )  # fmt: skip
    con.execute(
        """INSERT INTO runs (run_id, command, started_at, status, report)
           SELECT 'r' || i, 'run', TIMESTAMP '2025-06-01' + to_hours(i * 6), 'ok', ?
           FROM range(1460) t(i)""",
        [report],
    )
    con.execute("CHECKPOINT")
    return store


def erase_timed(store: Store, emails: list[str], *, resume: bool) -> dict[str, Any]:
    engine = store.engine
    erasures = Erasures(engine)
    timings: dict[str, Any] = {"people": len(emails), "resumed_from_hashes": resume}
    started = time.perf_counter()
    with engine.transaction():
        salt = store_salt(engine)
        assert salt is not None
        ids = [f"B{n}-{'h' if resume else 'r'}" for n in range(len(emails))]
        requests = erasures.register(
            "bench", [Identifier("email", e, e) for e in emails], salt, ids
        )
    known = {} if resume else {r.request_id: r.value for r in requests if r.value}
    started_requests: list[Request] = erasures.started(known)
    t0 = time.perf_counter()
    resolution = erasures.resolve(started_requests, salt)
    t1 = time.perf_counter()
    totals = erasures.erase(resolution, salt, {"hubspot": "id"})
    erasures.close()
    t2 = time.perf_counter()
    store.compact()
    t3 = time.perf_counter()
    timings.update(
        register_s=round(t0 - started, 2),
        resolve_s=round(t1 - t0, 2),
        erase_transaction_s=round(t2 - t1, 2),
        compact_s=round(t3 - t2, 2),
        total_s=round(t3 - started, 2),
        erased=totals,
    )
    return timings


def store_phase(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"profiles": args.profiles}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.duckdb"
        started = time.perf_counter()
        store = build_store(path, args.profiles)
        out["build_seconds"] = round(time.perf_counter() - started, 1)
        out["file_mib_before"] = round(path.stat().st_size / 2**20, 1)
        step = max(1, args.profiles // 20_001)
        chosen = [f"person{i}@example.org" for i in range(0, args.profiles, step)]
        out["one_person"] = erase_timed(store, chosen[:1], resume=False)
        out["ten_thousand"] = erase_timed(store, chosen[1:10_001], resume=False)
        out["ten_thousand_resumed"] = erase_timed(store, chosen[10_001:20_001], resume=True)
        out["file_mib_after"] = round(path.stat().st_size / 2**20, 1)
        out["profiles_left"] = store.scalar("SELECT count(*) FROM profiles")
        store.close()
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="identifiers to forget")
    parser.add_argument("--people", type=int, default=12_000, help="people on the platforms")
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles in the store")
    parser.add_argument("--store-only", action="store_true")
    parser.add_argument("--destinations-only", action="store_true")
    args = parser.parse_args()
    if args.count > args.people:
        parser.error("--count must not exceed --people")
    results: dict[str, Any] = {}
    if not args.store_only:
        results["destinations"] = destinations(args)
        print(json.dumps(results, indent=2), file=sys.stderr, flush=True)
    if not args.destinations_only:
        results["store"] = store_phase(args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
