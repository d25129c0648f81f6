"""Traits: materialise every configured trait into ``profile_traits``, one row per profile, and
the ``segment_profiles`` view (profiles with their traits) that segments select from.

First, the event summaries the traits declare (:meth:`TraitKind.events`) are computed in one
scan of the events (:mod:`segsync.pipeline.scan`), and the traits whose values are
expressions over their summary (:meth:`TraitKind.summary_values`) side by side in one
statement over it. The other traits are computed one at a time, in the config's dependency
order, each into a temporary table holding one row per profile in profile-key order, reading
their summary's rows from the scan. The engine then lines the tables up side by side, in the
config's order (:meth:`segsync.engine.Engine.line_up`). A trait that :meth:`TraitKind.uses`
other traits' columns reads them through a view of ``profiles`` joined with those traits'
results (``ctx.profiles``). Each trait's :meth:`TraitKind.prepare` runs just before its query,
and its :meth:`TraitKind.finish` just after, in the same transaction; what they report
(warnings about the data, fitted models) comes back in a :class:`TraitResults`, in the
config's order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from segsync.engine import DataError, Engine
from segsync.errors import ConfigError, PluginError
from segsync.pipeline.scan import SCAN_TABLE, EventScan
from segsync.traits import SEGMENT_PROFILES_VIEW, TRAITS_TABLE, TraitContext, TraitSpec
from segsync.traits.notes import ModelSummary, TraitWarning
from segsync.values import to_utc, utcnow

__all__ = ["MODELS_TABLE", "TraitResults", "compute_traits"]

MODELS_TABLE = "trait_models"
"""The latest fit of each model-fitting trait: ``trait``, ``kind``, ``status``, ``as_of``,
``summary`` (the :class:`ModelSummary` as JSON)."""


@dataclass
class TraitResults:
    """What computing the traits reported besides their values."""

    count: int = 0
    """Traits computed."""
    warnings: list[TraitWarning] = field(default_factory=list)
    """Problems with the data, in trait order (each once)."""
    models: list[ModelSummary] = field(default_factory=list)
    """The models fitted this run, in trait order."""


_KEY = exp.column("profile_key")


def _keys() -> exp.Select:
    """Every profile key, sorted: the spine the traits' results are lined up on."""
    return exp.select(_KEY).from_("profiles").order_by(_KEY)


def _values(spec: TraitSpec, ctx: TraitContext) -> exp.Select:
    """One trait's values, one row per profile, sorted by profile key."""
    return (
        exp.select(_KEY, *(exp.column(c, quoted=True) for c in spec.columns()))
        .from_(spec.trait.query(ctx).subquery("t"))
        .order_by(_KEY)
    )


def compute_traits(
    engine: Engine,
    traits: Mapping[str, TraitSpec],
    *,
    as_of: dt.datetime | None = None,
    location: str = "",
    one_scan: bool = True,
    failed_events: Sequence[str] = (),
) -> TraitResults:
    """Materialise ``profile_traits`` and the ``segment_profiles`` view; return the number
    of traits, their warnings and models. ``as_of`` is the run's as-of (naive or aware;
    default now), used by traits that set none. ``location`` prefixes messages (the config
    file). ``failed_events``: the sources whose events failed to pull in this run (warnings
    about missing or old events name them). The latest fit of each model is kept in
    ``trait_models``.

    The event summaries the traits declare are computed in one scan of the events
    (:mod:`segsync.pipeline.scan`), and the traits whose values are expressions over their
    summary side by side in one statement; ``one_scan=False`` has each trait compute its own
    summary and values (the same values, one scan of the events each).

    Raises :class:`~segsync.errors.PluginError` when a kind's query does not return exactly
    one row per profile (the contract every kind must keep), and
    :class:`~segsync.errors.ConfigError` when a trait fails on the stored data."""
    run_at = to_utc(as_of) if as_of is not None else utcnow()
    run = _Run(
        engine,
        list(traits.values()),
        run_at,
        f"{location}: " if location else "",
        failed_events=tuple(failed_events),
    )
    with engine.transaction():
        engine.create_table(_SPINE, _keys(), temporary=True)
        scan = run.scan() if one_scan else None
        if scan is not None:
            run.side_by_side(scan)
        for i in range(1, len(run.specs) + 1):
            if i not in run.tables:
                run.one(i, scan)
        engine.line_up(TRAITS_TABLE, run.parts())
        engine.drop(*(f"_trait_profiles_{i}" for i in range(len(run.specs) + 1)), view=True)
        engine.drop(_SPINE, *sorted(set(run.tables.values())), SCAN_TABLE)
        engine.create_view(
            SEGMENT_PROFILES_VIEW,
            exp.select("*")
            .from_("profiles")
            .join(TRAITS_TABLE, using=["profile_key"], join_type="left"),
        )
        results = run.results()
        _keep_models(engine, results.models)
    return results


_SPINE = "_trait_0"
_SIDE_BY_SIDE = "_trait_side_by_side"


@dataclass
class _Run:
    """One computation of the traits: specs by position (from 1), and what each left."""

    engine: Engine
    specs: list[TraitSpec]
    run_at: dt.datetime
    where: str
    failed_events: tuple[str, ...] = ()
    memo: dict[object, object] = field(default_factory=dict)
    tables: dict[int, str] = field(default_factory=dict)
    """The table holding each computed trait's values."""
    warnings: dict[int, list[TraitWarning]] = field(default_factory=dict)
    models: dict[int, ModelSummary] = field(default_factory=dict)

    def context(
        self,
        i: int,
        *,
        profiles: str = "profiles",
        summary: exp.Select | None = None,
        values: str | None = None,
    ) -> TraitContext:
        spec = self.specs[i - 1]
        ctx = spec.context(self.run_at, self.engine.dialect, profiles, self.memo, summary)
        return replace(ctx, values=values, failed_events=self.failed_events)

    def deps(self, i: int) -> list[int]:
        """The traits whose columns trait ``i`` reads."""
        owner = {c: j for j, s in enumerate(self.specs, start=1) for c in s.columns()}
        return sorted({owner[c] for c in self.specs[i - 1].trait.uses() if c in owner})

    def failed(self, names: Sequence[str], exc: DataError) -> ConfigError:
        if len(names) == 1:
            return ConfigError(
                f"{self.where}traits.{names[0]}: the trait fails on the stored profiles: {exc}; "
                "check the columns it reads (their types and values), then run again"
            )
        return ConfigError(
            f"{self.where}traits ({', '.join(names)}): computing them fails on the stored "
            f"profiles and events: {exc}; check the events and columns they read (their types "
            "and values), then run again"
        )

    def scan(self) -> EventScan | None:
        """The event summaries the traits declare, computed in one scan of the events."""
        declared = {}
        for i, spec in enumerate(self.specs, start=1):
            summary = spec.trait.events(self.context(i))
            if summary is not None:
                declared[i] = summary
        if not declared:
            return None
        scan = EventScan(declared)
        try:
            scan.run(self.engine, self.memo)
        except DataError as exc:
            raise self.failed([self.specs[i - 1].name for i in declared], exc) from None
        return scan

    def side_by_side(self, scan: EventScan) -> None:
        """The traits whose values are expressions over their scanned summary, computed in
        one statement."""
        values: dict[int, list[exp.Expr]] = {}
        for i in scan:
            if not self.deps(i):
                found = self.specs[i - 1].trait.summary_values(self.context(i))
                if found is not None:
                    values[i] = found
        if not values:
            return
        names = [self.specs[i - 1].name for i in values]
        try:
            for i in values:
                self.specs[i - 1].trait.prepare(self.engine, self.context(i, summary=scan.rows(i)))
            self.engine.create_table(_SIDE_BY_SIDE, scan.side_by_side(values), temporary=True)
            self.check(_SIDE_BY_SIDE, names)
            for i in values:
                self.tables[i] = _SIDE_BY_SIDE
                self.done(i, self.context(i, summary=scan.rows(i), values=_SIDE_BY_SIDE))
        except DataError as exc:
            raise self.failed(names, exc) from None

    def one(self, i: int, scan: EventScan | None) -> None:
        """Trait ``i`` on its own: prepare, its query into its table, finish."""
        spec, table = self.specs[i - 1], f"_trait_{i}"
        profiles = "profiles"
        deps = self.deps(i)
        if deps:
            profiles = f"_trait_profiles_{i}"
            view = exp.select("*").from_("profiles")
            for joined in dict.fromkeys(self.tables[d] for d in deps):
                view = view.join(joined, using=["profile_key"], join_type="left")
            self.engine.create_view(profiles, view, temporary=True)
        summary = scan.rows(i) if scan is not None and i in scan else None
        ctx = self.context(i, profiles=profiles, summary=summary)
        try:
            spec.trait.prepare(self.engine, ctx)
            self.engine.create_table(table, _values(spec, ctx), temporary=True)
            self.check(table, [spec.name], spec.kind)
            self.tables[i] = table
            self.done(i, replace(ctx, values=table))
        except DataError as exc:
            raise self.failed([spec.name], exc) from None

    def check(self, table: str, names: Sequence[str], kind: str | None = None) -> None:
        if self.engine.misaligned(_SPINE, table):
            what = f"trait {names[0]!r} (kind {kind!r})" if kind else f"traits {names}"
            raise PluginError(
                f"{what} did not return exactly one row per profile; a trait kind's query "
                "must (see segsync.traits.TraitKind.query)"
            )

    def done(self, i: int, ctx: TraitContext) -> None:
        """Trait ``i``'s values are in ``ctx.values``: its finish step, its model."""
        trait = self.specs[i - 1].trait
        self.warnings[i] = trait.finish(self.engine, ctx)
        model = trait.model()
        if model is not None:
            self.models[i] = model

    def parts(self) -> list[tuple[str, Sequence[str]]]:
        """The spine and each trait's columns, in the config's order, for the line-up."""
        parts: list[tuple[str, Sequence[str]]] = [(_SPINE, ["profile_key"])]
        parts += [(self.tables[i], list(s.columns())) for i, s in enumerate(self.specs, start=1)]
        return parts

    def results(self) -> TraitResults:
        return TraitResults(
            count=len(self.specs),
            warnings=[w for i in sorted(self.warnings) for w in self.warnings[i]],
            models=[self.models[i] for i in sorted(self.models)],
        )


def _keep_models(engine: Engine, models: Sequence[ModelSummary]) -> None:
    """Replace the stored fit of each trait that fitted a model this run."""
    if not models:
        return
    engine.execute(
        exp.delete(MODELS_TABLE).where(
            exp.column("trait").isin(*(exp.Literal.string(m.trait) for m in models))
        )
    )
    engine.insert_rows(
        MODELS_TABLE,
        ("trait", "kind", "status", "as_of", "summary"),
        [
            (m.trait, m.kind, m.status, m.as_of, json.dumps(m.model_dump(mode="json")))
            for m in models
        ],
    )
