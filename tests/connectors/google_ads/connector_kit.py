"""Shared set-up for the Google Ads connector tests: a simulator with the sandbox's accounts
and OAuth client, the connector's settings to reach it, and who is on a list (by email)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segsync.connector import AudienceSpec, ConnectorContext, Member, Purpose
from segsync.connectors.google_ads.connector import GoogleAdsConnector
from segsync.connectors.google_ads.settings import GoogleAdsSettings
from segsync.connectors.google_ads.simulator import DataManagerSimulator
from segsync.model.identity import ad_email
from segsync.testing.conformance import FaultTransport

CLIENT_ID = "segsync-test.apps.googleusercontent.com"
CLIENT_SECRET = "client-secret-5f2a"
REFRESH = "1//refresh-token-canary-77c1"
PROJECT = "segsync-test"
ACCOUNT, MANAGER = "1234567890", "5555555555"
USER = "uploader@example.com"
BASE = "http://datamanager.test"
GRANTED = {Purpose.AD_USER_DATA: True, Purpose.AD_PERSONALIZATION: True}


def simulator(**kwargs: Any) -> DataManagerSimulator:
    """A Data Manager API simulator with a project, a manager account USER belongs to, the
    operating account under it, and an OAuth client whose refresh token REFRESH is USER's."""
    kwargs.setdefault("processing_polls", 0)
    sim = DataManagerSimulator(**kwargs)
    sim.add_project(PROJECT)
    sim.add_account(MANAGER, users=[USER])
    sim.add_account(ACCOUNT, manager_id=MANAGER)
    sim.add_oauth_client(CLIENT_ID, CLIENT_SECRET, PROJECT)
    sim.add_refresh_token(REFRESH, client_id=CLIENT_ID, principal=USER)
    return sim


def settings(refresh_token: str = REFRESH, **extra: Any) -> dict[str, Any]:
    return {
        "operating_account_id": ACCOUNT,
        "login_account_id": MANAGER,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": refresh_token,
        "quota_project": PROJECT,
        "base_url": BASE,
        "token_uri": f"{BASE}/token",
        **extra,
    }


def connector(
    sim: DataManagerSimulator,
    tmp_path: Path,
    transport: Any = None,
    **extra: Any,
) -> GoogleAdsConnector:
    values = settings(**extra)
    context = ConnectorContext(
        instance="gads",
        base_dir=tmp_path,
        work_dir=tmp_path / "work",
        transport=transport or FaultTransport(sim.transport()),
    )
    return GoogleAdsConnector(GoogleAdsSettings(**values), context)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def member(email: str, phone: str | None = None, **consent: bool | None) -> Member:
    granted: dict[Purpose, bool | None] = dict(GRANTED)
    granted.update({Purpose(k): v for k, v in consent.items()})
    return Member(key=email, profile_key=f"k-{email}", email=email, phone=phone, consent=granted)


def list_id(sim: DataManagerSimulator, name: str) -> str:
    (found,) = [x["id"] for x in sim.state()["lists"] if x["display_name"] == name]
    return str(found)


def emails_on(sim: DataManagerSimulator, list_id: str, candidates: Iterable[str]) -> set[str]:
    """Which of ``candidates`` (raw emails) are on the list, by the digest of their normalised
    form; raises if the list holds a member none of them explains."""
    by_digest = {digest(ad_email(e) or e): e for e in candidates}
    found: set[str] = set()
    for m in sim.list_members(list_id):
        known = [by_digest[d] for d in m["identifiers"] if d in by_digest]
        assert known, "a member of the list is none of the candidates"
        found.add(known[0])
    return found


def spec(name: str = "segsync: VIP") -> AudienceSpec:
    return AudienceSpec(sync="vip", name=name, kind="customer_match")
