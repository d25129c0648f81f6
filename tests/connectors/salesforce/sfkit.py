"""Helpers of the Salesforce connector tests: a simulator, a connector on its transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from segsync.connector import ConnectorContext
from segsync.connectors.salesforce.connector import SalesforceConnector
from segsync.connectors.salesforce.settings import SalesforceSettings
from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SalesforceSimulator,
)

LOGIN = "https://acme.my.salesforce.com"
T = TypeVar("T")


async def no_wait(seconds: float) -> None:
    """Retries and Bulk polls wait no real time in tests."""
    await asyncio.sleep(0)


def sim_with(**kwargs: Any) -> SalesforceSimulator:
    return SalesforceSimulator(**{"seed": 1, **kwargs})


def make(
    sim: SalesforceSimulator,
    tmp_path: Path,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: Any,
) -> SalesforceConnector:
    """A connector logging in with the simulator's sandbox app (client credentials)."""
    values = {"login_url": LOGIN, "client_id": DEFAULT_CLIENT_ID,
              "client_secret": DEFAULT_CLIENT_SECRET, "bulk_poll_seconds": 0.01, **settings}  # fmt: skip
    context = ConnectorContext(
        "sf", tmp_path, tmp_path / "work", transport=transport or sim.transport()
    )
    return SalesforceConnector(SalesforceSettings(**values), context)


def run(connector: SalesforceConnector, work: Callable[[SalesforceConnector], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await work(connector)
        finally:
            await connector.aclose()

    return asyncio.run(go())
