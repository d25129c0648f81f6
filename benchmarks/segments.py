"""Benchmark: computed traits and segments over 1,000,000 profiles and 10,000,000 events.

1. **generate** (a subprocess): a store with N profiles and M events, made by DuckDB itself from
   seeded hashes (deterministic, no Python loop): events of types order (60 %), cart (30 %) and
   visit (10 %) over two years, with a channel property; profiles with a country and the
   order summary columns resolve would have computed.
2. **first run** (a subprocess): every trait and segment computed and persisted (the "previous
   run").
3. 1 % more events arrive (a day's worth).
4. **recompute** (a subprocess, measured): traits, segments, and the diff against the previous
   run (entered/left) — wall time and peak RSS; then the same generated trait and segment SQL
   run by DuckDB on its own, for the ratio of segsync's time (which also computes the diff)
   to DuckDB's.

Targets on this 2-core machine: recompute < 15 s, peak memory < 2 GB. Usage:

    .venv/bin/python benchmarks/segments.py [--profiles 1000000] [--events 10000000]
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
    parts.append(f'[traits.rfm]\nkind = "rfm"\nevent = "order"\nas_of = "{AS_OF}"\n')
    return "\n".join(parts)


SEGMENTS = """
[segments.champions]
where = "rfm = 'champions'"
[segments.at_risk]
where = "rfm IN ('at_risk', 'cannot_lose')"
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


def compute(folder: Path, persist: bool) -> dict[str, Any]:
    """Traits + segments + diff + KPIs as a run does them; then the same SQL by DuckDB
    alone."""
    from segsync.pipeline import load
    from segsync.pipeline.kpis import compute_kpis
    from segsync.pipeline.segments import compute_segments
    from segsync.pipeline.traits import compute_traits, trait_queries
    from segsync.state.history import History
    from segsync.state.store import Store

    config = load(folder / "segsync.toml")
    run_at = dt.datetime(2026, 11, 25)
    out: dict[str, Any] = {"traits": len(config.traits), "segments": len(config.segments)}
    with Store.open(config.store_path, options=config.store_options) as store:
        engine, history = store.engine, History(store.engine)
        started = time.perf_counter()
        compute_traits(engine, config.traits, as_of=run_at)
        traits_done = time.perf_counter()
        membership = compute_segments(engine, config.segment_book, history)
        start, end = config.settings.kpis.bounds(run_at)
        compute_kpis(engine, membership, start=start, end=end)
        done = time.perf_counter()
        if persist:
            membership.persist(history, "bench", kpi_window=config.settings.kpis.window)
        out["traits_seconds"] = round(traits_done - started, 2)
        out["segments_and_diff_seconds"] = round(done - traits_done, 2)
        out["segsync_seconds"] = round(done - started, 2)
        out["sizes"] = {r.name: [r.size, r.entered, r.left] for r in membership.results.values()}
        # the generated SQL, run by DuckDB on its own
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
        sql.append("CREATE OR REPLACE TEMP TABLE _raw_members (segment VARCHAR, key VARCHAR)")
        sql += [
            "INSERT INTO _raw_members "
            + engine.sql(config.segment_book.query(name, "_raw_members"))
            for name in config.segments
        ]
        started = time.perf_counter()
        for statement in sql:
            store.con.execute(statement)
        out["duckdb_seconds"] = round(time.perf_counter() - started, 2)
    return out


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
    parser.add_argument("--phase", choices=["generate", "first", "more", "recompute"])
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
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
