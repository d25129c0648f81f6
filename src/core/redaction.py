"""Keeping secrets out of text: URL credentials (``https://user:secret@host``) are redacted
from every log line, message and report segsync writes."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "redact"]

# scheme://userinfo@ — userinfo has no '/', '@' or whitespace
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


class RedactingFilter(logging.Filter):
    """Redacts URL credentials from a record's message (its arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
