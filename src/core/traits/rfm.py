"""``rfm``: recency, frequency and monetary scores 1..N, and a named RFM cell.

```toml
[traits.rfm]
kind = "rfm"
event = "order"
ties = "share"       # equal measures get equal scores (see segsync.traits.ties)
buckets = 5          # scores 1..5 (default)
# stale_after = "365d"  # warn when the top recency score holds nobody this recent
# as_of = 2026-06-30 # default: the run's as-of
# within = "365d"    # or since/until; default: every event before as_of
```

Adds four profile columns: ``rfm_r``, ``rfm_f``, ``rfm_m`` (1..buckets; most recent, most
frequent, highest spend = the highest score) and ``rfm`` (the cell name, e.g. ``champions``).

Only profiles with at least one matching event are scored; the others get NULL scores and a
NULL cell. The measures: recency is the time of the last event, frequency the number of
events, monetary the sum of their values (DECIMAL; events without a value add nothing).

**Ties** (:mod:`segsync.traits.ties`): ``"share"`` gives equal measures equal scores, with
buckets as even as the ties allow; ``"split"`` ranks every profile apart, ties broken by
``profile_key``, and scores by SQL ``ntile`` (even buckets; identical customers may get
different scores). A config without ``ties`` gets ``"split"``, what it was computed with
before the setting existed, so upgrading moves nobody; ``segsync init`` and the examples set
``"share"``. With ``split``, a tie group of more than 10 % of the scored profiles cut across
a score boundary is reported (a warning naming the numbers).

The cell comes from (R, F) by the 5×5 grid :data:`DEFAULT_CELLS`, whose names differ from the
``lifecycle`` stages' (:data:`RENAMED_CELLS`: the names they replaced); with ``buckets`` ≠ 5
each score is first scaled to 1..5 (``1 + round((s − 1) × 4 / (buckets − 1))``, halves up).
``cells = {champions = ["5-5", "5-4"], ...}`` replaces the mapping: keys are cell names,
values ``"R-F"`` pairs on the trait's own 1..buckets scale, and every pair must be in
exactly one cell.

**Staleness** (warnings, once per run): no matching event at all before ``as_of``; the
window's newest event older than its start (nobody scored); or the newest event older than
``stale_after`` before ``as_of`` — the top recency score then holds nobody active lately
(on historical data with ``as_of`` left at today, "champions" who have not bought in years).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

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
    parse_duration,
    per_profile,
)
from .notes import Limit, TraitWarning, ValueDomain, staleness
from .ties import (
    WARN_SHARE,
    TieGroup,
    Ties,
    ntile_score,
    rank_score,
    share_starts,
    sizes,
    split_score,
    straddling,
    tie_groups,
)

if TYPE_CHECKING:
    from segsync.engine import Engine

__all__ = [
    "DEFAULT_CELLS",
    "RENAMED_CELLS",
    "Rfm",
    "RfmSettings",
    "cell_map",
    "scale_to_five",
]

log = logging.getLogger("segsync.traits")

DEFAULT_CELLS: dict[str, tuple[str, ...]] = {
    "champions": ("5-5", "5-4"),
    "regulars": ("4-5", "4-4", "3-5", "3-4"),
    "potential_regulars": ("5-3", "5-2", "4-3", "4-2"),
    "recent_first": ("5-1",),
    "promising": ("4-1",),
    "need_attention": ("3-3",),
    "about_to_sleep": ("3-2", "3-1"),
    "cannot_lose": ("2-5", "1-5"),
    "slipping": ("2-4", "2-3", "1-4", "1-3"),
    "hibernating": ("2-2", "2-1", "1-2"),
    "dormant": ("1-1",),
}
"""The default cells on the 5×5 grid of (recency, frequency) scores, as ``"R-F"`` pairs."""

RENAMED_CELLS: dict[str, str] = {
    "loyal": "regulars",
    "potential_loyalist": "potential_regulars",
    "new": "recent_first",
    "at_risk": "slipping",
    "lost": "dormant",
}
"""Default cell names of segsync 0.1 that were also ``lifecycle`` stages (or contained one),
and their replacements: a relative RFM cell and an absolute lifecycle stage with one name
were read as one thing, and on the same data they barely overlap."""

_MEASURES = (("r", "last event time"), ("f", "number of events"), ("m", "total value"))
_SCORED = "_segsync_rfm_"


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
    ties: Ties | None = None
    """``"share"`` or ``"split"``; absent: ``"split"`` (see the module docstring)."""
    stale_after: str = "365d"
    """Warn when the newest event is older than this before ``as_of``."""
    cells: dict[str, list[str]] | None = None
    """Cell name → ``"R-F"`` pairs; replaces the default mapping."""

    @field_validator("stale_after")
    @classmethod
    def _stale(cls, v: str) -> str:
        parse_duration(v)
        return v

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

    @property
    def tie_rule(self) -> Ties:
        return self.ties or "split"


def _shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


class Rfm(TraitKind[RfmSettings]):
    name: ClassVar[str] = "rfm"
    Settings: ClassVar[type[RfmSettings]] = RfmSettings

    def __init__(self, trait: str, settings: RfmSettings) -> None:
        super().__init__(trait, settings)
        self._starts: dict[str, list[int]] | None = None
        """Per measure, where scores 2, 3, … start (``share``); set by :meth:`prepare`."""
        self._warnings: list[TraitWarning] = []

    @property
    def _table(self) -> str:
        return f"{_SCORED}{self.trait}"

    def columns(self) -> dict[str, AttributeType]:
        t = self.trait
        return {t: "text", f"{t}_r": "integer", f"{t}_f": "integer", f"{t}_m": "integer"}

    def text_values(self) -> dict[str, ValueDomain]:
        cells = self.settings.cells
        mapped = set(cell_map(self.settings.buckets, cells).values())
        names = tuple(n for n in (cells if cells is not None else DEFAULT_CELLS) if n in mapped)
        renamed = RENAMED_CELLS if cells is None else {}
        return {self.trait: ValueDomain(values=names, renamed=renamed)}

    # -- the per-profile measures and their ties ---------------------------------------

    def prepare(self, engine: Engine, ctx: TraitContext) -> None:
        """Measure every profile with events into a working table, then place the ties."""
        self._warnings = []
        monetary = exp.Coalesce(
            this=exp.Sum(this=exp.column("value")), expressions=[exp.Literal.number(0)]
        )
        measured = (
            exp.select(
                "profile_key",
                exp.alias_(exp.Max(this=exp.column("occurred_at")), "r"),
                exp.alias_(exp.Count(this=exp.Star()), "f"),
                exp.alias_(exp.cast(monetary, exp.DataType.build("DECIMAL(38,4)")), "m"),
            )
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        engine.create_table(self._table, measured, temporary=True)
        total = int(engine.scalar(exp.select(exp.Count(this=exp.Star())).from_(self._table)))
        buckets, rule = self.settings.buckets, self.settings.tie_rule
        self._starts = {}
        for measure, label in _MEASURES:
            at_least = 2 if rule == "share" else int(total * WARN_SHARE) + 1
            groups = [
                TieGroup(value=v, count=int(n), start=int(s))
                for v, n, s in engine.rows(tie_groups(self._table, measure, at_least=at_least))
            ]
            if rule == "share":
                starts = share_starts(((g.start, g.count) for g in groups), total, buckets)
                self._starts[measure] = starts
                self._log_shared(measure, label, groups, starts, total)
            else:
                self._warn_split(measure, label, groups, total)

    def _log_shared(
        self, measure: str, label: str, groups: list[TieGroup], starts: list[int], total: int
    ) -> None:
        big = [g for g in groups if g.count > total * WARN_SHARE]
        if not big:
            return
        edges = [0, *starts]
        held = ", ".join(
            f"{g.count:,} with {label} {_shown(g.value)} all score "
            f"{sum(1 for e in edges if e <= g.start)}"
            for g in big
        )
        log.info(
            "traits.%s: %s scores share ties (%s); scores 1..%d hold %s of %s profiles",
            self.trait,
            measure.upper(),
            held,
            len(starts) + 1,
            " / ".join(f"{n:,}" for n in sizes(starts, total)),
            f"{total:,}",
        )

    def _warn_split(self, measure: str, label: str, groups: list[TieGroup], total: int) -> None:
        buckets = self.settings.buckets
        for group, low, high in straddling(groups, total, lambda p: ntile_score(p, total, buckets)):
            implicit = (
                " (ties is not set, so the rule is 'split', what configs got before the "
                "setting existed)"
                if self.settings.ties is None
                else ""
            )
            self._warnings.append(
                TraitWarning(
                    trait=self.trait,
                    code="ties_split",
                    message=(
                        f"traits.{self.trait}: {group.count:,} of {total:,} scored profiles "
                        f"({group.count / total:.1%}) have the same {label} "
                        f"({_shown(group.value)}), and ties = 'split' gives them "
                        f"{measure.upper()} scores {low} to {high} by profile key{implicit}; "
                        f"set ties = 'share' so equal customers get equal scores"
                    ),
                )
            )

    # -- the values ------------------------------------------------------------------------

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

    def _score(self, measure: str) -> exp.Expr:
        if self._starts is not None and measure in self._starts:
            return rank_score(exp.column(measure), self._starts[measure])
        return split_score(exp.column(measure), self.settings.buckets)

    def query(self, ctx: TraitContext) -> exp.Select:
        if self._starts is None:
            raise RuntimeError(
                f"trait {self.trait!r}: the rfm kind measures the profiles in prepare(), which "
                "compute_traits runs before query()"
            )
        scored = exp.select(
            "profile_key", *(exp.alias_(self._score(m), m) for m, _ in _MEASURES)
        ).from_(self._table)
        t = self.trait
        return per_profile(
            scored,
            output(self._cell(), t, "text"),
            output(exp.column("r", table="a"), f"{t}_r", "integer"),
            output(exp.column("f", table="a"), f"{t}_f", "integer"),
            output(exp.column("m", table="a"), f"{t}_m", "integer"),
        )

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        engine.drop(self._table)
        s = self.settings
        start, end = s.bounds(ctx.as_of)
        limits = []
        if start is not None:
            limits.append(
                Limit(
                    start,
                    "stale_window",
                    f"its window [{start.isoformat(sep=' ')}, {end.isoformat(sep=' ')}) "
                    "holds none and nobody is scored",
                )
            )
        recent = end - parse_duration(s.stale_after)
        top = cell_map(s.buckets, s.cells).get((s.buckets, s.buckets), "the top cell")
        limits.append(
            Limit(
                recent,
                "stale_recency",
                f"the top recency score (R = {s.buckets}) holds nobody with one in the last "
                f"{s.stale_after}, and cells such as {top!r} name people who have not bought "
                "for that long",
            )
        )
        return [*self._warnings, *staleness(engine, self.trait, s, ctx, limits, end=end)]
