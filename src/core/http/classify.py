"""Turn an HTTP response into nothing (success) or a classified :mod:`segsync.errors` error.

Classification is the only thing a connector decides about a failed response; what to do
about it (retry, pace, give up) lives in :mod:`segsync.http.retry` and
:mod:`segsync.http.pacing`.

Error messages carry the method, the path (query string dropped, path segments that look
like an email address replaced by ``…``), the status and a short message from the platform's
JSON body. Never headers, never the request body, never secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from segsync.errors import AuthError, FatalError, RetryableError

from .retry import parse_retry_after

__all__ = ["RETRYABLE_STATUSES", "classify_response", "platform_message", "redact_url"]

RETRYABLE_STATUSES = frozenset({423, 429})
"""Client-error statuses worth retrying (every 5xx is retryable too)."""

_MESSAGE_KEYS = ("message", "detail", "error_description", "error", "title")
_MAX_MESSAGE = 200
_EMAILISH = re.compile(r"[^/]*@[^/]*")


def redact_url(url: httpx.URL | str, params: Any = None) -> str:
    """The path of ``url`` for logs and errors: query values replaced by ``…``.

    Path segments containing ``@`` (an email used as an id) are replaced by ``…`` too. The
    host is dropped. ``params`` (as given to httpx) are merged into the query first.
    """
    u = httpx.URL(str(url))
    if params:
        u = u.copy_merge_params(params)
    path = _EMAILISH.sub("…", u.path) or "/"
    keys = list(dict.fromkeys(key for key, _ in u.params.multi_items()))
    if keys:
        path += "?" + "&".join(f"{key}=…" for key in keys)
    return path


def _clean_path(response: httpx.Response) -> tuple[str, str]:
    try:
        request = response.request
    except RuntimeError:
        return "?", "?"
    return request.method, _EMAILISH.sub("…", request.url.path) or "/"


def _find_message(body: Any, depth: int = 0) -> str | None:
    if depth > 3:
        return None
    if isinstance(body, list) and body:
        return _find_message(body[0], depth + 1)
    if not isinstance(body, dict):
        return None
    for key in _MESSAGE_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (dict, list)):
            found = _find_message(value, depth + 1)
            if found:
                return found
    return None


def platform_message(response: httpx.Response) -> str | None:
    """A short (≤200 chars) message from a JSON error body, if it has one.

    Looks for ``message``, ``detail``, ``error_description``, ``error`` or ``title``, also
    inside a list (Salesforce) or a nested ``error`` object (Google).
    """
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return None
    message = _find_message(body)
    if message is None:
        return None
    message = " ".join(message.split())
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return message


def describe(response: httpx.Response) -> str:
    """``"GET /v3/lists → 404 Not Found: The requested resource could not be found."``."""
    method, path = _clean_path(response)
    text = f"{method} {path} → {response.status_code} {response.reason_phrase}".rstrip()
    message = platform_message(response)
    return f"{text}: {message}" if message else text


def classify_response(
    response: httpx.Response,
    *,
    retry_hint: Callable[[httpx.Response], float | None] | None = None,
) -> None:
    """Return for 1xx–3xx; raise for the rest.

    * 429, 423 and 5xx → :class:`RetryableError`, with ``retry_after`` from the
      ``Retry-After`` header or else from ``retry_hint(response)`` (a platform's body field);
    * 401, 403 → :class:`AuthError`;
    * any other 4xx → :class:`FatalError`.
    """
    status = response.status_code
    if status < 400:
        return
    if status in RETRYABLE_STATUSES or status >= 500:
        header = response.headers.get("Retry-After")
        retry_after = parse_retry_after(header) if header else None
        if retry_after is None and retry_hint is not None:
            retry_after = retry_hint(response)
        raise RetryableError(describe(response), retry_after=retry_after, status=status)
    if status in (401, 403):
        raise AuthError(describe(response), status=status)
    raise FatalError(describe(response), status=status)
