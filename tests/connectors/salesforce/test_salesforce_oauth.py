"""The Salesforce simulator's OAuth 2.0 token endpoint: client credentials, JWT bearer, refresh."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from segsync.connectors.salesforce.simulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_USERNAME,
    SalesforceSimulator,
)

TOKEN_PATH = "/services/oauth2/token"
V = "/services/data/v66.0"
JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "segsync jwt")])
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(key: rsa.RSAPrivateKey, claims: dict[str, Any], alg: str = "RS256") -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(signature)}"


def assert_oauth_error(r: httpx.Response, error: str, description: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {"error": error, "error_description": description}
    assert r.headers["cache-control"] == "no-store"
    assert "sforce-limit-info" not in r.headers


async def token(c: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await c.post(TOKEN_PATH, data=form)


# -- client credentials ------------------------------------------------------------------------


async def test_client_credentials_with_form_fields(
    sim: SalesforceSimulator, connect: Connect, clock: Any
) -> None:
    async with connect(sim, token=None) as c:
        r = await token(c, grant_type="client_credentials", client_id=DEFAULT_CLIENT_ID,
                        client_secret=DEFAULT_CLIENT_SECRET)  # fmt: skip
        body = r.json()
        assert r.status_code == 200
        assert set(body) == {"access_token", "signature", "token_format", "instance_url", "id",
                             "token_type", "issued_at", "scope"}  # fmt: skip
        assert body["instance_url"] == "https://acme.my.salesforce.com"
        assert body["token_type"] == "Bearer" and body["token_format"] == "opaque"
        assert body["issued_at"] == str(int(clock.now * 1000))
        user_id = sim.org.users[DEFAULT_USERNAME]
        assert body["id"] == f"https://login.salesforce.com/id/{sim.org.org_id}/{user_id}"
        mac = hmac.new(DEFAULT_CLIENT_SECRET.encode(), (body["id"] + body["issued_at"]).encode(),
                       hashlib.sha256)  # fmt: skip
        assert body["signature"] == base64.b64encode(mac.digest()).decode()
        assert body["access_token"].startswith(sim.org.org_id[:15] + "!")
        assert r.headers["cache-control"] == "no-store"
        api = await c.get(
            f"{V}/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert api.status_code == 200


async def test_client_credentials_with_basic_auth(
    sim: SalesforceSimulator, connect: Connect
) -> None:
    async with connect(sim, token=None) as c:
        ok = await c.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                          auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))  # fmt: skip
        wrong = await c.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                             auth=(DEFAULT_CLIENT_ID, "wrong"))  # fmt: skip
        unknown = await c.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                               auth=("nobody", "x"))  # fmt: skip
    assert ok.status_code == 200 and ok.json()["access_token"]
    assert_oauth_error(wrong, "invalid_client", "invalid client credentials")
    assert_oauth_error(unknown, "invalid_client_id", "client identifier invalid")


async def test_client_credentials_needs_a_run_as_user(
    sim: SalesforceSimulator, connect: Connect
) -> None:
    sim.add_app("no-run-as", "secret")
    async with connect(sim, token=None) as c:
        r = await token(
            c, grant_type="client_credentials", client_id="no-run-as", client_secret="secret"
        )
    assert_oauth_error(r, "invalid_grant", "no client credentials user enabled")


async def test_unsupported_grants(sim: SalesforceSimulator, connect: Connect) -> None:
    async with connect(sim, token=None) as c:
        password = await token(c, grant_type="password", username="u", password="p")
        missing = await token(c)
    assert_oauth_error(password, "unsupported_grant_type", "grant type not supported")
    assert_oauth_error(missing, "unsupported_grant_type", "grant type not supported")


async def test_configured_instance_url_wins(make: Make, connect: Connect) -> None:
    sim = make(instance_url="https://acme.my.salesforce.com.example")
    async with connect(sim, token=None) as c:
        r = await token(c, grant_type="client_credentials", client_id=DEFAULT_CLIENT_ID,
                        client_secret=DEFAULT_CLIENT_SECRET)  # fmt: skip
    assert r.json()["instance_url"] == "https://acme.my.salesforce.com.example"


# -- JWT bearer --------------------------------------------------------------------------------


@pytest.fixture
def jwt_sim(make: Make, key: rsa.RSAPrivateKey) -> SalesforceSimulator:
    sim = make(jwt_audiences=["https://community.example.com"])
    sim.add_app("jwt-app", "jwt-secret", certificate=certificate(key),
                preauthorized=["svc@acme.example"])  # fmt: skip
    return sim


def claims(clock: Any, **overrides: Any) -> dict[str, Any]:
    base = {"iss": "jwt-app", "sub": "svc@acme.example", "aud": "https://login.salesforce.com",
            "exp": f"{clock.now + 170:.0f}"}  # fmt: skip
    base.update(overrides)
    return base


async def test_jwt_bearer_issues_a_session_without_refresh_token(
    jwt_sim: SalesforceSimulator, connect: Connect, key: rsa.RSAPrivateKey, clock: Any
) -> None:
    async with connect(jwt_sim, token=None) as c:
        r = await token(c, grant_type=JWT, assertion=assertion(key, claims(clock)))
        site = await token(
            c,
            grant_type=JWT,
            assertion=assertion(
                key, claims(clock, aud="https://community.example.com/", exp=int(clock.now + 60))
            ),
        )
        body = r.json()
        api = await c.get(
            f"{V}/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
    assert r.status_code == 200 and site.status_code == 200
    assert "refresh_token" not in body
    assert body["id"].endswith(jwt_sim.org.users["svc@acme.example"])
    assert api.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"aud": "https://acme.my.salesforce.com"}, "invalid_grant", "Audience validation failed"),
        ({"sub": "stranger@acme.example"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"exp": "EXPIRED"}, "invalid_grant", "expired authorization code"),
        ({"exp": "TOO_FAR"}, "invalid_grant", "invalid assertion"),
        ({"exp": None}, "invalid_grant", "invalid assertion"),
        ({"iss": "unknown-app"}, "invalid_client_id", "client identifier invalid"),
    ],
)
async def test_jwt_bearer_refusals(
    jwt_sim: SalesforceSimulator, connect: Connect, key: rsa.RSAPrivateKey, clock: Any,
    overrides: dict[str, Any], error: str, description: str,
) -> None:  # fmt: skip
    exp = {"EXPIRED": clock.now - 60, "TOO_FAR": clock.now + 3600}
    if overrides.get("exp") in exp:
        overrides = {**overrides, "exp": exp[overrides["exp"]]}
    payload = {k: v for k, v in claims(clock, **overrides).items() if v is not None}
    async with connect(jwt_sim, token=None) as c:
        r = await token(c, grant_type=JWT, assertion=assertion(key, payload))
    assert_oauth_error(r, error, description)


async def test_jwt_bearer_checks_the_signature(
    jwt_sim: SalesforceSimulator, connect: Connect, key: rsa.RSAPrivateKey, clock: Any
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = assertion(key, claims(clock))
    head, _, sig = good.split(".")
    tampered = b64(json.dumps(claims(clock, sub="admin@acme.example")).encode())
    async with connect(jwt_sim, token=None) as c:
        forged = await token(c, grant_type=JWT, assertion=assertion(other, claims(clock)))
        swapped = await token(c, grant_type=JWT, assertion=f"{head}.{tampered}.{sig}")
        hs256 = await token(c, grant_type=JWT, assertion=assertion(key, claims(clock), alg="HS256"))
        garbage = await token(c, grant_type=JWT, assertion="not-a-jwt")
    for r in (forged, swapped, hs256, garbage):
        assert_oauth_error(r, "invalid_grant", "invalid assertion")


async def test_jwt_bearer_accepts_a_bare_public_key(
    make: Make, connect: Connect, key: rsa.RSAPrivateKey, clock: Any
) -> None:
    sim = make()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    sim.add_app("jwt-app", "s", certificate=pem, preauthorized=["svc@acme.example"])
    async with connect(sim, token=None) as c:
        r = await token(c, grant_type=JWT, assertion=assertion(key, claims(clock)))
    assert r.status_code == 200


# -- refresh tokens ----------------------------------------------------------------------------


async def test_refresh_without_rotation_keeps_the_token(
    sim: SalesforceSimulator, connect: Connect
) -> None:
    refresh = sim.issue_refresh_token(DEFAULT_CLIENT_ID)
    async with connect(sim, token=None) as c:
        first = await token(c, grant_type="refresh_token", client_id=DEFAULT_CLIENT_ID,
                            client_secret=DEFAULT_CLIENT_SECRET, refresh_token=refresh)  # fmt: skip
        second = await token(c, grant_type="refresh_token", client_id=DEFAULT_CLIENT_ID,
                             client_secret=DEFAULT_CLIENT_SECRET, refresh_token=refresh)  # fmt: skip
        no_secret = await token(c, grant_type="refresh_token", client_id=DEFAULT_CLIENT_ID,
                                refresh_token=refresh)  # fmt: skip
        bogus = await token(c, grant_type="refresh_token", client_id=DEFAULT_CLIENT_ID,
                            client_secret=DEFAULT_CLIENT_SECRET, refresh_token="5Aepnope")  # fmt: skip
    assert first.status_code == second.status_code == 200
    assert "refresh_token" not in first.json()
    assert first.json()["access_token"] != second.json()["access_token"]
    assert_oauth_error(no_secret, "invalid_client", "invalid client credentials")
    assert_oauth_error(bogus, "invalid_grant", "expired access/refresh token")


async def test_refresh_with_rotation_invalidates_the_old_token(
    sim: SalesforceSimulator, connect: Connect
) -> None:
    sim.add_app(
        "rotating", "r-secret", rotate_refresh_tokens=True, require_secret_for_refresh=False
    )
    old = sim.issue_refresh_token("rotating", "person@acme.example")
    async with connect(sim, token=None) as c:
        r = await token(c, grant_type="refresh_token", client_id="rotating", refresh_token=old)
        new = r.json()["refresh_token"]
        reuse = await token(c, grant_type="refresh_token", client_id="rotating", refresh_token=old)
        again = await token(c, grant_type="refresh_token", client_id="rotating", refresh_token=new)
        other_app = await token(c, grant_type="refresh_token", client_id=DEFAULT_CLIENT_ID,
                                client_secret=DEFAULT_CLIENT_SECRET,
                                refresh_token=again.json()["refresh_token"])  # fmt: skip
    assert r.status_code == 200 and new != old and new.startswith("5Aep")
    assert_oauth_error(reuse, "invalid_grant", "expired access/refresh token")
    assert again.status_code == 200 and again.json()["refresh_token"] != new
    assert_oauth_error(other_app, "invalid_grant", "expired access/refresh token")


async def test_a_refreshed_session_outlives_an_expired_one(
    make: Make, connect: Connect, clock: Any
) -> None:
    sim = make(session_lifetime=60)
    refresh = sim.issue_refresh_token(DEFAULT_CLIENT_ID)
    async with connect(sim, token=None) as c:
        form = {"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET, "refresh_token": refresh}  # fmt: skip
        access = (await c.post(TOKEN_PATH, data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {access}"}
        assert (await c.get(f"{V}/limits", headers=auth)).status_code == 200
        clock.now += 61
        expired = await c.get(f"{V}/limits", headers=auth)
        access = (await c.post(TOKEN_PATH, data=form)).json()["access_token"]
        fresh = await c.get(f"{V}/limits", headers={"Authorization": f"Bearer {access}"})
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert fresh.status_code == 200
