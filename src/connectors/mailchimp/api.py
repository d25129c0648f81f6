"""Mailchimp's HTTP dialect: what its answers mean.

Everything generic (pacing, retries, paging) is :mod:`segsync.http`; this module only says
what Mailchimp means. Its errors are problem documents (``application/problem+json`` with
``title`` and ``detail``), which :func:`~segsync.http.classify_response` already reads:

* 429 "You have exceeded the limit of 10 simultaneous connections" → retry (Mailchimp sends
  no ``Retry-After`` and no rate-limit headers: the pacer's concurrency cap avoids these);
* 401 → :class:`~segsync.errors.AuthError`, hinting at the key's data-centre suffix (a key
  sent to another data centre's host is refused like an invalid one);
* a *bare* 403 (no body), which Mailchimp answers under heavy load → retry; a 403 with a
  problem document → :class:`~segsync.errors.AuthError`.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import httpx

from segsync.errors import AuthError, RetryableError
from segsync.http import classify_response
from segsync.http.classify import describe

__all__ = ["classify", "list_path", "subscriber_hash"]


def list_path(list_id: str) -> str:
    """The audience's resource, ``/lists/{list_id}`` (its id quoted)."""
    return f"/lists/{quote(list_id, safe='')}"


def subscriber_hash(email: str) -> str:
    """A member's id: the MD5 of the lower-cased email address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def classify(response: httpx.Response) -> None:
    """Raise the segsync error a failed Mailchimp response means; return for a success."""
    status = response.status_code
    if status < 400:
        return
    if status == 401:
        raise AuthError(
            f"{describe(response)} (check the API key and its data-centre suffix, e.g. "
            "'…-us21', which must match the host)",
            status=status,
        )
    if status == 403 and not response.content.strip():
        raise RetryableError(
            f"{describe(response)} (a bare 403: Mailchimp under heavy load)", status=status
        )
    classify_response(response)
