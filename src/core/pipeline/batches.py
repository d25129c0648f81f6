"""Staging a page of contacts given as columns (:class:`~segsync.connector.ContactBatch`).

The same rows, warnings and rejects as :func:`~segsync.pipeline.staging.contact_encoder` gives
for the batch's contacts one by one — only column by column, without a :class:`Contact` or a
row dict per record: identifiers normalised a column at a time, attributes coerced a column at
a time (a text column of text values as it is), times clamped to the pull, and the staging
file's cells made per column. Warnings are gathered with their row and held
(:class:`~segsync.pipeline.tally.HeldWarnings`) until the rows are written, then added to the
tally in the order the record-by-record encoder adds them, so the report's examples are the
same — and when writing a row stops the source, only those of the rows up to it.

A batch with a record the columns do not cover plainly (an empty id, a purpose segsync does
not know, a value of a type the columns do not read: a time as text, a consent answer of
``"yes"``) is encoded record by record — where the record's own checks
(:mod:`segsync.pipeline.contract`) name what is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from segsync.config import Config
from segsync.connector import ContactBatch, Purpose, SourceSettings
from segsync.model.identity import normalize_email
from segsync.model.phones import PhoneBook
from segsync.model.profile import CONSENT_COLUMNS
from segsync.pipeline.contract import columns_typed, shown_contact
from segsync.pipeline.staging import (
    CONTACT_COLUMNS,
    FUTURE_TOLERANCE,
    NULL,
    example,
    iso_utc,
    json_text,
    text_cells,
)
from segsync.pipeline.tally import HeldWarnings, WarningTally
from segsync.values import coerce, to_utc

__all__ = ["BatchEncoder"]

_LATE = "time in the future, taken as the pull's time"
_string: Callable[[str], str] = json.encoder.encode_basestring
"""A text as JSON, as :data:`~segsync.pipeline.staging.json_text` writes it (non-ASCII
characters as they are)."""


class _Where:
    """``where[i]``: how a warning names row ``i`` (made only for the rows warned about)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def __getitem__(self, i: int) -> str:
        return shown_contact(self.ids[i])


def _value(value: Any) -> str:
    """``value`` as :data:`~segsync.pipeline.staging.json_text` writes it inside an object."""
    return _string(value) if type(value) is str else json_text(value)


class BatchEncoder:
    """Encodes :class:`ContactBatch` pages into staging rows (tuples of CSV cells, in
    :data:`~segsync.pipeline.staging.CONTACT_COLUMNS` order)."""

    def __init__(
        self,
        config: Config,
        settings: SourceSettings,
        tally: WarningTally,
        pulled_at: dt.datetime,
        phones: PhoneBook | None = None,
    ) -> None:
        self.attribute_types = config.attributes
        self.region = settings.phone_region or config.settings.resolve.default_region
        self.pulled = pulled_at.isoformat()
        self.limit = pulled_at + FUTURE_TOLERANCE
        self.phones = phones or PhoneBook()
        self.purposes = frozenset(Purpose)
        self.held = HeldWarnings(tally)
        """The warnings of the batch last encoded, until it is written."""

    def plain(self, batch: Sequence[Any]) -> bool:
        """Whether a page is a :class:`ContactBatch` its columns cover (else it is encoded
        record by record): every id set, every purpose known, every value of the type its
        column reads."""
        return (
            isinstance(batch, ContactBatch)
            and all(batch.source_id)
            and set(batch.consent) <= self.purposes
            and columns_typed(batch)
        )

    @staticmethod
    def named(batch: ContactBatch, i: int) -> str:
        """How a reject names the ``i``-th contact of a batch."""
        return shown_contact(batch.source_id[i])

    def encode(self, batch: ContactBatch, first_seq: int) -> list[tuple[Any, ...]]:
        """The staging rows of a :meth:`plain` batch whose first record is ``first_seq`` (its
        warnings in :attr:`held`)."""
        size = len(batch)
        blank: list[Any] = [None] * size
        notes: list[tuple[int, int, str, str]] = []  # (row, order, kind, example)
        ids = [str(i) for i in batch.source_id]
        where = _Where(batch.source_id)

        raw_emails = batch.email or blank
        emails = [None if e is None else normalize_email(e) for e in raw_emails]
        for i, (raw, email) in enumerate(zip(raw_emails, emails, strict=True)):
            if email is None and str(raw or "").strip():
                notes.append(
                    (i, 0, "email is not a valid address; ignored", example(where[i], raw))
                )

        phones = self._phones(batch, where, notes, blank)
        attributes = self._attributes(batch, where, notes, size)

        late: dict[int, dt.datetime] = {}
        updated = self._times(batch.updated_at or blank, late)
        consent: list[list[Any]] = []
        for purpose in CONSENT_COLUMNS:
            answers = batch.consent.get(purpose)
            if answers is None:
                consent += [[NULL] * size, [NULL] * size]
                continue
            dated = batch.consent_at.get(purpose) or blank
            shown = [v if isinstance(v, bool) else None for v in answers]
            consent.append([NULL if v is None else "true" if v else "false" for v in shown])
            consent.append(self._times(
                (d if v is not None else None for v, d in zip(shown, dated, strict=True)), late
            ))  # fmt: skip
        for i, moment in late.items():
            notes.append((i, 3, _LATE, f"{where[i]} ({moment:%Y-%m-%d})"))
        self.held.hold(notes)

        columns: dict[str, list[Any]] = {
            "seq": list(range(first_seq, first_seq + size)),
            "source_id": text_cells(ids),
            "email": text_cells(emails),
            "phone": text_cells(phones),
            "attributes": attributes,
            "updated_at": updated,
        }
        for (column, at), (answers, times) in zip(
            ((c, f"{c}_at") for c in CONSENT_COLUMNS.values()),
            zip(consent[::2], consent[1::2], strict=True),
            strict=True,
        ):
            columns[column] = answers
            columns[at] = times
        return list(zip(*(columns[name] for name in CONTACT_COLUMNS), strict=True))

    def _phones(
        self,
        batch: ContactBatch,
        where: _Where,
        notes: list[tuple[int, int, str, str]],
        blank: list[Any],
    ) -> list[str | None]:
        region, normalize = self.region, self.phones.normalize
        countries = [
            c.strip().upper() if isinstance(c, str) else "" for c in (batch.country or blank)
        ]
        out: list[str | None] = []
        for i, (raw, country) in enumerate(zip(batch.phone or blank, countries, strict=True)):
            if raw is None:
                out.append(None)
                continue
            phone = normalize(raw, country if len(country) == 2 else region)
            out.append(phone)
            if phone is None and str(raw or "").strip():
                hint = (
                    ""
                    if region or len(country) == 2
                    else " (set phone_region or resolve.default_region)"
                )
                kind = f"phone is not a valid number; ignored{hint}"
                notes.append((i, 1, kind, example(where[i], raw)))
        return out

    def _attributes(
        self,
        batch: ContactBatch,
        where: _Where,
        notes: list[tuple[int, int, str, str]],
        size: int,
    ) -> list[str]:
        """Each row's attributes as the JSON text the record-by-record encoder writes."""
        kept: list[tuple[str, list[Any], list[bool]]] = []  # name, values, present
        for name, values in batch.attributes.items():
            type_name = self.attribute_types.get(name)
            if type_name is None:
                continue
            coerced, present = self._coerce(name, type_name, values, where, notes)
            kept.append((name, coerced, present))
        if not kept:
            return ["{}"] * size
        if all(all(present) for _, _, present in kept):
            # each value as JSON with its key, a column at a time; a row joins its values
            keys = [json_text(name) for name, _, _ in kept]
            parts = [
                [f"{key}: {_value(v)}" for v in values]
                for key, (_, values, _) in zip(keys, kept, strict=True)
            ]
            if len(parts) == 1:
                return [f"{{{part}}}" for part in parts[0]]
            return ["{" + ", ".join(row) + "}" for row in zip(*parts, strict=True)]
        return [
            json_text({name: values[i] for name, values, present in kept if present[i]})
            for i in range(size)
        ]

    def _coerce(
        self,
        name: str,
        type_name: str,
        values: list[Any],
        where: _Where,
        notes: list[tuple[int, int, str, str]],
    ) -> tuple[list[Any], list[bool]]:
        if type_name == "text" and all(type(v) is str and v.strip() for v in values):
            return values, [True] * len(values)  # what coerce("text", v) gives for each
        out: list[Any] = []
        present: list[bool] = []
        for i, value in enumerate(values):
            try:
                out.append(coerce(type_name, value))
                present.append(True)
            except ValueError as exc:
                out.append(None)
                present.append(False)
                notes.append((i, 2, f"attribute {name!r} {exc}; stored as empty", where[i]))
        return out, present

    def _times(
        self, moments: Iterable[dt.datetime | None], late: dict[int, dt.datetime]
    ) -> list[str]:
        """Times as the store keeps them (naive UTC ISO text), clamped to the pull; a time past
        the pull's is noted in ``late`` (the latest one of its row)."""
        out: list[str] = []
        limit = self.limit
        aware = limit.replace(tzinfo=dt.UTC)
        for i, moment in enumerate(moments):
            if moment is None:
                out.append(NULL)
            elif moment > (limit if moment.tzinfo is None else aware):
                naive = to_utc(moment)
                late[i] = max(late.get(i, naive), naive)
                out.append(self.pulled)
            else:
                out.append(iso_utc(moment))
        return out
