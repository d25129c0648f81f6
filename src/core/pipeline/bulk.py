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

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from segsync.config import Config
from segsync.connector import BulkFile, BulkRead, Reject
from segsync.engine import REPEATED_EXAMPLES, Engine, parse
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
from segsync.pipeline.tally import WarningTally, note_repeated_ids
from segsync.report import SourceSummary
from segsync.values import coerce

__all__ = ["stage_files"]

log = logging.getLogger("segsync.pipeline.bulk")

_FILE_SHIFT = 1 << 40  # seq = file index × this + row number: file order, then row order


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


@dataclass
class BulkTables:
    """What :func:`stage_files` made: the relation holding the staged rows (a view when no
    copy was needed) and the scratch tables to drop once it is loaded."""

    relation: str
    view: bool
    tables: list[str]
    views: list[str] = field(default_factory=list)


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
) -> BulkTables:
    """Read ``read.files`` into staged rows (the last row of a repeated id kept); fills
    ``summary`` (records, repeats as warnings) and ``tally``; bad rows go to ``rejects`` or
    raise :class:`InputError`. A file the engine's reader refuses raises
    :class:`~segsync.engine.ReadError`.

    The rows are kept in temporary tables, which the engine spills to disk past its
    ``memory_limit``."""
    contacts = stream == "contacts"
    columns = CONTACT_COLUMNS if contacts else EVENT_COLUMNS
    settings = rejects.settings
    prefix = f"_bulk_{instance}_{stream}"
    python = f"{prefix}_py"
    parts: list[str] = []
    warnings = _Warnings()
    recording = _RecordingTally(tally.where)
    encode = (
        contact_encoder(config, instance, settings, recording, rejects, pulled_at)
        if contacts
        else event_encoder(instance, recording, rejects, pulled_at)
    )
    made = BulkTables(relation=prefix, view=False, tables=[])
    engine.create_empty(python, q.as_text(columns), temporary=True)
    made.tables.append(python)
    try:
        for index, file in enumerate(read.files):
            plan = q.FilePlan.of(
                file,
                attributes=config.attributes if contacts else {},
                region=settings.phone_region or config.settings.resolve.default_region,
                pulled_at=pulled_at,
            )
            rows = f"{prefix}_{index}"
            made.tables.append(f"{rows}_read")
            made.views.extend((rows, _view(rows)))
            _read_file(engine, plan, index, rows, f"connectors.{instance}.{stream}")
            part = rows
            if contacts:
                part = f"{rows}_j"
                made.tables.append(part)
                _lanes(engine, plan, rows)
                _join_lanes(engine, plan, rows, part)
                engine.drop(rows, view=True)
                engine.drop(f"{rows}_read", *_lane_tables(rows))
            parts.append(part)
            _warnings(engine, plan, part, warnings)
            _python_rows(
                engine, plan, part, _view(rows), python, encode, recording, rejects,
                settings.on_bad_row, columns,
            )  # fmt: skip
            engine.drop(_view(rows), view=True)
        for kind, seq, position, example in recording.seen:
            warnings.add(kind, 1, [(seq, position, example)] if example else [])
        warnings.into(tally)
        key = "source_id" if contacts else "event_id"
        _relation(engine, made, columns, parts, python, key, summary)
    except BaseException:
        drop_tables(engine, made)
        raise
    return made


def drop_tables(engine: Engine, made: BulkTables) -> None:
    """Drop what :func:`stage_files` made."""
    engine.drop(made.relation, view=made.view)
    engine.drop(*made.views, view=True)
    engine.drop(*made.tables)


def _relation(
    engine: Engine,
    made: BulkTables,
    columns: dict[str, str],
    parts: list[str],
    python: str,
    key: str,
    summary: SourceSummary,
) -> None:
    """The staged rows as one relation: a view over the one part when no id repeats, else a
    table keeping the last row of each id."""
    names = ", ".join(columns)
    selects = [f"SELECT {names} FROM {part} WHERE status = 'ok'" for part in parts]
    if engine.scalar(parse(f"SELECT count(*) FROM {python}")):
        selects.append(
            f"SELECT {', '.join(_typed(c, t) for c, t in columns.items())} FROM {python}"
        )
    union = " UNION ALL ".join(selects) if selects else f"SELECT {names} FROM {python}"
    records, distinct = engine.rows(
        parse(f"SELECT count(*), count(DISTINCT {key}) FROM ({union}) AS u")
    )[0]
    summary.records = int(records)
    if records == distinct and len(selects) == 1:
        engine.create_view(made.relation, parse(union), temporary=True)
        made.view = True
        return
    engine.create_table(
        made.relation,
        parse(
            f"""SELECT {names} FROM (SELECT *, row_number() OVER (
                    PARTITION BY {key} ORDER BY seq DESC) AS _last FROM ({union}) AS u) AS a
                WHERE _last = 1"""
        ),
        temporary=True,
    )
    repeated = engine.rows(
        parse(
            f"""SELECT {key} FROM ({union}) AS u GROUP BY {key} HAVING count(*) > 1
            ORDER BY min(seq) LIMIT {REPEATED_EXAMPLES}"""
        )
    )
    note_repeated_ids(summary, int(records) - int(distinct), log, [r[0] for r in repeated])


def _typed(column: str, type_: str) -> str:
    return (
        f"json({column}) AS {column}"
        if type_ == "JSON"
        else f"CAST({column} AS {type_}) AS {column}"
    )


# -- one file ------------------------------------------------------------------------------


def _view(rows: str) -> str:
    """The engine's view of the file read into ``rows``."""
    return f"{rows}_view"


def _read_file(engine: Engine, plan: q.FilePlan, index: int, rows: str, where: str) -> None:
    """The file, read once into ``<rows>_read``: every field read, each row's status; and
    ``rows``, the same numbered: ``_row`` (its number in the file) and ``seq`` (its place in
    the stream: file by file, row by row). A table's rows come numbered by the engine; a
    column the mapping names that the table lacks raises :class:`InputError` (``where``:
    the settings' key)."""
    file, view = plan.file, _view(rows)
    if file.table is not None:
        has = engine.read_table(view, file.table, plan.view_keys, rest_without=plan.rest_without)
        _check_columns(file, has, where)
        engine.create_numbered(
            f"{rows}_read", plan.rows_query(view), rows, first=index * _FILE_SHIFT, numbered=True
        )
        return
    if file.format == "csv":
        engine.read_csv(view, file.path, plan.view_columns, delimiter=file.delimiter)
    else:
        engine.read_jsonl(
            view,
            file.path,
            plan.view_keys,
            rest_without=plan.rest_without,
            with_keys=plan.with_keys,
        )
    engine.create_numbered(f"{rows}_read", plan.rows_query(view), rows, first=index * _FILE_SHIFT)


def _check_columns(file: BulkFile, has: list[str], where: str) -> None:
    """Every column the settings map is one of the table's."""
    mapping = dataclasses.asdict(file.columns)
    named = [(k, v) for k, v in mapping.items() if isinstance(v, str) and k not in _NOT_COLUMNS]
    named += [(f"consent.{k}", v) for k, v in mapping.get("consent", {}).items()]
    named += [(f"attributes.{k}", v) for k, v in mapping.get("attributes", {}).items()]
    missing = [(k, v) for k, v in named if v not in has]
    if missing:
        listed = ", ".join(f"{k} = {v!r}" for k, v in missing)
        raise InputError(
            f"{where}: {listed}: no such column in {file.where}; its columns are: "
            f"{', '.join(has) or '(none)'}"
        )


_NOT_COLUMNS = frozenset({"type", "default_currency"})


def _distinct(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    return engine.rows(parse(query))


def _lane_tables(rows: str) -> tuple[str, str, str]:
    """The lane tables of ``rows``: phones, emails, attributes (named after the rows: several
    sources' files are read at once, their temporary tables side by side)."""
    return f"{rows}_lane_phone", f"{rows}_lane_email", f"{rows}_lane_attr"


def _lanes(engine: Engine, plan: q.FilePlan, rows: str) -> None:
    """Ask Python what SQL cannot say, once per distinct value, into the lane tables."""
    if plan.contacts:
        lane_phone, lane_email, lane_attr = _lane_tables(rows)
        engine.create_empty(lane_phone, q.LANE_PHONE, temporary=True)
        left = read_phones(engine, rows, lane_phone, plan.region, prefix=f"{rows}_phones")
        phones = PhoneBook()
        engine.insert_rows(
            lane_phone,
            list(q.LANE_PHONE),
            (_phone_lane(phones, plan.region, *pair) for pair in left),
        )
        emails = _distinct(
            engine, f"SELECT DISTINCT email_t FROM {rows} WHERE status = 'ok' AND email_lane"
        )
        engine.create_empty(lane_email, q.LANE_EMAIL, temporary=True)
        engine.insert_rows(lane_email, list(q.LANE_EMAIL), (_email_lane(e) for (e,) in emails))
        engine.create_empty(lane_attr, q.LANE_ATTR, temporary=True)
        for slot, (_, type_name) in enumerate(plan.attribute_slots):
            values = _distinct(
                engine,
                f"SELECT DISTINCT a{slot}_t, a{slot}_k FROM {rows} "
                f"WHERE status = 'ok' AND a{slot}_lane",
            )
            engine.insert_rows(
                lane_attr,
                list(q.LANE_ATTR),
                (_attribute_lane(slot, type_name, t, k) for t, k in values),
            )


def _join_lanes(engine: Engine, plan: q.FilePlan, rows: str, part: str) -> None:
    """Contacts: the lanes' answers joined to the rows, attributes made JSON."""
    patterns = [
        r[0]
        for r in engine.rows(
            parse(f"SELECT DISTINCT _keys FROM {rows} WHERE status = 'ok' ORDER BY 1")
        )
    ]
    engine.create_table(part, plan.lanes_query(rows, patterns, rows + "_lane"), temporary=True)


def _warnings(engine: Engine, plan: q.FilePlan, part: str, warnings: _Warnings) -> None:
    """The warnings the pages would raise on the rows SQL took."""
    for position, query in plan.warning_queries(part):
        counts: dict[str, int] = {}
        shown: dict[str, list[tuple[int, int, str]]] = {}
        for kind, n, seq, *values in engine.rows(query):
            counts[kind] = int(n)
            shown.setdefault(kind, []).append((seq, position, plan.example(kind, values)))
        for kind, n in counts.items():
            warnings.add(kind, n, shown[kind])


def _python_rows(
    engine: Engine,
    plan: q.FilePlan,
    source: str,
    view: str,
    python: str,
    encode: Callable[[Any, int], dict[str, Any] | None],
    recording: _RecordingTally,
    rejects: Rejects,
    on_bad_row: str,
    columns: dict[str, str],
) -> None:
    """The rows SQL could not take, read by the source (a table's: from ``view``, the
    engine's view of it) and encoded as its pages would be, appended (as text) to
    ``python``."""
    numbered = engine.rows(
        parse(f"SELECT _row, seq FROM {source} WHERE status = 'python' ORDER BY _row")
    )
    if not numbered:
        return
    file = plan.file
    seqs = dict(numbered)
    order = [number for number, _ in numbered]
    names = list(columns)
    batch: list[list[Any]] = []
    read = file.rows(order) if file.rows is not None else _table_rows(engine, plan, source, view)
    for position, (line, row) in enumerate(read):
        seq = seqs[line if file.format != "csv" else order[position]]
        recording.seq, recording.position = seq, 0
        location = f"{file.where}:{line}"
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
        if len(batch) >= 10_000:
            engine.insert_rows(python, names, batch)
            batch = []
    engine.insert_rows(python, names, batch)


def _table_rows(
    engine: Engine, plan: q.FilePlan, source: str, view: str
) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """The python rows of a table, from the engine's view of it: ``(row number, {column:
    value})`` of the columns read (and, for events, the others), in order."""
    keys = plan.view_keys
    fields = "".join(f", v.t{i}, v.v{i}" for i in range(len(keys)))
    rest = ", v._rest" if plan.rest_without is not None else ""
    query = parse(
        f"""SELECT v._row{fields}{rest} FROM {view} v
        WHERE v._row IN (SELECT _row FROM {source} WHERE status = 'python') ORDER BY v._row"""
    )
    for number, *values in engine.rows(query):
        row: dict[str, Any] = {}
        for i, key in enumerate(keys):
            kind, text = values[2 * i], values[2 * i + 1]
            if kind is not None:
                row[key] = _value(text, kind)
        if rest:
            row.update(json.loads(values[-1] or "{}"))
        yield int(number), row


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
