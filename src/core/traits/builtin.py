"""Registers the built-in trait kinds. Loaded by :func:`segsync.plugins.load_plugins` as the
plugin ``segsync.traits`` (always, whatever ``SEGSYNC_PLUGINS`` says: configs rely on them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segsync.hookspecs import hookimpl

from .aggregate import Aggregate
from .base import TraitKind
from .cluster import Cluster
from .clv import Clv
from .distance import Distance
from .lifecycle import Lifecycle
from .propensity import Propensity
from .recency import Recency
from .rfm import Rfm
from .score import Score
from .tenure import Tenure
from .value_tier import ValueTier

__all__ = ["BUILTIN_KINDS", "register_trait_kinds"]

BUILTIN_KINDS: tuple[type[TraitKind[Any]], ...] = (
    Aggregate,
    Recency,
    Rfm,
    Cluster,
    Lifecycle,
    ValueTier,
    Score,
    Distance,
    Tenure,
    Clv,
    Propensity,
)


@hookimpl
def register_trait_kinds(register: Callable[[type[TraitKind[Any]]], None]) -> None:
    for kind in BUILTIN_KINDS:
        register(kind)
