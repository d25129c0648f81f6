"""Plugin loading: entry points, a plugins directory of loose ``.py`` files, an allowlist.

Nothing is loaded at import time. :func:`load_plugins` loads, validates and caches; it is
idempotent for the same arguments. First-party connectors are loaded exactly like third-party
ones, from the ``segsync`` entry-point group.

``SEGSYNC_PLUGINS`` (comma-separated names) limits which plugins load: entry-point names and
loose file stems. Unset means all; an empty value means none.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from segsync import hookspecs
from segsync.connector import Capabilities, Connector, ConnectorSettings
from segsync.errors import PluginError
from segsync.traits.base import TraitKind, TraitSettings

__all__ = [
    "ALLOWLIST_ENV",
    "BUILTIN_TRAITS",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "Plugins",
    "get_plugin_manager",
    "load_plugins",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "segsync"
BUILTIN_TRAITS = "segsync.traits"
"""The plugin name under which the built-in trait kinds are registered."""
ALLOWLIST_ENV = "SEGSYNC_PLUGINS"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TRAIT_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass
class PluginInfo:
    """One loaded plugin, as ``segsync plugins`` shows it."""

    name: str
    origin: str
    version: str
    hooks: list[str] = field(default_factory=list)
    connectors: list[str] = field(default_factory=list)
    simulators: list[str] = field(default_factory=list)
    trait_kinds: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """The loaded plugins and what they registered."""

    pm: pluggy.PluginManager
    info: dict[str, PluginInfo] = field(default_factory=dict)
    connectors: dict[str, type[Connector]] = field(default_factory=dict)
    trait_kinds: dict[str, type[TraitKind[Any]]] = field(default_factory=dict)
    _simulators: dict[str, Callable[..., Any]] | None = None

    def connector(self, type_name: str) -> type[Connector]:
        return self.connectors[type_name]

    @property
    def simulators(self) -> dict[str, Callable[..., Any]]:
        """Simulators by connector type, registered on first use: only `segsync sandbox`,
        `segsync plugins` and tests ask, and importing every platform's simulator (Starlette
        apps) would cost each `segsync run` a quarter of a second."""
        if self._simulators is None:
            self._simulators = {}
            self.call_register(
                "register_simulators", lambda name: {"register": _simulator_registrar(self, name)}
            )
        return self._simulators

    def call_register(self, hook_name: str, make_args: Callable[[str], dict[str, Any]]) -> None:
        """Call a register-style hook plugin by plugin; ``make_args(plugin_name)`` builds the
        keyword arguments, so each plugin's registrations are attributed to it. Errors raised
        by a plugin become :class:`PluginError` naming it."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order
            args = {k: v for k, v in make_args(impl.plugin_name).items() if k in impl.argnames}
            try:
                impl.function(**args)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc


def get_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with segsync's hookspecs and no plugins loaded."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


_cache: dict[tuple[str | None, frozenset[str] | None], Plugins] = {}


def reset_plugins() -> None:
    """Forget cached plugin sets (tests use this)."""
    _cache.clear()


def allowlist_from_env() -> frozenset[str] | None:
    raw = os.environ.get(ALLOWLIST_ENV)
    if raw is None:
        return None
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def load_plugins(
    plugins_dir: Path | None = None, *, allow: frozenset[str] | None = None
) -> Plugins:
    """Load entry-point plugins and loose ``*.py`` files from ``plugins_dir``.

    ``allow`` defaults to ``SEGSYNC_PLUGINS``. Raises :class:`PluginError` when a plugin cannot
    be imported, implements an unknown hook, or registers an invalid or clashing connector.
    """
    if allow is None:
        allow = allowlist_from_env()
    key = (str(plugins_dir.resolve()) if plugins_dir else None, allow)
    if key in _cache:
        return _cache[key]
    pm = get_plugin_manager()
    plugins = Plugins(pm=pm)
    from segsync._version import __version__
    from segsync.traits import builtin

    # core, not subject to the allowlist: configs rely on the built-in trait kinds
    _register(plugins, BUILTIN_TRAITS, builtin, f"built-in {builtin.__name__}", __version__)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            continue
        _register(plugins, ep.name, _load_entry_point(ep), _ep_origin(ep), _ep_version(ep))
    if plugins_dir is not None and plugins_dir.is_dir():
        for path in sorted(plugins_dir.glob("*.py")):
            if path.name.startswith("_") or (allow is not None and path.stem not in allow):
                continue
            module = _load_file(path)
            version = str(getattr(module, "__version__", "-"))
            _register(plugins, path.stem, module, f"file {path}", version)
    _check_hook_names(plugins)
    plugins.call_register(
        "register_connectors", lambda name: {"register": _connector_registrar(plugins, name)}
    )
    plugins.call_register(
        "register_trait_kinds", lambda name: {"register": _trait_kind_registrar(plugins, name)}
    )
    _cache[key] = plugins
    return plugins


def _register(plugins: Plugins, name: str, module: ModuleType, origin: str, version: str) -> None:
    if plugins.pm.has_plugin(name):
        previous = plugins.info[name].origin
        raise PluginError(f"two plugins are named {name!r}: {previous} and {origin}")
    try:
        plugins.pm.register(module, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} ({origin}) is invalid: {exc}") from exc
    hooks = sorted(
        h.name for h in plugins.pm.get_hookcallers(module) or [] if not h.name.startswith("_")
    )
    plugins.info[name] = PluginInfo(name=name, origin=origin, version=version, hooks=hooks)


def _check_hook_names(plugins: Plugins) -> None:
    """Refuse a hook implementation whose name is no hook (``register_conectors``), naming the
    plugin by its name and origin, and the hook it was probably meant to be."""
    callers = {n: c for n, c in vars(plugins.pm.hook).items() if not n.startswith("_")}
    known = sorted(n for n, c in callers.items() if c.has_spec())
    for hook_name, caller in sorted(callers.items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            info = plugins.info.get(impl.plugin_name)
            where = f"{impl.plugin_name!r} ({info.origin})" if info else repr(impl.plugin_name)
            close = difflib.get_close_matches(hook_name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise PluginError(
                f"plugin {where}: unknown hook {hook_name!r} ({hint}hooks: {', '.join(known)})"
            )


def _connector_registrar(plugins: Plugins, plugin_name: str) -> Callable[[type[Connector]], None]:
    def register(cls: type[Connector]) -> None:
        _validate_connector(cls, plugin_name)
        if cls.name in plugins.connectors:
            other = next(
                (n for n, i in plugins.info.items() if cls.name in i.connectors), "another plugin"
            )
            raise PluginError(
                f"connector type {cls.name!r} is registered twice: by {other!r} and by "
                f"{plugin_name!r}"
            )
        plugins.connectors[cls.name] = cls
        plugins.info[plugin_name].connectors.append(cls.name)

    return register


def _simulator_registrar(
    plugins: Plugins, plugin_name: str
) -> Callable[[str, Callable[..., Any]], None]:
    def register(connector_type: str, factory: Callable[..., Any]) -> None:
        if not callable(factory):
            raise PluginError(f"plugin {plugin_name!r} registered a simulator that is not callable")
        registered = plugins._simulators
        assert registered is not None  # registering runs inside Plugins.simulators
        if connector_type in registered:
            raise PluginError(
                f"two simulators are registered for connector type {connector_type!r}"
            )
        registered[connector_type] = factory
        plugins.info[plugin_name].simulators.append(connector_type)

    return register


def _trait_kind_registrar(
    plugins: Plugins, plugin_name: str
) -> Callable[[type[TraitKind[Any]]], None]:
    def register(cls: type[TraitKind[Any]]) -> None:
        where = f"plugin {plugin_name!r}"
        if not (isinstance(cls, type) and issubclass(cls, TraitKind)):
            raise PluginError(f"{where} registered {cls!r}, which is not a segsync TraitKind class")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _TRAIT_KIND_RE.match(name):
            raise PluginError(
                f"{where}: trait kind {cls.__name__} needs a `name` of lower-case letters, "
                f"digits or '_' (found {name!r})"
            )
        settings = getattr(cls, "Settings", None)
        if not (isinstance(settings, type) and issubclass(settings, TraitSettings)):
            raise PluginError(f"{where}: {cls.__name__}.Settings must subclass TraitSettings")
        if name in plugins.trait_kinds:
            other = next(
                (n for n, i in plugins.info.items() if name in i.trait_kinds), "another plugin"
            )
            raise PluginError(
                f"trait kind {name!r} is registered twice: by {other!r} and by {plugin_name!r}"
            )
        plugins.trait_kinds[name] = cls
        plugins.info[plugin_name].trait_kinds.append(name)

    return register


def _validate_connector(cls: object, plugin_name: str) -> None:
    where = f"plugin {plugin_name!r}"
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise PluginError(f"{where} registered {cls!r}, which is not a segsync Connector class")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginError(
            f"{where}: connector {cls.__name__} needs a `name` of lower-case letters, digits, "
            f"'-' or '_' (found {name!r})"
        )
    if not (isinstance(cls.Settings, type) and issubclass(cls.Settings, ConnectorSettings)):
        raise PluginError(f"{where}: {cls.__name__}.Settings must subclass ConnectorSettings")
    if not isinstance(cls.capabilities, Capabilities):
        raise PluginError(f"{where}: {cls.__name__}.capabilities must be a Capabilities")
    if cls.capabilities.max_batch_size < 1:
        raise PluginError(f"{where}: {cls.__name__}.capabilities.max_batch_size must be >= 1")


def _load_entry_point(ep: EntryPoint) -> ModuleType:
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(
            f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, ModuleType):
        raise PluginError(f"plugin {ep.name!r}: entry point {ep.value} must name a module")
    return obj


def _load_file(path: Path) -> ModuleType:
    module_name = f"segsync_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PluginError(
            f"plugin file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _ep_origin(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"entry point {ep.value} (package {dist.name})" if dist else f"entry point {ep.value}"


def _ep_version(ep: EntryPoint) -> str:
    return ep.dist.version if ep.dist else "-"
