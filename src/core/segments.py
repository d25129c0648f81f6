"""Segments: definitions checked at config time, membership computed in the store.

A segment's members are the profiles that match its ``where`` condition (all profiles when it
has none), that belong to at least one of its ``include`` segments (when it lists any), and
that belong to none of its ``exclude`` segments. Conditions are compiled by
:mod:`segsync.where`; the SQL around them is built as sqlglot expressions.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass

from sqlglot import exp

from segsync.config import NAME_RE, Config, SegmentConfig
from segsync.errors import ConfigError
from segsync.store import Store, utcnow
from segsync.traits import SEGMENT_PROFILES_VIEW
from segsync.where import compile_where

__all__ = ["SegmentResult", "check_segments", "compute_segments", "persist_segments"]

_DIALECT = "duckdb"
NEW_MEMBERS = "_new_segment_members"


@dataclass
class SegmentResult:
    name: str
    size: int
    entered: int
    left: int


def check_segments(config: Config) -> list[str]:
    """Every problem with the segment definitions, one line each."""
    problems: list[str] = []
    path = config.path
    names = set(config.segments)
    for name, segment in config.segments.items():
        key = f"segments.{name}"
        if not NAME_RE.match(name):
            problems.append(
                f"{path}: {key}: expected a name of lower-case letters, digits and '_', "
                f"found {name!r}"
            )
        if segment.where is None and not segment.include:
            problems.append(f"{path}: {key}: expected a 'where' condition or an 'include' list")
        if segment.where is not None:
            try:
                compile_where(segment.where, config.columns, location=f"{path}: {key}.where")
            except ConfigError as exc:
                problems.append(str(exc))
        for field in ("include", "exclude"):
            for other in getattr(segment, field):
                if other == name:
                    problems.append(f"{path}: {key}.{field}: a segment cannot {field} itself")
                elif other not in names:
                    problems.append(
                        f"{path}: {key}.{field}: unknown segment {other!r}; "
                        f"defined: {', '.join(sorted(names))}"
                    )
    try:
        _order(config.segments)
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        problems.append(f"{path}: segments: include/exclude form a cycle: {cycle}")
    return problems


def _order(segments: dict[str, SegmentConfig]) -> list[str]:
    graph = {
        name: {s for s in (*seg.include, *seg.exclude) if s in segments and s != name}
        for name, seg in sorted(segments.items())
    }
    return list(graphlib.TopologicalSorter(graph).static_order())


def _members_of(names: list[str]) -> exp.Select:
    return (
        exp.select("profile_key")
        .from_(NEW_MEMBERS)
        .where(exp.column("segment").isin(*(exp.Literal.string(n) for n in names)))
    )


def segment_query(name: str, segment: SegmentConfig, config: Config) -> exp.Select:
    """``SELECT 'name', profile_key FROM segment_profiles WHERE …`` for one segment
    (``segment_profiles``: profiles with their computed traits)."""
    conditions: list[exp.Expression] = []
    if segment.where is not None:
        location = f"{config.path}: segments.{name}.where"
        conditions.append(
            exp.paren(compile_where(segment.where, config.columns, location=location))
        )
    if segment.include:
        conditions.append(exp.column("profile_key").isin(query=_members_of(segment.include)))
    if segment.exclude:
        conditions.append(
            exp.not_(exp.column("profile_key").isin(query=_members_of(segment.exclude)))
        )
    query = exp.select(exp.Literal.string(name), exp.column("profile_key")).from_(
        SEGMENT_PROFILES_VIEW
    )
    if conditions:
        query = query.where(exp.and_(*conditions))
    return query


def compute_segments(store: Store, config: Config) -> dict[str, SegmentResult]:
    """Compute every segment into a temporary table and compare with the last run's members.

    Nothing persistent is written; :func:`persist_segments` does that for a real run.
    """
    con = store.con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {NEW_MEMBERS} "
        "(segment VARCHAR NOT NULL, profile_key VARCHAR NOT NULL)"
    )
    for name in _order(config.segments):
        query = segment_query(name, config.segments[name], config)
        insert = exp.insert(query, NEW_MEMBERS)
        con.execute(insert.sql(dialect=_DIALECT))
    rows = store.rows(
        f"""WITH new AS (SELECT segment, count(*) AS n FROM {NEW_MEMBERS} GROUP BY segment),
        entered AS (SELECT segment, count(*) AS n FROM (
            SELECT segment, profile_key FROM {NEW_MEMBERS}
            EXCEPT SELECT segment, profile_key FROM segment_members) GROUP BY segment),
        gone AS (SELECT segment, count(*) AS n FROM (
            SELECT segment, profile_key FROM segment_members
            EXCEPT SELECT segment, profile_key FROM {NEW_MEMBERS}) GROUP BY segment)
        SELECT s.segment, coalesce(new.n, 0), coalesce(entered.n, 0), coalesce(gone.n, 0)
        FROM (SELECT unnest(?::VARCHAR[]) AS segment) s
        LEFT JOIN new USING (segment) LEFT JOIN entered USING (segment)
        LEFT JOIN gone USING (segment)""",
        [sorted(config.segments)],
    )
    results = {
        name: SegmentResult(name=name, size=int(size), entered=int(entered), left=int(left))
        for name, size, entered, left in rows
    }
    return {name: results[name] for name in config.segments}  # in the config's order


def persist_segments(store: Store, results: dict[str, SegmentResult], run_id: str) -> None:
    """Make the computed membership the current one and record sizes in the history."""
    now = utcnow()
    with store.transaction() as con:
        con.execute("DELETE FROM segment_members")
        con.execute(f"INSERT INTO segment_members SELECT segment, profile_key FROM {NEW_MEMBERS}")
        for r in results.values():
            con.execute(
                "INSERT INTO segment_history VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, r.name, r.size, r.entered, r.left, now],
            )
