"""The schema of ``segsync.toml``: the file-level sections as pydantic models.

Connector and trait tables are validated by their own connector's and kind's ``Settings``
(see :mod:`.validate`); these models hold everything else.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from segsync.config.alerts import AlertsConfig
from segsync.connector import Purpose
from segsync.model.identity import phone_region
from segsync.model.profile import AttributeType
from segsync.traits.base import UtcTime, parse_duration

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "HOLDOUT_GROUP",
    "NAME_RE",
    "RUN_AS_OF",
    "KpiConfig",
    "Percentage",
    "PrivacyConfig",
    "RequiredPurposes",
    "ResolveConfig",
    "SegmentConfig",
    "SegsyncSettings",
    "StoreConfig",
    "SyncConfig",
    "basis_points",
]

DEFAULT_CONFIG_NAME = "segsync.toml"


ENV_PREFIX = "SEGSYNC_"


NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


_NAME_HINT = "a name of lower-case letters, digits and '_', starting with a letter"


_SIZE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkConfig(_Model):
    """``[store.spark]``: where the Spark engine runs and keeps its tables
    (``[store] engine = "spark"``; ``pip install 'segsync[spark]'``, Java 17+)."""

    master: str = "local[*]"
    """``spark.master``: ``local[*]`` (this machine), ``local-cluster[2,1,1024]``,
    ``spark://host:7077``, ``yarn``, ``k8s://…``. Ignored in a process that already has a
    Spark session (a notebook, a Databricks job): segsync uses that one."""
    remote: SecretStr | None = None
    """A Spark Connect URL (``sc://host:15002``; it may carry a token, so it is a secret):
    wins over ``master``. Needs ``pip install 'pyspark[connect]'``."""
    database: str = "segsync"
    """The catalog database holding segsync's tables."""
    warehouse: str | None = None
    """``spark.sql.warehouse.dir`` (a folder or an ``s3a://``/``abfss://``/``gs://`` URL);
    default in local mode: ``<store>.spark/warehouse`` beside the store."""
    location: str | None = None
    """The database's folder (``CREATE DATABASE … LOCATION``); default: the warehouse's."""
    table_format: Literal["parquet", "delta", "iceberg"] = "parquet"
    """Format of the tables segsync writes. Delta and Iceberg (their jars on the cluster)
    take DELETE/UPDATE natively and commit each statement atomically; Parquet tables are
    replaced instead (see docs/scaling.md)."""
    conf: dict[str, str] = Field(default_factory=dict)
    """Any Spark settings, e.g. ``{ "spark.executor.memory" = "8g" }``."""

    @field_validator("conf", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): str(x).lower() if isinstance(x, bool) else str(x) for k, x in v.items()}
        return v

    @field_validator("database")
    @classmethod
    def _database(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("expected a database name of letters, digits and '_'")
        return v


class StoreConfig(_Model):
    path: Path = Path("segsync.duckdb")
    """The DuckDB file, relative to the config file's folder. With ``engine = "spark"``: the
    run lock, the work folder and the local Spark folder (``<path>.spark``) sit beside it."""
    engine: Literal["duckdb", "spark"] = "duckdb"
    """Where segments are computed and the store's tables live: the embedded DuckDB file, or
    Spark (``[store.spark]``; docs/scaling.md says when to move)."""
    spark: SparkConfig = Field(default_factory=SparkConfig)
    memory_limit: str = "auto"
    """The most memory DuckDB may use for its work (e.g. "1.5GB", "800MB"); past it, large
    joins, aggregations and temporary tables spill to ``<store>.work/spill/`` instead of
    growing. ``"auto"``: an eighth of the memory of the machine (or of its container), at
    least 64 MiB and at most 128 MiB, or 256 MiB while a pull reads files in bulk
    (:mod:`segsync.state.memory`)."""
    threads: int | None = Field(default=None, ge=1, le=256)
    """Threads DuckDB may use (default: one per core)."""
    lock_wait_seconds: float = Field(default=120.0, ge=0.0)
    """How long a run waits for a short read-only command (``status``, ``plan``,
    ``segments``) holding the store before giving up with exit 4. Another run is never
    waited for."""

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() == "auto":
            return "auto"
        if not (isinstance(v, str) and _SIZE_RE.match(v.strip())):
            raise ValueError(
                "expected a size such as '1.5GB' or '800MB' (KB, MB, GB, TB), or 'auto'"
            )
        return v.strip()


class ResolveConfig(_Model):
    default_region: str | None = None
    """ISO country code used to read phone numbers written without a +country prefix."""

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        return phone_region(v) if v is not None else None


HOLDOUT_GROUP = "holdout"
"""The name of a split's holdout group: ``NAME.holdout``."""


_PERCENT_HINT = "expected a percentage from 0 to 100 with at most 2 decimals"


def _percentage(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(_PERCENT_HINT)
    if not 0 <= value <= 100 or abs(value * 100 - round(value * 100)) > 1e-6:
        raise ValueError(_PERCENT_HINT)
    return value


Percentage = Annotated[float, BeforeValidator(_percentage)]
"""A percentage of a segment: 0..100, integer or up to 2 decimals (a split's unit is 0.01%)."""


def basis_points(percentage: float) -> int:
    """A :data:`Percentage` in hundredths of a percent (45.5 → 4550)."""
    return round(percentage * 100)


class SegmentConfig(_Model):
    where: str | None = None
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    priority: list[str] | None = None
    """Mutually exclusive groups ``NAME.<listed>``: each profile in the first listed segment
    it belongs to; the segment itself is their union. No ``where``/``include``/``split``."""
    split: dict[str, Percentage] | None = None
    """Groups ``NAME.<group>`` by percentage (of the segment's members), in declared order."""
    holdout: Percentage | None = None
    """Percentage held out as ``NAME.holdout``; a sync of ``NAME`` never sends it."""
    seed: str | None = None
    """Hashed with each profile key to assign split groups; default: the segment's name."""
    min_size: int | None = Field(default=None, ge=1)
    """Below this many members the segment is flagged ``too_small``."""
    min_size_action: Literal["warn", "skip_syncs"] = "warn"
    """``skip_syncs``: syncs of a too-small segment (or of its groups) are blocked."""
    description: str = ""

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def groups(self) -> list[str]:
        """The names of this segment's groups (``priority`` entries, or ``split`` groups then
        the holdout), in order; empty for a plain segment."""
        if self.priority:
            return list(self.priority)
        if self.split:
            return [*self.split, *([HOLDOUT_GROUP] if self.holdout is not None else [])]
        return []

    @property
    def has_holdout(self) -> bool:
        return bool(self.split) and self.holdout is not None


class KpiConfig(_Model):
    window: str = "30d"
    """The window KPIs read orders in, before the run's start: same syntax as a trait's
    ``within`` (``"30d"``, ``"12h"``, ``"2w"``)."""

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v

    def bounds(self, as_of: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The window ``[start, end)`` ending at ``as_of`` (naive UTC)."""
        return as_of - parse_duration(self.window), as_of


def _purposes(value: Any) -> Any:
    """A list of consent purposes a destination may require (never the objection)."""
    if isinstance(value, list) and Purpose.DO_NOT_PROFILE.value in value:
        raise ValueError(
            "do_not_profile is an objection, not a purpose a destination can require: a "
            "profile that objects is kept out of every destination anyway"
        )
    return value


RequiredPurposes = Annotated[list[Purpose], BeforeValidator(_purposes)]


class PrivacyConfig(_Model):
    """``[privacy]``: how long segsync keeps what it recorded about people, who it must never
    profile again, and the consent every destination of a kind requires."""

    retention_days: int = Field(default=90, ge=1, le=36_500)
    """Days the change log (who was added, removed or failed, and why), the stored run
    reports, the rejects files, and records staged from sources no longer configured are
    kept; older ones are deleted at the end of each ``segsync run``. Segment sizes and KPIs
    over time hold no one's identity and are kept."""
    suppression_file: Path | None = None
    """A file of people never to profile or push (relative to the config file's folder): one
    email or phone number a line, or a CSV export whose header names an email or phone
    column (Mailchimp's unsubscribed/cleaned exports, HubSpot's deleted contacts). Read at
    every ``segsync run``; only salted hashes of it are stored."""
    require_consent: dict[str, RequiredPurposes] = Field(default_factory=dict)
    """Consent purposes a sync to an audience of this kind requires unless the sync sets its
    own ``require_consent``: ``{ tag = ["email_marketing"], customer_match =
    ["ad_user_data", "ad_personalization"] }``. On top of what the connector itself
    requires for the kind."""


class SyncConfig(_Model):
    segment: str
    destination: str
    audience: str | None = None
    """Audience name at the destination; defaults to the sync's name."""
    kind: str | None = None
    """Audience kind; defaults to the destination connector's only kind."""
    require_consent: RequiredPurposes | None = None
    """Consent purposes a member must have granted; default: ``[privacy] require_consent``
    for the sync's audience kind (``[]`` requires none beyond the connector's own)."""
    max_remove_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """Block the sync when it would remove more than this fraction of its audience."""
    max_add_fraction: float = Field(default=1.0, ge=0.0)
    """Block the sync when it would add more than this fraction of its audience's size (1.0:
    a segment that more than doubles). Not checked while the audience is empty."""
    batch_size: int | None = Field(default=None, ge=1)
    on_missing: Literal["skip", "create"] = "skip"
    """Profiles the destination has no record of: skipped and counted (default), or created
    there first (connectors that support it; never subscribes anyone without consent)."""
    refresh_days: int | None = Field(default=None, ge=1)
    """For destinations whose memberships expire (Google Customer Match): re-add members
    whose last delivery is older than this many days, so the audience never shrinks silently.
    Default: 30 days before they run out (see the destination's page); must be below the
    membership's lifetime. Elsewhere: re-add members this old (default: never)."""
    enabled: bool = True
    description: str = ""


RUN_AS_OF = "as_of"
"""``[segments] as_of``: the run's as-of (a key of ``[segments]``, so no segment has this name)."""


class SegsyncSettings(BaseSettings):
    """The raw, file-level schema of segsync.toml."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    store: StoreConfig = Field(default_factory=StoreConfig)
    plugins_dir: Path | None = None
    resolve: ResolveConfig = Field(default_factory=ResolveConfig)
    attributes: dict[str, AttributeType] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    traits: dict[str, dict[str, Any]] = Field(default_factory=dict)
    segments: dict[str, SegmentConfig] = Field(default_factory=dict)
    syncs: dict[str, SyncConfig] = Field(default_factory=dict)
    kpis: KpiConfig = Field(default_factory=KpiConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    segments_as_of: UtcTime | None = Field(default=None, validation_alias="segments.as_of")
    """``[segments] as_of``: the moment every trait without its own ``as_of``, the KPIs and
    ``current_date``/``now()`` in conditions are computed as of (default: the run's start);
    ``--as-of`` on the command line wins."""

    @model_validator(mode="before")
    @classmethod
    def _run_as_of(cls, data: Any) -> Any:
        """``[segments] as_of`` (a value, not a segment's table) → ``segments_as_of``."""
        if not isinstance(data, dict):
            return data
        segments = data.get("segments")
        if isinstance(segments, dict) and RUN_AS_OF in segments:
            value = segments[RUN_AS_OF]
            if isinstance(value, dict):
                raise ValueError(
                    "segments.as_of: 'as_of' is the run's as-of date ([segments] as_of = "
                    "2026-06-30), not a segment name; rename the segment"
                )
            rest = {k: v for k, v in segments.items() if k != RUN_AS_OF}
            data = {**data, "segments": rest, "segments.as_of": value}
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so it overrides the file (passed in as init values).
        return (env_settings, init_settings)
