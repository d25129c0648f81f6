from __future__ import annotations

import httpx
import pytest

from segsync.errors import AuthError, FatalError, RetryableError
from segsync.http import classify_response, platform_message, redact_url


def response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("POST", "https://api.test/3.0/lists/abc/members?email=a%40b.test")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


def test_success_passes() -> None:
    classify_response(response(200))
    classify_response(response(204))
    classify_response(response(302))


@pytest.mark.parametrize("status", [423, 429, 500, 502, 503, 504])
def test_retryable(status: int) -> None:
    with pytest.raises(RetryableError) as info:
        classify_response(response(status, headers={"Retry-After": "7"}))
    assert info.value.retry_after == 7.0


def test_retry_hint_when_no_header() -> None:
    body = {"error": {"details": [{"quotaErrorDetails": {"retryDelay": "60s"}}]}}
    with pytest.raises(RetryableError) as info:
        classify_response(response(429, json=body), retry_hint=lambda r: 60.0)
    assert info.value.retry_after == 60.0


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthError), (403, AuthError), (400, FatalError), (404, FatalError), (422, FatalError)],
)
def test_fatal(status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind):
        classify_response(response(status))


def test_message_has_method_path_status_and_platform_message_only() -> None:
    with pytest.raises(FatalError) as info:
        classify_response(
            response(400, json={"title": "Invalid Resource", "detail": "Bad merge field"})
        )
    assert str(info.value) == "POST /3.0/lists/abc/members → 400 Bad Request: Bad merge field"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "m"}, "m"),
        ([{"message": "Session expired", "errorCode": "INVALID_SESSION_ID"}], "Session expired"),
        ({"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}, "Quota"),
        ({"error": "invalid_grant"}, "invalid_grant"),
        ({"nothing": 1}, None),
    ],
)
def test_platform_message(body: object, expected: str | None) -> None:
    assert platform_message(response(400, json=body)) == expected


def test_platform_message_is_short_and_tolerates_non_json() -> None:
    assert len(platform_message(response(400, json={"message": "x" * 1000})) or "") == 200
    assert platform_message(response(500, text="<html>oops</html>")) is None


def test_redact_url() -> None:
    assert redact_url("/contacts/jo@ex.test?idProperty=email&x=1") == "/contacts/…?idProperty=…&x=…"
    assert redact_url("https://h.test/a", {"email": "jo@ex.test"}) == "/a?email=…"
