"""The base of every platform simulator: an ASGI app with auth, rate limits and fault injection.

A platform simulator (HubSpot, Mailchimp, ...) subclasses :class:`Simulator`, returns its
platform's routes from :meth:`Simulator.routes` and overrides the response hooks so errors,
429s and rate-limit headers look exactly like the real API's::

    class MailjetSimulator(Simulator):
        name = "mailjet"

        def routes(self) -> list[BaseRoute]:
            return [Route("/v3/contacts", self.list_contacts)]

        def rate_limited_response(self, request, retry_after):
            return JSONResponse({"ErrorMessage": "Too many requests"}, status_code=429)

Every request that is not a ``/_sim/...`` inspection route goes through one pipeline, in order:

1. **auth** — unless the path starts with one of :meth:`~Simulator.public_paths`,
   :meth:`~Simulator.authenticate` maps the request to an account (``None`` answers
   :meth:`~Simulator.unauthorized_response`);
2. **concurrency cap** per account (:attr:`RateLimit.concurrency`), answered at once with
   ``rate_limited_response(request, None)``;
3. **rolling-window rate limit** per account (:attr:`RateLimit.requests` per ``window``
   seconds); rejected requests do not consume budget;
4. **faults** (:class:`Faults`, drawn from ``random.Random(seed)``): latency, then a burst of
   429s (``rate_limited_response``), then an error status, then a dropped connection (the route
   runs — its change is *applied* — and then the connection drops), then a malformed body (the
   route's body truncated to half, status and content-type kept);
5. the **route** runs; its response gets :meth:`~Simulator.rate_limit_headers`;
6. a :class:`RequestRecord` is appended to :attr:`Simulator.requests`.

Responses are buffered, so a route may also ``raise SimulatedDisconnect()`` to drop the
connection itself. In-process (:meth:`Simulator.transport`) a drop surfaces as
:class:`httpx.RemoteProtocolError`; served on loopback (:meth:`Simulator.serve`) the headers are
sent and the socket is closed, which a real client sees as a protocol error too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import math
import random
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "Faults",
    "RateLimit",
    "RequestRecord",
    "ServedSimulator",
    "SimulatedDisconnect",
    "Simulator",
]

SIM_PREFIX = "/_sim"


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
    """One request the simulator answered. ``credential`` is the account id, never a secret."""

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


class _DisconnectFilter(logging.Filter):
    """Hides uvicorn's traceback for connections the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDisconnect)


class _SimTransport(httpx.ASGITransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except SimulatedDisconnect as exc:
            msg = "simulator dropped the connection mid-response"
            raise httpx.RemoteProtocolError(msg, request=request) from exc


class ServedSimulator:
    """A simulator served by uvicorn in a daemon thread; a context manager."""

    def __init__(
        self,
        server: uvicorn.Server,
        sock: socket.socket,
        host: str,
        *,
        scheme: str = "http",
        ca_bundle: str | None = None,
    ) -> None:
        self._server = server
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{shown}:{self.port}"
        #: served over TLS: the PEM file of the CA a client must trust; else None
        self.ca_bundle = ca_bundle
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"simulator:{self.port}"
        )
        self._thread.daemon = True

    def _start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"simulator failed to start on {self.base_url}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving: a graceful shutdown; connections still open after half a second are
        aborted (closing an idle TLS connection waits for the client's close_notify, which a
        client that merely keeps the socket in its pool never sends)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=0.5)
        if self._thread.is_alive():
            for connection in list(self._server.server_state.connections):
                transport = getattr(connection, "transport", None)
                loop = getattr(connection, "loop", None)
                if transport is not None and loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(transport.abort)
            self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=10.0)
        self._sock.close()

    def __enter__(self) -> ServedSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Simulator:
    """Base of the platform simulators. See the module docstring for the pipeline."""

    name: ClassVar[str] = "simulator"

    def __init__(
        self,
        *,
        seed: int = 0,
        rate_limit: RateLimit | None = None,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seed = seed
        self.rate_limit = rate_limit or RateLimit()
        self.faults = faults or Faults()
        self.clock = clock
        self.requests: list[RequestRecord] = []
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not security
        self._credentials: dict[str, str] = {}
        self._inflight: Counter[str] = Counter()
        self._max_concurrency: dict[str, int] = {}
        self._windows: defaultdict[str, deque[float]] = defaultdict(deque)
        self._bursts: Counter[str] = Counter()
        self._app: ASGIApp | None = None
        self._inner: ASGIApp | None = None

    # -- credentials -------------------------------------------------------------------------

    def add_credential(self, secret: str, account: str = "default") -> None:
        self._credentials[secret] = account

    def authenticate(self, request: Request) -> str | None:
        """The account a request is for, or None. Default: ``Authorization: Bearer <secret>``."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._credentials.get(token.strip())

    # -- responses subclasses customise ------------------------------------------------------

    def unauthorized_response(self, request: Request) -> Response:
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        """Answered for the window limit, the concurrency cap and injected 429 bursts."""
        headers = {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
        body = {"error": "rate limited", "status": self.rate_limit.status}
        return JSONResponse(body, status_code=self.rate_limit.status, headers=headers)

    def error_response(self, request: Request, status: int) -> Response:
        return JSONResponse({"error": "simulated", "status": status}, status_code=status)

    def rate_limit_headers(
        self,
        request: Request,
        account: str,
        remaining: int | None,
        limit: int | None,
        reset_in: float | None,
    ) -> dict[str, str]:
        """Headers added to route responses (and window-limit 429s); default none.

        ``remaining``/``limit``/``reset_in`` are None when no window limit is configured."""
        return {}

    def sends_rate_limit_headers(self, request: Request) -> bool:
        return True

    def routes(self) -> list[BaseRoute]:
        return []

    def public_paths(self) -> tuple[str, ...]:
        """Path prefixes that need no credential (e.g. an OAuth token endpoint)."""
        return ()

    # -- inspection --------------------------------------------------------------------------

    def reset_log(self) -> None:
        self.requests.clear()
        self._max_concurrency.clear()

    def stats(self) -> dict[str, Any]:
        """Counts by status and fault; ``max_concurrency`` counts attempts, rejected ones too."""
        records = list(self.requests)
        return {
            "requests": len(records),
            "by_status": dict(Counter(str(r.status) for r in records)),
            "faults": dict(Counter(r.fault for r in records if r.fault)),
            "max_concurrency": dict(self._max_concurrency),
        }

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; any 429 burst in progress ends."""
        self.faults = faults
        self._bursts.clear()

    def state(self) -> dict[str, Any]:
        return {}

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be seeded with contacts")

    def credentials_for_sandbox(self) -> dict[str, str]:
        """Test credentials ``segsync sandbox`` prints; LookupError if there are none."""
        for secret in self._credentials:
            return {"token": secret}
        raise LookupError(f"{self.name} simulator has no credentials")

    def sandbox_settings(self) -> dict[str, str]:
        """Connector settings besides the credentials that a config needs to reach what the
        sandbox seeded (e.g. Mailchimp's ``list_id``); ``segsync sandbox`` prints them."""
        return {}

    # -- running it --------------------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            sim_routes: list[BaseRoute] = [
                Route(f"{SIM_PREFIX}/requests", self._sim_requests, methods=["GET"]),
                Route(f"{SIM_PREFIX}/stats", self._sim_stats, methods=["GET"]),
                Route(f"{SIM_PREFIX}/state", self._sim_state, methods=["GET"]),
                Route(f"{SIM_PREFIX}/faults", self._sim_faults, methods=["POST"]),
                Route(f"{SIM_PREFIX}/reset", self._sim_reset, methods=["POST"]),
            ]
            self._inner = Starlette(routes=[*sim_routes, *self.routes()])
            self._app = self._asgi
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        return _SimTransport(app=self.app)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport(), base_url="http://simulator.test", **kwargs
        )

    def uvicorn_options(self) -> dict[str, Any]:
        """Extra :class:`uvicorn.Config` options :meth:`serve` uses (e.g. a larger
        ``h11_max_incomplete_event_size`` for a platform whose own URI limit is checked by
        the simulator); default none."""
        return {}

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ca_bundle: str | None = None,
    ) -> ServedSimulator:
        """Serve on loopback in a background thread; non-loopback hosts raise ValueError.

        With ``ssl_certfile`` (PEM certificate chain) and ``ssl_keyfile`` it serves HTTPS and
        the returned :class:`ServedSimulator` has an ``https://`` base URL and ``ca_bundle``
        (the CA PEM a client must trust, as given)."""
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise ValueError("serving TLS needs both ssl_certfile and ssl_keyfile")
        try:
            addr = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
        except ValueError:
            raise ValueError(f"simulators only serve on loopback, not {host!r}") from None
        if not addr.is_loopback:
            raise ValueError(f"simulators only serve on loopback, not {host!r}")
        family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((str(addr), port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            self.app,
            host=str(addr),
            port=port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            **self.uvicorn_options(),
        )
        server_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _DisconnectFilter) for f in server_log.filters):
            server_log.addFilter(_DisconnectFilter())
        scheme = "http" if ssl_certfile is None else "https"
        served = ServedSimulator(
            uvicorn.Server(config), sock, str(addr), scheme=scheme, ca_bundle=ca_bundle
        )
        served._start()
        return served

    # -- /_sim inspection routes -------------------------------------------------------------

    async def _sim_requests(self, request: Request) -> Response:
        return JSONResponse([asdict(r) for r in list(self.requests)])

    async def _sim_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _sim_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _sim_faults(self, request: Request) -> Response:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            faults = Faults.from_json(data)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self.set_faults(faults)
        return JSONResponse(asdict(faults))

    async def _sim_reset(self, request: Request) -> Response:
        self.reset_log()
        return JSONResponse({"reset": True})

    # -- the pipeline ------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._inner is not None
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == SIM_PREFIX or path.startswith(SIM_PREFIX + "/"):
            await self._inner(scope, receive, send)
            return
        started = self.clock()
        request_bytes = 0

        async def counting_receive() -> Message:
            nonlocal request_bytes
            message = await receive()
            if message["type"] == "http.request":
                request_bytes += len(message.get("body", b""))
            return message

        out = await self._pipeline(scope, counting_receive)
        body = out.body
        # a dropped response promises at least one byte, so the client sees it cut short
        length = max(len(body), 1) if out.drop else len(body)
        MutableHeaders(scope=out.start)["content-length"] = str(length)
        self.requests.append(
            RequestRecord(
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b"").decode("latin-1"),
                credential=out.account,
                status=out.start["status"],
                started=started,
                finished=self.clock(),
                request_bytes=request_bytes,
                response_bytes=0 if out.drop else len(body),
                fault=out.fault,
            )
        )
        await send(out.start)
        if out.drop:
            raise SimulatedDisconnect(f"{self.name}: dropped {scope['method']} {path}")
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _pipeline(self, scope: Scope, receive: Receive) -> _Outcome:
        request = Request(scope, receive)
        path: str = scope["path"]
        if any(path.startswith(p) for p in self.public_paths()):
            return await self._handle(scope, receive, request, None, None)
        account = self.authenticate(request)
        if account is None:
            return await self._render(self.unauthorized_response(request), scope, "auth")
        limits = self.rate_limit
        self._inflight[account] += 1
        try:
            in_flight = self._inflight[account]
            peak = self._max_concurrency.get(account, 0)
            self._max_concurrency[account] = max(peak, in_flight)
            if limits.concurrency is not None and in_flight > limits.concurrency:
                response = self.rate_limited_response(request, None)
                return await self._render(response, scope, "concurrency", account)
            headers: _LimitInfo
            if limits.requests is not None:
                now = self.clock()
                window = self._windows[account]
                while window and window[0] <= now - limits.window:
                    window.popleft()
                if len(window) >= limits.requests:
                    retry_after = window[0] + limits.window - now
                    response = self.rate_limited_response(request, retry_after)
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
        f = self.faults
        drop = malformed = False
        path: str = scope["path"]
        if not f.only_paths or any(path.startswith(p) for p in f.only_paths):
            rng = self._rng
            if f.latency > 0 or f.latency_jitter > 0:
                jitter = rng.uniform(0, f.latency_jitter) if f.latency_jitter > 0 else 0.0
                await asyncio.sleep(f.latency + jitter)
            key, burst = account or "", True
            if self._bursts[key] > 0:
                self._bursts[key] -= 1
            elif f.burst_429_rate > 0 and rng.random() < f.burst_429_rate:
                self._bursts[key] = max(f.burst_429_length - 1, 0)
            else:
                burst = False
            if burst:
                response = self.rate_limited_response(request, None)
                return await self._render(response, scope, "429-burst", account)
            if f.error_rate > 0 and f.error_statuses and rng.random() < f.error_rate:
                status = rng.choice(f.error_statuses)
                return await self._render(
                    self.error_response(request, status), scope, "error", account
                )
            drop = f.drop_rate > 0 and rng.random() < f.drop_rate
            malformed = not drop and f.malformed_rate > 0 and rng.random() < f.malformed_rate
        assert self._inner is not None
        capture = _Capture()
        try:
            await self._inner(scope, receive, capture.send)
        except SimulatedDisconnect:
            start = capture.start or {"type": "http.response.start", "status": 200, "headers": []}
            return _Outcome(start, b"", account, "drop", drop=True)
        if capture.start is None:
            raise RuntimeError(f"{self.name}: route for {path} sent no response")
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

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        capture = _Capture()
        await response(scope, no_body, capture.send)
        assert capture.start is not None
        out = _Outcome(capture.start, bytes(capture.body), account, fault)
        if request is not None:
            self._add_limit_headers(out, request, headers)
        return out

    def _add_limit_headers(
        self, out: _Outcome, request: Request, headers: _LimitInfo | None
    ) -> None:
        if headers is None or not self.sends_rate_limit_headers(request):
            return
        extra = self.rate_limit_headers(request, *headers)
        if extra:
            target = MutableHeaders(scope=out.start)
            for key, value in extra.items():
                target[key] = value
