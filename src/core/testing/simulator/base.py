"""The :class:`Simulator` base class: credentials, the hooks a platform fills in, inspection.

A platform simulator subclasses :class:`Simulator`, returns its routes from
:meth:`~Simulator.routes` and fills in the hooks so every answer looks like the real API's:

* :meth:`~Simulator.error_envelope` renders a :class:`PlatformError` a route raised in the
  platform's exact error body (each platform subclasses :class:`PlatformError` with the
  fields its envelope needs); :meth:`~Simulator.input_error` words what the
  :mod:`~segsync.testing.simulator.inputs` helpers refused as such an error;
* :meth:`~Simulator.unrouted` answers unknown paths and known paths with another method;
* :meth:`~Simulator.unauthorized_response`, :meth:`~Simulator.rate_limited_response`,
  :meth:`~Simulator.error_response` (injected faults), :meth:`~Simulator.rate_limit_headers`.

The request pipeline (auth, limits, faults, the request log) is
:class:`~segsync.testing.simulator.pipeline.Pipeline`; serving on loopback is
:mod:`~segsync.testing.simulator.serve`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp

from .inputs import InputError
from .pipeline import (
    SIM_PREFIX,
    Faults,
    Pipeline,
    RateLimit,
    RequestRecord,
    SimTransport,
)
from .serve import ServedSimulator, serve_on_loopback

__all__ = ["PlatformError", "Simulator"]


class PlatformError(Exception):
    """An error answer a route raises; the simulator's :meth:`Simulator.error_envelope`
    renders it as the platform does. Platforms subclass it with the fields their envelope
    needs (a category, an error code, a title, …)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Simulator:
    """Base of the platform simulators (see the package docstring)."""

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
        self._credentials: dict[str, str] = {}
        self._pipeline = Pipeline(self)
        self._built = False
        self._routes: list[BaseRoute] = []
        #: the base URL while served by :meth:`serve` (``http(s)://127.0.0.1:PORT``), else None
        self.served_url: str | None = None

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

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        """The platform's error body for ``error``. Default: ``{"error": message, "status"}``."""
        return JSONResponse({"error": error.message, "status": error.status}, error.status)

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        """The platform's error for a parameter or body the input helpers refused. Default:
        400 with the helper's own message."""
        return PlatformError(400, error.message)

    async def unrouted(self, request: Request, allowed: list[str]) -> Response:
        """The answer to a path no route serves (``allowed`` empty) or a method a path does
        not allow (``allowed`` names the ones it does). Default: the envelope of a 404 or a
        405 (with ``Allow``). A :class:`PlatformError` raised here is rendered too."""
        if allowed:
            response = self.error_envelope(request, PlatformError(405, "Method Not Allowed"))
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return self.error_envelope(request, PlatformError(404, "Not Found"))

    def unauthorized_response(self, request: Request) -> Response:
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        """Answered for the window limit, the concurrency cap and injected 429 bursts."""
        headers = {} if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
        body = {"error": "rate limited", "status": self.rate_limit.status}
        return JSONResponse(body, status_code=self.rate_limit.status, headers=headers)

    def error_response(self, request: Request, status: int) -> Response:
        """An injected error status. Default: the envelope of ``PlatformError(status,
        "simulated")``."""
        return self.error_envelope(request, PlatformError(status, "simulated"))

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

    def screen(self, request: Request) -> tuple[str, Response] | None:
        """Answer a request before auth, limits and faults — a platform's own URI or header
        size limit, say: ``(fault label for the request log, response)``; default None."""
        return None

    def routes(self) -> list[BaseRoute]:
        return []

    def public_paths(self) -> tuple[str, ...]:
        """Path prefixes that need no credential (e.g. an OAuth token endpoint)."""
        return ()

    # -- limit state the hooks may read ------------------------------------------------------

    def recent_requests(self, account: str, seconds: float) -> int:
        """Requests of ``account`` the rolling window admitted in the last ``seconds``."""
        return self._pipeline.recent(account, seconds)

    def long_running(self, request: Request, seconds: float) -> int:
        """Requests besides ``request`` in flight for ``seconds`` or more (by ``clock``)."""
        return self._pipeline.long_running(request.scope, seconds)

    # -- inspection --------------------------------------------------------------------------

    def reset_log(self) -> None:
        self.requests.clear()
        self._pipeline.max_concurrency.clear()

    def stats(self) -> dict[str, Any]:
        """Counts by status and fault; ``max_concurrency`` counts attempts, rejected ones too."""
        records = list(self.requests)
        return {
            "requests": len(records),
            "by_status": dict(Counter(str(r.status) for r in records)),
            "faults": dict(Counter(r.fault for r in records if r.fault)),
            "max_concurrency": dict(self._pipeline.max_concurrency),
        }

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; any 429 burst in progress ends."""
        self.faults = faults
        self._pipeline.bursts.clear()

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
        """The ASGI app: the request pipeline around the routes (built on first use)."""
        if not self._built:
            sim_routes: list[BaseRoute] = [
                Route(f"{SIM_PREFIX}/requests", self._sim_requests, methods=["GET"]),
                Route(f"{SIM_PREFIX}/stats", self._sim_stats, methods=["GET"]),
                Route(f"{SIM_PREFIX}/state", self._sim_state, methods=["GET"]),
                Route(f"{SIM_PREFIX}/faults", self._sim_faults, methods=["POST"]),
                Route(f"{SIM_PREFIX}/reset", self._sim_reset, methods=["POST"]),
            ]
            self._routes = [*sim_routes, *self.routes()]
            routes = Starlette(
                routes=self._routes,
                exception_handlers={
                    PlatformError: self._platform_error,
                    InputError: self._input_error,
                    404: self._unrouted,
                    405: self._unrouted,
                },
            )
            routes.router.redirect_slashes = False  # the pipeline strips trailing slashes
            self._pipeline.app = routes
            self._built = True
        return self._pipeline

    def transport(self) -> httpx.AsyncBaseTransport:
        return SimTransport(app=self.app)

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
        (the CA PEM a client must trust, as given). :attr:`served_url` is set to its URL."""
        served = serve_on_loopback(
            self.app,
            host,
            port,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            ca_bundle=ca_bundle,
            options=self.uvicorn_options(),
        )
        self.served_url = served.base_url
        return served

    # -- exception handlers: route errors in the platform's envelope --------------------------

    async def _platform_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlatformError)
        return self.error_envelope(request, exc)

    async def _input_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputError)
        return self.error_envelope(request, self.input_error(request, exc))

    async def _unrouted(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        allowed: list[str] = []
        if exc.status_code == 405:  # every route of the path, not just the first one
            methods = {
                method
                for route in self._routes
                if isinstance(route, Route) and route.matches(request.scope)[0] == Match.PARTIAL
                for method in route.methods or ()
            }
            allowed = sorted(methods)
        try:
            return await self.unrouted(request, allowed)
        except PlatformError as err:
            return self.error_envelope(request, err)

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
