"""Benchmark: staging pages of events a column at a time against record by record.

Two measurements, each side alternating with the other:

1. **staging** (in this process): ``--events`` Mailchimp-shaped orders (``Event`` objects
   made as the Mailchimp connector makes them) staged in pages of 1,000, record by record
   (:func:`~segsync.pipeline.staging.event_encoder` and a CSV line each) and a column at a
   time (:class:`~segsync.pipeline.event_pages.EventPages`): microseconds per event, the
   least of ``--rounds``, and whether the staging files are the same bytes;
2. **pull** (unless ``--skip-pull``): ``segsync pull`` of ``--members`` members and
   ``--orders`` orders from the Mailchimp simulator (in its own process, ``--latency`` a
   call), the CLI's CPU seconds and peak RSS both ways (record by record: the CLI with
   ``EventPages.plain`` answering no), and whether the stored events are identical.

Usage:

    .venv/bin/python benchmarks/event_pages.py [--events 20000] [--members 2000]
        [--orders 100000] [--latency 0.005] [--rounds 3] [--skip-pull]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
from mailchimp import CONFIG, KEY
from measure import measured

from segsync.connector import Event, SourceSettings
from segsync.connectors.mailchimp.source import parse_time
from segsync.pipeline.event_pages import EventPages
from segsync.pipeline.staging import EVENT_COLUMNS, Rejects, StagingWriter, event_encoder
from segsync.pipeline.tally import WarningTally
from segsync.report import SourceSummary

PULLED = dt.datetime(2026, 11, 29, 7, 0)
PAGE = 1000
RECORD_BY_RECORD = (
    "import segsync.pipeline.event_pages as e; e.EventPages.plain = lambda s, r: False\n"
)
CLI = "import sys; from segsync.cli import main; sys.argv = ['segsync'] + sys.argv[1:]; main()"


def _time(text: str) -> dt.datetime:
    moment = parse_time(text)
    assert moment is not None
    return moment


def orders(n: int) -> list[Event]:
    """Orders as the Mailchimp connector makes them from its API's JSON."""
    return [
        Event(event_id=f"mailchimp-s1-o{i}", type="order",
              occurred_at=_time(f"2026-0{1 + i % 9}-1{i % 10}T0{i % 10}:04:05+00:00"),
              email=f"m{i % 1000}@example.org", value=Decimal(str(12.5 + i % 100)),
              currency="EUR", properties={"store_id": "s1", "financial_status": "paid"})
        for i in range(n)
    ]  # fmt: skip


def by_records(events: list[Event], tmp: Path) -> str:
    summary = SourceSummary(instance="mc", stream="events")
    rejects = Rejects(tmp / "rejects.csv", SourceSettings(), summary)
    encode = event_encoder("mc", WarningTally("mc events"), rejects, PULLED)
    out = io.StringIO()
    writer = StagingWriter(out, EVENT_COLUMNS)
    for seq, event in enumerate(events, start=1):
        row = encode(event, seq)
        assert row is not None
        writer.write(row)
    return out.getvalue()


def by_columns(events: list[Event]) -> str:
    pages = EventPages("mc", WarningTally("mc events"), PULLED)
    out = io.StringIO()
    writer = StagingWriter(out, EVENT_COLUMNS)
    for start in range(0, len(events), PAGE):
        page = events[start : start + PAGE]
        rows = pages.encode(page, start + 1) if pages.plain(page) else None
        assert rows is not None
        writer.write_rows(rows)
        pages.held.warn()
    return out.getvalue()


def staging(n: int, rounds: int) -> None:
    events = orders(n)
    gc.freeze()  # as the CLI does: the imports' objects out of the collector's way
    with tempfile.TemporaryDirectory() as tmp:
        same = by_records(events, Path(tmp)) == by_columns(events)
        best = {"record by record": 1e9, "columns": 1e9}
        for _ in range(rounds):
            for label in best:
                started = time.process_time()
                by_records(events, Path(tmp)) if label != "columns" else by_columns(events)
                best[label] = min(best[label], time.process_time() - started)
    for label, seconds in best.items():
        print(f"staging {n:,} orders {label:>16}: {seconds / n * 1e6:5.2f} µs an event")
    print(f"the same staging file both ways: {same}")


def serve(members: int, count: int, latency: float) -> None:
    """(Its own process: Mailchimp is another machine) the simulator, seeded."""
    from segsync.connectors.mailchimp.simulator import MailchimpSimulator
    from segsync.testing.simulator import Faults

    sim = MailchimpSimulator(seed=1, concurrency=10, faults=Faults(latency=latency))
    sim.add_credential(KEY)
    list_id = sim.create_list("Bench")
    emails = [f"bench{i}@example.org" for i in range(members)]
    sim.seed_members(list_id, [{"email": e, "status": "subscribed"} for e in emails])
    sim.seed_orders("s1", [
        {"id": f"o{i}", "email": emails[i % members], "order_total": 10 + i % 97 / 4,
         "currency_code": "EUR", "processed_at": f"2026-0{1 + i % 9}-1{i % 10}T0{i % 10}:00:00Z"}
        for i in range(count)
    ])  # fmt: skip
    with sim.serve() as served:
        print(json.dumps({"base_url": served.base_url, "list_id": list_id}), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


def pull(args: argparse.Namespace) -> None:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.members), str(args.orders),
         str(args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    where = json.loads(server.stdout.readline())
    cpu: dict[str, list[float]] = {"record by record": [], "columns": []}
    stored: dict[str, list[tuple[object, ...]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = CONFIG.format(concurrency=8, **where).split("[segments.everyone]")[0]
            (folder / "segsync.toml").write_text(config.replace("orders = false", "orders = true"))
            env = {"SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": KEY}
            for n in range(1, args.rounds + 1):
                for label in cpu:
                    for old in folder.glob("bench.duckdb*"):
                        shutil.rmtree(old) if old.is_dir() else old.unlink()
                    code = (RECORD_BY_RECORD if label != "columns" else "") + CLI
                    done = measured([sys.executable, "-c", code, "-q", "-c", "segsync.toml",
                                     "pull"], cwd=folder, env=env)  # fmt: skip
                    if done.code != 0:
                        raise SystemExit(f"segsync pull exited {done.code}:\n{done.err[-3000:]}")
                    cpu[label].append(done.cpu)
                    print(f"pull #{n} {label:>16}: {done.wall:6.2f}s wall {done.cpu:6.2f}s CPU "
                          f"peak RSS {done.rss} MiB")  # fmt: skip
                    if n == 1:
                        with duckdb.connect(str(folder / "bench.duckdb"), read_only=True) as con:
                            query = "SELECT * EXCLUDE (run_id) FROM events ORDER BY event_id"
                            stored[label] = con.sql(query).fetchall()
    finally:
        server.stdin.close()
        server.wait()
    medians = {label: statistics.median(values) for label, values in cpu.items()}
    print(
        f"median CPU: record by record {medians['record by record']:.2f}s, columns "
        f"{medians['columns']:.2f}s ({medians['columns'] / medians['record by record']:.2f}); "
        f"{len(stored['columns']):,} events stored, identical both ways: "
        f"{stored['columns'] == stored['record by record']}"
    )


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-pull", action="store_true")
    args = parser.parse_args()
    staging(args.events, args.rounds)
    if not args.skip_pull:
        pull(args)


if __name__ == "__main__":
    main()
