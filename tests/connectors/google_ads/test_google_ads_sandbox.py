"""Sandbox hooks: seeding the Google users from segsync's synthetic audience, the credentials
and settings a config needs, and the inspection helpers."""

from __future__ import annotations

import json

import httpx

from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.model.identity import hashed_email, hashed_phone
from segsync.sandbox.serve import DEFAULT_TOKEN, sandbox_audience


async def test_a_config_can_reach_the_sandbox_with_what_it_announces() -> None:
    audience = sandbox_audience(seed=7, contacts=400)
    sim = DataManagerSimulator(seed=7, processing_polls=0)
    sim.seed_contacts(audience)
    with sim.serve() as served:
        creds = sim.credentials_for_sandbox()
        settings = sim.sandbox_settings()
        assert creds["token_uri"] == f"{served.base_url}/token"
        assert set(settings) == {"account_type", "operating_account_id", "login_account_id",
                                 "quota_project"}  # fmt: skip
        async with httpx.AsyncClient(base_url=served.base_url) as c:
            r = await c.post(creds["token_uri"], data={
                "grant_type": "refresh_token", "refresh_token": creds["refresh_token"],
                "client_id": creds["client_id"], "client_secret": creds["client_secret"]})  # fmt: skip
            assert r.status_code == 200, r.text
            headers = {
                "Authorization": f"Bearer {r.json()['access_token']}",
                "x-goog-user-project": settings["quota_project"],
                "login-account": f"accountTypes/GOOGLE_ADS/accounts/{settings['login_account_id']}",
            }
            account = settings["operating_account_id"]
            lists = f"/v1/accountTypes/GOOGLE_ADS/accounts/{account}/userLists"
            r = await c.post(lists, headers=headers, json={
                "displayName": "segsync: everyone",
                "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"]}})  # fmt: skip
            assert r.status_code == 200, r.text
            list_id = r.json()["id"]
            members = []
            for row in audience:
                ids = [{"emailAddress": h} for h in [hashed_email(row["email"])] if h]
                ids += [
                    {"phoneNumber": h} for h in [hashed_phone(row["phone"], row["country"])] if h
                ]
                if ids:
                    members.append({"userData": {"userIdentifiers": ids}})
            login = {
                "accountType": settings["account_type"],
                "accountId": settings["login_account_id"],
            }
            body = {
                "destinations": [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": account},
                                  "loginAccount": login, "productDestinationId": list_id}],
                "audienceMembers": members,
                "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
                "encoding": "HEX",
                "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
            }  # fmt: skip
            r = await c.post("/v1/audienceMembers:ingest", headers=headers, json=body)
            assert r.status_code == 200, r.text
            got = (await c.get(f"{lists}/{list_id}", headers=headers)).json()
            state = (await c.get("/_sim/state")).json()
    rate = got["ingestedUserListInfo"]["contactIdInfo"]["matchRatePercentage"]
    assert 50 <= rate <= 70  # a realistic Customer Match rate, the same on every run
    size = int(got["sizeInfo"]["displayNetworkMembersCount"])
    assert size == state["google_users"]  # every seeded user was uploaded and matched
    assert state["lists"][0]["match_rate"] == rate


def test_sandbox_hooks_are_idempotent_and_announce_no_secrets_beyond_test_ones() -> None:
    sim = DataManagerSimulator()
    first = sim.credentials_for_sandbox()
    assert sim.credentials_for_sandbox() == first
    assert first["token_uri"] == "/token"  # not served yet
    assert sim.sandbox_settings()["operating_account_id"] == "1234567890"
    state = sim.state()
    assert state["accounts"]["1234567890"]["manager_id"] == "5555555555"
    json.dumps(state)  # JSON-ready, for /_sim/state


async def test_add_credential_is_a_static_token_for_the_sandbox_user() -> None:
    sim = DataManagerSimulator()
    sim.ensure_sandbox()
    sim.add_credential(DEFAULT_TOKEN)
    assert "default" in sim.state()["projects"]
    headers = {
        "Authorization": f"Bearer {DEFAULT_TOKEN}",
        "login-account": "accountTypes/GOOGLE_ADS/accounts/5555555555",
    }
    async with sim.client(headers=headers) as c:
        r = await c.get("/v1/accountTypes/GOOGLE_ADS/accounts/1234567890/userLists")
    assert r.status_code == 200, r.text


def test_state_holds_no_identifiers() -> None:
    sim = DataManagerSimulator(processing_polls=0)
    sim.seed_contacts([{"email": "secret.person@example.com", "country": "US"}] * 3)
    text = json.dumps(sim.state())
    assert "secret" not in text and "example.com" not in text
