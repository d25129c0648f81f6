"""The ``segsync`` command line (typer + rich).

Exit codes (see :data:`segsync.report.EXIT_CODES`): 0 success; 1 retry later; 2
configuration, input or environment error; 3 a guard stopped a source or a sync; 4 another
process holds the store's lock; 5 an unexpected internal error. Results go to stdout; logs go
to stderr. The commands live by concern in :mod:`.pipeline`, :mod:`.inspect` and :mod:`.setup`.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from rich.markup import escape

from segsync.config import find_config_path
from segsync.errors import SegsyncError
from segsync.pipeline import plugins_dir_for
from segsync.plugins import Plugins, load_plugins
from segsync.redaction import redact

from . import history, inspect, pipeline, privacy, report, scaffold, setup  # noqa: F401 (registers the commands)
from .app import app, err

__all__ = ["app", "main"]


_VALUE_OPTIONS = ("--config", "-c", "--plugins-dir", "--log-format")
"""The global options that take a value (``segsync -c FILE run``, ``--config=FILE``): what
follows them is not the command."""


def _global_options(argv: list[str]) -> tuple[dict[str, str], str | None]:
    """The global options' values ``argv`` gives (by long name: ``{"--config": FILE}``) and
    the command it names: its first word that is neither an option nor such a value."""
    values: dict[str, str] = {}
    words = iter(argv)
    for arg in words:
        flag, equals, value = arg.partition("=")
        if flag in _VALUE_OPTIONS:
            given = value if equals else next(words, None)
            if given is not None:
                values["--config" if flag == "-c" else flag] = given
        elif not arg.startswith("-"):
            return values, arg
    return values, None


def _preload_plugins() -> list[str]:
    """Load plugins before parsing the command line so they can add commands. Returns
    warnings: a command a plugin added under a built-in name is dropped, the built-in kept."""
    values, _ = _global_options(sys.argv[1:])
    config = Path(values["--config"]) if "--config" in values else None
    plugins_dir = Path(values["--plugins-dir"]) if "--plugins-dir" in values else None
    path = find_config_path(config)
    loaded = load_plugins(plugins_dir or plugins_dir_for(path))
    builtin = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    before = len(app.registered_commands)
    loaded.call_register("register_commands", lambda name: {"app": app})
    warnings = []
    for command in app.registered_commands[before:]:
        name = command.name or (command.callback.__name__ if command.callback else "")
        if name.replace("_", "-") in builtin or name in builtin:
            app.registered_commands.remove(command)
            warnings.append(
                f"plugin {_plugin_of(loaded, command.callback)!r} tried to replace the built-in "
                f"command {name!r}; its command is ignored"
            )
    return warnings


def _plugin_of(loaded: Plugins, callback: object) -> str:
    """The name of the plugin whose module defined ``callback``."""
    module = sys.modules.get(getattr(callback, "__module__", ""))
    name = loaded.pm.get_name(module) if module is not None else None
    return name or str(getattr(callback, "__module__", "?"))


def main() -> None:
    """Console-script entry point.

    A plugin that fails to load does not stop ``--help``, ``--version`` or ``init``: only the
    commands that need plugins report it (and exit 2)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        for warning in _preload_plugins():
            err.print(f"[yellow]warning[/]: {escape(redact(warning))}")
    except SegsyncError as exc:
        builtin = {
            c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
        }
        needs_plugins = _global_options(sys.argv[1:])[1] in builtin - {"init"}
        if not needs_plugins:  # the command itself reports the error otherwise
            err.print(f"[yellow]warning[/]: plugins not loaded: {escape(redact(str(exc)))}")
    # what start-up made (modules, plugins, models) lives as long as the process: the cyclic
    # collector need not scan it again at each full collection (~9% of a 100k-contact pull)
    gc.freeze()
    app()
