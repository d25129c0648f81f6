"""What every REST resource of the simulator shares: the error envelope, JSON answers, versions.

REST errors are a JSON **array** ``[{"message", "errorCode", "fields"?}]`` (OAuth errors are
not: see :mod:`.oauth`); answers are ``application/json;charset=UTF-8``. API versions are
``vNN.N`` path segments; :func:`release_label` names a version's release (``68.0`` → Winter '27).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import PlatformError

__all__ = [
    "JSON_CT",
    "NOT_FOUND",
    "ApiError",
    "Handler",
    "json_response",
    "parse_version",
    "release_label",
]

JSON_CT = "application/json;charset=UTF-8"
NOT_FOUND = "The requested resource does not exist"
#: a REST resource handler: (request, API version such as "66.0") → response
Handler = Callable[[Request, str], Awaitable[Response]]
_VERSION = re.compile(r"^v(\d{2,3})\.0$")


class ApiError(PlatformError):
    """An error answer: ``[{"message", "errorCode"[, "fields"]}]`` with ``status``;
    ``extra`` keys (e.g. ``duplicateResult``) are added to the error object. Raised in a
    route, the simulator renders it (:meth:`SalesforceSimulator.error_envelope`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.fields, self.extra = fields, extra or {}

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {**self.extra, "message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.body(), self.status, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(data, status, headers, media_type=JSON_CT)


def parse_version(segment: str) -> float | None:
    """``v66.0`` → 66.0; None when the segment is not a version."""
    match = _VERSION.match(segment)
    return float(match.group(1)) if match else None


def release_label(version: float) -> str:
    """The release of an API version: 66.0 is Spring '26, 67.0 Summer '26, 68.0 Winter '27."""
    step = int(version) - 66
    years, season = divmod(step, 3)
    name = ("Spring", "Summer", "Winter")[season]
    return f"{name} '{26 + years + (1 if season == 2 else 0):02d}"
