"""Benchmark: computed traits and segments over 1,000,000 profiles and 10,000,000 events, and
the ``clv`` trait kind (BG/NBD + Gamma-Gamma fitted on the store) at the same size.

1. **generate** (a subprocess): a store with N profiles and M events, made by DuckDB itself from
   seeded hashes (deterministic, no Python loop): events of types order (60 %), cart (30 %) and
   visit (10 %) over two years, with a channel property; profiles with a country and the
   order summary columns resolve would have computed.
2. **first run** (a subprocess): every trait and segment computed and persisted (the "previous
   run").
3. 1 % more events arrive (a day's worth).
4. **recompute** (a subprocess, measured): three contenders, alternating for ``--rounds``
   rounds, each starting from the first run's saved membership, each doing the whole work —
   traits (``profile_traits`` written), segments, the diff against the previous run
   (entered/left), KPIs, and saving the membership, its history and KPIs:

   - **segsync**, as a run does it: the traits' event summaries in one scan of the events;
   - **hand_fused**: the same recompute written by hand for DuckDB in one pass
     (``benchmarks/hand_fused.py``): the yardstick. It must give the same ``profile_traits``
     and memberships (checked: ``identical_to_hand_fused``);
   - **per_trait**: segsync with one scan of the events per trait, as before issue 18
     (``compute_traits(one_scan=False)``).

   Wall time and CPU seconds of each (the process's, DuckDB's threads included: CPU reads
   through other load on a shared machine), their medians, and the ratios segsync /
   hand-fused and per-trait / segsync; the process's peak RSS.
5. **generate-clv** (a subprocess): a second store with N profiles whose order events are drawn
   from a BG/NBD process with Gamma-Gamma spend (:func:`segsync.predict.simulate.simulate_events`:
   the model the trait fits, about M events; hash-made events carry no purchase-and-drop-out
   pattern for a model to find).
6. **clv** (a subprocess, measured): the ``clv`` trait computed as a run does (the summary in
   SQL, both fits and the scores in numpy, the scores written back and joined) — wall time,
   the numpy part's time, peak RSS, and the fitted parameters against the true ones.

Targets on this 2-core machine: recompute < 15 s and within 1.2x of the hand-fused pass, peak
memory < 2 GB; the clv trait < 60 s and < 1.5 GB. Usage:

    .venv/bin/python benchmarks/segments.py [--profiles 1000000] [--events 10000000]
        [--rounds 2] [--skip-clv] [--folder DIR (kept; a store already there is reused)]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
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


def segsync_recompute(
    store: Any, config: Any, run_at: dt.datetime, *, persist: bool, one_scan: bool = True
) -> dict[str, Any]:
    """Traits + segments + diff + KPIs (+ saving the membership) as a run does them, timed."""
    from segsync.pipeline.kpis import compute_kpis
    from segsync.pipeline.segments import compute_segments
    from segsync.pipeline.traits import compute_traits
    from segsync.state.history import History

    engine, history = store.engine, History(store.engine)
    started, cpu = time.perf_counter(), time.process_time()
    traits = compute_traits(engine, config.traits, as_of=run_at, one_scan=one_scan)
    traits_done, traits_cpu = time.perf_counter(), time.process_time()
    membership = compute_segments(engine, config.segment_book, history, as_of=run_at)
    start, end = config.settings.kpis.bounds(run_at)
    compute_kpis(engine, membership, start=start, end=end)
    if persist:
        membership.persist(history, "bench", kpi_window=config.settings.kpis.window)
    done, cpu_done = time.perf_counter(), time.process_time()
    return {
        "seconds": round(done - started, 2),
        "cpu_seconds": round(cpu_done - cpu, 2),
        "traits_seconds": round(traits_done - started, 2),
        "traits_cpu_seconds": round(traits_cpu - cpu, 2),
        "sizes": {r.name: [r.size, r.entered, r.left] for r in membership.results.values()},
        "warnings": [w.message for w in traits.warnings],
    }


def compute(folder: Path, phase: str, rounds: int) -> dict[str, Any]:
    """``first``: the previous run, saved. ``recompute``: segsync's recompute (one scan of
    the events), the hand-fused single pass (:mod:`hand_fused`) and segsync with one scan per
    trait (as before issue 18), alternating for ``rounds`` rounds, each from the same saved
    membership; the hand-fused pass must give the same ``profile_traits`` and memberships."""
    from hand_fused import recompute as by_hand

    from segsync.pipeline import load
    from segsync.state.store import Store

    config = load(folder / "segsync.toml")
    run_at = dt.datetime(2026, 11, 25)
    out: dict[str, Any] = {"traits": len(config.traits), "segments": len(config.segments)}
    with Store.open(config.store_path, options=config.store_options) as store:
        con = store.con
        if phase == "first":
            return {**out, **segsync_recompute(store, config, run_at, persist=True)}
        book = config.segment_book
        segments = [
            "INSERT INTO _hand_members " + store.engine.sql(q)
            for name in book.order()
            for q in book.statements(name, "_hand_members", as_of=run_at)
        ]
        kpi = config.settings.kpis.bounds(run_at)
        con.execute("CREATE OR REPLACE TEMP TABLE _bench_previous AS SELECT * FROM segment_members")

        def restore() -> None:
            con.execute("DELETE FROM segment_members")
            con.execute("INSERT INTO segment_members SELECT * FROM _bench_previous")

        def hand() -> dict[str, Any]:
            started, cpu = time.perf_counter(), time.process_time()
            sizes = by_hand(con, run_at, segments, kpi, config.settings.kpis.window)
            return {
                "seconds": round(time.perf_counter() - started, 2),
                "cpu_seconds": round(time.process_time() - cpu, 2),
                "sizes": sizes,
            }

        runs: dict[str, list[dict[str, Any]]] = {"segsync": [], "hand_fused": [], "per_trait": []}
        differences: list[str] = []
        for _ in range(rounds):
            restore()
            runs["segsync"].append(segsync_recompute(store, config, run_at, persist=True))
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _bench_traits AS SELECT * FROM profile_traits"
            )
            restore()
            runs["hand_fused"].append(hand())
            differences += _differences(
                con, runs["segsync"][-1]["sizes"], runs["hand_fused"][-1]["sizes"]
            )
            restore()
            runs["per_trait"].append(
                segsync_recompute(store, config, run_at, persist=True, one_scan=False)
            )
        restore()
    first = runs["segsync"][0]
    out["sizes"], out["warnings"] = first["sizes"], first["warnings"]
    for name, measured in runs.items():
        out[name] = {
            key: [m[key] for m in measured]
            for key in ("seconds", "cpu_seconds", "traits_seconds", "traits_cpu_seconds")
            if key in measured[0]
        }
    out["identical_to_hand_fused"] = not differences
    out["differences"] = differences[:20]
    return out


def _differences(con: Any, segsync: dict[str, list[int]], hand: dict[str, list[int]]) -> list[str]:
    """What the hand-fused pass computed differently from segsync (nothing, we hope)."""
    found = []
    ours = con.execute("DESCRIBE _bench_traits").fetchall()
    theirs = con.execute("DESCRIBE profile_traits").fetchall()
    if [r[:2] for r in ours] != [r[:2] for r in theirs]:
        found.append(f"columns: {[r[:2] for r in ours]} != {[r[:2] for r in theirs]}")
    else:
        for column, *_ in ours[1:]:
            n = con.execute(
                f"SELECT count(*) FROM _bench_traits s JOIN profile_traits h USING (profile_key) "
                f'WHERE s."{column}" IS DISTINCT FROM h."{column}"'
            ).fetchone()[0]
            if n:
                found.append(f"{column}: {n} profiles differ")
    for name in sorted({*segsync, *hand}):
        if segsync.get(name, [0, 0, 0]) != hand.get(name, [0, 0, 0]):
            found.append(f"segment {name}: {segsync.get(name)} != {hand.get(name)}")
    return found


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

    Clv._fit = timed  # type: ignore[method-assign, assignment]
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
         "--profiles", str(args.profiles), "--events", str(args.events),
         "--rounds", str(args.rounds)],
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
    parser.add_argument("--rounds", type=int, default=2, help="recompute rounds (alternating)")
    parser.add_argument(
        "--folder", type=Path, help="work here (kept; a store already there is reused)"
    )
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
            print(json.dumps(compute(folder, args.phase, args.rounds)))
        return

    with contextlib.ExitStack() as stack:
        if args.folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            folder = args.folder
            folder.mkdir(parents=True, exist_ok=True)
        (folder / "segsync.toml").write_text(
            CONFIG.format(traits=trait_config(), segments=SEGMENTS)
        )
        gen_wall, gen_rss, first, first_wall, first_rss = 0.0, 0, None, 0.0, 0
        if not (folder / "bench.duckdb").exists():
            _, gen_wall, gen_rss = phase(folder, "generate", args)
            first, first_wall, first_rss = phase(folder, "first", args)
            phase(folder, "more", args)
        again, wall, rss = phase(folder, "recompute", args)
        med = {
            name: {k: statistics.median(v) for k, v in again[name].items()}
            for name in ("segsync", "hand_fused", "per_trait")
        }
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
                    "first_run": first
                    and {
                        **first,
                        "process_seconds": round(first_wall, 1),
                        "peak_rss_mib": first_rss,
                    },
                    "recompute": {
                        **again,
                        "median": med,
                        "process_seconds": round(wall, 1),
                        "peak_rss_mib": rss,
                    },
                    "segsync_to_hand_fused": {
                        "wall": round(med["segsync"]["seconds"] / med["hand_fused"]["seconds"], 2),
                        "cpu": round(
                            med["segsync"]["cpu_seconds"] / med["hand_fused"]["cpu_seconds"], 2
                        ),
                    },
                    "one_scan_per_trait_to_segsync": {
                        "wall": round(med["per_trait"]["seconds"] / med["segsync"]["seconds"], 2),
                        "cpu": round(
                            med["per_trait"]["cpu_seconds"] / med["segsync"]["cpu_seconds"], 2
                        ),
                    },
                    "clv": clv,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
