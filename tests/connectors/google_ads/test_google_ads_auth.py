"""OAuth: the token endpoint's grants and Google's error bodies; bearer checks on API calls."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from gads_kit import ACCOUNT, DAY, LISTS, PROJECT, USER, client, error_info, google_error, make
from google.auth import crypt
from google.auth import jwt as google_jwt

from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.connectors.google_ads.simulator.oauth import DATAMANAGER_SCOPE, JWT_BEARER, TOKEN_URI

SA = "uploader@proj-1.iam.gserviceaccount.com"


def token_client(sim: DataManagerSimulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=sim.transport(), base_url="https://oauth2.test")


def with_user_client(sim: DataManagerSimulator, *, testing: bool = False) -> None:
    sim.add_oauth_client("client-1", "secret-1", PROJECT, testing=testing)
    sim.add_refresh_token("refresh-1", client_id="client-1", principal=USER)


def assertion(key: dict[str, str], now: float, **claims: Any) -> str:
    payload = {"iss": key["client_email"], "aud": TOKEN_URI, "scope": DATAMANAGER_SCOPE,
               "iat": int(now), "exp": int(now) + 3600, **claims}  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    signer = crypt.RSASigner.from_service_account_info(key)
    return google_jwt.encode(signer, payload).decode()


def assert_oauth_error(r: httpx.Response, status: int, error: str, description: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"error": error, "error_description": description}


# -- bearer checks -----------------------------------------------------------------------------


async def test_missing_and_unknown_tokens_are_401_with_googles_body() -> None:
    sim = make()
    async with client(sim, token=None) as c:
        r = await c.get(LISTS)
    error = google_error(r, 401, "UNAUTHENTICATED", "CREDENTIALS_MISSING")
    assert error["message"].startswith("Request is missing required authentication credential.")
    info = error_info(error)
    assert info["domain"] == "googleapis.com"
    assert info["metadata"] == {
        "service": "datamanager.googleapis.com",
        "method": "google.ads.datamanager.v1.UserListService.ListUserLists",
    }
    assert r.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    async with client(sim, token="forged") as c:
        r = await c.post("/v1/audienceMembers:ingest", json={})
    error = google_error(r, 401, "UNAUTHENTICATED", "ACCESS_TOKEN_TYPE_UNSUPPORTED")
    assert error["message"].startswith("Request had invalid authentication credentials.")
    assert error_info(error)["metadata"]["method"].endswith("IngestAudienceMembers")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    async with client(sim, token=None, headers={"Authorization": "Basic Zm9vOmJhcg=="}) as c:
        google_error(await c.get(LISTS), 401, "UNAUTHENTICATED", "ACCESS_TOKEN_TYPE_UNSUPPORTED")


async def test_tokens_expire_and_scope_is_checked() -> None:
    sim = make()
    sim.add_access_token("short", principal=USER, project=PROJECT, expires_in=60)
    sim.add_access_token("ads-only", principal=USER, project=PROJECT,
                         scopes=("https://www.googleapis.com/auth/adwords",))  # fmt: skip
    async with client(sim, token="short") as c:
        assert (await c.get(LISTS)).status_code == 200
        sim.advance(60)
        google_error(await c.get(LISTS), 401, "UNAUTHENTICATED", "ACCESS_TOKEN_EXPIRED")
    async with client(sim, token="ads-only") as c:
        r = await c.get(LISTS)
    google_error(r, 403, "PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_quota_project_checks() -> None:
    sim = make()
    async with client(sim, headers={"x-goog-user-project": "unknown"}) as c:
        google_error(await c.get(LISTS), 403, "PERMISSION_DENIED", "USER_PROJECT_DENIED")
    sim.add_project("disabled", number=777, api_enabled=False)
    async with client(sim, headers={"x-goog-user-project": "disabled"}) as c:
        r = await c.get(LISTS)
    error = google_error(r, 403, "PERMISSION_DENIED", "SERVICE_DISABLED")
    info = error_info(error)
    assert info["domain"] == "googleapis.com"
    assert info["metadata"]["consumer"] == "projects/777"
    assert info["metadata"]["activationUrl"].endswith(
        "datamanager.googleapis.com/overview?project=777"
    )
    assert "has not been used in project 777" in error["message"]
    sim.add_project("beta", allowlisted=False)
    async with client(sim, headers={"x-goog-user-project": "beta"}) as c:
        google_error(await c.get(LISTS), 403, "PERMISSION_DENIED", "NOT_ALLOWLISTED")
    other = make(not_allowlisted_status=400)
    other.add_project("beta", allowlisted=False)
    async with client(other, headers={"x-goog-user-project": "beta"}) as c:
        google_error(await c.get(LISTS), 400, "INVALID_ARGUMENT", "NOT_ALLOWLISTED")


async def test_anonymous_access_when_allowed() -> None:
    strict = make()
    async with client(strict, token=None) as c:
        assert (await c.get(LISTS)).status_code == 401
    open_sim = make(allow_anonymous=True, enforce_access=False)
    async with client(open_sim, token=None) as c:
        assert (await c.get(LISTS)).status_code == 200
    assert "anonymous" in open_sim.state()["quota"]


# -- the refresh-token grant -------------------------------------------------------------------


async def test_refresh_grant_issues_a_working_access_token() -> None:
    sim = make()
    with_user_client(sim)
    async with token_client(sim) as t:
        r = await t.post("/token", data={"grant_type": "refresh_token", "refresh_token": "refresh-1",
                                         "client_id": "client-1", "client_secret": "secret-1"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["scope"] == DATAMANAGER_SCOPE and body["access_token"].startswith("ya29.")
    assert r.headers["cache-control"].startswith("no-cache")
    async with client(sim, token=body["access_token"]) as c:
        assert (await c.get(LISTS)).status_code == 200
        sim.advance(3599)
        google_error(await c.get(LISTS), 401, "UNAUTHENTICATED", "ACCESS_TOKEN_EXPIRED")


async def test_refresh_grant_errors() -> None:
    sim = make()
    with_user_client(sim)
    form = {"grant_type": "refresh_token", "refresh_token": "refresh-1", "client_id": "client-1",
            "client_secret": "secret-1"}  # fmt: skip
    async with token_client(sim) as t:
        r = await t.post("/token", data={**form, "client_secret": "wrong"})
        assert_oauth_error(r, 401, "invalid_client", "Unauthorized")
        r = await t.post("/token", data={**form, "client_id": "nobody"})
        assert_oauth_error(r, 401, "invalid_client", "The OAuth client was not found.")
        r = await t.post("/token", data={**form, "refresh_token": "made-up"})
        assert_oauth_error(r, 400, "invalid_grant", "Token has been expired or revoked.")
        r = await t.post("/token", data={k: v for k, v in form.items() if k != "refresh_token"})
        assert_oauth_error(r, 400, "invalid_request", "Missing required parameter: refresh_token")
        r = await t.post("/token", data={**form, "grant_type": "password"})
        assert_oauth_error(r, 400, "unsupported_grant_type", "Invalid grant_type: password")
        # client credentials by HTTP Basic, and a JSON body, both work
        basic = base64.b64encode(b"client-1:secret-1").decode()
        r = await t.post("/token", data={"grant_type": "refresh_token", "refresh_token": "refresh-1"},
                         headers={"Authorization": f"Basic {basic}"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert (await t.post("/token", json=form)).status_code == 200
        sim.oauth.revoke("refresh-1")
        r = await t.post("/token", data=form)
        assert_oauth_error(r, 400, "invalid_grant", "Token has been expired or revoked.")


async def test_testing_apps_refresh_tokens_expire_after_seven_days() -> None:
    sim = make()
    with_user_client(sim, testing=True)
    form = {"grant_type": "refresh_token", "refresh_token": "refresh-1", "client_id": "client-1",
            "client_secret": "secret-1"}  # fmt: skip
    async with token_client(sim) as t:
        sim.advance(7 * DAY - 1)
        assert (await t.post("/token", data=form)).status_code == 200
        sim.advance(1)
        r = await t.post("/token", data=form)
    assert_oauth_error(r, 400, "invalid_grant", "Token has been expired or revoked.")


# -- service accounts: the JWT-bearer grant and self-signed JWTs -------------------------------


@pytest.fixture(scope="module")
def key_pair() -> tuple[DataManagerSimulator, dict[str, str], dict[str, str]]:
    """One simulator with a registered service account (RSA keys are slow to make), and a
    second key for the same email that is not registered."""
    sim = make()
    key = sim.new_service_account(SA, PROJECT)
    rogue = make().new_service_account(SA, PROJECT)
    rogue["private_key_id"] = key["private_key_id"]
    sim.directory.grant(SA, ACCOUNT)
    return sim, key, rogue


async def test_jwt_bearer_grant(
    key_pair: tuple[DataManagerSimulator, dict[str, str], dict[str, str]],
) -> None:
    sim, key, _ = key_pair
    assert key["type"] == "service_account" and key["client_email"] == SA
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    async with token_client(sim) as t:
        r = await t.post("/token", data={"grant_type": JWT_BEARER,
                                         "assertion": assertion(key, sim.now())})  # fmt: skip
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"access_token", "expires_in", "token_type"}
    async with client(sim, token=r.json()["access_token"]) as c:
        assert (await c.get(LISTS)).status_code == 200
    assert sim.requests[-1].credential == PROJECT  # quota charged to the account's project


async def test_jwt_bearer_grant_errors(
    key_pair: tuple[DataManagerSimulator, dict[str, str], dict[str, str]],
) -> None:
    sim, key, rogue = key_pair
    now = sim.now()
    short = (
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
        "timeframe. Check your iat and exp values in the JWT claim."
    )
    cases = [
        (assertion(key, now, aud="https://example.com/token"), "invalid_grant",
         f"Invalid JWT: Failed audience check. The right audience is {TOKEN_URI}"),
        (assertion(rogue, now), "invalid_grant", "Invalid JWT Signature."),
        (assertion(key, now, iss="nobody@x.iam.gserviceaccount.com"), "invalid_grant",
         "Invalid grant: account not found"),
        (assertion(key, now, exp=int(now) + 7200), "invalid_grant", short),
        (assertion(key, now - 7200), "invalid_grant", short),  # expired
        (assertion(key, now + 3600), "invalid_grant", short),  # issued in the future
        (assertion(key, now, scope=None), "invalid_scope",
         "Invalid OAuth scope or ID token audience provided."),
        ("not.a.jwt", "invalid_grant", "Invalid JWT Signature."),
    ]  # fmt: skip
    async with token_client(sim) as t:
        for jwt, error, description in cases:
            r = await t.post("/token", data={"grant_type": JWT_BEARER, "assertion": jwt})
            assert_oauth_error(r, 400, error, description)
        r = await t.post("/token", data={"grant_type": JWT_BEARER})
        assert_oauth_error(r, 400, "invalid_request", "Missing required parameter: assertion")


async def test_self_signed_jwts_are_bearer_tokens(
    key_pair: tuple[DataManagerSimulator, dict[str, str], dict[str, str]],
) -> None:
    sim, key, rogue = key_pair
    now = sim.now()
    by_audience = assertion(key, now, aud="https://datamanager.googleapis.com/", scope=None)
    by_scope = assertion(key, now, aud=None)
    for token in (by_audience, by_scope):
        async with client(sim, token=token) as c:
            assert (await c.get(LISTS)).status_code == 200, token
    for token, reason in (
        (assertion(rogue, now, aud=None), "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        (assertion(key, now, aud="https://other.googleapis.com/", scope=None),
         "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        (assertion(key, now - 4000, aud=None), "ACCESS_TOKEN_EXPIRED"),
    ):  # fmt: skip
        async with client(sim, token=token) as c:
            google_error(await c.get(LISTS), 401, "UNAUTHENTICATED", reason)


def test_a_service_account_key_points_at_google_until_served(
    key_pair: tuple[DataManagerSimulator, dict[str, str], dict[str, str]],
) -> None:
    _, key, _ = key_pair
    assert key["token_uri"] == TOKEN_URI
    assert key["project_id"] == PROJECT and len(key["private_key_id"]) == 40
