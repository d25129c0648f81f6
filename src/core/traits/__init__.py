"""Computed traits: profile columns computed from events, usable in segment conditions.

``[traits.NAME]`` tables in ``segsync.toml`` each name a ``kind`` registered through the
``register_trait_kinds`` hook (built-ins: ``aggregate``, ``recency``, ``rfm``; see their
modules). After profiles are resolved, :func:`compute_traits` materialises every trait into
``profile_traits`` (one row per profile) and (re)creates the view ``segment_profiles`` =
``profiles`` joined with ``profile_traits``, which segments select from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .base import (
    EventSettings,
    TraitContext,
    TraitKind,
    TraitSettings,
    TraitSpec,
    WindowSettings,
)

if TYPE_CHECKING:
    from segsync.config import Config
    from segsync.store import Store

__all__ = [
    "SEGMENT_PROFILES_VIEW",
    "TRAITS_TABLE",
    "EventSettings",
    "TraitContext",
    "TraitKind",
    "TraitSettings",
    "TraitSpec",
    "WindowSettings",
    "build_trait",
    "compute_traits",
    "trait_statements",
]

TRAITS_TABLE = "profile_traits"
SEGMENT_PROFILES_VIEW = "segment_profiles"
_DIALECT = "duckdb"


def build_trait(name: str, kind: type[TraitKind[Any]], values: Mapping[str, Any]) -> TraitSpec:
    """Validate ``values`` (the trait's table without ``kind``) with the kind's ``Settings``.

    Raises :class:`pydantic.ValidationError`.
    """
    settings = kind.Settings(**values)
    return TraitSpec(name=name, kind=kind.name, trait=kind(name, settings))


_KEY = exp.column("profile_key")


def _keys_sql() -> str:
    """Every profile key, sorted: the spine the traits' results are lined up on."""
    return exp.select(_KEY).from_("profiles").order_by(_KEY).sql(dialect=_DIALECT)


def _values_sql(spec: TraitSpec, ctx: TraitContext) -> str:
    """One trait's values, one row per profile, sorted by profile key."""
    sub = spec.trait.query(ctx)
    return (
        exp.select(_KEY, *(exp.column(c, quoted=True) for c in spec.columns()))
        .from_(sub.subquery("t"))
        .order_by(_KEY)
        .sql(dialect=_DIALECT)
    )


def _combine_sql(specs: list[TraitSpec]) -> str:
    """``profile_traits`` from ``_trait_0`` (the keys) and ``_trait_1…n`` (the values)."""
    columns = "".join(
        f', t{i}."{c}"' for i, spec in enumerate(specs, start=1) for c in spec.columns()
    )
    joined = "".join(f" POSITIONAL JOIN _trait_{i} t{i}" for i in range(1, len(specs) + 1))
    return (
        f"CREATE OR REPLACE TABLE {TRAITS_TABLE} AS "
        f"SELECT t0.profile_key{columns} FROM _trait_0 t0{joined}"
    )


def trait_statements(traits: Mapping[str, TraitSpec], run_at: dt.datetime) -> tuple[list[str], str]:
    """The SQL :func:`compute_traits` runs for traits that read no other trait: one statement
    per trait materialising its values into a temporary table, and the statement combining
    them (the benchmark times DuckDB running these alone)."""
    specs = list(traits.values())
    steps = [_keys_sql(), *(_values_sql(s, s.context(run_at, _DIALECT)) for s in specs)]
    statements = [
        f"CREATE OR REPLACE TEMP TABLE _trait_{i} AS {sql}" for i, sql in enumerate(steps)
    ]
    return statements, _combine_sql(specs)


def compute_traits(store: Store, config: Config, *, as_of: dt.datetime | None = None) -> int:
    """Materialise ``profile_traits`` and the ``segment_profiles`` view; return the number
    of traits. ``as_of`` is the run's time (naive or aware; default now), used by traits that
    set none.

    Traits are computed one at a time, in the config's dependency order: a trait that
    :meth:`TraitKind.uses` other traits' columns reads them through a view of ``profiles``
    joined with those traits' results (``ctx.profiles``). Each trait's
    :meth:`TraitKind.prepare` runs just before its query, in the same transaction.

    Raises :class:`~segsync.errors.PluginError` when a kind's query does not return exactly
    one row per profile (the contract every kind must keep)."""
    from segsync.errors import PluginError
    from segsync.store import utcnow
    from segsync.values import to_utc
    from segsync.where import condition_errors

    run_at = to_utc(as_of) if as_of is not None else utcnow()
    path = getattr(config, "path", None)
    where = f"{path}: " if path else ""
    specs = list(config.traits.values())
    owner = {column: i for i, spec in enumerate(specs) for column in spec.columns()}
    with store.transaction() as con:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_0 AS {_keys_sql()}")
        for i, spec in enumerate(specs, start=1):
            deps = sorted({owner[c] + 1 for c in spec.trait.uses() if c in owner})
            profiles = "profiles"
            if deps:
                profiles = f"_trait_profiles_{i}"
                joins = " ".join(f"LEFT JOIN _trait_{d} USING (profile_key)" for d in deps)
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {profiles} AS SELECT * FROM profiles {joins}"
                )
            ctx = spec.context(run_at, _DIALECT, profiles=profiles)
            with condition_errors(f"{where}traits.{spec.name}"):
                spec.trait.prepare(store, ctx)
                con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_{i} AS {_values_sql(spec, ctx)}")
            misaligned = store.scalar(
                f"SELECT count(*) FROM _trait_0 k POSITIONAL JOIN _trait_{i} t "
                "WHERE k.profile_key IS DISTINCT FROM t.profile_key"
            )
            if misaligned:
                raise PluginError(
                    f"trait {spec.name!r} (kind {spec.kind!r}) did not return exactly one row "
                    "per profile; a trait kind's query must (see segsync.traits.TraitKind.query)"
                )
        con.execute(_combine_sql(specs))
        for i in range(len(specs) + 1):
            con.execute(f"DROP VIEW IF EXISTS _trait_profiles_{i}")
        for i in range(len(specs) + 1):
            con.execute(f"DROP TABLE IF EXISTS _trait_{i}")
        con.execute(
            f"CREATE OR REPLACE VIEW {SEGMENT_PROFILES_VIEW} AS "
            f"SELECT * FROM profiles LEFT JOIN {TRAITS_TABLE} USING (profile_key)"
        )
    return len(config.traits)
