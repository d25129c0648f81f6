"""Registers the ``table`` connector (entry point ``segsync.connectors.table.plugin``)."""

from __future__ import annotations

from collections.abc import Callable

from segsync import hookimpl
from segsync.connector import Connector

from .connector import TableConnector

__all__ = ["register_connectors"]


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(TableConnector)
