"""The ``files`` connector: contacts and events from CSV / JSON Lines files, audiences to CSV.

Source: each configured file (or glob) is streamed row by row, never loaded whole. The cursor
is a fingerprint (size and modification time) of every matched file; when none changed, the
pull yields nothing. When any changed, the stream is a full snapshot of all matched files, so
rows deleted from a file disappear from segsync too.

Destination (audience kind ``csv``): each audience is one CSV file in ``output_dir`` with an
``email`` column, sorted. Every batch rewrites it atomically (temporary file, fsync, rename),
so a reader never sees a half-written file and a crash leaves the previous version intact.
"""

from __future__ import annotations

import os

from segsync.connector import (
    Capabilities,
    CheckResult,
    Connector,
    ConnectorContext,
    ConnectorSettings,
)

from .destination import BATCH_MAX, FilesDestination
from .settings import FilesSettings
from .source import FilesSource

__all__ = ["FilesConnector"]


class FilesConnector(Connector):
    """Contacts and events from CSV/JSONL files; audiences written as CSV files."""

    name = "files"
    description = "CSV and JSON Lines files: contacts and events in, audiences out as CSV"
    Settings = FilesSettings
    capabilities = Capabilities(
        contacts=True,
        events=True,
        audience_kinds={"csv": frozenset()},
        identifier="email",
        max_batch_size=BATCH_MAX,
    )
    settings: FilesSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.source: FilesSource = FilesSource(self.settings, context)
        self.destination: FilesDestination = FilesDestination(self.settings, context)

    async def check(self) -> CheckResult:
        details = self.source.readable()
        out = self.destination.output_dir()
        existing = next((p for p in (out, *out.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            return CheckResult(ok=False, detail=f"output_dir {out} cannot be created or written")
        details.append(
            f"output_dir {out} writable" + ("" if out.exists() else " (will be created)")
        )
        return CheckResult(ok=True, detail="; ".join(details))
