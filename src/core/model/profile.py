"""The profile schema: built-in columns every profile has, and attribute types.

A profile is one person, resolved from the source records that share an identifier. Its
columns are the built-ins below plus the attributes declared in ``[attributes]``; segment
conditions may use any of them.
"""

from __future__ import annotations

from typing import Literal

from segsync.connector import Purpose

__all__ = [
    "ATTRIBUTE_SQL_TYPES",
    "BUILTIN_COLUMNS",
    "CONSENT_COLUMNS",
    "GRANT_COLUMNS",
    "AttributeType",
]

AttributeType = Literal["text", "integer", "decimal", "double", "boolean", "date", "timestamp"]

ATTRIBUTE_SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(38,4)",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

CONSENT_COLUMNS: dict[Purpose, str] = {p: f"consent_{p.value}" for p in Purpose}
GRANT_COLUMNS: dict[Purpose, str] = {
    p: c for p, c in CONSENT_COLUMNS.items() if p is not Purpose.DO_NOT_PROFILE
}
"""The purposes a destination may require (``do_not_profile`` is an objection: a profile that
objects does not exist, so destinations never see the column)."""

BUILTIN_COLUMNS: dict[str, AttributeType] = {
    "profile_key": "text",
    "email": "text",
    "phone": "text",
    "email_domain": "text",
    "source_count": "integer",
    "updated_at": "timestamp",
    **{col: "boolean" for col in CONSENT_COLUMNS.values()},
    "orders_count": "integer",
    "revenue": "decimal",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
}
"""Columns every profile has. ``orders_count``/``revenue``/``*_order_at`` summarise events of
type ``order``; ``revenue`` is summed as DECIMAL; timestamps are UTC."""
