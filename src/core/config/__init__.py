"""Configuration: ``segsync.toml`` plus ``SEGSYNC_`` environment overrides.

The file is read with :mod:`tomllib` and validated with pydantic-settings; environment
variables override it key by key (``SEGSYNC_STORE__PATH``, ``SEGSYNC_CONNECTORS__CRM__API_TOKEN``:
``__`` separates nesting levels). Each connector instance is then validated by its own
connector's ``Settings`` model, and traits, segments and syncs are cross-checked.

Every problem is reported as one line naming the file, the key path, what was expected and
what was found; all problems are collected before raising :class:`ConfigError`.

* :mod:`.schema` — the file-level sections as pydantic models;
* :mod:`.load` — reading the file and the resulting :class:`Config`;
* :mod:`.validate` — connectors (and their secrets), attributes, traits, syncs;
* :mod:`.messages` — problems said in the user's terms.
"""

from __future__ import annotations

from .load import Config, ConnectorInstance, find_config_path, load_config, read_toml
from .schema import (
    DEFAULT_CONFIG_NAME,
    ENV_PREFIX,
    HOLDOUT_GROUP,
    NAME_RE,
    KpiConfig,
    Percentage,
    ResolveConfig,
    SegmentConfig,
    SegsyncSettings,
    StoreConfig,
    SyncConfig,
    basis_points,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "HOLDOUT_GROUP",
    "NAME_RE",
    "Config",
    "ConnectorInstance",
    "KpiConfig",
    "Percentage",
    "ResolveConfig",
    "SegmentConfig",
    "SegsyncSettings",
    "StoreConfig",
    "SyncConfig",
    "basis_points",
    "find_config_path",
    "load_config",
    "read_toml",
]
