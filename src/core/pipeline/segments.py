"""Segments: compute every segment's (and group's) members from the profiles and their traits,
compare them with the last run's, and hand the result on as a :class:`Membership`.

The membership stays with the engine (a temporary table no other module names) until
:meth:`Membership.persist` makes it the current one at the end of a real run; plan and KPIs
read it through :class:`Membership`'s queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlglot import exp

from segsync.engine import DataError, Engine
from segsync.errors import ConfigError
from segsync.model.identity import mask_identifier
from segsync.model.segments import SegmentBook
from segsync.model.where import Compared, folded
from segsync.state.history import History
from segsync.traits import SEGMENT_PROFILES_VIEW
from segsync.traits.notes import TraitWarning

__all__ = ["Membership", "SegmentResult", "compute_segments"]

_TABLE = "_run_segment_members"
_IDENTIFIERS = frozenset({"email", "phone", "profile_key"})


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


@dataclass
class Membership:
    """Who is in which segment, as computed by this run."""

    engine: Engine
    results: dict[str, SegmentResult] = field(default_factory=dict)
    """Per segment and group, in the config's order: size, changes, KPIs."""
    warnings: list[TraitWarning] = field(default_factory=list)
    """Conditions that compare a column with a text no profile holds but in another case or
    with other spaces (:func:`unheld_texts`)."""

    def of(self, *segments: str) -> exp.Select:
        """``SELECT profile_key`` of the members of any of ``segments``."""
        return (
            exp.select("profile_key")
            .from_(_TABLE)
            .where(exp.column("segment").isin(*(exp.Literal.string(s) for s in segments)))
        )

    def rows(self) -> exp.Select:
        """``SELECT segment, profile_key`` of every segment."""
        return exp.select("segment", "profile_key").from_(_TABLE)

    def size(self, segment: str) -> int:
        return self.results[segment].size

    def persist(self, history: History, run_id: str, *, kpi_window: str | None) -> None:
        """Make this the current membership and record sizes and KPIs in the history."""
        history.record_segments(self.rows(), self.results.values(), run_id, kpi_window=kpi_window)


def compute_segments(
    engine: Engine, book: SegmentBook, history: History, *, as_of: dt.datetime | None = None
) -> Membership:
    """Compute every segment (and group), and compare with the last run's members.

    ``as_of`` (the run's as-of, naive UTC) is what ``current_date`` and ``now()`` mean in the
    conditions; without it they are the engine's clock. Nothing persistent is written. A
    condition that fails on the stored data is a :class:`ConfigError` naming its segment."""
    engine.create_empty(_TABLE, {"segment": "VARCHAR", "profile_key": "VARCHAR"}, temporary=True)
    for name in book.order():
        for query in book.statements(name, _TABLE, as_of=as_of):
            try:
                engine.insert(_TABLE, query)
            except DataError as exc:
                raise ConfigError(
                    f"{book.location}: segments.{name}: the condition fails on the stored "
                    f"profiles: {exc}; fix the condition (check the columns' types and "
                    "values), then run again"
                ) from None
    names = book.names()
    counts = _counts(engine, history)
    results: dict[str, SegmentResult] = {}
    for name in names:
        size, entered, left = counts.get(name, (0, 0, 0))
        parent, dot, _ = name.partition(".")
        result = SegmentResult(
            name=name, size=size, entered=entered, left=left, group_of=parent if dot else None
        )
        limit = None if dot else book.min_size(name)
        if limit is not None:
            result.min_size = limit[0]
            result.too_small = result.size < limit[0]
        results[name] = result
    return Membership(engine=engine, results=results, warnings=unheld_texts(engine, book))


def unheld_texts(engine: Engine, book: SegmentBook) -> list[TraitWarning]:
    """A warning for each text a condition compares a column with (``country = 'fr'``) that
    no profile holds, where some profiles hold it in another case or with spaces around it
    (``'FR'``), and for each ``LIKE`` pattern no profile matches but some match in another
    case: SQL compares texts exactly, so such a condition quietly selects nobody (or, negated,
    everybody). A text held in no spelling says nothing: the value may just be absent today.
    One scan of the profiles for every comparison; a second only for those nobody matched."""
    per_segment = {name: book.compared_texts(name) for name in book.segments}
    distinct = list(dict.fromkeys(c for found in per_segment.values() for c in found))
    if not distinct:
        return []
    # the profiles alone when they hold every column compared (the view joins the traits)
    held_by = {c.lower() for c in engine.columns("profiles")}
    source = "profiles" if {c.column for c in distinct} <= held_by else SEGMENT_PROFILES_VIEW
    count = exp.func("count", exp.Star())
    exact = engine.rows(
        exp.select(*(_filtered(count, _matches(c), f"n{i}") for i, c in enumerate(distinct))).from_(
            source
        )
    )[0]
    unheld = [c for c, n in zip(distinct, exact, strict=True) if not n]
    if not unheld:
        return []
    selects: list[exp.Expr] = []
    for i, compared in enumerate(unheld):
        loose = _matches(compared, loosely=True)
        selects.append(_filtered(count, loose, f"n{i}"))
        selects.append(_filtered(exp.func("min", _column(compared.column)), loose, f"v{i}"))
    row = engine.rows(exp.select(*selects).from_(source))[0]
    held = {c: (int(row[2 * i]), str(row[2 * i + 1])) for i, c in enumerate(unheld) if row[2 * i]}
    warnings: list[TraitWarning] = []
    for name, found in per_segment.items():
        for compared in found:
            if compared not in held:
                continue
            n, spelled = held[compared]
            column, text = compared.column, compared.text
            if column in _IDENTIFIERS:  # a person's address or number: never in a log
                spelled = mask_identifier(spelled)
            if compared.like:
                what = (
                    f"{column} LIKE {text!r} matches no profile, but {n:,} profile(s) match "
                    f"it in another case (such as {spelled!r}): LIKE counts case; use ILIKE"
                )
            else:
                what = (
                    f"{column} never holds {text!r}, but {n:,} profile(s) hold {spelled!r}: "
                    f"texts compare exactly (case and spaces count); write {spelled!r}, or "
                    f"compare lower({column})"
                )
            warnings.append(
                TraitWarning(
                    trait=f"segments.{name}",
                    code="text_not_held",
                    message=f"segments.{name}: {what}",
                )
            )
    return warnings


def _matches(compared: Compared, *, loosely: bool = False) -> exp.Expr:
    """The profile's column equals (matches) the text; ``loosely``: without case (for a
    text: nor the spaces around it)."""
    column, text = _column(compared.column), exp.Literal.string(compared.text)
    if compared.like:
        return exp.ILike(this=column, expression=text) if loosely else column.like(text)
    if loosely:
        return folded(column).eq(folded(text))
    return column.eq(text)


def _counts(engine: Engine, history: History) -> dict[str, tuple[int, int, int]]:
    """Per segment: members now, entered since the last run, left since."""
    new = exp.select("segment", "profile_key").from_(_TABLE)
    old = history.last_members()

    def per_segment(query: exp.Query, alias: str) -> exp.Select:
        return (
            exp.select("segment", exp.alias_(exp.func("count", exp.Star()), alias))
            .from_(query.subquery("q"))
            .group_by("segment")
        )

    sizes = dict(engine.rows(per_segment(new, "n")))
    entered = dict(engine.rows(per_segment(exp.except_(new.copy(), old.copy()), "n")))
    left = dict(engine.rows(per_segment(exp.except_(old, new), "n")))
    return {
        str(s): (int(sizes.get(s, 0)), int(entered.get(s, 0)), int(left.get(s, 0)))
        for s in {*sizes, *entered, *left}
    }


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _filtered(aggregate: exp.Expr, condition: exp.Expr, alias: str) -> exp.Expr:
    """``aggregate FILTER (WHERE condition) AS alias``."""
    return exp.alias_(exp.Filter(this=aggregate, expression=exp.Where(this=condition)), alias)
