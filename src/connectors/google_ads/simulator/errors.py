"""Google API errors as the Data Manager API answers them: ``{"error": google.rpc.Status}``.

Every failure is a :class:`ApiError` raised inside a route and rendered by
:func:`error_response`::

    {"error": {"code": 400, "message": "There was a problem with the request.",
               "status": "INVALID_ARGUMENT",
               "details": [
                 {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_ARGUMENT",
                  "domain": "datamanager.googleapis.com", "metadata": {"requestId": "t-…"}},
                 {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "t-…"},
                 {"@type": "type.googleapis.com/google.rpc.BadRequest",
                  "fieldViolations": [{"field": "destinations[0].login_account.account_id",
                                       "description": "String is not a valid number.",
                                       "reason": "INVALID_NUMBER_FORMAT"}]}]}}

Validation is fast-fail: a route collects every :class:`Violation` of a request in a
:class:`Violations` and raises them together (:meth:`Violations.raise_if_any`), so nothing of
a request is applied when any part of it is invalid.

Errors raised before the API proper sees the request (JSON that does not parse into the
request message — unknown field names, wrong types, unknown enum names) look like Google's
front end's instead: a ``BadRequest`` detail only, with its ``Invalid JSON payload received.``
/ ``Invalid value at …`` text (:func:`payload_error`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.responses import Response

from segsync.testing.simulator import PlatformError

__all__ = [
    "DOMAIN",
    "JSON_CT",
    "ApiError",
    "Violation",
    "Violations",
    "error_response",
    "json_response",
    "not_found",
    "payload_error",
    "permission_denied",
]

DOMAIN = "datamanager.googleapis.com"
JSON_CT = "application/json; charset=UTF-8"
TYPE = "type.googleapis.com/google.rpc."

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
MESSAGES = {
    400: "There was a problem with the request.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    501: "Operation is not implemented, or supported, or enabled.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "The request was not completed before its deadline.",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One ``BadRequest.fieldViolations`` entry: a snake_case field path with indexes."""

    field: str
    description: str
    reason: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"field": self.field, "description": self.description}
        if self.reason is not None:
            out["reason"] = self.reason
        if not self.field:
            del out["field"]
        return out


@dataclass
class ApiError(PlatformError):
    """A failed call: HTTP ``code``, an ``ErrorInfo`` (``reason`` in ``domain`` with
    ``metadata``; none when ``reason`` is None) and field violations. Raised in a route, the
    simulator renders it with :func:`error_response`."""

    code: int
    message: str | None = None  # type: ignore[assignment]  # None: worded by the status
    reason: str | None = None
    domain: str = DOMAIN
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    request_info: bool = True  # front-end errors carry no RequestInfo
    extra_details: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        message = self.message
        super().__init__(self.code, message or MESSAGES.get(self.code, "Error"))
        self.message = message  # None: error_response words it by its status


class Violations:
    """The field violations of one request, raised together as one 400."""

    def __init__(self) -> None:
        self.items: list[Violation] = []

    def add(self, field: str, reason: str, description: str) -> None:
        self.items.append(Violation(field, description, reason))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ApiError(400, reason="INVALID_ARGUMENT", violations=list(self.items))


def payload_error(description: str, field: str = "") -> ApiError:
    """The front end's answer to a body that does not parse into the request message."""
    return ApiError(
        400,
        message=description,
        reason=None,
        violations=[Violation(field, description)],
        request_info=False,
    )


def not_found(message: str | None = None) -> ApiError:
    return ApiError(404, message=message, reason="NOT_FOUND")


def permission_denied(message: str | None = None, reason: str = "PERMISSION_DENIED") -> ApiError:
    return ApiError(403, message=message, reason=reason)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer with Google's content type (compact, as the real API's is not)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status, headers=headers, media_type=JSON_CT)


def error_response(
    err: ApiError,
    request_id: str,
    *,
    error_info_reason: Literal["status", "violation"] = "status",
) -> Response:
    """Render ``err`` as ``{"error": google.rpc.Status}``. With ``error_info_reason="violation"``
    the ErrorInfo names the first violation's reason instead of the generic one."""
    details: list[dict[str, Any]] = []
    if err.reason is not None:
        reason = err.reason
        if error_info_reason == "violation" and err.violations and err.violations[0].reason:
            reason = err.violations[0].reason
        metadata = dict(err.metadata)
        if err.domain == DOMAIN:
            metadata.setdefault("requestId", request_id)
        info: dict[str, Any] = {"@type": f"{TYPE}ErrorInfo", "reason": reason, "domain": err.domain}
        if metadata:
            info["metadata"] = metadata
        details.append(info)
    if err.request_info and err.domain == DOMAIN:
        details.append({"@type": f"{TYPE}RequestInfo", "requestId": request_id})
    if err.violations:
        details.append(
            {"@type": f"{TYPE}BadRequest", "fieldViolations": [v.to_json() for v in err.violations]}
        )
    details.extend(err.extra_details)
    status = STATUS_NAMES.get(err.code, "UNKNOWN")
    body: dict[str, Any] = {
        "code": err.code,
        "message": err.message or MESSAGES.get(err.code, status),
        "status": status,
    }
    if details:
        body["details"] = details
    return json_response({"error": body}, err.code, err.headers or None)
