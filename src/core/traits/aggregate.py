"""``aggregate``: count, sum, avg, min, max, first or last of a type of event in a window;
distinct days or weeks with one; the time of the first or last.

```toml
[traits.carts_30d]
kind = "aggregate"
event = "cart_abandoned"
function = "count"
within = "30d"
```

``field`` is ``"value"`` (the event's DECIMAL value, the default) or the name of a numeric
property, read as DOUBLE. Profiles with no matching event get 0 for ``count``, ``count_days``,
``count_weeks`` and ``sum``, NULL otherwise. ``first``/``last`` are the field of the
earliest/latest event by ``(occurred_at, event_id)`` — NULL when that event has no value.

Functions that read no field (``field`` is refused with them):

- ``count_days`` / ``count_weeks`` — the number of distinct UTC calendar days / weeks (Monday
  to Sunday) with at least one matching event: the frequency of the BG/NBD literature
  (``lifetimes``' ``frequency`` is ``count_days − 1``: repeat days);
- ``first_at`` / ``last_at`` — the time of the earliest / latest matching event (TIMESTAMP).

A window's events all older than its start warn once per run (``stale_window``), as does an
event type with no event at all before ``as_of`` (``no_events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import ValidationInfo, field_validator
from sqlglot import exp

from segsync.model.profile import AttributeType

from .base import (
    EVENTS_TABLE,
    TraitContext,
    TraitKind,
    WindowSettings,
    check_property_name,
    event_conditions,
    output,
    per_profile,
    property_value,
)
from .notes import Limit, TraitWarning, staleness

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["FIELDLESS", "Aggregate", "AggregateSettings"]

Function = Literal[
    "count",
    "count_days",
    "count_weeks",
    "sum",
    "avg",
    "min",
    "max",
    "first",
    "last",
    "first_at",
    "last_at",
]
FIELDLESS = frozenset({"count", "count_days", "count_weeks", "first_at", "last_at"})
"""The functions that read no field: counts and event times."""
_COUNTS = frozenset({"count", "count_days", "count_weeks", "sum"})
"""The functions that give 0, not NULL, without a matching event."""


class AggregateSettings(WindowSettings):
    function: Function
    field: str | None = None
    """``"value"`` (default) or a numeric property name; not used by the :data:`FIELDLESS`
    functions."""

    @field_validator("field")
    @classmethod
    def _field(cls, v: str | None, info: ValidationInfo) -> str | None:
        function = info.data.get("function")
        if v is not None and function in FIELDLESS:
            what = "times" if str(function).endswith("_at") else "counts"
            raise ValueError(f"expected no 'field' with function = {function!r} (it {what} events)")
        return v if v is None or v == "value" else check_property_name(v)


class Aggregate(TraitKind[AggregateSettings]):
    name: ClassVar[str] = "aggregate"
    Settings: ClassVar[type[AggregateSettings]] = AggregateSettings

    @property
    def _field(self) -> str:
        return self.settings.field or "value"

    def columns(self) -> dict[str, AttributeType]:
        function = self.settings.function
        type_: AttributeType
        if function in ("count", "count_days", "count_weeks"):
            type_ = "integer"
        elif function in ("first_at", "last_at"):
            type_ = "timestamp"
        elif function == "avg" or self._field != "value":
            type_ = "double"
        else:
            type_ = "decimal"
        return {self.trait: type_}

    def _aggregate(self) -> exp.Expr:
        function = self.settings.function
        at = exp.column("occurred_at")
        if function == "count":
            return exp.Count(this=exp.Star())
        if function == "count_days":
            day = exp.cast(at, exp.DataType.Type.DATE)
            return exp.Count(this=exp.Distinct(expressions=[day]))
        if function == "count_weeks":
            week = exp.TimestampTrunc(this=at, unit=exp.var("WEEK"))
            return exp.Count(this=exp.Distinct(expressions=[week]))
        if function == "first_at":
            return exp.Min(this=at)
        if function == "last_at":
            return exp.Max(this=at)
        field = exp.column("value") if self._field == "value" else property_value(self._field)
        if function in ("first", "last"):
            desc = function == "last"
            order = exp.Order(
                this=field,
                expressions=[
                    exp.Ordered(this=exp.column("occurred_at"), desc=desc),
                    exp.Ordered(this=exp.column("event_id"), desc=desc),
                ],
            )
            return exp.First(this=order)
        cls: type[exp.Func] = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[
            function
        ]
        return cls(this=field)

    def query(self, ctx: TraitContext) -> exp.Select:
        (column, type_), *_ = self.columns().items()
        agg = (
            exp.select("profile_key", exp.alias_(self._aggregate(), "agg"))
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        value: exp.Expr = exp.column("agg", table="a")
        if self.settings.function in _COUNTS:
            value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
        return per_profile(agg, output(value, column, type_))

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        start, end = self.settings.bounds(ctx.as_of)
        limits = []
        if start is not None:
            empty = "0" if self.settings.function in _COUNTS else "NULL"
            limits.append(
                Limit(
                    start,
                    "stale_window",
                    f"its window [{start.isoformat(sep=' ')}, {end.isoformat(sep=' ')}) holds "
                    f"none and every profile gets {empty}",
                )
            )
        return staleness(engine, self.trait, self.settings, ctx, limits, end=end)
