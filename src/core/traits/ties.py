"""Equal measures and n-tile scores: the ``ties`` setting of ``rfm`` (and of ``value_tier``
quantiles).

Profiles with the same measure (half of a typical customer base buys exactly once) form a
*tie group*. Two rules:

``split`` — every profile gets its own rank, ties broken by ``profile_key`` (the larger key
ranks higher), and scores are SQL's ``ntile(buckets)`` over those ranks: buckets as even as
possible (sizes differ by at most one, the larger first), but identical customers can get
different scores, decided by their keys.

``share`` — equal measures get equal scores. For even buckets (``rfm``), the tie groups are
walked from the lowest measure up and put into buckets 1, 2, … in turn:

1. the current bucket's *fair share* is the number of profiles not yet in a closed bucket
   divided by the buckets left (counting the current one), rounded up — what ``ntile`` would
   give the first of those buckets;
2. a group goes into the current bucket when the bucket is empty, or is the last one, or when
   at least half of the group fits within the fair share (``filled + count / 2 ≤ share``);
3. otherwise the bucket closes and the group opens the next one.

So without ties ``share`` gives exactly ``split``'s buckets, a tie group is never cut, later
buckets even out what a large group took, and the scores are 1, 2, … with none skipped — but
with fewer tie groups than buckets, or a few very large ones, the top scores may stay unused
(one-time buyers are 50 % of the base: they all score F = 1, and the other half shares
F = 2..5).

For cumulative shares (``value_tier`` quantiles) a tie group gets the tier of its middle
member (the lower of the two middle ones) — the tier ``split`` would give most of it.

A tie group that ``split`` cuts across a boundary and that holds more than
:data:`WARN_SHARE` of the scored profiles is reported (:func:`straddling`): then the key,
not the customer, decides the score of many people.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from sqlglot import exp

__all__ = [
    "WARN_SHARE",
    "TieGroup",
    "Ties",
    "ntile_score",
    "rank_score",
    "share_starts",
    "sizes",
    "split_score",
    "straddling",
    "tie_groups",
]

Ties = Literal["share", "split"]
WARN_SHARE = Fraction(1, 10)
"""A tie group larger than this share of the scored profiles is reported when split."""


@dataclass(frozen=True)
class TieGroup:
    """Profiles with one value of a measure: ``start`` profiles have a smaller value."""

    value: Any
    count: int
    start: int

    @property
    def end(self) -> int:
        return self.start + self.count


def ntile_score(position: int, total: int, buckets: int) -> int:
    """The ``ntile(buckets)`` score (1-based) of the row at 0-based ``position`` of ``total``."""
    size, extra = divmod(total, buckets)
    if size == 0:
        return position + 1
    big = extra * (size + 1)
    if position < big:
        return position // (size + 1) + 1
    return extra + (position - big) // size + 1


def share_starts(groups: Iterable[tuple[int, int]], total: int, buckets: int) -> list[int]:
    """Where buckets 2, 3, … start (0-based positions, ascending) under ``share``.

    ``groups`` are the tie groups of two or more profiles as ``(start, count)``, in order;
    the positions between them hold one profile each."""
    starts: list[int] = []
    bucket, opened, position = 1, 0, 0

    def share() -> int:
        left = buckets - bucket + 1
        return -(-(total - opened) // left)  # ceil

    def close() -> None:
        nonlocal bucket, opened
        starts.append(position)
        bucket += 1
        opened = position

    def singles(until: int) -> None:
        nonlocal position
        while position < until:
            if bucket == buckets:
                position = until
                return
            room = share() - (position - opened)
            if position == opened:
                room = max(room, 1)
            position = min(until, position + max(room, 0))
            if position < until:
                close()

    for start, count in groups:
        singles(start)
        filled = position - opened
        if bucket < buckets and filled > 0 and 2 * filled + count > 2 * share():
            close()
        position += count
    singles(total)
    return starts


def sizes(starts: Sequence[int], total: int) -> list[int]:
    """Bucket sizes from the starts of buckets 2, 3, …."""
    edges = [0, *starts, total]
    return [b - a for a, b in itertools.pairwise(edges)]


# -- SQL ------------------------------------------------------------------------------------


def tie_groups(summary: str, measure: str, *, at_least: int) -> exp.Select:
    """``SELECT value, count, start`` of each tie group of ``measure`` (a column of the table
    ``summary``, NULLs left out) with at least ``at_least`` profiles, by value."""
    column = exp.column(measure)
    counted = (
        exp.select(exp.alias_(column, "value"), exp.alias_(exp.Count(this=exp.Star()), "n"))
        .from_(summary)
        .where(exp.not_(exp.Is(this=column.copy(), expression=exp.Null())))
        .group_by(column.copy())
    )
    running = exp.Window(
        this=exp.Sum(this=exp.column("n")),
        # no NULL here: NULLS FIRST is DuckDB's NULLS LAST for this column, and every engine's
        # default for ascending order where it matters (BigQuery cannot translate NULLS LAST)
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("value"), nulls_first=True)]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING"),
    )
    placed = exp.select(
        "value", "n", exp.alias_(exp.Sub(this=running, expression=exp.column("n")), "start")
    ).from_(counted.subquery("c"))
    return (
        exp.select("value", "n", "start")
        .from_(placed.subquery("g"))
        .where(exp.GTE(this=exp.column("n"), expression=exp.Literal.number(at_least)))
        .order_by("value")
    )


def split_score(measure: exp.Expr, buckets: int) -> exp.Expr:
    """``ntile(buckets) OVER (ORDER BY measure, profile_key)``."""
    return exp.Window(
        this=exp.Anonymous(this="ntile", expressions=[exp.Literal.number(buckets)]),
        order=exp.Order(
            expressions=[exp.Ordered(this=measure), exp.Ordered(this=exp.column("profile_key"))]
        ),
    )


def rank_score(measure: exp.Expr, starts: Sequence[int]) -> exp.Expr:
    """``CASE WHEN rank − 1 ≥ start_k THEN k … ELSE 1 END`` with ``rank`` the SQL ``RANK()`` of
    ``measure`` (equal measures, equal rank: the position where their tie group starts)."""
    if not starts:
        return exp.Literal.number(1)
    rank = exp.Sub(
        this=exp.Window(
            this=exp.Rank(),
            order=exp.Order(expressions=[exp.Ordered(this=measure)]),
        ),
        expression=exp.Literal.number(1),
    )
    case = exp.Case(default=exp.Literal.number(1))
    for score in range(len(starts) + 1, 1, -1):
        case = case.when(
            exp.GTE(this=rank.copy(), expression=exp.Literal.number(starts[score - 2])),
            exp.Literal.number(score),
        )
    return case


def straddling(
    groups: Iterable[TieGroup], total: int, score: Any
) -> list[tuple[TieGroup, int, int]]:
    """The tie groups holding more than :data:`WARN_SHARE` of ``total`` whose first and last
    profiles get different scores by ``score(position)``: ``(group, lowest, highest)``."""
    out = []
    for group in groups:
        if Fraction(group.count, max(total, 1)) <= WARN_SHARE:
            continue
        low, high = score(group.start), score(group.end - 1)
        if low != high:
            out.append((group, low, high))
    return out
