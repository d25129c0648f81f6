"""HubSpot's error envelope and answers: ``{status, message, correlationId, category, errors,
context, links}``, ``Content-Type: application/json;charset=utf-8``, and every answer's
``X-HubSpot-Correlation-Id``.

Routes raise :class:`HubSpotError` (:func:`bad` for a 400 ``VALIDATION_ERROR``); the
simulator renders it with :func:`answer`. 429s add ``errorType: "RATE_LIMIT"``,
``policyName`` and ``requestId``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from segsync.testing.simulator import PlatformError

__all__ = [
    "CONTENT_TYPE",
    "FAULTS",
    "UNAUTHORIZED",
    "HubSpotError",
    "answer",
    "bad",
    "error_body",
    "missing_scopes",
    "not_found",
    "rate_error",
]

CONTENT_TYPE = "application/json;charset=utf-8"
UNAUTHORIZED = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
#: injected fault statuses: (category, message)
FAULTS = {
    423: ("LOCKED", "Too many concurrent writes to the same records; retry in 2s."),
    477: ("MIGRATION_IN_PROGRESS", "This portal is being migrated; retry later."),
    502: ("BAD_GATEWAY", "The request could not be processed in time."),
}


class HubSpotError(PlatformError):
    """An error answer: ``status``, ``message``, ``category``; ``extra`` keys (``subCategory``,
    ``errors``, ``policyName``, ...) are added to the envelope."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.category, self.extra = category, extra


def bad(message: str, **extra: Any) -> HubSpotError:
    """A 400 ``VALIDATION_ERROR``."""
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def not_found(message: str) -> HubSpotError:
    return HubSpotError(404, message, "OBJECT_NOT_FOUND")


def missing_scopes(scope: str) -> HubSpotError:
    return HubSpotError(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
    )


def rate_error(policy: str, message: str, request_id: str) -> HubSpotError:
    """A 429 of the ``policy`` (``TEN_SECONDLY_ROLLING``, ``SECONDLY``, ``DAILY``)."""
    return HubSpotError(
        429, message, "RATE_LIMITS", errorType="RATE_LIMIT", policyName=policy,
        requestId=request_id,
    )  # fmt: skip


def error_body(err: HubSpotError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": err.message,
        "correlationId": "",
        "category": err.category,
        "errors": [],
        "context": {},
        "links": {},
    }
    body.update(err.extra)
    return body


def answer(
    body: Any, correlation_id: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer (``None``: no body) with the correlation id header; an error body
    (``"status": "error"``) carries the same id."""
    if isinstance(body, dict) and body.get("status") == "error":
        body["correlationId"] = correlation_id
    out = {"X-HubSpot-Correlation-Id": correlation_id, **(headers or {})}
    if body is None:
        return Response(status_code=status, headers=out)
    return Response(json.dumps(body).encode(), status_code=status, headers=out,
                    media_type=CONTENT_TYPE)  # fmt: skip
