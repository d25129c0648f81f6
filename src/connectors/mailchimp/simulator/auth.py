"""Mailchimp's credentials: API keys and OAuth tokens, and the data centre a key belongs to.

HTTP Basic with any user name and the API key as password; ``Bearer``/``OAuth`` with a
registered token works too. A key's data centre is its suffix after the last ``-``
(``…-us6``); when the request's host starts with a data centre (``us6.api.…``) and it differs
from the key's, the answer is 401 "API Key Invalid", as for an unknown key (with
``check_datacenter``); no key at all → 401 "API Key Missing".
"""

from __future__ import annotations

import base64
import binascii
import re

from starlette.requests import Request

from .errors import MailchimpError

__all__ = ["auth_failure", "key_dc", "presented_key", "unauthorized_error"]

_HOST_DC = re.compile(r"^us\d+$")
_KEY_DC = re.compile(r"^[a-z]+\d+$")


def key_dc(key: str) -> str | None:
    """The data centre an API key names (``…-us6`` → ``us6``), or None."""
    dc = key.rpartition("-")[2] if "-" in key else ""
    return dc if _KEY_DC.match(dc) else None


def presented_key(request: Request) -> str | None:
    """The key or token a request carries: None when absent, "" when unreadable."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return value if scheme in ("bearer", "oauth") else None


def auth_failure(
    request: Request, credentials: dict[str, str], *, check_datacenter: bool
) -> str | None:
    """Why a request is refused ("missing" or "invalid"), or None."""
    key = presented_key(request)
    if not key:
        return "missing" if key is None else "invalid"
    if key not in credentials:
        return "invalid"
    host_dc, dc = (request.url.hostname or "").split(".")[0].lower(), key_dc(key)
    if check_datacenter and _HOST_DC.match(host_dc) and dc and dc != host_dc:
        return "invalid"
    return None


def unauthorized_error(failure: str | None) -> MailchimpError:
    if failure == "missing":
        return MailchimpError(401, "API Key Missing", "Your request did not include an API key.")
    detail = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
    return MailchimpError(401, "API Key Invalid", detail)
