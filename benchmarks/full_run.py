"""Benchmark: a whole `segsync run` on the files connector, measured as a user runs it.

Generates a seeded synthetic audience (segsync.sandbox.synth), then runs the real CLI in a subprocess
three times against the starter config:

1. first run: pull, load, resolve, segments, push everything;
2. re-run with unchanged files (the steady state of a scheduled job): zero changes;
3. re-run after the files changed (regenerated with another seed, so most records change):
   full re-read, re-resolve, and the resulting adds/removes.

Prints wall time and peak RSS of each run, and records per second for the first. Usage:

    .venv/bin/python benchmarks/full_run.py [--contacts 100000] [--orders 600000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from measure import run_cli

from segsync.sandbox.synth import generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="segsync-bench-"))
    try:
        config = root / "segsync.toml"
        template = resources.files("segsync").joinpath("templates/segsync.toml")
        config.write_text(template.read_text("utf-8"), encoding="utf-8")
        t = time.perf_counter()
        summary = generate(
            root / "data", seed=args.seed, contacts=args.contacts, orders=args.orders
        )
        print(
            f"generated {summary.contacts:,} contacts, {summary.newsletter:,} newsletter rows, "
            f"{summary.orders:,} orders in {time.perf_counter() - t:.1f}s"
        )
        records = summary.contacts + summary.newsletter + summary.orders
        for label, prepare in (
            ("first run", None),
            ("unchanged re-run", None),
            (
                "changed files",
                lambda: generate(
                    root / "data", seed=args.seed + 1, contacts=args.contacts, orders=args.orders
                ),
            ),
        ):
            if prepare:
                prepare()
            report, elapsed, peak = run_cli(config, "run", "--force", ok=(0, 1, 3))
            adds = sum(s["applied_adds"] for s in report["syncs"])
            removes = sum(s["applied_removes"] for s in report["syncs"])
            print(
                f"{label:>17}: {elapsed:6.2f}s wall, peak RSS {peak:5d} MiB, "
                f"{report['profiles']['profiles']:,} profiles, +{adds:,} -{removes:,}"
                + (f", {records / elapsed:,.0f} source records/s" if label == "first run" else "")
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
