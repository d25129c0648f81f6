"""Segments: definitions checked at config time, membership computed in the store.

A segment's members are the profiles that match its ``where`` condition (all profiles when it
has none), that belong to at least one of its ``include`` segments (when it lists any), and
that belong to none of its ``exclude`` segments. Conditions are compiled by
:mod:`segsync.where`; the SQL around them is built as sqlglot expressions.

Some segments have *groups*, segments of their own named ``NAME.GROUP``:

- ``priority = ["vip", "loyal", …]`` — mutually exclusive groups ``NAME.vip``, ``NAME.loyal``…:
  each profile is in the group of the first listed segment it belongs to (minus ``exclude``);
  ``NAME`` is their union.
- ``split = {a = 45, b = 45}``, optional ``holdout = 10`` and ``seed`` — the segment's members
  are cut into ``NAME.a``, ``NAME.b``, ``NAME.holdout`` by a bucket 0..9999 taken from
  ``md5(seed || ':' || profile_key)`` (its first 8 hex digits, modulo 10,000); the groups take
  consecutive bucket ranges in the declared order, the holdout last. A profile's group depends
  only on the seed, its key and the percentages. A sync of ``NAME`` leaves the holdout out.

After membership, :func:`compute_segments` computes each segment's KPIs (see
:func:`segsync.kpis.compute_kpis`).
"""

from __future__ import annotations

import datetime as dt
import graphlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

from segsync.config import HOLDOUT_GROUP, NAME_RE, Config, SegmentConfig, basis_points
from segsync.errors import ConfigError
from segsync.store import Store, utcnow
from segsync.traits import SEGMENT_PROFILES_VIEW
from segsync.where import compile_where, condition_errors

__all__ = [
    "BUCKETS",
    "SegmentResult",
    "check_segments",
    "compute_segments",
    "holdout_of",
    "persist_segments",
    "segment_query",
    "split_query",
]

log = logging.getLogger("segsync.segments")

_DIALECT = "duckdb"
NEW_MEMBERS = "_new_segment_members"
BUCKETS = 10_000
"""A split assigns each profile one of this many buckets (a unit is 0.01%)."""
_NAME_HINT = "lower-case letters, digits and '_', starting with a letter"


@dataclass
class SegmentResult:
    name: str
    size: int
    entered: int
    left: int
    group_of: str | None = None
    """For a group (``NAME.GROUP``): the segment it belongs to."""
    min_size: int | None = None
    too_small: bool = False
    share: float = 0.0
    """Of all profiles, rounded to 4 places."""
    conversion_rate: float | None = None
    """Share of members with an order in the KPI window (None for an empty segment)."""
    average_order_value: Decimal | None = None
    """Order value / orders with a value, in the KPI window (None without such orders)."""
    revenue: Decimal | None = None
    """Order value in the KPI window (0 when none)."""
    mean_value: Decimal | None = None
    """Mean of the members' historical ``revenue`` (None for an empty segment)."""


# -- checks -----------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value:g}"


def check_segments(config: Config) -> list[str]:
    """Every problem with the segment definitions, one line each."""
    problems: list[str] = []
    path = config.path
    for name, segment in config.segments.items():
        key = f"segments.{name}"
        if not NAME_RE.match(name):
            problems.append(
                f"{path}: {key}: expected a name of lower-case letters, digits and '_', "
                f"found {name!r}"
            )
        if segment.priority is not None:
            problems.extend(_check_priority(config, name, segment))
        else:
            if segment.where is None and not segment.include:
                problems.append(f"{path}: {key}: expected a 'where' condition or an 'include' list")
            problems.extend(_check_split(config, name, segment))
        if segment.where is not None:
            try:
                compile_where(segment.where, config.columns, location=f"{path}: {key}.where")
            except ConfigError as exc:
                problems.append(str(exc))
        for field in ("include", "exclude"):
            for other in getattr(segment, field):
                if other == name:
                    problems.append(f"{path}: {key}.{field}: a segment cannot {field} itself")
                elif other.partition(".")[0] == name:
                    problems.append(
                        f"{path}: {key}.{field}: a segment cannot {field} its own group {other!r}"
                    )
                else:
                    unknown = config.unknown_segment(other)
                    if unknown is not None:
                        problems.append(f"{path}: {key}.{field}: {unknown}")
        if "min_size_action" in segment.model_fields_set and segment.min_size is None:
            problems.append(
                f"{path}: {key}.min_size_action: expected a 'min_size' beside it, found "
                f"min_size_action = {segment.min_size_action!r} alone"
            )
    try:
        _order(config.segments)
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        problems.append(f"{path}: segments: include/exclude/priority form a cycle: {cycle}")
    return problems


def _check_priority(config: Config, name: str, segment: SegmentConfig) -> list[str]:
    path, key = config.path, f"segments.{name}"
    problems: list[str] = []
    clashes = [
        k
        for k in ("where", "include", "split", "holdout", "seed")
        if getattr(segment, k) not in (None, [])
    ]
    if clashes:
        problems.append(
            f"{path}: {key}: expected 'priority' without 'where', 'include' or 'split'; "
            f"found 'priority' with {', '.join(repr(c) for c in clashes)}"
        )
    listed = segment.priority or []
    if not listed:
        problems.append(f"{path}: {key}.priority: expected at least one segment name, found []")
    seen: set[str] = set()
    for other in listed:
        if other in seen:
            problems.append(f"{path}: {key}.priority: {other!r} is listed twice")
            continue
        seen.add(other)
        if other == name:
            problems.append(f"{path}: {key}.priority: a segment cannot list itself")
        elif "." in other:
            problems.append(
                f"{path}: {key}.priority: expected a segment, not a group, found {other!r} "
                f"(define a segment with include = [{other!r}] and list that)"
            )
        else:
            unknown = config.unknown_segment(other)
            if unknown is not None:
                problems.append(f"{path}: {key}.priority: {unknown}")
    return problems


def _check_split(config: Config, name: str, segment: SegmentConfig) -> list[str]:
    path, key = config.path, f"segments.{name}"
    if segment.split is None:
        return [
            f"{path}: {key}.{k}: expected a 'split' beside it, found {k} = {shown} alone"
            for k, shown in (
                ("holdout", None if segment.holdout is None else _pct(segment.holdout)),
                ("seed", None if segment.seed is None else repr(segment.seed)),
            )
            if shown is not None
        ]
    if not segment.split:
        return [f"{path}: {key}.split: expected at least one group, found an empty table"]
    problems: list[str] = []
    for group in segment.split:
        if group == HOLDOUT_GROUP:
            problems.append(
                f"{path}: {key}.split.{group}: the name {HOLDOUT_GROUP!r} is reserved; "
                f"expected holdout = <percentage> beside split"
            )
        elif not NAME_RE.match(group):
            problems.append(
                f"{path}: {key}.split: expected group names of {_NAME_HINT}, found {group!r}"
            )
    parts = [*segment.split.values(), *([segment.holdout] if segment.holdout is not None else [])]
    total = sum(basis_points(p) for p in parts)
    if total != BUCKETS:
        what = "the percentages"
        if segment.holdout is not None:
            what += " (with the holdout)"
        problems.append(
            f"{path}: {key}.split: expected {what} to sum to 100, found "
            f"{' + '.join(_pct(p) for p in parts)} = {_pct(total / 100)}"
        )
    return problems


def _parent(name: str) -> str:
    return name.partition(".")[0]


def _order(segments: dict[str, SegmentConfig]) -> list[str]:
    graph = {
        name: {
            _parent(s)
            for s in (*seg.include, *seg.exclude, *(seg.priority or []))
            if _parent(s) in segments and _parent(s) != name
        }
        for name, seg in sorted(segments.items())
    }
    return list(graphlib.TopologicalSorter(graph).static_order())


def holdout_of(config: Config, segment: str) -> str | None:
    """The holdout group a sync of ``segment`` leaves out (``NAME.holdout``), if any."""
    seg = config.segments.get(segment)
    return f"{segment}.{HOLDOUT_GROUP}" if seg is not None and seg.has_holdout else None


# -- queries ----------------------------------------------------------------------------


def _members_of(names: list[str]) -> exp.Select:
    return (
        exp.select("profile_key")
        .from_(NEW_MEMBERS)
        .where(exp.column("segment").isin(*(exp.Literal.string(n) for n in names)))
    )


def segment_query(name: str, segment: SegmentConfig, config: Config) -> exp.Select:
    """``SELECT 'name', profile_key FROM segment_profiles WHERE …`` for one segment
    (``segment_profiles``: profiles with their computed traits). For a ``priority`` segment:
    the profiles in any listed segment and in no excluded one (the union of its groups)."""
    conditions: list[exp.Expression] = []
    if segment.where is not None:
        location = f"{config.path}: segments.{name}.where"
        conditions.append(
            exp.paren(compile_where(segment.where, config.columns, location=location))
        )
    if segment.include:
        conditions.append(exp.column("profile_key").isin(query=_members_of(segment.include)))
    if segment.priority:
        conditions.append(exp.column("profile_key").isin(query=_members_of(segment.priority)))
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


def _priority_query(name: str, segment: SegmentConfig) -> exp.Select:
    """``SELECT 'name.<first listed segment>', profile_key`` over the parent's members."""
    listed = segment.priority or []
    rank = exp.Case(
        ifs=[
            exp.If(this=exp.column("segment").eq(exp.Literal.string(s)), true=exp.Literal.number(i))
            for i, s in enumerate(listed)
        ]
    )
    ranked = (
        exp.select(exp.column("profile_key"), exp.alias_(exp.func("min", rank), "rank"))
        .from_(NEW_MEMBERS)
        .where(exp.column("segment").isin(*(exp.Literal.string(s) for s in listed)))
        .group_by(exp.column("profile_key"))
    )
    group = exp.Case(
        ifs=[
            exp.If(
                this=exp.column("rank").eq(exp.Literal.number(i)),
                true=exp.Literal.string(f"{name}.{s}"),
            )
            for i, s in enumerate(listed)
        ]
    )
    return (
        exp.select(group, exp.column("profile_key"))
        .from_(ranked.subquery("r"))
        .where(exp.column("profile_key").isin(query=_members_of([name])))
    )


def split_bucket_sql(seed: str) -> exp.Expression:
    """``CAST('0x' || substr(md5(seed || ':' || profile_key), 1, 8) AS BIGINT) % 10000``."""
    digest = exp.func(
        "md5",
        exp.DPipe(
            this=exp.Literal.string(f"{seed}:"), expression=exp.column("profile_key"), safe=True
        ),
    )
    hex8 = exp.DPipe(
        this=exp.Literal.string("0x"),
        expression=exp.func("substr", digest, exp.Literal.number(1), exp.Literal.number(8)),
        safe=True,
    )
    return exp.Mod(
        this=exp.cast(hex8, exp.DataType.Type.BIGINT), expression=exp.Literal.number(BUCKETS)
    )


def split_query(name: str, segment: SegmentConfig) -> exp.Select:
    """``SELECT 'name.<group>', profile_key`` for the members of ``name``, by bucket."""
    bounds: list[tuple[str, int]] = []
    upper = 0
    parts = [*(segment.split or {}).items()]
    if segment.holdout is not None:
        parts.append((HOLDOUT_GROUP, segment.holdout))
    for group, percentage in parts:
        width = basis_points(percentage)
        if width:
            upper += width
            bounds.append((group, upper))
    group_expr = exp.Case(
        ifs=[
            exp.If(
                this=exp.LT(this=exp.column("bucket"), expression=exp.Literal.number(bound)),
                true=exp.Literal.string(f"{name}.{group}"),
            )
            for group, bound in bounds
        ]
    )
    buckets = (
        exp.select(
            exp.column("profile_key"),
            exp.alias_(split_bucket_sql(segment.seed or name), "bucket"),
        )
        .from_(NEW_MEMBERS)
        .where(exp.column("segment").eq(exp.Literal.string(name)))
    )
    return exp.select(group_expr, exp.column("profile_key")).from_(buckets.subquery("b"))


# -- compute ----------------------------------------------------------------------------


def compute_segments(
    store: Store, config: Config, *, as_of: dt.datetime | None = None
) -> dict[str, SegmentResult]:
    """Compute every segment (and group) into a temporary table, compare with the last
    run's members, and compute KPIs as of ``as_of`` (naive UTC; default now).

    Nothing persistent is written; :func:`persist_segments` does that for a real run.
    """
    con = store.con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {NEW_MEMBERS} "
        "(segment VARCHAR NOT NULL, profile_key VARCHAR NOT NULL)"
    )
    for name in _order(config.segments):
        segment = config.segments[name]
        statements = [segment_query(name, segment, config)]
        if segment.priority:
            statements.append(_priority_query(name, segment))
        elif segment.split:
            statements.append(split_query(name, segment))
        for query in statements:
            with condition_errors(f"{config.path}: segments.{name}"):
                con.execute(exp.insert(query, NEW_MEMBERS).sql(dialect=_DIALECT))
    names = config.segment_names()
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
        [names],
    )
    results: dict[str, SegmentResult] = {}
    for name, size, entered, left in rows:
        parent, dot, _ = name.partition(".")
        result = SegmentResult(
            name=name,
            size=int(size),
            entered=int(entered),
            left=int(left),
            group_of=parent if dot else None,
        )
        min_size = None if dot else config.segments[name].min_size
        if min_size is not None:
            result.min_size = min_size
            result.too_small = result.size < min_size
        results[name] = result
    ordered = {name: results[name] for name in names}  # in the config's order
    from segsync.kpis import compute_kpis

    compute_kpis(store, config, ordered, as_of=as_of)
    return ordered


def persist_segments(
    store: Store,
    results: dict[str, SegmentResult],
    run_id: str,
    *,
    kpi_window: str | None = None,
) -> None:
    """Make the computed membership the current one and record sizes and KPIs in the
    history (``segment_history``, ``segment_kpis``)."""
    now = utcnow()
    with store.transaction() as con:
        con.execute("DELETE FROM segment_members")
        con.execute(f"INSERT INTO segment_members SELECT segment, profile_key FROM {NEW_MEMBERS}")
        for r in results.values():
            con.execute(
                "INSERT INTO segment_history VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, r.name, r.size, r.entered, r.left, now],
            )
            con.execute(
                "INSERT INTO segment_kpis VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    r.name,
                    r.size,
                    r.share,
                    r.entered,
                    r.left,
                    r.conversion_rate,
                    r.average_order_value,
                    r.revenue,
                    r.mean_value,
                    kpi_window,
                    r.min_size,
                    r.too_small,
                    now,
                ],
            )
