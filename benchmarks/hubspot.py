"""Benchmark: the HubSpot connector against its simulator on loopback, at HubSpot's default limits.

Serves :class:`HubSpotSimulator` (100 requests per rolling 10 s per token, as a Free/Starter
portal) seeded with N contacts, and drives the real CLI in subprocesses:

1. ``segsync pull`` — every contact through the full pull (100 a page) into the store;
   records/s, the fraction of the ceiling the rate limit allows (100 requests/10 s × 100 a
   page = 1,000 contacts/s), and the pull process's peak RSS;
2. ``segsync run --no-pull --sync bench_list`` — N list memberships (``membership_chunk`` ids
   a call); records/s against the rate-limit ceiling at that chunk size;
3. ``segsync run --no-pull --sync bench_prop`` — N contacts' segments property (100 a call, a
   read and a write each: a ceiling of 500 contacts/s);
4. both syncs again: the number of write calls HubSpot received (expected 0).

Between phases it waits one rate-limit window, so each phase starts with the budget a
scheduled run would find. The pull also reports its CPU seconds per 1,000 contacts (the rate
limit bounds the wall time, not the work). ``--pull-only`` stops after the pull;
``--burst N`` raises the simulated portal's limit (to see memory at sizes the default limit
would take an hour to pull); ``--python`` runs another install's segsync.
``--against PY`` pulls with this install and with another (the code before a change: a
``git worktree`` with its own virtualenv), alternating ``--rounds`` times, and prints the ratio
of their CPU per contact (of the medians, and each round's own) — figures from different days
differ by a third on a shared machine, a ratio from the same hour does not.

The CLI runs are started by :mod:`measure`'s launcher, not by this process, which holds the
seeded portal (about 2 GB at 1,000,000 contacts): a child's peak RSS would otherwise count it.
Usage:

    .venv/bin/python benchmarks/hubspot.py [--contacts 100000] [--list-chunk 10000]
        [--skip-property] [--pull-only] [--burst 100] [--python PY]
        [--against PY [--rounds 3]]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import run_cli_measured

from segsync.connectors.hubspot.simulator import HubSpotSimulator

TOKEN = "pat-bench-0000"
BURST, WINDOW, PAGE = 100, 10.0, 100

CONFIG = """
[store]
path = "bench.duckdb"

[attributes]
first_name = "text"

[connectors.hubspot]
type = "hubspot"
base_url = "{base_url}"
requests_per_10s = {burst}
deals = false
membership_chunk = {chunk}
properties = {{ first_name = "firstname" }}

[segments.everyone]
where = "email IS NOT NULL"

[syncs.bench_list]
segment = "everyone"
destination = "hubspot"
kind = "list"
audience = "segsync: bench"

[syncs.bench_prop]
segment = "everyone"
destination = "hubspot"
kind = "property"
audience = "everyone"
"""


def seeded_portal(contacts: int, burst: int, daily: int = 10_000_000) -> HubSpotSimulator:
    """The simulated portal: ``contacts`` contacts, ``burst`` requests per rolling
    :data:`WINDOW` and ``daily`` a day for :data:`TOKEN`."""
    sim = HubSpotSimulator(seed=1, burst=burst, window=WINDOW, daily=daily)
    sim.add_credential(TOKEN)
    sim.seed_contacts(
        [{"email": f"bench{i}@example.org", "first_name": f"B{i}"} for i in range(contacts)]
    )
    return sim


def segsync(folder: Path, *args: str, python: str) -> tuple[dict[str, Any], float, int, float]:
    """``segsync`` on the benchmark's config: its JSON report, wall seconds, peak RSS (MiB),
    CPU seconds."""
    env = {"SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": TOKEN}
    report, done = run_cli_measured(folder / "segsync.toml", *args, env=env, python=python)
    return report, done.wall, done.rss, done.cpu


def writes_since(sim: HubSpotSimulator, mark: int) -> int:
    reads = ("/search", "/batch/read")
    return sum(
        1
        for r in sim.requests[mark:]
        if r.method in ("PUT", "PATCH", "DELETE")
        or (r.method == "POST" and not r.path.endswith(reads))
    )


def compare_pulls(folder: Path, python: str, against: str, rounds: int) -> None:
    """Pulls by ``python`` and by ``against``, alternating, each into a fresh store after a
    rate-limit window: CPU per 1,000 contacts of each, their medians and ratio. The same
    hour, the same machine: its speed, which moves by a third from day to day on a shared
    host, cancels out of the ratio."""
    sides: dict[str, list[float]] = {"this": [], "against": []}
    for n in range(1, rounds + 1):
        for label, py in (("this", python), ("against", against)):
            for leftover in folder.glob("bench.duckdb*"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            time.sleep(WINDOW)
            report, wall, rss, cpu = segsync(folder, "pull", python=py)
            pulled = sum(s["records"] for s in report["sources"] if s["stream"] == "contacts")
            per_1000 = cpu / pulled * 1e6
            sides[label].append(per_1000)
            print(
                f"{label:>8} #{n}: {per_1000:6.1f} ms CPU per 1,000 contacts "
                f"({pulled:,} in {wall:.1f}s, peak RSS {rss} MiB)",
                flush=True,
            )
    mine, theirs = (statistics.median(sides[k]) for k in ("this", "against"))
    # each round's own ratio: its two pulls ran minutes apart, so the machine's drift over
    # the series (a quarter within an hour here) moves them less than it moves the medians
    ratios = [a / b for a, b in zip(sides["this"], sides["against"], strict=True)]
    print(
        f"median: {mine:.1f} against {theirs:.1f} ms per 1,000 contacts: "
        f"this / against = {mine / theirs:.2f}; the rounds' own ratios "
        f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--list-chunk", type=int, default=10_000)
    parser.add_argument("--skip-property", action="store_true")
    parser.add_argument("--pull-only", action="store_true")
    parser.add_argument("--burst", type=int, default=BURST)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--against",
        metavar="PY",
        help="another install's python (e.g. the code before a change): pulls by both, "
        "alternating, and the ratio of their CPU per contact",
    )
    parser.add_argument("--rounds", type=int, default=3, help="pulls per side with --against")
    args = parser.parse_args()
    burst = args.burst

    sim = seeded_portal(args.contacts, burst)
    results: dict[str, Any] = {"contacts": args.contacts, "limits": f"{burst}/{WINDOW:g}s"}
    with tempfile.TemporaryDirectory() as tmp, sim.serve() as served:
        folder = Path(tmp)
        (folder / "segsync.toml").write_text(
            CONFIG.format(base_url=served.base_url, burst=burst, chunk=args.list_chunk)
        )
        rate = burst / WINDOW  # requests per second the limit allows
        if args.against:
            compare_pulls(folder, args.python, args.against, args.rounds)
            return

        report, wall, rss, cpu = segsync(folder, "pull", python=args.python)
        pulled = sum(s["records"] for s in report["sources"] if s["stream"] == "contacts")
        ceiling = rate * PAGE
        results["pull"] = {
            "records": pulled,
            "seconds": round(wall, 1),
            "records_per_s": round(pulled / wall),
            "ceiling_per_s": ceiling,
            "fraction_of_ceiling": round(pulled / wall / ceiling, 3),
            "peak_rss_mib": rss,
            "cpu_seconds": round(cpu, 1),
            "cpu_ms_per_1000": round(cpu / pulled * 1e6, 1),
            "http": report["http"]["hubspot"],
        }
        if args.pull_only:
            print(json.dumps(results, indent=2))
            return

        phases = [("list", "bench_list", args.list_chunk, 1)]
        if not args.skip_property:
            phases.append(("property", "bench_prop", 100, 2))
        for label, sync, per_call, calls_each in phases:
            time.sleep(WINDOW)
            report, wall, rss, cpu = segsync(
                folder, "run", "--no-pull", "--sync", sync, python=args.python
            )
            (done,) = report["syncs"]
            ceiling = rate * per_call / calls_each
            results[f"push_{label}"] = {
                "records": done["adds"],
                "seconds": round(wall, 1),
                "records_per_s": round(done["adds"] / wall),
                "ceiling_per_s": ceiling,
                "fraction_of_ceiling": round(done["adds"] / wall / ceiling, 3),
                "peak_rss_mib": rss,
                "cpu_seconds": round(cpu, 2),  # the whole run: start-up, recompute, push
                "http": report["http"]["hubspot"],
            }

        time.sleep(WINDOW)
        mark = len(sim.requests)
        again: list[str] = []
        for _, sync, _, _ in phases:
            report, *_ = segsync(folder, "run", "--no-pull", "--sync", sync, python=args.python)
            again += [f"{s['name']}: +{s['adds']}/-{s['removes']}" for s in report["syncs"]]
        results["second_push"] = {"changes": again, "write_calls": writes_since(sim, mark)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
