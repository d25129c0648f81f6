"""``score``: a lead score, the weighted sum of rules over profile columns and events.

```toml
[traits.lead_score]
kind = "score"
rules = [
  { when = "consent_email_marketing AND country = 'FR'", points = 10 },
  { event = "visit", points = 1, per_event = true, within = "30d", half_life = "14d" },
  { event = "order", points = 25, where = { channel = "web" } },
]
```

The score (DOUBLE, rounded to 2 decimals) is the sum of every rule's points; 0 when nothing
matches. A rule has ``points`` (any finite number, negative to subtract) and exactly one of:

* ``when`` — a condition over profile columns (built-ins, ``[attributes]`` and other traits'
  columns, which are then computed first), written and checked like a segment's ``where``; it
  scores ``points`` when true (NULL is not true).
* ``event`` — events of the type before ``as_of``, optionally filtered by ``where`` (property
  equality, as in ``aggregate``) and windowed by ``within`` (half-open ``[as_of − within,
  as_of)``). By default it scores ``points`` once if there is at least one such event;
  ``per_event = true`` scores ``points`` for each. With ``half_life``, an event ``age`` old
  (``as_of − occurred_at``, exact to the microsecond) is worth ``points × 0.5^(age /
  half_life)``; once-only rules then decay by the age of the most recent event.

Because the kind's settings see only the trait's own table, ``when`` is parsed and checked
there against the built-in columns (any other name is accepted as an attribute);
:meth:`Score.check` checks it against the config's real profile columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp

from segsync.errors import ConfigError
from segsync.model.profile import BUILTIN_COLUMNS, AttributeType
from segsync.model.where import compile_where, type_problems

from .base import (
    EventSettings,
    EventSummary,
    TraitContext,
    TraitKind,
    TraitSettings,
    WindowSettings,
    check_property_name,
    event_conditions,
    parse_duration,
    timestamp_literal,
)
from .notes import TraitWarning, staleness, watch

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["Score", "ScoreRule", "ScoreSettings", "compile_condition"]

_DOUBLE = exp.DataType.build("DOUBLE")
_EVENT_ONLY = ("per_event", "within", "half_life", "where")


def compile_condition(text: str, columns: Mapping[str, AttributeType]) -> exp.Expression:
    """``text`` compiled by :func:`segsync.model.where.compile_where`; ValueError with its
    message."""
    try:
        return compile_where(text, columns, location="when")
    except ConfigError as exc:
        message = str(exc).removeprefix("when: ")
        head, sep, tail = message.rpartition(" in: ")
        shown = head if sep and text.startswith(tail.removesuffix("...")) else message
        if not shown.startswith("expected"):
            shown = f"expected a valid condition: {shown}"
        raise ValueError(shown) from None


def _lenient_columns(text: str) -> dict[str, AttributeType]:
    """The built-in columns, plus every other name ``text`` uses (as a boolean, so a bare
    attribute reads as a condition): the settings cannot see ``[attributes]``."""
    columns: dict[str, AttributeType] = dict(BUILTIN_COLUMNS)
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except Exception:  # compile_where reports it
        return columns
    for column in tree.find_all(exp.Column):
        columns.setdefault(column.name.lower(), "boolean")
    return columns


class ScoreRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: float = Field(allow_inf_nan=False)
    when: str | None = None
    event: str | None = Field(default=None, min_length=1)
    where: dict[str, str | bool | int | float] = Field(default_factory=dict)
    per_event: bool = False
    within: str | None = None
    half_life: str | None = None

    @field_validator("when")
    @classmethod
    def _when(cls, v: str | None) -> str | None:
        if v is not None:
            compile_condition(v, _lenient_columns(v))
        return v

    @field_validator("where")
    @classmethod
    def _where(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            try:
                check_property_name(key)
            except ValueError as exc:
                raise ValueError(f"{exc} as each key, found {key!r}") from None
        return v

    @field_validator("within", "half_life")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.when is None) == (self.event is None):
            raise ValueError("expected exactly one of 'when' (a condition) or 'event' in a rule")
        if self.when is not None:
            extra = [k for k in _EVENT_ONLY if k in self.model_fields_set]
            if extra:
                raise ValueError(
                    f"expected no {', '.join(repr(k) for k in extra)} in a 'when' rule "
                    "(they belong to 'event' rules)"
                )
        return self

    def window(self) -> WindowSettings:
        assert self.event is not None
        return WindowSettings(event=self.event, where=self.where, within=self.within)


class ScoreSettings(TraitSettings):
    rules: list[ScoreRule] = Field(min_length=1)


class Score(TraitKind[ScoreSettings]):
    name: ClassVar[str] = "score"
    Settings: ClassVar[type[ScoreSettings]] = ScoreSettings

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "double"}

    def uses(self) -> frozenset[str]:
        names: set[str] = set()
        for rule in self.settings.rules:
            if rule.when is not None:
                names |= set(_lenient_columns(rule.when)) - set(BUILTIN_COLUMNS)
        return frozenset(names)

    def check(self, columns: Mapping[str, AttributeType]) -> list[str]:
        """Problems with the ``when`` conditions against the profile columns (built-ins,
        attributes and other traits' columns), as ``traits.NAME.rules.I.when: …``."""
        problems = []
        compiled: dict[str, exp.Expression] = {}
        for i, rule in enumerate(self.settings.rules):
            if rule.when is None:
                continue
            key = f"traits.{self.trait}.rules.{i}.when"
            try:
                compiled[key] = compile_condition(rule.when, columns)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
        # as a segment's: one that cannot run on its columns' types is named now, not after
        # a run has pulled every source
        problems += [
            f"{key}: {problem}" for key, problem in type_problems(compiled, columns).items()
        ]
        return problems

    def _decay(self, rule: ScoreRule, ctx: TraitContext) -> exp.Expr:
        """``0.5 ^ (age / half_life)`` in microseconds, or 1."""
        if rule.half_life is None:
            return exp.Literal.number(1)
        age = exp.DateDiff(
            this=timestamp_literal(ctx.as_of),
            expression=exp.column("occurred_at"),
            unit=exp.var("MICROSECOND"),
        )
        half_life = parse_duration(rule.half_life) // dt.timedelta(microseconds=1)
        return exp.Pow(
            this=exp.cast(exp.Literal.number("0.5"), _DOUBLE),
            expression=exp.Div(
                this=exp.cast(age, _DOUBLE), expression=exp.Literal.number(half_life)
            ),
        )

    def events(self, ctx: TraitContext) -> EventSummary | None:
        """Per ``event`` rule ``i``: ``r{i}``, its points times the decayed sum (``per_event``)
        or maximum over the rule's events; None without event rules."""
        columns: dict[str, exp.Expr] = {}
        filters: list[exp.Expr] = []
        for i, rule in enumerate(self.settings.rules):
            if rule.event is None:
                continue
            points = exp.cast(exp.Literal.number(repr(rule.points)), _DOUBLE)
            matches = exp.paren(event_conditions(rule.window(), ctx))
            filters.append(matches.copy())
            decayed = exp.Case(ifs=[exp.If(this=matches, true=self._decay(rule, ctx))])
            agg: exp.Expr = exp.Sum(this=decayed) if rule.per_event else exp.Max(this=decayed)
            columns[f"r{i}"] = exp.Mul(this=points, expression=agg)
        if not columns:
            return None
        newest = tuple(watch(settings, ctx) for settings in self._event_types())
        return EventSummary(where=exp.or_(*filters), columns=columns, newest=newest)

    def _event_types(self) -> list[EventSettings]:
        """The event types (and property filters) the event rules read, each once."""
        found: dict[tuple[str, tuple[Any, ...]], EventSettings] = {}
        for rule in self.settings.rules:
            if rule.event is not None:
                key = (rule.event, tuple(sorted(rule.where.items())))
                found.setdefault(key, EventSettings(event=rule.event, where=rule.where))
        return list(found.values())

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        """``no_events`` for an event rule whose type (and ``where``) has no event at all
        before the as-of: a misspelt type scores nobody, silently, otherwise. (A rule's window
        being empty is not warned about: a score counts recent events by design.)"""
        return [
            warning
            for settings in self._event_types()
            for warning in staleness(engine, self.trait, settings, ctx, [])
        ]

    def query(self, ctx: TraitContext) -> exp.Select:
        p_key = exp.column("profile_key", table="p")
        terms: list[exp.Expr] = []
        for i, rule in enumerate(self.settings.rules):
            if rule.when is not None:
                points = exp.cast(exp.Literal.number(repr(rule.points)), _DOUBLE)
                condition = compile_condition(rule.when, _lenient_columns(rule.when))
                for column in condition.find_all(exp.Column):
                    column.set("table", exp.to_identifier("p"))
                terms.append(
                    exp.Case(ifs=[exp.If(this=exp.paren(condition), true=points)]).else_(
                        exp.cast(exp.Literal.number(0), _DOUBLE)
                    )
                )
                continue
            terms.append(
                exp.Coalesce(
                    this=exp.column(f"r{i}", table="a"),
                    expressions=[exp.cast(exp.Literal.number(0), _DOUBLE)],
                )
            )
        total: exp.Expr = terms[0]
        for term in terms[1:]:
            total = exp.Add(this=total, expression=term)
        score = exp.Round(this=total, decimals=exp.Literal.number(2))
        query = exp.select(
            p_key, exp.alias_(exp.cast(score, _DOUBLE), self.trait, quoted=True)
        ).from_(exp.alias_(exp.to_table(ctx.profiles), "p", table=True))
        if any(rule.event is not None for rule in self.settings.rules):
            query = query.join(
                self.event_rows(ctx).subquery("a"),
                on=exp.EQ(this=exp.column("profile_key", table="a"), expression=p_key.copy()),
                join_type="left",
            )
        return query
