"""One scan of the events for every trait that summarises them.

A trait kind that reads events through a per-profile summary declares it
(:meth:`segsync.traits.TraitKind.events`: an :class:`~segsync.traits.base.EventSummary` —
which events, which aggregates). Rather than one ``GROUP BY`` over the events per trait,
:class:`EventScan` computes every declared summary in one::

    SELECT profile_key,
           COUNT(*) FILTER (WHERE <events of summary 1>) AS _e0,
           MAX(occurred_at) FILTER (WHERE <events of summary 1>) AS _e1,
           SUM(value) FILTER (WHERE <events of summary 2>) AS _e2, …
    FROM profile_events
    WHERE type IN (<every type read>) AND occurred_at < <the latest end read>
    GROUP BY profile_key

— each aggregate restricted to its own trait's events (type, property filters, window and
``as_of`` cut-off), each distinct aggregate computed once however many traits ask for it
(``MAX(occurred_at)`` of orders before one ``as_of`` serves ``recency``, ``lifecycle`` and
``rfm`` alike). The result is kept in a temporary table, and each trait reads its rows from it
(:meth:`EventScan.rows`)::

    SELECT profile_key, <the trait's columns over _eN> FROM _trait_events WHERE _e0 > 0

which are exactly the rows of the trait's own ``GROUP BY``: one per profile with at least one
matching event, each aggregate over the same events (an aggregate with a ``FILTER`` sees the
rows it would see under that ``WHERE``), and whatever the kind wraps around an aggregate
(``COALESCE(SUM(value), 0)``, a cast, a product) applied to the same aggregate's value.
Rankings, ties and window functions stay in the traits' queries, after the aggregate.

The staleness questions traits will ask in ``finish`` (the newest event of a type before a
moment: :func:`segsync.traits.notes.watch`) are answered from the same table into the
computation's memo. ``FILTER`` is rendered for engines without it as a conditional argument
(``SUM(IF(c, value, NULL))``); ``first``/``last`` by an order, whose first row is a matching
event, keep their meaning there too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from segsync.engine import Engine
from segsync.traits.base import EVENTS_TABLE, PROFILES_TABLE, EventSummary, timestamp_literal

__all__ = ["SCAN_TABLE", "EventScan"]

SCAN_TABLE = "_trait_events"
"""The temporary table one scan of the events leaves for the traits to read."""

_KEY = "profile_key"


class EventScan:
    """The declared summaries of several traits (by any hashable key, e.g. their position),
    computed in one ``GROUP BY profile_key`` over the events."""

    def __init__(self, summaries: Mapping[Any, EventSummary]) -> None:
        self._aggregates: dict[str, tuple[str, exp.Expr]] = {}
        """SQL text of a filtered aggregate → (its column, the aggregate)."""
        self._conditions: list[exp.Expr] = []
        self._summaries: dict[Any, tuple[_Present, dict[str, exp.Expr]]] = {}
        """Per summary: how to tell a profile has one of its events, and its columns over the
        scan's."""
        self._newest: dict[Any, str] = {}
        columns: dict[Any, dict[str, exp.Expr]] = {}
        for key, summary in summaries.items():
            self._conditions.append(summary.where)
            columns[key] = {
                name: self._rewrite(expression, summary.where)
                for name, expression in summary.columns.items()
            }
            for memo_key, condition in summary.newest:
                self._conditions.append(condition)
                self._newest[memo_key] = self._column(
                    exp.Max(this=exp.column("occurred_at")), condition
                )
        for key, summary in summaries.items():
            self._summaries[key] = (self._present(summary.where), columns[key])

    def __len__(self) -> int:
        return len(self._summaries)

    def __iter__(self) -> Iterator[Any]:
        """The summaries' keys, in the order given."""
        return iter(self._summaries)

    def __contains__(self, key: object) -> bool:
        return key in self._summaries

    # -- building ------------------------------------------------------------------------

    def _column(self, aggregate: exp.Expr, where: exp.Expr) -> str:
        """The scan's column holding ``aggregate`` over the events matching ``where``."""
        filtered = exp.Filter(
            this=_ordered_first(aggregate, where), expression=exp.Where(this=where.copy())
        )
        text = filtered.sql()
        found = self._aggregates.get(text)
        if found is None:
            found = (f"_e{len(self._aggregates)}", filtered)
            self._aggregates[text] = found
        return found[0]

    def _present(self, where: exp.Expr) -> _Present:
        """How to tell from the scan's row that a profile has an event matching ``where``:
        its count of them is positive — or, when the scan already has the time of its first
        or last such event and every such event has a time (``where`` bounds it), that time
        is not NULL (no column of its own)."""
        texts = {text: column for text, (column, _) in self._aggregates.items()}

        def existing(aggregate: exp.Expr) -> str | None:
            return texts.get(
                exp.Filter(this=aggregate, expression=exp.Where(this=where.copy())).sql()
            )

        count = existing(exp.Count(this=exp.Star()))
        if count is not None:
            return _Present(count, counted=True)
        if _bounds(where)[1] is not None:
            for cls in (exp.Max, exp.Min):
                found = existing(cls(this=exp.column("occurred_at")))
                if found is not None:
                    return _Present(found, counted=False)
        return _Present(self._column(exp.Count(this=exp.Star()), where), counted=True)

    def _rewrite(self, expression: exp.Expr, where: exp.Expr) -> exp.Expr:
        """``expression`` with each aggregate replaced by the scan's column holding it."""

        def replace(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Window):
                raise ValueError(f"a window function in an event summary: {node.sql()}")
            if isinstance(node, exp.AggFunc):
                return exp.column(self._column(node.copy(), where))
            return node

        rewritten: exp.Expr = expression.copy().transform(replace)
        return rewritten

    def query(self) -> exp.Select:
        """The one ``GROUP BY profile_key`` over the events: narrowed to the types and the
        latest end every summary reads, and each aggregate's filter without what that
        narrowing already says (``occurred_at < <as_of>`` when every trait reads up to one
        as-of)."""
        narrowing = _narrowing(self._conditions)
        implied = {part.sql() for part in narrowing}
        for part in narrowing:
            values = part.expressions if isinstance(part, exp.In) else []
            if len(values) == 1:  # type IN ('order'): type = 'order' is implied too
                implied.add(exp.EQ(this=part.this.copy(), expression=values[0].copy()).sql())
        query = exp.select(
            _KEY,
            *(exp.alias_(_without(agg, implied), name) for name, agg in self._aggregates.values()),
        ).from_(EVENTS_TABLE)
        if narrowing:
            query = query.where(exp.and_(*narrowing))
        return query.group_by(_KEY)

    # -- reading -------------------------------------------------------------------------

    def rows(self, key: Any) -> exp.Select:
        """``SELECT profile_key, <columns>`` of one summary, from the scan's table: the rows
        of the summary's own ``GROUP BY``."""
        present, columns = self._summaries[key]
        return (
            exp.select(_KEY, *(exp.alias_(e.copy(), name) for name, e in columns.items()))
            .from_(SCAN_TABLE)
            .where(present.condition())
        )

    def side_by_side(self, values: Mapping[Any, Sequence[exp.Expr]]) -> exp.Select:
        """One statement computing several traits' values from the scan's table: ``SELECT
        p.profile_key, <values> FROM profiles p LEFT JOIN <scan> a …`` in profile-key order,
        ``values`` (by summary key) being each trait's
        :meth:`~segsync.traits.TraitKind.summary_values`. Each ``a.<column>`` of a summary
        becomes its expression over the scan's columns where the profile has an event of the
        summary, NULL where not — the value it has in ``per_profile(rows(key), …)``."""
        p_key = exp.column(_KEY, table="p")
        query = exp.select(p_key)
        for key, expressions in values.items():
            present, columns = self._summaries[key]
            query = query.select(*(_over_scan(e, columns, present) for e in expressions))
        return (
            query.from_(exp.alias_(exp.to_table(PROFILES_TABLE), "p", table=True))
            .join(
                exp.alias_(exp.to_table(SCAN_TABLE), "a", table=True),
                on=exp.EQ(this=exp.column(_KEY, table="a"), expression=p_key.copy()),
                join_type="left",
            )
            .order_by(p_key.copy())
        )

    def run(self, engine: Engine, memo: dict[Any, Any]) -> None:
        """Make the scan's table, and answer the staleness questions into ``memo``."""
        engine.create_table(SCAN_TABLE, self.query(), temporary=True)
        if not self._newest:
            return
        columns = list(dict.fromkeys(self._newest.values()))
        newest = exp.select(*(exp.Max(this=exp.column(c)) for c in columns)).from_(SCAN_TABLE)
        values = dict(zip(columns, engine.rows(newest)[0], strict=True))
        for memo_key, column in self._newest.items():
            value = values[column]
            memo[memo_key] = value if isinstance(value, dt.datetime) else None


@dataclass(frozen=True)
class _Present:
    """The scan's column telling that a profile has an event of a summary: a count of them
    (positive), or the time of the first or last (not NULL)."""

    column: str
    counted: bool

    def condition(self, table: str | None = None) -> exp.Expr:
        column = exp.column(self.column, table=table)
        if self.counted:
            return exp.GT(this=column, expression=exp.Literal.number(0))
        return exp.not_(exp.Is(this=column, expression=exp.Null()))


def _without(aggregate: exp.Expr, implied: set[str]) -> exp.Expr:
    """A copy of a filtered aggregate without the conjuncts of its filter in ``implied``."""
    out = aggregate.copy()
    if not isinstance(out, exp.Filter):
        return out
    where = out.expression.this
    conjuncts = list(where.flatten()) if isinstance(where, exp.And) else [where]
    kept = [c for c in conjuncts if c.sql() not in implied]
    if not kept:
        bare: exp.Expr = out.this
        return bare
    if len(kept) < len(conjuncts):
        out.expression.set("this", exp.and_(*(c.copy() for c in kept)))
    return out


def _over_scan(
    expression: exp.Expr, columns: Mapping[str, exp.Expr], present: _Present
) -> exp.Expr:
    """``expression`` with each summary column ``a.<name>`` replaced by its expression over
    the scan's row ``a`` where the profile has an event of the summary, NULL where not."""
    has = present.condition("a")

    def summary_column(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.table == "a" and node.name in columns:
            return exp.Case(ifs=[exp.If(this=has.copy(), true=_qualified(columns[node.name], "a"))])
        return node

    replaced: exp.Expr = expression.copy().transform(summary_column)
    return replaced


def _qualified(expression: exp.Expr, table: str) -> exp.Expr:
    """A copy of ``expression`` with its columns read from ``table``."""
    out = expression.copy()
    for column in out.find_all(exp.Column):
        column.set("table", exp.to_identifier(table))
    return out


def _ordered_first(aggregate: exp.Expr, where: exp.Expr) -> exp.Expr:
    """``FIRST(x ORDER BY …)`` (``first``/``last``) ordered matching events first: the same
    value under ``FILTER``, and still where an engine turns the filter into ``IF(c, x, NULL)``
    (a first value may be NULL, so NULLs from other events must not come first)."""
    order = aggregate.this if isinstance(aggregate, exp.First | exp.Last) else None
    if not isinstance(order, exp.Order):
        return aggregate
    matching_first = exp.Ordered(
        this=exp.Case(ifs=[exp.If(this=exp.paren(where.copy()), true=exp.Literal.number(0))]).else_(
            exp.Literal.number(1)
        )
    )
    order.set("expressions", [matching_first, *order.expressions])
    return aggregate


# -- narrowing the scan ----------------------------------------------------------------------


def _narrowing(conditions: list[exp.Expr]) -> list[exp.Expr]:
    """``type IN (…)``, ``occurred_at < …``: what holds for every event any of ``conditions``
    selects (the types they all name, the latest end they all bound), when they say."""
    bounds = [_bounds(c) for c in conditions]
    parts: list[exp.Expr] = []
    types = [t for t, _ in bounds if t is not None]
    if bounds and len(types) == len(bounds):
        named = sorted(frozenset.union(*types))
        parts.append(exp.column("type").isin(*(exp.Literal.string(t) for t in named)))
    ends = [e for _, e in bounds if e is not None]
    if bounds and len(ends) == len(bounds):
        parts.append(
            exp.LT(this=exp.column("occurred_at"), expression=timestamp_literal(max(ends)))
        )
    return parts


def _bounds(condition: exp.Expr) -> tuple[frozenset[str] | None, dt.datetime | None]:
    """The event types ``condition`` admits and the moment its events are before, where it
    says (None: it does not)."""
    if isinstance(condition, exp.Paren):
        return _bounds(condition.this)
    if isinstance(condition, exp.And | exp.Or):
        (lt, le), (rt, re_) = _bounds(condition.left), _bounds(condition.right)
        if isinstance(condition, exp.Or):
            types = lt | rt if lt is not None and rt is not None else None
            end = max(le, re_) if le is not None and re_ is not None else None
            return types, end
        known = [t for t in (lt, rt) if t is not None]
        ends = [e for e in (le, re_) if e is not None]
        return (frozenset.intersection(*known) if known else None), (min(ends) if ends else None)
    if isinstance(condition, exp.EQ) and _is_column(condition.this, "type"):
        value = condition.expression
        if isinstance(value, exp.Literal) and value.is_string:
            return frozenset({value.this}), None
    if isinstance(condition, exp.LT) and _is_column(condition.this, "occurred_at"):
        moment = condition.expression
        if (
            isinstance(moment, exp.Cast)
            and moment.to.this == exp.DataType.Type.TIMESTAMP
            and isinstance(moment.this, exp.Literal)
            and moment.this.is_string
        ):
            try:
                return None, dt.datetime.fromisoformat(moment.this.this)
            except ValueError:
                return None, None
    return None, None


def _is_column(node: exp.Expr, name: str) -> bool:
    return isinstance(node, exp.Column) and not node.table and node.name == name
