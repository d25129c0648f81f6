"""Loading ``segsync.toml``: the file, ``SEGSYNC_`` environment overrides, validation, and the
resulting :class:`Config`."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from segsync.connector import Purpose, default_refresh_days
from segsync.errors import ConfigError
from segsync.model.profile import AttributeType
from segsync.model.segments import SegmentBook
from segsync.plugins import Plugins
from segsync.traits import TraitSpec

from .messages import clean_errors, format_error
from .schema import DEFAULT_CONFIG_NAME, SegmentConfig, SegsyncSettings, SyncConfig
from .validate import (
    ConnectorInstance,
    profile_columns,
    validate_connectors,
    validate_privacy,
    validate_syncs,
    validate_traits,
)

if TYPE_CHECKING:
    from segsync.engine.spark import SparkOptions

__all__ = ["Config", "ConnectorInstance", "find_config_path", "load_config", "read_toml"]

_SELF_CONTAINED = frozenset({"store", "resolve", "kpis", "plugins_dir", "privacy", "alerts"})
"""Sections no other section refers to: their problems do not hide the others'."""


@dataclass
class Config:
    """A validated configuration, ready to run."""

    path: Path
    settings: SegsyncSettings
    connectors: dict[str, ConnectorInstance]
    plugins: Plugins
    columns: dict[str, AttributeType] = field(default_factory=dict)
    """Every column a segment condition may use: built-ins, attributes and trait columns."""
    traits: dict[str, TraitSpec] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def require_work(self) -> None:
        """Raise :class:`ConfigError` when there is nothing to run: no connector and no sync
        (an empty or truncated file)."""
        if not self.connectors and not self.syncs:
            raise ConfigError(
                f"{self.path}: no connectors and no syncs configured (an empty or truncated "
                "file?); expected [connectors.NAME] and [syncs.NAME] tables — run "
                "'segsync init' for a starter config"
            )

    @property
    def store_options(self) -> dict[str, str | int]:
        """DuckDB settings for :meth:`segsync.state.store.Store.open` (``memory_limit =
        "auto"`` sized to this machine: :func:`segsync.state.memory.auto_memory_limit`)."""
        store = self.settings.store
        options: dict[str, str | int] = {"memory_limit": self.memory_limit}
        if store.threads is not None:
            options["threads"] = store.threads
        return options

    @property
    def memory_limit(self) -> str:
        """``[store] memory_limit``, with ``"auto"`` resolved for this machine."""
        limit = self.settings.store.memory_limit
        if limit != "auto":
            return limit
        from segsync.state.memory import auto_memory_limit

        return auto_memory_limit()

    @property
    def spark_options(self) -> SparkOptions | None:
        """The Spark engine's settings for :meth:`segsync.state.store.Store.open`, when
        ``[store] engine = "spark"`` (None: the DuckDB file)."""
        store = self.settings.store
        if store.engine != "spark":
            return None
        from segsync.engine.spark import SparkOptions  # only a Spark store pays for the module

        spark = store.spark
        return SparkOptions(
            home=self.store_path.with_name(self.store_path.name + ".spark"),
            master=spark.master,
            remote=spark.remote.get_secret_value() if spark.remote else None,
            database=spark.database,
            warehouse=spark.warehouse,
            location=spark.location,
            table_format=spark.table_format,
            conf=dict(spark.conf),
        )

    @property
    def store_path(self) -> Path:
        return _resolve(self.base_dir, self.settings.store.path)

    @property
    def no_store_yet(self) -> bool:
        """Nothing has made the store: its DuckDB file is not there. A Spark store's tables
        are in Spark, not in that file (which never exists): opening it tells."""
        return self.settings.store.engine != "spark" and not self.store_path.exists()

    def privacy_path(self, path: Path) -> Path:
        """A path of ``[privacy]`` resolved against the config file's folder."""
        return _resolve(self.base_dir, path)

    @property
    def segments(self) -> dict[str, SegmentConfig]:
        return self.settings.segments

    @cached_property
    def segment_book(self) -> SegmentBook:
        """The segment definitions with the columns their conditions may use (and the values
        the traits' text columns can hold)."""
        return SegmentBook(
            segments=self.settings.segments,
            columns=self.columns,
            location=str(self.path),
            values={
                column: domain
                for spec in self.traits.values()
                for column, domain in spec.trait.text_values().items()
            },
        )

    @property
    def run_as_of(self) -> dt.datetime | None:
        """``[segments] as_of`` (naive UTC), when set."""
        return self.settings.segments_as_of

    def segment_names(self) -> list[str]:
        """Every segment name a sync or ``include``/``exclude`` may use, in the config's
        order: each segment followed by its groups (``NAME.GROUP``)."""
        return self.segment_book.names()

    def unknown_segment(self, name: str) -> str | None:
        """Why ``name`` names no segment or group (None when it does)."""
        return self.segment_book.unknown(name)

    @property
    def syncs(self) -> dict[str, SyncConfig]:
        return self.settings.syncs

    @property
    def attributes(self) -> dict[str, AttributeType]:
        return self.settings.attributes

    def sync_kind(self, sync: SyncConfig) -> str:
        if sync.kind:
            return sync.kind
        return next(iter(self.connectors[sync.destination].cls.capabilities.audience_kinds))

    def membership_days(self, sync: SyncConfig) -> int | None:
        """How long a membership delivered by ``sync`` lasts at its destination (None:
        forever)."""
        instance = self.connectors[sync.destination]
        return instance.cls.membership_days(instance.settings, self.sync_kind(sync))

    def refresh_days(self, sync: SyncConfig) -> int | None:
        """After how many days ``sync`` re-adds a member it delivered: its ``refresh_days``,
        else a margin before the destination's memberships run out; None: never."""
        if sync.refresh_days is not None:
            return sync.refresh_days
        lifetime = self.membership_days(sync)
        return None if lifetime is None else default_refresh_days(lifetime)

    def required_purposes(self, sync: SyncConfig) -> frozenset[Purpose]:
        """What a member must have granted: what the connector requires for the audience
        kind, and the sync's ``require_consent`` (by default ``[privacy] require_consent``
        for the kind)."""
        caps = self.connectors[sync.destination].cls.capabilities
        kind = self.sync_kind(sync)
        chosen = sync.require_consent
        if chosen is None:
            chosen = self.settings.privacy.require_consent.get(kind, [])
        return caps.audience_kinds.get(kind, frozenset()) | set(chosen)


def _resolve(base: Path, p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else base / p


def find_config_path(explicit: Path | None) -> Path:
    """The config file to use: ``--config``, then ``SEGSYNC_CONFIG``, then ./segsync.toml."""
    if explicit is not None:
        return explicit
    env = os.environ.get("SEGSYNC_CONFIG")
    return Path(env) if env else Path(DEFAULT_CONFIG_NAME)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; run 'segsync init' to write a starter config "
            f"or pass --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(path: Path, plugins: Plugins) -> Config:
    """Read, validate and cross-check the configuration at ``path``."""
    data = read_toml(path)
    problems: list[str] = []
    try:
        settings = SegsyncSettings(**data)
    except ValidationError as exc:
        errors = clean_errors(exc)
        problems = [format_error(path, err, SegsyncSettings) for err in errors]
        # report the connectors' problems too when only self-contained sections failed
        failed = {str(err["loc"][0]) for err in errors if err.get("loc")}
        if not failed or not failed <= _SELF_CONTAINED:
            raise ConfigError(
                f"{path}: {len(problems)} problem(s) in the configuration", problems
            ) from None
        try:
            settings = SegsyncSettings(**{k: v for k, v in data.items() if k not in failed})
        except ValidationError:
            raise ConfigError(
                f"{path}: {len(problems)} problem(s) in the configuration", problems
            ) from None
    connectors = validate_connectors(path, settings, plugins, problems, data)
    columns = profile_columns(path, settings, problems)
    traits = validate_traits(path, settings, plugins, columns, problems)
    config = Config(
        path=path,
        settings=settings,
        connectors=connectors,
        plugins=plugins,
        columns=columns,
        traits=traits,
    )
    problems.extend(config.segment_book.check())
    validate_syncs(config, problems)
    validate_privacy(config, problems)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the configuration", problems)
    return config
