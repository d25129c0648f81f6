"""Shared set-up for the Data Manager API simulator tests: accounts, clients, request bodies."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from segsync.connectors.google_ads.simulator import DataManagerSimulator

MANAGER = "5555555555"
ACCOUNT = "1234567890"
OTHER = "2222222222"  # an account USER cannot reach
USER = "me@example.com"
PROJECT = "proj-1"
TOKEN = "token-1"
JAN_1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
LISTS = f"/v1/accountTypes/GOOGLE_ADS/accounts/{ACCOUNT}/userLists"
ALT = {"$alt": "json;enum-encoding=int"}  # what the official client appends
DAY = 86400


class WallClock:
    def __init__(self, now: float = JAN_1) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> DataManagerSimulator:
    """A simulator with a project, a manager, an operating account USER reaches (directly and
    through the manager), another account, and TOKEN for USER on PROJECT."""
    kwargs.setdefault("wall_clock", WallClock())
    sim = DataManagerSimulator(**kwargs)
    sim.add_project(PROJECT)
    sim.add_account(MANAGER, users=[USER])
    sim.add_account(ACCOUNT, manager_id=MANAGER, users=[USER])
    sim.add_account(OTHER, users=["someone@else.com"])
    sim.add_access_token(TOKEN, principal=USER, project=PROJECT)
    return sim


def client(
    sim: DataManagerSimulator, token: str | None = TOKEN, **kwargs: Any
) -> httpx.AsyncClient:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        transport=sim.transport(), base_url="https://datamanager.test", headers=headers, **kwargs
    )


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email(i: int) -> str:
    return f"user{i}@example.com"


def phone(i: int) -> str:
    return f"+1650555{i:04d}"


def member(
    *emails: str, phones: tuple[str, ...] = (), consent: dict[str, Any] | None = None
) -> dict[str, Any]:
    ids: list[dict[str, Any]] = [{"emailAddress": sha(e)} for e in emails]
    ids += [{"phoneNumber": sha(p)} for p in phones]
    out: dict[str, Any] = {"userData": {"userIdentifiers": ids}}
    if consent is not None:
        out["consent"] = consent
    return out


def destination(list_id: str, account: str = ACCOUNT, **extra: Any) -> dict[str, Any]:
    return {
        "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": account},
        "productDestinationId": list_id,
        **extra,
    }


def ingest_body(list_id: str, members: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destinations": [destination(list_id)],
        "audienceMembers": members,
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
        "encoding": "HEX",
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }
    body.update(extra)
    return body


def remove_body(list_id: str, members: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destinations": [destination(list_id)],
        "audienceMembers": members,
        "encoding": "HEX",
    }
    body.update(extra)
    return body


def list_body(name: str = "segsync: VIP", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": name,
        "membershipDuration": f"{540 * DAY}s",
        "ingestedUserListInfo": {
            "uploadKeyTypes": ["CONTACT_ID"],
            "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
        },
    }
    body.update(extra)
    return body


async def create_list(c: httpx.AsyncClient, name: str = "segsync: VIP", **extra: Any) -> str:
    r = await c.post(LISTS, json=list_body(name, **extra))
    assert r.status_code == 200, r.text
    list_id: str = r.json()["id"]
    return list_id


def google_error(
    r: httpx.Response, code: int, status: str, reason: str | None = None
) -> dict[str, Any]:
    """Assert a ``{"error": google.rpc.Status}`` answer; returns the status object."""
    assert r.status_code == code, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code and error["status"] == status, error
    assert isinstance(error["message"], str) and error["message"]
    if reason is not None:
        assert error_info(error)["reason"] == reason, error
    return error


def error_info(error: dict[str, Any]) -> dict[str, Any]:
    (info,) = [d for d in error["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return info


def violations(r: httpx.Response) -> list[dict[str, str]]:
    """The field violations of a 400 ``INVALID_ARGUMENT``."""
    error = google_error(r, 400, "INVALID_ARGUMENT")
    (bad,) = [d for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    found: list[dict[str, str]] = bad["fieldViolations"]
    return found


def reasons(r: httpx.Response) -> list[tuple[str, str]]:
    """(field, reason) of each field violation."""
    return [(v.get("field", ""), v.get("reason", "")) for v in violations(r)]
