"""Parsing of loosely typed values (CSV cells, JSON fields) into typed ones.

Public: connectors use these so that "yes", "TRUE" and "1" mean the same everywhere. Each
function raises ``ValueError`` with a message saying what was expected; empty text is None.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "AMOUNT_LIMIT",
    "FALSE_WORDS",
    "NESTED_TOO_DEEP",
    "TRUE_WORDS",
    "WHITESPACE",
    "coerce",
    "half_pair",
    "lone_surrogate",
    "parse_amount",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "to_utc",
    "utcnow",
]

AMOUNT_LIMIT = Decimal(10) ** 14
"""Event amounts are stored with 14 digits before the decimal point and 4 after
(``DECIMAL(18,4)``); anything of this size or more is refused as out of range."""

NESTED_TOO_DEEP = (
    "JSON nested too deeply to read (arrays or objects inside each other, about a thousand "
    "levels down)"
)
"""Why JSON ``json.loads`` cannot read is refused: it recurses once per level, within
Python's limit of 1,000 frames (a file's line, an API's answer)."""


def lone_surrogate(text: str) -> int | None:
    """The code point of the first half of a UTF-16 pair standing alone in ``text`` — which
    ``json.loads`` makes of an escape like ``"\\ud800"``, and no encoding can write — or None
    when ``text`` can be written."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ord(text[exc.start])
    return None


def half_pair(code: int) -> str:
    """Why a text holding the lone half ``code`` (:func:`lone_surrogate`) is refused."""
    return (
        f"not valid text: \\u{code:04x} is half of a UTF-16 pair without its other half, "
        "not a character"
    )


TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "granted", "on", "opt-in", "opted_in"})
"""What :func:`parse_bool` reads as True (lower-cased, stripped)."""
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "denied", "off", "opt-out", "opted_out"})
"""What :func:`parse_bool` reads as False (lower-cased, stripped)."""

WHITESPACE = "".join(chr(c) for c in (
    0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
    0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029,
    0x202F, 0x205F, 0x3000))  # fmt: skip
"""What Python's ``str.strip()`` strips: the characters of ``str.isspace``. The engine's SQL
rules (:mod:`segsync.pipeline.bulk_sql`) and the JSON Lines view's RE2 class
(:mod:`segsync.engine.duckdb_jsonl`) are made from it."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_bool(value: Any) -> bool | None:
    """yes/no, true/false, 1/0, granted/denied (any case) → bool; blank → None."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"expected yes/no, true/false or 1/0, found {value!r}")


def utcnow() -> dt.datetime:
    """Now, as segsync keeps time: naive UTC, microseconds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def to_utc(value: dt.datetime) -> dt.datetime:
    """A naive UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def parse_datetime(value: Any) -> dt.datetime | None:
    """ISO 8601 (with or without offset, 'Z' allowed), a date, or epoch seconds → naive UTC."""
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    text = str(value).strip()
    try:
        return to_utc(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 date-time such as 2026-03-01T12:00:00+01:00, found {value!r}"
        ) from None


def parse_date(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, found {value!r}") from None


def parse_decimal(value: Any) -> Decimal | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, found {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"expected a number such as 12.50, found {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite number, found {value!r}")
    return result


def parse_amount(value: Any) -> Decimal | None:
    """A money amount (an order's total): a finite number below :data:`AMOUNT_LIMIT` in size;
    blank → None."""
    number = parse_decimal(value)
    if number is not None and not -AMOUNT_LIMIT < number < AMOUNT_LIMIT:
        raise ValueError(
            f"amount out of range: expected less than 10^14 in size, found {str(value).strip()!r}"
        )
    return number


def coerce(type_name: str, value: Any) -> Any:
    """Coerce ``value`` to an attribute type, as JSON-ready Python (dates as ISO text)."""
    if _blank(value):
        return None
    if type_name == "text":
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return str(value)
    if type_name == "boolean":
        return parse_bool(value)
    if type_name == "integer":
        number = parse_decimal(value)
        if number is None or number != number.to_integral_value():
            raise ValueError(f"expected a whole number, found {value!r}")
        return int(number)
    if type_name == "decimal":
        number = parse_decimal(value)
        return None if number is None else str(number)
    if type_name == "double":
        number = parse_decimal(value)
        return None if number is None else float(number)
    if type_name == "date":
        day = parse_date(value)
        return None if day is None else day.isoformat()
    if type_name == "timestamp":
        moment = parse_datetime(value)
        return None if moment is None else moment.isoformat()
    raise ValueError(f"unknown attribute type {type_name!r}")
