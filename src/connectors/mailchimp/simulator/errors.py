"""Mailchimp's errors and limits: RFC-7807-style problem documents.

Every error is ``Content-Type: application/problem+json; charset=utf-8`` with ``{"type",
"title", "status", "detail", "instance"}``, ``instance`` equal to the ``X-Request-Id`` header
every answer carries, and a ``Link: <…/ProblemDetailDocument.json>; rel="describedBy"``
header; 400 "Invalid Resource" answers add ``errors[{field, message}]`` (with
``validation_field_errors``). Routes raise :class:`MailchimpError` (:func:`invalid`,
:func:`invalid_fields`, :func:`not_found`).

Limits and faults: ``concurrency`` simultaneous requests per account → 429 "You have exceeded
the limit of 10 simultaneous connections."; no rate-limit headers, no ``Retry-After``. An
injected 403 is bare (no body, as seen under heavy load); other injected statuses are problem
documents (:data:`FAULTS`).
"""

from __future__ import annotations

import json

from starlette.responses import Response

from segsync.testing.simulator import PlatformError

__all__ = [
    "BLANK",
    "ERRORS_DOC",
    "FAULTS",
    "INVALID",
    "PROBLEM_CT",
    "MailchimpError",
    "invalid",
    "invalid_fields",
    "not_found",
    "problem",
]

ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_CT = "application/problem+json; charset=utf-8"
INVALID = (
    "The resource submitted could not be validated. For field-specific details, "
    "see the 'errors' array."
)
BLANK = "This value should not be blank."
#: injected fault statuses: (title, detail)
FAULTS = {
    500: ("Internal Server Error", "An unexpected internal error has occurred. "
          "Please contact Support for more information."),
    502: ("Bad Gateway", "The server received an invalid response from upstream."),
    503: ("Service Unavailable", "This method has been disabled."),
}  # fmt: skip


class MailchimpError(PlatformError):
    """A problem document: ``status``, ``title``, ``detail`` (the ``message``) and, for
    validation errors, ``errors[{field, message}]``."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(status, detail)
        self.title, self.detail, self.errors = title, detail, errors


def invalid(detail: str, field: str | None = None, message: str | None = None) -> MailchimpError:
    """400 "Invalid Resource" (with one field error when ``field`` is given)."""
    errors = None if field is None else [{"field": field, "message": message or detail}]
    return MailchimpError(400, "Invalid Resource", detail, errors)


def invalid_fields(errors: list[dict[str, str]]) -> MailchimpError:
    return MailchimpError(400, "Invalid Resource", INVALID, errors)


def not_found() -> MailchimpError:
    return MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")


def problem(err: MailchimpError, request_id: str, base: str, *, field_errors: bool) -> Response:
    """The problem document for ``err`` (``base``: the API host, for the schema link)."""
    body: dict[str, object] = {"type": ERRORS_DOC, "title": err.title, "status": err.status,
                               "detail": err.detail, "instance": request_id}  # fmt: skip
    if err.errors is not None and field_errors:
        body["errors"] = err.errors
    schema = f"{base}/schema/3.0/Definitions/ProblemDetailDocument.json"
    headers = {"X-Request-Id": request_id, "Link": f'<{schema}>; rel="describedBy"'}
    return Response(json.dumps(body).encode(), err.status, headers, media_type=PROBLEM_CT)
