"""Google OAuth 2.0 as the Data Manager API sees it: the token endpoint and bearer checks.

``POST /token`` stands for ``https://oauth2.googleapis.com/token`` (form-encoded or JSON body):

* ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with ``assertion`` — a service
  account's RS256-signed JWT (``iss`` = its email, ``aud`` = Google's token URI, ``scope``,
  ``iat``/``exp`` at most an hour apart), verified against the public key registered for the
  header's ``kid``;
* ``grant_type=refresh_token`` with ``refresh_token``, ``client_id`` and ``client_secret`` (in
  the body or HTTP Basic). An OAuth app in "Testing" status issues refresh tokens that expire
  after 7 days.

Both answer ``{"access_token", "expires_in": 3599, "token_type": "Bearer"}`` (plus ``scope`` for
the refresh grant); failures are Google's ``{"error", "error_description"}`` bodies
(``invalid_grant`` "Invalid JWT Signature.", "Token has been expired or revoked.", …).

API calls carry ``Authorization: Bearer <token>``: a token this endpoint issued, a token
registered with :meth:`OAuthServer.add_access_token`, or — as the official client does with a
service account — a self-signed JWT (AIP-4111: ``aud`` = ``https://datamanager.googleapis.com/``
or a ``scope`` claim) verified like an assertion. RS256 needs the ``cryptography`` package
(the ``jwt`` extra); without it only the refresh grant and registered tokens work.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "DATAMANAGER_SCOPE",
    "JWT_BEARER",
    "TOKEN_URI",
    "Grant",
    "OAuthServer",
]

DATAMANAGER_SCOPE = "https://www.googleapis.com/auth/datamanager"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
API_AUDIENCE = "https://datamanager.googleapis.com/"
_TOKEN_AUDIENCES = frozenset(
    {
        TOKEN_URI,
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_CT = "application/json; charset=utf-8"
_NO_CACHE = {
    "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
    "Pragma": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What a bearer token stands for: a principal, its quota project, scopes and expiry."""

    principal: str
    project: str
    scopes: frozenset[str]
    expires_at: float | None = None  # None: never


@dataclass
class _ServiceAccount:
    email: str
    project: str
    keys: dict[str, RSAPublicKey]


@dataclass
class _Client:
    client_id: str
    secret: str
    project: str
    testing: bool


@dataclass
class _Refresh:
    client_id: str
    principal: str
    scopes: frozenset[str]
    issued_at: float
    revoked: bool = False


class _TokenError(Exception):
    def __init__(
        self, error: str, description: str, status: int = 400, *, expired: bool = False
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.expired = expired


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OAuthServer:
    """Issued tokens, service accounts, OAuth clients and refresh tokens of one simulator."""

    def __init__(
        self,
        clock: Callable[[], float],
        rng: random.Random,
        *,
        token_lifetime: int = 3599,
        clock_skew: float = 300.0,
        testing_refresh_lifetime: float = 7 * 86400.0,
    ) -> None:
        self.clock = clock
        self._rng = rng
        self.token_lifetime = token_lifetime
        self.clock_skew = clock_skew
        self.testing_refresh_lifetime = testing_refresh_lifetime
        self.tokens: dict[str, Grant] = {}
        self.service_accounts: dict[str, _ServiceAccount] = {}
        self.clients: dict[str, _Client] = {}
        self.refresh_tokens: dict[str, _Refresh] = {}

    # -- set-up ----------------------------------------------------------------------------------

    def add_access_token(
        self,
        token: str,
        *,
        principal: str,
        project: str,
        scopes: tuple[str, ...] = (DATAMANAGER_SCOPE,),
        expires_at: float | None = None,
    ) -> None:
        self.tokens[token] = Grant(principal, project, frozenset(scopes), expires_at)

    def add_service_account(
        self, email: str, project: str, public_key_pem: str, key_id: str
    ) -> None:
        """Register a service account's public key (PEM) under ``key_id`` (the JWT ``kid``)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, RSAPublicKey):
            raise ValueError("a service account key is an RSA key")
        account = self.service_accounts.setdefault(email, _ServiceAccount(email, project, {}))
        account.project = project
        account.keys[key_id] = key

    def new_service_account_key(self, email: str, project: str, token_uri: str) -> dict[str, str]:
        """A new RSA key for ``email``: registers its public half and returns a key file as
        Google issues it (``type``, ``private_key_id``, ``private_key``, ``client_email``,
        ``token_uri``, …). The private key is a secret: keep it out of logs."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = f"{self._rng.getrandbits(160):040x}"
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.add_service_account(email, project, public.decode(), key_id)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key_id,
            "private_key": private.decode(),
            "client_email": email,
            "client_id": str(self._rng.randrange(10**20, 10**21)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }

    def add_client(
        self, client_id: str, secret: str, project: str, *, testing: bool = False
    ) -> None:
        """An OAuth client (a "Testing" app's refresh tokens expire after 7 days)."""
        self.clients[client_id] = _Client(client_id, secret, project, testing)

    def add_refresh_token(
        self,
        token: str,
        *,
        client_id: str,
        principal: str,
        scopes: tuple[str, ...] = (DATAMANAGER_SCOPE,),
    ) -> None:
        if client_id not in self.clients:
            raise ValueError(f"unknown OAuth client {client_id}")
        self.refresh_tokens[token] = _Refresh(client_id, principal, frozenset(scopes), self.clock())

    def revoke(self, token: str) -> None:
        """Revoke a refresh or access token."""
        if token in self.refresh_tokens:
            self.refresh_tokens[token].revoked = True
        self.tokens.pop(token, None)

    # -- bearer tokens on API calls --------------------------------------------------------------

    def verify_bearer(self, token: str) -> Grant | str:
        """The grant of a bearer token, or why it is refused (an ErrorInfo reason)."""
        grant = self.tokens.get(token)
        if grant is None and token.count(".") == 2 and self.service_accounts:
            try:
                grant = self._self_signed(token)
            except _TokenError as err:
                return "ACCESS_TOKEN_EXPIRED" if err.expired else "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        if grant is None:
            return "ACCESS_TOKEN_TYPE_UNSUPPORTED"
        if grant.expires_at is not None and self.clock() >= grant.expires_at:
            return "ACCESS_TOKEN_EXPIRED"
        return grant

    def _self_signed(self, token: str) -> Grant:
        claims = self._verified_claims(token)
        scopes = frozenset(str(claims.get("scope", "")).split())
        if claims.get("aud") == API_AUDIENCE:
            scopes |= {DATAMANAGER_SCOPE}
        elif not scopes:
            raise _TokenError("invalid", "no audience or scope")
        account = self.service_accounts[str(claims["iss"])]
        return Grant(account.email, account.project, scopes, float(claims["exp"]))

    def _verified_claims(self, jwt: str) -> dict[str, Any]:
        """The claims of a service account's JWT once its signature and times check out."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        bad_signature = _TokenError("invalid_grant", "Invalid JWT Signature.")
        try:
            head_b64, claims_b64, sig_b64 = jwt.split(".")
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(sig_b64)
        except (ValueError, binascii.Error):
            raise bad_signature from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise bad_signature
        account = self.service_accounts.get(str(claims.get("iss")))
        if account is None:
            raise _TokenError("invalid_grant", "Invalid grant: account not found")
        key = account.keys.get(str(header.get("kid")))
        if header.get("alg") != "RS256" or key is None:
            raise bad_signature
        try:
            key.verify(
                signature,
                f"{head_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise bad_signature from None
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.clock()
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise _TokenError("invalid_grant", _SHORT_LIVED)
        if exp - iat > 3600 or exp <= iat or iat > now + self.clock_skew:
            raise _TokenError("invalid_grant", _SHORT_LIVED)
        if now >= exp + self.clock_skew:
            raise _TokenError("invalid_grant", _SHORT_LIVED, expired=True)
        return claims

    # -- the token endpoint ----------------------------------------------------------------------

    def _new_token(self, prefix: str) -> str:
        raw = self._rng.getrandbits(8 * 96).to_bytes(96, "big")
        return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    async def token_endpoint(self, request: Request) -> Response:
        """``POST /token``: the JWT-bearer and refresh-token grants."""
        try:
            form = await self._form(request)
            grant_type = form.get("grant_type", "")
            if grant_type == JWT_BEARER:
                body = self._jwt_grant(form)
            elif grant_type == "refresh_token":
                body = self._refresh_grant(form, request)
            else:
                raise _TokenError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        except _TokenError as err:
            error = {"error": err.error, "error_description": err.description}
            return Response(json.dumps(error), err.status, headers=_NO_CACHE, media_type=_CT)
        return Response(json.dumps(body), 200, headers=_NO_CACHE, media_type=_CT)

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(raw)
            except ValueError:
                raise _TokenError("invalid_request", "Invalid JSON payload received.") from None
            if not isinstance(data, dict):
                raise _TokenError("invalid_request", "Invalid JSON payload received.")
            return {str(k): str(v) for k, v in data.items()}
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def _jwt_grant(self, form: dict[str, str]) -> dict[str, Any]:
        assertion = form.get("assertion")
        if not assertion:
            raise _TokenError("invalid_request", "Missing required parameter: assertion")
        if not self.service_accounts:
            raise _TokenError("invalid_grant", "Invalid grant: account not found")
        claims = self._verified_claims(assertion)
        if claims.get("aud") not in _TOKEN_AUDIENCES:
            raise _TokenError(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The right audience is {TOKEN_URI}",
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise _TokenError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        account = self.service_accounts[str(claims["iss"])]
        token = self._new_token("ya29.c.")
        expires = self.clock() + self.token_lifetime
        self.tokens[token] = Grant(account.email, account.project, scopes, expires)
        return {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    def _refresh_grant(self, form: dict[str, str], request: Request) -> dict[str, Any]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _TokenError("invalid_client", "Unauthorized", 401) from None
        client = self.clients.get(client_id)
        if client is None:
            raise _TokenError("invalid_client", "The OAuth client was not found.", 401)
        if secret != client.secret:
            raise _TokenError("invalid_client", "Unauthorized", 401)
        token = form.get("refresh_token")
        if not token:
            raise _TokenError("invalid_request", "Missing required parameter: refresh_token")
        refresh = self.refresh_tokens.get(token)
        expired = (
            refresh is not None
            and client.testing
            and (self.clock() >= refresh.issued_at + self.testing_refresh_lifetime)
        )
        if refresh is None or refresh.revoked or refresh.client_id != client_id or expired:
            raise _TokenError("invalid_grant", "Token has been expired or revoked.")
        access = self._new_token("ya29.a0")
        expires = self.clock() + self.token_lifetime
        self.tokens[access] = Grant(refresh.principal, client.project, refresh.scopes, expires)
        return {
            "access_token": access,
            "expires_in": self.token_lifetime,
            "scope": " ".join(sorted(refresh.scopes)),
            "token_type": "Bearer",
        }
