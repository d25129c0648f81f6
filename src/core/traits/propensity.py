"""``propensity``: the probability of an event in the next window, from a logistic model trained
on the store's own history and judged on a later holdout (needs the ``predict`` extra).

```toml
[traits.buy_30d]
kind = "propensity"
event = "order"               # the event to predict (where = {...} filters it)
window = "30d"                # ... happening within this window after as_of
min_auc = 0.6                 # refuse to score below this holdout AUC (default 0.6)
# penalty = 1.0               # L2 regularisation (scikit-learn's C = 1 / penalty)
# balanced = false            # weigh the rare outcome up
# training_windows = 1        # training cut-offs, one window apart
# sample = 200000             # profiles per cut-off (deterministic sample)

[traits.buy_30d.features.orders_365d]
event = "order"
function = "count"            # an aggregate (kind = "aggregate", the default) ...
within = "365d"

[traits.buy_30d.features.spend_365d]
event = "order"
function = "sum"
within = "365d"
transform = "log1p"           # fit on ln(1 + x)

[traits.buy_30d.features.days_since_order]
kind = "recency"              # ... or a recency, or a tenure
event = "order"
```

Adds one column, ``NAME`` (double): the predicted probability of at least one matching event
in ``[as_of, as_of + window)``, for the profiles with at least one event (of any kind) before
``as_of`` — the population the model learns from; NULL for the others, and for everyone when
the model is refused or cannot be fitted.

**Features** are defined inline, as ``aggregate`` (numeric functions: not ``first_at`` /
``last_at``), ``recency`` or ``tenure`` traits without ``as_of``/``since``/``until``, because
the model must compute each of them as of past moments too (a profile column such as
``orders_count`` holds today's value and would leak the future into the training rows). A
feature that can be NULL (``recency`` and ``tenure`` without an event; ``avg``, ``min``,
``max``, ``first``, ``last`` without a value) enters the model as 0 plus an indicator
``NAME_missing``; ``transform = "log1p"`` reads ``ln(1 + x)`` (missing for ``x ≤ −1``).

**Time split** (in :meth:`Propensity.prepare`), with ``w`` the window:

- holdout: features as of ``as_of − w``, label = a target event in ``[as_of − w, as_of)``;
- training: features as of ``as_of − (k + 1)·w``, labels in the window after it, for
  ``k = 1..training_windows`` (stacked);
- rows are the profiles with at least one event of any kind before the cut-off (people the
  shop knew then), at most ``sample`` per cut-off: those with the smallest
  ``md5('<seed>:' || profile_key)``.

:func:`segsync.predict.propensity.fit_propensity` fits the model on the training rows and
judges it on the holdout: AUC, Brier score, base rate and a calibration table (``bins``
groups) go to the run report (``RunReport.models``) and the store's ``trait_models`` table. A
holdout AUC below ``min_auc`` refuses the model (``model_refused``: a warning, and the column
stays NULL), as does a fit that cannot be made (one outcome only, no convergence:
``model_failed``); the run goes on. Scoring is SQL: the coefficients are literals.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlglot import exp

from segsync.errors import ModelError
from segsync.model.profile import AttributeType

from .aggregate import Aggregate, AggregateSettings, Function
from .base import (
    EVENTS_TABLE,
    PROFILES_TABLE,
    EventSettings,
    TraitContext,
    TraitKind,
    WindowSettings,
    check_property_name,
    event_conditions,
    output,
    parse_duration,
    timestamp_literal,
)
from .notes import CalibrationBin, ModelSummary, TraitWarning
from .recency import Recency, RecencySettings
from .tenure import Tenure, TenureSettings

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = ["FeatureSpec", "Propensity", "PropensitySettings"]

log = logging.getLogger("segsync.traits")

_DOUBLE = exp.DataType.build("DOUBLE")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,50}$")
_NULLABLE_FUNCTIONS = frozenset({"avg", "min", "max", "first", "last"})
_FORBIDDEN = ("as_of", "since", "until")


class FeatureSpec(BaseModel):
    """One feature: an ``aggregate``, ``recency`` or ``tenure`` computed at any moment."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["aggregate", "recency", "tenure"] = "aggregate"
    event: str = Field(min_length=1)
    where: dict[str, str | bool | int | float] = Field(default_factory=dict)
    function: Function | None = None
    """``aggregate`` only (required there)."""
    field: str | None = None
    """``aggregate`` only."""
    within: str | None = None
    """``aggregate`` only: the window before the moment the feature is computed at."""
    end: Literal["as_of", "last_event"] | None = None
    """``tenure`` only."""
    transform: Literal["none", "log1p"] = "none"

    @model_validator(mode="after")
    def _settings(self) -> Self:
        only = {"function": "aggregate", "field": "aggregate", "within": "aggregate"}
        only["end"] = "tenure"
        for key, kind in only.items():
            if getattr(self, key) is not None and self.kind != kind:
                raise ValueError(f"{key}: applies to kind = {kind!r} features only")
        if self.kind == "aggregate" and self.function is None:
            raise ValueError("function: missing; an aggregate feature needs one")
        if self.function in ("first_at", "last_at"):
            raise ValueError(
                f"function: {self.function!r} is a time, not a number; use a recency or "
                "tenure feature for days since an event"
            )
        try:
            self.settings()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}: {first['msg']}".removeprefix(": ")) from None
        return self

    def settings(self) -> EventSettings:
        common: dict[str, Any] = {"event": self.event, "where": self.where}
        if self.kind == "aggregate":
            return AggregateSettings(
                **common, function=self.function, field=self.field, within=self.within
            )
        if self.kind == "tenure":
            return TenureSettings(**common, end=self.end or "as_of")
        return RecencySettings(**common)

    def trait(self, name: str) -> TraitKind[Any]:
        """The feature as a trait kind named ``name`` (its column)."""
        settings = self.settings()
        if isinstance(settings, AggregateSettings):
            return Aggregate(name, settings)
        if isinstance(settings, TenureSettings):
            return Tenure(name, settings)
        assert isinstance(settings, RecencySettings)
        return Recency(name, settings)

    @property
    def nullable(self) -> bool:
        return self.kind != "aggregate" or self.function in _NULLABLE_FUNCTIONS


class PropensitySettings(EventSettings):
    window: str = "30d"
    features: dict[str, FeatureSpec] = Field(min_length=1, max_length=50)
    min_auc: float = Field(default=0.6, ge=0.0, le=1.0)
    penalty: float = Field(default=1.0, gt=0.0, le=1e6, allow_inf_nan=False)
    balanced: bool = False
    bins: int = Field(default=10, ge=2, le=100)
    training_windows: int = Field(default=1, ge=1, le=24)
    sample: int = Field(default=200_000, ge=100, le=5_000_000)
    seed: int = 42
    max_iterations: int = Field(default=1000, ge=10, le=100_000)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("features")
    @classmethod
    def _names(cls, v: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(
                    f"expected feature names of lower-case letters, digits and '_', starting "
                    f"with a letter (at most 51 characters), found {name!r}"
                )
        return v

    @field_validator("where")
    @classmethod
    def _target_where(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            check_property_name(key)
        return v


def _literal(value: float) -> exp.Expr:
    return exp.cast(exp.Literal.string(repr(float(value))), _DOUBLE)


class Propensity(TraitKind[PropensitySettings]):
    name: ClassVar[str] = "propensity"
    Settings: ClassVar[type[PropensitySettings]] = PropensitySettings
    needs: ClassVar[tuple[str, ...]] = ("numpy", "scipy", "sklearn")
    extra: ClassVar[str | None] = "predict"

    def __init__(self, trait: str, settings: PropensitySettings) -> None:
        super().__init__(trait, settings)
        self._coefficients: dict[str, float] | None = None
        """Input column → coefficient (original scale), with ``"intercept"``."""
        self._summary: ModelSummary | None = None
        self._warnings: list[TraitWarning] = []

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "double"}

    # -- features at a moment ----------------------------------------------------------

    def _inputs(self) -> list[str]:
        """The model's input columns: each feature, then an indicator per nullable one."""
        features = self.settings.features
        return [*features, *(f"{n}_missing" for n, f in features.items() if f.nullable)]

    def _features_at(self, moment: dt.datetime, dialect: str) -> exp.Select:
        """``SELECT p.profile_key, f0, f1, …`` of every profile, each feature as of
        ``moment`` (as DOUBLE)."""
        ctx = TraitContext(as_of=moment, dialect=dialect)
        key = exp.column("profile_key", table="p")
        query = exp.select(key).from_(exp.alias_(exp.to_table(PROFILES_TABLE), "p", table=True))
        for j, spec in enumerate(self.settings.features.values()):
            alias = f"f{j}"
            sub = spec.trait(alias).query(ctx)
            column = exp.cast(exp.column(alias, table=alias, quoted=True), _DOUBLE)
            query = query.select(exp.alias_(column, alias)).join(
                sub.subquery(alias),
                on=exp.EQ(this=exp.column("profile_key", table=alias), expression=key.copy()),
                join_type="left",
            )
        return query

    @staticmethod
    def _known_at(moment: dt.datetime) -> exp.Select:
        """``SELECT DISTINCT profile_key`` of the profiles with an event before ``moment``."""
        return (
            exp.select("profile_key")
            .distinct()
            .from_(EVENTS_TABLE)
            .where(exp.LT(this=exp.column("occurred_at"), expression=timestamp_literal(moment)))
        )

    def _rows_at(self, cut: dt.datetime, dialect: str) -> exp.Select:
        """The training (or holdout) rows of one cut-off: features as of ``cut``, the label
        (a target event in ``[cut, cut + window)``), for the sampled profiles known at ``cut``."""
        s = self.settings
        window = parse_duration(s.window)
        ctx = TraitContext(as_of=cut, dialect=dialect)
        known = self._known_at(cut)
        target = WindowSettings(event=s.event, where=s.where, since=cut, until=cut + window)
        labelled = (
            exp.select("profile_key")
            .distinct()
            .from_(EVENTS_TABLE)
            .where(event_conditions(target, ctx))
        )
        hashed = exp.MD5(
            this=exp.DPipe(
                this=exp.Literal.string(f"{s.seed}:"),
                expression=exp.column("profile_key", table="f"),
            )
        )
        label = exp.Case(
            ifs=[
                exp.If(
                    this=exp.not_(
                        exp.Is(this=exp.column("profile_key", table="l"), expression=exp.Null())
                    ),
                    true=exp.Literal.number(1),
                )
            ],
            default=exp.Literal.number(0),
        )
        count = len(s.features)
        return (
            exp.select(*(exp.column(f"f{j}", table="f") for j in range(count)))
            .select(exp.alias_(label, "label"))
            .from_(self._features_at(cut, dialect).subquery("f"))
            .join(
                known.subquery("k"),
                on=exp.EQ(
                    this=exp.column("profile_key", table="k"),
                    expression=exp.column("profile_key", table="f"),
                ),
            )
            .join(
                labelled.subquery("l"),
                on=exp.EQ(
                    this=exp.column("profile_key", table="l"),
                    expression=exp.column("profile_key", table="f"),
                ),
                join_type="left",
            )
            .order_by(hashed, exp.column("profile_key", table="f"))
            .limit(s.sample)
        )

    def _matrix(self, data: dict[str, Any]) -> tuple[Any, Any]:
        """Feature arrays → the model's input matrix (transforms, 0 + indicator for NULL)
        and the labels."""
        import numpy as np

        columns, indicators = [], []
        for j, spec in enumerate(self.settings.features.values()):
            values = np.asarray(data[f"f{j}"], dtype=np.float64)
            if spec.transform == "log1p":
                values = np.where(values > -1, np.log1p(np.where(values > -1, values, 0.0)), np.nan)
            missing = ~np.isfinite(values)
            columns.append(np.where(missing, 0.0, values))
            if spec.nullable:
                indicators.append(missing.astype(np.float64))
        matrix = np.column_stack([*columns, *indicators])
        return matrix, np.asarray(data["label"], dtype=np.int8)

    # -- fit ---------------------------------------------------------------------------

    def prepare(self, engine: Engine, ctx: TraitContext) -> None:
        self._coefficients, self._summary, self._warnings = None, None, []
        s = self.settings
        window = parse_duration(s.window)
        holdout = ctx.as_of - window
        cuts = [holdout - k * window for k in range(1, s.training_windows + 1)]
        base = ModelSummary(
            trait=self.trait,
            kind=self.name,
            status="failed",
            as_of=ctx.as_of,
            details={
                "event": s.event,
                "window": s.window,
                "holdout_cut_off": holdout.isoformat(sep=" "),
                "training_cut_offs": ", ".join(c.isoformat(sep=" ") for c in cuts),
                "penalty": f"{s.penalty:g}",
                "balanced": str(s.balanced).lower(),
            },
        )
        try:
            self._summary = self._fit(engine, ctx, base, holdout, cuts)
        except ModelError as exc:
            self._refuse(base, exc)
        except ValueError as exc:  # the data cannot make a model (one outcome only, ...)
            self._fail(base, str(exc))

    def _refuse(self, base: ModelSummary, exc: ModelError) -> None:
        from segsync.predict.base import WeakModelError

        if isinstance(exc, WeakModelError):
            self._summary = base.model_copy(
                update={"status": "refused", "message": str(exc), "metrics": {"auc": exc.auc}}
            )
            self._warnings.append(
                TraitWarning(
                    trait=self.trait,
                    code="model_refused",
                    message=(
                        f"traits.{self.trait}: nobody scored: holdout AUC {exc.auc:.3f} is below "
                        f"min_auc = {exc.threshold:g} ({exc}); add features that predict "
                        f"{self.settings.event!r}, widen the window, or lower min_auc"
                    ),
                )
            )
            return
        self._fail(base, str(exc))

    def _fail(self, base: ModelSummary, reason: str) -> None:
        self._summary = base.model_copy(update={"message": reason})
        self._warnings.append(
            TraitWarning(
                trait=self.trait,
                code="model_failed",
                message=(
                    f"traits.{self.trait}: nobody scored: the propensity model could not be "
                    f"fitted: {reason}"
                ),
            )
        )

    def _fit(
        self,
        engine: Engine,
        ctx: TraitContext,
        base: ModelSummary,
        holdout: dt.datetime,
        cuts: list[dt.datetime],
    ) -> ModelSummary:
        import numpy as np

        from segsync.predict.propensity import fit_propensity

        parts = [self._matrix(engine.arrays(self._rows_at(c, ctx.dialect))) for c in cuts]
        train_x = np.vstack([p[0] for p in parts])
        train_y = np.concatenate([p[1] for p in parts])
        hold_x, hold_y = self._matrix(engine.arrays(self._rows_at(holdout, ctx.dialect)))
        if train_y.size == 0 or hold_y.size == 0:
            raise ValueError(
                f"no profile had an event before the cut-offs ({len(train_y):,} training and "
                f"{len(hold_y):,} holdout rows): too little history for window = "
                f"{self.settings.window!r}"
            )
        inputs = self._inputs()
        s = self.settings
        model = fit_propensity(
            train_x,
            train_y,
            hold_x,
            hold_y,
            features=inputs,
            min_auc=s.min_auc,
            C=1.0 / s.penalty,
            balanced=s.balanced,
            bins=s.bins,
            max_iterations=s.max_iterations,
        )
        self._coefficients = {
            "intercept": model.intercept,
            **dict(zip(inputs, model.coefficients, strict=True)),
        }
        log.info(
            "traits.%s: P(%s within %s): holdout AUC %.3f, Brier %.4f, base rate %.2f%% "
            "(%s training, %s holdout rows)",
            self.trait, s.event, s.window, model.auc, model.brier, 100 * model.base_rate,
            f"{model.train_rows:,}", f"{model.holdout_rows:,}",
        )  # fmt: skip
        return base.model_copy(
            update={
                "status": "fitted",
                "rows": {
                    "train": model.train_rows,
                    "holdout": model.holdout_rows,
                    "train_positive": int(train_y.sum()),
                    "holdout_positive": int(hold_y.sum()),
                },
                "parameters": dict(self._coefficients),
                "metrics": {
                    "auc": model.auc,
                    "brier": model.brier,
                    "base_rate": model.base_rate,
                    "train_base_rate": float(train_y.mean()),
                    "iterations": float(model.iterations),
                    **{
                        f"standardised_{n}": c
                        for n, c in zip(inputs, model.standardised_coefficients, strict=True)
                    },
                },
                "calibration": [
                    CalibrationBin(
                        rows=b.rows,
                        lowest=b.lowest,
                        highest=b.highest,
                        predicted=b.predicted,
                        observed=b.observed,
                    )
                    for b in model.calibration
                ],
            }
        )

    # -- scoring -----------------------------------------------------------------------

    def _logit(self, coefficients: dict[str, float]) -> exp.Expr:
        total: exp.Expr = _literal(coefficients["intercept"])
        for j, (name, spec) in enumerate(self.settings.features.items()):
            value: exp.Expr = exp.column(f"f{j}", table="f")
            if spec.transform == "log1p":
                value = exp.Case(
                    ifs=[
                        exp.If(
                            this=exp.GT(this=value.copy(), expression=exp.Literal.number(-1)),
                            true=exp.Ln(this=exp.Add(this=exp.Literal.number(1), expression=value)),
                        )
                    ]
                )
            filled = exp.Coalesce(this=value, expressions=[_literal(0.0)])
            total = exp.Add(
                this=total, expression=exp.Mul(this=_literal(coefficients[name]), expression=filled)
            )
            if spec.nullable:
                missing = exp.Case(
                    ifs=[
                        exp.If(
                            this=exp.Is(this=value.copy(), expression=exp.Null()),
                            true=_literal(coefficients[f"{name}_missing"]),
                        )
                    ],
                    default=_literal(0.0),
                )
                total = exp.Add(this=total, expression=missing)
        return total

    def query(self, ctx: TraitContext) -> exp.Select:
        coefficients = self._coefficients
        if coefficients is None:
            return exp.select(
                exp.column("profile_key", table="p"), output(exp.Null(), self.trait, "double")
            ).from_(exp.alias_(exp.to_table(PROFILES_TABLE), "p", table=True))
        z = exp.column("z", table="s")
        # 1 / (1 + e^−z) without overflow: e^z / (1 + e^z) for z < 0
        one = _literal(1.0)
        positive = exp.Div(
            this=one,
            expression=exp.paren(
                exp.Add(this=one.copy(), expression=exp.Exp(this=exp.Neg(this=z)))
            ),
        )
        negative = exp.Div(
            this=exp.Exp(this=z.copy()),
            expression=exp.paren(exp.Add(this=one.copy(), expression=exp.Exp(this=z.copy()))),
        )
        probability = exp.Case(
            ifs=[exp.If(this=exp.GTE(this=z.copy(), expression=_literal(0.0)), true=positive)],
            default=negative,
        )
        known = exp.not_(exp.Is(this=exp.column("profile_key", table="k"), expression=exp.Null()))
        scored = (
            exp.select(
                exp.column("profile_key", table="f"),
                exp.alias_(self._logit(coefficients), "z"),
                exp.alias_(known, "known"),
            )
            .from_(self._features_at(ctx.as_of, ctx.dialect).subquery("f"))
            .join(
                self._known_at(ctx.as_of).subquery("k"),
                on=exp.EQ(
                    this=exp.column("profile_key", table="k"),
                    expression=exp.column("profile_key", table="f"),
                ),
                join_type="left",
            )
        )
        # only the profiles the model could have learnt from: with an event before the as-of
        value = exp.Case(ifs=[exp.If(this=exp.column("known", table="s"), true=probability)])
        return exp.select(
            exp.column("profile_key", table="s"), output(value, self.trait, "double")
        ).from_(scored.subquery("s"))

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        return list(self._warnings)

    def model(self) -> ModelSummary | None:
        return self._summary
