"""``aggregate``: count, sum, avg, min, max, first or last of a type of event in a window.

```toml
[traits.carts_30d]
kind = "aggregate"
event = "cart_abandoned"
function = "count"
within = "30d"
```

``field`` is ``"value"`` (the event's DECIMAL value, the default) or the name of a numeric
property, read as DOUBLE. Profiles with no matching event get 0 for ``count`` and ``sum``, NULL
otherwise. ``first``/``last`` are the field of the earliest/latest event by
``(occurred_at, event_id)`` — NULL when that event has no value.
"""

from __future__ import annotations

from typing import ClassVar, Literal

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

__all__ = ["Aggregate", "AggregateSettings"]

Function = Literal["count", "sum", "avg", "min", "max", "first", "last"]


class AggregateSettings(WindowSettings):
    function: Function
    field: str | None = None
    """``"value"`` (default) or a numeric property name; not used by ``count``."""

    @field_validator("field")
    @classmethod
    def _field(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("function") == "count":
            raise ValueError("expected no 'field' with function = 'count' (it counts events)")
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
        if function == "count":
            type_ = "integer"
        elif function == "avg" or self._field != "value":
            type_ = "double"
        else:
            type_ = "decimal"
        return {self.trait: type_}

    def _aggregate(self) -> exp.Expr:
        function = self.settings.function
        if function == "count":
            return exp.Count(this=exp.Star())
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
        if self.settings.function in ("count", "sum"):
            value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
        return per_profile(agg, output(value, column, type_))
