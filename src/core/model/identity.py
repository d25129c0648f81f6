"""Identifier normalisation: how two records are recognised as the same person."""

from __future__ import annotations

import phonenumbers

__all__ = [
    "mask_email",
    "mask_identifier",
    "mask_phone",
    "mask_text",
    "normalize_email",
    "normalize_phone",
]


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


def mask_email(email: str) -> str:
    """``alice@example.org`` → ``a***@example.org``: enough to recognise, not to reuse."""
    local, at, domain = email.partition("@")
    if not at:
        return mask_text(email)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """``+33612345678`` → ``+33******78``."""
    digits = phone.strip()
    if len(digits) <= 5:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_text(value: str) -> str:
    """Any other identifier: its first and last characters."""
    text = value.strip()
    if len(text) <= 4:
        return "*" * len(text)
    return f"{text[:1]}{'*' * min(len(text) - 2, 8)}{text[-1:]}"


def mask_identifier(value: object) -> str:
    """An email, phone number or other identifier, masked for logs and stored samples."""
    text = str(value)
    if "@" in text:
        return mask_email(text.strip())
    if sum(ch.isdigit() for ch in text) >= 6:
        return mask_phone(text)
    return mask_text(text)
