"""The simulator base: auth, rate limits, fault injection, inspection and serving."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import (
    Faults,
    InputError,
    PlatformError,
    RateLimit,
    SimulatedDisconnect,
    Simulator,
    json_body,
    query_bool,
    query_csv,
    query_int,
)

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EchoSimulator(Simulator):
    name = "echo"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.waiting = 0
        self.add_credential(TOKEN, account="acct-1")
        self.add_credential("other-token", account="acct-2")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/items", self.list_items, methods=["GET"]),
            Route("/items", self.add_item, methods=["POST"]),
            Route("/slow", self.slow, methods=["GET"]),
            Route("/vanish", self.vanish, methods=["POST"]),
            Route("/oauth/token", self.token, methods=["POST"]),
        ]

    def public_paths(self) -> tuple[str, ...]:
        return ("/oauth/",)

    def rate_limit_headers(
        self,
        request: Request,
        account: str,
        remaining: int | None,
        limit: int | None,
        reset_in: float | None,
    ) -> dict[str, str]:
        return {} if remaining is None else {"X-RateLimit-Remaining": str(remaining)}

    def state(self) -> dict[str, Any]:
        return {"items": self.items}

    async def list_items(self, request: Request) -> Response:
        return JSONResponse({"items": self.items, "padding": "x" * 40})

    async def add_item(self, request: Request) -> Response:
        item = await request.json()
        self.items.append(item)
        return JSONResponse({"id": len(self.items)}, status_code=201)

    async def slow(self, request: Request) -> Response:
        assert self.gate is not None
        self.waiting += 1
        await self.gate.wait()
        return JSONResponse({"ok": True})

    async def vanish(self, request: Request) -> Response:
        self.items.append({"vanished": True})
        raise SimulatedDisconnect

    async def token(self, request: Request) -> Response:
        return JSONResponse({"access_token": "t"})


async def test_missing_or_wrong_credentials_get_401() -> None:
    sim = EchoSimulator()
    async with sim.client() as client:
        assert (await client.get("/items")).status_code == 401
        bad = await client.get("/items", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert bad.json() == {"error": "unauthorized"}
        assert (await client.get("/items", headers=AUTH)).status_code == 200
        assert (await client.post("/oauth/token")).status_code == 200
    assert [r.fault for r in sim.requests] == ["auth", "auth", None, None]
    assert [r.credential for r in sim.requests] == [None, None, "acct-1", None]


async def test_rolling_window_answers_429_with_retry_after_and_recovers() -> None:
    clock = FakeClock()
    sim = EchoSimulator(rate_limit=RateLimit(requests=3, window=10.0), clock=clock)
    async with sim.client(headers=AUTH) as client:
        remaining = []
        for _ in range(3):
            r = await client.get("/items")
            assert r.status_code == 200
            remaining.append(r.headers["X-RateLimit-Remaining"])
            clock.now += 1.0
        assert remaining == ["2", "1", "0"]
        limited = await client.get("/items")  # 3 s after the first request
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        # another account has its own budget
        other = await client.get("/items", headers={"Authorization": "Bearer other-token"})
        assert other.status_code == 200
        # rejected requests consume nothing: once the first request leaves the window,
        # exactly one slot is free
        clock.now = 1000.0 + 10.0
        assert (await client.get("/items")).status_code == 200
        assert (await client.get("/items")).status_code == 429
        clock.now += 30.0
        assert (await client.get("/items")).status_code == 200
    assert sim.stats()["faults"] == {"rate-limit": 2}


async def test_concurrency_cap_rejects_requests_over_the_limit() -> None:
    sim = EchoSimulator(rate_limit=RateLimit(concurrency=2))
    sim.gate = asyncio.Event()
    async with sim.client(headers=AUTH) as client:
        tasks = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        while sim.waiting < 2:  # until both are waiting inside the route
            await asyncio.sleep(0.001)
        third = await client.get("/slow")
        assert third.status_code == 429
        assert "Retry-After" not in third.headers
        sim.gate.set()
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200, 200]
        assert (await client.get("/slow")).status_code == 200
    stats = sim.stats()
    assert stats["faults"] == {"concurrency": 1}
    assert stats["max_concurrency"] == {"acct-1": 3}
    assert stats["by_status"] == {"200": 3, "429": 1}


async def test_burst_of_429s_lasts_burst_length() -> None:
    sim = EchoSimulator(faults=Faults(burst_429_rate=1.0, burst_429_length=3))
    async with sim.client(headers=AUTH) as client:
        statuses = [(await client.get("/items")).status_code for _ in range(3)]
        assert statuses == [429, 429, 429]
        sim.set_faults(Faults())
        assert (await client.get("/items")).status_code == 200
    assert [r.fault for r in sim.requests] == ["429-burst"] * 3 + [None]


async def test_error_faults_are_deterministic_for_a_seed() -> None:
    async def run(seed: int) -> list[int]:
        sim = EchoSimulator(seed=seed, faults=Faults(error_rate=0.5))
        async with sim.client(headers=AUTH) as client:
            return [(await client.get("/items")).status_code for _ in range(20)]

    first, again = await run(7), await run(7)
    assert first == again
    assert {200} < set(first) <= {200, 500, 502, 503}
    sim = EchoSimulator(faults=Faults(error_rate=1.0, error_statuses=(503,)))
    async with sim.client(headers=AUTH) as client:
        r = await client.get("/items")
    assert r.status_code == 503
    assert r.json() == {"error": "simulated", "status": 503}
    assert sim.requests[0].fault == "error"


async def test_drop_applies_the_change_then_drops_the_connection() -> None:
    sim = EchoSimulator(faults=Faults(drop_rate=1.0))
    async with sim.client(headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/items", json={"email": "a@example.com"})
    assert sim.items == [{"email": "a@example.com"}]
    record = sim.requests[0]
    assert (record.fault, record.status, record.response_bytes) == ("drop", 201, 0)
    assert record.request_bytes == len(b'{"email":"a@example.com"}')


async def test_route_can_raise_simulated_disconnect() -> None:
    sim = EchoSimulator()
    async with sim.client(headers=AUTH) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/vanish")
    assert sim.items == [{"vanished": True}]
    assert sim.requests[0].fault == "drop"


async def test_malformed_body_is_truncated_json_with_status_200() -> None:
    sim = EchoSimulator(faults=Faults(malformed_rate=1.0))
    async with sim.client(headers=AUTH) as client:
        r = await client.get("/items")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(ValueError):
        r.json()
    assert sim.requests[0].fault == "malformed"


async def test_latency_and_only_paths() -> None:
    clock = FakeClock()
    sim = EchoSimulator(
        faults=Faults(error_rate=1.0, error_statuses=(500,), latency=0.01, only_paths=("/oauth",)),
        clock=clock,
    )
    async with sim.client(headers=AUTH) as client:
        assert (await client.get("/items")).status_code == 200
        loop = asyncio.get_running_loop()
        before = loop.time()
        assert (await client.post("/oauth/token")).status_code == 500
        assert loop.time() - before >= 0.01


async def test_request_log_and_inspection_endpoints() -> None:
    sim = EchoSimulator()
    async with sim.client(headers=AUTH) as client:
        await client.post("/items", json={"n": 1})
        await client.get("/items", params={"limit": "5"})
        records = (await client.get("/_sim/requests")).json()
        assert [(r["method"], r["path"], r["query"], r["status"]) for r in records] == [
            ("POST", "/items", "", 201),
            ("GET", "/items", "limit=5", 200),
        ]
        assert records[1]["response_bytes"] > 0
        assert records[1]["finished"] >= records[1]["started"]
        stats = (await client.get("/_sim/stats")).json()
        assert stats["requests"] == 2
        assert stats["by_status"] == {"201": 1, "200": 1}
        assert (await client.get("/_sim/state")).json() == {"items": [{"n": 1}]}
        # inspection needs no credential and is not logged
        async with sim.client() as anonymous:
            assert (await anonymous.get("/_sim/stats")).status_code == 200
        set_ = await client.post("/_sim/faults", json={"error_rate": 1, "error_statuses": [502]})
        assert set_.status_code == 200
        assert sim.faults.error_statuses == (502,)
        assert (await client.get("/items")).status_code == 502
        bad = await client.post("/_sim/faults", json={"nonsense": 1})
        assert bad.status_code == 400
        assert (await client.post("/_sim/reset")).status_code == 200
    assert sim.requests == []
    assert sim.stats() == {"requests": 0, "by_status": {}, "faults": {}, "max_concurrency": {}}


def test_sandbox_defaults() -> None:
    assert EchoSimulator().credentials_for_sandbox() == {"token": TOKEN}
    with pytest.raises(LookupError):
        Simulator().credentials_for_sandbox()
    with pytest.raises(NotImplementedError):
        Simulator().seed_contacts([])


async def test_serve_on_loopback_with_a_real_client() -> None:
    sim = EchoSimulator()
    with sim.serve() as served:
        assert served.port > 0
        assert served.base_url == f"http://127.0.0.1:{served.port}"
        async with httpx.AsyncClient(base_url=served.base_url, headers=AUTH) as client:
            assert (await client.post("/items", json={"n": 1})).status_code == 201
            assert (await client.get("/items")).json()["items"] == [{"n": 1}]
            assert (await client.get("/_sim/stats")).json()["requests"] == 2
            sim.set_faults(Faults(drop_rate=1.0))
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await client.post("/items", json={"n": 2})
            sim.set_faults(Faults(malformed_rate=1.0))
            r = await client.get("/items")
            assert r.status_code == 200
            with pytest.raises(ValueError):
                r.json()
    assert sim.items == [{"n": 1}, {"n": 2}]
    assert [r.fault for r in sim.requests] == [None, None, "drop", "malformed"]


def test_serve_refuses_non_loopback_hosts() -> None:
    sim = EchoSimulator()
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            sim.serve(host=host)


# -- the pipeline: trailing slashes, screening, requests in flight -----------------------------


async def test_every_route_answers_with_and_without_a_trailing_slash() -> None:
    sim = EchoSimulator()
    async with sim.client(headers=AUTH) as client:
        assert (await client.post("/items/", json={"n": 1})).status_code == 201
        plain, slashed = await client.get("/items"), await client.get("/items/")
        assert (plain.status_code, plain.json()) == (slashed.status_code, slashed.json())
        assert (await client.get("/_sim/stats/")).json()["requests"] == 3
        assert (await client.post("/oauth/token/")).status_code == 200  # public, slashed
    # the log keeps the path as the client sent it
    assert [r.path for r in sim.requests] == ["/items/", "/items", "/items/", "/oauth/token/"]
    assert [r.credential for r in sim.requests] == ["acct-1", "acct-1", "acct-1", None]


async def test_fault_paths_match_with_and_without_a_trailing_slash() -> None:
    sim = EchoSimulator(
        faults=Faults(error_rate=1.0, error_statuses=(503,), only_paths=("/items",))
    )
    async with sim.client(headers=AUTH) as client:
        assert (await client.get("/items/")).status_code == 503
        assert (await client.post("/oauth/token")).status_code == 200


class ScreeningSimulator(EchoSimulator):
    def screen(self, request: Request) -> tuple[str, Response] | None:
        if len(request.url.query) > 20:
            return "too-long", JSONResponse({"error": "uri too long"}, status_code=414)
        return None


async def test_screen_answers_before_auth_and_is_logged() -> None:
    sim = ScreeningSimulator()
    async with sim.client() as client:  # no credential: screening comes first
        refused = await client.get("/items", params={"q": "x" * 30})
        assert (refused.status_code, refused.json()) == (414, {"error": "uri too long"})
        assert (await client.get("/items", params={"q": "x"})).status_code == 401
    assert [(r.status, r.fault, r.credential) for r in sim.requests] == [
        (414, "too-long", None),
        (401, "auth", None),
    ]


class FlightSimulator(EchoSimulator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[int] = []

    def routes(self) -> list[BaseRoute]:
        return [*super().routes(), Route("/count", self.count, methods=["GET"])]

    async def count(self, request: Request) -> Response:
        self.seen.append(self.long_running(request, 5.0))
        return JSONResponse({"recent": self.recent_requests("acct-1", 1.0)})


async def test_long_running_counts_other_requests_in_flight_long_enough() -> None:
    clock = FakeClock()
    sim = FlightSimulator(clock=clock, rate_limit=RateLimit(requests=100))
    sim.gate = asyncio.Event()
    async with sim.client(headers=AUTH) as client:
        slow = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        while sim.waiting < 2:
            await asyncio.sleep(0.001)
        assert (await client.get("/count")).json() == {"recent": 3}
        clock.now += 6.0  # the two slow ones are now long-running; this one is not
        assert (await client.get("/count")).json() == {"recent": 1}
        sim.gate.set()
        await asyncio.gather(*slow)
        assert (await client.get("/count")).status_code == 200
    assert sim.seen == [0, 2, 0]


# -- errors in the platform's envelope --------------------------------------------------------


class ShopError(PlatformError):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(status, message)
        self.code = code


class ShopSimulator(Simulator):
    """A platform whose errors are ``{"fault": {"code", "text"}}``."""

    name = "shop"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_credential(TOKEN)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/orders", self.orders, methods=["GET"]),
            Route("/orders", self.create, methods=["POST"]),
            Route("/orders/{id}", self.order, methods=["GET"]),
        ]

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        code = error.code if isinstance(error, ShopError) else f"HTTP_{error.status}"
        return JSONResponse({"fault": {"code": code, "text": error.message}}, error.status)

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        return ShopError(422, f"{error.kind}: {error.message}", "BAD_INPUT")

    async def orders(self, request: Request) -> Response:
        limit = query_int(request, "limit", default=5, low=1, high=50)
        fields = query_csv(request, "fields", "f")
        return JSONResponse({"limit": limit, "fields": fields, "paid": query_bool(request, "paid")})

    async def create(self, request: Request) -> Response:
        body = await json_body(request, expect=dict)
        return JSONResponse(body, status_code=201)

    async def order(self, request: Request) -> Response:
        raise ShopError(404, f"no order {request.path_params['id']}", "NO_SUCH_ORDER")


async def test_platform_errors_input_errors_and_unrouted_paths_share_the_envelope() -> None:
    sim = ShopSimulator()
    async with sim.client(headers=AUTH) as client:
        ok = await client.get("/orders/", params={"limit": "7", "f": "a, b,,c", "paid": "TRUE"})
        assert ok.json() == {"limit": 7, "fields": ["a", "b", "c"], "paid": True}
        missing = await client.get("/orders/9")
        assert missing.status_code == 404
        assert missing.json() == {"fault": {"code": "NO_SUCH_ORDER", "text": "no order 9"}}
        too_big = await client.get("/orders", params={"limit": "51"})
        assert too_big.status_code == 422
        assert too_big.json()["fault"]["text"] == "range: limit must be between 1 and 50, got 51"
        bad_json = await client.post("/orders", content=b"{nope")
        assert bad_json.json()["fault"]["text"].startswith("json: the body is not valid JSON")
        not_object = await client.post("/orders", json=[1])
        assert not_object.json()["fault"]["text"] == "shape: the body must be a JSON object"
        unknown = await client.get("/nowhere")
        assert unknown.status_code == 404
        assert unknown.json() == {"fault": {"code": "HTTP_404", "text": "Not Found"}}
        wrong_method = await client.delete("/orders")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["Allow"] == "GET, HEAD, POST"
        assert wrong_method.json()["fault"]["code"] == "HTTP_405"
        sim.set_faults(Faults(error_rate=1.0, error_statuses=(502,)))
        injected = await client.get("/orders")
        assert injected.json() == {"fault": {"code": "HTTP_502", "text": "simulated"}}
    assert [r.status for r in sim.requests] == [200, 404, 422, 422, 422, 404, 405, 502]


# -- serving ----------------------------------------------------------------------------------


async def test_served_connections_send_without_waiting_for_acks() -> None:
    """Accepted sockets have TCP_NODELAY: a response written as headers then body is not held
    back for the client's delayed ACK (some 40 ms a request on a kept-alive connection)."""
    sim = EchoSimulator()
    with sim.serve() as served:
        assert sim.served_url == served.base_url
        async with httpx.AsyncClient(base_url=served.base_url, headers=AUTH) as client:
            for _ in range(3):
                assert (await client.get("/items")).status_code == 200
            connections = list(served._server.server_state.connections)
            assert connections
            for connection in connections:
                raw = connection.transport.get_extra_info("socket")
                assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
