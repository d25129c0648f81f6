"""The ``files`` source: contacts and events from CSV / JSON Lines files.

The files are handed to segsync's engine to read (:meth:`FilesSource.bulk_read`): no row
passes through Python unless the engine cannot take it as it is, and then it is read here,
exactly as the pages below read it. The pages (:meth:`FilesSource.contacts`,
:meth:`FilesSource.events`) stream each file row by row, never loading it whole; segsync uses
them for files not in UTF-8, for a file its engine's reader refuses, and when a subclass makes
the pages its own way.

The cursor is a fingerprint (size and modification time) of every matched file; when none
changed, the pull yields nothing. When any changed, the stream is a full snapshot of all
matched files, so rows deleted from a file disappear from segsync too. A UTF-8 byte-order mark
is fine; a header naming a column twice is refused; a row that cannot be read fails the
source, or with ``on_bad_row = "skip"`` is reported as a :class:`~segsync.connector.Reject`.
"""

from __future__ import annotations

import csv
import functools
import glob as globmod
import json
import re
from collections.abc import AsyncIterator, Callable, Collection, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO, TypeVar

from segsync.connector import (
    BulkFile,
    BulkRead,
    ConnectorContext,
    Contact,
    Event,
    Page,
    Reject,
)
from segsync.errors import InputError
from segsync.values import NESTED_TOO_DEEP, half_pair, lone_surrogate

from .records import contact_record, event_record, mapping_columns
from .settings import ContactsSource, EventsSource, FileSource, FilesSettings

__all__ = ["FilesSource"]

SourceT = TypeVar("SourceT", ContactsSource, EventsSource)
RecordT = TypeVar("RecordT", Contact, Event)
_UTF8 = frozenset({"utf-8", "utf8", "utf-8-sig"})
# a JSON escape of half a UTF-16 surrogate pair: json.loads takes one alone, and no text
# encoding can then write it
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


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
        fmt = self._format(source, path)
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
        header = self._csv_header(source, path, reader)
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = str(exc)
                if "field larger than field limit" in reason:
                    reason = (
                        f"a field is longer than {csv.field_size_limit():,} characters (is a "
                        "quote left open on this line?)"
                    )
                yield start, InputError(f"{path}:{start}: malformed CSV: {reason}")
                continue
            if not cells:
                continue
            if len(cells) > len(header):
                yield (
                    start,
                    InputError(
                        f"{path}:{start}: {len(cells)} fields where the header has {len(header)} "
                        "(a separator inside a value that is not quoted?)"
                    ),
                )
                continue
            if len(cells) == len(header) and reader.line_num == start:
                yield start, dict(zip(header, cells, strict=True))
                continue
            row = CsvRow(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
            if reader.line_num > start:
                row.shape = (
                    f"this record runs from line {start} to line {reader.line_num}: "
                    "is a quote left open?"
                )
            else:
                row.shape = (
                    f"this row has {len(cells)} fields where the header has {len(header)}: "
                    "is a quote left open, or a separator missing?"
                )
            yield start, row

    def _csv_header(self, source: FileSource, path: Path, reader: Any) -> list[str]:
        """The header row, checked: readable, no column named twice, the mapped ones there."""
        try:
            header: list[str] = next(reader, []) or []
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
        return header

    @classmethod
    def _jsonl_rows(
        cls, path: Path, handle: TextIO
    ) -> Generator[tuple[int, dict[str, Any] | InputError], None, None]:
        for number, line in enumerate(handle, start=1):
            row = cls._json_line(path, number, line)
            if row is not None:
                yield number, row

    @staticmethod
    def _json_line(path: Path, number: int, line: str) -> dict[str, Any] | InputError | None:
        """A JSON Lines row: its object, the error saying why it is none, None when blank."""
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            return None
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            why = exc.msg.removesuffix(" at")  # "Unterminated string starting at", …
            return InputError(f"{path}:{number}: not valid JSON ({why} at column {exc.colno})")
        except RecursionError:  # Python's reader recurses once per level
            return InputError(f"{path}:{number}: {NESTED_TOO_DEEP}")
        if not isinstance(row, dict):
            return InputError(
                f"{path}:{number}: expected a JSON object, found {type(row).__name__}"
            )
        if _SURROGATE.search(line):
            code = lone_surrogate(json.dumps(row, ensure_ascii=False))
            if code is not None:
                return InputError(f"{path}:{number}: {half_pair(code)}")
        return row

    @staticmethod
    def _contact(source: ContactsSource, path: Path, line: int, row: dict[str, Any]) -> Contact:
        try:
            return contact_record(source, str(path), line, row)
        except InputError as exc:
            raise _shaped(exc, row) from None

    @staticmethod
    def _event(source: EventsSource, path: Path, line: int, row: dict[str, Any]) -> Event:
        try:
            return event_record(source, str(path), line, row)
        except InputError as exc:
            raise _shaped(exc, row) from None

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

    # -- bulk: the files for segsync's engine to read -------------------------------------

    def bulk_read(self, stream: str, cursor: str | None) -> BulkRead | None:
        """The stream's files for the engine to read (:class:`~segsync.connector.BulkSource`);
        None, to be read page by page, when a subclass makes the stream's pages its own way
        or a file is not in UTF-8. CSV headers are checked here, as the pages check them."""
        sources: Sequence[FileSource]
        if stream == "contacts":
            sources = self.settings.contact_sources()
            own_pages = type(self).contacts is FilesSource.contacts
        else:
            sources = self.settings.event_sources()
            own_pages = type(self).events is FilesSource.events
        if not own_pages or not sources:
            return None
        if any(s.encoding.replace("_", "-").lower() not in _UTF8 for s in sources):
            return None
        fingerprint = self._fingerprint(list(sources))
        if fingerprint == cursor:
            return BulkRead(files=())
        files: list[BulkFile] = []
        for source in sources:
            for path in self._paths(source):
                fmt = self._format(source, path)
                files.append(
                    BulkFile(
                        path=path,
                        format=fmt,
                        columns=mapping_columns(source),
                        rows=functools.partial(self._numbered_rows, source, path, fmt),
                        record=functools.partial(self._record, source, path),
                        header=tuple(self._header(source, path)) if fmt == "csv" else (),
                        delimiter=source.delimiter,
                    )
                )
        return BulkRead(files=tuple(files), cursor=fingerprint, snapshot=True)

    @staticmethod
    def _format(source: FileSource, path: Path) -> Literal["csv", "jsonl"]:
        return source.format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv")

    def _header(self, source: FileSource, path: Path) -> list[str]:
        try:
            handle = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror}") from None
        with handle:
            try:
                return self._csv_header(
                    source, path, csv.reader(handle, delimiter=source.delimiter)
                )
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: not {source.encoding} text (byte {exc.start}); set 'encoding'"
                ) from None

    def _numbered_rows(
        self, source: FileSource, path: Path, fmt: str, numbers: Collection[int]
    ) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
        """The rows ``numbers`` (CSV: records after the header, blank lines not counted;
        JSON Lines: line numbers), as the pages read them, in order."""
        wanted = set(numbers)
        last = max(wanted, default=0)
        if fmt == "csv":
            rows = self._rows(source, path)
            try:
                for count, (line, row) in enumerate(rows, start=1):
                    if count in wanted:
                        yield line, row
                    if count >= last:
                        return
            finally:
                rows.close()
            return
        with path.open(encoding="utf-8", newline="") as handle:
            for number, text in enumerate(handle, start=1):
                if number in wanted:
                    parsed = self._json_line(path, number, text)
                    if parsed is not None:
                        yield number, parsed
                if number >= last:
                    return

    def _record(self, source: FileSource, path: Path, line: int, row: dict[str, Any]) -> Any:
        if isinstance(source, ContactsSource):
            return self._contact(source, path, line, row)
        assert isinstance(source, EventsSource)
        return self._event(source, path, line, row)

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


class CsvRow(dict[str, Any]):
    """A CSV record of an unusual shape — fewer fields than the header (the missing ones
    read as empty), or quoted line breaks — and ``shape``, what to say of it should the
    record fail: a quote left open reads on into the next separators or lines."""

    shape: str = ""


def _shaped(error: InputError, row: dict[str, Any]) -> InputError:
    """A record's error, with what its CSV row's shape suggests (see :class:`CsvRow`): only
    a failing record pays for it (a row is read per record, millions of times)."""
    if isinstance(row, CsvRow) and row.shape:
        return InputError(f"{error} ({row.shape})")
    return error
