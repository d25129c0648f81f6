"""``lifecycle``: the stage of each profile from its orders, as of ``as_of``.

```toml
[traits.stage]
kind = "lifecycle"
# event = "order"       # default
# new_days = 30         # first order at most this many days ago: new
# active_days = 90      # last order at most this many days ago: active (or loyal)
# lost_days = 180       # last order more than this many days ago: lost
# loyal_orders = 3      # active with at least this many orders ...
# loyal_window = "365d" # ... in this window before as_of: loyal
# names = { loyal = "vip" }
```

Only events of the type before ``as_of`` (and matching ``where``) count. With ``first`` and
``last`` the earliest and latest of them, and ``D days ago`` meaning the moment
``as_of − D × 24 h``, the first rule that holds gives the stage:

1. ``prospect`` — no order;
2. ``new`` — ``first ≥ new_days ago`` (so a new customer is never loyal yet);
3. ``loyal`` — ``last ≥ active_days ago`` and at least ``loyal_orders`` orders in
   ``[as_of − loyal_window, as_of)``;
4. ``active`` — ``last ≥ active_days ago``;
5. ``at_risk`` — ``last ≥ lost_days ago``;
6. ``lost`` — otherwise (the last order is more than ``lost_days`` ago).

Every limit is the start of a half-open window ``[as_of − D days, as_of)`` as in
:class:`~segsync.traits.base.WindowSettings`: an order exactly ``new_days`` days before
``as_of`` still makes the profile new, one a microsecond earlier does not; an order exactly
``lost_days`` ago is at risk, one a microsecond earlier is lost. ``new_days ≤ active_days <
lost_days`` is required.

When the newest order of all is more than ``lost_days`` before ``as_of`` every customer is
``lost`` — on historical data with ``as_of`` left at today — and the run warns once
(``stale_lifecycle``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from segsync.model.profile import AttributeType

from .base import (
    EVENTS_TABLE,
    EventSettings,
    TraitContext,
    TraitKind,
    event_conditions,
    output,
    parse_duration,
    per_profile,
    timestamp_literal,
)
from .notes import Limit, TraitWarning, ValueDomain, staleness

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["STAGES", "Lifecycle", "LifecycleSettings"]

STAGES: tuple[str, ...] = ("prospect", "new", "loyal", "active", "at_risk", "lost")
"""The stages, in the order they are decided (the first that holds wins)."""

_DAY = dt.timedelta(days=1)


class LifecycleSettings(EventSettings):
    event: str = Field(default="order", min_length=1)
    new_days: int = Field(default=30, ge=1, le=36_500)
    active_days: int = Field(default=90, ge=1, le=36_500)
    lost_days: int = Field(default=180, ge=1, le=36_500)
    loyal_orders: int = Field(default=3, ge=1, le=1_000_000)
    loyal_window: str = "365d"
    names: dict[str, str] = Field(default_factory=dict)
    """Stage → the name to show instead, e.g. ``{loyal = "vip"}``."""

    @field_validator("loyal_window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for stage, name in v.items():
            if stage not in STAGES:
                raise ValueError(f"expected stages ({', '.join(STAGES)}) as keys, found {stage!r}")
            if not name.strip() or len(name) > 64:
                raise ValueError(
                    f"expected a non-empty name of at most 64 characters for {stage!r}, "
                    f"found {name!r}"
                )
        return v

    @model_validator(mode="after")
    def _order(self) -> Self:
        if not self.new_days <= self.active_days < self.lost_days:
            raise ValueError(
                "expected new_days ≤ active_days < lost_days, found "
                f"new_days = {self.new_days}, active_days = {self.active_days}, "
                f"lost_days = {self.lost_days}"
            )
        return self

    def stage_name(self, stage: str) -> str:
        return self.names.get(stage, stage)


class Lifecycle(TraitKind[LifecycleSettings]):
    name: ClassVar[str] = "lifecycle"
    Settings: ClassVar[type[LifecycleSettings]] = LifecycleSettings

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "text"}

    def text_values(self) -> dict[str, ValueDomain]:
        names = dict.fromkeys(self.settings.stage_name(stage) for stage in STAGES)
        return {self.trait: ValueDomain(values=tuple(names))}

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        s = self.settings
        lost = s.stage_name("lost")
        limit = Limit(
            ctx.as_of - s.lost_days * _DAY,
            "stale_lifecycle",
            f"every customer is {lost!r} (no order in the last lost_days = {s.lost_days} days)",
        )
        return staleness(engine, self.trait, s, ctx, [limit])

    def query(self, ctx: TraitContext) -> exp.Select:
        s = self.settings
        at = exp.column("occurred_at")
        loyal_start = timestamp_literal(ctx.as_of - parse_duration(s.loyal_window))
        recent = exp.If(this=exp.GTE(this=at, expression=loyal_start), true=exp.Literal.number(1))
        summary = (
            exp.select(
                "profile_key",
                exp.alias_(exp.Min(this=at.copy()), "first_at"),
                exp.alias_(exp.Max(this=at.copy()), "last_at"),
                exp.alias_(exp.Count(this=exp.Case(ifs=[recent])), "loyal_n"),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(s, ctx))
            .group_by("profile_key")
        )
        first, last = exp.column("first_at", table="a"), exp.column("last_at", table="a")

        def since(days: int) -> exp.Expr:
            return timestamp_literal(ctx.as_of - days * _DAY)

        active = exp.GTE(this=last.copy(), expression=since(s.active_days))
        loyal_n = exp.GTE(
            this=exp.column("loyal_n", table="a"), expression=exp.Literal.number(s.loyal_orders)
        )
        rules: list[tuple[str, exp.Expr]] = [
            ("prospect", exp.Is(this=first.copy(), expression=exp.Null())),
            ("new", exp.GTE(this=first.copy(), expression=since(s.new_days))),
            ("loyal", exp.and_(active.copy(), loyal_n)),
            ("active", active),
            ("at_risk", exp.GTE(this=last.copy(), expression=since(s.lost_days))),
        ]
        case = exp.Case(default=exp.Literal.string(s.stage_name("lost")))
        for stage, condition in rules:
            case = case.when(condition, exp.Literal.string(s.stage_name(stage)))
        return per_profile(summary, output(case, self.trait, "text"))
