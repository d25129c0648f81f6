"""Configuration: ``segsync.toml`` plus ``SEGSYNC_`` environment overrides.

The file is read with :mod:`tomllib` and validated with pydantic-settings; environment
variables override it key by key (``SEGSYNC_STORE__PATH``, ``SEGSYNC_CONNECTORS__CRM__API_TOKEN``:
``__`` separates nesting levels). Each connector instance is then validated by its own
connector's ``Settings`` model, and segments and syncs are cross-checked.

Every problem is reported as one line naming the file, the key path, what was expected and
what was found; all problems are collected before raising :class:`ConfigError`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import graphlib
import logging
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from segsync.connector import (
    Connector,
    ConnectorSettings,
    Purpose,
    _is_secret,
    control_character,
)
from segsync.errors import ConfigError
from segsync.plugins import Plugins
from segsync.profile import BUILTIN_COLUMNS, AttributeType
from segsync.traits import TraitSpec, build_trait
from segsync.traits.base import parse_duration

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "Config",
    "ConnectorInstance",
    "KpiConfig",
    "SegmentConfig",
    "SegsyncSettings",
    "SyncConfig",
    "load_config",
]

log = logging.getLogger("segsync.config")

DEFAULT_CONFIG_NAME = "segsync.toml"
ENV_PREFIX = "SEGSYNC_"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SECRET_KEY_RE = re.compile(r"(token|secret|password|passwd|api_key|private_key)", re.I)
_NAME_HINT = "a name of lower-case letters, digits and '_', starting with a letter"
_SELF_CONTAINED = frozenset({"store", "resolve", "kpis", "plugins_dir"})
"""Sections no other section refers to: their problems do not hide the others'."""
_KEYED_MESSAGE = re.compile(r"^([a-z_][a-z0-9_]*): (.+)$", re.S)
_SIZE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
# what to say for pydantic's error types, in the user's terms
_EXPECTED = {
    "path_type": "expected a file path (text)",
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a table",
    "list_type": "expected a list",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Model):
    path: Path = Path("segsync.duckdb")
    """The DuckDB file, relative to the config file's folder."""
    memory_limit: str = "1.5GB"
    """The most memory DuckDB may use for its work (e.g. "1.5GB", "800MB"); past it, large
    joins and aggregations spill to a temporary folder beside the store instead of growing."""
    threads: int | None = Field(default=None, ge=1, le=256)
    """Threads DuckDB may use (default: one per core)."""
    lock_wait_seconds: float = Field(default=120.0, ge=0.0)
    """How long a run waits for a short read-only command (``status``, ``plan``,
    ``segments``) holding the store before giving up with exit 4. Another run is never
    waited for."""

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        if not (isinstance(v, str) and _SIZE_RE.match(v.strip())):
            raise ValueError("expected a size such as '1.5GB' or '800MB' (KB, MB, GB, TB)")
        return v.strip()


class ResolveConfig(_Model):
    default_region: str | None = None
    """ISO country code used to read phone numbers written without a +country prefix."""

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError("expected a two-letter country code such as 'FR'")
        return v.upper() if v else v


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


class SyncConfig(_Model):
    segment: str
    destination: str
    audience: str | None = None
    """Audience name at the destination; defaults to the sync's name."""
    kind: str | None = None
    """Audience kind; defaults to the destination connector's only kind."""
    require_consent: list[Purpose] = Field(default_factory=list)
    max_remove_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """Block the sync when it would remove more than this fraction of its audience."""
    max_add_fraction: float = Field(default=1.0, ge=0.0)
    """Block the sync when it would add more than this fraction of its audience's size (1.0:
    a segment that more than doubles). Not checked while the audience is empty."""
    batch_size: int | None = Field(default=None, ge=1)
    on_missing: Literal["skip", "create"] = "skip"
    """Profiles the destination has no record of: skipped and counted (default), or created
    there first (connectors that support it; never subscribes anyone without consent)."""
    enabled: bool = True
    description: str = ""


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


@dataclass(frozen=True)
class ConnectorInstance:
    """A configured connector instance with its validated settings."""

    name: str
    type_name: str
    cls: type[Connector]
    settings: ConnectorSettings


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
        """DuckDB settings for :meth:`segsync.store.Store.open`."""
        store = self.settings.store
        options: dict[str, str | int] = {"memory_limit": store.memory_limit}
        if store.threads is not None:
            options["threads"] = store.threads
        return options

    @property
    def store_path(self) -> Path:
        return _resolve(self.base_dir, self.settings.store.path)

    @property
    def segments(self) -> dict[str, SegmentConfig]:
        return self.settings.segments

    def segment_names(self) -> list[str]:
        """Every segment name a sync or ``include``/``exclude`` may use, in the config's
        order: each segment followed by its groups (``NAME.GROUP``)."""
        return [
            n
            for name, seg in self.segments.items()
            for n in (name, *(f"{name}.{g}" for g in seg.groups()))
        ]

    def unknown_segment(self, name: str) -> str | None:
        """Why ``name`` names no segment or group (None when it does)."""
        parent, dot, group = name.partition(".")
        segment = self.segments.get(parent)
        if not dot:
            if segment is not None:
                return None
            known = sorted(self.segments)
            return (
                f"unknown segment {name!r}{_suggest(name, known)}; "
                f"defined: {', '.join(known) or '(none)'}"
            )
        if segment is None:
            known = sorted(self.segments)
            return (
                f"unknown segment {parent!r} in {name!r}{_suggest(parent, known)}; "
                f"defined: {', '.join(known) or '(none)'}"
            )
        groups = segment.groups()
        if not groups:
            return (
                f"segment {parent!r} has no groups (only segments with 'priority' or 'split' "
                f"have), found {name!r}"
            )
        if group not in groups:
            return (
                f"unknown group {group!r} of segment {parent!r}{_suggest(group, groups)}; "
                f"its groups: {', '.join(groups)}"
            )
        return None

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

    def required_purposes(self, sync: SyncConfig) -> frozenset[Purpose]:
        caps = self.connectors[sync.destination].cls.capabilities
        return caps.audience_kinds.get(self.sync_kind(sync), frozenset()) | set(
            sync.require_consent
        )


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
        problems = [_format_error(path, err, SegsyncSettings) for err in errors]
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
    connectors = _validate_connectors(path, settings, plugins, problems, data)
    columns = _profile_columns(path, settings, problems)
    traits = _validate_traits(path, settings, plugins, columns, problems)
    config = Config(
        path=path,
        settings=settings,
        connectors=connectors,
        plugins=plugins,
        columns=columns,
        traits=traits,
    )
    _validate_segments(config, problems)
    _validate_syncs(config, problems)
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the configuration", problems)
    return config


T = TypeVar("T")


def _typed_table(
    path: Path,
    key: str,
    name: str,
    raw: Any,
    field: str,
    registry: Mapping[str, T],
    noun: str,
    listed: str,
    hint: str,
    problems: list[str],
) -> tuple[str, T, dict[str, Any]] | None:
    """A ``[section.NAME]`` table whose ``field`` picks a class from ``registry`` (a
    connector's ``type``, a trait's ``kind``): ``(choice, class, other values)``, or None with
    the problem recorded."""
    if not NAME_RE.match(name):
        problems.append(f"{path}: {key}: expected {_NAME_HINT}, found {name!r}")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{path}: {key}: expected a table, found {_show(raw)}")
        return None
    values = dict(raw)
    choice = values.pop(field, None)
    known = sorted(registry)
    if choice is None:
        problems.append(
            f"{path}: {key}.{field}: missing; expected one of the {listed} {noun}s: "
            f"{', '.join(known) or '(none)'}"
        )
        return None
    if choice not in registry:
        problems.append(
            f"{path}: {key}.{field}: unknown {noun} {choice!r}{_suggest(str(choice), known)}; "
            f"{listed}: {', '.join(known) or '(none)'}{hint}"
        )
        return None
    return str(choice), registry[choice], values


def _validate_connectors(
    path: Path,
    settings: SegsyncSettings,
    plugins: Plugins,
    problems: list[str],
    data: Mapping[str, Any],
) -> dict[str, ConnectorInstance]:
    out: dict[str, ConnectorInstance] = {}
    in_file = data.get("connectors") if isinstance(data.get("connectors"), dict) else {}
    for name, raw in settings.connectors.items():
        picked = _typed_table(
            path, f"connectors.{name}", name, raw, "type", plugins.connectors,
            "connector type", "installed", " (see 'segsync plugins')", problems,
        )  # fmt: skip
        if picked is None:
            continue
        type_name, cls, values = picked
        written = in_file.get(name) if isinstance(in_file, dict) else None
        _check_secrets(path, name, cls.Settings, values, written or {}, problems)
        try:
            conn_settings = cls.Settings(**values)
        except ValidationError as exc:
            problems.extend(
                _format_error(path, err, cls.Settings, prefix=(("connectors", name)))
                for err in clean_errors(exc)
            )
            continue
        out[name] = ConnectorInstance(
            name=name, type_name=type_name, cls=cls, settings=conn_settings
        )
    return out


def _check_secrets(
    path: Path,
    name: str,
    model: type[ConnectorSettings],
    values: dict[str, Any],
    written: Mapping[str, Any],
    problems: list[str],
) -> None:
    """Secrets as given: surrounding white space and line breaks (a stray CR/LF from a shell or
    a Windows editor) are removed with a warning, control characters inside are refused, and a
    secret written in the config file itself is warned about."""
    for secret, info in model.model_fields.items():
        if not _is_secret(info.annotation) or not isinstance(values.get(secret), str):
            continue
        key = f"connectors.{name}.{secret}"
        env_name = f"{ENV_PREFIX}CONNECTORS__{name.upper()}__{secret.upper()}"
        origin = (
            f"environment variable {env_name}"
            if env_name in os.environ or env_name.lower() in {k.lower() for k in os.environ}
            else "the config file"
        )
        raw: str = values[secret]
        cleaned = raw.strip()
        if cleaned != raw:
            values[secret] = cleaned
            log.warning(
                "%s: %s: removed white space or a line break around the secret (from %s)",
                path,
                key,
                origin,
            )
        bad = control_character(cleaned)
        if bad:
            problems.append(
                f"{path}: {key}: the secret contains a control character ({bad}) (from "
                f"{origin}); expected one line of printable text"
            )
        if secret in written and origin == "the config file":
            log.warning(
                "%s: %s is written in the config file; keep secrets out of it: set %s, or "
                '%s_file = "/path/to/file"',
                path,
                key,
                env_name,
                secret,
            )


def _profile_columns(
    path: Path, settings: SegsyncSettings, problems: list[str]
) -> dict[str, AttributeType]:
    columns: dict[str, AttributeType] = dict(BUILTIN_COLUMNS)
    for name, type_ in settings.attributes.items():
        key = f"attributes.{name}"
        if not NAME_RE.match(name):
            problems.append(f"{path}: {key}: expected {_NAME_HINT}, found {name!r}")
        elif name in BUILTIN_COLUMNS:
            problems.append(
                f"{path}: {key}: {name!r} is a built-in profile column; choose another name "
                f"(built-ins: {', '.join(BUILTIN_COLUMNS)})"
            )
        else:
            columns[name] = type_
    return columns


def _validate_traits(
    path: Path,
    settings: SegsyncSettings,
    plugins: Plugins,
    columns: dict[str, AttributeType],
    problems: list[str],
) -> dict[str, TraitSpec]:
    """Validate each ``[traits.NAME]`` with its kind's settings; add the trait columns to
    ``columns`` (refusing any that clash with a profile column or another trait's)."""
    out: dict[str, TraitSpec] = {}
    profile_columns = dict(columns)
    added: dict[str, str] = {}  # column -> trait that adds it
    for name, raw in settings.traits.items():
        key = f"traits.{name}"
        picked = _typed_table(
            path, key, name, raw, "kind", plugins.trait_kinds, "trait kind", "registered", "",
            problems,
        )  # fmt: skip
        if picked is None:
            continue
        _, kind, values = picked
        try:
            spec = build_trait(name, kind, values)
        except ValidationError as exc:
            problems.extend(
                _format_error(path, err, kind.Settings, prefix=("traits", name))
                for err in clean_errors(exc)
            )
            continue
        clash = False
        for column, type_ in spec.columns().items():
            if column in profile_columns:
                what = "a built-in profile column" if column in BUILTIN_COLUMNS else "an attribute"
                problems.append(
                    f"{path}: {key}: the trait's column {column!r} is already {what}; "
                    f"choose another trait name"
                )
                clash = True
            elif column in added:
                problems.append(
                    f"{path}: {key}: the trait's column {column!r} is also a column of trait "
                    f"{added[column]!r}; choose another trait name"
                )
                clash = True
            else:
                added[column] = name
                columns[column] = type_
        if not clash:
            out[name] = spec
    return _trait_order(path, out, added, columns, problems)


def _trait_order(
    path: Path,
    traits: dict[str, TraitSpec],
    added: dict[str, str],
    columns: dict[str, AttributeType],
    problems: list[str],
) -> dict[str, TraitSpec]:
    """Check each trait against the profile columns and the *other* traits' columns, and
    order the traits so that a trait reading another's columns comes after it."""
    graph: dict[str, set[str]] = {}
    for name, spec in traits.items():
        own = set(spec.columns())
        visible = {c: t for c, t in columns.items() if c not in own}
        problems.extend(f"{path}: {problem}" for problem in spec.trait.check(visible))
        graph[name] = {added[c] for c in spec.trait.uses() if c in added and added[c] != name}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        problems.append(f"{path}: traits: traits read each other's columns in a cycle: {cycle}")
        return traits
    return {name: traits[name] for name in order if name in traits}


def _validate_segments(config: Config, problems: list[str]) -> None:
    from segsync.segments import check_segments

    problems.extend(check_segments(config))


def _validate_syncs(config: Config, problems: list[str]) -> None:
    path = config.path
    for name, sync in config.syncs.items():
        key = f"syncs.{name}"
        if not NAME_RE.match(name):
            problems.append(f"{path}: {key}: expected {_NAME_HINT}, found {name!r}")
        unknown = config.unknown_segment(sync.segment)
        if unknown is not None:
            problems.append(f"{path}: {key}.segment: {unknown}")
        dest = config.connectors.get(sync.destination)
        if dest is None:
            known = sorted(config.connectors)
            if sync.destination not in config.settings.connectors:
                problems.append(
                    f"{path}: {key}.destination: unknown connector instance "
                    f"{sync.destination!r}{_suggest(sync.destination, known)}; "
                    f"defined: {', '.join(known) or '(none)'}"
                )
            continue
        kinds = dest.cls.capabilities.audience_kinds
        if not kinds:
            problems.append(
                f"{path}: {key}.destination: connector instance {sync.destination!r} "
                f"(type {dest.type_name!r}) cannot be a destination; it has no audience kinds"
            )
        elif sync.kind is not None and sync.kind not in kinds:
            problems.append(
                f"{path}: {key}.kind: {dest.type_name!r} has no audience kind {sync.kind!r}; "
                f"expected one of: {', '.join(kinds)}"
            )
        elif sync.kind is None and len(kinds) > 1:
            problems.append(
                f"{path}: {key}.kind: missing; {dest.type_name!r} offers several audience kinds, "
                f"expected one of: {', '.join(kinds)}"
            )
        if sync.on_missing == "create":
            problems.extend(_check_on_missing(path, key, sync, dest))


def _check_on_missing(path: Path, key: str, sync: SyncConfig, dest: ConnectorInstance) -> list[str]:
    caps = dest.cls.capabilities
    if not caps.creates_members:
        return [
            f"{path}: {key}.on_missing: {dest.type_name!r} cannot create members; expected 'skip'"
        ]
    if caps.identifier == "id" and not caps.contacts:
        return [
            f"{path}: {key}.on_missing: 'create' needs {sync.destination!r} to be pulled as a "
            f"source too, so created records are recognised on the next run"
        ]
    return []


def _format_error(
    path: Path,
    err: Mapping[str, Any],
    model: type[BaseModel],
    prefix: tuple[str, ...] = (),
) -> str:
    loc = tuple(str(p) for p in err.get("loc", ()))
    full = prefix + loc
    key = ".".join(full) or "(top level)"
    kind = err.get("type", "")
    found = err.get("input")
    env_name = ENV_PREFIX + "__".join(p.upper() for p in full)
    origin = f" (from environment variable {env_name})" if env_name in os.environ else ""
    if kind == "missing":
        field = model.model_fields.get(loc[-1]) if len(loc) == 1 else None
        if field is not None and _is_secret(field.annotation):
            return (
                f"{path}: {key}: missing; a secret: set the environment variable {env_name}, "
                f'or {loc[-1]}_file = "/path/to/file" (keep secrets out of the config file)'
            )
        return f"{path}: {key}: missing; a value is required{origin}"
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        hint = _suggest(loc[-1], known) if loc else ""
        listing = f"; expected one of: {', '.join(known)}" if known else ""
        return f"{path}: {key}: unknown key{hint}{listing}{origin}"
    if _SECRET_KEY_RE.search(key):
        found = "<hidden>"
    msg = str(err.get("msg", "invalid value"))
    msg = re.sub(r"^(Input should be|Value error,)\s*", "", msg)
    named = _KEYED_MESSAGE.match(msg) if kind == "value_error" and not loc else None
    if named:  # a model-level check about one key ("token_file: cannot read …")
        return f"{path}: {key}.{named.group(1)}: {named.group(2)}{origin}"
    expected = _EXPECTED.get(kind, msg)
    if not expected.startswith("expected"):
        expected = "expected " + expected
    return f"{path}: {key}: {expected}; found {_show(found)}{origin}"


_SHAPE_ERRORS = frozenset({"list_type", "model_type", "dict_type", "model_attributes_type"})


def _model_names() -> set[str]:
    names: set[str] = set()
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _is_tag(part: object, models: set[str]) -> bool:
    """pydantic adds union-member labels (``ContactsSource``, ``list[...]``, ``[key]``) to
    locations; they are not keys the user wrote."""
    return isinstance(part, str) and ("[" in part or part in models)


def clean_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Validation errors with union labels removed from their locations, and without the
    errors of union members whose shape did not match the input (a table given where a
    table or a list of tables is allowed reports only the table's problems)."""
    models = _model_names()
    raw: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    tagged: list[tuple[tuple[Any, ...], str | None, dict[str, Any]]] = []
    for err in raw:
        loc = tuple(err.get("loc", ()))
        index = next((i for i, p in enumerate(loc) if _is_tag(p, models)), None)
        prefix = loc if index is None else loc[:index]
        tag = None if index is None else str(loc[index])
        tagged.append((prefix, tag, err))
    out: list[dict[str, Any]] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    for prefix, tag, err in tagged:
        loc = tuple(p for p in err.get("loc", ()) if not _is_tag(p, models))
        shape_mismatch = (
            tag is not None and err.get("type") in _SHAPE_ERRORS and len(loc) == len(prefix)
        )
        siblings = any(t != tag and p == prefix for p, t, _ in tagged)
        if shape_mismatch and siblings:
            continue
        key = (loc, str(err.get("msg")))
        if key in seen:
            continue
        seen.add(key)
        err["loc"] = loc
        out.append(err)
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``X | list[X] | None`` gives ``X``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The keys allowed at ``loc`` (a path of field names and dict keys) in ``model``."""
    current: type[BaseModel] | None = model
    parts = list(loc)
    while parts and current is not None:
        part = parts.pop(0)
        if part.isdigit():  # an index into a list of tables
            continue
        info = current.model_fields.get(part)
        if info is None:
            return []
        annotation = info.annotation
        if getattr(annotation, "__origin__", None) is dict:
            annotation = annotation.__args__[1]  # type: ignore[union-attr]
            if not parts:
                return []
            parts.pop(0)  # the dict key, e.g. a segment's name
        current = _model_in(annotation)
    return sorted(current.model_fields) if current is not None else []


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    if value == "<hidden>":
        return "a value (hidden: it may be a secret)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
