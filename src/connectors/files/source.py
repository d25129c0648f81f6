"""The ``files`` source: contacts and events from CSV / JSON Lines files.

Each configured file (or glob) is streamed row by row, never loaded whole. The cursor is a
fingerprint (size and modification time) of every matched file; when none changed, the pull
yields nothing. When any changed, the stream is a full snapshot of all matched files, so rows
deleted from a file disappear from segsync too. A UTF-8 byte-order mark is fine; a header
naming a column twice is refused; a row that cannot be read fails the source, or with
``on_bad_row = "skip"`` is reported as a :class:`~segsync.connector.Reject`.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob as globmod
import json
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from segsync.connector import ConnectorContext, Contact, Event, Page, Purpose, Reject
from segsync.errors import InputError
from segsync.values import parse_amount, parse_bool, parse_datetime

from .settings import ContactsSource, EventsSource, FileSource, FilesSettings

__all__ = ["FilesSource"]

SourceT = TypeVar("SourceT", ContactsSource, EventsSource)
RecordT = TypeVar("RecordT", Contact, Event)
_UTF8 = frozenset({"utf-8", "utf8", "utf-8-sig"})


class FilesSource:
    """The source role of a ``files`` instance."""

    def __init__(self, settings: FilesSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def streams(self) -> tuple[str, ...]:
        streams = []
        if self.settings.contact_sources():
            streams.append("contacts")
        if self.settings.event_sources():
            streams.append("events")
        return tuple(streams)

    # -- paths ------------------------------------------------------------------------------

    def _paths(self, source: FileSource, *, must_exist: bool = True) -> list[Path]:
        pattern = Path(source.path).expanduser()
        if not pattern.is_absolute():
            pattern = self.context.base_dir / pattern
        if globmod.has_magic(str(pattern)):
            paths = sorted(Path(p) for p in globmod.glob(str(pattern)) if Path(p).is_file())
            if not paths and must_exist:
                raise InputError(f"{self._where(source)}: no file matches {str(pattern)!r}")
            return paths
        if must_exist and not pattern.is_file():
            raise InputError(f"{self._where(source)}: file not found: {pattern}")
        return [pattern]

    def _where(self, source: FileSource) -> str:
        kind = "contacts" if isinstance(source, ContactsSource) else "events"
        return f"connectors.{self.context.instance}.{kind}"

    def _fingerprint(self, sources: list[Any]) -> str:
        prints: dict[str, list[int]] = {}
        for source in sources:
            for path in self._paths(source):
                st = path.stat()
                prints[str(path)] = [st.st_size, st.st_mtime_ns]
        return json.dumps(prints, sort_keys=True)

    # -- reading ----------------------------------------------------------------------------

    def _rows(
        self, source: FileSource, path: Path
    ) -> Generator[tuple[int, dict[str, Any] | InputError], None, None]:
        """(line number, row) pairs, streamed; a row that cannot be read comes as the
        :class:`InputError` saying why (the caller skips it or fails). Problems with the whole
        file (its header, its encoding) raise."""
        fmt = source.format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")
        encoding = "utf-8-sig" if source.encoding.replace("_", "-").lower() in _UTF8 else None
        try:
            handle = path.open(encoding=encoding or source.encoding, newline="")
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror}") from None
        except LookupError:
            raise InputError(
                f"{self._where(source)}.encoding: unknown encoding {source.encoding!r}"
            ) from None
        with handle:
            try:
                if fmt == "csv":
                    yield from self._csv_rows(source, path, handle)
                else:
                    yield from self._jsonl_rows(path, handle)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: not {source.encoding} text (byte {exc.start}); set 'encoding'"
                ) from None

    def _csv_rows(
        self, source: FileSource, path: Path, handle: TextIO
    ) -> Generator[tuple[int, dict[str, Any] | InputError], None, None]:
        reader = csv.reader(handle, delimiter=source.delimiter)
        try:
            header = next(reader, None) or []
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV header: {exc}") from None
        seen: set[str] = set()
        for column in header:
            if column in seen:
                raise InputError(
                    f"{path}: the header names column {column!r} twice; expected unique column "
                    "names (rename one of them)"
                )
            seen.add(column)
        missing = [c for c in source.required_columns() if c not in seen]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {', '.join(map(repr, missing))} set in "
                f"{self._where(source)}; the header has: {', '.join(header) or '(empty)'}"
            )
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = str(exc)
                if "field larger than field limit" in reason:
                    reason = f"a field is longer than {csv.field_size_limit():,} characters"
                yield start, InputError(f"{path}:{start}: malformed CSV: {reason}")
                continue
            if not cells:
                continue
            if len(cells) > len(header):
                yield start, InputError(f"{path}:{start}: more fields than the header has")
                continue
            yield start, dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))

    @staticmethod
    def _jsonl_rows(
        path: Path, handle: TextIO
    ) -> Generator[tuple[int, dict[str, Any] | InputError], None, None]:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield (
                    number,
                    InputError(
                        f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})"
                    ),
                )
                continue
            if not isinstance(row, dict):
                yield (
                    number,
                    InputError(
                        f"{path}:{number}: expected a JSON object, found {type(row).__name__}"
                    ),
                )
                continue
            yield number, row

    @staticmethod
    def _field(path: Path, line: int, row: dict[str, Any], column: str, what: str) -> Any:
        if column not in row:
            raise InputError(f"{path}:{line}: missing {what} field {column!r}")
        return row[column]

    def _contact(
        self, source: ContactsSource, path: Path, line: int, row: dict[str, Any]
    ) -> Contact:
        ident = row.get(source.id)
        if ident in (None, ""):
            raise InputError(f"{path}:{line}: empty id (column {source.id!r})")
        consent: dict[Purpose, bool | None] = {}
        for purpose, column in source.consent.items():
            try:
                consent[purpose] = parse_bool(row.get(column))
            except ValueError as exc:
                raise InputError(f"{path}:{line}: column {column!r}: {exc}") from None
        updated = self._time(path, line, row, source.updated_at)
        consent_at = self._time(path, line, row, source.consent_updated_at) or updated
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

    @staticmethod
    def _time(path: Path, line: int, row: dict[str, Any], column: str | None) -> dt.datetime | None:
        if not column:
            return None
        try:
            return parse_datetime(row.get(column))
        except ValueError as exc:
            raise InputError(f"{path}:{line}: column {column!r}: {exc}") from None

    def _event(self, source: EventsSource, path: Path, line: int, row: dict[str, Any]) -> Event:
        ident = row.get(source.id)
        if ident in (None, ""):
            raise InputError(f"{path}:{line}: empty id (column {source.id!r})")
        try:
            occurred = parse_datetime(self._field(path, line, row, source.occurred_at, "time"))
            value = parse_amount(row.get(source.value)) if source.value else None
        except ValueError as exc:
            raise InputError(f"{path}:{line}: {exc}") from None
        if occurred is None:
            raise InputError(f"{path}:{line}: empty time (column {source.occurred_at!r})")
        type_ = str(row.get(source.type_column) or "") if source.type_column else source.type
        if not type_:
            raise InputError(f"{path}:{line}: empty event type (column {source.type_column!r})")
        used = {source.id, source.occurred_at, source.value, source.currency, source.type_column}
        used |= {source.contact_id, source.email}
        return Event(
            event_id=str(ident),
            type=type_,
            occurred_at=occurred,
            contact_id=_text(row.get(source.contact_id)) if source.contact_id else None,
            email=_text(row.get(source.email)) if source.email else None,
            value=value,
            currency=_text(row.get(source.currency))
            if source.currency
            else source.default_currency,
            properties={k: v for k, v in row.items() if k not in used},
        )

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        async for page in self._snapshot(self.settings.contact_sources(), cursor, self._contact):
            yield page

    async def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        async for page in self._snapshot(self.settings.event_sources(), cursor, self._event):
            yield page

    async def _snapshot(
        self,
        sources: Sequence[SourceT],
        cursor: str | None,
        parse: Callable[[SourceT, Path, int, dict[str, Any]], RecordT],
    ) -> AsyncIterator[Page[RecordT]]:
        """All rows of all files as one snapshot, page by page; nothing if no file changed."""
        if not sources:
            return
        fingerprint = self._fingerprint(list(sources))
        if fingerprint == cursor:
            return
        skip = self.settings.on_bad_row == "skip"
        page: list[RecordT] = []
        rejects: list[Reject] = []
        for source in sources:
            for path in self._paths(source):
                for line, row in self._rows(source, path):
                    try:
                        if isinstance(row, InputError):
                            raise row
                        page.append(parse(source, path, line, row))
                    except InputError as exc:
                        if not skip:
                            raise
                        location = f"{path}:{line}"
                        rejects.append(Reject(location, _reason(str(exc), location)))
                    if len(page) >= self.settings.page_size:
                        yield Page(page, cursor=None, snapshot=True, rejects=rejects)
                        page, rejects = [], []
        yield Page(page, cursor=fingerprint, snapshot=True, rejects=rejects)

    def readable(self) -> list[str]:
        """Open every file and read its header and first row; what ``check`` reports."""
        details: list[str] = []
        for source in [*self.settings.contact_sources(), *self.settings.event_sources()]:
            for path in self._paths(source):
                rows = self._rows(source, path)
                next(rows, None)  # reads the header and the first row
                rows.close()
                details.append(f"{path.name} readable")
        return details


def _reason(message: str, location: str) -> str:
    """A row's error message without the ``file:line: `` it starts with."""
    return message.removeprefix(f"{location}: ")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
