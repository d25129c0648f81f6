from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable

import httpx
import pytest
from http_fakes import FakeClock

from segsync.errors import AuthError, FatalError, RetryableError
from segsync.http import (
    HttpClient,
    RetryPolicy,
    map_transport_error,
    parse_retry_after,
    with_retries,
)

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def make_client(
    handler: Handler, clock: FakeClock, policy: RetryPolicy | None = None
) -> HttpClient:
    return HttpClient(
        "https://api.example.test",
        transport=httpx.MockTransport(handler),
        retry=policy or RetryPolicy(),
        sleep=clock.sleep,
        clock=clock,
    )


async def test_429_then_success(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(429), httpx.Response(200, json={"ok": 1}))
    async with make_client(handler, clock) as client:
        response = await client.get("/v3/lists")
    assert response.json() == {"ok": 1}
    assert len(seen) == 2
    assert client.stats.throttled == 1 and client.stats.retries == 1


async def test_retry_after_seconds_is_honoured(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    async with make_client(handler, clock) as client:
        await client.get("/x")
    assert len(seen) == 2
    retry_sleeps = [s for s in clock.sleeps if s >= 1.0]
    assert retry_sleeps and 3.0 <= retry_sleeps[-1] <= 3.0 + 0.4


async def test_retry_after_http_date_is_honoured(clock: FakeClock) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    header = email.utils.format_datetime(when, usegmt=True)
    handler, seen = scripted(
        httpx.Response(503, headers={"Retry-After": header}), httpx.Response(200)
    )
    async with make_client(handler, clock) as client:
        await client.get("/x")
    assert len(seen) == 2
    assert 18.0 <= max(clock.sleeps) <= 20.0 + 2.1


async def test_transient_5xx_then_success(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(502), httpx.Response(500), httpx.Response(200))
    async with make_client(handler, clock) as client:
        response = await client.get("/x")
    assert response.status_code == 200 and len(seen) == 3
    assert client.stats.by_status == {502: 1, 500: 1, 200: 1}


async def test_network_error_then_success(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200))
    async with make_client(handler, clock) as client:
        await client.get("/x")
    assert len(seen) == 2 and client.stats.network_errors == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retried(clock: FakeClock, status: int) -> None:
    handler, seen = scripted(httpx.Response(status, json={"message": "bad token"}))
    async with make_client(handler, clock) as client:
        with pytest.raises(AuthError, match=f"GET /x → {status}"):
            await client.get("/x")
    assert len(seen) == 1


async def test_fatal_errors_are_not_retried(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(400, json={"detail": "invalid email"}))
    async with make_client(handler, clock) as client:
        with pytest.raises(FatalError, match="invalid email"):
            await client.post("/x", json={})
    assert len(seen) == 1


async def test_attempts_cap(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(503))
    async with make_client(handler, clock, RetryPolicy(max_attempts=4)) as client:
        with pytest.raises(RetryableError, match="gave up after 4 attempts"):
            await client.get("/x")
    assert len(seen) == 4 and client.stats.retries == 3


async def test_elapsed_cap(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(503))
    policy = RetryPolicy(max_attempts=100, max_elapsed=10.0, base=4.0, cap=4.0)
    start = clock()
    async with make_client(handler, clock, policy) as client:
        with pytest.raises(RetryableError, match="retry budget 10s"):
            await client.get("/x")
    assert clock() - start <= 10.0 + 1e-9
    assert 2 <= len(seen) < 100


async def test_retry_after_beyond_the_budget_gives_up_at_once(clock: FakeClock) -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "600"}))
    async with make_client(handler, clock, RetryPolicy(max_elapsed=60)) as client:
        with pytest.raises(RetryableError, match="gave up after 1 attempt"):
            await client.get("/x")
    assert len(seen) == 1


async def test_full_jitter_bounds(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=6, max_elapsed=1e9, base=0.5, cap=3.0)
    waits: dict[int, list[float]] = {}

    async def failing() -> None:
        raise RetryableError("boom")

    rng = random.Random(7)
    for _ in range(200):
        with pytest.raises(RetryableError):
            await with_retries(
                failing,
                policy,
                on_retry=lambda n, exc, wait: waits.setdefault(n, []).append(wait),
                sleep=clock.sleep,
                clock=clock,
                rng=rng,
            )
    assert sorted(waits) == [1, 2, 3, 4, 5]
    for attempt, values in waits.items():
        ceiling = min(3.0, 0.5 * 2 ** (attempt - 1))
        assert all(0.0 <= v <= ceiling for v in values)
        assert min(values) < 0.1 * ceiling  # full jitter: spread from 0 ...
        assert max(values) > 0.9 * ceiling  # ... to the ceiling


async def test_with_retries_maps_transport_errors(clock: FakeClock) -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ReadTimeout("slow")
        return "ok"

    assert await with_retries(flaky, RetryPolicy(), sleep=clock.sleep, clock=clock) == "ok"
    assert calls == 3


def test_map_transport_error() -> None:
    assert isinstance(map_transport_error(httpx.ConnectTimeout("t")), RetryableError)
    assert isinstance(map_transport_error(httpx.ReadError("r")), RetryableError)
    assert isinstance(map_transport_error(httpx.RemoteProtocolError("p")), RetryableError)
    fatal = map_transport_error(httpx.UnsupportedProtocol("u"), "GET", "/x")
    assert isinstance(fatal, FatalError) and str(fatal) == "GET /x: UnsupportedProtocol"


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    future = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90), usegmt=True
    )
    value = parse_retry_after(future)
    assert value is not None and 85 <= value <= 90
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    assert RetryPolicy().backoff_ceiling(1) == 0.5
    assert RetryPolicy().backoff_ceiling(50) == 30.0
