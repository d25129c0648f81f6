"""The HTTP client every connector uses: paced, retried, classified, counted.

Each attempt of :meth:`HttpClient.request` waits for a :class:`~segsync.http.pacing.Pacer`
slot, sends, feeds the platform's rate-limit headers to the pacer (``read_limits``), pauses the
pacer after a 429, and classifies the response (``classify``). Retryable failures go round
again through :func:`~segsync.http.retry.with_retries`. Logs (logger ``segsync.http``, debug
level) name the method, the path with query values replaced by ``…``, the status or exception
type, the attempt and the wait — never headers, bodies or secrets. httpx's own request log
(logger ``httpx``, INFO) is filtered the same way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from segsync._version import __version__
from segsync.errors import FatalError, RetryableError
from segsync.values import NESTED_TOO_DEEP

from .classify import classify_response, redact_url
from .pacing import Pacer, PacerChain
from .retry import RetryPolicy, map_transport_error, with_retries

__all__ = ["USER_AGENT", "HttpClient", "HttpStats", "LimitsReader"]

logger = logging.getLogger("segsync.http")

USER_AGENT = f"segsync/{__version__} (+https://github.com/segsync/segsync)"

LimitsReader = Callable[[httpx.Response], tuple[int | None, int | None, float | None] | None]
"""Reads ``(limit, remaining, reset_in_seconds)`` from a response's headers, or None."""


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request's full URL at INFO: keep the path, drop query values.

    Attached once to the ``httpx`` logger when :mod:`segsync.http` is imported, so a URL
    carrying an email address or an API key in its query never reaches segsync's logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 2:
            args = list(record.args)
            if isinstance(args[1], (httpx.URL, str)) and str(record.msg).startswith("HTTP"):
                args[1] = redact_url(args[1])
                record.args = tuple(args)
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactHttpxUrls) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactHttpxUrls())

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
"""A URL that starts with a scheme is absolute (httpx takes it as it is)."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when
    set), made once a process: loading the roots costs ~60 ms a client."""
    return httpx.create_ssl_context()


class _Cookies(httpx.Cookies):
    """httpx's cookie store, reading a response's cookies only when it sets some: httpx wraps
    every response and its request for :mod:`http.cookiejar` first, and an API answer rarely
    sets a cookie (a tenth of the HTTP work of a paged pull went to finding none)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _AsyncClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` keeping its cookies in :class:`_Cookies` (the same cookies)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = None

    @property
    def cookies(self) -> httpx.Cookies:
        return self._kept_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._kept_cookies = _Cookies(cookies)


DEFAULT_THROTTLE_PAUSE = 1.0
"""Seconds the pacer pauses after a 429 that says nothing about when to come back."""


@dataclass
class HttpStats:
    """Counters of one client (or, merged, of a run)."""

    requests: int = 0
    """Attempts sent (retries included)."""
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    throttled: int = 0
    """429 answers."""
    network_errors: int = 0
    """Timeouts, connection failures, broken responses."""
    malformed: int = 0
    """Successful answers whose body was not valid JSON (with ``expect_json``)."""
    waited_seconds: float = 0.0
    """Time spent waiting on the pacer."""

    def merge(self, other: HttpStats) -> HttpStats:
        """A new ``HttpStats`` adding ``other`` to this one."""
        by_status = dict(self.by_status)
        for status, count in other.by_status.items():
            by_status[status] = by_status.get(status, 0) + count
        return HttpStats(
            requests=self.requests + other.requests,
            retries=self.retries + other.retries,
            by_status=by_status,
            throttled=self.throttled + other.throttled,
            network_errors=self.network_errors + other.network_errors,
            malformed=self.malformed + other.malformed,
            waited_seconds=self.waited_seconds + other.waited_seconds,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: status codes as string keys, seconds rounded to milliseconds."""
        data = asdict(self)
        data["by_status"] = {str(k): v for k, v in sorted(self.by_status.items())}
        data["waited_seconds"] = round(self.waited_seconds, 3)
        return data


class HttpClient:
    """One platform API: an :class:`httpx.AsyncClient` plus pacing, retries and stats.

    ``transport`` replaces the network (a simulator's transport in tests and the sandbox).
    ``classify`` raises for a failed response (default :func:`classify_response`; wrap it with
    ``functools.partial(classify_response, retry_hint=...)`` or your own for platform quirks).
    ``read_limits`` reads ``(limit, remaining, reset_in)`` from the rate-limit headers.
    ``sleep`` and ``clock`` drive the retry waits, and the default (unlimited) pacer's
    pauses after a 429; they are injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        pacer: Pacer | PacerChain | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, safe to share
        timeout: float = 30.0,
        max_connections: int = 10,
        transport: httpx.AsyncBaseTransport | None = None,
        classify: Callable[[httpx.Response], None] = classify_response,
        read_limits: LimitsReader | None = None,
        name: str = "http",
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.pacer: Pacer | PacerChain = (
            pacer if pacer is not None else Pacer(None, clock=clock, sleep=sleep)
        )
        self.retry = retry
        self.classify = classify
        self.read_limits = read_limits
        self.stats = HttpStats()
        self._sleep = sleep
        self._clock = clock
        self._client = _AsyncClient(
            base_url=base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            verify=_tls_context() if transport is None else True,
        )

        base = self._client.base_url  # its path ends with "/"
        plain = base.is_absolute_url and not (base.userinfo or base.query or base.fragment)
        self._base = (
            f"{base.scheme}://{base.netloc.decode('ascii')}{base.raw_path.decode('ascii')}"
            if plain
            else None
        )

    def __repr__(self) -> str:
        return f"HttpClient(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    def _absolute(self, url: str) -> str:
        """``url`` joined to the base URL as httpx joins them (the base's path, then the
        URL's without its leading slashes): httpx then parses one URL per request, not two."""
        if self._base is None or url.startswith("//") or "#" in url or _SCHEME.match(url):
            return url
        return self._base + url.lstrip("/")

    @property
    def raw(self) -> httpx.AsyncClient:
        """The underlying httpx client: unpaced, unretried (for ``OAuth2Auth.ensure_token``)."""
        return self._client

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = False,
    ) -> httpx.Response:
        """Send a request, paced and retried; return the (successful) response.

        With ``expect_json``, a successful response whose body is not valid JSON (a
        connection cut mid-body, a proxy's error page) is retried like a 5xx.

        Raises :class:`~segsync.errors.RetryableError` once retries are exhausted,
        :class:`~segsync.errors.FatalError`/:class:`~segsync.errors.AuthError` at once.
        """
        method = method.upper()
        target = self._absolute(url)
        last_outcome = ["?"]

        def shown() -> str:  # for errors and logs only: parsing a URL costs
            return redact_url(url, params)

        def endpoint() -> str:  # what an error names: the URL without its query
            return shown().split("?")[0]

        async def attempt() -> httpx.Response:
            async with self.pacer.slot() as waited:
                self.stats.waited_seconds += waited
                self.stats.requests += 1
                try:
                    response = await self._client.request(
                        method, target, params=params, json=json, content=content, headers=headers
                    )
                except httpx.TransportError as exc:
                    self.stats.network_errors += 1
                    last_outcome[0] = type(exc).__name__
                    raise map_transport_error(exc, method, endpoint()) from exc
            status = response.status_code
            last_outcome[0] = str(status)
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if self.read_limits is not None:
                limits = self.read_limits(response)
                if limits is not None:
                    self.pacer.observe(*limits)
            try:
                self.classify(response)
            except RetryableError as exc:
                if status == 429:
                    self.stats.throttled += 1
                    self.pacer.penalise(
                        exc.retry_after if exc.retry_after is not None else DEFAULT_THROTTLE_PAUSE
                    )
                elif exc.retry_after is not None:
                    self.pacer.penalise(exc.retry_after)
                raise
            if expect_json and status != 204:
                try:
                    _keep_json(response)
                except RecursionError:  # json.loads recurses once per level
                    last_outcome[0] = f"{status} with JSON nested too deeply to read"
                    raise FatalError(
                        f"{method} {endpoint()}: the response body is {NESTED_TOO_DEEP}"
                    ) from None
                except ValueError:
                    self.stats.malformed += 1
                    last_outcome[0] = f"{status} with a body that is not valid JSON"
                    raise RetryableError(
                        f"{method} {endpoint()}: the response body is not valid JSON"
                    ) from None
            return response

        def on_retry(number: int, exc: RetryableError, wait: float) -> None:
            self.stats.retries += 1
            logger.debug(
                "%s: %s %s → %s (attempt %d), retrying in %.2fs",
                self.name,
                method,
                shown(),
                last_outcome[0],
                number,
                wait,
            )

        return await with_retries(
            attempt, self.retry, on_retry=on_retry, sleep=self._sleep, clock=self._clock
        )

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``request(..., expect_json=True).json()``: the parsed body of a successful call."""
        response = await self.request(method, url, expect_json=True, **kwargs)
        return None if response.status_code == 204 else response.json()

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("POST", url, ...)``."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("PUT", url, ...)``."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("PATCH", url, ...)``."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """``request("DELETE", url, ...)``."""
        return await self.request("DELETE", url, **kwargs)


def _keep_json(response: httpx.Response) -> None:
    """Parse the body once and keep it: ``response.json()`` then answers from memory (the
    paginators and the connectors read it again; a 100-record page costs ~1 ms to parse)."""
    parsed = response.json()
    response.json = lambda **_: parsed  # type: ignore[method-assign]
