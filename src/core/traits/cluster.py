"""``cluster``: k-means over numeric profile features, fitted in the store, described in words.

```toml
[traits.persona]
kind = "cluster"
features = ["orders_count", "revenue", "days_since_last_order"]
k = 4                 # clusters, 2..20 (default 4)
seed = 42             # default 42
max_iterations = 50   # default 50
sample = 200000       # profiles used for the fit (default 200000)
names = ["lapsed", "occasional", "regulars", "big spenders"]  # optional, k labels
transform = { revenue = "log1p" }   # optional, per feature: fit on ln(1 + x)
```

Adds two columns: ``persona`` (the cluster's label, text) and ``persona_distance`` (double:
the distance to the cluster's centroid, in standardised units).

**Features** are numeric profile columns — built-ins (``orders_count``, ``revenue``,
``source_count``) and numeric attributes — plus the derived ``days_since_last_order`` (whole
days from ``last_order_at`` to ``as_of``; this name always means the derived feature) — and
other traits' numeric columns, which are then computed first (read through ``ctx.profiles``).
A timestamp or date column (``first_order_at``, an ``aggregate`` trait's ``first_at``) is read
as whole days from it to ``as_of``. Features are checked when the config loads
(:meth:`Cluster.check`) and again against the table read when the trait is computed; a problem
raises ``ConfigError`` naming ``traits.NAME.features``.

**Transforms**: ``transform = { revenue = "log1p" }`` fits a feature on ``ln(1 + x)`` (NULL
for ``x ≤ −1``), so a few big spenders do not take a cluster of their own on a heavy-tailed
scale; ``"none"`` (the default) fits it as it is. Standardising, distances and the
``_distance`` column are on the transformed scale; centroids are reported in the feature's own
units (``exp(c) − 1``).

**Fit** (:meth:`Cluster.prepare`, before the traits' query):

1. Sample: the ``sample`` profiles with the smallest ``md5('<seed>:' || profile_key)`` (all of
   them if there are fewer), numbered in that order — independent of the rows' order.
2. Standardise: each feature's mean and population standard deviation over the sample
   (NULLs ignored; a standard deviation of 0 counts as 1; a feature with no values has mean
   0). ``z = (coalesce(x, mean) − mean) / stddev``: a NULL (or NaN/infinite value) counts as
   the feature's mean.
3. k-means++ in Python with ``random.Random(seed)`` over the sample in that order: the first
   centroid is ``points[rng.randrange(n)]``; each next one is the first point whose running
   sum of squared distances to its nearest chosen centroid exceeds ``rng.random() × total``.
   When every point already coincides with a centroid (fewer distinct points than ``k``), the
   first centroid is repeated; the repeats stay empty.
4. Lloyd iterations as SQL run by the engine: assign each point to its nearest centroid (squared
   distance; ties go to the lowest cluster index), then move each centroid to the mean of its
   points (``GROUP BY``). A cluster left empty is re-seeded at the point farthest from its own
   centroid (ties: the first point in sample order; several empty clusters take the next
   farthest points; a point at distance 0 cannot help and the centroid stays). Stop when no
   point changes cluster, or after ``max_iterations`` updates.
5. Order the clusters by their centroids (first feature, then the next, …; then the larger
   cluster first) and label them ``names`` in that order, or ``cluster 1`` … ``cluster k``.

The assignment of every profile is SQL over ``profiles``: the centroids and the
standardisation constants are literals in the trait's query. The fit's clusters are written to
``trait_clusters`` (one row per cluster: size over all profiles, centroid in original units
as JSON, persona text) and each persona is logged at INFO on ``segsync.traits``, e.g.
``412 people: revenue high (median 1,100, mean 1,240; all: median 120, mean 310), …`` —
features in order of distinctiveness, each with its median and mean among the cluster's
profiles and among all profiles (NULLs left out; in the feature's own units), and a level by
the standardised centroid: ``high``/``low`` at ±0.5 standard deviations, else ``typical``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from sqlglot import exp

from segsync.engine import parse
from segsync.errors import ConfigError
from segsync.model.profile import AttributeType

from .base import TraitContext, TraitKind, TraitSettings, output, timestamp_literal
from .kmeans import kmeans_plus_plus, persona
from .recency import days_between

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = [
    "CLUSTERS_TABLE",
    "DAYS_SINCE_LAST_ORDER",
    "Cluster",
    "ClusterFit",
    "ClusterSettings",
]

log = logging.getLogger("segsync.traits")

CLUSTERS_TABLE = "trait_clusters"
DAYS_SINCE_LAST_ORDER = "days_since_last_order"
"""The derived feature: whole days from ``last_order_at`` to ``as_of`` (NULL without orders)."""

_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MAX_FEATURES = 50
_SAMPLE = "_segsync_cluster_sample"
_POINTS = "_segsync_cluster_points"
_DOUBLE = exp.DataType.build("DOUBLE")
_TIME_TYPES = ("timestamp", "date")
Transform = Literal["none", "log1p"]


class ClusterSettings(TraitSettings):
    features: list[str]
    """Numeric profile columns, or ``days_since_last_order``."""
    k: int = Field(default=4, ge=2, le=20)
    seed: int = 42
    max_iterations: int = Field(default=50, ge=1, le=1000)
    sample: int = Field(default=200_000, ge=2, le=1_000_000)
    """How many profiles the fit uses (a deterministic sample); all profiles are assigned."""
    names: list[str] | None = None
    """The clusters' labels, in centroid order (default ``cluster 1`` … ``cluster k``)."""
    transform: dict[str, Transform] = Field(default_factory=dict)
    """Feature → ``"log1p"`` (fit on ``ln(1 + x)``) or ``"none"`` (the default)."""

    @model_validator(mode="after")
    def _transformed_features(self) -> Self:
        unknown = [name for name in self.transform if name not in self.features]
        if unknown:
            raise ValueError(
                f"transform: {', '.join(map(repr, unknown))} is not among the features "
                f"({', '.join(self.features)})"
            )
        return self

    def log1p(self, feature: str) -> bool:
        return self.transform.get(feature) == "log1p"

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("expected at least one feature (a numeric profile column)")
        if len(v) > _MAX_FEATURES:
            raise ValueError(f"expected at most {_MAX_FEATURES} features, not {len(v)}")
        for name in v:
            if not _COLUMN_RE.match(name):
                raise ValueError(
                    f"expected profile column names (letters, digits and '_'), found {name!r}"
                )
        duplicates = sorted({name for name in v if v.count(name) > 1})
        if duplicates:
            raise ValueError(f"expected each feature once, found {', '.join(duplicates)} twice")
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if v is None:
            return v
        k = info.data.get("k")
        if isinstance(k, int) and len(v) != k:
            raise ValueError(f"expected {k} names, one per cluster (k = {k}), not {len(v)}")
        for name in v:
            if not name.strip():
                raise ValueError("expected non-empty names")
        duplicates = sorted({name for name in v if v.count(name) > 1})
        if duplicates:
            raise ValueError(f"expected distinct names, found {', '.join(map(repr, duplicates))}")
        return v


@dataclass(frozen=True)
class ClusterFit:
    """A fitted clustering: what the trait's query needs, in label order."""

    features: tuple[str, ...]
    means: tuple[float, ...]
    """Each feature's mean over the sample (the value a NULL counts as)."""
    scales: tuple[float, ...]
    """Each feature's population standard deviation over the sample (0 → 1)."""
    centroids: tuple[tuple[float, ...], ...]
    """Standardised centroids, in label order."""
    labels: tuple[str, ...]
    sample_size: int
    iterations: int
    converged: bool

    logged: tuple[bool, ...] = ()
    """Per feature: fitted on ``ln(1 + x)``."""

    def original(self, centroid: Sequence[float]) -> tuple[float, ...]:
        """A standardised point in the features' own units."""
        logged = self.logged or (False,) * len(self.features)
        return tuple(
            math.expm1(z * s + m) if log else z * s + m
            for z, s, m, log in zip(centroid, self.scales, self.means, logged, strict=True)
        )


# -- SQL pieces ---------------------------------------------------------------------------


def _double(value: float) -> exp.Expr:
    """An exact DOUBLE literal: ``CAST('0.1' AS DOUBLE)`` (a bare 0.1 would be DECIMAL)."""
    return exp.cast(exp.Literal.string(repr(float(value))), _DOUBLE)


def _squared_distance(dims: int, centroid: Sequence[float]) -> exp.Expr:
    """``(z0 − c0) * (z0 − c0) + (z1 − c1) * (z1 − c1) + …`` (fresh nodes: no copies)."""
    terms: list[exp.Expr] = []
    for j, c in enumerate(centroid[:dims]):
        diffs = [
            exp.Paren(this=exp.Sub(this=exp.column(f"z{j}"), expression=_double(c)))
            for _ in range(2)
        ]
        terms.append(exp.Mul(this=diffs[0], expression=diffs[1]))
    return reduce(lambda a, b: exp.Add(this=a, expression=b), terms)


def _nearest(
    source: exp.Select, key: str, dims: int, centroids: Sequence[Sequence[float]]
) -> exp.Select:
    """``SELECT key, c, m``: each row of ``source`` (``key, z0, z1, …``) with the index of its
    nearest centroid ``c`` (ties: the lowest) and the squared distance ``m`` to it.

    Built without copying (sqlglot's builders copy by default, which is slow at k = 20 and
    runs once per Lloyd iteration)."""
    k = len(centroids)
    distances = exp.Select(
        expressions=[
            exp.column(key),
            *(
                exp.alias_(_squared_distance(dims, c), f"d{i}", copy=False)
                for i, c in enumerate(centroids)
            ),
        ]
    ).from_(source.subquery("z", copy=False), copy=False)
    least = exp.Least(this=exp.column("d0"), expressions=[exp.column(f"d{i}") for i in range(1, k)])
    least_select = exp.Select(
        expressions=[
            exp.column(key),
            *(exp.column(f"d{i}") for i in range(k)),
            exp.alias_(least, "m", copy=False),
        ]
    ).from_(distances.subquery("d", copy=False), copy=False)
    argmin = exp.Case(
        ifs=[
            exp.If(
                this=exp.EQ(this=exp.column(f"d{i}"), expression=exp.column("m")),
                true=exp.Literal.number(i),
            )
            for i in range(k)
        ]
    )
    return exp.Select(
        expressions=[exp.column(key), exp.alias_(argmin, "c", copy=False), exp.column("m")]
    ).from_(least_select.subquery("l", copy=False), copy=False)


def _standardise(value: exp.Expr, mean: float, scale: float) -> exp.Expr:
    """``(coalesce(value, mean) − mean) / scale``."""
    filled = exp.Coalesce(this=value, expressions=[_double(mean)])
    return exp.Div(
        this=exp.Paren(this=exp.Sub(this=filled, expression=_double(mean))),
        expression=_double(scale),
    )


class Cluster(TraitKind[ClusterSettings]):
    name: ClassVar[str] = "cluster"
    Settings: ClassVar[type[ClusterSettings]] = ClusterSettings

    def __init__(self, trait: str, settings: ClusterSettings) -> None:
        super().__init__(trait, settings)
        self.fit: ClusterFit | None = None
        """Set by :meth:`prepare`; ``None`` before, or when there was no profile to fit."""
        self._prepared = False
        self._times: frozenset[str] = frozenset()
        """The features read from a timestamp or date column (days before ``as_of``)."""

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "text", f"{self.trait}_distance": "double"}

    @property
    def labels(self) -> list[str]:
        k = self.settings.k
        return list(self.settings.names or [f"cluster {i}" for i in range(1, k + 1)])

    # -- features ---------------------------------------------------------------------

    def check(self, columns: Mapping[str, AttributeType]) -> list[str]:
        """Each feature must be a numeric profile column (or the derived feature)."""
        numeric = sorted(c for c, t in columns.items() if t in ("integer", "decimal", "double"))
        times = {c for c, t in columns.items() if t in _TIME_TYPES}
        key = f"traits.{self.trait}.features"
        problems = []
        for name in self.settings.features:
            if name == DAYS_SINCE_LAST_ORDER or name in numeric or name in times:
                continue
            what = "not numeric" if name in columns else "unknown profile column"
            problems.append(
                f"{key}: {what} {name!r}; expected a numeric profile column "
                f"({', '.join(numeric)}), a timestamp or date column (read as days before "
                f"as_of) or {DAYS_SINCE_LAST_ORDER}"
            )
        return problems

    def _check_features(self, engine: Engine, ctx: TraitContext) -> None:
        types = engine.columns(ctx.profiles)
        numeric = sorted(c for c, t in types.items() if t.is_type(*exp.DataType.NUMERIC_TYPES))
        times = {c for c, t in types.items() if t.is_type(*exp.DataType.TEMPORAL_TYPES)}
        self._times = frozenset(times & set(self.settings.features))
        key = f"traits.{self.trait}.features"
        hint = (
            f"expected a numeric profile column ({', '.join(numeric) or 'none'}), a timestamp "
            f"or date column, or {DAYS_SINCE_LAST_ORDER}"
        )
        problems = []
        for name in self.settings.features:
            if name == DAYS_SINCE_LAST_ORDER:
                if "last_order_at" not in types:
                    problems.append(f"{key}: {name} needs the profile column last_order_at")
            elif name not in types:
                problems.append(f"{key}: unknown profile column {name!r}; {hint}")
            elif name not in numeric and name not in times:
                shown = types[name].sql(dialect=engine.dialect).lower()
                problems.append(f"{key}: {name!r} is a {shown} profile column; {hint}")
        if len(problems) == 1:
            raise ConfigError(problems[0])
        if problems:
            raise ConfigError(f"{key}: {len(problems)} problem(s)", problems)

    def _feature(self, name: str, ctx: TraitContext) -> exp.Expr:
        """The feature of profile ``p`` as DOUBLE, in its own units (NULL when missing or not
        finite)."""
        if name == DAYS_SINCE_LAST_ORDER or name in self._times:
            column = "last_order_at" if name == DAYS_SINCE_LAST_ORDER else name
            moment = exp.cast(
                exp.column(column, table="p", quoted=True), exp.DataType.Type.TIMESTAMP
            )
            return exp.cast(days_between(moment, timestamp_literal(ctx.as_of)), _DOUBLE)
        value = exp.cast(exp.column(name, table="p", quoted=True), _DOUBLE)
        finite = exp.and_(
            exp.not_(exp.IsNan(this=value.copy())), exp.not_(exp.IsInf(this=value.copy()))
        )
        return exp.Case(ifs=[exp.If(this=finite, true=value)])

    def _fitted(self, name: str, ctx: TraitContext) -> exp.Expr:
        """The feature as the fit reads it: ``ln(1 + x)`` (NULL for ``x ≤ −1``) when
        transformed, else as it is."""
        value = self._feature(name, ctx)
        if not self.settings.log1p(name):
            return value
        above = exp.GT(this=value.copy(), expression=exp.Literal.number(-1))
        shifted = exp.Add(this=exp.Literal.number(1), expression=value)
        return exp.Case(ifs=[exp.If(this=above, true=exp.Ln(this=shifted))])

    def _profiles(self, ctx: TraitContext) -> exp.Expr:
        return exp.alias_(exp.to_table(ctx.profiles), "p", table=True)

    def uses(self) -> frozenset[str]:
        return frozenset(self.settings.features) - {DAYS_SINCE_LAST_ORDER}

    # -- fit --------------------------------------------------------------------------

    def prepare(self, engine: Engine, ctx: TraitContext) -> None:
        """Fit the clusters (see the module docstring) and record them in ``trait_clusters``."""
        self._prepared = True
        self.fit = None
        self._check_features(engine, ctx)
        self.fit = self._fit(engine, ctx)
        # (on an error the transaction rolls back, and the temporary tables with it)
        engine.drop(_SAMPLE, _POINTS)
        self._record(engine, ctx)

    def _fit(self, engine: Engine, ctx: TraitContext) -> ClusterFit | None:
        s = self.settings
        features = tuple(s.features)
        dims = len(features)
        xs = [f"x{j}" for j in range(dims)]
        hashed = exp.MD5(
            this=exp.DPipe(
                this=exp.Literal.string(f"{s.seed}:"),
                expression=exp.column("profile_key", table="p"),
            )
        )
        sample = (
            exp.select(
                exp.column("profile_key", table="p"),
                exp.alias_(hashed, "h"),
                *(exp.alias_(self._fitted(f, ctx), x) for f, x in zip(features, xs, strict=True)),
            )
            .from_(self._profiles(ctx))
            .order_by("h", exp.column("profile_key", table="p"))
            .limit(s.sample)
        )
        number = exp.alias_(
            exp.Sub(
                this=exp.Window(
                    this=exp.RowNumber(),
                    order=exp.Order(expressions=[exp.column("h"), exp.column("profile_key")]),
                ),
                expression=exp.Literal.number(1),
            ),
            "i",
        )
        engine.create_table(
            _SAMPLE,
            exp.select(number, *xs).from_(sample.subquery("s")).order_by("i"),
            temporary=True,
        )
        stats = engine.rows(
            exp.select(
                "count(*)",
                *(
                    f
                    for x in xs
                    for f in (exp.func("avg", exp.column(x)), exp.func("stddev_pop", exp.column(x)))
                ),
            ).from_(_SAMPLE)
        )[0]
        n = int(stats[0])
        if n == 0:
            return None
        means: list[float] = []
        scales: list[float] = []
        for j in range(dims):
            mean, sd = stats[1 + 2 * j], stats[2 + 2 * j]
            means.append(float(mean) if mean is not None and math.isfinite(mean) else 0.0)
            ok = sd is not None and math.isfinite(sd) and sd > 0
            scales.append(float(sd) if ok else 1.0)
        zs = [
            exp.alias_(_standardise(exp.column(x), m, sd), f"z{j}")
            for j, (x, m, sd) in enumerate(zip(xs, means, scales, strict=True))
        ]
        no_cluster = exp.alias_(exp.cast(exp.Null(), exp.DataType.Type.INT), "c")
        engine.create_table(
            _POINTS, exp.select("i", *zs, no_cluster).from_(_SAMPLE).order_by("i"), temporary=True
        )
        zcols = [f"z{j}" for j in range(dims)]
        points = engine.rows(exp.select(*zcols).from_(_POINTS).order_by("i"))
        centroids = kmeans_plus_plus(points, s.k, random.Random(s.seed))  # noqa: S311 (seeded)
        del points
        self._assign(engine, dims, centroids)
        iterations, converged = 0, False
        while iterations < s.max_iterations:
            centroids = self._update(engine, dims, centroids)
            iterations += 1
            if self._assign(engine, dims, centroids) == 0:
                converged = True
                break
        sizes = dict(engine.rows(exp.select("c", "count(*)").from_(_POINTS).group_by("c")))
        order = sorted(range(s.k), key=lambda i: (centroids[i], -sizes.get(i, 0), i))
        return ClusterFit(
            features=features,
            means=tuple(means),
            scales=tuple(scales),
            centroids=tuple(centroids[i] for i in order),
            labels=tuple(self.labels),
            sample_size=n,
            iterations=iterations,
            converged=converged,
            logged=tuple(s.log1p(f) for f in features),
        )

    def _assign(self, engine: Engine, dims: int, centroids: Sequence[Sequence[float]]) -> int:
        """Move every sample point to its nearest centroid; return how many moved."""
        source = exp.select("i", *(f"z{j}" for j in range(dims))).from_(_POINTS)
        engine.create_table("_segsync_cluster_nearest", _nearest(source, "i", dims, centroids),
                            temporary=True)  # fmt: skip
        moved = int(
            engine.scalar(
                parse(
                    f"SELECT count(*) FROM {_POINTS} p JOIN _segsync_cluster_nearest n "
                    "ON p.i = n.i WHERE p.c IS DISTINCT FROM n.c"
                )
            )
        )
        if moved:
            zcols = ", ".join(f"p.z{j}" for j in range(dims))
            engine.create_table(
                _POINTS,
                parse(
                    f"SELECT p.i, {zcols}, n.c FROM {_POINTS} p "
                    "JOIN _segsync_cluster_nearest n ON p.i = n.i ORDER BY p.i"
                ),
                temporary=True,
            )
        engine.drop("_segsync_cluster_nearest")
        return moved

    def _update(
        self, engine: Engine, dims: int, centroids: Sequence[tuple[float, ...]]
    ) -> list[tuple[float, ...]]:
        """Each centroid → the mean of its points; empty clusters re-seeded (see above)."""
        means = [exp.func("avg", exp.column(f"z{j}")) for j in range(dims)]
        rows = engine.rows(exp.select("c", *means).from_(_POINTS).group_by("c"))
        moved = {int(r[0]): tuple(float(v) for v in r[1:]) for r in rows}
        new = [moved.get(i, centroids[i]) for i in range(len(centroids))]
        empty = [i for i in range(len(centroids)) if i not in moved]
        if not empty:
            return new
        own = exp.Case()
        for i in moved:
            own = own.when(
                exp.EQ(this=exp.column("c"), expression=exp.Literal.number(i)),
                _squared_distance(dims, new[i]),
            )
        with_distance = exp.select("*", exp.alias_(own, "d")).from_(_POINTS)
        far = engine.rows(
            exp.select(*(f"z{j}" for j in range(dims)), "d")
            .from_(with_distance.subquery("w"))
            .where("d > 0")
            .order_by(exp.Ordered(this=exp.column("d"), desc=True), "i")
            .limit(len(empty))
        )
        for i, row in zip(empty, far, strict=False):
            new[i] = tuple(float(v) for v in row[:dims])
        return new

    def _record(self, engine: Engine, ctx: TraitContext) -> None:
        engine.execute(
            exp.delete(CLUSTERS_TABLE).where(exp.column("trait").eq(exp.Literal.string(self.trait)))
        )
        fit = self.fit
        if fit is None:
            log.info("trait %s: no profiles to cluster", self.trait)
            return
        sizes, stats, overall = self._stats(engine, ctx, fit)
        state = "converged" if fit.converged else "stopped at max_iterations"
        log.info(
            "trait %s: k-means over %s on %d sampled profiles, %s after %d iteration(s)",
            self.trait,
            ", ".join(fit.features),
            fit.sample_size,
            state,
            fit.iterations,
        )
        rows = []
        for number, (label, centroid) in enumerate(zip(fit.labels, fit.centroids, strict=True), 1):
            values = fit.original(centroid)
            size = int(sizes.get(label, 0))
            empty = [(None, None)] * len(fit.features)
            text = persona(size, fit.features, centroid, stats.get(label, empty), overall)
            centre = {f: round(v, 6) for f, v in zip(fit.features, values, strict=True)}
            rows.append((self.trait, number, label, size, json.dumps(centre), text))
            log.info("trait %s: cluster %d %r: %s", self.trait, number, label, text)
        engine.insert_rows(
            CLUSTERS_TABLE, ("trait", "cluster", "label", "size", "centroid", "persona"), rows
        )

    def _stats(
        self, engine: Engine, ctx: TraitContext, fit: ClusterFit
    ) -> tuple[
        dict[str, int],
        dict[str, list[tuple[float | None, float | None]]],
        list[tuple[float | None, float | None]],
    ]:
        """Per label: size, and each feature's (median, mean) in its own units; and the
        features' (median, mean) over all profiles (NULLs left out)."""
        values = exp.select(
            exp.column("profile_key", table="p"),
            *(exp.alias_(self._feature(f, ctx), f"x{j}") for j, f in enumerate(fit.features)),
        ).from_(self._profiles(ctx))
        label = exp.column(self.trait, table="q", quoted=True)
        joined = (
            exp.select(exp.alias_(label, "label"), *(f"v.x{j}" for j in range(len(fit.features))))
            .from_(self.query(ctx).subquery("q"))
            .join(values.subquery("v"), using=["profile_key"])
        )
        measures = [
            m
            for j in range(len(fit.features))
            for m in (exp.Median(this=exp.column(f"x{j}")), exp.Avg(this=exp.column(f"x{j}")))
        ]
        per_label = engine.rows(
            exp.select("label", exp.Count(this=exp.Star()), *measures)
            .from_(joined.subquery("j"))
            .group_by("label")
        )
        everyone = engine.rows(
            exp.select(*(m.copy() for m in measures)).from_(joined.subquery("j"))
        )[0]

        def pairs(row: Sequence[object]) -> list[tuple[float | None, float | None]]:
            floats = [None if v is None else float(v) for v in row]  # type: ignore[arg-type]
            return list(zip(floats[0::2], floats[1::2], strict=True))

        sizes = {str(r[0]): int(r[1]) for r in per_label}
        stats = {str(r[0]): pairs(r[2:]) for r in per_label}
        return sizes, stats, pairs(everyone)

    # -- assignment -------------------------------------------------------------------

    def query(self, ctx: TraitContext) -> exp.Select:
        if not self._prepared:
            raise RuntimeError(
                f"trait {self.trait!r}: the cluster kind is fitted by prepare(), which "
                f"compute_traits runs before query()"
            )
        t = self.trait
        fit = self.fit
        if fit is None:  # no profiles: nothing to assign
            return exp.select(
                exp.column("profile_key", table="p"),
                output(exp.Null(), t, "text"),
                output(exp.Null(), f"{t}_distance", "double"),
            ).from_(self._profiles(ctx))
        dims = len(fit.features)
        source = exp.select(
            exp.column("profile_key", table="p"),
            *(
                exp.alias_(_standardise(self._fitted(f, ctx), m, sd), f"z{j}")
                for j, (f, m, sd) in enumerate(
                    zip(fit.features, fit.means, fit.scales, strict=True)
                )
            ),
        ).from_(self._profiles(ctx))
        nearest = _nearest(source, "profile_key", dims, fit.centroids)
        label = exp.Case()
        for i, name in enumerate(fit.labels):
            label = label.when(
                exp.EQ(this=exp.column("c", table="n"), expression=exp.Literal.number(i)),
                exp.Literal.string(name),
            )
        return exp.select(
            exp.column("profile_key", table="n"),
            output(label, t, "text"),
            output(exp.Sqrt(this=exp.column("m", table="n")), f"{t}_distance", "double"),
        ).from_(nearest.subquery("n"))
