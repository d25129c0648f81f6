"""The hooks: registered through the ``segsync`` entry point in pyproject.toml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segsync import hookimpl
from segsync.connector import Connector

from .connector import AcmeConnector
from .simulator import AcmeSimulator


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(AcmeConnector)


@hookimpl
def register_simulators(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("acme", AcmeSimulator)
