"""Benchmark: pulling the demo generator's files, beside DuckDB alone; then whole `segsync run`s.

Generates a seeded synthetic audience (segsync.sandbox.synth) for the starter config, then:

1. **pull, beside DuckDB alone** (``--rounds`` times, alternating): segsync's ingest — every
   source staged, checked by the source guards and loaded into a fresh store, as ``segsync
   pull`` does before it resolves profiles — and a DuckDB process loading and normalising the
   same three files into a fresh database file by hand-written SQL (typed columns, emails trimmed and lower-cased,
   times with offsets to UTC, yes/no to booleans, amounts as DECIMAL(18,4), attributes and
   properties as JSON, the last row of a repeated id kept) — what a DuckDB user would write,
   without what DuckDB cannot do (phone numbers, bad-row accounting, consent dating). Prints
   wall and CPU seconds and peak RSS of each, the medians, and the ratio of the walls; then
   the whole ``segsync pull`` command once (which also resolves profiles, computes traits,
   segments and KPIs); with ``--breakdown``, one more ingest and DuckDB alone with each SQL
   statement timed: where the time goes, statement by statement, on both sides;
2. unless ``--skip-run``, the real CLI three times against the starter config: a first run
   (pull, load, resolve, segments, push everything); a re-run with unchanged files (zero
   changes); a re-run after the files changed (regenerated with another seed).

Usage:

    .venv/bin/python benchmarks/full_run.py [--contacts 100000] [--orders 600000] [--rounds 2]
        [--data DIR (generated files to reuse; filled when empty)] [--python PY (the segsync to measure)]
        [--memory-limit auto (DuckDB's, both sides)] [--breakdown] [--skip-run]

``--memory-limit auto`` (the default) leaves ``[store] memory_limit`` unset, so segsync runs
with its default (``"auto"``: sized to this machine, :mod:`segsync.state.memory`), and DuckDB
alone with DuckDB's own default (80 % of the machine's memory), as a DuckDB user would run
it. Any other value is given to both (``--memory-limit 256MiB``: the two at equal memory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from measure import Measured, measured, run_cli_measured

from segsync.sandbox.synth import DATA_FILES, generate

MEMORY_LIMIT = "auto"  # segsync's default [store] memory_limit; --memory-limit sets both

DUCKDB_ALONE = """
CREATE TABLE source_contacts AS
SELECT 'shop' AS instance, id AS source_id,
       CASE WHEN regexp_full_match(lower(trim(email)), '[^@ ]+@[^@ ]+[.][^@ ]+')
            THEN lower(trim(email)) END AS email,
       phone,
       json_object('first_name', first_name, 'last_name', last_name, 'country', country,
                   'city', city, 'language', language, 'birth_date', CAST(birth_date AS DATE),
                   'signup_date', CAST(signup_date AS DATE)) AS attributes,
       CASE lower(trim(email_opt_in)) WHEN 'yes' THEN true WHEN 'no' THEN false END
           AS consent_email_marketing,
       CASE lower(trim(ads_opt_in)) WHEN 'yes' THEN true WHEN 'no' THEN false END
           AS consent_ad_user_data,
       CASE lower(trim(ads_opt_in)) WHEN 'yes' THEN true WHEN 'no' THEN false END
           AS consent_ad_personalization,
       CAST(timezone('UTC', CAST(updated_at AS TIMESTAMPTZ)) AS TIMESTAMP) AS updated_at
FROM read_csv('{data}/contacts.csv', header = true, all_varchar = true)
QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1;

INSERT INTO source_contacts (instance, source_id, email, attributes, consent_email_marketing,
                             updated_at)
SELECT 'newsletter', email,
       CASE WHEN regexp_full_match(lower(trim(email)), '[^@ ]+@[^@ ]+[.][^@ ]+')
            THEN lower(trim(email)) END,
       json_object('first_name', first_name, 'newsletter_source', source,
                   'interests', array_to_string(interests, ',')),
       subscribed,
       CAST(timezone('UTC', CAST(signed_up_at AS TIMESTAMPTZ)) AS TIMESTAMP)
FROM read_json('{data}/newsletter.jsonl', format = 'newline_delimited',
               columns = {{'email': 'VARCHAR', 'first_name': 'VARCHAR', 'subscribed': 'BOOLEAN',
                          'signed_up_at': 'VARCHAR', 'source': 'VARCHAR',
                          'interests': 'VARCHAR[]'}})
QUALIFY row_number() OVER (PARTITION BY email ORDER BY signed_up_at DESC) = 1;

CREATE TABLE events AS
SELECT 'shop' AS instance, order_id AS event_id, 'order' AS type,
       CAST(timezone('UTC', CAST(ordered_at AS TIMESTAMPTZ)) AS TIMESTAMP) AS occurred_at,
       customer_id AS contact_id, CAST(amount AS DECIMAL(18,4)) AS value, currency,
       json_object('items', items, 'channel', channel, 'status', status) AS properties
FROM read_json('{data}/orders.jsonl', format = 'newline_delimited',
               columns = {{'order_id': 'VARCHAR', 'customer_id': 'VARCHAR',
                          'ordered_at': 'VARCHAR', 'amount': 'VARCHAR', 'currency': 'VARCHAR',
                          'items': 'BIGINT', 'channel': 'VARCHAR', 'status': 'VARCHAR'}})
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY ordered_at DESC) = 1;
"""


INGEST = """
import asyncio, inspect, sys
from pathlib import Path
from segsync.pipeline import load, open_connectors
from segsync.pipeline.pull import load_sources, stage_source
from segsync.state.history import History
from segsync.state.store import Store
from segsync.state.workspace import StorePaths
from segsync.values import utcnow

config = load(Path(sys.argv[1]))
names = [n for n, c in config.connectors.items() if c.cls.capabilities.is_source]
connectors = open_connectors(config, names)
paths = StorePaths(config.store_path)
pulled_at = utcnow()
import contextlib
try:
    from segsync.pipeline import bulk_memory_limit  # what `segsync pull` gives a bulk read
    limit = bulk_memory_limit(config, [connectors[n].source for n in names])
except ImportError:  # before it existed
    limit = None
with Store.open(config.store_path, options=config.store_options) as store, (
        store.engine.memory_limit(limit) if limit else contextlib.nullcontext()):
    async def stage():
        bulk = "engine" in inspect.signature(stage_source).parameters  # not before issue 18
        extra = {"engine": store.engine} if bulk else {}
        if "engine_lock" in inspect.signature(stage_source).parameters:  # one read at a time
            extra["engine_lock"] = asyncio.Lock()
        return await asyncio.gather(*(
            stage_source(config, connectors[n], paths=paths, cursors={}, pulled_at=pulled_at,
                         **extra)
            for n in names if connectors[n].source and connectors[n].source.streams()))
    staged = asyncio.run(stage())
    # the source guards run, as in `segsync pull` without --force; none may refuse the data
    load_sources(store.engine, History(store.engine), staged, run_id="bench", force=False,
                 pulled_at=pulled_at)
    refused = [s.refused for source in staged for s in source.summaries if s.refused]
    if refused:
        raise SystemExit(f"a guard refused the benchmark's data: {refused}")
    print(sum(s.records for source in staged for s in source.summaries))
"""


# --breakdown: put before INGEST, it times each statement segsync's DuckDB engine runs (one
# at a time, so each one's CPU seconds are its own) and writes them, as JSON, to the file
# named by the ingest's second argument
TIMED = """
import atexit, json, sys, threading, time
import segsync.engine.duckdb as _engine

_timed = []
_one = threading.Lock()
_run = _engine.DuckDBEngine._run

def _timed_run(self, sql, params=None):
    with _one:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return _run(self, sql, params)
        finally:
            _timed.append((time.perf_counter() - wall, time.process_time() - cpu,
                           " ".join(sql.split())))

_engine.DuckDBEngine._run = _timed_run
atexit.register(lambda: open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(_timed)))
"""


def duckdb_alone(data: Path, store: Path, memory_limit: str, timed: Path | None = None) -> None:
    """(In a child process) load and normalise the three files with DuckDB alone, statement by
    statement; with ``timed``, each one's wall and CPU seconds written there (JSON)."""
    import duckdb

    settings: dict[str, str | bool | int | float | list[str]] = (
        {} if memory_limit == "default" else {"memory_limit": memory_limit}
    )
    con = duckdb.connect(str(store), config=settings)
    out: list[tuple[float, float, str]] = []
    statements = [s for s in DUCKDB_ALONE.format(data=data).split(";\n") if s.strip()]
    for statement in [*statements, "(close: checkpoint)"]:
        cpu, wall = time.process_time(), time.perf_counter()
        if statement.startswith("(close"):
            con.close()
        else:
            con.execute(statement)
        out.append((time.perf_counter() - wall, time.process_time() - cpu, statement))
    if timed is not None:
        timed.write_text(json.dumps(out), encoding="utf-8")


def fresh(*paths: Path) -> None:
    """Remove each of ``paths``, a file or a folder, if it is there."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def store_files(store: Path) -> tuple[Path, ...]:
    """A DuckDB database's files: itself, its WAL and segsync's work folder beside it."""
    return store, Path(f"{store}.wal"), Path(f"{store}.work")


def line(label: str, done: Measured) -> str:
    return f"{label:>13}: {done.wall:7.2f}s wall {done.cpu:7.2f}s CPU  peak RSS {done.rss:5d} MiB"


def compare_pull(root: Path, config: Path, rounds: int, python: str, memory_limit: str) -> None:
    store = root / "segsync.duckdb"
    alone = root / "alone.duckdb"
    pulls: list[Measured] = []
    others: list[Measured] = []
    for n in range(1, rounds + 1):
        fresh(*store_files(store))
        pull = measured([python, "-c", INGEST, str(config)], cwd=root)
        if pull.code != 0:
            raise SystemExit(f"ingest failed:\n{pull.err[-3000:]}")
        records = int(pull.out.split()[-1])
        pulls.append(pull)
        print(line(f"ingest #{n}", pull) + f"  {records:,} records, {records / pull.wall:,.0f}/s")
        fresh(*store_files(alone))
        other = measured([sys.executable, __file__, "--duckdb-alone", str(root / "data"),
                          str(alone), memory_limit])  # fmt: skip
        if other.code != 0:
            raise SystemExit(f"DuckDB alone failed:\n{other.err[-3000:]}")
        others.append(other)
        print(line(f"DuckDB alone #{n}", other))
    pull_wall = statistics.median(p.wall for p in pulls)
    alone_wall = statistics.median(o.wall for o in others)
    print(
        f"median ingest {pull_wall:.2f}s (peak RSS {max(p.rss for p in pulls)} MiB), DuckDB "
        f"alone {alone_wall:.2f}s (peak RSS {max(o.rss for o in others)} MiB): "
        f"ingest / DuckDB alone = {pull_wall / alone_wall:.2f}"
    )
    fresh(*store_files(store), *store_files(alone))
    report, whole = run_cli_measured(config, "pull", python=python)
    records = sum(s["records"] for s in report["sources"])
    print(line("segsync pull", whole) + f"  {records:,} records, {records / whole.wall:,.0f}/s "
          "(ingest, then resolve, traits, segments, KPIs)")  # fmt: skip
    fresh(*store_files(store))


def breakdown(root: Path, config: Path, python: str, memory_limit: str, top: int = 14) -> None:
    """One ingest and one DuckDB alone, each SQL statement timed: the ``top`` statements of
    each side by wall seconds, and the rest summed."""
    store, alone = root / "segsync.duckdb", root / "alone.duckdb"
    timed = root / "timed.json"
    runs = [
        ("ingest", store, [python, "-c", TIMED + INGEST, str(config), str(timed)]),
        ("DuckDB alone", alone, [sys.executable, __file__, "--duckdb-alone", str(root / "data"),
                                 str(alone), memory_limit, str(timed)]),
    ]  # fmt: skip
    sides: list[tuple[str, Measured, list[tuple[float, float, str]]]] = []
    for label, database, argv in runs:
        fresh(*store_files(database))
        done = measured(argv, cwd=root)
        if done.code != 0:
            raise SystemExit(f"{label} failed:\n{done.err[-3000:]}")
        sides.append((label, done, json.loads(timed.read_text(encoding="utf-8"))))
        timed.unlink()
    for label, done, statements in sides:
        wall = sum(s[0] for s in statements)
        print(f"{label}, statement by statement ({len(statements)} statements, {wall:.2f}s "
              f"wall and {sum(s[1] for s in statements):.2f}s CPU of the process's "
              f"{done.wall:.2f}s and {done.cpu:.2f}s):")  # fmt: skip
        ranked = sorted(statements, key=lambda s: -s[0])
        for seconds, cpu, text in ranked[:top]:
            print(f"  {seconds:6.2f}s wall {cpu:6.2f}s CPU  {' '.join(text.split())[:96]}")
        rest = ranked[top:]
        if rest:
            print(f"  {sum(s[0] for s in rest):6.2f}s wall {sum(s[1] for s in rest):6.2f}s CPU  "
                  f"the other {len(rest)} statements")  # fmt: skip
    fresh(*store_files(store), *store_files(alone))


def main() -> int:
    if sys.argv[1:2] == ["--duckdb-alone"]:
        timed = Path(sys.argv[5]) if len(sys.argv) > 5 else None
        duckdb_alone(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], timed)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--data", type=Path, help="a folder of generated files to reuse (filled when empty)"
    )
    parser.add_argument("--python", default=sys.executable, help="the segsync to measure")
    parser.add_argument("--skip-run", action="store_true", help="only the pull comparison")
    parser.add_argument(
        "--breakdown", action="store_true", help="then each SQL statement timed, both sides"
    )
    parser.add_argument("--memory-limit", default=MEMORY_LIMIT, help="[store] memory_limit")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="segsync-bench-"))
    try:
        config = root / "segsync.toml"
        template = resources.files("segsync").joinpath("templates/segsync.toml")
        text = template.read_text("utf-8")
        limit = args.memory_limit
        if limit == "auto":
            from segsync.state.memory import auto_memory_limit

            print(
                f"[store] memory_limit: segsync's default, 'auto' = {auto_memory_limit()} on "
                f"this machine ({auto_memory_limit(bulk=True)} while files are read in bulk); "
                "DuckDB alone at DuckDB's default"
            )
            limit = "default"
        else:
            text = text.replace("[store]\n", f'[store]\nmemory_limit = "{limit}"\n', 1)
        config.write_text(text, encoding="utf-8")
        # --data: a folder filled once (when empty) and reused after; else one of this run's
        folder = args.data or root / "data"
        present = [name for name in DATA_FILES if (folder / name).is_file()]
        if 0 < len(present) < len(DATA_FILES):
            missing = ", ".join(n for n in DATA_FILES if n not in present)
            print(f"--data {folder}: {missing} missing (generate into an empty folder)")
            return 2
        if present:
            print(f"reusing the files in {folder}")
        else:
            t = time.perf_counter()
            summary = generate(folder, seed=args.seed, contacts=args.contacts, orders=args.orders)
            print(
                f"generated {summary.contacts:,} contacts, {summary.newsletter:,} newsletter "
                f"rows, {summary.orders:,} orders into {folder} in {time.perf_counter() - t:.1f}s"
            )
        if args.data:
            (root / "data").mkdir()
            for name in DATA_FILES:
                (root / "data" / name).symlink_to((args.data / name).resolve())
        compare_pull(root, config, args.rounds, args.python, limit)
        if args.breakdown:
            breakdown(root, config, args.python, limit)
        if args.skip_run:
            return 0
        for label, seed in (("first run", None), ("unchanged re-run", None),
                            ("changed files", args.seed + 1)):  # fmt: skip
            if seed is not None:
                data = root / "data"
                for name in DATA_FILES:
                    (data / name).unlink()
                generate(data, seed=seed, contacts=args.contacts, orders=args.orders)
            report, done = run_cli_measured(
                config, "run", "--force", ok=(0, 1, 3), python=args.python
            )
            adds = sum(s["applied_adds"] for s in report["syncs"])
            removes = sum(s["applied_removes"] for s in report["syncs"])
            records = sum(s["records"] for s in report["sources"])
            print(
                line(label, done) + f"  {report['profiles']['profiles']:,} profiles, "
                f"+{adds:,} -{removes:,}"
                + (f", {records / done.wall:,.0f} source records/s" if label == "first run" else "")
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
