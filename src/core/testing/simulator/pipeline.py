"""The request pipeline every simulated request goes through, and the knobs that drive it.

Every request that is not a ``/_sim/...`` inspection route goes through :class:`Pipeline`,
in order:

0. the path loses its trailing slash (``/crm/v3/lists/`` routes as ``/crm/v3/lists``: real
   APIs and their official clients use both forms), then :meth:`Simulator.screen` may answer
   at once (a platform's own URI-length limit, say);
1. **auth** — unless the path starts with one of :meth:`Simulator.public_paths`,
   :meth:`Simulator.authenticate` maps the request to an account (``None`` answers
   :meth:`Simulator.unauthorized_response`);
2. **concurrency cap** per account (:attr:`RateLimit.concurrency`), answered at once with
   ``rate_limited_response(request, None)``;
3. **rolling-window rate limit** per account (:attr:`RateLimit.requests` per ``window``
   seconds); rejected requests do not consume budget;
4. **faults** (:class:`Faults`, drawn from ``random.Random(seed)``): latency, then a burst of
   429s (``rate_limited_response``), then an error status, then a dropped connection (the route
   runs — its change is *applied* — and then the connection drops), then a malformed body (the
   route's body truncated to half, status and content-type kept);
5. the **route** runs; its response gets :meth:`Simulator.rate_limit_headers`;
6. a :class:`RequestRecord` is appended to :attr:`Simulator.requests` (with the path as the
   client sent it).

Responses are buffered, so a route may also ``raise SimulatedDisconnect()`` to drop the
connection itself. In-process (:meth:`Simulator.transport`) a drop surfaces as
:class:`httpx.RemoteProtocolError`; served on loopback the headers are sent and the socket is
closed, which a real client sees as a protocol error too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from .base import Simulator

__all__ = [
    "SIM_PREFIX",
    "Faults",
    "Pipeline",
    "RateLimit",
    "RequestRecord",
    "SimTransport",
    "SimulatedDisconnect",
    "canonical_path",
]

SIM_PREFIX = "/_sim"
_FLIGHT = "segsync.simulator.flight"  # the scope key of a request's in-flight number


@dataclass
class RateLimit:
    """Per-account limits: a rolling window and a cap on requests in flight."""

    requests: int | None = None  # max requests per rolling `window` seconds (None = unlimited)
    window: float = 10.0
    concurrency: int | None = None  # max in-flight requests per account
    status: int = 429  # status answered when exceeded


@dataclass
class Faults:
    """Fault-injection knobs; all off by default."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    burst_429_rate: float = 0.0
    burst_429_length: int = 5
    latency: float = 0.0
    latency_jitter: float = 0.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    only_paths: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        """Build from a JSON object (lists become tuples); unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


@dataclass
class RequestRecord:
    """One request the simulator answered. ``credential`` is the account id, never a secret;
    ``path`` is the path as the client sent it (a trailing slash kept)."""

    method: str
    path: str
    query: str
    credential: str | None
    status: int
    started: float
    finished: float
    request_bytes: int
    response_bytes: int
    fault: str | None


class SimulatedDisconnect(Exception):
    """Raised inside the app to drop the connection (after the platform applied the change)."""


def canonical_path(path: str) -> str:
    """The path a simulator routes: without trailing slashes (``/`` stays ``/``)."""
    if len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


# (account, remaining, limit, reset_in): the arguments of Simulator.rate_limit_headers
_LimitInfo = tuple[str, int | None, int | None, float | None]


@dataclass
class _Outcome:
    start: Message
    body: bytes
    account: str | None = None
    fault: str | None = None
    drop: bool = False


class _Capture:
    """An ASGI ``send`` that buffers the response."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = dict(message)
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class SimTransport(httpx.ASGITransport):
    """httpx's ASGI transport, with a dropped connection surfacing as a protocol error."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except SimulatedDisconnect as exc:
            msg = "simulator dropped the connection mid-response"
            raise httpx.RemoteProtocolError(msg, request=request) from exc


class Pipeline:
    """The simulator's ASGI app: the steps of the module docstring around the routed ``app``.

    It holds the per-account limit state and the fault generator; the simulator's hooks
    decide what each step answers."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.app: ASGIApp | None = None  # the routes (set when the simulator builds its app)
        self.rng = random.Random(sim.seed)  # noqa: S311 - reproducible faults, not security
        self.max_concurrency: dict[str, int] = {}
        self.bursts: Counter[str] = Counter()
        self._inflight: Counter[str] = Counter()
        self._windows: defaultdict[str, deque[float]] = defaultdict(deque)
        self._flights: dict[int, float] = {}  # in-flight number → start (sim.clock)
        self._numbers = itertools.count(1)

    # -- what the simulator asks of its limit state ------------------------------------------

    def recent(self, account: str, seconds: float) -> int:
        """Requests of ``account`` the rolling window admitted in the last ``seconds``."""
        threshold, count = self.sim.clock() - seconds, 0
        for admitted in reversed(self._windows[account]):
            if admitted <= threshold:
                break
            count += 1
        return count

    def long_running(self, scope: Scope, seconds: float) -> int:
        """Requests other than this one that have been in flight for ``seconds`` or more."""
        own, threshold = scope.get(_FLIGHT), self.sim.clock() - seconds
        return sum(1 for n, t in self._flights.items() if n != own and t <= threshold)

    # -- the ASGI app ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the simulator's app is built by Simulator.app"
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_path: str = scope["path"]
        path = canonical_path(sent_path)
        if path != sent_path:
            scope = dict(scope, path=path)
            raw: bytes | None = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        if path == SIM_PREFIX or path.startswith(SIM_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        started = sim.clock()
        request_bytes = 0

        async def counting_receive() -> Message:
            nonlocal request_bytes
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            return message

        number = next(self._numbers)
        scope[_FLIGHT] = number
        self._flights[number] = started
        try:
            out = await self._pipeline(scope, counting_receive)
        finally:
            del self._flights[number]
        body = out.body
        # a dropped response promises at least one byte, so the client sees it cut short
        length = max(len(body), 1) if out.drop else len(body)
        MutableHeaders(scope=out.start)["content-length"] = str(length)
        sim.requests.append(
            RequestRecord(
                method=scope["method"],
                path=sent_path,
                query=scope.get("query_string", b"").decode("latin-1"),
                credential=out.account,
                status=out.start["status"],
                started=started,
                finished=sim.clock(),
                request_bytes=request_bytes,
                response_bytes=0 if out.drop else len(body),
                fault=out.fault,
            )
        )
        await send(out.start)
        if out.drop:
            raise SimulatedDisconnect(f"{sim.name}: dropped {scope['method']} {sent_path}")
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _pipeline(self, scope: Scope, receive: Receive) -> _Outcome:
        sim = self.sim
        request = Request(scope, receive)
        screened = sim.screen(request)
        if screened is not None:
            fault, response = screened
            return await self._render(response, scope, fault)
        path: str = scope["path"]
        if any(path.startswith(p) for p in sim.public_paths()):
            return await self._handle(scope, receive, request, None, None)
        account = sim.authenticate(request)
        if account is None:
            return await self._render(sim.unauthorized_response(request), scope, "auth")
        limits = sim.rate_limit
        self._inflight[account] += 1
        try:
            in_flight = self._inflight[account]
            peak = self.max_concurrency.get(account, 0)
            self.max_concurrency[account] = max(peak, in_flight)
            if limits.concurrency is not None and in_flight > limits.concurrency:
                response = sim.rate_limited_response(request, None)
                return await self._render(response, scope, "concurrency", account)
            headers: _LimitInfo
            if limits.requests is not None:
                now = sim.clock()
                window = self._windows[account]
                while window and window[0] <= now - limits.window:
                    window.popleft()
                if len(window) >= limits.requests:
                    retry_after = window[0] + limits.window - now
                    response = sim.rate_limited_response(request, retry_after)
                    headers = (account, 0, limits.requests, retry_after)
                    return await self._render(
                        response, scope, "rate-limit", account, request, headers
                    )
                window.append(now)
                reset_in = window[0] + limits.window - now
                headers = (account, limits.requests - len(window), limits.requests, reset_in)
            else:
                headers = (account, None, None, None)
            return await self._handle(scope, receive, request, account, headers)
        finally:
            self._inflight[account] -= 1

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        request: Request,
        account: str | None,
        headers: _LimitInfo | None,
    ) -> _Outcome:
        """Faults, then the route."""
        sim, f = self.sim, self.sim.faults
        drop = malformed = False
        path: str = scope["path"]
        if not f.only_paths or any(path.startswith(p) for p in f.only_paths):
            rng = self.rng
            if f.latency > 0 or f.latency_jitter > 0:
                jitter = rng.uniform(0, f.latency_jitter) if f.latency_jitter > 0 else 0.0
                await asyncio.sleep(f.latency + jitter)
            key, burst = account or "", True
            if self.bursts[key] > 0:
                self.bursts[key] -= 1
            elif f.burst_429_rate > 0 and rng.random() < f.burst_429_rate:
                self.bursts[key] = max(f.burst_429_length - 1, 0)
            else:
                burst = False
            if burst:
                response = sim.rate_limited_response(request, None)
                return await self._render(response, scope, "429-burst", account)
            if f.error_rate > 0 and f.error_statuses and rng.random() < f.error_rate:
                status = rng.choice(f.error_statuses)
                return await self._render(
                    sim.error_response(request, status), scope, "error", account
                )
            drop = f.drop_rate > 0 and rng.random() < f.drop_rate
            malformed = not drop and f.malformed_rate > 0 and rng.random() < f.malformed_rate
        assert self.app is not None
        capture = _Capture()
        try:
            await self.app(scope, receive, capture.send)
        except SimulatedDisconnect:
            start = capture.start or {"type": "http.response.start", "status": 200, "headers": []}
            return _Outcome(start, b"", account, "drop", drop=True)
        if capture.start is None:
            raise RuntimeError(f"{sim.name}: route for {path} sent no response")
        out = _Outcome(capture.start, bytes(capture.body), account)
        self._add_limit_headers(out, request, headers)
        if drop:
            out.fault, out.drop = "drop", True
        elif malformed:
            out.fault, out.body = "malformed", out.body[: len(out.body) // 2]
        return out

    async def _render(
        self,
        response: Response,
        scope: Scope,
        fault: str,
        account: str | None = None,
        request: Request | None = None,
        headers: _LimitInfo | None = None,
    ) -> _Outcome:
        """Buffer a response the pipeline answered itself (a rejection or injected fault)."""
        capture = _Capture()
        await response(scope, _no_body, capture.send)
        assert capture.start is not None
        out = _Outcome(capture.start, bytes(capture.body), account, fault)
        if request is not None:
            self._add_limit_headers(out, request, headers)
        return out

    def _add_limit_headers(
        self, out: _Outcome, request: Request, headers: _LimitInfo | None
    ) -> None:
        if headers is None or not self.sim.sends_rate_limit_headers(request):
            return
        extra = self.sim.rate_limit_headers(request, *headers)
        if extra:
            target = MutableHeaders(scope=out.start)
            for key, value in extra.items():
                target[key] = value
