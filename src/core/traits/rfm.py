"""``rfm``: recency, frequency and monetary scores 1..N by n-tile, and a named RFM cell.

```toml
[traits.rfm]
kind = "rfm"
event = "order"
buckets = 5          # scores 1..5 (default)
# as_of = 2026-06-30 # default: the run's start
# within = "365d"    # or since/until; default: every event before as_of
```

Adds four profile columns: ``rfm_r``, ``rfm_f``, ``rfm_m`` (1..buckets; most recent, most
frequent, highest spend = buckets) and ``rfm`` (the cell name, e.g. ``champions``).

Only profiles with at least one matching event are scored. Each score is DuckDB's ``ntile``
over those profiles ordered by the measure, then by ``profile_key`` (ties go to the larger key
first): recency by the time of the last event, frequency by the number of events, monetary by
the sum of their values (DECIMAL; events without a value add nothing). ``ntile`` gives the
extra profiles of uneven buckets to the lowest scores (7 profiles in 5 buckets: 2, 2, 1, 1, 1),
and with fewer profiles than buckets the scores stop at the number of profiles. Profiles
without events get NULL scores and a NULL cell.

The cell comes from (R, F). The default mapping is the usual 5×5 R-F grid below; with
``buckets`` ≠ 5 each score is first scaled to 1..5 (``1 + round((s − 1) × 4 / (buckets − 1))``,
halves up). ``cells = {champions = ["5-5", "5-4"], ...}`` replaces the mapping: keys are cell
names, values ``"R-F"`` pairs on the trait's own 1..buckets scale, and every pair must be in
exactly one cell.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator
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

__all__ = ["DEFAULT_CELLS", "Rfm", "RfmSettings", "cell_map", "scale_to_five"]

DEFAULT_CELLS: dict[str, tuple[str, ...]] = {
    "champions": ("5-5", "5-4"),
    "loyal": ("4-5", "4-4", "3-5", "3-4"),
    "potential_loyalist": ("5-3", "5-2", "4-3", "4-2"),
    "new": ("5-1",),
    "promising": ("4-1",),
    "need_attention": ("3-3",),
    "about_to_sleep": ("3-2", "3-1"),
    "cannot_lose": ("2-5", "1-5"),
    "at_risk": ("2-4", "2-3", "1-4", "1-3"),
    "hibernating": ("2-2", "2-1", "1-2"),
    "lost": ("1-1",),
}
"""The default cells on the 5×5 grid of (recency, frequency) scores, as ``"R-F"`` pairs."""


def _pair(text: str, buckets: int) -> tuple[int, int]:
    r, sep, f = text.partition("-")
    if sep and r.isdigit() and f.isdigit() and 1 <= int(r) <= buckets and 1 <= int(f) <= buckets:
        return int(r), int(f)
    raise ValueError(
        f"expected 'R-F' pairs such as '{buckets}-{buckets}' with scores 1..{buckets}, "
        f"found {text!r}"
    )


def scale_to_five(score: int, buckets: int) -> int:
    """A score on 1..buckets moved to 1..5 for the default mapping (halves round up)."""
    return 1 + ((score - 1) * 8 + (buckets - 1)) // (2 * (buckets - 1))


def cell_map(buckets: int, cells: dict[str, list[str]] | None) -> dict[tuple[int, int], str]:
    """(R, F) on 1..buckets → cell name."""
    if cells is not None:
        return {_pair(p, buckets): name for name, pairs in cells.items() for p in pairs}
    default = {_pair(p, 5): name for name, pairs in DEFAULT_CELLS.items() for p in pairs}
    grid = range(1, buckets + 1)
    return {
        (r, f): default[scale_to_five(r, buckets), scale_to_five(f, buckets)]
        for r in grid
        for f in grid
    }


class RfmSettings(WindowSettings):
    buckets: int = Field(default=5, ge=2, le=20)
    cells: dict[str, list[str]] | None = None
    """Cell name → ``"R-F"`` pairs; replaces the default mapping."""

    @field_validator("cells")
    @classmethod
    def _cells(
        cls, v: dict[str, list[str]] | None, info: ValidationInfo
    ) -> dict[str, list[str]] | None:
        if v is None:
            return v
        buckets = info.data.get("buckets")
        if not isinstance(buckets, int):
            return v  # buckets itself is invalid and reported
        seen: dict[tuple[int, int], str] = {}
        for name, pairs in v.items():
            if not name or not (name[0].isalpha() and name.replace("_", "").isalnum()):
                raise ValueError(f"expected cell names of letters, digits and '_', found {name!r}")
            for text in pairs:
                pair = _pair(text, buckets)
                if pair in seen:
                    raise ValueError(
                        f"expected each R-F pair in one cell only; {text!r} is in both "
                        f"{seen[pair]!r} and {name!r}"
                    )
                seen[pair] = name
        missing = [
            f"{r}-{f}"
            for r in range(1, buckets + 1)
            for f in range(1, buckets + 1)
            if (r, f) not in seen
        ]
        if missing:
            raise ValueError(
                f"expected every R-F pair from 1-1 to {buckets}-{buckets} in a cell; "
                f"missing: {', '.join(missing)}"
            )
        return v


def _score(measure: exp.Expr, buckets: int) -> exp.Expr:
    """``ntile(buckets) OVER (ORDER BY measure, profile_key)``."""
    return exp.Window(
        this=exp.Anonymous(this="ntile", expressions=[exp.Literal.number(buckets)]),
        order=exp.Order(
            expressions=[exp.Ordered(this=measure), exp.Ordered(this=exp.column("profile_key"))]
        ),
    )


class Rfm(TraitKind[RfmSettings]):
    name: ClassVar[str] = "rfm"
    Settings: ClassVar[type[RfmSettings]] = RfmSettings

    def columns(self) -> dict[str, AttributeType]:
        t = self.trait
        return {t: "text", f"{t}_r": "integer", f"{t}_f": "integer", f"{t}_m": "integer"}

    def _cell(self) -> exp.Expr:
        by_cell: dict[str, dict[int, list[int]]] = {}
        for (r, f), name in sorted(cell_map(self.settings.buckets, self.settings.cells).items()):
            by_cell.setdefault(name, {}).setdefault(r, []).append(f)
        case = exp.Case()
        r_col, f_col = exp.column("r", table="a"), exp.column("f", table="a")
        for name, rows in by_cell.items():
            condition = exp.or_(
                *(
                    exp.and_(
                        exp.EQ(this=r_col.copy(), expression=exp.Literal.number(r)),
                        f_col.copy().isin(*(exp.Literal.number(f) for f in fs)),
                    )
                    for r, fs in rows.items()
                )
            )
            case = case.when(condition, exp.Literal.string(name))
        return case

    def query(self, ctx: TraitContext) -> exp.Select:
        buckets = self.settings.buckets
        monetary = exp.Coalesce(
            this=exp.Sum(this=exp.column("value")), expressions=[exp.Literal.number(0)]
        )
        scored = (
            exp.select(
                "profile_key",
                exp.alias_(_score(exp.Max(this=exp.column("occurred_at")), buckets), "r"),
                exp.alias_(_score(exp.Count(this=exp.Star()), buckets), "f"),
                exp.alias_(
                    _score(exp.cast(monetary, exp.DataType.build("DECIMAL(38,4)")), buckets), "m"
                ),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        t = self.trait
        return per_profile(
            scored,
            output(self._cell(), t, "text"),
            output(exp.column("r", table="a"), f"{t}_r", "integer"),
            output(exp.column("f", table="a"), f"{t}_f", "integer"),
            output(exp.column("m", table="a"), f"{t}_m", "integer"),
        )
