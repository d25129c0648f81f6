"""Traits: materialise every configured trait into ``profile_traits``, one row per profile, and
the ``segment_profiles`` view (profiles with their traits) that segments select from.

Traits are computed one at a time, in the config's dependency order, each into a temporary
table holding one row per profile in profile-key order; the engine then lines the tables up
side by side (:meth:`segsync.engine.Engine.line_up`). A trait that :meth:`TraitKind.uses`
other traits' columns reads them through a view of ``profiles`` joined with those traits'
results (``ctx.profiles``). Each trait's :meth:`TraitKind.prepare` runs just before its query,
and its :meth:`TraitKind.finish` just after, in the same transaction; what they report (warnings
about the data, fitted models) comes back in a :class:`TraitResults`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from segsync.engine import DataError, Engine
from segsync.errors import ConfigError, PluginError
from segsync.traits import SEGMENT_PROFILES_VIEW, TRAITS_TABLE, TraitContext, TraitSpec
from segsync.traits.notes import ModelSummary, TraitWarning
from segsync.values import to_utc, utcnow

__all__ = ["MODELS_TABLE", "TraitResults", "compute_traits", "trait_queries"]

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


def trait_queries(
    traits: Mapping[str, TraitSpec], run_at: dt.datetime, dialect: str
) -> list[exp.Select]:
    """The spine and each trait's values, for traits that read no other trait (the segments
    benchmark runs these alone, beside :func:`compute_traits`). A kind with a
    :meth:`~segsync.traits.TraitKind.prepare` step must have been prepared first (its working
    tables in place)."""
    specs = list(traits.values())
    return [_keys(), *(_values(s, s.context(run_at, dialect)) for s in specs)]


def _parts(specs: Sequence[TraitSpec]) -> list[tuple[str, Sequence[str]]]:
    parts: list[tuple[str, Sequence[str]]] = [("_trait_0", ["profile_key"])]
    parts += [(f"_trait_{i}", list(spec.columns())) for i, spec in enumerate(specs, start=1)]
    return parts


def compute_traits(
    engine: Engine,
    traits: Mapping[str, TraitSpec],
    *,
    as_of: dt.datetime | None = None,
    location: str = "",
) -> TraitResults:
    """Materialise ``profile_traits`` and the ``segment_profiles`` view; return the number
    of traits, their warnings and models. ``as_of`` is the run's as-of (naive or aware;
    default now), used by traits that set none. ``location`` prefixes messages (the config
    file). The latest fit of each model is kept in ``trait_models``.

    Raises :class:`~segsync.errors.PluginError` when a kind's query does not return exactly
    one row per profile (the contract every kind must keep), and
    :class:`~segsync.errors.ConfigError` when a trait fails on the stored data."""
    run_at = to_utc(as_of) if as_of is not None else utcnow()
    specs = list(traits.values())
    owner = {column: i for i, spec in enumerate(specs) for column in spec.columns()}
    where = f"{location}: " if location else ""
    results = TraitResults(count=len(specs))
    memo: dict[object, object] = {}
    with engine.transaction():
        engine.create_table("_trait_0", _keys(), temporary=True)
        for i, spec in enumerate(specs, start=1):
            deps = sorted({owner[c] + 1 for c in spec.trait.uses() if c in owner})
            profiles = "profiles"
            if deps:
                profiles = f"_trait_profiles_{i}"
                view = exp.select("*").from_("profiles")
                for d in deps:
                    view = view.join(f"_trait_{d}", using=["profile_key"], join_type="left")
                engine.create_view(profiles, view, temporary=True)
            ctx = spec.context(run_at, engine.dialect, profiles=profiles, memo=memo)
            try:
                spec.trait.prepare(engine, ctx)
                engine.create_table(f"_trait_{i}", _values(spec, ctx), temporary=True)
                done = replace(ctx, values=f"_trait_{i}")
                results.warnings.extend(spec.trait.finish(engine, done))
            except DataError as exc:
                raise ConfigError(
                    f"{where}traits.{spec.name}: the trait fails on the stored profiles: {exc}; "
                    "check the columns it reads (their types and values), then run again"
                ) from None
            if engine.misaligned("_trait_0", f"_trait_{i}"):
                raise PluginError(
                    f"trait {spec.name!r} (kind {spec.kind!r}) did not return exactly one row "
                    "per profile; a trait kind's query must (see segsync.traits.TraitKind.query)"
                )
            model = spec.trait.model()
            if model is not None:
                results.models.append(model)
        engine.line_up(TRAITS_TABLE, _parts(specs))
        engine.drop(*(f"_trait_profiles_{i}" for i in range(len(specs) + 1)), view=True)
        engine.drop(*(f"_trait_{i}" for i in range(len(specs) + 1)))
        engine.create_view(
            SEGMENT_PROFILES_VIEW,
            exp.select("*")
            .from_("profiles")
            .join(TRAITS_TABLE, using=["profile_key"], join_type="left"),
        )
        _keep_models(engine, results.models)
    return results


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
