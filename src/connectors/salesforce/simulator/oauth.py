"""OAuth 2.0 token endpoint and sessions: ``POST /services/oauth2/token`` (form-encoded).

Grants:

* ``client_credentials`` — the app's key/secret as ``client_id``/``client_secret`` form fields
  or as ``Authorization: Basic base64(key:secret)``; the app needs a run-as user, else 400
  ``invalid_grant`` "no client credentials user enabled".
* ``urn:ietf:params:oauth:grant-type:jwt-bearer`` — an RS256 ``assertion`` verified against the
  certificate (or public key) registered on the app: ``iss`` = consumer key, ``sub`` = a
  username pre-authorised for the app, ``aud`` one of the accepted audiences
  (login/test.salesforce.com and configured site URLs), ``exp`` (a number or numeric string)
  not past and at most ``jwt_max_lifetime`` ahead (both with ``jwt_clock_skew``). No refresh
  token is returned.
* ``refresh_token`` — ``client_id``, ``client_secret`` (when the app requires it) and a
  refresh token from :meth:`OAuthServer.issue_refresh_token`; with rotation on, the answer
  carries a new ``refresh_token`` and the old one stops working.

Errors are 400 ``{"error", "error_description"}`` with ``Cache-Control: no-store``:
``unsupported_grant_type`` "grant type not supported", ``invalid_client_id`` "client identifier
invalid", ``invalid_client`` "invalid client credentials", ``invalid_grant`` with "no client
credentials user enabled", "Audience validation failed", "user hasn't approved this consumer",
"expired authorization code", "invalid assertion" or "expired access/refresh token".

Success: ``{"access_token", "signature", "token_format": "opaque", "instance_url", "id",
"token_type": "Bearer", "issued_at", "scope"}`` where ``instance_url`` is the simulator's own
base URL (from the request, unless configured), ``id`` the identity URL and ``signature``
base64 HMAC-SHA256 of ``id + issued_at`` keyed by the client secret. Access tokens are
``<org id>!<random>`` sessions that expire ``session_lifetime`` seconds after issue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import Response

from .data import Org
from .rest import JSON_CT

__all__ = ["JWT_BEARER", "ConnectedApp", "OAuthServer", "Session"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_TOKEN_CHARS = string.ascii_letters + string.digits + "._"


@dataclass
class ConnectedApp:
    """An External Client App (or legacy Connected App). ``certificate`` is the PEM the JWT
    flow verifies with; ``run_as`` the client-credentials user; ``preauthorized`` the usernames
    the JWT flow may act as. The secret never appears in ``repr``."""

    client_id: str
    client_secret: str = field(repr=False)
    run_as: str | None = None
    certificate: bytes | None = field(default=None, repr=False)
    preauthorized: set[str] = field(default_factory=set)
    rotate_refresh_tokens: bool = False
    require_secret_for_refresh: bool = True
    scopes: tuple[str, ...] = ("api", "refresh_token")


@dataclass
class Session:
    """An access token's session (the token itself is the key it is stored under)."""

    username: str
    user_id: str
    client_id: str | None
    expires_at: float  # wall-clock epoch seconds


@dataclass
class _Refresh:
    client_id: str
    username: str


class _Denied(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    key: Any
    if b"CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the JWT bearer flow needs an RSA certificate or public key")
    return key


class OAuthServer:
    """Apps, users' sessions and refresh tokens of one org, and the token endpoint."""

    def __init__(
        self,
        org: Org,
        *,
        wall_clock: Callable[[], float],
        rng: random.Random,
        session_lifetime: float,
        jwt_audiences: Iterable[str],
        jwt_max_lifetime: float | None,
        jwt_clock_skew: float,
        instance_url: str | None,
    ) -> None:
        self.org = org
        self.wall_clock = wall_clock
        self.rng = rng
        self.session_lifetime = session_lifetime
        self.jwt_audiences = {a.rstrip("/") for a in jwt_audiences}
        self.jwt_max_lifetime = jwt_max_lifetime
        self.jwt_clock_skew = jwt_clock_skew
        self.instance_url = instance_url
        self.apps: dict[str, ConnectedApp] = {}
        self.sessions: dict[str, Session] = {}
        self._refresh: dict[str, _Refresh] = {}

    # -- setup --------------------------------------------------------------------------------

    def add_app(self, app: ConnectedApp) -> ConnectedApp:
        if app.certificate is not None:
            _public_key(app.certificate)  # fail now, not at the first login
        self.apps[app.client_id] = app
        return app

    def _token(self, length: int) -> str:
        return "".join(self.rng.choice(_TOKEN_CHARS) for _ in range(length))

    def new_session(self, username: str, client_id: str | None = None) -> str:
        """Issue an access token for ``username`` (created if new)."""
        token = f"{self.org.org_id[:15]}!{self._token(96)}"
        self.add_session(token, username, client_id)
        return token

    def add_session(self, token: str, username: str, client_id: str | None = None) -> Session:
        """Accept ``token`` as a session of ``username`` from now on."""
        user_id = self.org.add_user(username)
        session = Session(username, user_id, client_id, self.wall_clock() + self.session_lifetime)
        self.sessions[token] = session
        return session

    def issue_refresh_token(self, client_id: str, username: str) -> str:
        """A refresh token, as the web-server flow would hand to ``username`` for the app."""
        if client_id not in self.apps:
            raise KeyError(f"no app with client id {client_id!r}")
        self.org.add_user(username)
        token = "5Aep" + self._token(83)
        self._refresh[token] = _Refresh(client_id, username)
        return token

    def revoke_refresh_token(self, token: str) -> None:
        self._refresh.pop(token, None)

    def session(self, token: str) -> Session | None:
        """The live session of an access token; an expired one is forgotten."""
        session = self.sessions.get(token)
        if session is not None and session.expires_at <= self.wall_clock():
            del self.sessions[token]
            return None
        return session

    def expire_sessions(self) -> None:
        """End every session now (clients must log in again)."""
        self.sessions.clear()

    # -- the endpoint -------------------------------------------------------------------------

    async def token_endpoint(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant = form.get("grant_type", "")
        try:
            if grant == "client_credentials":
                app, username = self._client_credentials(request, form)
                refresh = None
            elif grant == JWT_BEARER:
                app, username = self._jwt_bearer(form.get("assertion", ""))
                refresh = None
            elif grant == "refresh_token":
                app, username, refresh = self._refresh_grant(request, form)
            else:
                raise _Denied("unsupported_grant_type", "grant type not supported")
        except _Denied as denied:
            body = {"error": denied.error, "error_description": denied.description}
            return self._answer(body, 400)
        return self._answer(self._grant(request, app, username, refresh), 200)

    def _answer(self, body: dict[str, Any], status: int) -> Response:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return Response(json.dumps(body).encode(), status, headers, media_type=JSON_CT)

    def _grant(
        self, request: Request, app: ConnectedApp, username: str, refresh: str | None
    ) -> dict[str, Any]:
        token = self.new_session(username, app.client_id)
        user_id = self.org.users[username]
        identity = f"https://login.salesforce.com/id/{self.org.org_id}/{user_id}"
        issued_at = str(int(self.wall_clock() * 1000))
        mac = hmac.new(app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        body: dict[str, Any] = {"access_token": token}
        if refresh is not None:
            body["refresh_token"] = refresh
        body.update(
            {
                "signature": base64.b64encode(mac.digest()).decode(),
                "token_format": "opaque",
                "instance_url": self.instance_url or str(request.base_url).rstrip("/"),
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "scope": " ".join(app.scopes),
            }
        )
        return body

    def _app(self, client_id: str) -> ConnectedApp:
        app = self.apps.get(client_id)
        if app is None:
            raise _Denied("invalid_client_id", "client identifier invalid")
        return app

    def _client_pair(self, request: Request, form: dict[str, str]) -> tuple[str, str | None]:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _Denied("invalid_client", "invalid client credentials") from None
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret")

    def _client_credentials(
        self, request: Request, form: dict[str, str]
    ) -> tuple[ConnectedApp, str]:
        client_id, secret = self._client_pair(request, form)
        app = self._app(client_id)
        if secret is None or not hmac.compare_digest(secret, app.client_secret):
            raise _Denied("invalid_client", "invalid client credentials")
        if app.run_as is None:
            raise _Denied("invalid_grant", "no client credentials user enabled")
        return app, app.run_as

    def _jwt_bearer(self, assertion: str) -> tuple[ConnectedApp, str]:
        invalid = _Denied("invalid_grant", "invalid assertion")
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(sig_b64)
        except (ValueError, binascii.Error):
            raise invalid from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise invalid
        app = self._app(str(claims.get("iss", "")))
        if header.get("alg") != "RS256" or app.certificate is None:
            raise invalid
        try:
            _public_key(app.certificate).verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            raise invalid from None
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(a, str) and a.rstrip("/") in self.jwt_audiences for a in audiences):
            raise _Denied("invalid_grant", "Audience validation failed")
        try:
            exp = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise invalid from None
        now, skew = self.wall_clock(), self.jwt_clock_skew
        if exp + skew <= now:
            raise _Denied("invalid_grant", "expired authorization code")
        if self.jwt_max_lifetime is not None and exp > now + self.jwt_max_lifetime + skew:
            raise invalid
        username = str(claims.get("sub", ""))
        if username not in app.preauthorized:
            raise _Denied("invalid_grant", "user hasn't approved this consumer")
        return app, username

    def _refresh_grant(
        self, request: Request, form: dict[str, str]
    ) -> tuple[ConnectedApp, str, str | None]:
        client_id, secret = self._client_pair(request, form)
        app = self._app(client_id)
        if secret is not None and not hmac.compare_digest(secret, app.client_secret):
            raise _Denied("invalid_client", "invalid client credentials")
        if secret is None and app.require_secret_for_refresh:
            raise _Denied("invalid_client", "invalid client credentials")
        token = form.get("refresh_token", "")
        grant = self._refresh.get(token)
        if grant is None or grant.client_id != app.client_id:
            raise _Denied("invalid_grant", "expired access/refresh token")
        if not app.rotate_refresh_tokens:
            return app, grant.username, None
        del self._refresh[token]
        return app, grant.username, self.issue_refresh_token(app.client_id, grant.username)
