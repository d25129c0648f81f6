"""Benchmark: what reading JSON Lines as Python reads them costs DuckDB, piece by piece.

``segsync pull`` reads a JSON Lines file through DuckDB (``Engine.read_jsonl``), line by line,
so that every row is what ``json.loads`` would make of it, with its line number: a blank line
skipped, a line Python refuses sent back to Python to be rejected by name, a key named twice
read by its last value. DuckDB's own ``read_json`` reads the same file several times faster,
but without line numbers and by other rules (it takes ``nan``, a comma before a closing
bracket, and a key named twice by its first value). This benchmark measures where the
difference goes, on the demo generator's orders: each piece of segsync's read alone (its CPU
seconds above reading the lines; a line of the file's shape — the first line's keys, in its
order — takes the two pieces on the first line's keys and every key's value at once, any other
line the lookups, the merge patch and the key count), the whole view and the typed rows
``segsync pull`` stages, and ``read_json`` typing the same 8 keys. Each is a ``CREATE TABLE … AS`` in one DuckDB
process, at ``--memory-limit`` (256 MiB: a bulk read's limit on a 2-core machine).

Usage:

    .venv/bin/python benchmarks/jsonl_read.py [--orders 1000000] [--data DIR (orders.jsonl)]
        [--rounds 2] [--memory-limit 256MiB]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from segsync.connector import BulkFile, EventColumns
from segsync.engine.duckdb import DuckDBEngine
from segsync.engine.duckdb_jsonl import _LAX_JSON, lines
from segsync.pipeline import bulk_sql as q
from segsync.sandbox.synth import generate

KEYS = ["order_id", "ordered_at", "customer_id", "amount", "currency"]
PATHS = "[" + ", ".join(f"'$.\"{k}\"'" for k in KEYS) + "]"
PATCH = "'{" + ", ".join(f'"{k}": null' for k in sorted(KEYS)) + "}'"
ALL = ["order_id", "customer_id", "ordered_at", "amount", "currency", "items", "channel", "status"]
ALL_PATHS = "[" + ", ".join(f"'$.\"{k}\"'" for k in ALL) + "]"
SHAPE = "[" + ", ".join(f"'{k}'" for k in ALL) + "]"

# piece → the expression it adds over the bare lines
PIECES = {
    "is it JSON (json_valid)": "json_valid(_line)",
    "the keys' kinds (json_type of 5 paths)": f"json_type(_line, {PATHS})",
    "the keys' texts (json_extract_string of 5 paths)": f"json_extract_string(_line, {PATHS})",
    "the other keys (json_merge_patch)": f"json_merge_patch(_line, {PATCH})",
    "how many keys (len(json_keys))": "len(json_keys(_line))",
    "a list of the keys (json_keys), checked for repeats": (
        "len(json_keys(_line)) = list_unique(json_keys(_line))"
    ),
    "the keys against the shape (json_keys = a list)": f"json_keys(_line) = {SHAPE}",
    "every key's value at once (json_extract of 8 paths)": f"json_extract(_line, {ALL_PATHS})",
    "what json.loads refuses (3 patterns)": " OR ".join(
        f"regexp_matches(_line, '{p}')" for p in _LAX_JSON
    ),
}


def _unused(line: int, row: dict[str, Any]) -> Any:
    raise AssertionError("rows are not read in Python here")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(con: duckdb.DuckDBPyConnection, query: str) -> tuple[float, float]:
    wall, used = time.perf_counter(), cpu()
    con.execute(f"CREATE OR REPLACE TEMP TABLE _t AS {query}")
    return time.perf_counter() - wall, cpu() - used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="a folder holding a generated orders.jsonl")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-limit", default="256MiB")
    args = parser.parse_args()
    if args.data:
        path = args.data / "orders.jsonl"
    else:
        folder = Path(tempfile.mkdtemp(prefix="segsync-jsonl-"))
        generate(folder, seed=7, contacts=max(args.orders // 6, 1), orders=args.orders)
        path = folder / "orders.jsonl"
    counted = sum(1 for _ in path.open("rb"))
    print(f"{path}: {counted:,} lines, {path.stat().st_size / 2**20:,.0f} MiB")
    con = duckdb.connect(config={"memory_limit": args.memory_limit})
    engine = DuckDBEngine(con)
    read = lines(path)  # the lines as Engine.read_jsonl reads them
    columns = EventColumns(
        id="order_id", occurred_at="ordered_at", contact_id="customer_id", value="amount",
        currency="currency", type="order",
    )  # fmt: skip
    file = BulkFile(path=path, format="jsonl", columns=columns, rows=None, record=_unused)
    plan = q.FilePlan.of(file, attributes={}, region=None, pulled_at=dt.datetime(2026, 1, 1))
    engine.read_jsonl(
        "_view", path, plan.view_keys, rest_without=plan.rest_without, with_keys=plan.with_keys
    )
    typed = engine.sql(plan.rows_query("_view"))
    cols = ", ".join(f"'{k}': 'VARCHAR'" for k in ALL)
    queries = {"the lines alone": f"SELECT length(_line) FROM {read}"}
    queries |= {name: f"SELECT {expr} FROM {read}" for name, expr in PIECES.items()}
    queries |= {
        "segsync's view (Engine.read_jsonl)": "SELECT * FROM _view",
        "segsync's typed rows (as staged)": f"SELECT _q AS _r FROM ({typed}) AS _q",
        "read_json, 8 keys as text": (
            f"SELECT * FROM read_json('{path}', format = 'newline_delimited', columns = {{{cols}}})"
        ),
    }
    cpus: dict[str, list[float]] = {name: [] for name in queries}
    walls: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(args.rounds):
        for name, query in queries.items():
            wall, used = timed(con, query)
            walls[name].append(wall)
            cpus[name].append(used)
    base = statistics.median(cpus["the lines alone"])
    print(f"medians of {args.rounds} rounds, at memory_limit {args.memory_limit}:")
    for name in queries:
        used, wall = statistics.median(cpus[name]), statistics.median(walls[name])
        extra = f"  (+{used - base:5.2f} over the lines)" if name in PIECES else ""
        print(f"{name:>52}: {wall:6.2f} s wall {used:6.2f} CPU-s{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
