"""``distance``: kilometres from a configured point to the profile's coordinates.

```toml
[attributes]
latitude = "double"
longitude = "double"

[traits.km_from_shop]
kind = "distance"
lat = 48.8566          # the point: latitude in [-90, 90]
lon = 2.3522           # longitude in [-180, 180]
lat_column = "latitude"
lon_column = "longitude"
```

The great-circle (haversine) distance on a sphere of radius 6371.0088 km (the mean Earth
radius), as DOUBLE, unrounded. The profile's coordinates come from two numeric profile columns
(``integer``, ``decimal`` or ``double`` attributes you declare), read as DOUBLE. The distance
is NULL when either is missing, not a finite number, or out of range (latitude outside
[-90, 90], longitude outside [-180, 180]). "Within 1 km of the shop":
``where = "km_from_shop <= 1"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import ClassVar, Self

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from segsync.model.profile import AttributeType

from .base import TraitContext, TraitKind, TraitSettings, output

__all__ = ["EARTH_RADIUS_KM", "Distance", "DistanceSettings"]

EARTH_RADIUS_KM = 6371.0088
_COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_NUMERIC: tuple[AttributeType, ...] = ("integer", "decimal", "double")
_DOUBLE = exp.DataType.build("DOUBLE")


class DistanceSettings(TraitSettings):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat_column: str
    lon_column: str

    @field_validator("lat_column", "lon_column")
    @classmethod
    def _column(cls, v: str) -> str:
        if not _COLUMN_RE.match(v):
            raise ValueError(
                "expected a profile column name of lower-case letters, digits and '_', "
                "starting with a letter"
            )
        return v

    @model_validator(mode="after")
    def _two_columns(self) -> Self:
        if self.lat_column == self.lon_column:
            raise ValueError(
                f"expected different lat_column and lon_column, found {self.lat_column!r} twice"
            )
        return self


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


class Distance(TraitKind[DistanceSettings]):
    name: ClassVar[str] = "distance"
    Settings: ClassVar[type[DistanceSettings]] = DistanceSettings

    def columns(self) -> dict[str, AttributeType]:
        return {self.trait: "double"}

    def check(self, columns: Mapping[str, AttributeType]) -> list[str]:
        """Problems with ``lat_column``/``lon_column`` against the profile columns."""
        problems = []
        for key in ("lat_column", "lon_column"):
            name = getattr(self.settings, key)
            type_ = columns.get(name)
            if type_ is None:
                problems.append(
                    f"traits.{self.trait}.{key}: expected a profile column (declare it in "
                    f"[attributes]), found {name!r}"
                )
            elif type_ not in _NUMERIC:
                problems.append(
                    f"traits.{self.trait}.{key}: expected a numeric column, found {name!r} "
                    f"of type {type_}"
                )
        return problems

    def uses(self) -> frozenset[str]:
        return frozenset({self.settings.lat_column, self.settings.lon_column})

    def query(self, ctx: TraitContext) -> exp.Select:
        s = self.settings

        def column(name: str) -> exp.Expr:
            return exp.TryCast(this=exp.column(name, table="p", quoted=True), to=_DOUBLE.copy())

        def number(value: float) -> exp.Expr:
            return exp.cast(exp.Literal.number(repr(value)), _DOUBLE)

        lat, lon = column(s.lat_column), column(s.lon_column)
        phi1, lam1 = number(math.radians(s.lat)), number(math.radians(s.lon))
        phi2, lam2 = _fn("radians", lat.copy()), _fn("radians", lon.copy())
        half = exp.Literal.number(2)

        def sin2(a: exp.Expr, b: exp.Expr) -> exp.Expr:
            return exp.Pow(
                this=_fn(
                    "sin",
                    exp.Div(this=exp.paren(exp.Sub(this=a, expression=b)), expression=half.copy()),
                ),
                expression=exp.Literal.number(2),
            )

        h = exp.Add(
            this=sin2(phi2.copy(), phi1.copy()),
            expression=exp.Mul(
                this=exp.Mul(this=_fn("cos", phi1.copy()), expression=_fn("cos", phi2.copy())),
                expression=sin2(lam2.copy(), lam1.copy()),
            ),
        )
        h_clamped = exp.Least(this=exp.cast(exp.Literal.number(1), _DOUBLE), expressions=[h])
        km = exp.Mul(
            this=number(2 * EARTH_RADIUS_KM),
            expression=_fn("asin", exp.Sqrt(this=h_clamped)),
        )
        in_range = exp.and_(
            exp.Between(this=lat.copy(), low=number(-90.0), high=number(90.0)),
            exp.Between(this=lon.copy(), low=number(-180.0), high=number(180.0)),
        )
        value = exp.Case(ifs=[exp.If(this=in_range, true=km)])
        return exp.select(
            exp.column("profile_key", table="p"), output(value, self.trait, "double")
        ).from_(exp.alias_(exp.to_table(ctx.profiles), "p", table=True))
