"""Staging a page of events a column at a time.

A source hands its events over as :class:`~segsync.connector.Event` objects (there is no page
of events as columns in the contract: an event's fields are few and fixed, and the objects
cost little to make). What cost more was staging them one by one: a row dict per event, a
cell per field through a dispatch on its type, a CSV line written per event. Here a page's
events are read a field at a time — times taken to UTC
(:func:`~segsync.pipeline.staging.iso_utc`), emails normalised, values and ids made text — and
the page written in one call.

The rows, warnings and rejects are those :func:`~segsync.pipeline.staging.event_encoder` gives
for the same events one by one, byte for byte and in the same order
(``tests/core/pipeline/test_event_pages.py``). A page with an event the columns do not take
plainly — not an :class:`Event`, no id, a field of the wrong type, a value out of range,
properties JSON cannot hold — is staged record by record, where the record's own checks name
what is wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from segsync.connector import Event
from segsync.errors import InputError
from segsync.model.identity import normalize_email
from segsync.pipeline.contract import check_event, shown_event
from segsync.pipeline.staging import (
    EVENT_COLUMNS,
    FUTURE_TOLERANCE,
    NULL,
    amount_problem,
    iso_utc,
    json_text,
    text_cells,
)
from segsync.pipeline.tally import HeldWarnings, WarningTally
from segsync.values import to_utc

__all__ = ["EventPages"]

_NO_CONTACT = "event names no contact (no contact_id or email)"
_FUTURE = "event dated in the future"


class EventPages:
    """Encodes pages of :class:`Event` into staging rows (tuples of CSV cells, in
    :data:`~segsync.pipeline.staging.EVENT_COLUMNS` order)."""

    def __init__(self, instance: str, tally: WarningTally, pulled_at: dt.datetime) -> None:
        self.instance = instance
        self.limit = pulled_at + FUTURE_TOLERANCE
        self.aware_limit = self.limit.replace(tzinfo=dt.UTC)
        self.held = HeldWarnings(tally)
        """The warnings of the page last encoded, until it is written."""

    def plain(self, events: Sequence[Any]) -> bool:
        """Whether every record is an event the columns take as they are (else the page is
        staged record by record): an :class:`Event` with an id, its fields of the types
        :func:`check_event` asks, an amount segsync keeps (:func:`amount_problem`)."""
        for event in events:
            if not isinstance(event, Event) or not event.event_id:
                return False
            try:
                check_event(self.instance, event)
            except InputError:
                return False
            if event.value is not None and amount_problem(event.value):
                return False
        return True

    @staticmethod
    def named(events: Sequence[Event], i: int) -> str:
        """How a reject names the ``i``-th event of a page."""
        return shown_event(events[i].event_id)

    def encode(self, events: Sequence[Event], first_seq: int) -> list[tuple[Any, ...]] | None:
        """The staging rows of a :meth:`plain` page whose first event is ``first_seq`` (its
        warnings in :attr:`held`); None (nothing noted) when its properties are not JSON —
        the page then goes record by record, which names the record or fails as it always
        did."""
        try:
            properties = [json_text(e.properties) for e in events]
        except (TypeError, ValueError, RecursionError):  # not JSON, circular, too deep
            return None
        notes: list[tuple[int, int, str, str]] = []
        limit, aware_limit = self.limit, self.aware_limit
        for i, event in enumerate(events):
            moment = event.occurred_at
            if moment > (limit if moment.tzinfo is None else aware_limit):
                notes.append((i, 1, _FUTURE, f"event {event.event_id} ({to_utc(moment):%Y-%m-%d})"))
            if event.contact_id is None and event.email is None:
                notes.append((i, 0, _NO_CONTACT, f"event {event.event_id}"))
        self.held.hold(notes)
        columns: dict[str, list[Any]] = {
            "seq": list(range(first_seq, first_seq + len(events))),
            "event_id": text_cells(str(e.event_id) for e in events),
            "type": text_cells(e.type for e in events),
            "occurred_at": [iso_utc(e.occurred_at) for e in events],
            "contact_id": text_cells(
                None if e.contact_id is None else str(e.contact_id) for e in events
            ),
            "email": text_cells(normalize_email(e.email) for e in events),
            "value": [NULL if e.value is None else str(e.value) for e in events],
            "currency": text_cells(e.currency for e in events),
            "properties": properties,
        }
        return list(zip(*(columns[name] for name in EVENT_COLUMNS), strict=True))
