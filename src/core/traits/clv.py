"""``clv``: customer lifetime value and churn risk from BG/NBD and Gamma-Gamma fitted on the
store's own events (needs the ``predict`` extra: ``pip install 'segsync[predict]'``).

```toml
[traits.clv]
kind = "clv"
# event = "order"            # default; where, within, since, until, as_of as for aggregate
horizon = "365d"             # the future the predictions cover (h, d or w)
# period = "day"             # purchases in one day (or "week", "month") count as one
# discount_rate = 0.0        # per year
# discount_periods = 12      # the horizon cut into this many periods, each discounted
# margin = 1.0               # share of spend that is value
# penalty = 0.0              # L2 penalty on the log-parameters (keeps a weak fit finite)
# min_repeat_buyers = 100    # fewer: no fit, the columns stay NULL (a warning says why)
# churn_risk = { low = 0.0, medium = 0.5, high = 0.8 }   # bands of P(no purchase in horizon)
```

For a trait ``NAME`` and ``horizon = "365d"``, the columns are (NULL for profiles without an
event, and for everyone when the model could not be fitted):

- ``NAME_expected_purchases_365d`` — BG/NBD expected purchases in the next 365 days;
- ``NAME_p_alive`` — BG/NBD probability the customer is still "alive" (has not dropped out);
  1 for customers without a repeat purchase, however long ago they bought (the model lets
  customers drop out only after a repeat purchase) — so churn risk is not read from it;
- ``NAME_p_purchase_365d`` — probability of at least one purchase in the next 365 days;
- ``NAME_expected_value_365d`` — the value expected over the horizon: ``margin`` × the
  Gamma-Gamma expected spend per purchase × the purchases expected in each of
  ``discount_periods`` equal periods, each discounted to now at ``discount_rate`` a year (at
  the end of its period; the convention of ``lifetimes``' ``customer_lifetime_value``);
- ``NAME_churn_risk`` — the band of ``1 − p_purchase`` (the chance of no purchase within the
  horizon): the band with the highest lower bound at or below it.

**Summary** (in SQL, per profile; the definitions of the BG/NBD literature and ``lifetimes``):
the trait's events before ``as_of`` (in its window) are grouped by calendar ``period`` (UTC
days, Monday-based weeks, or months), a period's values summed; ``x`` = periods with an event
− 1, ``t_x`` = last period − first, ``T`` = the period of the last moment before ``as_of`` −
first, all in periods (the model's time unit); ``m`` = the mean value of the repeat periods.

**Fit** (:mod:`segsync.predict`, in :meth:`Clv.prepare`): BG/NBD by maximum likelihood on
every customer's ``(x, t_x, T)``; Gamma-Gamma on the repeat buyers with ``m > 0`` (others are
given the population's mean spend). Fewer than ``min_repeat_buyers`` repeat buyers, a fit that
does not converge, or ``q ≤ 1`` (infinite mean spend) leave the columns NULL with a warning
(``model_failed``) — the run goes on. The scores are written to a working table the trait's
query joins; the diagnostics (parameters, standard errors, log-likelihoods, the spend–frequency
correlation Gamma-Gamma assumes to be small, band sizes) go to the run report
(``RunReport.models``) and the store's ``trait_models`` table.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator
from sqlglot import exp

from segsync.errors import ModelError
from segsync.model.profile import AttributeType

from .base import (
    EVENTS_TABLE,
    PROFILES_TABLE,
    TraitContext,
    TraitKind,
    WindowSettings,
    event_conditions,
    output,
    parse_duration,
    per_profile,
    timestamp_literal,
)
from .notes import Limit, ModelSummary, TraitWarning, ValueDomain, staleness
from .value_tier import tier_name_error

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["Clv", "ClvSettings", "period_index"]

log = logging.getLogger("segsync.traits")

Period = Literal["day", "week", "month"]
_PERIOD_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
_DOUBLE = exp.DataType.build("DOUBLE")
_MICROSECOND = dt.timedelta(microseconds=1)
_SUMMARY = "_segsync_clv_"
_SCORES = "_segsync_clv_scores_"
_SCORE_COLUMNS = ("i", "purchases", "alive", "buy", "value")
_CORRELATION_WARNING = 0.3


class ClvSettings(WindowSettings):
    event: str = Field(default="order", min_length=1)
    horizon: str = "365d"
    period: Period = "day"
    discount_rate: float = Field(default=0.0, ge=0.0, le=10.0, allow_inf_nan=False)
    """Per year."""
    discount_periods: int = Field(default=12, ge=1, le=1000)
    margin: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    penalty: float = Field(default=0.0, ge=0.0, le=100.0, allow_inf_nan=False)
    min_repeat_buyers: int = Field(default=100, ge=2)
    churn_risk: dict[str, float] = Field(
        default_factory=lambda: {"low": 0.0, "medium": 0.5, "high": 0.8}
    )
    """Band → lowest probability of no purchase within the horizon."""

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("churn_risk")
    @classmethod
    def _bands(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("expected at least one band")
        seen: dict[float, str] = {}
        for name, bound in v.items():
            problem = tier_name_error(name)
            if problem:
                raise ValueError(problem.replace("tier names", "band names"))
            if not 0.0 <= bound <= 1.0:
                raise ValueError(f"expected bounds from 0 to 1; {name!r} is {bound!r}")
            if bound in seen:
                raise ValueError(
                    f"expected distinct bounds; {seen[bound]!r} and {name!r} are both {bound}"
                )
            seen[bound] = name
        if 0.0 not in seen:
            raise ValueError("expected one band from 0 (every probability in a band)")
        return v

    def horizon_units(self) -> float:
        """The horizon in the model's time unit (one ``period``)."""
        return parse_duration(self.horizon) / dt.timedelta(days=1) / _PERIOD_DAYS[self.period]


def period_index(moment: exp.Expr, period: Period) -> exp.Expr:
    """The calendar period of ``moment`` as an integer (UTC days since 1970-01-01, weeks
    since the Monday 1970-01-05, or months since January 1970)."""
    day = exp.cast(moment, exp.DataType.Type.DATE)
    if period == "month":
        origin = exp.cast(exp.Literal.string("1970-01-01"), exp.DataType.Type.DATE)
        return exp.DateDiff(this=day, expression=origin, unit=exp.var("MONTH"))
    if period == "week":
        monday = exp.cast(
            exp.TimestampTrunc(this=moment.copy(), unit=exp.var("WEEK")), exp.DataType.Type.DATE
        )
        origin = exp.cast(exp.Literal.string("1970-01-05"), exp.DataType.Type.DATE)
        days = exp.DateDiff(this=monday, expression=origin, unit=exp.var("DAY"))
        return exp.IntDiv(this=days, expression=exp.Literal.number(7))
    origin = exp.cast(exp.Literal.string("1970-01-01"), exp.DataType.Type.DATE)
    return exp.DateDiff(this=day, expression=origin, unit=exp.var("DAY"))


def _correlation(a: Any, b: Any) -> float:
    """Pearson's correlation of two arrays; NaN when either is constant (or too short)."""
    if a.size < 3:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    scale = float((da @ da) * (db @ db)) ** 0.5
    return float(da @ db) / scale if scale > 0 else float("nan")


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class Clv(TraitKind[ClvSettings]):
    name: ClassVar[str] = "clv"
    Settings: ClassVar[type[ClvSettings]] = ClvSettings
    needs: ClassVar[tuple[str, ...]] = ("numpy", "scipy")
    extra: ClassVar[str | None] = "predict"

    def __init__(self, trait: str, settings: ClvSettings) -> None:
        super().__init__(trait, settings)
        self._summary: ModelSummary | None = None
        self._fitted = False
        self._warnings: list[TraitWarning] = []

    # -- columns -----------------------------------------------------------------------

    def _names(self) -> dict[str, str]:
        t, h = self.trait, self.settings.horizon
        return {
            "purchases": f"{t}_expected_purchases_{h}",
            "alive": f"{t}_p_alive",
            "buy": f"{t}_p_purchase_{h}",
            "value": f"{t}_expected_value_{h}",
            "band": f"{t}_churn_risk",
        }

    def columns(self) -> dict[str, AttributeType]:
        names = self._names()
        return {
            names["purchases"]: "double",
            names["alive"]: "double",
            names["buy"]: "double",
            names["value"]: "double",
            names["band"]: "text",
        }

    def text_values(self) -> dict[str, ValueDomain]:
        bands = sorted(self.settings.churn_risk, key=lambda b: self.settings.churn_risk[b])
        return {self._names()["band"]: ValueDomain(values=tuple(bands))}

    @property
    def _summary_table(self) -> str:
        return f"{_SUMMARY}{self.trait}"

    @property
    def _scores_table(self) -> str:
        return f"{_SCORES}{self.trait}"

    # -- fit ---------------------------------------------------------------------------

    def prepare(self, engine: Engine, ctx: TraitContext) -> None:
        """Summarise every buyer in SQL, fit both models in numpy, write the scores back."""
        self._fitted, self._summary, self._warnings = False, None, []
        s = self.settings
        _, end = s.bounds(ctx.as_of)
        last = end - _MICROSECOND
        engine.create_table(self._summary_table, self._summary_query(ctx, last), temporary=True)
        base = ModelSummary(
            trait=self.trait,
            kind=self.name,
            status="failed",
            as_of=ctx.as_of,
            details={
                "unit": s.period,
                "horizon": s.horizon,
                "horizon_units": f"{s.horizon_units():.6g}",
                "end_of_observation": last.isoformat(sep=" "),
                "discount_rate": f"{s.discount_rate:g}",
                "margin": f"{s.margin:g}",
                "penalty": f"{s.penalty:g}",
            },
        )
        try:
            self._summary = self._fit(engine, base)
            self._fitted = True
        except (ModelError, ValueError) as exc:
            message = f"traits.{self.trait}: the CLV model was not fitted: {exc}"
            self._summary = base.model_copy(update={"message": str(exc)})
            self._warnings.append(
                TraitWarning(trait=self.trait, code="model_failed", message=message)
            )

    def _summary_query(self, ctx: TraitContext, last: dt.datetime) -> exp.Select:
        s = self.settings
        per_period = (
            exp.select(
                "profile_key",
                exp.alias_(period_index(exp.column("occurred_at"), s.period), "pi"),
                exp.alias_(
                    exp.Sum(
                        this=exp.Coalesce(
                            this=exp.cast(exp.column("value"), _DOUBLE),
                            expressions=[exp.cast(exp.Literal.number(0), _DOUBLE)],
                        )
                    ),
                    "v",
                ),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(s, ctx))
            .group_by("profile_key", "pi")
        )
        numbered = exp.select(
            "profile_key",
            "pi",
            "v",
            exp.alias_(
                exp.Window(
                    this=exp.RowNumber(),
                    partition_by=[exp.column("profile_key")],
                    order=exp.Order(expressions=[exp.Ordered(this=exp.column("pi"))]),
                ),
                "n",
            ),
        ).from_(per_period.subquery("p"))
        first_value = exp.Sum(
            this=exp.Case(
                ifs=[
                    exp.If(
                        this=exp.EQ(this=exp.column("n"), expression=exp.Literal.number(1)),
                        true=exp.column("v"),
                    )
                ]
            )
        )
        row = exp.Sub(
            this=exp.Window(
                this=exp.RowNumber(),
                order=exp.Order(expressions=[exp.Ordered(this=exp.column("profile_key"))]),
            ),
            expression=exp.Literal.number(1),
        )
        end_period = period_index(timestamp_literal(last), s.period)
        first = exp.Min(this=exp.column("pi"))
        return (
            exp.select(
                "profile_key",
                exp.alias_(row, "i"),
                exp.alias_(
                    exp.Sub(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)),
                    "x",
                ),
                exp.alias_(exp.Sub(this=exp.Max(this=exp.column("pi")), expression=first), "t_x"),
                exp.alias_(exp.Sub(this=end_period, expression=first.copy()), "age"),
                exp.alias_(
                    exp.Sub(this=exp.Sum(this=exp.column("v")), expression=first_value),
                    "repeat_value",
                ),
            )
            .from_(numbered.subquery("r"))
            .group_by("profile_key")
        )

    def _fit(self, engine: Engine, base: ModelSummary) -> ModelSummary:
        import numpy as np

        from segsync.predict import (
            conditional_expected_average_profit,
            fit_bgnbd,
            fit_gammagamma,
        )
        from segsync.predict.base import group_rows
        from segsync.predict.bgnbd import (
            discounted_expected_purchases,
            expected_purchases,
            p_alive,
            p_purchase,
        )

        s = self.settings
        data = engine.arrays(
            exp.select("x", "t_x", "age", "repeat_value").from_(self._summary_table).order_by("i")
        )
        x = np.asarray(data["x"], dtype=np.float64)
        t_x = np.asarray(data["t_x"], dtype=np.float64)
        age = np.asarray(data["age"], dtype=np.float64)
        repeat_value = np.nan_to_num(np.asarray(data["repeat_value"], dtype=np.float64))
        customers, repeaters = int(x.size), int((x > 0).sum())
        if repeaters < s.min_repeat_buyers:
            raise ModelError(
                f"{repeaters:,} repeat buyers among {customers:,} customers, fewer than "
                f"min_repeat_buyers = {s.min_repeat_buyers:,} (too little history to fit; "
                "lower it, widen the window, or pin the as-of to the data's end)"
            )
        monetary = np.divide(repeat_value, x, out=np.zeros_like(x), where=x > 0)
        spend_rows = (x > 0) & (monetary > 0)
        bg = fit_bgnbd(x, t_x, age, penalty=s.penalty)
        gg = fit_gammagamma(x[spend_rows], monetary[spend_rows], penalty=s.penalty)
        mean_spend = gg.params.mean_spend  # ModelError when q <= 1

        horizon = s.horizon_units()
        years = parse_duration(s.horizon) / dt.timedelta(days=365)
        per_period = (1.0 + s.discount_rate) ** (years / s.discount_periods) - 1.0
        (ux, utx, uage), _, inverse = group_rows(x, t_x, age)
        purchases = expected_purchases(bg.params, horizon, ux, utx, uage)[inverse]
        alive = p_alive(bg.params, ux, utx, uage)[inverse]
        buy = p_purchase(bg.params, horizon, ux, utx, uage)[inverse]
        discounted = discounted_expected_purchases(
            bg.params,
            x,
            t_x,
            age,
            horizon=horizon,
            periods=s.discount_periods,
            discount_rate=per_period,
        )
        spend = conditional_expected_average_profit(
            gg.params, np.where(spend_rows, x, 0.0), monetary
        )
        value = s.margin * spend * discounted

        engine.create_empty(
            self._scores_table,
            {"i": "BIGINT", **{c: "DOUBLE" for c in _SCORE_COLUMNS[1:]}},
            temporary=True,
        )
        engine.insert_arrays(
            self._scores_table,
            {
                "i": np.arange(customers, dtype=np.int64),
                "purchases": purchases,
                "alive": alive,
                "buy": buy,
                "value": value,
            },
        )
        churn = 1.0 - buy
        bands = {name: 0 for name in self.settings.churn_risk}
        for name, count in zip(*self._band_counts(churn), strict=True):
            bands[name] = count
        correlation = _correlation(x[spend_rows], monetary[spend_rows])
        bp, gp = bg.params, gg.params
        summary = base.model_copy(
            update={
                "status": "fitted",
                "rows": {
                    "customers": customers,
                    "repeat_buyers": repeaters,
                    "spend_rows": int(spend_rows.sum()),
                    "repeat_buyers_without_spend": int(repeaters - spend_rows.sum()),
                },
                "parameters": {
                    "r": bp.r,
                    "alpha": bp.alpha,
                    "a": bp.a,
                    "b": bp.b,
                    "p": gp.p,
                    "q": gp.q,
                    "v": gp.v,
                },
                "standard_errors": {
                    name: _number(se)
                    for name, se in zip(
                        ("r", "alpha", "a", "b", "p", "q", "v"),
                        (*bg.standard_errors, *gg.standard_errors),
                        strict=True,
                    )
                },
                "metrics": {
                    "bgnbd_log_likelihood": bg.log_likelihood,
                    "gammagamma_log_likelihood": gg.log_likelihood,
                    "spend_frequency_correlation": _number(correlation),
                    "mean_spend_per_purchase": mean_spend,
                    "mean_p_alive": float(alive.mean()),
                    "mean_p_purchase": float(buy.mean()),
                    "mean_expected_purchases": float(purchases.mean()),
                    "mean_expected_value": float(value.mean()),
                    "total_expected_value": float(value.sum()),
                },
                "bands": bands,
            }
        )
        log.info(
            "traits.%s: BG/NBD r=%.4g alpha=%.4g a=%.4g b=%.4g (per %s) and Gamma-Gamma p=%.4g "
            "q=%.4g v=%.4g on %s customers (%s repeat buyers); mean P(alive) %.3f, mean "
            "P(purchase in %s) %.3f; churn risk %s",
            self.trait, bp.r, bp.alpha, bp.a, bp.b, s.period, gp.p, gp.q, gp.v,
            f"{customers:,}", f"{repeaters:,}", float(alive.mean()), s.horizon,
            float(buy.mean()), ", ".join(f"{k} {v:,}" for k, v in bands.items()),
        )  # fmt: skip
        if math.isfinite(correlation) and abs(correlation) > _CORRELATION_WARNING:
            self._warnings.append(
                TraitWarning(
                    trait=self.trait,
                    code="model_assumption",
                    message=(
                        f"traits.{self.trait}: spend per purchase and purchase frequency are "
                        f"correlated (r = {correlation:.2f} over {int(spend_rows.sum()):,} "
                        "repeat buyers); the Gamma-Gamma model assumes they are not, so "
                        "expected values lean towards the average"
                    ),
                )
            )
        return summary

    def _band_counts(self, churn: Any) -> tuple[list[str], list[int]]:
        import numpy as np

        ordered = sorted(self.settings.churn_risk.items(), key=lambda item: item[1])
        names = [n for n, _ in ordered]
        bounds = np.array([b for _, b in ordered])
        which = np.searchsorted(bounds, churn, side="right") - 1
        counts = np.bincount(np.clip(which, 0, None), minlength=len(names))
        return names, [int(c) for c in counts]

    # -- values ------------------------------------------------------------------------

    def _band(self, buy: exp.Expr) -> exp.Expr:
        churn = exp.Sub(this=exp.cast(exp.Literal.number(1), _DOUBLE), expression=buy)
        case = exp.Case()
        for name, bound in sorted(self.settings.churn_risk.items(), key=lambda i: -i[1]):
            literal = exp.cast(exp.Literal.string(repr(float(bound))), _DOUBLE)
            case = case.when(
                exp.GTE(this=churn.copy(), expression=literal), exp.Literal.string(name)
            )
        return case

    def query(self, ctx: TraitContext) -> exp.Select:
        names = self._names()
        types = self.columns()
        if not self._fitted:
            return exp.select(
                exp.column("profile_key", table="p"),
                *(output(exp.Null(), n, types[n]) for n in names.values()),
            ).from_(exp.alias_(exp.to_table(PROFILES_TABLE), "p", table=True))
        scored = (
            exp.select(
                exp.column("profile_key", table="s"),
                *(exp.column(c, table="c") for c in _SCORE_COLUMNS[1:]),
            )
            .from_(exp.alias_(exp.to_table(self._summary_table), "s", table=True))
            .join(
                exp.alias_(exp.to_table(self._scores_table), "c", table=True),
                on=exp.EQ(this=exp.column("i", table="c"), expression=exp.column("i", table="s")),
            )
        )
        a = {c: exp.column(c, table="a") for c in _SCORE_COLUMNS[1:]}
        return per_profile(
            scored,
            output(a["purchases"], names["purchases"], "double"),
            output(a["alive"], names["alive"], "double"),
            output(a["buy"], names["buy"], "double"),
            output(a["value"], names["value"], "double"),
            output(self._band(a["buy"].copy()), names["band"], "text"),
        )

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        engine.drop(self._summary_table, self._scores_table)
        s = self.settings
        _, end = s.bounds(ctx.as_of)
        limit = Limit(
            end - parse_duration(s.horizon),
            "stale_model",
            f"nobody bought in the last {s.horizon} (the horizon): the predictions extrapolate "
            "from old behaviour and read most customers as gone",
        )
        return [*self._warnings, *staleness(engine, self.trait, s, ctx, [limit], end=end)]

    def model(self) -> ModelSummary | None:
        return self._summary
