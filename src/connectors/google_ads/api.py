"""The Data Manager API's HTTP dialect: what its answers mean, and the paths it serves.

Everything generic (pacing, retries) is :mod:`segsync.http`; this module only says what
Google means (reference §4.7, §4.8). Errors are ``{"error": google.rpc.Status}`` with an
``ErrorInfo`` (``reason``, ``metadata``) and ``BadRequest.fieldViolations`` in ``details``:

* 429 ``RESOURCE_EXHAUSTED`` naming a ``…PerDayPerProject`` quota → :class:`QuotaError` (the
  day's quota is used up: the sync stops as deferred); a per-minute one → retried, after
  :data:`MINUTE_PAUSE` unless Google says when;
* 401 → :class:`AuthError`; 403 → :class:`AuthError` saying what to fix (API not enabled in
  the project, project not allowlisted, the credential not a user of the account);
* 400 → :class:`FatalError` listing the first field violations (``field: REASON``). Google
  validates a whole request first and fails it for one bad member (fast-fail): segsync then
  splits the batch to isolate the member;
* 404 → :class:`FatalError` with status 404.

Messages never carry identifiers: quoted values and anything that looks like a hash are cut
out of Google's descriptions before they reach an error or a log.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from segsync.errors import AuthError, FatalError, QuotaError
from segsync.http import classify_response

__all__ = [
    "INGEST",
    "MINUTE_PAUSE",
    "REMOVE",
    "REQUEST_STATUS",
    "classify",
    "error_reason",
    "redact",
    "user_lists_path",
]

INGEST = "/v1/audienceMembers:ingest"
REMOVE = "/v1/audienceMembers:remove"
REQUEST_STATUS = "/v1/requestStatus:retrieve"
MINUTE_PAUSE = 10.0
"""Seconds to wait after a per-minute 429 that says nothing about when to come back
(inferred: Google sends no ``Retry-After``; its minute windows are short)."""
_VIOLATIONS_SHOWN = 3
_QUOTED = re.compile(r"\"[^\"]{12,}\"|'[^']{12,}'")
_HASHLIKE = re.compile(r"[0-9a-fA-F]{24,}|[A-Za-z0-9+/]{32,}={0,2}")


def user_lists_path(account_type: str, account_id: str) -> str:
    return f"/v1/accountTypes/{account_type}/accounts/{account_id}/userLists"


def redact(text: str) -> str:
    """Google's text with quoted values and hash-like runs replaced by ``…``."""
    return _HASHLIKE.sub("…", _QUOTED.sub('"…"', text))


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        d
        for d in error.get("details") or []
        if isinstance(d, dict) and str(d.get("@type", "")).endswith(f"google.rpc.{kind}")
    ]


def error_reason(response: httpx.Response) -> tuple[str | None, dict[str, str]]:
    """The ``ErrorInfo`` reason and metadata of an error answer (None, {} when absent)."""
    for info in _details(_error(response), "ErrorInfo"):
        metadata = info.get("metadata")
        return str(info.get("reason")), metadata if isinstance(metadata, dict) else {}
    return None, {}


def describe(response: httpx.Response) -> str:
    """``POST /v1/audienceMembers:ingest → 400 INVALID_ARGUMENT: There was a problem with the
    request. audience_members.audience_members[3].user_data…: INVALID_HEX_ENCODING``."""
    request = response.request
    error = _error(response)
    status = error.get("status") or response.reason_phrase
    text = f"{request.method} {request.url.path} → {response.status_code} {status}".rstrip()
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        text += f": {redact(' '.join(message.split()))[:200]}"
    violations = [
        v
        for detail in _details(error, "BadRequest")
        for v in detail.get("fieldViolations") or []
        if isinstance(v, dict)
    ]
    shown = [
        f"{v.get('field') or 'request'}: {v.get('reason') or redact(str(v.get('description')))}"
        for v in violations[:_VIOLATIONS_SHOWN]
    ]
    if shown:
        more = len(violations) - len(shown)
        text += " (" + "; ".join(shown) + (f"; and {more} more" if more > 0 else "") + ")"
    return text


_FORBIDDEN = {
    "SERVICE_DISABLED": "enable the Data Manager API in the Cloud project ({where})",
    "USER_PROJECT_DENIED": (
        "the credential may not use quota_project {where}: grant it the Service Usage "
        "Consumer role there, or set quota_project to its own project"
    ),
    "NOT_ALLOWLISTED": "the Cloud project is not allowed to use the Data Manager API yet",
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": (
        "the credential was granted without the https://www.googleapis.com/auth/datamanager "
        "scope: authorise it again with that scope"
    ),
    "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH": (
        "login_account_id is not a manager of operating_account_id: check both ids"
    ),
    "PERMISSION_DENIED": (
        "the credential's Google account is not a user of operating_account_id (or of "
        "login_account_id, when it reaches the account through a manager)"
    ),
}


def classify(response: httpx.Response) -> None:
    """Raise the segsync error a failed Data Manager API answer means; return for a success."""
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        _, metadata = error_reason(response)
        limit = metadata.get("quota_limit", "")
        if "PerDay" in limit:
            raise QuotaError(
                f"{describe(response)} — the Cloud project's daily quota ({limit}) is used up; "
                "it resets at midnight Pacific time and the pending changes go out on a later "
                "run",
                status=status,
            )
        classify_response(response, retry_hint=lambda _: MINUTE_PAUSE)
    if status in (401, 403):
        reason, metadata = error_reason(response)
        text = describe(response)
        advice = _FORBIDDEN.get(reason or "")
        if advice:
            where = metadata.get("consumer") or metadata.get("activationUrl") or "its project"
            text += f" — {advice.format(where=where)}"
        raise AuthError(text, status=status)
    if status >= 500:
        classify_response(response)
    raise FatalError(describe(response), status=status)
