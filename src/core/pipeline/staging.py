"""Staging: what every source stream goes through before it is loaded.

Records become staged rows (:data:`CONTACT_COLUMNS`, :data:`EVENT_COLUMNS`): identifiers
normalised, consent answers dated, attributes typed, times in UTC and clamped to the pull
(:class:`Clock`), records that cannot be taken sent to the rejects file (:class:`Rejects`) —
by the encoders here for pages of records, and by :mod:`segsync.pipeline.bulk` in SQL for
files a source hands over whole; both give the same rows, warnings and rejects.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from segsync.config import Config
from segsync.connector import Contact, Event, Purpose, Reject, SourceSettings
from segsync.errors import InputError
from segsync.model.identity import mask_identifier, normalize_email
from segsync.model.phones import PhoneBook
from segsync.model.profile import CONSENT_COLUMNS
from segsync.pipeline.contract import (
    HalfPair,
    check_contact,
    check_event,
    shown_contact,
    shown_text,
)
from segsync.pipeline.tally import WarningTally
from segsync.report import SourceSummary
from segsync.values import AMOUNT_LIMIT, coerce, lone_surrogate, to_utc

__all__ = [
    "CONSENT_AT",
    "CONTACT_COLUMNS",
    "EVENT_COLUMNS",
    "FUTURE_TOLERANCE",
    "NULL",
    "Clock",
    "Rejects",
    "StagingWriter",
    "amount_problem",
    "contact_encoder",
    "event_encoder",
    "example",
    "iso_utc",
    "text_cells",
]

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
"""A record's time may run this far ahead of the pull (clock skew) before it is clamped."""

CONSENT_AT = {p: f"{column}_at" for p, column in CONSENT_COLUMNS.items()}
CONTACT_COLUMNS: dict[str, str] = {
    "seq": "BIGINT",
    "source_id": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "attributes": "JSON",
    **{col: "BOOLEAN" for col in CONSENT_COLUMNS.values()},
    "updated_at": "TIMESTAMP",
    **{col: "TIMESTAMP" for col in CONSENT_AT.values()},
}
EVENT_COLUMNS: dict[str, str] = {
    "seq": "BIGINT",
    "event_id": "VARCHAR",
    "type": "VARCHAR",
    "occurred_at": "TIMESTAMP",
    "contact_id": "VARCHAR",
    "email": "VARCHAR",
    "value": "DECIMAL(18,4)",
    "currency": "VARCHAR",
    "properties": "JSON",
}


class Rejects:
    """Records a source skipped, written to ``rejects/<instance>-<stream>.csv``."""

    def __init__(self, path: Path, settings: SourceSettings, summary: SourceSummary) -> None:
        self.path = path
        self.settings = settings
        self.summary = summary
        self._out: TextIO | None = None
        self._writer: Any = None

    def add(self, reject: Reject) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._out)
            self._writer.writerow(["location", "reason"])
            self.summary.rejects_file = str(self.path)
        self._writer.writerow([reject.location, reject.reason])
        self.summary.rejected += 1
        if self.summary.rejected > self.settings.max_bad_rows:
            self.close()
            raise InputError(
                f"{self.summary.instance} {self.summary.stream}: more than max_bad_rows = "
                f"{self.settings.max_bad_rows} records could not be read; nothing of "
                f"{self.summary.instance} was loaded (the rejects are listed in {self.path})"
            )

    def bad(self, location: str, reason: str) -> None:
        """A record core cannot take: skipped when the source says so, else the source fails."""
        if self.settings.on_bad_row != "skip":
            raise InputError(f"{location}: {reason}")
        self.add(Reject(location, reason))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


class StagingWriter:
    """Encoded rows written as columns of a CSV file the engine reads back typed
    (:meth:`~segsync.engine.Engine.load_staged`): NULL as ``\\N``, a text starting with a
    backslash escaped by another, attributes and properties as JSON. (JSON Lines cost as
    much to write and half again as much to read.)"""

    def __init__(self, out: TextIO, columns: dict[str, str]) -> None:
        self.writer = csv.writer(out, lineterminator="\n")
        self.columns = [(name, kind) for name, kind in columns.items()]

    def write(self, row: dict[str, Any]) -> None:
        """One row; :class:`HalfPair` (nothing written) when a text in it cannot be."""
        cells = [_cell(row.get(name), kind) for name, kind in self.columns]
        try:
            self.writer.writerow(cells)
        except UnicodeEncodeError:
            raise self._half_pair(cells) or ValueError("a staged row is not UTF-8") from None

    def write_rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, HalfPair]]:
        """Rows already made of cells, in the columns' order (a page staged as columns:
        :mod:`segsync.pipeline.batches`); returns the rows that could not be written (their
        index and why), every other row written in order.

        The csv module hands each row's line to the file in one call, which encodes it whole
        before keeping any of it: a row with a text no encoding can write (half a UTF-16 pair
        alone, as ``json.loads`` reads ``"\\ud800"``) is left out entire, and the rows before
        it are written. The page is then written on from the row after it."""
        skipped: list[tuple[int, HalfPair]] = []
        start = 0
        while start < len(rows):
            try:
                self.writer.writerows(rows[start:] if start else rows)
                break
            except UnicodeEncodeError:
                for i in range(start, len(rows)):
                    problem = self._half_pair(rows[i])
                    if problem is not None:
                        skipped.append((i, problem))
                        start = i + 1
                        break
                else:
                    raise
        return skipped

    def _half_pair(self, cells: Sequence[Any]) -> HalfPair | None:
        """Why a row's cells cannot be written as UTF-8, naming the column — and in a JSON
        column the key, ``attributes.first_name`` (None: they can be written)."""
        for (name, kind), cell in zip(self.columns, cells, strict=True):
            code = lone_surrogate(cell) if type(cell) is str else None
            if code is not None:
                where = name
                if kind == "JSON":
                    where += "".join(f".{key}" for key in _path_to_half(json.loads(cell)))
                return HalfPair(where, code)
        return None


def _path_to_half(value: Any) -> list[str]:
    """The keys down to the first text in ``value`` holding half a UTF-16 pair alone."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if lone_surrogate(key) is not None:
                return [shown_text(key)]
            if lone_surrogate(json.dumps(inner, ensure_ascii=False)) is not None:
                return [key, *_path_to_half(inner)]
    elif isinstance(value, list):
        for inner in value:
            if lone_surrogate(json.dumps(inner, ensure_ascii=False)) is not None:
                return _path_to_half(inner)
    return []


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return NULL
    if kind == "JSON":
        return json_text(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return "\\" + value if value[:1] == "\\" else value
    return str(value)


def text_cells(values: Iterable[str | None]) -> list[str]:
    """A text column's cells, as :func:`_cell` writes each: NULL as ``\\N``, a leading
    backslash doubled (so a text ``\\N`` is not read as NULL)."""
    return [NULL if v is None else "\\" + v if v[:1] == "\\" else v for v in values]


NULL = "\\N"
"""How a staging file writes NULL."""


def json_default(value: Any) -> Any:
    """JSON for what ``json`` does not write: decimals as text, dates and times in ISO."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot stage a value of type {type(value).__name__}")


json_text: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, default=json_default).encode
"""A value as a staging file's JSON cell: what ``json.dumps(value, ensure_ascii=False,
default=json_default)`` writes, without making an encoder per call (which cost each staged
record with a JSON column about a microsecond)."""


def iso_utc(moment: dt.datetime) -> str:
    """``moment`` as the store keeps it, naive UTC ISO text (``to_utc(moment).isoformat()``):
    a time in UTC, the usual case, has its text cut from its own ISO form, without a new
    datetime."""
    if moment.tzinfo is dt.UTC:
        return moment.isoformat()[:-6]  # less "+00:00"
    return to_utc(moment).isoformat()


def amount_problem(value: Decimal | int) -> str | None:
    """Why an event's amount cannot be kept (None: it can): not a number, or 10^14 or more in
    size (:data:`~segsync.values.AMOUNT_LIMIT`)."""
    if isinstance(value, Decimal) and value.is_nan():
        return f"amount is not a number ({value})"
    if not -AMOUNT_LIMIT < value < AMOUNT_LIMIT:
        return f"amount out of range ({value:.3e})"
    return None


class Clock:
    """Clamps a record's times to the pull's: a time later than the pull (beyond clock skew)
    is taken as the pull's time, so it cannot outrank later answers; counted once a record."""

    def __init__(self, pulled_at: dt.datetime, tally: WarningTally) -> None:
        self.pulled_at = pulled_at
        self.limit = pulled_at + FUTURE_TOLERANCE
        self.tally = tally
        self.late: dt.datetime | None = None

    def __call__(self, moment: dt.datetime | None) -> str | None:
        """``moment`` as the store keeps it (naive UTC ISO text)."""
        if moment is None:
            return None
        utc = to_utc(moment)
        if utc > self.limit:
            self.late = max(self.late or utc, utc)
            utc = self.pulled_at
        return utc.isoformat()

    def done(self, where: str) -> None:
        if self.late is not None:
            self.tally.add(
                "time in the future, taken as the pull's time", f"{where} ({self.late:%Y-%m-%d})"
            )
            self.late = None


def contact_encoder(
    config: Config,
    instance: str,
    settings: SourceSettings,
    tally: WarningTally,
    rejects: Rejects,
    pulled_at: dt.datetime,
) -> Callable[[Any, int], dict[str, Any] | None]:
    attribute_types = config.attributes
    region = settings.phone_region or config.settings.resolve.default_region
    clock = Clock(pulled_at, tally)
    phones = PhoneBook()
    purposes = frozenset(Purpose)
    consent_columns = [(p, c, CONSENT_AT[p]) for p, c in CONSENT_COLUMNS.items()]

    def encode(record: Any, seq: int) -> dict[str, Any] | None:
        if not isinstance(record, Contact):
            raise InputError(f"{instance}: contacts stream yielded {type(record).__name__}")
        if not record.source_id:
            rejects.bad(f"{instance} contact #{seq}", "empty source_id")
            return None
        check_contact(instance, record)
        where = shown_contact(record.source_id)
        unknown = set(record.consent) - purposes if record.consent else None
        if unknown:
            rejects.bad(
                f"{instance} {where}", f"unknown consent purpose(s) {sorted(map(str, unknown))}"
            )
            return None
        email = normalize_email(record.email)
        if email is None and str(record.email or "").strip():
            tally.add("email is not a valid address; ignored", example(where, record.email))
        country = record.country.strip().upper() if isinstance(record.country, str) else ""
        phone = phones.normalize(record.phone, country if len(country) == 2 else region)
        if phone is None and str(record.phone or "").strip():
            hint = (
                ""
                if region or len(country) == 2
                else " (set phone_region or resolve.default_region)"
            )
            tally.add(f"phone is not a valid number; ignored{hint}", example(where, record.phone))
        attributes: dict[str, Any] = {}
        for name, value in record.attributes.items():
            type_name = attribute_types.get(name)
            if type_name is None:
                continue
            try:
                attributes[name] = coerce(type_name, value)
            except ValueError as exc:
                tally.add(f"attribute {name!r} {exc}; stored as empty", where)
        row: dict[str, Any] = {
            "seq": seq,
            "source_id": str(record.source_id),
            "email": email,
            "phone": phone,
            "attributes": attributes,
            "updated_at": clock(record.updated_at),
        }
        consent, dated = record.consent, record.consent_at
        for purpose, column, at in consent_columns:
            value = consent.get(purpose)
            if isinstance(value, bool):
                row[column] = value
                row[at] = clock(dated.get(purpose))
            else:
                row[column] = row[at] = None
        clock.done(where)
        return row

    return encode


def example(where: str, value: Any) -> str:
    return f"{where} ({mask_identifier(value)!r})"


def event_encoder(
    instance: str, tally: WarningTally, rejects: Rejects, pulled_at: dt.datetime
) -> Callable[[Any, int], dict[str, Any] | None]:
    def encode(record: Any, seq: int) -> dict[str, Any] | None:
        if not isinstance(record, Event):
            raise InputError(f"{instance}: events stream yielded {type(record).__name__}")
        if not record.event_id:
            rejects.bad(f"{instance} event #{seq}", "empty event_id")
            return None
        check_event(instance, record)
        where = f"event {record.event_id}"
        if record.value is not None and (problem := amount_problem(record.value)):
            rejects.bad(f"{instance} {where}", problem)
            return None
        if record.contact_id is None and record.email is None:
            tally.add("event names no contact (no contact_id or email)", where)
        occurred = to_utc(record.occurred_at)
        if occurred > pulled_at + FUTURE_TOLERANCE:
            tally.add("event dated in the future", f"{where} ({occurred:%Y-%m-%d})")
        return {
            "seq": seq,
            "event_id": str(record.event_id),
            "type": record.type,
            "occurred_at": occurred.isoformat(),
            "contact_id": None if record.contact_id is None else str(record.contact_id),
            "email": normalize_email(record.email),
            "value": None if record.value is None else str(record.value),
            "currency": record.currency,
            "properties": record.properties,
        }

    return encode
