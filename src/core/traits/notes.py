"""What a trait kind tells the run besides its values: warnings about the data, the diagnostics
of a model it fitted, and the values a text column can take.

- :class:`TraitWarning` — a problem with the data that does not stop the run (events older
  than a window, an as-of far past the data, ties that decide scores, a model refused). The
  pipeline logs each once per run and lists them in the run report (``RunReport.warnings``).
- :class:`ModelSummary` — how a fitted model came out (parameters, fit quality, holdout AUC
  and calibration, band sizes). Listed in the run report (``RunReport.models``) and kept in
  the store's ``trait_models`` table (the latest fit of each trait).
- :class:`ValueDomain` — the values a text column of a trait can hold (RFM cells, lifecycle
  stages, tiers, bands), so a segment condition comparing it with any other text is refused
  when the config loads.

:func:`newest_event`, :func:`staleness` and :func:`watch` are the checks event-based kinds
share: is the
newest event a trait reads older than the window (or limit) it looks at?
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlglot import exp

from segsync.model.where import folded

if TYPE_CHECKING:
    from segsync.engine import Engine

    from .base import EventSettings, TraitContext

__all__ = [
    "CalibrationBin",
    "Limit",
    "ModelSummary",
    "TraitWarning",
    "ValueDomain",
    "describe_age",
    "newest_event",
    "staleness",
    "watch",
]


class TraitWarning(BaseModel):
    """A problem with the data a trait read; the run goes on."""

    trait: str
    code: str
    """What kind of problem: ``no_events``, ``stale_window``, ``stale_lifecycle``,
    ``stale_recency``, ``stale_model``, ``ties_split``, ``model_refused``, ``model_failed``;
    ``mixed_currencies`` (the orders' amounts); ``text_not_held`` (a segment's condition
    compares a column with a text no profile holds but in another case or with spaces)."""
    message: str
    """One line for people: what, with the numbers, and what to do. It opens with the key it
    is about and a colon (``traits.rfm: …``, ``segments.vip: …``, ``revenue: …``): the HTML
    report shows that key apart."""


class CalibrationBin(BaseModel):
    """Holdout rows of similar predicted probability: predicted against observed."""

    rows: int
    lowest: float
    highest: float
    predicted: float
    """Mean predicted probability."""
    observed: float
    """Share of the rows with the event."""


class ModelSummary(BaseModel):
    """The diagnostics of a model a trait fitted this run (``clv``, ``propensity``)."""

    trait: str
    kind: str
    status: Literal["fitted", "refused", "failed"]
    """``fitted``: scores computed; ``refused``: fitted, but too weak to score anyone;
    ``failed``: could not be fitted on the data. Refused and failed traits are NULL."""
    message: str | None = None
    """Why it was refused or failed."""
    as_of: dt.datetime
    """The moment the model was fitted as of (naive UTC)."""
    details: dict[str, str] = Field(default_factory=dict)
    """Settings that shape the numbers: unit of time, horizon, window, cut-offs."""
    rows: dict[str, int] = Field(default_factory=dict)
    """What the fit saw: customers, repeat buyers, training and holdout rows…"""
    parameters: dict[str, float] = Field(default_factory=dict)
    standard_errors: dict[str, float | None] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    """Fit quality and summaries: log-likelihoods, holdout AUC, Brier score, means."""
    calibration: list[CalibrationBin] = Field(default_factory=list)
    """Holdout calibration, lowest predictions first (``propensity``)."""
    bands: dict[str, int] = Field(default_factory=dict)
    """Profiles per band (``clv``: churn risk)."""


@dataclass(frozen=True)
class ValueDomain:
    """The values a text column can hold; ``renamed`` maps values it no longer uses to what
    replaced them (for a helpful message)."""

    values: tuple[str, ...]
    renamed: Mapping[str, str] = field(default_factory=dict)


def watch(
    settings: EventSettings, ctx: TraitContext, *, end: dt.datetime | None = None
) -> tuple[Any, exp.Expr]:
    """``(key, condition)`` of the question :func:`newest_event` asks with these arguments:
    the events of the trait's type (and property filters) before ``end`` (default
    ``ctx.as_of``). A kind declares it in its :class:`~segsync.traits.base.EventSummary`
    (``newest``) so the pipeline's one scan of the events answers it (into ``ctx.memo`` under
    ``key``)."""
    from .base import EventSettings, event_conditions

    moment = (end or ctx.as_of).replace(tzinfo=None)
    key = ("newest_event", settings.event, tuple(sorted(settings.where.items())), moment)
    bare = EventSettings(event=settings.event, where=settings.where)
    return key, event_conditions(bare, type(ctx)(as_of=moment, dialect=ctx.dialect))


def newest_event(
    engine: Engine, settings: EventSettings, ctx: TraitContext, *, end: dt.datetime | None = None
) -> dt.datetime | None:
    """The time of the newest event of the trait's type (and property filters) before
    ``end`` (default ``ctx.as_of``), whatever the window's start; None when there is none.
    Asked once per computation of the traits (``ctx.memo``), however many traits ask — not at
    all when the pipeline's scan of the events answered it (see :func:`watch`)."""
    from .base import EVENTS_TABLE

    key, condition = watch(settings, ctx, end=end)
    if key in ctx.memo:
        cached: dt.datetime | None = ctx.memo[key]
        return cached
    value = engine.scalar(
        exp.select(exp.Max(this=exp.column("occurred_at"))).from_(EVENTS_TABLE).where(condition)
    )
    newest = value if isinstance(value, dt.datetime) else None
    ctx.memo[key] = newest
    return newest


def describe_age(newest: dt.datetime, as_of: dt.datetime) -> str:
    """``"1998-06-30 (10,012 days before as_of 2025-11-27)"``."""
    days = (as_of - newest) // dt.timedelta(days=1)
    return f"{newest.date().isoformat()} ({days:,} days before as_of {as_of.date().isoformat()})"


_HINT = (
    "if the data is historical, pin the run's as-of to its end: segsync run --as-of DATE, "
    "or [segments] as_of = DATE"
)


@dataclass(frozen=True)
class Limit:
    """A moment the newest event must not be older than: when it is, warn ``code`` with
    ``what`` (what that means for the trait's values)."""

    start: dt.datetime
    code: str
    what: str


def staleness(
    engine: Engine,
    trait: str,
    settings: EventSettings,
    ctx: TraitContext,
    limits: Sequence[Limit],
    *,
    end: dt.datetime | None = None,
) -> list[TraitWarning]:
    """The warning (at most one) of a trait reading events before ``end`` (default
    ``ctx.as_of``): none of its events at all (``no_events``: the event type may be
    misspelt), or the newest one older than the first of ``limits`` it fails."""
    stop = end or ctx.as_of
    newest = newest_event(engine, settings, ctx, end=stop)
    head = f"traits.{trait}: {_failed(ctx.failed_events)}"
    if newest is None:
        filters = f" matching {_filters(settings.where)}" if settings.where else ""
        return [
            TraitWarning(
                trait=trait,
                code="no_events",
                message=(
                    f"{head}no {settings.event!r} event{filters} before "
                    f"{stop.isoformat(sep=' ')}{_spelled_otherwise(engine, settings, stop)}; "
                    f"check the trait's event (and where), and the as-of ({_HINT})"
                ),
            )
        ]
    for limit in limits:
        if newest < limit.start:
            return [
                TraitWarning(
                    trait=trait,
                    code=limit.code,
                    message=(
                        f"{head}the newest {settings.event!r} event is from "
                        f"{describe_age(newest, ctx.as_of)}, so {limit.what}; {_HINT}"
                    ),
                )
            ]
    return []


def _spelled_otherwise(engine: Engine, settings: EventSettings, stop: dt.datetime) -> str:
    """When no event matches the trait's type and filters as written, but some do in another
    case or with spaces around the texts (``event = "Order"`` over ``'order'``, ``where = {
    channel = "App" }`` over ``'app'``): how many, and the spellings held; else nothing."""
    from .base import EVENTS_TABLE, property_equals, property_text, timestamp_literal

    # (what a person reads, the text read, the text wanted): the type, then each text filter
    texts: list[tuple[str, exp.Expr, str]] = [("event", exp.column("type"), settings.event)]
    texts += [(k, property_text(k), v) for k, v in settings.where.items() if isinstance(v, str)]
    loose: list[exp.Expr] = [
        folded(text).eq(folded(exp.Literal.string(value))) for _, text, value in texts
    ]
    # numbers and booleans as the trait reads them
    loose += [property_equals(k, v) for k, v in settings.where.items() if not isinstance(v, str)]
    before = exp.column("occurred_at") < timestamp_literal(stop.replace(tzinfo=None))
    row = engine.rows(
        exp.select(exp.func("count", exp.Star()), *(exp.func("min", t) for _, t, _ in texts))
        .from_(EVENTS_TABLE)
        .where(exp.and_(*loose, before))
    )[0]
    if not row[0]:
        return ""
    held = ", ".join(
        f"{label} {str(got)!r}"
        for (label, _, value), got in zip(texts, row[1:], strict=True)
        if got != value
    )
    return f" (but {int(row[0]):,} match it in another case or with spaces: {held})"


def _failed(sources: Sequence[str]) -> str:
    """What a warning about missing or old events says first when sources' events failed to
    pull in this run (nothing when none did)."""
    if not sources:
        return ""
    return (
        f"the events of {', '.join(sources)} failed to pull in this run (see its error), so "
        "the store holds only what earlier runs pulled; "
    )


def _filters(where: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k} = {v!r}" for k, v in where.items()) + "}"
