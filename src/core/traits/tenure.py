"""``tenure``: whole days since the first event of a type before ``as_of`` — or from the first
event to the last.

```toml
[traits.customer_days]
kind = "tenure"
event = "order"
# end = "as_of"          # default; or "last_event": days from the first event to the last
```

Days are elapsed 24-hour periods, rounded down, as for ``recency``; a profile without such an
event gets NULL. Events at or after ``as_of`` are ignored.

With ``recency`` and ``aggregate`` (``count_days``), the per-customer summary of the BG/NBD
literature and the ``lifetimes`` package becomes traits (in days, for a daily summary):

- ``T`` (age: first purchase to the end of observation) = ``tenure``;
- ``recency`` in the BG/NBD sense (first purchase to the last, ``t_x``) = ``tenure`` with
  ``end = "last_event"`` (= ``T`` − the ``recency`` kind's days since the last event, up to
  rounding);
- ``frequency`` (repeat purchase days, ``x``) = ``count_days`` − 1.

An event type with no event at all before ``as_of`` warns once per run (``no_events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

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
from .recency import days_between

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["Tenure", "TenureSettings"]


class TenureSettings(EventSettings):
    end: Literal["as_of", "last_event"] = "as_of"
    """Count the days from the first event to ``as_of`` (default) or to the last event."""


class Tenure(TraitKind[TenureSettings]):
    name: ClassVar[str] = "tenure"
    Settings: ClassVar[type[TenureSettings]] = TenureSettings

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "integer"}

    def query(self, ctx: TraitContext) -> exp.Select:
        at = exp.column("occurred_at")
        span = (
            exp.select(
                "profile_key",
                exp.alias_(exp.Min(this=at), "first_at"),
                exp.alias_(exp.Max(this=at.copy()), "last_at"),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        end: exp.Expr = (
            timestamp_literal(ctx.as_of)
            if self.settings.end == "as_of"
            else exp.column("last_at", table="a")
        )
        days = days_between(exp.column("first_at", table="a"), end)
        return per_profile(span, output(days, self.trait, "integer"))

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        return staleness(engine, self.trait, self.settings, ctx, [])
