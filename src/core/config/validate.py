"""Validation beyond the schema: connector instances with their own settings (and their
secrets), attributes, traits with their kinds' settings and dependency order, segments and
syncs cross-checked. Each function appends one line per problem to ``problems``."""

from __future__ import annotations

import graphlib
import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from segsync.connector import Connector, ConnectorSettings, _is_secret, control_character
from segsync.model.profile import BUILTIN_COLUMNS, AttributeType
from segsync.plugins import Plugins
from segsync.traits import TraitSpec, build_trait

from .messages import clean_errors, format_error, show, suggest
from .schema import _NAME_HINT, ENV_PREFIX, NAME_RE, SegsyncSettings, SyncConfig

if TYPE_CHECKING:
    from .load import Config

log = logging.getLogger("segsync.config")


@dataclass(frozen=True)
class ConnectorInstance:
    """A configured connector instance with its validated settings."""

    name: str
    type_name: str
    cls: type[Connector]
    settings: ConnectorSettings


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
        problems.append(f"{path}: {key}: expected a table, found {show(raw)}")
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
            f"{path}: {key}.{field}: unknown {noun} {choice!r}{suggest(str(choice), known)}; "
            f"{listed}: {', '.join(known) or '(none)'}{hint}"
        )
        return None
    return str(choice), registry[choice], values


def validate_connectors(
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
                format_error(path, err, cls.Settings, prefix=(("connectors", name)))
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


def profile_columns(
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


def validate_traits(
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
        missing = _missing_module(kind.needs)
        if missing is not None:
            extra = (
                f"pip install 'segsync[{kind.extra}]'" if kind.extra else f"pip install {missing}"
            )
            problems.append(
                f"{path}: {key}.kind: trait kind {kind.name!r} needs {missing}, which is not "
                f"installed: {extra}"
            )
            continue
        try:
            spec = build_trait(name, kind, values)
        except ValidationError as exc:
            problems.extend(
                format_error(path, err, kind.Settings, prefix=("traits", name))
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


def _missing_module(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be imported (None when all can)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


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


def validate_syncs(config: Config, problems: list[str]) -> None:
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
                    f"{sync.destination!r}{suggest(sync.destination, known)}; "
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
