"""Registers the ``salesforce`` connector and its simulator (entry point
``segsync.connectors.salesforce.plugin``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segsync import hookimpl
from segsync.connector import Connector

from .connector import SalesforceConnector

__all__ = ["register_connectors", "register_simulators"]


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(SalesforceConnector)


@hookimpl
def register_simulators(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from .simulator import SalesforceSimulator  # only `segsync sandbox` and tests need starlette

    register("salesforce", SalesforceSimulator)
