"""Identifier normalisation: how two records are recognised as the same person."""

from __future__ import annotations

import phonenumbers

__all__ = ["normalize_email", "normalize_phone"]


def normalize_email(raw: object) -> str | None:
    """Trim and lower-case an email address; None when empty or without a single '@'."""
    if raw is None:
        return None
    text = str(raw).strip().lower()
    if not text or text.count("@") != 1:
        return None
    local, _, domain = text.partition("@")
    if not local or "." not in domain or " " in text:
        return None
    return text


def normalize_phone(raw: object, default_region: str | None) -> str | None:
    """A phone number in E.164 form (``+33612345678``), or None when it is not a valid number.

    Numbers without a ``+country`` prefix are read in ``default_region``.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
