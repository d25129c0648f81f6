"""Fixtures of the Salesforce simulator tests: a fake wall clock, simulators, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import SalesforceSimulator

TOKEN = "00DHu0000000001!sandbox-session"
BASE = "https://acme.my.salesforce.com"
JAN_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class WallClock:
    def __init__(self) -> None:
        self.now = JAN_1

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def make(clock: WallClock) -> Callable[..., SalesforceSimulator]:
    """A simulator on the fake wall clock that accepts the session id ``TOKEN`` for 30 days."""

    def factory(**kwargs: Any) -> SalesforceSimulator:
        kwargs.setdefault("wall_clock", clock)
        kwargs.setdefault("session_lifetime", 30 * 86_400.0)  # tests move the clock by days
        sim = SalesforceSimulator(**kwargs)
        sim.add_credential(TOKEN)
        return sim

    return factory


@pytest.fixture
def sim(make: Callable[..., SalesforceSimulator]) -> SalesforceSimulator:
    return make()


@pytest.fixture
def connect() -> Callable[..., httpx.AsyncClient]:
    def connect(
        sim: SalesforceSimulator, token: str | None = TOKEN, **kwargs: Any
    ) -> httpx.AsyncClient:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        headers.update(kwargs.pop("headers", {}))
        return httpx.AsyncClient(
            transport=sim.transport(), base_url=BASE, headers=headers, **kwargs
        )

    return connect


@pytest.fixture
async def api(
    sim: SalesforceSimulator, connect: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(sim) as client:
        yield client
