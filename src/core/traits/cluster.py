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
```

Adds two columns: ``persona`` (the cluster's label, text) and ``persona_distance`` (double:
the distance to the cluster's centroid, in standardised units).

**Features** are numeric profile columns — built-ins (``orders_count``, ``revenue``,
``source_count``) and numeric attributes — plus the derived ``days_since_last_order`` (whole
days from ``last_order_at`` to ``as_of``; this name always means the derived feature) — and
other traits' numeric columns, which are then computed first (read through ``ctx.profiles``).
Features are checked when the config loads (:meth:`Cluster.check`) and again against the
table read when the trait is computed; a problem raises ``ConfigError`` naming
``traits.NAME.features``.

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
4. Lloyd iterations as DuckDB SQL: assign each point to its nearest centroid (squared
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
``412 people: revenue high (1,240 vs 310), orders_count high (6.1 vs 2.0),
days_since_last_order low (21 vs 140)`` — features in order of distinctiveness, each the
centroid against the overall (sample) mean: ``high``/``low`` at ±0.5 standard deviations,
else ``typical``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import accumulate
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, ValidationInfo, field_validator
from sqlglot import exp

from segsync.errors import ConfigError
from segsync.profile import AttributeType

from .base import TraitContext, TraitKind, TraitSettings, output, timestamp_literal
from .recency import days_between

if TYPE_CHECKING:
    import duckdb

    from segsync.store import Store

__all__ = [
    "CLUSTERS_TABLE",
    "DAYS_SINCE_LAST_ORDER",
    "Cluster",
    "ClusterFit",
    "ClusterSettings",
    "kmeans_plus_plus",
    "persona",
]

log = logging.getLogger("segsync.traits")

CLUSTERS_TABLE = "trait_clusters"
DAYS_SINCE_LAST_ORDER = "days_since_last_order"
"""The derived feature: whole days from ``last_order_at`` to ``as_of`` (NULL without orders)."""
HIGH_LOW = 0.5
"""Standard deviations from the mean at which a centroid's feature is "high" or "low"."""

_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE", "DECIMAL",
)  # fmt: skip
_MAX_FEATURES = 50
_SAMPLE = "_segsync_cluster_sample"
_POINTS = "_segsync_cluster_points"
_DOUBLE = exp.DataType.build("DOUBLE")


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

    def original(self, centroid: Sequence[float]) -> tuple[float, ...]:
        """A standardised point in the features' own units."""
        return tuple(z * s + m for z, s, m in zip(centroid, self.scales, self.means, strict=True))


# -- plain-Python pieces ------------------------------------------------------------------


def kmeans_plus_plus(
    points: Sequence[Sequence[float]], k: int, rng: random.Random
) -> list[tuple[float, ...]]:
    """k-means++ seeding (see the module docstring); ``points`` is non-empty."""
    n = len(points)
    columns = list(zip(*points, strict=True)) if points else []
    first = tuple(points[rng.randrange(n)])
    centroids = [first]
    nearest = [0.0] * n
    for column, c in zip(columns, first, strict=True):
        nearest = [d + (x - c) * (x - c) for d, x in zip(nearest, column, strict=True)]
    while len(centroids) < k:
        running = list(accumulate(nearest))  # left-to-right sums
        total = running[-1]
        if total <= 0.0:
            centroids.append(first)  # fewer distinct points than k: repeat, stays empty
            continue
        target = rng.random() * total
        pick = bisect_right(running, target)  # the first point whose running sum > target
        if pick >= n:  # rounding ran past the end: the last point that can be picked
            pick = max(i for i, d in enumerate(nearest) if d > 0.0)
        chosen = tuple(points[pick])
        centroids.append(chosen)
        distance = [0.0] * n
        for column, c in zip(columns, chosen, strict=True):
            distance = [d + (x - c) * (x - c) for d, x in zip(distance, column, strict=True)]
        nearest = [a if a <= b else b for a, b in zip(nearest, distance, strict=True)]
    return centroids


def _number(value: float) -> str:
    if abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{round(value, 1) + 0.0:,.1f}"


def persona(
    size: int,
    features: Sequence[str],
    centroid: Sequence[float],
    means: Sequence[float],
    standardised: Sequence[float],
) -> str:
    """``"412 people: revenue high (1,240 vs 310), orders_count typical (2.1 vs 2.0)"``:
    each feature's centroid against the overall mean, the most distinctive first."""
    order = sorted(range(len(features)), key=lambda j: (-abs(standardised[j]), j))
    parts = []
    for j in order:
        z = standardised[j]
        level = "high" if z >= HIGH_LOW else "low" if z <= -HIGH_LOW else "typical"
        parts.append(f"{features[j]} {level} ({_number(centroid[j])} vs {_number(means[j])})")
    who = "person" if size == 1 else "people"
    return f"{size:,} {who}: " + ", ".join(parts)


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
    least = exp.Anonymous(this="LEAST", expressions=[exp.column(f"d{i}") for i in range(k)])
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
        key = f"traits.{self.trait}.features"
        problems = []
        for name in self.settings.features:
            if name == DAYS_SINCE_LAST_ORDER or name in numeric:
                continue
            what = "not numeric" if name in columns else "unknown profile column"
            problems.append(
                f"{key}: {what} {name!r}; expected a numeric profile column "
                f"({', '.join(numeric)}) or {DAYS_SINCE_LAST_ORDER}"
            )
        return problems

    def _check_features(self, store: Store, ctx: TraitContext) -> None:
        types = {str(row[0]): str(row[1]) for row in store.rows(f"DESCRIBE {ctx.profiles}")}
        numeric = sorted(c for c, t in types.items() if t.upper().startswith(_NUMERIC_TYPES))
        key = f"traits.{self.trait}.features"
        hint = (
            f"expected a numeric profile column ({', '.join(numeric) or 'none'}) or "
            f"{DAYS_SINCE_LAST_ORDER}"
        )
        problems = []
        for name in self.settings.features:
            if name == DAYS_SINCE_LAST_ORDER:
                if "last_order_at" not in types:
                    problems.append(f"{key}: {name} needs the profile column last_order_at")
            elif name not in types:
                problems.append(f"{key}: unknown profile column {name!r}; {hint}")
            elif name not in numeric:
                problems.append(f"{key}: {name!r} is a {types[name]} profile column; {hint}")
        if len(problems) == 1:
            raise ConfigError(problems[0])
        if problems:
            raise ConfigError(f"{key}: {len(problems)} problem(s)", problems)

    def _feature(self, name: str, ctx: TraitContext) -> exp.Expr:
        """The feature of profile ``p`` as DOUBLE (NULL when missing or not finite)."""
        if name == DAYS_SINCE_LAST_ORDER:
            days = days_between(
                exp.column("last_order_at", table="p"), timestamp_literal(ctx.as_of)
            )
            return exp.cast(days, _DOUBLE)
        value = exp.cast(exp.column(name, table="p", quoted=True), _DOUBLE)
        finite = exp.Anonymous(this="isfinite", expressions=[value.copy()])
        return exp.Case(ifs=[exp.If(this=finite, true=value)])

    def _profiles(self, ctx: TraitContext) -> exp.Expr:
        return exp.alias_(exp.to_table(ctx.profiles), "p", table=True)

    def uses(self) -> frozenset[str]:
        return frozenset(self.settings.features) - {DAYS_SINCE_LAST_ORDER}

    # -- fit --------------------------------------------------------------------------

    def prepare(self, store: Store, ctx: TraitContext) -> None:
        """Fit the clusters (see the module docstring) and record them in ``trait_clusters``."""
        self._prepared = True
        self.fit = None
        self._check_features(store, ctx)
        con = store.con
        self.fit = self._fit(con, ctx)
        # (on an error the transaction rolls back, and the temporary tables with it)
        con.execute(f"DROP TABLE IF EXISTS {_SAMPLE}")
        con.execute(f"DROP TABLE IF EXISTS {_POINTS}")
        self._record(store, ctx)

    def _fit(self, con: duckdb.DuckDBPyConnection, ctx: TraitContext) -> ClusterFit | None:
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
                *(exp.alias_(self._feature(f, ctx), x) for f, x in zip(features, xs, strict=True)),
            )
            .from_(self._profiles(ctx))
            .order_by("h", exp.column("profile_key", table="p"))
            .limit(s.sample)
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SAMPLE} AS SELECT "
            f"row_number() OVER (ORDER BY h, profile_key) - 1 AS i, {', '.join(xs)} "
            f"FROM ({sample.sql(dialect='duckdb')}) ORDER BY i"
        )
        stats = con.execute(
            "SELECT count(*), "
            + ", ".join(f"avg({x}), stddev_pop({x})" for x in xs)
            + f" FROM {_SAMPLE}"
        ).fetchone()
        assert stats is not None
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
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_POINTS} AS SELECT i, "
            + ", ".join(z.sql(dialect="duckdb") for z in zs)
            + f", CAST(NULL AS INTEGER) AS c FROM {_SAMPLE} ORDER BY i"
        )
        zcols = ", ".join(f"z{j}" for j in range(dims))
        points = con.execute(f"SELECT {zcols} FROM {_POINTS} ORDER BY i").fetchall()
        centroids = kmeans_plus_plus(points, s.k, random.Random(s.seed))  # noqa: S311 (seeded)
        del points
        self._assign(con, dims, centroids)
        iterations, converged = 0, False
        while iterations < s.max_iterations:
            centroids = self._update(con, dims, centroids)
            iterations += 1
            if self._assign(con, dims, centroids) == 0:
                converged = True
                break
        sizes = dict(con.execute(f"SELECT c, count(*) FROM {_POINTS} GROUP BY c").fetchall())
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
        )

    def _assign(
        self, con: duckdb.DuckDBPyConnection, dims: int, centroids: Sequence[Sequence[float]]
    ) -> int:
        """Move every sample point to its nearest centroid; return how many moved."""
        source = exp.select("i", *(f"z{j}" for j in range(dims))).from_(_POINTS)
        nearest = _nearest(source, "i", dims, centroids).sql(dialect="duckdb")
        row = con.execute(
            f"UPDATE {_POINTS} SET c = n.c FROM ({nearest}) AS n "
            f"WHERE {_POINTS}.i = n.i AND {_POINTS}.c IS DISTINCT FROM n.c"
        ).fetchone()
        return int(row[0]) if row else 0

    def _update(
        self, con: duckdb.DuckDBPyConnection, dims: int, centroids: Sequence[tuple[float, ...]]
    ) -> list[tuple[float, ...]]:
        """Each centroid → the mean of its points; empty clusters re-seeded (see above)."""
        means = ", ".join(f"avg(z{j})" for j in range(dims))
        rows = con.execute(f"SELECT c, {means} FROM {_POINTS} GROUP BY c").fetchall()
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
        far = con.execute(
            f"SELECT {', '.join(f'z{j}' for j in range(dims))}, d FROM "
            f"(SELECT *, {own.sql(dialect='duckdb')} AS d FROM {_POINTS}) "
            f"WHERE d > 0 ORDER BY d DESC, i LIMIT {len(empty)}"
        ).fetchall()
        for i, row in zip(empty, far, strict=False):
            new[i] = tuple(float(v) for v in row[:dims])
        return new

    def _record(self, store: Store, ctx: TraitContext) -> None:
        con = store.con
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {CLUSTERS_TABLE} (trait VARCHAR NOT NULL, "
            f"cluster INTEGER NOT NULL, label VARCHAR NOT NULL, size BIGINT NOT NULL, "
            f"centroid JSON, persona VARCHAR)"
        )
        con.execute(f"DELETE FROM {CLUSTERS_TABLE} WHERE trait = ?", [self.trait])
        fit = self.fit
        if fit is None:
            log.info("trait %s: no profiles to cluster", self.trait)
            return
        counted = self.query(ctx).sql(dialect="duckdb")
        sizes = dict(
            con.execute(f'SELECT "{self.trait}", count(*) FROM ({counted}) GROUP BY 1').fetchall()
        )
        state = "converged" if fit.converged else "stopped at max_iterations"
        log.info(
            "trait %s: k-means over %s on %d sampled profiles, %s after %d iteration(s)",
            self.trait,
            ", ".join(fit.features),
            fit.sample_size,
            state,
            fit.iterations,
        )
        for number, (label, centroid) in enumerate(zip(fit.labels, fit.centroids, strict=True), 1):
            values = fit.original(centroid)
            size = int(sizes.get(label, 0))
            text = persona(size, fit.features, values, fit.means, centroid)
            con.execute(
                f"INSERT INTO {CLUSTERS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                [
                    self.trait,
                    number,
                    label,
                    size,
                    json.dumps({f: round(v, 6) for f, v in zip(fit.features, values, strict=True)}),
                    text,
                ],
            )
            log.info("trait %s: cluster %d %r: %s", self.trait, number, label, text)

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
                exp.alias_(_standardise(self._feature(f, ctx), m, sd), f"z{j}")
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
