"""Computed traits: profile columns computed from events, usable in segment conditions.

``[traits.NAME]`` tables in ``segsync.toml`` each name a ``kind`` registered through the
``register_trait_kinds`` hook (built-ins: ``aggregate``, ``recency``, ``rfm``, ``lifecycle``,
``value_tier``, ``score``, ``distance``, ``cluster``; see their modules). This package is the
contract a kind implements and the built-in kinds; computing them is the pipeline's
(:mod:`segsync.pipeline.traits`): after profiles are resolved it materialises every trait into
``profile_traits`` (one row per profile) and the view ``segment_profiles`` = ``profiles``
joined with ``profile_traits``, which segments select from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import (
    EventSettings,
    TraitContext,
    TraitKind,
    TraitSettings,
    TraitSpec,
    WindowSettings,
)

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
]

TRAITS_TABLE = "profile_traits"
SEGMENT_PROFILES_VIEW = "segment_profiles"


def build_trait(name: str, kind: type[TraitKind[Any]], values: Mapping[str, Any]) -> TraitSpec:
    """Validate ``values`` (the trait's table without ``kind``) with the kind's ``Settings``.

    Raises :class:`pydantic.ValidationError`.
    """
    settings = kind.Settings(**values)
    return TraitSpec(name=name, kind=kind.name, trait=kind(name, settings))
