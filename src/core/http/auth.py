"""Authentication as :class:`httpx.Auth` flows: bearer, basic and OAuth 2.0 grants.

Secrets are held as :class:`pydantic.SecretStr` and never appear in ``repr``, logs or error
messages. :class:`OAuth2Auth` fetches tokens from the token endpoint through the same client
(and transport) as the API calls, caches them in a :class:`TokenCache` shared process-wide
(several clients of one credential share one token), refreshes them 60 s before they expire,
and on a 401 refreshes once and retries the request once; a second 401 is returned as is, for
the caller to raise :class:`~segsync.errors.AuthError`.

Refresh-token rotation: when a token answer carries a new ``refresh_token`` (Salesforce apps
with rotation on, and other providers, invalidate the old one at once), the grant switches to
it and, given a :class:`RefreshTokenStore` (:class:`FileTokenStore`), persists it, so the next
process starts from the token that still works.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib
import json
import os
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from segsync.errors import AuthError, ConfigError, RetryableError

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "ClientCredentialsGrant",
    "FileTokenStore",
    "Grant",
    "JwtBearerGrant",
    "OAuth2Auth",
    "RefreshTokenGrant",
    "RefreshTokenStore",
    "Token",
    "TokenCache",
]

REFRESH_MARGIN = 60.0
"""Seconds before ``expires_in`` at which a cached token is refreshed proactively."""

_SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "signature"})


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _reveal(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: SecretStr | str) -> None:
        self._token = _secret(token)

    def __repr__(self) -> str:
        return "BearerAuth(token=SecretStr('**********'))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


class BasicAuth(httpx.Auth):
    """HTTP basic authentication (Mailchimp: any user name, the API key as password)."""

    def __init__(self, username: str, password: SecretStr | str) -> None:
        self.username = username
        self._password = _secret(password)

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=SecretStr('**********'))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw = f"{self.username}:{self._password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        yield request


class Grant(Protocol):
    """An OAuth 2.0 grant: the form fields of its token request."""

    @property
    def name(self) -> str:
        """The grant's short name, for error messages."""
        ...

    @property
    def cache_id(self) -> str:
        """What tells this credential apart at one token endpoint (hashed before use)."""
        ...

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` fields of the token request."""
        ...


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


class RefreshTokenStore(Protocol):
    """Where a rotated refresh token is kept between processes."""

    def load(self) -> str | None:
        """The refresh token to use instead of the configured one, if any."""
        ...

    def save(self, token: str) -> None:
        """Keep ``token``: the endpoint rotated to it and invalidated the previous one."""
        ...


class FileTokenStore:
    """A rotated refresh token in a JSON file (mode 0600, replaced atomically), tied to the
    configured token it descends from: when the configuration names another refresh token
    (a new authorisation), the file is ignored and later overwritten.

    The file holds a secret: keep it in a private folder (a connector's work folder)."""

    def __init__(self, path: Path, configured: SecretStr | str) -> None:
        self.path = path
        self._origin = hashlib.sha256(_reveal(configured).encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"FileTokenStore(path={str(self.path)!r})"

    def load(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("origin") != self._origin:
            return None
        token = data.get("refresh_token")
        return token if isinstance(token, str) and token else None

    def save(self, token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"origin": self._origin, "refresh_token": token})
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@dataclass(frozen=True, repr=False)
class RefreshTokenGrant:
    """``grant_type=refresh_token`` (HubSpot, Salesforce, Google, Mailchimp OAuth apps).

    With rotation, the token endpoint answers a new ``refresh_token`` and invalidates the one
    sent: :meth:`rotated` (called by :class:`OAuth2Auth`) switches to it for every later
    refresh and saves it in ``store``. A ``store`` holding a token descended from this
    ``refresh_token`` is used from the start. The credential's identity (``cache_id``) stays
    the configured token's."""

    client_id: str
    client_secret: SecretStr | str
    refresh_token: SecretStr | str
    store: RefreshTokenStore | None = None
    name: str = field(default="refresh_token", init=False)
    _current: list[SecretStr] = field(default_factory=list, init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_secret", _secret(self.client_secret))
        object.__setattr__(self, "refresh_token", _secret(self.refresh_token))
        saved = self.store.load() if self.store is not None else None
        self._current.append(_secret(saved) if saved else _secret(self.refresh_token))

    def __repr__(self) -> str:
        return (
            f"RefreshTokenGrant(client_id={self.client_id!r}, client_secret=**, refresh_token=**)"
        )

    @property
    def cache_id(self) -> str:
        return f"{self.client_id}:{_sha(_reveal(self.refresh_token))}"

    @property
    def current_token(self) -> SecretStr:
        """The refresh token the next refresh sends (the latest rotated one)."""
        return self._current[-1]

    def rotated(self, token: str) -> None:
        """The endpoint answered ``token`` as the new refresh token: use and keep it."""
        if token == _reveal(self._current[-1]):
            return
        self._current[:] = [SecretStr(token)]
        if self.store is not None:
            self.store.save(token)

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": _reveal(self.client_secret),
            "refresh_token": _reveal(self._current[-1]),
        }


@dataclass(frozen=True, repr=False)
class ClientCredentialsGrant:
    """``grant_type=client_credentials``."""

    client_id: str
    client_secret: SecretStr | str
    scope: str | None = None
    name: str = field(default="client_credentials", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_secret", _secret(self.client_secret))

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsGrant(client_id={self.client_id!r}, client_secret=**, "
            f"scope={self.scope!r})"
        )

    @property
    def cache_id(self) -> str:
        return f"{self.client_id}:{self.scope or ''}"

    def form(self) -> dict[str, str]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": _reveal(self.client_secret),
        }
        if self.scope:
            form["scope"] = self.scope
        return form


@dataclass(frozen=True, repr=False)
class JwtBearerGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an RS256 assertion.

    Claims: ``iss`` = ``client_id`` (Salesforce consumer key, Google service account email),
    ``sub``, ``aud``, ``iat``, ``exp`` = now + ``lifetime``, plus ``scope`` when given (Google).
    Signing needs the ``cryptography`` package, imported when the first token is requested.
    """

    client_id: str
    subject: str
    audience: str
    private_key: SecretStr | str
    lifetime: int = 300
    scope: str | None = None
    clock: Callable[[], float] = time.time
    name: str = field(default="jwt_bearer", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "private_key", _secret(self.private_key))

    def __repr__(self) -> str:
        return (
            f"JwtBearerGrant(client_id={self.client_id!r}, subject={self.subject!r}, "
            f"audience={self.audience!r}, private_key=**)"
        )

    @property
    def cache_id(self) -> str:
        return f"{self.client_id}:{self.subject}:{self.scope or ''}"

    def assertion(self) -> str:
        """The signed JWT."""
        try:
            serialization = importlib.import_module("cryptography.hazmat.primitives.serialization")
            hashes = importlib.import_module("cryptography.hazmat.primitives.hashes")
            padding = importlib.import_module("cryptography.hazmat.primitives.asymmetric.padding")
        except ImportError:
            raise ConfigError(
                "the JWT bearer grant signs with RS256 and needs the 'cryptography' package: "
                "pip install cryptography"
            ) from None
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.subject,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime,
        }
        if self.scope:
            claims["scope"] = self.scope
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}".encode("ascii")
        try:
            key = serialization.load_pem_private_key(
                _reveal(self.private_key).encode("utf-8"), password=None
            )
            signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(
                "the JWT bearer grant's private_key is not an unencrypted PEM RSA private key"
            ) from None
        return signing_input.decode("ascii") + "." + _b64url(signature)

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self.assertion(),
        }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


@dataclass(frozen=True, repr=False)
class Token:
    """An access token, when it should be refreshed, and the response's non-secret fields."""

    access_token: SecretStr
    refresh_at: float
    """By the cache's clock; ``inf`` when the endpoint gave no ``expires_in``."""
    extras: dict[str, Any]
    """E.g. ``instance_url`` (Salesforce), ``scope``, ``token_type``; never a secret."""

    def __repr__(self) -> str:
        return f"Token(access_token=**, refresh_at={self.refresh_at}, extras={self.extras!r})"


class TokenCache:
    """Tokens by (token endpoint, credential); thread-safe; shared by default process-wide."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def get(self, key: str) -> Token | None:
        """The cached token if it is not due for refresh."""
        with self._lock:
            token = self._tokens.get(key)
        if token is None or self.clock() >= token.refresh_at:
            return None
        return token

    def put(self, key: str, token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, token: Token | None = None) -> None:
        """Drop the cached token (only if it is still ``token``, when given)."""
        with self._lock:
            if token is None or self._tokens.get(key) is token:
                self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()

    def async_lock(self, key: str) -> asyncio.Lock:
        """A lock serialising refreshes of ``key`` within the running event loop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            locks = self._async_locks.setdefault(loop, {})
            return locks.setdefault(key, asyncio.Lock())


SHARED_TOKENS = TokenCache()


class OAuth2Auth(httpx.Auth):
    """OAuth 2.0 bearer tokens obtained from ``token_url`` with ``grant``.

    ``default_expires_in``: lifetime assumed when the endpoint sends no ``expires_in``
    (Salesforce); None keeps such a token until the API answers 401.
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        grant: Grant,
        *,
        cache: TokenCache | None = None,
        default_expires_in: float | None = None,
    ) -> None:
        self.token_url = token_url
        self.grant = grant
        self.cache = cache or SHARED_TOKENS
        self.default_expires_in = default_expires_in
        self.cache_key = _sha(f"{token_url}\x00{grant.cache_id}")

    def __repr__(self) -> str:
        return f"OAuth2Auth(token_url={self.token_url!r}, grant={self.grant!r})"

    @property
    def token(self) -> Token | None:
        """The cached token (for its ``extras``), if one is valid."""
        return self.cache.get(self.cache_key)

    # -- the token request ---------------------------------------------------------------

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data=self.grant.form(),
            headers={"Accept": "application/json"},
        )

    def _store(self, response: httpx.Response) -> Token:
        where = f"token endpoint {httpx.URL(self.token_url).path}"
        status = response.status_code
        try:
            body: Any = json.loads(response.content) if response.content else {}
        except ValueError:
            if status < 400:  # a success cut short on the way (a dropped connection)
                raise RetryableError(f"{where}: the answer is not valid JSON") from None
            body = {}
        if status == 429 or status >= 500:
            raise RetryableError(f"{where} answered {status} to the {self.grant.name} grant")
        if status >= 400 or not isinstance(body, dict) or "access_token" not in body:
            code = body.get("error") if isinstance(body, dict) else None
            code_text = f": {code}" if isinstance(code, str) and len(code) < 80 else ""
            raise AuthError(f"{where} refused the {self.grant.name} grant ({status}{code_text})")
        expires_in = body.get("expires_in", self.default_expires_in)
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        refresh_at = (
            self.cache.clock() + max(lifetime - REFRESH_MARGIN, 0.0)
            if lifetime is not None
            else float("inf")
        )
        token = Token(
            access_token=SecretStr(str(body["access_token"])),
            refresh_at=refresh_at,
            extras={k: v for k, v in body.items() if k not in _SECRET_FIELDS},
        )
        rotated = body.get("refresh_token")
        on_rotation = getattr(self.grant, "rotated", None)
        if isinstance(rotated, str) and rotated and callable(on_rotation):
            on_rotation(rotated)  # the old refresh token no longer works: keep the new one
        self.cache.put(self.cache_key, token)
        return token

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, Token]:
        response = yield self._token_request()
        return self._store(response)

    async def ensure_token(self, client: httpx.AsyncClient) -> Token:
        """A valid token, fetched through ``client`` if needed (e.g. to read ``instance_url``)."""
        token = self.cache.get(self.cache_key)
        if token is not None:
            return token
        async with self.cache.async_lock(self.cache_key):
            token = self.cache.get(self.cache_key)
            if token is None:
                response = await client.send(self._token_request(), auth=None)
                await response.aread()
                token = self._store(response)
        return token

    # -- the flows -----------------------------------------------------------------------

    def _authorised(self, request: httpx.Request, token: Token) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        return request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.cache.get(self.cache_key)
        if token is None:
            token = yield from self._fetch()
        response = yield self._authorised(request, token)
        if response.status_code != 401:
            return
        self.cache.invalidate(self.cache_key, token)
        fresh = self.cache.get(self.cache_key)
        if fresh is None:
            fresh = yield from self._fetch()
        yield self._authorised(request, fresh)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.cache.get(self.cache_key) is None:
            # one refresh per credential at a time: concurrent requests wait for it
            async with self.cache.async_lock(self.cache_key):
                if self.cache.get(self.cache_key) is None:
                    response = yield self._token_request()
                    await response.aread()
                    self._store(response)
        flow = self.auth_flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            await response.aread()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                break
