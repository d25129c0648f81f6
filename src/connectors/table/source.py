"""The ``table`` source: each configured table handed to segsync's engine to read
(:meth:`TableSource.bulk_read`), never paged.

A table is read whole at every pull, as a full snapshot (rows gone from the table disappear
from segsync too) — except when nothing changed: for tables on this machine's disk the cursor
is a fingerprint (size and modification time) of their files, and an unchanged fingerprint
reads nothing. Tables at a URL or in a catalog have no fingerprint here and are read at every
pull. A row SQL cannot take is read as the ``files`` connector reads a row
(:mod:`segsync.connectors.files.records`); a row that cannot be read fails the source, or with
``on_bad_row = "skip"`` goes to the rejects file.
"""

from __future__ import annotations

import functools
import glob as globmod
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from segsync.connector import (
    BulkFile,
    BulkRead,
    ConnectorContext,
    Contact,
    Event,
    Page,
    TableRef,
)
from segsync.connectors.files.records import contact_record, event_record, mapping_columns
from segsync.errors import InputError

from .settings import TableContacts, TableEvents, TableInput, TableSettings

__all__ = ["TableSource"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


class TableSource:
    """The source role of a ``table`` instance."""

    def __init__(self, settings: TableSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def streams(self) -> tuple[str, ...]:
        streams = []
        if self.settings.contact_sources():
            streams.append("contacts")
        if self.settings.event_sources():
            streams.append("events")
        return tuple(streams)

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        raise self._no_pages("contacts")
        yield  # pragma: no cover - an async generator

    async def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        raise self._no_pages("events")
        yield  # pragma: no cover - an async generator

    def _no_pages(self, stream: str) -> InputError:
        return InputError(
            f"connectors.{self.context.instance}.{stream}: a table source is read by the "
            "store's engine, which did not take it"
        )

    # -- where the tables are ---------------------------------------------------------------

    def _key(self, source: TableInput, index: int, count: int) -> str:
        stream = "contacts" if isinstance(source, TableContacts) else "events"
        at = f"[{index}]" if count > 1 else ""
        return f"connectors.{self.context.instance}.{stream}{at}"

    def _ref(self, source: TableInput, key: str) -> tuple[TableRef, list[Path] | None]:
        """The table to read, and the local files it is made of (None: not on this disk)."""
        if source.table is not None:
            return TableRef("table", source.table), None
        assert source.path is not None
        if _URL.match(source.path):
            return TableRef(source.format, source.path), None
        pattern = Path(source.path).expanduser()
        if not pattern.is_absolute():
            pattern = self.context.base_dir / pattern
        if source.format == "delta":
            if not (pattern / "_delta_log").is_dir():
                raise InputError(f"{key}.path: no Delta table (no _delta_log folder) at {pattern}")
            files = sorted(p for p in pattern.rglob("*") if p.is_file())
            return TableRef("delta", str(pattern)), files
        if globmod.has_magic(str(pattern)):
            files = sorted(Path(p) for p in globmod.glob(str(pattern)) if Path(p).is_file())
            if not files:
                raise InputError(f"{key}.path: no file matches {str(pattern)!r}")
        elif pattern.is_dir():
            files = sorted(p for p in pattern.rglob("*.parquet") if p.is_file())
            if not files:
                raise InputError(f"{key}.path: no .parquet file in the folder {pattern}")
        elif pattern.is_file():
            files = [pattern]
        else:
            raise InputError(f"{key}.path: not found: {pattern}")
        return TableRef("parquet", str(pattern)), files

    def _tables(self, sources: Sequence[TableInput]) -> list[tuple[TableInput, TableRef, str]]:
        return [
            (source, self._ref(source, key)[0], key)
            for index, source in enumerate(sources)
            for key in [self._key(source, index, len(sources))]
        ]

    def _fingerprint(self, sources: Sequence[TableInput]) -> str | None:
        """Sizes and times of every local file of the tables; None when a table is not on
        this disk (then it is read at every pull)."""
        prints: dict[str, list[int]] = {}
        for index, source in enumerate(sources):
            _, files = self._ref(source, self._key(source, index, len(sources)))
            if files is None:
                return None
            for path in files:
                st = path.stat()
                prints[str(path)] = [st.st_size, st.st_mtime_ns]
        return json.dumps(prints, sort_keys=True)

    # -- bulk: the tables for segsync's engine --------------------------------------------

    def bulk_read(self, stream: str, cursor: str | None) -> BulkRead | None:
        """The stream's tables for the engine to read (:class:`~segsync.connector.BulkSource`):
        a full snapshot, or nothing when their files did not change since ``cursor``."""
        sources: Sequence[TableInput] = (
            self.settings.contact_sources()
            if stream == "contacts"
            else self.settings.event_sources()
        )
        if not sources:
            return None
        tables = self._tables(sources)
        fingerprint = self._fingerprint(sources)
        if fingerprint is not None and fingerprint == cursor:
            return BulkRead(files=())
        files = tuple(
            BulkFile(
                path=Path(ref.location),
                format="table",
                columns=mapping_columns(source),  # type: ignore[arg-type]
                rows=None,
                record=functools.partial(_record, source, str(ref)),
                table=ref,
            )
            for source, ref, _ in tables
        )
        return BulkRead(files=files, cursor=fingerprint, snapshot=True)

    def findable(self) -> list[str]:
        """What ``check`` reports: where each table is (local paths are checked)."""
        details = []
        for stream in self.streams():
            sources: Sequence[TableInput] = (
                self.settings.contact_sources()
                if stream == "contacts"
                else self.settings.event_sources()
            )
            for _, ref, _ in self._tables(sources):
                details.append(f"{stream}: {ref.kind} {ref.location}")
        return details


def _record(source: TableInput, where: str, line: int, row: dict[str, Any]) -> Contact | Event:
    if isinstance(source, TableContacts):
        return contact_record(source, where, line, row)
    assert isinstance(source, TableEvents)
    return event_record(source, where, line, row)
