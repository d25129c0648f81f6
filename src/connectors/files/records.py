"""A row (``{column: value}``) as a contact or an event, by a column mapping: how the pages of
the ``files`` connector read a row, and how segsync reads a row its engine could not take
(:class:`~segsync.connector.BulkFile`'s ``record``) — of a file, or of a table (the ``table``
connector). A row that cannot be read raises :class:`~segsync.errors.InputError` naming
``where:line``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from segsync.connector import Contact, ContactColumns, Event, EventColumns, Purpose
from segsync.errors import InputError
from segsync.values import parse_amount, parse_bool, parse_datetime

from .settings import ContactMapping, EventMapping

__all__ = ["contact_record", "event_record", "mapping_columns"]


def contact_record(source: ContactMapping, where: str, line: int, row: dict[str, Any]) -> Contact:
    """The contact of a row: every column not mapped to a field is an attribute (under its
    own name, or the attribute it is mapped to)."""
    ident = row.get(source.id)
    if ident in (None, ""):
        raise InputError(f"{where}:{line}: empty id (column {source.id!r})")
    consent: dict[Purpose, bool | None] = {}
    for purpose, column in source.consent.items():
        try:
            consent[purpose] = parse_bool(row.get(column))
        except ValueError as exc:
            raise InputError(f"{where}:{line}: column {column!r}: {exc}") from None
    updated = _time(where, line, row, source.updated_at)
    consent_at = _time(where, line, row, source.consent_updated_at) or updated
    mapped = {c for c in (source.id, source.email, source.phone, source.updated_at) if c}
    if source.consent_updated_at:
        mapped.add(source.consent_updated_at)
    mapped |= set(source.consent.values())
    renamed = {column: attr for attr, column in source.attributes.items()}
    attributes = {
        renamed.get(column, column): value
        for column, value in row.items()
        if column not in mapped or column in renamed
    }
    return Contact(
        source_id=str(ident),
        email=row.get(source.email) if source.email else None,
        phone=row.get(source.phone) if source.phone else None,
        attributes=attributes,
        consent=consent,
        updated_at=updated,
        country=_text(row.get(source.country)) if source.country else None,
        consent_at={p: consent_at for p, v in consent.items() if v is not None and consent_at},
    )


def event_record(source: EventMapping, where: str, line: int, row: dict[str, Any]) -> Event:
    """The event of a row: every column not mapped to a field is a property."""
    ident = row.get(source.id)
    if ident in (None, ""):
        raise InputError(f"{where}:{line}: empty id (column {source.id!r})")
    try:
        if source.occurred_at not in row:
            raise InputError(f"{where}:{line}: missing time field {source.occurred_at!r}")
        occurred = parse_datetime(row[source.occurred_at])
        value = parse_amount(row.get(source.value)) if source.value else None
    except ValueError as exc:
        raise InputError(f"{where}:{line}: {exc}") from None
    if occurred is None:
        raise InputError(f"{where}:{line}: empty time (column {source.occurred_at!r})")
    type_ = str(row.get(source.type_column) or "") if source.type_column else source.type
    if not type_:
        raise InputError(f"{where}:{line}: empty event type (column {source.type_column!r})")
    used = {source.id, source.occurred_at, source.value, source.currency, source.type_column}
    used |= {source.contact_id, source.email}
    return Event(
        event_id=str(ident),
        type=type_,
        occurred_at=occurred,
        contact_id=_text(row.get(source.contact_id)) if source.contact_id else None,
        email=_text(row.get(source.email)) if source.email else None,
        value=value,
        currency=_text(row.get(source.currency)) if source.currency else source.default_currency,
        properties={k: v for k, v in row.items() if k not in used},
    )


def mapping_columns(source: ContactMapping | EventMapping) -> ContactColumns | EventColumns:
    """A mapping as the engine reads it (:class:`~segsync.connector.BulkFile`'s columns)."""
    if isinstance(source, ContactMapping):
        return ContactColumns(
            id=source.id,
            email=source.email,
            phone=source.phone,
            country=source.country,
            updated_at=source.updated_at,
            consent_updated_at=source.consent_updated_at,
            consent=dict(source.consent),
            attributes=dict(source.attributes),
        )
    return EventColumns(
        id=source.id,
        occurred_at=source.occurred_at,
        type=source.type,
        type_column=source.type_column,
        contact_id=source.contact_id,
        email=source.email,
        value=source.value,
        currency=source.currency,
        default_currency=source.default_currency,
    )


def _time(where: str, line: int, row: dict[str, Any], column: str | None) -> dt.datetime | None:
    if not column:
        return None
    try:
        return parse_datetime(row.get(column))
    except ValueError as exc:
        raise InputError(f"{where}:{line}: column {column!r}: {exc}") from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
