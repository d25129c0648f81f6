"""Benchmark: the segment recompute of ``benchmarks/segments.py`` (20 traits, 12 segments with
groups, the diff against the previous run, KPIs) on DuckDB and on local Spark, with the
memberships compared row for row and Spark's scaling from one to two local workers.

1. **generate** (a subprocess): the DuckDB store of ``segments.py`` with N profiles and M events;
   the first run computed and persisted there (the "previous run"); 1 % more events; then
   profiles, events and the previous membership exported to Parquet.
2. **spark-load** (a subprocess): a Spark store (``[store] engine = "spark"``, local warehouse
   beside it) created, and its ``profiles``, ``profile_events`` and ``segment_members``
   replaced by the Parquet files (as a data team's tables would be).
3. **duckdb** (a subprocess, measured): traits, segments, diff and KPIs on DuckDB; the
   membership written to Parquet.
4. **spark** (a subprocess per master, measured): the same on Spark with ``local[1]`` and
   ``local[2]`` (one and two worker threads; ``--masters`` takes others, e.g.
   ``local-cluster[2,1,2048]``); each membership written to Parquet. The wall time includes
   starting Spark's JVM (reported separately: ``session_seconds``).
5. **compare**: DuckDB reads the memberships and counts the rows in one and not the other
   (both ways): 0 and 0, or the benchmark fails.

Usage (Java 17+, ``pip install 'segsync[spark]'``):

    .venv/bin/python benchmarks/spark.py [--profiles 1000000] [--events 10000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import measure
from segments import SEGMENTS, compute, generate, more_events, trait_config

CONFIG = """
[store]
path = "bench.duckdb"
{engine}

[attributes]
country = "text"

[connectors.none]
type = "files"
output_dir = "out"

{traits}

{segments}
"""

SPARK = """engine = "spark"
[store.spark]
master = "{master}"
database = "bench"
conf = {{ "spark.driver.memory" = "6g", "spark.sql.shuffle.partitions" = "{partitions}" }}
"""

RUN_AT = dt.datetime(2026, 11, 25)


def write_config(folder: Path, engine: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "segsync.toml"
    path.write_text(CONFIG.format(engine=engine, traits=trait_config(), segments=SEGMENTS))
    return path


def export(folder: Path) -> None:
    """The DuckDB store's profiles, events and previous membership as Parquet."""
    import duckdb

    con = duckdb.connect(str(folder / "bench.duckdb"), read_only=True)
    for table in ("profiles", "profile_events", "segment_members"):
        con.execute(f"COPY {table} TO '{folder / table}.parquet' (FORMAT parquet)")
    con.close()


def spark_load(folder: Path, parquet: Path) -> dict[str, Any]:
    from segsync.pipeline import load
    from segsync.state.store import Store

    config = load(folder / "segsync.toml")
    with Store.open(config.store_path, spark=config.spark_options) as store:
        engine: Any = store.engine
        started = time.perf_counter()
        for table in ("profiles", "profile_events", "segment_members"):
            source = f"parquet.`{parquet / table}.parquet`"
            select = f"SELECT * FROM {source}"
            if table == "profile_events":
                select = (
                    "SELECT profile_key, event_id, type, occurred_at, value, "
                    f"CAST(properties AS STRING) AS properties, CAST(NULL AS STRING) AS instance FROM {source}"
                )
            engine._replace(table, select)
        return {"load_seconds": round(time.perf_counter() - started, 2)}


def compute_on(folder: Path, out: Path) -> dict[str, Any]:
    """Traits, segments, diff and KPIs as a run does them; the membership to Parquet."""
    from segsync.pipeline import load
    from segsync.pipeline.kpis import compute_kpis
    from segsync.pipeline.segments import compute_segments
    from segsync.pipeline.traits import compute_traits
    from segsync.state.history import History
    from segsync.state.store import Store

    config = load(folder / "segsync.toml")
    opened = time.perf_counter()
    with Store.open(
        config.store_path, options=config.store_options, spark=config.spark_options
    ) as store:
        engine: Any = store.engine
        history = History(engine)
        started, cpu = time.perf_counter(), time.process_time()
        compute_traits(engine, config.traits, as_of=RUN_AT)
        traits_done = time.perf_counter()
        membership = compute_segments(engine, config.segment_book, history, as_of=RUN_AT)
        start, end = config.settings.kpis.bounds(RUN_AT)
        compute_kpis(engine, membership, start=start, end=end)
        done, cpu_done = time.perf_counter(), time.process_time()
        rows = engine.sql(membership.rows())
        if engine.dialect == "spark":
            engine.session.sql(rows).write.mode("overwrite").parquet(str(out))
        else:
            store.con.execute(f"COPY ({rows}) TO '{out}' (FORMAT parquet)")
        return {
            "session_seconds": round(started - opened, 2),
            "traits_seconds": round(traits_done - started, 2),
            "segments_kpis_seconds": round(done - traits_done, 2),
            "compute_seconds": round(done - started, 2),
            "driver_cpu_seconds": round(cpu_done - cpu, 2),
            "sizes": {r.name: [r.size, r.entered, r.left] for r in membership.results.values()},
        }


def compare(a: Path, b: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    read = "read_parquet('{}')"
    one, two = (
        read.format(f"{a}/*.parquet" if a.is_dir() else a),
        read.format(f"{b}/*.parquet" if b.is_dir() else b),
    )
    return {
        "rows": int(con.execute(f"SELECT count(*) FROM {one}").fetchone()[0]),  # type: ignore[index]
        "only_first": int(
            con.execute(f"SELECT count(*) FROM (FROM {one} EXCEPT ALL FROM {two})").fetchone()[0]  # type: ignore[index]
        ),
        "only_second": int(
            con.execute(f"SELECT count(*) FROM (FROM {two} EXCEPT ALL FROM {one})").fetchone()[0]  # type: ignore[index]
        ),
    }


def phase(args: argparse.Namespace, name: str, folder: Path, *extra: str) -> Any:
    argv = [
        sys.executable,
        __file__,
        "--phase",
        name,
        "--folder",
        str(folder),
        "--profiles",
        str(args.profiles),
        "--events",
        str(args.events),
        *extra,
    ]
    code, out, err, wall, rss = measure(argv, cwd=folder)
    if code != 0:
        raise SystemExit(f"phase {name} failed ({code}):\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1]), wall, rss


def split_masters(text: str) -> list[str]:
    """``--masters``: Spark masters separated by commas, a comma inside brackets being part
    of its master (``local-cluster[2,1,2048],local[2]`` is two)."""
    return [m.strip() for m in re.split(r",(?![^\[]*\])", text) if m.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--masters", default="local[1],local[2]")
    parser.add_argument("--phase")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--parquet", type=Path)
    args = parser.parse_args()
    if args.phase:
        folder = args.folder
        if args.phase == "generate":
            generate(folder, args.profiles, args.events)
            compute(folder, "first", 1)
            more_events(folder, args.profiles, args.events)
            export(folder)
            print("null")
        elif args.phase == "spark-load":
            print(json.dumps(spark_load(folder, args.parquet)))
        else:
            print(json.dumps(compute_on(folder, args.out)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        duck = root / "duckdb"
        write_config(duck)
        _, gen_wall, _ = phase(args, "generate", duck)
        masters = split_masters(args.masters)
        spark = root / "spark"
        write_config(spark, SPARK.format(master=masters[0], partitions=8))
        loaded, load_wall, _ = phase(args, "spark-load", spark, "--parquet", str(duck))
        results: dict[str, Any] = {}
        duck_out = root / "members_duckdb.parquet"
        result, wall, rss = phase(args, "compute", duck, "--out", str(duck_out))
        results["duckdb"] = {**result, "process_seconds": round(wall, 1), "peak_rss_mib": rss}
        print(json.dumps({"duckdb": results["duckdb"]}), file=sys.stderr, flush=True)
        for master in masters:
            write_config(spark, SPARK.format(master=master, partitions=8))
            out = root / ("members_" + re.sub(r"[^a-z0-9]+", "_", master))
            result, wall, rss = phase(args, "compute", spark, "--out", str(out))
            same = compare(duck_out, out)
            results[f"spark {master}"] = {
                **result,
                "process_seconds": round(wall, 1),
                "driver_peak_rss_mib": rss,
                "membership_vs_duckdb": same,
            }
            print(json.dumps({master: results[f"spark {master}"]}), file=sys.stderr, flush=True)
            if same["only_first"] or same["only_second"]:
                print(json.dumps(results, indent=2))
                raise SystemExit(f"spark {master}: memberships differ from DuckDB's: {same}")
            if result["sizes"] != results["duckdb"]["sizes"]:
                raise SystemExit(f"spark {master}: sizes/entered/left differ from DuckDB's")
        for entry in results.values():
            entry.pop("sizes", None)
        print(
            json.dumps(
                {
                    "profiles": args.profiles,
                    "events": args.events,
                    "generate_seconds": round(gen_wall, 1),
                    "spark_load": {**loaded, "process_seconds": round(load_wall, 1)},
                    **results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
