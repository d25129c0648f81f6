"""``recency``: whole days since the last event of a type before ``as_of``.

```toml
[traits.days_since_order]
kind = "recency"
event = "order"
```

Days are elapsed 24-hour periods, rounded down: an order 23 hours before ``as_of`` is 0 days
ago, one 24 hours before is 1. Events at or after ``as_of`` are ignored; a profile with no such
event gets NULL. An event type with no event at all before ``as_of`` warns once per run
(``no_events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from segsync.model.profile import AttributeType

from .base import (
    EVENTS_TABLE,
    EventSettings,
    TraitContext,
    TraitKind,
    event_conditions,
    output,
    per_profile,
    timestamp_literal,
)
from .notes import TraitWarning, staleness

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["MICROSECONDS_PER_DAY", "Recency", "RecencySettings", "days_between"]

MICROSECONDS_PER_DAY = 86_400_000_000


class RecencySettings(EventSettings):
    pass


def days_between(earlier: exp.Expr, later: exp.Expr) -> exp.Expr:
    """Whole elapsed days from ``earlier`` to ``later`` (``later`` ≥ ``earlier``), rounded down."""
    micros = exp.DateDiff(this=later, expression=earlier, unit=exp.var("MICROSECOND"))
    return exp.IntDiv(this=micros, expression=exp.Literal.number(MICROSECONDS_PER_DAY))


class Recency(TraitKind[RecencySettings]):
    name: ClassVar[str] = "recency"
    Settings: ClassVar[type[RecencySettings]] = RecencySettings

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "integer"}

    def query(self, ctx: TraitContext) -> exp.Select:
        last = (
            exp.select("profile_key", exp.alias_(exp.Max(this=exp.column("occurred_at")), "last"))
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        days = days_between(exp.column("last", table="a"), timestamp_literal(ctx.as_of))
        return per_profile(last, output(days, self.trait, "integer"))

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        return staleness(engine, self.trait, self.settings, ctx, [])
