"""``value_tier``: historical value per profile, cut into named tiers.

```toml
[traits.tier]
kind = "value_tier"
# event = "order"     # default
measure = "total"     # or "average"
quantiles = { bronze = 0.5, silver = 0.8, gold = 0.95, platinum = 1.0 }
# thresholds = { bronze = 0, silver = 100, gold = 500 }   # instead of quantiles
# ties = "share"     # quantiles: equal values, equal tier (default "split")
# none = "no_orders"  # tier of profiles without a value (default NULL)
# within = "365d"     # or since/until; default: every order before as_of
```

Adds two columns: ``tier`` (the tier name) and ``tier_value`` (the measure) — for a trait named
``x``, ``x`` and ``x_value``.

Measures, over the trait's events in its window: ``total`` is the sum of their values as
DECIMAL (events without a value add nothing; a profile whose events have no value at all has
0); ``average`` is the mean of the values present (DOUBLE; NULL when none has a value).
Profiles without a measure (no matching event, or ``average`` without values) get no tier:
NULL, or ``none`` when set.

Exactly one of:

* ``quantiles`` — tier → cumulative upper bound in (0, 1], the largest being 1.0. Profiles with
  a measure are ranked 1..N by ``(measure, profile_key)``; rank ``i`` goes to the tier with the
  smallest bound ``b`` such that ``i ≤ b × N`` (compared exactly, in integers): with
  ``bronze = 0.5`` and 4 profiles, ranks 1 and 2 are bronze. ``ties``: with ``"split"`` (the
  default, what configs got before the setting existed) equal values are split by key (the
  larger key ranks higher); with ``"share"`` every profile of a tie group gets the tier of
  the group's middle member (the lower of the two middle ones: ``rank + (count − 1) div 2``
  with ``rank`` SQL's ``RANK()``), the tier ``split`` gives most of the group. With
  ``"split"``, a tie group of more than 10 % of the valued profiles cut across tiers is
  reported (a warning naming the numbers).
* ``thresholds`` — tier → lower bound in currency (at most 4 decimals): a profile gets the tier
  with the highest bound ≤ its measure, compared as DECIMAL (``average`` as
  ``total ≥ bound × count``, exactly). A measure below every bound gets no tier (NULL, or
  ``none``), like a profile without orders.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from segsync.model.profile import AttributeType

from .base import (
    EVENTS_TABLE,
    TraitContext,
    TraitKind,
    WindowSettings,
    event_conditions,
    output,
    per_profile,
)
from .notes import Limit, TraitWarning, ValueDomain, staleness
from .ties import WARN_SHARE, TieGroup, Ties, straddling, tie_groups

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["ValueTier", "ValueTierSettings", "tier_name_error"]

_DECIMAL = exp.DataType.build("DECIMAL(38,4)")


def tier_name_error(name: str) -> str | None:
    """Why ``name`` is not a valid tier name (None when it is)."""
    if name and name[0].isalpha() and name.replace("_", "").isalnum() and len(name) <= 64:
        return None
    return f"expected tier names of letters, digits and '_', starting with a letter, found {name!r}"


def _decimal(value: float | int | str, name: str = "") -> Decimal:
    where = f" for {name!r}" if name else ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a number{where}, found {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"expected a finite number{where}, found {value!r}")
    return amount


class ValueTierSettings(WindowSettings):
    event: str = Field(default="order", min_length=1)
    measure: Literal["total", "average"] = "total"
    quantiles: dict[str, float] | None = None
    """Tier → cumulative upper bound in (0, 1]."""
    thresholds: dict[str, float | int | str] | None = None
    """Tier → lower bound (currency)."""
    none: str | None = None
    """The tier of profiles without a measure (default NULL)."""
    ties: Ties | None = None
    """Quantiles only: ``"share"`` or ``"split"`` (absent: ``"split"``)."""

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("expected at least one tier")
        seen: dict[Fraction, str] = {}
        for name, bound in v.items():
            problem = tier_name_error(name)
            if problem:
                raise ValueError(problem)
            exact = Fraction(_decimal(bound, name))
            if not 0 < exact <= 1:
                raise ValueError(f"expected bounds in (0, 1]; {name!r} is {bound!r}")
            if exact in seen:
                raise ValueError(
                    f"expected distinct bounds; {seen[exact]!r} and {name!r} are both "
                    f"{float(exact)}"
                )
            seen[exact] = name
        if max(seen) != 1:
            raise ValueError("expected the largest bound to be 1.0 (every profile in a tier)")
        return v

    @field_validator("thresholds")
    @classmethod
    def _thresholds(
        cls, v: dict[str, float | int | str] | None
    ) -> dict[str, float | int | str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("expected at least one tier")
        seen: dict[Decimal, str] = {}
        for name, bound in v.items():
            problem = tier_name_error(name)
            if problem:
                raise ValueError(problem)
            amount = _decimal(bound, name)
            if amount != amount.quantize(Decimal("0.0001")) or abs(amount) >= Decimal(10) ** 14:
                raise ValueError(
                    f"expected amounts with at most 4 decimals below 10^14; {name!r} is {bound!r}"
                )
            if amount in seen:
                raise ValueError(
                    f"expected distinct bounds; {seen[amount]!r} and {name!r} are both {amount}"
                )
            seen[amount] = name
        return v

    @field_validator("none")
    @classmethod
    def _none(cls, v: str | None) -> str | None:
        if v is not None:
            problem = tier_name_error(v)
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _one_cut(self) -> Self:
        if (self.quantiles is None) == (self.thresholds is None):
            raise ValueError("expected exactly one of 'quantiles' or 'thresholds'")
        if self.ties is not None and self.quantiles is None:
            raise ValueError(
                "ties: applies to quantiles only (equal values always share a threshold tier)"
            )
        return self

    def tier_of_rank(self, rank: int, total: int) -> str:
        """The quantile tier of 1-based ``rank`` among ``total`` (``split``)."""
        for bound, name in self.ordered_quantiles():
            if rank * bound.denominator <= bound.numerator * total:
                return name
        return self.ordered_quantiles()[-1][1]

    def ordered_quantiles(self) -> list[tuple[Fraction, str]]:
        """(bound, tier), smallest bound first."""
        return sorted((Fraction(_decimal(b)), n) for n, b in (self.quantiles or {}).items())

    def ordered_thresholds(self) -> list[tuple[Decimal, str]]:
        """(lower bound, tier), highest bound first."""
        return sorted(((_decimal(b), n) for n, b in (self.thresholds or {}).items()), reverse=True)


class ValueTier(TraitKind[ValueTierSettings]):
    name: ClassVar[str] = "value_tier"
    Settings: ClassVar[type[ValueTierSettings]] = ValueTierSettings

    def columns(self) -> dict[str, AttributeType]:
        value: AttributeType = "decimal" if self.settings.measure == "total" else "double"
        return {self.trait: "text", f"{self.trait}_value": value}

    def text_values(self) -> dict[str, ValueDomain]:
        s = self.settings
        names = [n for _, n in s.ordered_quantiles()] or [n for _, n in s.ordered_thresholds()]
        if s.none is not None:
            names.append(s.none)
        return {self.trait: ValueDomain(values=tuple(dict.fromkeys(names)))}

    def query(self, ctx: TraitContext) -> exp.Select:
        s = self.settings
        value = exp.column("value")
        total = exp.cast(
            exp.Coalesce(this=exp.Sum(this=value), expressions=[exp.Literal.number(0)]), _DECIMAL
        )
        summary = (
            exp.select(
                "profile_key",
                exp.alias_(total, "total"),
                exp.alias_(exp.Count(this=value.copy()), "n"),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(s, ctx))
            .group_by("profile_key")
        )
        a_total, a_n = exp.column("total", table="a"), exp.column("n", table="a")
        has_value: exp.Expr = exp.not_(exp.Is(this=a_total.copy(), expression=exp.Null()))
        measure: exp.Expr = a_total.copy()
        if s.measure == "average":
            has_value = exp.GT(
                this=exp.Coalesce(this=a_n.copy(), expressions=[exp.Literal.number(0)]),
                expression=exp.Literal.number(0),
            )
            measure = exp.Div(
                this=exp.cast(a_total.copy(), exp.DataType.build("DOUBLE")),
                expression=exp.Nullif(this=a_n.copy(), expression=exp.Literal.number(0)),
            )
        none: exp.Expr = exp.Literal.string(s.none) if s.none is not None else exp.Null()
        if s.quantiles is not None:
            tier = self._by_rank(measure, has_value, none)
        else:
            tier = self._by_threshold(a_total, a_n, has_value, none)
        t = self.trait
        value_type = self.columns()[f"{t}_value"]
        value_column = exp.Case(ifs=[exp.If(this=has_value.copy(), true=measure.copy())])
        return per_profile(
            summary,
            output(tier, t, "text"),
            output(value_column, f"{t}_value", value_type),
        )

    def _by_rank(self, measure: exp.Expr, has_value: exp.Expr, none: exp.Expr) -> exp.Expr:
        """``CASE WHEN rank × den ≤ num × N THEN tier … END`` over the profiles with a value."""
        valued = exp.Case(ifs=[exp.If(this=has_value.copy(), true=exp.Literal.number(0))])
        # ranking only the valued profiles: those without a value sort after all of them
        rank: exp.Expr = exp.Window(
            this=exp.RowNumber(),
            partition_by=[valued.copy()],
            order=exp.Order(
                expressions=[
                    exp.Ordered(this=measure.copy(), nulls_first=False),
                    exp.Ordered(this=exp.column("profile_key", table="p")),
                ]
            ),
        )
        if self.settings.ties == "share":  # the rank of the tie group's middle member
            first = exp.Window(
                this=exp.Rank(),
                partition_by=[valued.copy()],
                order=exp.Order(expressions=[exp.Ordered(this=measure.copy(), nulls_first=False)]),
            )
            group = exp.Window(
                this=exp.Count(this=exp.Star()), partition_by=[valued.copy(), measure.copy()]
            )
            rank = exp.paren(
                exp.Add(
                    this=first,
                    expression=exp.IntDiv(
                        this=exp.paren(exp.Sub(this=group, expression=exp.Literal.number(1))),
                        expression=exp.Literal.number(2),
                    ),
                )
            )
        total = exp.Window(this=exp.Count(this=valued.copy()))
        case = exp.Case(default=none.copy())
        case = case.when(exp.not_(has_value.copy()), none.copy())
        for bound, name in self.settings.ordered_quantiles():
            condition = exp.LTE(
                this=exp.Mul(this=rank.copy(), expression=exp.Literal.number(bound.denominator)),
                expression=exp.Mul(
                    this=exp.Literal.number(bound.numerator), expression=total.copy()
                ),
            )
            case = case.when(condition, exp.Literal.string(name))
        return case

    def _by_threshold(
        self, total: exp.Expr, n: exp.Expr, has_value: exp.Expr, none: exp.Expr
    ) -> exp.Expr:
        case = exp.Case(default=none.copy())
        case = case.when(exp.not_(has_value.copy()), none.copy())
        for bound, name in self.settings.ordered_thresholds():
            literal = exp.cast(exp.Literal.string(str(bound)), _DECIMAL)
            limit: exp.Expr = literal
            if self.settings.measure == "average":
                limit = exp.Mul(this=literal, expression=n.copy())
            case = case.when(exp.GTE(this=total.copy(), expression=limit), exp.Literal.string(name))
        return case

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        s = self.settings
        warnings: list[TraitWarning] = []
        if s.quantiles is not None and s.ties != "share":
            warnings.extend(self._split_ties(engine, ctx))
        start, end = s.bounds(ctx.as_of)
        limits = []
        if start is not None:
            limits.append(
                Limit(
                    start,
                    "stale_window",
                    f"its window [{start.isoformat(sep=' ')}, {end.isoformat(sep=' ')}) holds "
                    "none and nobody has a tier",
                )
            )
        return [*warnings, *staleness(engine, self.trait, s, ctx, limits, end=end)]

    def _split_ties(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        """A tie group of more than 10 % of the valued profiles that ``split`` cuts across
        tiers."""
        if ctx.values is None or self.settings.quantiles is None:
            return []
        value = f"{self.trait}_value"
        total = int(
            engine.scalar(
                exp.select(exp.Count(this=exp.column(value, quoted=True))).from_(ctx.values)
            )
        )
        at_least = int(total * WARN_SHARE) + 1
        groups = [
            TieGroup(value=v, count=int(n), start=int(st))
            for v, n, st in engine.rows(tie_groups(ctx.values, value, at_least=at_least))
        ]
        found = straddling(groups, total, lambda p: self.settings.tier_of_rank(p + 1, total))
        out = []
        for group, low, high in found:
            shown: Any = group.value
            implicit = (
                " (ties is not set, so the rule is 'split')" if self.settings.ties is None else ""
            )
            out.append(
                TraitWarning(
                    trait=self.trait,
                    code="ties_split",
                    message=(
                        f"traits.{self.trait}: {group.count:,} of {total:,} valued profiles "
                        f"({group.count / total:.1%}) have the same {self.settings.measure} "
                        f"({shown}), and ties = 'split' puts them in tiers {low!r} to {high!r} "
                        f"by profile key{implicit}; set ties = 'share' so equal customers get "
                        "the same tier"
                    ),
                )
            )
        return out
