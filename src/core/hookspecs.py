"""The plugin hooks: the whole extension surface of segsync.

Plugins implement these with ``@segsync.hookimpl``. Every hook is called with keyword
arguments, so an implementation may accept fewer parameters than the spec lists.

Register hooks (called once, when plugins are loaded):

* :func:`register_connectors` — add connector classes.
* :func:`register_simulators` — add simulators of platform APIs (tests, ``segsync sandbox``).
* :func:`register_commands` — add CLI commands.
* :func:`register_trait_kinds` — add kinds of computed trait (``[traits.NAME] kind = ...``).

Observer hooks (called as things happen; return values are ignored):

* :func:`run_finished` — a run has finished, successfully or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from segsync.connector import Connector
    from segsync.report import RunReport
    from segsync.testing.simulator import Simulator
    from segsync.traits import TraitKind

__all__ = [
    "hookimpl",
    "hookspec",
    "register_commands",
    "register_connectors",
    "register_simulators",
    "register_trait_kinds",
    "run_finished",
]

hookspec = pluggy.HookspecMarker("segsync")
hookimpl = pluggy.HookimplMarker("segsync")


@hookspec
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register connector classes.

    Called once per plugin when plugins are loaded. Call ``register(ConnectorClass)`` once per
    connector type the plugin provides. ``ConnectorClass.name`` must be unique among all
    installed plugins; a clash is a :class:`segsync.errors.PluginError` naming both plugins.
    """


@hookspec
def register_simulators(register: Callable[[str, Callable[..., Simulator]], None]) -> None:
    """Register simulators of platform APIs, for tests and ``segsync sandbox``.

    Called once per plugin when plugins are loaded. Call ``register(connector_type, factory)``
    where ``factory(seed=...)`` returns a :class:`segsync.testing.simulator.Simulator` of the
    platform that connector type talks to.
    """


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands to the ``segsync`` CLI.

    Called once, before the command line is parsed. Use ``@app.command()`` as with any Typer app.
    Command names must not shadow built-in ones.
    """


@hookspec
def register_trait_kinds(register: Callable[[type[TraitKind[Any]]], None]) -> None:
    """Register kinds of computed trait.

    Called once per plugin when plugins are loaded. Call ``register(KindClass)`` once per kind;
    ``KindClass`` subclasses :class:`segsync.traits.TraitKind` with a unique ``name`` (what
    ``kind = "..."`` says in ``[traits.NAME]``) and a ``Settings`` model subclassing
    :class:`segsync.traits.TraitSettings`. The built-in kinds (``aggregate``, ``recency``,
    ``rfm``) are registered the same way, by the plugin ``segsync.traits``.
    """


@hookspec
def run_finished(report: RunReport) -> None:
    """Observe a finished run.

    Called after every ``segsync run`` (and ``segsync.run()``) once its report is final,
    including runs that failed or were stopped by a guard. ``report`` must be treated as
    read-only. An exception raised here is logged and does not change the run's exit code.
    """
