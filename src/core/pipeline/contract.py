"""The types a source's records must have (:class:`~segsync.connector.Contact`,
:class:`~segsync.connector.Event`), checked as they are staged.

A connector plugin that hands over a time as text, an amount as a float or attributes as a
list has a bug; without these checks it surfaced as an internal error about an attribute
(``'str' object has no attribute 'tzinfo'``) that blamed segsync, or — worse — as data
silently lost (a consent answer of ``"yes"`` read as no answer). The error names the
instance, the stream, the record and the field, and says what was expected; the value itself
is never shown (it may be personal data).

Records are checked as they are encoded (:func:`check_contact`, :func:`check_event`: a few
``isinstance`` calls, the record named only on failure); a page given as columns whose values
its columns do not read is encoded record by record (``BatchEncoder.plain``), so the same
checks name it (:func:`columns_typed`, beside the record checks it mirrors);
:func:`write_row` names a property JSON cannot hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from segsync.connector import Contact, ContactBatch, Event
from segsync.errors import InputError
from segsync.model.identity import shown_id
from segsync.values import half_pair

if TYPE_CHECKING:
    from segsync.pipeline.staging import Rejects, StagingWriter

__all__ = [
    "HalfPair",
    "check_contact",
    "check_event",
    "columns_typed",
    "reject_text",
    "shown_contact",
    "shown_event",
    "shown_text",
    "write_row",
]

_BUG = "(a bug in the connector plugin)"


def _kind(value: Any) -> str:
    """``a str``, ``an int``: the value's type with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _broken(
    instance: str, record: Contact | Event, field: str, value: Any, expected: str
) -> InputError:
    """The error; the record is named only now (the checks run on every record)."""
    return InputError(
        f"{instance}: {_named(record)}: {field} is {_kind(value)}, expected {expected} {_BUG}"
    )


class HalfPair(ValueError):
    """A text holding half of a UTF-16 surrogate pair without its other half (which
    ``json.loads`` reads from an escape like ``"\\ud800"``): not a character, and no encoding
    can write it. The record is bad input, rejected by name like any other."""

    def __init__(self, column: str, code: int) -> None:
        self.column, self.code = column, code
        super().__init__(f"{column}: {half_pair(code)}")


def shown_text(text: str) -> str:
    """``text`` as it can be written and shown: half a UTF-16 pair alone as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def shown_contact(source_id: object) -> str:
    """How rejects and warnings name a contact: ``contact C0042`` (an email id masked)."""
    return f"contact {shown_id(source_id)}"


def shown_event(event_id: object) -> str:
    """How rejects name an event: ``event O0042`` (an email id masked)."""
    return f"event {shown_id(event_id)}"


def _named(record: Contact | Event) -> str:
    if isinstance(record, Contact):
        return shown_contact(record.source_id)
    return shown_event(record.event_id)


def reject_text(rejects: Rejects, instance: str, named: str, problem: HalfPair) -> None:
    """A record holding a text no encoding can write, rejected by name (its name shown with
    the half pair escaped, so the rejects file can hold it)."""
    rejects.bad(shown_text(f"{instance} {named}"), str(problem))


def check_contact(instance: str, record: Contact) -> None:
    """Raise :class:`InputError` for the first field of ``record`` of the wrong type."""
    if not isinstance(record.attributes, dict):
        raise _broken(instance, record, "attributes", record.attributes, "a dict")
    if not isinstance(record.consent, dict):
        raise _broken(instance, record, "consent", record.consent, "a dict of purposes")
    for purpose, answer in record.consent.items():
        if answer is not None and not isinstance(answer, bool):
            raise _broken(instance, record, f"consent[{purpose!s}]", answer, "True, False or None")
    if not isinstance(record.consent_at, dict):
        raise _broken(instance, record, "consent_at", record.consent_at, "a dict of purposes")
    for purpose, moment in record.consent_at.items():
        if moment is not None and not isinstance(moment, dt.datetime):
            raise _broken(instance, record, f"consent_at[{purpose!s}]", moment, "a datetime")
    if record.updated_at is not None and not isinstance(record.updated_at, dt.datetime):
        raise _broken(instance, record, "updated_at", record.updated_at, "a datetime or None")
    if record.country is not None and not isinstance(record.country, str):
        raise _broken(instance, record, "country", record.country, "a country code (str)")


def columns_typed(batch: ContactBatch) -> bool:
    """Whether every value of a page of columns has the type :func:`check_contact` asks of
    the same field (a column left out: None); else the page is encoded record by record,
    where :func:`check_contact` names the value."""
    return (
        all(_all_of(column, bool) for column in batch.consent.values())
        and all(_all_of(column, dt.datetime) for column in batch.consent_at.values())
        and _all_of(batch.updated_at, dt.datetime)
        and _all_of(batch.country, str)
    )


def _all_of(column: Iterable[Any] | None, kind: type) -> bool:
    return column is None or all(v is None or isinstance(v, kind) for v in column)


def check_event(instance: str, record: Event) -> None:
    """Raise :class:`InputError` for the first field of ``record`` of the wrong type."""
    if not isinstance(record.type, str) or not record.type:
        kind = record.type
        shown = repr(kind) if kind is None or isinstance(kind, str) else _kind(kind)
        raise InputError(
            f"{instance}: {_named(record)}: type is {shown}, expected a non-empty str {_BUG}"
        )
    if not isinstance(record.occurred_at, dt.datetime):
        raise _broken(instance, record, "occurred_at", record.occurred_at, "a datetime")
    value = record.value
    if value is not None and (isinstance(value, bool) or not isinstance(value, Decimal | int)):
        hint = " (Decimal(str(x)) for a float)" if isinstance(value, float) else ""
        raise _broken(instance, record, "value", value, f"a Decimal, an int or None{hint}")
    if record.currency is not None and not isinstance(record.currency, str):
        raise _broken(instance, record, "currency", record.currency, "a currency code (str)")
    if not isinstance(record.properties, dict):
        raise _broken(instance, record, "properties", record.properties, "a dict")


def write_row(
    writer: StagingWriter, row: dict[str, Any], instance: str, record: Any, rejects: Rejects
) -> bool:
    """A staged row written (True); a property JSON cannot hold named, with its record; a text
    no encoding can write (:class:`HalfPair`) a bad record (False when it is skipped)."""
    try:
        writer.write(row)
        return True
    except HalfPair as exc:
        reject_text(rejects, instance, _named(record), exc)
        return False
    except TypeError as exc:
        field = "properties" if isinstance(record, Event) else "attributes"
        raise InputError(
            f"{instance}: {_named(record)}: {field}: {exc}; expected JSON values (str, int, "
            f"float, bool, None, list, dict, Decimal, date, datetime) {_BUG}"
        ) from None
