"""Loose value parsing and identifier normalisation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from segsync.model.identity import normalize_email, normalize_phone
from segsync.values import coerce, parse_bool, parse_datetime, parse_decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("1", True),
        (1, True),
        ("granted", True),
        ("no", False),
        ("false", False),
        ("0", False),
        (False, False),
        ("", None),
        (None, None),
        ("  ", None),
    ],
)
def test_parse_bool(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


def test_parse_bool_rejects_garbage_saying_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"expected yes/no.*found 'maybe'"):
        parse_bool("maybe")


def test_parse_datetime_converts_offsets_to_utc() -> None:
    assert parse_datetime("2026-03-01T12:00:00+01:00") == dt.datetime(2026, 3, 1, 11, 0)
    assert parse_datetime("2026-03-01T12:00:00Z") == dt.datetime(2026, 3, 1, 12, 0)
    assert parse_datetime("2026-03-01") == dt.datetime(2026, 3, 1)
    assert parse_datetime(0) == dt.datetime(1970, 1, 1)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime("01/03/2026")


def test_parse_decimal_is_exact() -> None:
    assert parse_decimal("0.10") + parse_decimal("0.20") == Decimal("0.30")  # type: ignore[operator]
    assert parse_decimal(0.1) == Decimal("0.1")
    with pytest.raises(ValueError):
        parse_decimal("NaN")
    with pytest.raises(ValueError):
        parse_decimal("12,50")


@pytest.mark.parametrize(
    ("type_name", "raw", "expected"),
    [
        ("text", ["a", "b"], "a,b"),
        ("integer", "42", 42),
        ("integer", "42.0", 42),
        ("decimal", "1.50", "1.50"),
        ("double", "2.5", 2.5),
        ("boolean", "no", False),
        ("date", "2026-01-31", "2026-01-31"),
        ("timestamp", "2026-01-31T10:00:00+02:00", "2026-01-31T08:00:00"),
        ("text", "", None),
    ],
)
def test_coerce(type_name: str, raw: object, expected: object) -> None:
    assert coerce(type_name, raw) == expected


def test_coerce_rejects_fractional_integers() -> None:
    with pytest.raises(ValueError, match="whole number"):
        coerce("integer", "4.5")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Alice@Example.ORG ", "alice@example.org"),
        ("a@b.co", "a@b.co"),
        ("", None),
        (None, None),
        ("not-an-email", None),
        ("two@@signs.com", None),
        ("a@nodot", None),
        ("a b@c.com", None),
    ],
)
def test_normalize_email(raw: object, expected: str | None) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("06 12 34 56 78", None, None),
        ("12", "FR", None),
        ("", "FR", None),
    ],
)
def test_normalize_phone(raw: str, region: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, region) == expected
