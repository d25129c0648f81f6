"""Benchmark: the HTML report (`segsync report`) of a big, old store.

Builds a store as a year of scheduled runs leaves it — ``--profiles`` profiles (1M) with RFM
scores, lifecycle stages and cluster personas; ``--segments`` segments (12) with one sync
each; ``--runs`` runs (4 a day for a year: 1,460) with their stored reports, segment sizes and
KPIs — then times the real CLI writing the report, in a subprocess, and reports the page's
size. Targets: under 10 s and under 2 MB. Usage:

    .venv/bin/python benchmarks/report.py [--profiles 1000000] [--segments 12] [--runs 1460]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
from measure import measure

from segsync.report import RunReport, SegmentSummary, SourceSummary, SyncReport
from segsync.state.store import Store

CONFIG = """
[store]
path = "segsync.duckdb"

[traits.rfm]
kind = "rfm"
event = "order"

[traits.stage]
kind = "lifecycle"
"""


def build(folder: Path, profiles: int, segments: int, runs: int) -> None:
    store = folder / "segsync.duckdb"
    Store.open(store).close()  # migrated
    con = duckdb.connect(str(store))
    started = time.perf_counter()
    con.execute(
        f"""CREATE OR REPLACE TABLE profile_traits AS
        SELECT 'p' || i AS profile_key,
            CASE WHEN i % 7 = 0 THEN NULL ELSE CAST(1 + hash(i) % 5 AS INTEGER) END AS rfm_r,
            CASE WHEN i % 7 = 0 THEN NULL ELSE CAST(1 + hash(i * 3) % 5 AS INTEGER) END AS rfm_f,
            CASE WHEN i % 7 = 0 THEN NULL ELSE CAST(1 + hash(i * 5) % 5 AS INTEGER) END AS rfm_m,
            CASE WHEN i % 7 = 0 THEN NULL ELSE 'cell' END AS rfm,
            (['prospect', 'new', 'active', 'loyal', 'at_risk', 'lost'])[CAST(1 + hash(i * 7) % 6 AS BIGINT)]
                AS stage
        FROM range({profiles}) t(i)"""
    )
    con.executemany(
        "INSERT INTO trait_clusters VALUES ('persona', ?, ?, ?, '{}', ?)",
        [
            (k, f"cluster {k}", profiles // 5,
             f"{profiles // 5:,} people: revenue high (1,240 vs 310), orders_count high "
             f"(6.1 vs 2.0), days_since_last_order low (21 vs 140)")
            for k in range(1, 6)
        ],
    )  # fmt: skip
    rng = random.Random(7)
    start = dt.datetime(2025, 1, 1)
    sizes = [rng.randint(1_000, profiles // 4) for _ in range(segments)]
    kpis, run_rows = [], []
    for n in range(runs):
        at = start + dt.timedelta(hours=6 * n)
        run_id = f"{at:%Y%m%dT%H%M%SZ}-{n:06x}"
        segs, syncs = [], []
        for s in range(segments):
            entered, left = rng.randint(0, 400), rng.randint(0, 380)
            sizes[s] = max(0, sizes[s] + entered - left)
            name = f"segment_{s:02d}"
            kpis.append(
                (run_id, name, sizes[s], sizes[s] / profiles, entered, left,
                 rng.random() * 0.2, 55.0 + rng.random() * 20, sizes[s] * 1.7,
                 120.0 + rng.random() * 50, "30d", None, False, at)
            )  # fmt: skip
            segs.append(SegmentSummary(name=name, size=sizes[s], entered=entered, left=left))
            syncs.append(
                SyncReport(
                    name=f"sync_{s:02d}", segment=name, destination="crm", kind="list",
                    audience=f"Audience {s}", segment_size=sizes[s], desired=sizes[s],
                    adds=entered, removes=left, applied_adds=entered, applied_removes=left,
                    status="ok",
                )
            )  # fmt: skip
        report = RunReport(
            run_id=run_id, command="run", config="segsync.toml", store=str(store), version="0",
            started_at=at, finished_at=at + dt.timedelta(minutes=9), duration_seconds=540.0,
            status="ok", sources=[SourceSummary(instance="crm", stream="contacts", records=5000)],
            segments=segs, syncs=syncs,
        )  # fmt: skip
        run_rows.append(
            (run_id, "run", at, at + dt.timedelta(minutes=9), "ok", 0, 1, "host", "0",
             report.model_dump_json(), "finished")
        )  # fmt: skip
    con.executemany(
        "INSERT INTO runs (run_id, command, started_at, finished_at, status, exit_code, pid, "
        "host, version, report, phase) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        run_rows,
    )
    con.executemany(
        "INSERT INTO segment_kpis VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", kpis
    )
    con.close()
    (folder / "segsync.toml").write_text(CONFIG)
    print(
        f"store: {profiles:,} profiles, {segments} segments and syncs, {runs:,} runs "
        f"({len(kpis):,} segment-KPI rows); built in {time.perf_counter() - started:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=12)
    parser.add_argument("--runs", type=int, default=1_460)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segsync-report-bench-") as tmp:
        folder = Path(tmp)
        build(folder, args.profiles, args.segments, args.runs)
        page = folder / "report.html"
        walls, peaks = [], []
        for _ in range(args.repeat):
            code, _out, err, wall, peak = measure(
                ["segsync", "-q", "-c", str(folder / "segsync.toml"), "report", "--out", str(page)]
            )
            if code != 0:
                print(err)
                return code
            walls.append(wall)
            peaks.append(peak)
        size = page.stat().st_size
        html = page.read_text()
        print(
            json.dumps(
                {
                    "profiles": args.profiles,
                    "segments": args.segments,
                    "runs": args.runs,
                    "wall_seconds_median": round(statistics.median(walls), 2),
                    "wall_seconds_all": [round(w, 2) for w in walls],
                    "peak_rss_mib": max(peaks),
                    "page_bytes": size,
                    "svg_charts": html.count("<svg"),
                    "targets": {"seconds": 10, "bytes": 2_000_000},
                    "within_targets": statistics.median(walls) < 10 and size < 2_000_000,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
