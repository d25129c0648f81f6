from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import stat
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from http_fakes import FakeClock
from pydantic import SecretStr

from segsync.errors import AuthError, ConfigError, RetryableError
from segsync.http import (
    BasicAuth,
    BearerAuth,
    ClientCredentialsGrant,
    FileTokenStore,
    HttpClient,
    JwtBearerGrant,
    OAuth2Auth,
    RefreshTokenGrant,
    RetryPolicy,
    TokenCache,
)

TOKEN_URL = "https://auth.example.test/oauth/token"
SECRET = "client-secret-XYZ"
REFRESH = "refresh-token-ABC"


class FakeOAuthServer:
    """Token endpoint plus an API that accepts only the latest token."""

    def __init__(self, expires_in: int | None = 3600) -> None:
        self.issued = 0
        self.valid: set[str] = set()
        self.token_requests: list[dict[str, list[str]]] = []
        self.api_requests: list[httpx.Request] = []
        self.expires_in = expires_in
        self.token_status = 200
        self.reject_all = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            self.token_requests.append(parse_qs(request.content.decode()))
            if self.token_status != 200:
                return httpx.Response(
                    self.token_status,
                    json={"error": "invalid_grant", "error_description": f"bad {REFRESH}"},
                )
            self.issued += 1
            token = f"access-{self.issued}"
            self.valid = {token}
            body: dict[str, object] = {"access_token": token, "instance_url": "https://x.test"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            return httpx.Response(200, json=body)
        self.api_requests.append(request)
        header = request.headers.get("authorization", "")
        if self.reject_all or header.removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}])
        return httpx.Response(200, json={"ok": True})


def oauth_client(server: FakeOAuthServer, auth: httpx.Auth, clock: FakeClock) -> HttpClient:
    return HttpClient(
        "https://api.example.test",
        auth=auth,
        transport=httpx.MockTransport(server),
        sleep=clock.sleep,
        clock=clock,
    )


def refresh_auth(cache: TokenCache) -> OAuth2Auth:
    grant = RefreshTokenGrant("my-client", SecretStr(SECRET), REFRESH)
    return OAuth2Auth(TOKEN_URL, grant, cache=cache)


async def test_bearer_and_basic_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with HttpClient(
        "https://a.test", auth=BearerAuth("tok"), transport=httpx.MockTransport(handler)
    ) as client:
        await client.get("/")
    async with HttpClient(
        "https://a.test",
        auth=BasicAuth("anystring", SecretStr("key-us6")),
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.get("/")
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[1].headers["authorization"] == "Basic " + base64.b64encode(
        b"anystring:key-us6"
    ).decode("ascii")


def test_secrets_never_in_repr() -> None:
    objects: list[object] = [
        BearerAuth("tok-S3CR3T"),
        BasicAuth("user", "pw-S3CR3T"),
        RefreshTokenGrant("cid", "cs-S3CR3T", "rt-S3CR3T"),
        ClientCredentialsGrant("cid", "cs-S3CR3T", scope="api"),
        JwtBearerGrant("iss", "sub", "aud", "-----BEGIN PRIVATE KEY-----key-S3CR3T"),
        OAuth2Auth(TOKEN_URL, RefreshTokenGrant("cid", "cs-S3CR3T", "rt-S3CR3T")),
    ]
    for obj in objects:
        assert "S3CR3T" not in repr(obj), repr(obj)


async def test_token_fetched_once_and_shared_between_clients(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    async with (
        oauth_client(server, refresh_auth(cache), clock) as a,
        oauth_client(server, refresh_auth(cache), clock) as b,
    ):
        await asyncio.gather(*(c.get("/x") for c in (a, b) for _ in range(5)))
    assert server.issued == 1
    assert server.token_requests[0] == {
        "grant_type": ["refresh_token"],
        "client_id": ["my-client"],
        "client_secret": [SECRET],
        "refresh_token": [REFRESH],
    }
    token = refresh_auth(cache).token
    assert token is not None and token.extras["instance_url"] == "https://x.test"
    assert "access_token" not in token.extras


async def test_proactive_refresh_before_expiry(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(expires_in=600), TokenCache(clock=clock)
    async with oauth_client(server, refresh_auth(cache), clock) as client:
        await client.get("/x")
        clock.now += 600 - 61
        await client.get("/x")
        assert server.issued == 1
        clock.now += 2  # within 60 s of expiry
        await client.get("/x")
        assert server.issued == 2
    assert all(r.headers["authorization"] != "Bearer access-1" for r in server.api_requests[2:])


async def test_one_refresh_and_retry_on_401(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(expires_in=None), TokenCache(clock=clock)
    async with oauth_client(server, refresh_auth(cache), clock) as client:
        await client.get("/x")
        server.valid = set()  # the session expired server-side
        response = await client.get("/x")
    assert response.status_code == 200
    assert server.issued == 2 and len(server.api_requests) == 3


async def test_second_401_is_an_auth_error_without_retry_storm(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    server.reject_all = True
    async with oauth_client(server, refresh_auth(cache), clock) as client:
        with pytest.raises(AuthError, match="401"):
            await client.get("/x")
    assert len(server.api_requests) == 2 and server.issued == 2


async def test_token_endpoint_refusal_names_the_error_code_not_the_secret(
    clock: FakeClock,
) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    server.token_status = 400
    async with oauth_client(server, refresh_auth(cache), clock) as client:
        with pytest.raises(AuthError) as info:
            await client.get("/x")
    message = str(info.value)
    assert "invalid_grant" in message and "refresh_token" in message
    assert SECRET not in message and REFRESH not in message
    assert len(server.token_requests) == 1 and not server.api_requests


async def test_token_endpoint_outage_is_retried(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    server.token_status = 503
    async with oauth_client(server, refresh_auth(cache), clock) as client:
        client.retry = RetryPolicy(max_attempts=3)
        with pytest.raises(RetryableError, match="3 attempts"):
            await client.get("/x")
    assert len(server.token_requests) == 3


async def test_token_answer_cut_short_is_retried(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    cut = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        response = server(request)
        if str(request.url) == TOKEN_URL and cut:
            cut.pop()
            return httpx.Response(200, content=response.content[:10])
        return response

    client = HttpClient(
        "https://api.example.test",
        auth=refresh_auth(cache),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )
    async with client:
        assert (await client.get("/x")).status_code == 200
    assert len(server.token_requests) == 2


async def test_client_credentials_and_ensure_token(clock: FakeClock) -> None:
    server, cache = FakeOAuthServer(), TokenCache(clock=clock)
    auth = OAuth2Auth(TOKEN_URL, ClientCredentialsGrant("cid", SECRET, scope="api"), cache=cache)
    async with oauth_client(server, auth, clock) as client:
        token = await auth.ensure_token(client.raw)
        assert token.extras["instance_url"] == "https://x.test"
        await client.get("/x")
    assert server.issued == 1
    assert server.token_requests[0]["grant_type"] == ["client_credentials"]
    assert server.token_requests[0]["scope"] == ["api"]


class RotatingServer(FakeOAuthServer):
    """Every refresh answers a new refresh token and invalidates the one it was sent."""

    def __init__(self) -> None:
        super().__init__(expires_in=None)
        self.refresh_tokens = {REFRESH}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) != TOKEN_URL:
            return super().__call__(request)
        sent = parse_qs(request.content.decode())["refresh_token"][0]
        if sent not in self.refresh_tokens:
            self.token_requests.append({"refresh_token": [sent]})
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "expired"}
            )
        response = super().__call__(request)
        fresh = f"rotated-{self.issued}"
        self.refresh_tokens = {fresh}
        return httpx.Response(200, json={**json.loads(response.content), "refresh_token": fresh})


async def test_rotated_refresh_token_is_used_and_persisted(
    clock: FakeClock, tmp_path: Path
) -> None:
    server, cache = RotatingServer(), TokenCache(clock=clock)
    path = tmp_path / "oauth" / "refresh.json"
    grant = RefreshTokenGrant("cid", SECRET, REFRESH, store=FileTokenStore(path, REFRESH))
    auth = OAuth2Auth(TOKEN_URL, grant, cache=cache)
    async with oauth_client(server, auth, clock) as client:
        await client.get("/x")
        server.valid = set()  # the session expires: the refresh must send the rotated token
        assert (await client.get("/x")).status_code == 200
    assert [r["refresh_token"] for r in server.token_requests] == [[REFRESH], ["rotated-1"]]
    assert "rotated-2" not in repr(grant) and "rotated" not in repr(auth)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "rotated-2" in path.read_text() and REFRESH not in path.read_text()

    # the next process starts from the persisted token; the configured one no longer works
    later = RefreshTokenGrant("cid", SECRET, REFRESH, store=FileTokenStore(path, REFRESH))
    assert later.form()["refresh_token"] == "rotated-2"
    auth = OAuth2Auth(TOKEN_URL, later, cache=TokenCache(clock=clock))
    async with oauth_client(server, auth, clock) as client:
        assert (await client.get("/x")).status_code == 200
    # a newly configured refresh token (a new authorisation) wins over the file
    other = RefreshTokenGrant("cid", SECRET, "brand-new", store=FileTokenStore(path, "brand-new"))
    assert other.form()["refresh_token"] == "brand-new"


def test_cache_key_separates_credentials() -> None:
    a = OAuth2Auth(TOKEN_URL, RefreshTokenGrant("cid", "s", "user-1"))
    b = OAuth2Auth(TOKEN_URL, RefreshTokenGrant("cid", "s", "user-2"))
    c = OAuth2Auth(TOKEN_URL, RefreshTokenGrant("cid", "s", "user-1"))
    assert a.cache_key != b.cache_key and a.cache_key == c.cache_key
    assert "user-1" not in a.cache_key


@pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is not None, reason="cryptography is installed"
)
def test_jwt_without_cryptography_says_what_to_install() -> None:
    grant = JwtBearerGrant("iss", "sub", "aud", SecretStr("pem"))
    with pytest.raises(ConfigError, match="pip install cryptography"):
        grant.form()


def test_jwt_bearer_assertion_is_rs256_signed() -> None:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    grant = JwtBearerGrant(
        "consumer-key", "user@example.com", "https://login.test", SecretStr(pem), clock=lambda: 1000
    )
    form = grant.form()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = form["assertion"].split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(header)) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(decode(claims)) == {
        "iss": "consumer-key",
        "sub": "user@example.com",
        "aud": "https://login.test",
        "iat": 1000,
        "exp": 1300,
    }
    key.public_key().verify(
        decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
