"""Bulk staging: files a source hands over (:class:`~segsync.connector.BulkRead`), read by the
engine and checked, typed and normalised in SQL — the same rows, warnings, rejects and
``file:line`` errors as the pages of :mod:`segsync.pipeline.staging` give, without a record
passing through Python one by one.

Each file becomes a view (:meth:`Engine.read_csv`, :meth:`Engine.read_jsonl`) read once into
``_bulk_rows``: every field by the rules of :mod:`segsync.values`, in SQL where SQL says the
same (:mod:`segsync.pipeline.bulk_sql`). What SQL cannot say is asked of Python once per
distinct value (*lanes*): phone numbers (:class:`~segsync.model.phones.PhoneBook`), emails
outside ASCII, attribute values SQL does not type. A row SQL cannot take at all — a bad one,
or one in a shape the SQL does not read (a time with a week date, an amount as a JSON float) —
goes back to the source (``BulkFile.rows`` / ``BulkFile.record``) and through the encoder
its pages would go through, so its record, reject or error is the pages' own.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from segsync.config import Config
from segsync.connector import BulkFile, BulkRead, Reject
from segsync.engine import Engine, parse
from segsync.errors import InputError
from segsync.model.identity import mask_identifier, normalize_email
from segsync.model.phones import PhoneBook
from segsync.pipeline import bulk_sql as q
from segsync.pipeline.phones_sql import read_phones
from segsync.pipeline.staging import (
    CONTACT_COLUMNS,
    EVENT_COLUMNS,
    Rejects,
    contact_encoder,
    event_encoder,
)
from segsync.pipeline.tally import WarningTally
from segsync.report import SourceSummary
from segsync.values import coerce

__all__ = ["stage_files"]

log = logging.getLogger("segsync.pipeline.bulk")

_FILE_SHIFT = 1 << 40  # seq = file index × this + row number: file order, then row order
_ROWS, _VIEW, _ACC, _PY = "_bulk_rows", "_bulk_view", "_bulk_acc", "_bulk_py"
_JOINED = "_bulk_joined"
_LANE_PHONE, _LANE_EMAIL, _LANE_ATTR = "_lane_phone", "_lane_email", "_lane_attr"


@dataclass
class _Warnings:
    """Warnings as the pages would raise them, merged in record order: per kind, the count,
    the first examples and where the first one was (sequence, place in the record)."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)

    def add(self, kind: str, count: int, examples: Iterable[tuple[int, int, str]]) -> None:
        if not count:
            return
        self.counts[kind] = self.counts.get(kind, 0) + count
        self.examples[kind] = sorted([*self.examples.get(kind, []), *examples])

    def into(self, tally: WarningTally) -> None:
        for kind in sorted(self.counts, key=lambda k: self.examples[k][0][:2]):
            tally.counts[kind] += self.counts[kind]
            tally.examples[kind] = [e for *_, e in self.examples[kind][: tally.samples]]


class _RecordingTally(WarningTally):
    """The tally the encoders write Python rows' warnings to: each with where it happened."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.seq = 0
        self.position = 0
        self.seen: list[tuple[str, int, int, str]] = []

    def add(self, kind: str, example: str = "") -> None:
        self.seen.append((kind, self.seq, self.position, example))
        self.position += 1


def stage_files(
    engine: Engine,
    *,
    config: Config,
    instance: str,
    stream: str,
    read: BulkRead,
    summary: SourceSummary,
    rejects: Rejects,
    tally: WarningTally,
    pulled_at: dt.datetime,
) -> str:
    """Read ``read.files`` into a new temporary table of staged rows (the last row of a
    repeated id kept) and return its name; fills ``summary`` (records, repeats as warnings)
    and ``tally``; bad rows go to ``rejects`` or raise :class:`InputError`. A file the
    engine's reader refuses raises :class:`~segsync.engine.ReadError`."""
    contacts = stream == "contacts"
    columns = CONTACT_COLUMNS if contacts else EVENT_COLUMNS
    settings = rejects.settings
    engine.create_empty(_ACC, columns, temporary=True)
    warnings = _Warnings()
    recording = _RecordingTally(tally.where)
    encode = (
        contact_encoder(config, instance, settings, recording, rejects, pulled_at)
        if contacts
        else event_encoder(instance, recording, rejects, pulled_at)
    )
    try:
        for index, file in enumerate(read.files):
            plan = q.FilePlan.of(
                file,
                attributes=config.attributes if contacts else {},
                region=settings.phone_region or config.settings.resolve.default_region,
                pulled_at=pulled_at,
            )
            _read_file(engine, plan, index)
            _lanes(engine, plan)
            left = _keep_fast(engine, plan, warnings)
            _python_rows(
                engine, file, left, encode, recording, rejects, settings.on_bad_row, columns
            )
            engine.drop(left, _LANE_PHONE, _LANE_EMAIL, _LANE_ATTR)
        for kind, seq, position, example in recording.seen:
            warnings.add(kind, 1, [(seq, position, example)] if example else [])
        warnings.into(tally)
        table = f"_bulk_{instance}_{stream}"
        key = "source_id" if contacts else "event_id"
        summary.records = int(engine.scalar(parse(f"SELECT count(*) FROM {_ACC}")))
        names = ", ".join(columns)
        engine.create_table(
            table,
            parse(
                f"""SELECT {names} FROM (SELECT *, row_number() OVER (
                        PARTITION BY {key} ORDER BY seq DESC) AS _last FROM {_ACC}) AS a
                    WHERE _last = 1"""
            ),
            temporary=True,
        )
        kept = int(engine.scalar(parse(f"SELECT count(*) FROM {table}")))
    finally:
        engine.drop(_ACC, _ROWS, _JOINED, _PY, _LANE_PHONE, _LANE_EMAIL, _LANE_ATTR)
        engine.drop(_VIEW, view=True)
    repeated = summary.records - kept
    if repeated:
        times = f"{repeated:,} × " if repeated > 1 else ""
        line = f"{instance} {stream}: {times}a record repeated an id; the last one won"
        summary.warnings += repeated
        summary.warning_samples.append(line)
        log.warning("%s", line)
    return table


# -- one file ------------------------------------------------------------------------------


def _read_file(engine: Engine, plan: q.FilePlan, index: int) -> None:
    """The file, read once into ``_bulk_rows``: every field read, each row's status."""
    file = plan.file
    if file.format == "csv":
        engine.read_csv(_VIEW, file.path, plan.view_columns, delimiter=file.delimiter)
    else:
        engine.read_jsonl(
            _VIEW,
            file.path,
            plan.view_keys,
            rest_without=plan.rest_without,
            with_keys=plan.with_keys,
        )
    engine.create_table(_ROWS, plan.rows_query(_VIEW, index * _FILE_SHIFT), temporary=True)


def _distinct(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    return engine.rows(parse(query))


def _lanes(engine: Engine, plan: q.FilePlan) -> None:
    """Ask Python what SQL cannot say, once per distinct value, into the lane tables."""
    if plan.contacts:
        engine.create_empty(_LANE_PHONE, q.LANE_PHONE, temporary=True)
        left = read_phones(engine, _ROWS, _LANE_PHONE, plan.region)
        phones = PhoneBook()
        engine.insert_rows(
            _LANE_PHONE,
            list(q.LANE_PHONE),
            (_phone_lane(phones, plan.region, *pair) for pair in left),
        )
        emails = _distinct(
            engine, f"SELECT DISTINCT email_t FROM {_ROWS} WHERE status = 'ok' AND email_lane"
        )
        engine.create_empty(_LANE_EMAIL, q.LANE_EMAIL, temporary=True)
        engine.insert_rows(_LANE_EMAIL, list(q.LANE_EMAIL), (_email_lane(e) for (e,) in emails))
        engine.create_empty(_LANE_ATTR, q.LANE_ATTR, temporary=True)
        for slot, (_, type_name) in enumerate(plan.attribute_slots):
            values = _distinct(
                engine,
                f"SELECT DISTINCT a{slot}_t, a{slot}_k FROM {_ROWS} "
                f"WHERE status = 'ok' AND a{slot}_lane",
            )
            engine.insert_rows(
                _LANE_ATTR,
                list(q.LANE_ATTR),
                (_attribute_lane(slot, type_name, t, k) for t, k in values),
            )


def _keep_fast(engine: Engine, plan: q.FilePlan, warnings: _Warnings) -> str:
    """The rows SQL and the lanes took, appended to the stream's rows, and their warnings;
    returns the table that says which rows are left for Python."""
    source = _ROWS
    if plan.contacts:
        patterns = [
            r[0]
            for r in engine.rows(
                parse(f"SELECT DISTINCT _keys FROM {_ROWS} WHERE status = 'ok' ORDER BY 1")
            )
        ]
        engine.create_table(_JOINED, plan.lanes_query(_ROWS, patterns), temporary=True)
        engine.drop(_ROWS)
        source = _JOINED
    columns = list(CONTACT_COLUMNS if plan.contacts else EVENT_COLUMNS)
    engine.insert(
        _ACC,
        parse(f"SELECT {', '.join(columns)} FROM {source} WHERE status = 'ok'"),
        columns=columns,
    )
    for position, query in plan.warning_queries(source):
        counts: dict[str, int] = {}
        shown: dict[str, list[tuple[int, int, str]]] = {}
        for kind, n, seq, *values in engine.rows(query):
            counts[kind] = int(n)
            shown.setdefault(kind, []).append((seq, position, plan.example(kind, values)))
        for kind, n in counts.items():
            warnings.add(kind, n, shown[kind])
    return source


def _python_rows(
    engine: Engine,
    file: BulkFile,
    source: str,
    encode: Callable[[Any, int], dict[str, Any] | None],
    recording: _RecordingTally,
    rejects: Rejects,
    on_bad_row: str,
    columns: dict[str, str],
) -> None:
    """The rows SQL could not take, read by the source and encoded as its pages would be."""
    numbered = engine.rows(
        parse(f"SELECT _row, seq FROM {source} WHERE status = 'python' ORDER BY _row")
    )
    if not numbered:
        return
    seqs = dict(numbered)
    order = [number for number, _ in numbered]
    names = list(columns)
    batch: list[list[Any]] = []
    for position, (line, row) in enumerate(file.rows(order)):
        seq = seqs[line if file.format == "jsonl" else order[position]]
        recording.seq, recording.position = seq, 0
        location = f"{file.path}:{line}"
        try:
            if isinstance(row, Exception):
                raise row
            record = file.record(line, row)
        except InputError as exc:
            if on_bad_row != "skip":
                raise
            rejects.add(Reject(location, str(exc).removeprefix(f"{location}: ")))
            continue
        staged = encode(record, seq)
        if staged is not None:
            batch.append([_staged_value(staged.get(c)) for c in names])
    if not batch:
        return
    engine.create_empty(_PY, q.as_text(columns), temporary=True)
    engine.insert_rows(_PY, names, batch)
    engine.insert(_ACC, q.from_text(_PY, columns), columns=names)
    engine.drop(_PY)


def _staged_value(value: Any) -> Any:
    """A staged row's value as the text table holds it: JSON for attributes and properties."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- lanes: Python once per distinct value ------------------------------------------------


def _value(text: str | None, kind: str | None) -> Any:
    """The Python value a JSON reader (or a CSV cell) gives for ``(text, kind)``."""
    if kind is None or kind == "null":
        return None
    if kind == "string":
        return text
    if kind == "boolean":
        return text == "true"
    return json.loads(text or "null")


def _phone_lane(
    phones: PhoneBook,
    default: str | None,
    phone_t: str | None,
    phone_k: str | None,
    country_t: str | None,
    country_k: str | None,
) -> list[Any]:
    """The staged phone of a raw phone and country, and the warning the pages would give."""
    raw = _value(phone_t, phone_k)
    country_value = _value(country_t, country_k)
    country_text = None if country_value is None else (str(country_value).strip() or None)
    country = country_text.strip().upper() if isinstance(country_text, str) else ""
    phone = phones.normalize(raw, country if len(country) == 2 else default)
    warn = None
    if phone is None and str(raw or "").strip():
        hint = (
            "" if default or len(country) == 2 else " (set phone_region or resolve.default_region)"
        )
        warn = f"phone is not a valid number; ignored{hint}"
    return [phone_t, phone_k, country_t, country_k, phone, warn, mask_identifier(raw)]


def _email_lane(raw: str) -> list[Any]:
    email = normalize_email(raw)
    warn = email is None and bool(raw.strip())
    return [raw, email, warn]


def _attribute_lane(slot: int, type_name: str, text: str | None, kind: str | None) -> list[Any]:
    """An attribute value coerced as the pages coerce it: its JSON, or None when it cannot be
    (the row then goes through Python, for the warning)."""
    try:
        value = coerce(type_name, _value(text, kind))
    except ValueError:
        return [slot, text, kind, None]
    return [slot, text, kind, json.dumps(value, ensure_ascii=False)]
