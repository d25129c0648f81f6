"""The segments benchmark's yardstick: the recompute written by hand for DuckDB, in one pass.

What a data engineer would write for the benchmark's 20 traits and 12 segments, knowing them:
one ``GROUP BY profile_key`` over the events with a conditional aggregate per measure, the
three RFM tie-group queries (``ties = "share"`` places the ties between two queries, with the
same algorithm, :func:`segsync.traits.ties.share_starts`), one statement writing
``profile_traits`` (every trait's column, ranks and tiers as window functions), the segments
(the statements segsync renders from the conditions, recorded before the timings: a segment's
condition is SQL either way), one statement for sizes, entries, exits and KPIs, and the saving
of the membership, its history and KPIs — the same work as segsync's recompute, with the same
``profile_traits`` and memberships (checked by the benchmark), without segsync's generality.
It asks the staleness warnings' question (the newest event of each type) but leaves out one
diagnostic segsync runs (the value tier's check for tie groups split across tiers), so it is,
if anything, a little less work.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from segsync.traits.rfm import DEFAULT_CELLS
from segsync.traits.ties import share_starts

__all__ = ["recompute"]

EVENTS = ("order", "cart", "visit")
WINDOWS = (30, 90, 365)
QUANTILES = {"bronze": Fraction(1, 2), "silver": Fraction(4, 5), "gold": Fraction(19, 20),
             "platinum": Fraction(1)}  # fmt: skip
DAY_US = 86_400_000_000


def _ts(moment: dt.datetime) -> str:
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


def scan_sql(as_of: dt.datetime) -> str:
    """Every measure of every trait, per profile, in one pass over the events."""

    def since(days: int) -> str:
        return f"occurred_at >= {_ts(as_of - dt.timedelta(days=days))}"

    measures = []
    for event in EVENTS:
        for days in WINDOWS:
            measures.append(
                f"count(*) FILTER (WHERE type = '{event}' AND {since(days)}) AS {event}_{days}"
            )
        measures.append(f"max(occurred_at) FILTER (WHERE type = '{event}') AS last_{event}")
    for days in WINDOWS:
        measures.append(
            f"sum(value) FILTER (WHERE type = 'order' AND {since(days)}) AS spend_{days}"
        )
    web = "properties ->> '$.channel' = 'web'"
    measures += [
        f"avg(value) FILTER (WHERE type = 'order' AND {since(365)}) AS avg_365",
        f"count(*) FILTER (WHERE type = 'order' AND {since(90)} AND {web}) AS web_90",
        f"max(occurred_at) FILTER (WHERE type = 'order' AND {web}) AS last_web_order",
        "min(occurred_at) FILTER (WHERE type = 'order') AS first_order",
        "count(*) FILTER (WHERE type = 'order') AS orders",
        "sum(value) FILTER (WHERE type = 'order') AS revenue",
    ]
    return (
        "CREATE OR REPLACE TEMP TABLE _hand_events AS SELECT profile_key, "
        + ", ".join(measures)
        + f" FROM profile_events WHERE occurred_at < {_ts(as_of)} GROUP BY profile_key"
    )


RFM_MEASURES = {
    "r": "{e}last_order",
    "f": "{e}orders",
    "m": "coalesce({e}revenue, 0)::DECIMAL(38,4)",
}


def tie_sql(measure: str) -> str:
    """The tie groups of an RFM measure (size and start), by value."""
    return f"""SELECT n, sum(n) OVER (ORDER BY value ROWS UNBOUNDED PRECEDING) - n AS start
        FROM (SELECT {measure.format(e="")} AS value, count(*) AS n FROM _hand_events
              WHERE orders > 0 GROUP BY 1) ORDER BY value"""


def traits_sql(as_of: dt.datetime, starts: dict[str, list[int]]) -> str:
    """``profile_traits``, every column in the config's order, from the scan's table: the
    ranks in an inner query, the tiers and cells they decide in the outer one."""
    at = _ts(as_of)
    inner = ["p.profile_key"]
    for event in EVENTS:
        inner += [
            f"coalesce(e.{event}_{days}, 0)::BIGINT AS {event}_count_{days}d" for days in WINDOWS
        ]
        inner.append(
            f"(date_diff('microsecond', e.last_{event}, {at}) // {DAY_US})::BIGINT "
            f"AS days_since_{event}"
        )
    inner += [f"coalesce(e.spend_{days}, 0)::DECIMAL(38,4) AS spend_{days}d" for days in WINDOWS]
    inner += [
        "e.avg_365::DOUBLE AS avg_order_365d",
        "coalesce(e.web_90, 0)::BIGINT AS web_orders_90d",
    ]

    def ago(days: int) -> str:
        return _ts(as_of - dt.timedelta(days=days))

    inner.append(
        f"""CASE WHEN e.first_order IS NULL THEN 'prospect'
            WHEN e.first_order >= {ago(30)} THEN 'new'
            WHEN e.last_order >= {ago(90)} AND e.order_365 >= 3 THEN 'loyal'
            WHEN e.last_order >= {ago(90)} THEN 'active'
            WHEN e.last_order >= {ago(180)} THEN 'at_risk' ELSE 'lost' END AS stage"""
    )
    total = "CASE WHEN e.orders > 0 THEN coalesce(e.revenue, 0)::DECIMAL(38,4) END"
    inner += [
        f"{total} AS tier_value",
        f"row_number() OVER (PARTITION BY e.orders > 0 ORDER BY {total} NULLS LAST, "
        "p.profile_key) AS tier_rank",
        "count(CASE WHEN e.orders > 0 THEN 0 END) OVER () AS tier_valued",
    ]
    for key, measure in RFM_MEASURES.items():
        value = f"CASE WHEN e.orders > 0 THEN {measure.format(e='e.')} END"
        position = f"rank() OVER (ORDER BY {value} NULLS LAST) - 1"
        inner.append(f"CASE WHEN e.orders > 0 THEN {position} END AS {key}_position")
    tiers = " ".join(
        f"WHEN tier_rank * {q.denominator} <= {q.numerator} * tier_valued THEN '{name}'"
        for name, q in QUANTILES.items()
    )

    def score(key: str) -> str:
        whens = " ".join(
            f"WHEN {key}_position >= {s} THEN {k}"
            for k, s in reversed(list(enumerate(starts[key], start=2)))
        )
        return f"CASE WHEN {key}_position IS NULL THEN NULL {whens} ELSE 1 END"

    cells = " ".join(
        f"WHEN rfm_r = {pair.split('-')[0]} AND rfm_f = {pair.split('-')[1]} THEN '{name}'"
        for name, pairs in DEFAULT_CELLS.items()
        for pair in pairs
    )
    outer = ["profile_key"]
    for event in EVENTS:
        outer += [f"{event}_count_{days}d" for days in WINDOWS] + [f"days_since_{event}"]
    outer += [f"spend_{days}d" for days in WINDOWS]
    outer += ["avg_order_365d", "web_orders_90d", "stage"]
    outer += [f"CASE WHEN tier_value IS NULL THEN NULL {tiers} END AS tier", "tier_value"]
    outer += [f"CASE {cells} END AS rfm", "rfm_r", "rfm_f", "rfm_m"]
    scored = ", ".join(f"({score(k)})::BIGINT AS rfm_{k}" for k in RFM_MEASURES)
    return (
        f"CREATE OR REPLACE TABLE profile_traits AS SELECT {', '.join(outer)} FROM ("
        f"SELECT *, {scored} FROM (SELECT {', '.join(inner)} FROM profiles p "
        "LEFT JOIN _hand_events e ON e.profile_key = p.profile_key)) ORDER BY profile_key"
    )


def figures_sql(kpi_start: dt.datetime, kpi_end: dt.datetime) -> str:
    """Per segment: size, entered, left (against the saved membership) and the KPIs."""
    return f"""CREATE OR REPLACE TEMP TABLE _hand_figures AS
        WITH diff AS (
            SELECT coalesce(n.segment, o.segment) AS segment, count(n.profile_key) AS size,
                   count(*) FILTER (WHERE o.profile_key IS NULL) AS entered,
                   count(*) FILTER (WHERE n.profile_key IS NULL) AS "left"
            FROM _hand_members n FULL JOIN segment_members o
              ON o.segment = n.segment AND o.profile_key = n.profile_key
            GROUP BY 1),
        orders AS (
            SELECT profile_key, count(value) AS valued, sum(value) AS revenue
            FROM profile_events
            WHERE type = 'order' AND occurred_at >= {_ts(kpi_start)} AND occurred_at < {_ts(kpi_end)}
            GROUP BY profile_key),
        kpis AS (
            SELECT m.segment, count(o.profile_key) AS converted,
                   coalesce(sum(o.valued), 0) AS valued, coalesce(sum(o.revenue), 0) AS revenue,
                   coalesce(sum(p.revenue), 0) AS historical
            FROM _hand_members m JOIN profiles p ON p.profile_key = m.profile_key
            LEFT JOIN orders o ON o.profile_key = m.profile_key
            GROUP BY m.segment)
        SELECT d.segment, d.size, d.entered, d."left",
               round(d.size / (SELECT count(*) FROM profiles), 4) AS share,
               CASE WHEN d.size > 0 THEN round(k.converted / d.size, 4) END AS conversion_rate,
               CASE WHEN k.valued > 0 THEN round(k.revenue / k.valued, 4) END
                   AS average_order_value,
               round(coalesce(k.revenue, 0), 4) AS revenue,
               CASE WHEN d.size > 0 THEN round(k.historical / d.size, 4) END AS mean_value
        FROM diff d LEFT JOIN kpis k ON k.segment = d.segment"""


def recompute(
    con: Any,
    as_of: dt.datetime,
    segments: list[str],
    kpi: tuple[dt.datetime, dt.datetime],
    kpi_window: str,
) -> dict[str, list[int]]:
    """The whole recompute, by hand; each segment's ``[size, entered, left]``."""
    con.execute("BEGIN TRANSACTION")
    con.execute(scan_sql(as_of))
    con.execute(
        "SELECT max(last_order), max(last_cart), max(last_visit), max(last_web_order) "
        "FROM _hand_events"
    ).fetchall()  # the staleness warnings' question
    starts = {}
    for key, measure in RFM_MEASURES.items():
        groups = con.execute(tie_sql(measure)).fetchall()
        total = con.execute("SELECT count(*) FROM _hand_events WHERE orders > 0").fetchone()[0]
        starts[key] = share_starts([(int(s), int(n)) for n, s in groups if n >= 2], total, 5)
    con.execute(traits_sql(as_of, starts))
    con.execute("CREATE OR REPLACE TEMP TABLE _hand_members (segment VARCHAR, profile_key VARCHAR)")
    for statement in segments:
        con.execute(statement)
    con.execute(figures_sql(*kpi))
    con.execute("DELETE FROM segment_members")
    con.execute("INSERT INTO segment_members SELECT segment, profile_key FROM _hand_members")
    con.execute(
        "INSERT INTO segment_history SELECT 'hand', segment, size, entered, \"left\", now() "
        "FROM _hand_figures"
    )
    con.execute(
        'INSERT INTO segment_kpis (run_id, segment, size, share, entered, "left", '
        "conversion_rate, average_order_value, revenue, mean_value, kpi_window, min_size, "
        "too_small, computed_at) SELECT 'hand', segment, size, share, entered, \"left\", "
        f"conversion_rate, average_order_value, revenue, mean_value, '{kpi_window}', NULL, "
        "false, now() FROM _hand_figures"
    )
    sizes = con.execute('SELECT segment, size, entered, "left" FROM _hand_figures').fetchall()
    con.execute("COMMIT")
    return {str(s): [int(n), int(e), int(left)] for s, n, e, left in sizes}
