"""Identifiers for ad platforms (:mod:`segsync.model.identity`): Google's published examples
and the edge cases around them."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from segsync.model.identity import (
    BASE64_ENCODING,
    HEX_ENCODING,
    Normalized,
    Unusable,
    ad_email,
    ad_name,
    ad_phone,
    ad_postal_code,
    ad_region_code,
    check_email,
    check_name,
    check_phone,
    check_postal_code,
    check_region_code,
    hashed_email,
    hashed_name,
    hashed_phone,
    sha256_base64,
    sha256_hex,
)

# the reference's (§4.5) test vectors: SHA-256 of the normalised value
GMAIL_HEX = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
GMAIL_B64 = "Ij69pvaImxSUVRupAtnTgdry9kK64FWIjpY0PVPp+cQ="
OTHER_HEX = "f109a2a632fbcea5fc82049f50beed3d8621bf9034399f437fb622222acccdac"
PHONE_HEX = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"


def test_encodings_are_the_data_manager_apis_names() -> None:
    assert (HEX_ENCODING, BASE64_ENCODING) == ("HEX", "BASE64")


# -- the published examples ----------------------------------------------------------------------


def test_gmail_example_drops_dots_and_plus_suffix() -> None:
    assert ad_email("cloudy.sanfrancisco+shopping@gmail.com") == "cloudysanfrancisco@gmail.com"
    assert hashed_email("cloudy.sanfrancisco+shopping@gmail.com") == GMAIL_HEX
    assert sha256_hex("cloudysanfrancisco@gmail.com") == GMAIL_HEX
    assert sha256_base64("cloudysanfrancisco@gmail.com") == GMAIL_B64


def test_other_domains_keep_dots_and_plus() -> None:
    assert ad_email("user.name+NYC@Example.com") == "user.name+nyc@example.com"
    assert hashed_email("user.name+NYC@Example.com") == OTHER_HEX


def test_phone_example() -> None:
    assert ad_phone("(800)555-0100", "US") == "+18005550100"
    assert hashed_phone("(800)555-0100", "US") == PHONE_HEX
    assert hashed_phone("+1 800 555 0100") == PHONE_HEX


def test_hex_is_lower_case_64_chars_and_base64_is_padded_44() -> None:
    digest = hashlib.sha256(b"x").digest()
    assert sha256_hex("x") == digest.hex() and len(sha256_hex("x")) == 64
    assert sha256_hex("x") == sha256_hex("x").lower()
    assert base64.b64decode(sha256_base64("x")) == digest
    assert len(sha256_base64("x")) == 44 and sha256_base64("x").endswith("=")


# -- email ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM \n", "jane.doe@example.com"),
        ("jane doe@example.com", "janedoe@example.com"),  # intermediate whitespace removed
        ("j\u00a0ane@example.com", "jane@example.com"),  # unicode whitespace too
        ("J.A.N.E+x+y@GoogleMail.com", "jane@googlemail.com"),
        ("jane+news@yahoo.com", "jane+news@yahoo.com"),
        ("j.ane@gmail.co.uk", "j.ane@gmail.co.uk"),  # only gmail.com/googlemail.com
        ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
        ("e\u0301lodie@exemple.fr", "élodie@exemple.fr"),  # NFC: combining accent composed
    ],
)
def test_email_normalisation(raw: str, expected: str) -> None:
    assert ad_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, Unusable.MISSING),
        ("", Unusable.MISSING),
        ("   ", Unusable.MISSING),
        ("jane", Unusable.EMAIL_SYNTAX),
        ("@example.com", Unusable.EMAIL_SYNTAX),
        ("jane@", Unusable.EMAIL_SYNTAX),
        ("jane@localhost", Unusable.EMAIL_SYNTAX),
        ("a@b@example.com", Unusable.EMAIL_SYNTAX),
        ("jane@example..com", Unusable.EMAIL_SYNTAX),
        ("+only@gmail.com", Unusable.EMAIL_SYNTAX),  # nothing left of the local part
        ("...@gmail.com", Unusable.EMAIL_SYNTAX),
    ],
)
def test_unusable_emails_say_why(raw: object, reason: Unusable) -> None:
    result = check_email(raw)
    assert result == Normalized(None, reason)
    assert not result.ok
    assert ad_email(raw) is None and hashed_email(raw) is None


# -- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06 12 34 56 78", "fr", "+33612345678"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),  # an explicit prefix wins
        ("０６１２３４５６７８", "FR", "+33612345678"),  # full-width digits
        ("+1 (800) 555-0100 ", None, "+18005550100"),
        ("0470 12 34 56", "BE", "+32470123456"),
    ],
)
def test_phone_normalisation(raw: str, region: str | None, expected: str) -> None:
    assert ad_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        (None, "US", Unusable.MISSING),
        (" ", "US", Unusable.MISSING),
        ("call me", "US", Unusable.PHONE_UNPARSEABLE),
        ("06 12 34 56 78", None, Unusable.PHONE_NO_COUNTRY),
        ("12", "US", Unusable.PHONE_INVALID),
        ("+1 555 0100", None, Unusable.PHONE_INVALID),
    ],
)
def test_unusable_phones_say_why(raw: object, region: str | None, reason: Unusable) -> None:
    assert check_phone(raw, region) == Normalized(None, reason)
    assert hashed_phone(raw, region) is None


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John ", "john"),
        ("Mrs. Jane", "jane"),
        ("Dr Jane", "jane"),
        ("Smith Jr.", "smith"),
        ("Smith, III", "smith"),
        ("Dr. Mrs. Jane", "jane"),
        ("O'Brien", "obrien"),
        ("Jean-Luc", "jeanluc"),
        ("Mary   Ann", "mary ann"),
        ("Miss", "miss"),  # a title alone is the name
        ("ÉLODIE", "élodie"),
        ("Zoe\u0308", "zoë"),  # NFC
        ("Ζωή", "ζωή"),
    ],
)
def test_name_normalisation(raw: str, expected: str) -> None:
    assert ad_name(raw) == expected
    assert hashed_name(raw) == sha256_hex(expected)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(None, Unusable.MISSING), ("\t", Unusable.MISSING), ("..", Unusable.NAME_EMPTY)],
)
def test_unusable_names_say_why(raw: object, reason: Unusable) -> None:
    assert check_name(raw) == Normalized(None, reason)
    assert hashed_name(raw) is None


# -- region and postal code (never hashed) -------------------------------------------------------


def test_region_code() -> None:
    assert ad_region_code(" us ") == "US"
    assert check_region_code("USA").reason is Unusable.REGION_INVALID
    assert check_region_code("1A").reason is Unusable.REGION_INVALID
    assert check_region_code("").reason is Unusable.MISSING


@pytest.mark.parametrize("raw", ["94045", " 94043-1351 ", "940431351", "94043 1351"])
def test_us_postal_codes(raw: str) -> None:
    assert ad_postal_code(raw, "US") == raw.strip()


@pytest.mark.parametrize("raw", ["9404", "94043-13", "ABCDE", "94043-1351-1"])
def test_invalid_us_postal_codes(raw: str) -> None:
    assert check_postal_code(raw, "us").reason is Unusable.POSTAL_INVALID


def test_other_postal_codes_are_only_trimmed() -> None:
    assert ad_postal_code(" SW1A 1AA ", "GB") == "SW1A 1AA"
    assert ad_postal_code("75011", "FR") == "75011"
    assert check_postal_code(None, "FR").reason is Unusable.MISSING


# -- properties ----------------------------------------------------------------------------------


@given(st.text())
def test_email_normalisation_is_idempotent(raw: str) -> None:
    once = ad_email(raw)
    if once is not None:
        assert ad_email(once) == once
        assert once == once.lower() and not any(ch.isspace() for ch in once)


_EMAILISH = st.text(alphabet="abcAB0._-+%'@ \t\u00e9\u2028gmailcom", max_size=30)


@example("a@b.c")
@example("first.last+tag@gmail.com")
@example("a@googlemail.com")
@example("a@b..c")
@example("a@.b.c")
@example("a@b.c.")
@example("a@b@c.d")
@example("A@b.c")
@example("a @b.c")
@given(st.one_of(_EMAILISH, st.text(), st.emails().map(str)))
def test_plain_emails_take_the_short_way_to_the_same_answer(raw: str) -> None:
    """An address already in normal form is answered without being taken apart: the answer
    is the one the rules give step by step, for any text."""
    from segsync.model.identity import _check_email

    full = _check_email(raw)
    assert check_email(raw) == full
    assert ad_email(raw) == full.value


@example("C:\u0327")  # punctuation between a letter and its mark: they compose once it goes
@given(st.text())
def test_name_normalisation_is_idempotent(raw: str) -> None:
    once = ad_name(raw)
    if once is not None:
        assert ad_name(once) == once
        assert once == once.strip()


def test_repr_never_shows_the_value() -> None:
    result = check_email("secret.person@example.com")
    assert "secret" not in repr(result) and "example" not in repr(result)
    assert result.ok
