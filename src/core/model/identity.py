"""Identifiers: how two records are recognised as the same person, how they are masked in
logs, and how ad platforms receive them (normalised, then SHA-256 hashed).

**Resolution** (:func:`normalize_email`, :func:`normalize_phone`): what segsync itself matches
profiles by — an email trimmed and lower-cased, a phone number in E.164. **Masking**
(:func:`mask_identifier` and friends): what logs and stored samples show.

**Ad platforms** (Google Customer Match through the Data Manager API first) receive people's
identifiers normalised, then SHA-256 hashed; only the country and postal code travel in clear.
These functions are part of segsync's public plugin surface (their names are pinned by
``tests/core/test_public_api.py``): an ad connector, first-party or a plugin, imports them
rather than keeping its own copy.
The rules are Google's (reference §4.5, https://developers.google.com/data-manager/api/devguides/
concepts/formatting):

=================  =====================================================================  ======
field              normalisation                                                          hashed
=================  =====================================================================  ======
email address      every whitespace character removed, lower-cased; for ``gmail.com`` /    yes
                   ``googlemail.com`` only, the dots of the local part and a ``+suffix``
                   removed (``Cloudy.SanFrancisco+shopping@gmail.com`` →
                   ``cloudysanfrancisco@gmail.com``); other domains keep both
phone number       E.164 (``+``, country code, digits): ``(800)555-0100`` read in ``US`` →    yes
                   ``+18005550100``; parsed and validated with ``phonenumbers``
given/family name  trimmed, lower-cased, punctuation removed, inner whitespace collapsed to   yes
                   one space, a leading title (``Mrs.``, ``Dr``) and trailing suffix
                   (``Jr.``, ``III``, ``PhD``) removed
region code        ISO 3166-1 alpha-2, trimmed, upper-cased                                no
postal code        trimmed; in the US 5 digits or ZIP+4 (``94043``, ``94043-1351``,          no
                   ``940431351``); elsewhere as given, trimmed
=================  =====================================================================  ======

Text is put in Unicode NFC form first, so a name typed with combining accents hashes like the
same name typed precomposed.

Every ``ad_*`` function returns the normalised value or ``None`` when the value cannot be
normalised; the matching ``check_*`` function returns a :class:`Normalized` that also says why
(a :class:`Unusable` reason, for counting skipped identifiers). Hash with :func:`sha256_hex` and
send ``"encoding": "HEX"`` (:data:`HEX_ENCODING`) with the Data Manager API, or
:func:`sha256_base64` with ``"BASE64"`` (:data:`BASE64_ENCODING`).

Nothing here logs, and a :class:`Normalized` never shows its value in ``repr``: normalised and
hashed identifiers are personal data.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers

__all__ = [
    "BASE64_ENCODING",
    "HEX_ENCODING",
    "Normalized",
    "Unusable",
    "ad_email",
    "ad_name",
    "ad_phone",
    "ad_postal_code",
    "ad_region_code",
    "check_email",
    "check_name",
    "check_phone",
    "check_postal_code",
    "check_region_code",
    "hashed_email",
    "hashed_name",
    "hashed_phone",
    "mask_email",
    "mask_identifier",
    "mask_phone",
    "mask_text",
    "normalize_email",
    "normalize_phone",
    "phone_region",
    "sha256_base64",
    "sha256_hex",
]


# -- resolution and masking -----------------------------------------------------------------------


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


def phone_region(value: str) -> str:
    """``value`` as a region to read national phone numbers in (``"fr"`` → ``"FR"``); raises
    ValueError (said for a config key) unless it is a country ``phonenumbers`` knows — in an
    unknown one every national number would be unreadable."""
    code = value.strip().upper()
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise ValueError("expected a two-letter country code such as 'FR'")
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"expected a two-letter country code such as 'FR'; {code!r} is not a country "
            "whose phone numbers can be read"
        )
    return code


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


def shown_id(value: object) -> str:
    """A record's id as warnings show it: masked when it is an email address (a source keyed
    by email), as it is otherwise (``C0042``: no personal data, and needed to find it)."""
    text = str(value)
    return mask_identifier(text) if "@" in text else text


def mask_identifier(value: object) -> str:
    """An email, phone number or other identifier, masked for logs and stored samples."""
    text = str(value)
    if "@" in text:
        return mask_email(text.strip())
    if sum(ch.isdigit() for ch in text) >= 6:
        return mask_phone(text)
    return mask_text(text)


# -- ad platforms ---------------------------------------------------------------------------------

HEX_ENCODING = "HEX"
"""The Data Manager API ``encoding`` value that goes with :func:`sha256_hex`."""
BASE64_ENCODING = "BASE64"
"""The Data Manager API ``encoding`` value that goes with :func:`sha256_base64`."""

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_US_POSTAL = re.compile(r"\d{5}(?:[- ]?\d{4})?")
_REGION = re.compile(r"[A-Z]{2}")
# titles and suffixes Google asks to drop (its examples: "Mrs.", "Jr."), compared after
# punctuation is removed
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev"})
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "jd"})


class Unusable(StrEnum):
    """Why an identifier could not be normalised (the values are stable, for counting)."""

    MISSING = "missing"  # None or blank
    EMAIL_SYNTAX = "email_syntax"  # not local@domain.tld after normalisation
    PHONE_UNPARSEABLE = "phone_unparseable"  # not a phone number at all
    PHONE_NO_COUNTRY = "phone_no_country"  # no +country prefix and no default region
    PHONE_INVALID = "phone_invalid"  # parsed, but no such number in its country's plan
    NAME_EMPTY = "name_empty"  # nothing left once punctuation and titles are removed
    REGION_INVALID = "region_invalid"  # not two letters
    POSTAL_INVALID = "postal_invalid"  # a US postal code that is not 5 digits or ZIP+4


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised identifier, or why there is none. ``repr`` never shows the value."""

    value: str | None = field(repr=False)
    reason: Unusable | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def _text(raw: object) -> str | None:
    """The raw value as NFC text, or None when it is None or blank."""
    if raw is None:
        return None
    text = raw if type(raw) is str else str(raw)
    if not text.isascii():  # ASCII text is in NFC already
        text = unicodedata.normalize("NFC", text)
    return None if not text or text.isspace() else text


def _bad(reason: Unusable) -> Normalized:
    return Normalized(None, reason)


# -- email ---------------------------------------------------------------------------------------


_PLAIN_EMAIL = re.compile(r"[a-z0-9._%+\-']+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+")
"""An address already in normal form outside gmail: lower-case ASCII without whitespace, one
``@``, a dotted domain with no empty label. Most stored addresses are; the rules leave them as
they are, so :func:`check_email` answers them without taking them apart."""


_GMAIL_SUFFIXES = ("@gmail.com", "@googlemail.com")


def check_email(raw: object) -> Normalized:
    """Normalise an email address for hashing (see the module table)."""
    if type(raw) is str and _PLAIN_EMAIL.fullmatch(raw) and not raw.endswith(_GMAIL_SUFFIXES):
        return Normalized(raw)
    return _check_email(raw)


def _check_email(raw: object) -> Normalized:
    """:func:`check_email` for any value (the rules applied step by step)."""
    text = _text(raw)
    if text is None:
        return _bad(Unusable.MISSING)
    text = "".join(text.split()).lower()  # every whitespace character, as \s matches
    local, at, domain = text.rpartition("@")
    if not at or not local or "@" in local or "." not in domain:
        return _bad(Unusable.EMAIL_SYNTAX)
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return _bad(Unusable.EMAIL_SYNTAX)
    if domain in _GMAIL_DOMAINS:
        local = local.partition("+")[0].replace(".", "")
        if not local:
            return _bad(Unusable.EMAIL_SYNTAX)
        return Normalized(f"{local}@{domain}")
    return Normalized(text)


def ad_email(raw: object) -> str | None:
    """The normalised email address, or None (:func:`check_email` says why)."""
    if type(raw) is str and _PLAIN_EMAIL.fullmatch(raw) and not raw.endswith(_GMAIL_SUFFIXES):
        return raw
    return _check_email(raw).value


# -- phone ---------------------------------------------------------------------------------------


def check_phone(raw: object, default_region: str | None = None) -> Normalized:
    """Normalise a phone number to E.164. A number without a ``+country`` prefix is read in
    ``default_region`` (ISO alpha-2, e.g. the contact's country); the number must be valid in
    its country's numbering plan."""
    text = _text(raw)
    if text is None:
        return _bad(Unusable.MISSING)
    region = default_region.strip().upper() if default_region else None
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return _bad(Unusable.PHONE_NO_COUNTRY)
        return _bad(Unusable.PHONE_UNPARSEABLE)
    if not phonenumbers.is_valid_number(number):
        return _bad(Unusable.PHONE_INVALID)
    return Normalized(str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)))


def ad_phone(raw: object, default_region: str | None = None) -> str | None:
    """The phone number in E.164 form, or None (:func:`check_phone` says why)."""
    return check_phone(raw, default_region).value


# -- names ---------------------------------------------------------------------------------------


def _strip_punctuation(text: str) -> str:
    """``text`` without punctuation, in NFC again: a mark left next to a letter once
    punctuation stood between them composes with it (``C:\u0327`` reads as ``ç``), so the
    result normalises to itself."""
    out = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return out if out.isascii() else unicodedata.normalize("NFC", out)


def check_name(raw: object) -> Normalized:
    """Normalise a given or family name: trimmed, lower-cased, punctuation removed, inner
    whitespace collapsed to one space, leading titles and trailing suffixes dropped (only while
    something else remains: a person called "Miss" keeps the name)."""
    text = _text(raw)
    if text is None:
        return _bad(Unusable.MISSING)
    words = _strip_punctuation(text.lower()).split()
    while len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    if not words:
        return _bad(Unusable.NAME_EMPTY)
    return Normalized(" ".join(words))


def ad_name(raw: object) -> str | None:
    """The normalised given or family name, or None (:func:`check_name` says why)."""
    return check_name(raw).value


# -- address parts sent in clear -----------------------------------------------------------------


def check_region_code(raw: object) -> Normalized:
    """An ISO 3166-1 alpha-2 region code, trimmed and upper-cased (never hashed)."""
    text = _text(raw)
    if text is None:
        return _bad(Unusable.MISSING)
    code = text.strip().upper()
    if not _REGION.fullmatch(code):
        return _bad(Unusable.REGION_INVALID)
    return Normalized(code)


def ad_region_code(raw: object) -> str | None:
    """The region code, or None (:func:`check_region_code` says why)."""
    return check_region_code(raw).value


def check_postal_code(raw: object, region_code: str | None = None) -> Normalized:
    """A postal code, trimmed (never hashed). In the US (``region_code`` ``US``) it must be 5
    digits or ZIP+4 (``94043``, ``94043-1351``, ``940431351``); elsewhere it is kept as given,
    without extensions added."""
    text = _text(raw)
    if text is None:
        return _bad(Unusable.MISSING)
    code = text.strip()
    if (region_code or "").strip().upper() == "US" and not _US_POSTAL.fullmatch(code):
        return _bad(Unusable.POSTAL_INVALID)
    return Normalized(code)


def ad_postal_code(raw: object, region_code: str | None = None) -> str | None:
    """The postal code, or None (:func:`check_postal_code` says why)."""
    return check_postal_code(raw, region_code).value


# -- hashing -------------------------------------------------------------------------------------


def sha256_hex(normalized: str) -> str:
    """SHA-256 of the UTF-8 bytes, as 64 lower-case hex characters (``"encoding": "HEX"``)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def sha256_base64(normalized: str) -> str:
    """SHA-256 of the UTF-8 bytes, standard Base64 with padding, 44 characters
    (``"encoding": "BASE64"``)."""
    return base64.b64encode(hashlib.sha256(normalized.encode("utf-8")).digest()).decode("ascii")


def hashed_email(raw: object) -> str | None:
    """:func:`ad_email`, then :func:`sha256_hex`; None when the address is unusable."""
    value = ad_email(raw)
    return None if value is None else sha256_hex(value)


def hashed_phone(raw: object, default_region: str | None = None) -> str | None:
    """:func:`ad_phone`, then :func:`sha256_hex`; None when the number is unusable."""
    value = ad_phone(raw, default_region)
    return None if value is None else sha256_hex(value)


def hashed_name(raw: object) -> str | None:
    """:func:`ad_name`, then :func:`sha256_hex`; None when the name is unusable."""
    value = ad_name(raw)
    return None if value is None else sha256_hex(value)
