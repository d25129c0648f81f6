"""HubSpot's HTTP dialect: how its answers are classified and its rate-limit headers read.

Everything generic (pacing, retries, paging) is :mod:`segsync.http`; this module only says
what HubSpot means:

* 429 with ``policyName: DAILY`` → :class:`~segsync.errors.QuotaError` (stop until midnight in
  the account's time zone); any other 429 → retry, paced;
* 423 Locked (concurrent writes to the same records) → retry after at least 2 s;
* 477 Migration in Progress → retry after its ``Retry-After``;
* 403 → :class:`~segsync.errors.AuthError` naming the scope HubSpot says is missing;
* ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` → the pacer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from segsync.errors import AuthError, QuotaError, RetryableError
from segsync.http import classify_response, parse_retry_after
from segsync.http.classify import describe

__all__ = ["PROPERTIES", "classify", "read_limits"]

PROPERTIES = "/crm/v3/properties/contacts"
"""The contact property definitions: read by the source's mapping check, written by the
destination's property audiences."""
LOCKED_PAUSE = 2.0
"""Seconds to wait after a 423 (HubSpot: "wait at least 2 seconds")."""
MIGRATION_PAUSE = 5.0
"""Seconds to wait after a 477 that names no ``Retry-After``."""


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return {}
    return body if isinstance(body, dict) else {}


def _scopes(body: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes"):
                found += [str(s) for s in context.get(key) or []]
    return found


def classify(response: httpx.Response) -> None:
    """Raise the segsync error a failed HubSpot response means; return for a success."""
    status = response.status_code
    if status < 400:
        return
    if status == 429 and _body(response).get("policyName") == "DAILY":
        raise QuotaError(
            f"{describe(response)} — the account's daily API limit is used up; it resets at "
            "midnight in the account's time zone, and the pending changes go out on the next "
            "run after that",
            status=status,
        )
    if status == 477:
        header = response.headers.get("Retry-After")
        wait = parse_retry_after(header) if header else None
        raise RetryableError(
            describe(response), retry_after=MIGRATION_PAUSE if wait is None else wait, status=status
        )
    if status == 403:
        scopes = _scopes(_body(response))
        needed = f" (the token needs the scope {', '.join(scopes)})" if scopes else ""
        raise AuthError(f"{describe(response)}{needed}", status=status)
    classify_response(response, retry_hint=_retry_hint)


def _retry_hint(response: httpx.Response) -> float | None:
    if response.status_code == 423:
        return LOCKED_PAUSE
    return None


def read_limits(response: httpx.Response) -> tuple[int | None, int | None, float | None] | None:
    """``(limit, remaining, reset_in)`` from the burst headers; None when absent (search
    answers and most errors carry none).

    HubSpot's window *rolls*: ``Remaining`` is what is left of the last 10 s, and a slot frees
    up whenever an old request leaves the window — about every ``interval / max`` seconds at a
    steady pace, not at the end of the interval. So ``remaining`` is reported as valid for one
    such slot time: ``Remaining: 0`` pauses new starts for ~0.1 s (at 100/10 s), not 10 s,
    while the pacer's own rolling log keeps this process under the limit.
    """
    headers = response.headers
    try:
        limit = int(headers["x-hubspot-ratelimit-max"])
        remaining = int(headers["x-hubspot-ratelimit-remaining"])
        interval = int(headers.get("x-hubspot-ratelimit-interval-milliseconds", "10000")) / 1000
    except (KeyError, ValueError):
        return None
    return limit, remaining, interval / max(limit, 1)
