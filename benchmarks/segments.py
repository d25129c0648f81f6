"""Benchmark: computed traits and segments over 1,000,000 profiles and 10,000,000 events, and
the ``clv`` trait kind (BG/NBD + Gamma-Gamma fitted on the store) at the same size.

1. **generate** (a subprocess): a store with N profiles and M events, made by DuckDB itself from
   seeded hashes (deterministic, no Python loop): events of types order (60 %), cart (30 %) and
   visit (10 %) over two years, with a channel property; profiles with a country and the
   order summary columns resolve would have computed.
2. **first run** (a subprocess): every trait and segment computed and persisted (the "previous
   run").
3. 1 % more events arrive (a day's worth).
4. **recompute** (a subprocess, measured): traits, segments, and the diff against the previous
   run (entered/left) — wall time, CPU seconds (the process's, DuckDB's threads included: they
   read through other load on a shared machine) and peak RSS; then the same SQL run by DuckDB
   on its own,
   for the ratio of segsync's time (which also computes the diff) to DuckDB's. "The same
   SQL" is every statement the traits' ``prepare`` steps send the store (the RFM measures and
   tie groups: ``ties = "share"`` places the ties in Python between two queries), recorded
   from a separate preparation outside the timings, then each trait's query, the line-up and
   the segments — everything segsync asks DuckDB for, without segsync's own Python.
5. **generate-clv** (a subprocess): a second store with N profiles whose order events are drawn
   from a BG/NBD process with Gamma-Gamma spend (:func:`segsync.predict.simulate.simulate_events`:
   the model the trait fits, about M events; hash-made events carry no purchase-and-drop-out
   pattern for a model to find).
6. **clv** (a subprocess, measured): the ``clv`` trait computed as a run does (the summary in
   SQL, both fits and the scores in numpy, the scores written back and joined) — wall time,
   the numpy part's time, peak RSS, and the fitted parameters against the true ones.

Targets on this 2-core machine: recompute < 15 s and peak memory < 2 GB; the clv trait < 60 s
and < 1.5 GB. Usage:

    .venv/bin/python benchmarks/segments.py [--profiles 1000000] [--events 10000000] [--skip-clv]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import measure

CONFIG = """
[store]
path = "bench.duckdb"

[attributes]
country = "text"

[connectors.none]
type = "files"
output_dir = "out"

{traits}

{segments}
"""

AS_OF = "2026-11-25T00:00:00Z"


def trait_config() -> str:
    """20 traits: windows over three event types, recency, lifecycle, value tiers, RFM."""
    parts = []
    for event in ("order", "cart", "visit"):
        for within in ("30d", "90d", "365d"):
            parts.append(
                f'[traits.{event}_count_{within}]\nkind = "aggregate"\nevent = "{event}"\n'
                f'function = "count"\nwithin = "{within}"\nas_of = "{AS_OF}"\n'
            )
        parts.append(
            f'[traits.days_since_{event}]\nkind = "recency"\nevent = "{event}"\nas_of = "{AS_OF}"\n'
        )
    for within in ("30d", "90d", "365d"):
        parts.append(
            f'[traits.spend_{within}]\nkind = "aggregate"\nevent = "order"\nfunction = "sum"\n'
            f'within = "{within}"\nas_of = "{AS_OF}"\n'
        )
    parts.append(
        '[traits.avg_order_365d]\nkind = "aggregate"\nevent = "order"\nfunction = "avg"\n'
        f'within = "365d"\nas_of = "{AS_OF}"\n'
    )
    parts.append(
        '[traits.web_orders_90d]\nkind = "aggregate"\nevent = "order"\nfunction = "count"\n'
        f'within = "90d"\nwhere = {{ channel = "web" }}\nas_of = "{AS_OF}"\n'
    )
    parts.append(f'[traits.stage]\nkind = "lifecycle"\nas_of = "{AS_OF}"\n')
    parts.append(
        '[traits.tier]\nkind = "value_tier"\nquantiles = { bronze = 0.5, silver = 0.8, '
        f'gold = 0.95, platinum = 1.0 }}\nas_of = "{AS_OF}"\n'
    )
    parts.append(
        f'[traits.rfm]\nkind = "rfm"\nevent = "order"\nties = "share"\nas_of = "{AS_OF}"\n'
    )
    return "\n".join(parts)


SEGMENTS = """
[segments.champions]
where = "rfm = 'champions'"
[segments.slipping]
where = "rfm IN ('slipping', 'cannot_lose')"
[segments.cart_abandoners]
where = "cart_count_30d >= 3 AND order_count_30d = 0"
[segments.big_spenders_90d]
where = "spend_90d > 500"
[segments.lapsed]
where = "days_since_order > 180"
[segments.engaged_visitors]
where = "visit_count_30d >= 2"
[segments.french_web_buyers]
where = "country = 'FR' AND web_orders_90d > 0"
[segments.win_back]
include = ["lapsed"]
exclude = ["champions"]
[segments.loyal_stage]
where = "stage = 'loyal'"
[segments.gold_or_better]
where = "tier IN ('gold', 'platinum')"
[segments.win_back_test]
include = ["win_back"]
split = { email = 45, sms = 45 }
holdout = 10
[segments.priority_tier]
priority = ["champions", "big_spenders_90d", "engaged_visitors"]
"""


def generate(folder: Path, profiles: int, events: int) -> None:
    """The store, made by DuckDB from hashes of row numbers (deterministic)."""
    import duckdb

    from segsync.state.store import Store

    with Store.open(folder / "bench.duckdb"):
        pass  # schema and migrations
    con = duckdb.connect(str(folder / "bench.duckdb"))
    span = 2 * 365 * 86_400
    con.execute(
        f"""CREATE OR REPLACE TABLE profile_events AS
        SELECT printf('p%07d', hash(i, 1) % {profiles}) AS profile_key,
               'e' || i AS event_id,
               CASE WHEN hash(i, 2) % 10 < 6 THEN 'order'
                    WHEN hash(i, 2) % 10 < 9 THEN 'cart' ELSE 'visit' END AS type,
               TIMESTAMP '2024-11-25' + to_seconds((hash(i, 3) % {span})::BIGINT) AS occurred_at,
               ((hash(i, 4) % 50000) / 100)::DECIMAL(18,4) AS value,
               json_object('channel', CASE WHEN hash(i, 5) % 3 = 0 THEN 'store' ELSE 'web' END)
                   AS properties
        FROM range({events}) t(i)"""
    )
    refresh_profiles(con, profiles)
    con.close()


def refresh_profiles(con: Any, profiles: int) -> None:
    con.execute(
        f"""CREATE OR REPLACE TABLE profiles AS
        WITH o AS (SELECT profile_key, count(*) AS orders_count,
                          sum(value)::DECIMAL(18,4) AS revenue,
                          min(occurred_at) AS first_order_at, max(occurred_at) AS last_order_at
                   FROM profile_events WHERE type = 'order' GROUP BY profile_key)
        SELECT printf('p%07d', i) AS profile_key, printf('p%07d@example.org', i) AS email,
               NULL::VARCHAR AS phone, 'example.org' AS email_domain, 1::BIGINT AS source_count,
               TIMESTAMP '2026-11-01' AS updated_at,
               hash(i, 7) % 4 <> 0 AS consent_email_marketing,
               hash(i, 8) % 3 = 0 AS consent_ad_user_data,
               hash(i, 8) % 3 = 0 AS consent_ad_personalization,
               coalesce(o.orders_count, 0)::BIGINT AS orders_count,
               coalesce(o.revenue, 0)::DECIMAL(18,4) AS revenue,
               o.first_order_at, o.last_order_at,
               ['FR', 'DE', 'ES', 'IT', 'GB'][(hash(i, 9) % 5)::BIGINT + 1] AS country
        FROM range({profiles}) t(i)
        LEFT JOIN o ON o.profile_key = printf('p%07d', i)
        ORDER BY profile_key"""
    )


def more_events(folder: Path, profiles: int, events: int) -> None:
    import duckdb

    con = duckdb.connect(str(folder / "bench.duckdb"))
    extra = events // 100
    con.execute(
        f"""INSERT INTO profile_events
        SELECT printf('p%07d', hash(i, 11) % {profiles}), 'n' || i,
               CASE WHEN hash(i, 12) % 10 < 6 THEN 'order' ELSE 'cart' END,
               TIMESTAMP '2026-11-24' + to_seconds((hash(i, 13) % 86400)::BIGINT),
               ((hash(i, 14) % 50000) / 100)::DECIMAL(18,4), json_object('channel', 'web')
        FROM range({extra}) t(i)"""
    )
    refresh_profiles(con, profiles)
    con.close()


class Recorder:
    """Stands in for the store's DuckDB connection: runs every statement and records it."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, list(params or [])))
        return self.con.execute(sql, params or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def compute(folder: Path, persist: bool) -> dict[str, Any]:
    """Traits + segments + diff + KPIs as a run does them; then the same SQL by DuckDB
    alone."""
    from segsync.engine.duckdb import DuckDBEngine
    from segsync.pipeline import load
    from segsync.pipeline.kpis import compute_kpis
    from segsync.pipeline.segments import compute_segments
    from segsync.pipeline.traits import compute_traits, trait_queries
    from segsync.state.history import History
    from segsync.state.store import Store
    from segsync.traits import TraitKind

    config = load(folder / "segsync.toml")
    run_at = dt.datetime(2026, 11, 25)
    out: dict[str, Any] = {"traits": len(config.traits), "segments": len(config.segments)}
    with Store.open(config.store_path, options=config.store_options) as store:
        engine, history = store.engine, History(store.engine)
        started, cpu = time.perf_counter(), time.process_time()
        traits = compute_traits(engine, config.traits, as_of=run_at)
        traits_done = time.perf_counter()
        membership = compute_segments(engine, config.segment_book, history, as_of=run_at)
        start, end = config.settings.kpis.bounds(run_at)
        compute_kpis(engine, membership, start=start, end=end)
        done, cpu_done = time.perf_counter(), time.process_time()
        if persist:
            membership.persist(history, "bench", kpi_window=config.settings.kpis.window)
        out["traits_seconds"] = round(traits_done - started, 2)
        out["segments_and_diff_seconds"] = round(done - traits_done, 2)
        out["segsync_seconds"] = round(done - started, 2)
        out["segsync_cpu_seconds"] = round(cpu_done - cpu, 2)
        out["sizes"] = {r.name: [r.size, r.entered, r.left] for r in membership.results.values()}
        out["warnings"] = [w.message for w in traits.warnings]
        # the same SQL, run by DuckDB on its own: first what the kinds' prepare steps send
        # the store (recorded now, outside the timings), then each trait's query
        recorder = Recorder(store.con)
        for spec in config.traits.values():
            if type(spec.trait).prepare is not TraitKind.prepare:
                spec.trait.prepare(DuckDBEngine(recorder), spec.context(run_at, engine.dialect))
        prepared = recorder.statements
        queries = trait_queries(config.traits, run_at, engine.dialect)
        sql = [
            f"CREATE OR REPLACE TEMP TABLE _raw_trait_{i} AS {engine.sql(q)}"
            for i, q in enumerate(queries)
        ]
        columns = "".join(
            f', t{i}."{c}"'
            for i, spec in enumerate(config.traits.values(), start=1)
            for c in spec.columns()
        )
        joins = "".join(f" POSITIONAL JOIN _raw_trait_{i} t{i}" for i in range(1, len(queries)))
        sql.append(
            f"CREATE OR REPLACE TEMP TABLE _raw_traits AS SELECT t0.profile_key{columns} "
            f"FROM _raw_trait_0 t0{joins}"
        )
        sql.append(
            "CREATE OR REPLACE TEMP TABLE _raw_members (segment VARCHAR, profile_key VARCHAR)"
        )
        sql += [
            "INSERT INTO _raw_members "
            + engine.sql(config.segment_book.query(name, "_raw_members", as_of=run_at))
            for name in config.segments
        ]
        started, cpu = time.perf_counter(), time.process_time()
        for statement, params in prepared:
            store.con.execute(statement, params).fetchall()
        for statement in sql:
            store.con.execute(statement)
        out["duckdb_seconds"] = round(time.perf_counter() - started, 2)
        out["duckdb_cpu_seconds"] = round(time.process_time() - cpu, 2)
        out["duckdb_statements"] = len(prepared) + len(sql)
    return out


TRUE_BGNBD = {"r": 1.5, "alpha": 6.0 * 7, "a": 0.8, "b": 6.0}
"""The process the clv store is drawn from (alpha per day: 6 per week)."""
TRUE_GAMMAGAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}

CLV_TRAITS = f"""
[traits.clv]
kind = "clv"
horizon = "365d"
discount_rate = 0.1
as_of = "{AS_OF}"
"""

CLV_SEGMENTS = """
[segments.churn_high]
where = "clv_churn_risk = 'high'"
[segments.high_value]
where = "clv_expected_value_365d >= 500"
"""


def generate_clv(folder: Path, profiles: int) -> dict[str, Any]:
    """A store whose orders are drawn from BG/NBD with Gamma-Gamma spend: first purchases over
    the first year, two years observed, ending at the as-of."""
    import duckdb
    import numpy as np

    from segsync.predict import BgNbdParams, GammaGammaParams
    from segsync.predict.simulate import simulate_events
    from segsync.state.store import Store

    weekly = {**TRUE_BGNBD, "alpha": TRUE_BGNBD["alpha"] / 7}
    end = np.datetime64(AS_OF.removesuffix("Z"), "us")
    start = end - np.timedelta64(104 * 7, "D")
    log = simulate_events(
        BgNbdParams(**weekly),
        GammaGammaParams(**TRUE_GAMMAGAMMA),
        customers=profiles,
        start=start,
        unit=np.timedelta64(7, "D"),
        acquisition=52,
        horizon=104,
        seed=42,
    )
    with Store.open(folder / "bench.duckdb"):
        pass  # schema and migrations
    con = duckdb.connect(str(folder / "bench.duckdb"))
    keep = log.time < end
    con.register(
        "simulated",
        {
            "customer": log.customer[keep],
            "moment": log.time[keep],
            "value": np.maximum(np.round(log.value[keep], 2), 0.01),
        },
    )
    con.execute(
        """CREATE OR REPLACE TABLE profile_events AS
        SELECT printf('p%07d', customer) AS profile_key, 'e' || row_number() OVER () AS event_id,
               'order' AS type, moment AS occurred_at, value::DECIMAL(18,4) AS value,
               '{}'::JSON AS properties, 'sim' AS instance
        FROM simulated"""
    )
    con.unregister("simulated")
    refresh_profiles(con, profiles)
    events = con.execute("SELECT count(*) FROM profile_events").fetchone()
    con.close()
    return {"events": int(events[0]) if events else 0}


def compute_clv(folder: Path) -> dict[str, Any]:
    """The clv trait as a run computes it; the numpy part (fetch, fits, scores, write-back)
    timed on its own."""
    from segsync.pipeline import load
    from segsync.pipeline.traits import compute_traits
    from segsync.state.store import Store
    from segsync.traits.clv import Clv

    fitting: list[float] = []
    fit = Clv._fit

    def timed(self: Clv, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return fit(self, *args)
        finally:
            fitting.append(time.perf_counter() - started)

    Clv._fit = timed  # type: ignore[method-assign]
    config = load(folder / "segsync.toml")
    with Store.open(config.store_path, options=config.store_options) as store:
        started = time.perf_counter()
        results = compute_traits(store.engine, config.traits, as_of=dt.datetime(2026, 11, 25))
        seconds = time.perf_counter() - started
        bands = store.rows(
            "SELECT clv_churn_risk, count(*) FROM profile_traits GROUP BY 1 ORDER BY 1"
        )
    (model,) = results.models
    recovery = {
        name: {
            "true": want,
            "fitted": round(model.parameters[name], 4),
            "relative_error": round(model.parameters[name] / want - 1, 4),
        }
        for name, want in {**TRUE_BGNBD, **TRUE_GAMMAGAMMA}.items()
        if model.status == "fitted"
    }
    return {
        "status": model.status,
        "message": model.message,
        "trait_seconds": round(seconds, 2),
        "numpy_seconds": round(sum(fitting), 2),
        "sql_seconds": round(seconds - sum(fitting), 2),
        "rows": model.rows,
        "recovery": recovery,
        "bands": {str(k): int(n) for k, n in bands},
        "warnings": [w.message for w in results.warnings],
    }


def phase(folder: Path, name: str, args: argparse.Namespace) -> tuple[Any, float, int]:
    """Run one phase in a subprocess; its JSON result, wall seconds and peak RSS (MiB)."""
    code, out, err, wall, rss = measure(
        [sys.executable, __file__, "--phase", name, "--folder", str(folder),
         "--profiles", str(args.profiles), "--events", str(args.events)],
    )  # fmt: skip
    if code != 0:
        raise SystemExit(f"phase {name} failed:\n{err[-3000:]}")
    return json.loads(out or "null"), wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--skip-clv", action="store_true", help="no clv phases")
    parser.add_argument(
        "--phase", choices=["generate", "first", "more", "recompute", "generate-clv", "clv"]
    )
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.phase:
        folder = args.folder
        if args.phase == "generate":
            generate(folder, args.profiles, args.events)
            print("null")
        elif args.phase == "more":
            more_events(folder, args.profiles, args.events)
            print("null")
        elif args.phase == "generate-clv":
            print(json.dumps(generate_clv(folder, args.profiles)))
        elif args.phase == "clv":
            print(json.dumps(compute_clv(folder)))
        else:
            print(json.dumps(compute(folder, persist=args.phase == "first")))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "segsync.toml").write_text(
            CONFIG.format(traits=trait_config(), segments=SEGMENTS)
        )
        _, gen_wall, gen_rss = phase(folder, "generate", args)
        first, first_wall, first_rss = phase(folder, "first", args)
        phase(folder, "more", args)
        again, wall, rss = phase(folder, "recompute", args)
        ratio = again["segsync_seconds"] / max(again["duckdb_seconds"], 1e-9)
        clv: dict[str, Any] = {}
        if not args.skip_clv:
            clv_folder = folder / "clv"
            clv_folder.mkdir()
            (clv_folder / "segsync.toml").write_text(
                CONFIG.format(traits=CLV_TRAITS, segments=CLV_SEGMENTS)
            )
            made, made_wall, _ = phase(clv_folder, "generate-clv", args)
            result, clv_wall, clv_rss = phase(clv_folder, "clv", args)
            clv = {
                "profiles": args.profiles,
                "events": made["events"],
                "generate_seconds": round(made_wall, 1),
                **result,
                "process_seconds": round(clv_wall, 1),
                "peak_rss_mib": clv_rss,
            }
        print(
            json.dumps(
                {
                    "profiles": args.profiles,
                    "events": args.events,
                    "generate": {"seconds": round(gen_wall, 1), "peak_rss_mib": gen_rss},
                    "first_run": {
                        **first,
                        "process_seconds": round(first_wall, 1),
                        "peak_rss_mib": first_rss,
                    },
                    "recompute": {
                        **again,
                        "process_seconds": round(wall, 1),
                        "peak_rss_mib": rss,
                    },
                    "segsync_to_duckdb_ratio": round(ratio, 2),
                    "clv": clv,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
