"""The trait-kind contract and the pieces every event-based kind shares.

A *trait kind* is a class registered through the ``register_trait_kinds`` hook. A configured
trait (``[traits.NAME]`` with ``kind = "..."``) is one instance of it: the kind's ``Settings``
model validates the table's other keys, :meth:`TraitKind.columns` names the profile columns it
adds, and :meth:`TraitKind.query` returns a sqlglot ``SELECT profile_key, <columns>`` over the
store's ``profiles`` and ``profile_events`` tables, with one row per profile.

A kind that summarises events per profile (counts, sums, the last event…) *declares* the
summary (:meth:`TraitKind.events`, an :class:`EventSummary`: which events, which aggregates)
and reads its rows with :meth:`TraitKind.event_rows`; the pipeline then computes the
summaries of every such trait in one scan of the events (:mod:`segsync.pipeline.scan`)
instead of one scan each, with the same rows.

Times are naive UTC, as the store keeps them. Every event-based kind reads only events before
``as_of`` (the run's start unless the trait sets ``as_of``); a window narrows that further
(see :class:`WindowSettings`).
"""

from __future__ import annotations

import abc
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from sqlglot import exp

from segsync.model.profile import ATTRIBUTE_SQL_TYPES, AttributeType

if TYPE_CHECKING:
    from segsync.engine import Engine

    from .notes import ModelSummary, TraitWarning, ValueDomain

__all__ = [
    "EVENTS_TABLE",
    "PROFILES_TABLE",
    "EventSettings",
    "EventSummary",
    "TraitContext",
    "TraitKind",
    "TraitSettings",
    "TraitSpec",
    "UtcTime",
    "WindowSettings",
    "check_property_name",
    "event_conditions",
    "output",
    "parse_duration",
    "per_profile",
    "property_equals",
    "property_text",
    "property_value",
    "sql_type",
    "timestamp_literal",
]

PROFILES_TABLE = "profiles"
EVENTS_TABLE = "profile_events"
_PROPERTY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PROPERTY_HINT = "a property name of letters, digits and '_', not starting with a digit"
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,5})([hdw])$")
_DURATION_UNITS = {
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
}


def parse_duration(text: str) -> dt.timedelta:
    """``"30d"`` → 30 days (``h`` hours, ``d`` days, ``w`` weeks); ValueError otherwise."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError('expected a duration such as "30d", "12h" or "2w"')
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _to_utc(value: Any) -> Any:
    """TOML dates and date-times and ISO 8601 text → naive UTC; a date is its midnight UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                "expected an ISO date or date-time such as 2026-01-31 or 2026-01-31T09:00:00Z"
            ) from None
    else:
        raise ValueError(
            "expected an ISO date or date-time such as 2026-01-31 or 2026-01-31T09:00:00Z"
        )
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


UtcTime = Annotated[dt.datetime, BeforeValidator(_to_utc)]
"""A moment as the store keeps it: naive UTC. Offsets are converted; a date is midnight UTC."""


class TraitSettings(BaseModel):
    """Base of every kind's ``Settings``: unknown keys are refused; ``as_of`` for all kinds."""

    model_config = ConfigDict(extra="forbid")

    as_of: UtcTime | None = None
    """The moment the trait is computed as of (default: the run's start), UTC."""


def check_property_name(name: str) -> str:
    if not _PROPERTY_RE.match(name):
        raise ValueError(f"expected {_PROPERTY_HINT}")
    return name


class EventSettings(TraitSettings):
    """Which events a trait reads: one type, optionally filtered on properties."""

    event: str = Field(min_length=1)
    """The event type, e.g. ``"order"``."""
    where: dict[str, str | bool | int | float] = Field(default_factory=dict)
    """Property equality filters, all of which must hold: ``{channel = "web", gift = true}``."""

    @field_validator("where")
    @classmethod
    def _where_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if not _PROPERTY_RE.match(key):
                raise ValueError(f"expected {_PROPERTY_HINT} as each key, found {key!r}")
        return v


class WindowSettings(EventSettings):
    """A time window: ``within`` before ``as_of``, or ``since``/``until`` dates.

    The window is half-open, ``[start, end)``: ``within = "30d"`` is
    ``[as_of − 30×24 h, as_of)`` — an event exactly 30 days before ``as_of`` is in, one at
    ``as_of`` itself is out. ``since``/``until`` give ``[since, until)``; ``until`` defaults to
    ``as_of``; with neither key the window is every event before ``as_of``.
    """

    since: UtcTime | None = None
    until: UtcTime | None = None
    within: str | None = None

    @field_validator("until")
    @classmethod
    def _after_since(cls, v: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        since = info.data.get("since")
        if v is not None and since is not None and v <= since:
            raise ValueError(f"expected a moment after since ({since.isoformat()})")
        return v

    @field_validator("within")
    @classmethod
    def _duration(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        parse_duration(v)
        if info.data.get("since") is not None or info.data.get("until") is not None:
            raise ValueError("expected either 'within' or 'since'/'until', not both")
        return v

    def bounds(self, as_of: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
        """The window ``[start, end)``; ``start`` is None when unbounded."""
        end = self.until or as_of
        if self.within is not None:
            return end - parse_duration(self.within), end
        return self.since, end


@dataclass(frozen=True)
class TraitContext:
    """What a kind's query may depend on besides its settings."""

    as_of: dt.datetime
    """Naive UTC: the trait's ``as_of`` if set, else the run's start."""
    dialect: str = "duckdb"
    profiles: str = PROFILES_TABLE
    """The table (or view) to read profile columns from: ``profiles``, or, for a trait that
    :meth:`TraitKind.uses` other traits' columns, ``profiles`` with those columns joined."""
    values: str | None = None
    """In :meth:`TraitKind.finish` only: the table holding the trait's computed values
    (``profile_key`` and :meth:`TraitKind.columns`, one row per profile)."""
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Shared by every trait of one computation (the store does not change meanwhile): answers
    several traits ask for, such as the newest event of a type."""
    summary: exp.Select | None = field(default=None, compare=False, repr=False)
    """The rows of the trait's :meth:`TraitKind.events` summary as the pipeline's one scan of
    the events computed them (None: the trait computes its own); read through
    :meth:`TraitKind.event_rows`."""
    failed_events: tuple[str, ...] = ()
    """The sources whose events failed to pull in this run: a warning about missing or old
    events (:func:`~segsync.traits.notes.staleness`) names them first, the likelier cause."""


@dataclass(frozen=True)
class EventSummary:
    """What a trait reads from the events, declared: per profile, ``columns`` (name → an
    expression over aggregates of the matching events, such as ``COUNT(*)``,
    ``MAX(occurred_at)`` or ``CAST(COALESCE(SUM(value), 0) AS DECIMAL(38, 4))``) over the
    events matching ``where`` (type, property filters, window and ``as_of`` cut-off, from
    :func:`event_conditions`).

    Its rows (:meth:`query`) are ``SELECT profile_key, <columns> FROM profile_events WHERE
    <where> GROUP BY profile_key``: one row per profile with at least one matching event. The
    pipeline computes the summaries of every trait in one ``GROUP BY profile_key`` over the
    events, each aggregate restricted to its trait's events (``FILTER (WHERE …)``), which gives
    the same rows. Aggregates may not be window functions, and every column must aggregate
    (``profile_key`` is the only grouping).

    ``newest`` declares what :func:`segsync.traits.notes.staleness` will ask in
    :meth:`TraitKind.finish` (:func:`segsync.traits.notes.watch`), so the same scan answers it;
    a question not declared is asked of the events on its own, with the same answer."""

    where: exp.Expr
    columns: Mapping[str, exp.Expr]
    newest: tuple[tuple[Any, exp.Expr], ...] = ()
    """``(memo key, condition)`` pairs: the newest event matching each condition."""

    def query(self) -> exp.Select:
        """The summary on its own: one ``GROUP BY profile_key`` over the matching events."""
        return (
            exp.select(
                "profile_key",
                *(exp.alias_(e.copy(), name) for name, e in self.columns.items()),
            )
            .from_(EVENTS_TABLE)
            .where(self.where.copy())
            .group_by("profile_key")
        )


S = TypeVar("S", bound=TraitSettings)


class TraitKind(abc.ABC, Generic[S]):
    """A kind of computed trait. Subclasses set ``name`` and ``Settings`` and implement
    :meth:`columns` and :meth:`query`; :meth:`check` may add cross-key problems;
    :meth:`prepare` may look at the store before the query is built; :meth:`finish` runs
    after the values are stored (drop working tables, warn about the data); :meth:`model`
    reports a fitted model; :meth:`text_values` lists what its text columns can hold."""

    name: ClassVar[str]
    Settings: ClassVar[type[TraitSettings]]
    needs: ClassVar[tuple[str, ...]] = ()
    """Modules the kind imports when it computes (beyond segsync's core dependencies); a
    config using the kind is refused when the config loads if one is missing, naming
    :attr:`extra`."""
    extra: ClassVar[str | None] = None
    """The optional extra that installs :attr:`needs`: ``pip install 'segsync[EXTRA]'``."""

    def __init__(self, trait: str, settings: S) -> None:
        self.trait = trait
        """The trait's name, ``NAME`` in ``[traits.NAME]``."""
        self.settings = settings

    @abc.abstractmethod
    def columns(self) -> dict[str, AttributeType]:
        """The profile columns this trait adds, name → type, in order."""

    @abc.abstractmethod
    def query(self, ctx: TraitContext) -> exp.Select:
        """``SELECT profile_key, <columns>`` with exactly one row per profile in ``profiles``
        (profiles without events get the kind's empty value)."""

    def events(self, ctx: TraitContext) -> EventSummary | None:
        """The per-profile summary of events this trait reads, when it reads events only
        through one (:class:`EventSummary`); the kind's :meth:`prepare` and :meth:`query`
        then read its rows with :meth:`event_rows`, and the pipeline computes every trait's
        summary in one scan of the events. Default: None (the trait reads events, if at all,
        in its own statements)."""
        return None

    def event_rows(self, ctx: TraitContext) -> exp.Select:
        """``SELECT profile_key, <columns>`` of the trait's :meth:`events` summary: one row per
        profile with a matching event — from the pipeline's one scan of the events when it made
        one (``ctx.summary``), else the summary's own ``GROUP BY``."""
        if ctx.summary is not None:
            return ctx.summary.copy()
        summary = self.events(ctx)
        if summary is None:
            raise TypeError(f"trait {self.trait!r} declares no event summary (events())")
        return summary.query()

    def summary_values(self, ctx: TraitContext) -> list[exp.Expr] | None:
        """The trait's columns, each named as in :meth:`columns` (:func:`output`), as
        expressions over one row ``a`` of its :meth:`events` summary (``a.<column>``: NULL
        when the profile has no matching event) and the profile's key ``p.profile_key`` —
        when its :meth:`query` is just ``per_profile(self.event_rows(ctx), *these)``. The
        pipeline then computes such traits side by side in one statement over the one scan
        of the events. Window functions over every profile (ranks) are allowed, other tables
        are not. Default: None (the trait has its own :meth:`query`)."""
        return None

    def uses(self) -> frozenset[str]:
        """The profile columns this trait reads besides events (conditions, coordinates,
        features). Those that are other traits' columns make this trait computed after them,
        reading them through ``ctx.profiles``. Default: none."""
        return frozenset()

    def check(self, columns: Mapping[str, AttributeType]) -> list[str]:
        """Problems with the settings against the profile columns (built-ins and attributes,
        not traits), each ``traits.NAME.KEY: …``; called when the config is loaded, so a bad
        column name is reported by ``segsync check`` rather than when traits are computed.
        The default finds none."""
        return []

    def prepare(self, engine: Engine, ctx: TraitContext) -> None:
        """Optional step run just before this trait's :meth:`query` is built, with the same
        ``ctx``: a kind that must look at the data first (e.g. fit a model whose parameters
        become literals in its query) does it here, through ``engine``
        (:class:`segsync.engine.Engine`: statements as sqlglot expressions).

        It runs inside the traits' transaction (do not open another one) after profiles and
        events are in the store; the default does nothing."""

    def finish(self, engine: Engine, ctx: TraitContext) -> list[TraitWarning]:
        """Optional step run after this trait's values are stored, with the same ``ctx``:
        drop the working tables :meth:`prepare` made, and return warnings about the data
        (:class:`segsync.traits.notes.TraitWarning`: events older than the window, ties
        that decided scores…), which the run logs once and lists in its report. The default
        does nothing and finds nothing."""
        return []

    def model(self) -> ModelSummary | None:
        """The diagnostics of the model :meth:`prepare` fitted, if the kind fits one
        (:class:`segsync.traits.notes.ModelSummary`); listed in the run report. Default:
        None."""
        return None

    def text_values(self) -> dict[str, ValueDomain]:
        """The values each text column can hold, when the kind knows them (cells, stages,
        tiers, bands): a segment condition comparing the column with another text is
        refused when the config loads. Default: none known."""
        return {}


@dataclass(frozen=True)
class TraitSpec:
    """A configured trait: its name, kind name and kind instance (holding the settings)."""

    name: str
    kind: str
    trait: TraitKind[Any]

    @property
    def settings(self) -> TraitSettings:
        return self.trait.settings  # type: ignore[no-any-return]

    def columns(self) -> dict[str, AttributeType]:
        return self.trait.columns()

    def context(
        self,
        run_at: dt.datetime,
        dialect: str = "duckdb",
        profiles: str = PROFILES_TABLE,
        memo: dict[Any, Any] | None = None,
        summary: exp.Select | None = None,
    ) -> TraitContext:
        return TraitContext(
            as_of=self.settings.as_of or run_at,
            dialect=dialect,
            profiles=profiles,
            memo={} if memo is None else memo,
            summary=summary,
        )


# -- SQL helpers ----------------------------------------------------------------------------


def sql_type(type_: AttributeType) -> exp.DataType:
    return exp.DataType.build(ATTRIBUTE_SQL_TYPES[type_], dialect="duckdb")


def timestamp_literal(moment: dt.datetime) -> exp.Expr:
    """``CAST('2026-01-31T09:00:00' AS TIMESTAMP)`` for a naive UTC moment."""
    return exp.cast(exp.Literal.string(moment.isoformat()), exp.DataType.Type.TIMESTAMP)


def property_text(name: str) -> exp.Expr:
    """``properties ->> '$.name'``: the property as text (NULL when absent)."""
    check_property_name(name)
    return exp.JSONExtractScalar(
        this=exp.column("properties"),
        expression=exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=name)]),
    )


def property_value(name: str) -> exp.Expr:
    """A numeric property as DOUBLE (NULL when absent or not a number)."""
    return exp.TryCast(this=property_text(name), to=exp.DataType.build("DOUBLE"))


def property_equals(name: str, value: str | bool | int | float) -> exp.Expr:
    """A property filter (``where = { channel = "web" }``): the property equals ``value``."""
    if isinstance(value, bool):
        return exp.EQ(
            this=property_text(name), expression=exp.Literal.string("true" if value else "false")
        )
    if isinstance(value, int | float):
        return exp.EQ(this=property_value(name), expression=exp.Literal.number(repr(value)))
    return exp.EQ(this=property_text(name), expression=exp.Literal.string(value))


def event_conditions(
    settings: EventSettings, ctx: TraitContext, *, start: dt.datetime | None = None
) -> exp.Expr:
    """The WHERE condition selecting a trait's events from ``profile_events``.

    Events of the type, matching every property filter, in ``[start, end)`` where ``end`` is
    the window's end for windowed settings and ``as_of`` otherwise.
    """
    end = ctx.as_of
    if isinstance(settings, WindowSettings):
        start, end = settings.bounds(ctx.as_of)
    conditions: list[exp.Expr] = [
        exp.EQ(this=exp.column("type"), expression=exp.Literal.string(settings.event)),
        exp.LT(this=exp.column("occurred_at"), expression=timestamp_literal(end)),
    ]
    if start is not None:
        conditions.append(
            exp.GTE(this=exp.column("occurred_at"), expression=timestamp_literal(start))
        )
    conditions.extend(property_equals(k, v) for k, v in settings.where.items())
    return exp.and_(*conditions)


def per_profile(events: exp.Select, *columns: exp.Expr) -> exp.Select:
    """``SELECT p.profile_key, <columns> FROM profiles p LEFT JOIN (<events>) a ON …``: one
    row per profile; ``columns`` read the per-profile summary ``events`` as ``a.*``."""
    return (
        exp.select(exp.column("profile_key", table="p"), *columns)
        .from_(exp.alias_(exp.to_table(PROFILES_TABLE), "p", table=True))
        .join(
            events.subquery("a"),
            on=exp.EQ(
                this=exp.column("profile_key", table="a"),
                expression=exp.column("profile_key", table="p"),
            ),
            join_type="left",
        )
    )


def output(value: exp.Expr, name: str, type_: AttributeType) -> exp.Expr:
    """``CAST(value AS <type>) AS "name"``."""
    return exp.alias_(exp.cast(value, sql_type(type_)), name, quoted=True)
