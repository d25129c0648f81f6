"""segsync-audit: an example third-party segsync plugin using every hook.

* ``register_connectors`` — a ``jsonl`` destination: each audience is a JSON Lines file of
  ``{"email": ...}`` objects, rewritten atomically per batch.
* ``run_finished`` — appends one JSON line per run to the audit log
  (``SEGSYNC_AUDIT_LOG``, default ``segsync-audit.jsonl`` in the working directory).
* ``register_commands`` — ``segsync audit-log`` prints the last entries.

It imports only segsync's public API, as every plugin should.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from segsync import hookimpl
from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    Batch,
    Capabilities,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    RecordResult,
)
from segsync.errors import FatalError

__version__ = "0.1.0"


class JsonlSettings(ConnectorSettings):
    output_dir: str = "audiences"


class JsonlFiles:
    """The destination role: audiences as JSON Lines files, one ``{"email": ...}`` object per
    member; one batch at a time (each rewrites its file)."""

    max_in_flight = 1

    def __init__(self, settings: JsonlSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def batch_limit(self, kind: str) -> int:
        return 10_000

    def _path(self, audience_id: str) -> Path:
        root = Path(self.settings.output_dir)
        return (root if root.is_absolute() else self.context.base_dir / root) / audience_id

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        file_name = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.name) + ".jsonl"
        path = self._path(file_name)
        created = not path.exists()
        if created:
            self._write(path, set())
        return AudienceRef(id=file_name, name=spec.name, kind=spec.kind, created=created)

    def _write(self, path: Path, members: set[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for email in sorted(members):
                handle.write(json.dumps({"email": email}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        path = self._path(batch.audience.id)
        try:
            lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            members = {json.loads(line)["email"] for line in lines if line.strip()}
            members |= {m.key for m in batch.adds}
            members -= {m.key for m in batch.removes}
            self._write(path, members)
        except (OSError, ValueError, KeyError) as exc:
            raise FatalError(f"{path}: cannot update the audience: {exc}") from None
        return [RecordResult.success(m.key, "add") for m in batch.adds] + [
            RecordResult.success(m.key, "remove") for m in batch.removes
        ]


class JsonlConnector(Connector):
    """Audiences written as JSON Lines files."""

    name = "jsonl"
    description = "Audiences written as JSON Lines files"
    Settings = JsonlSettings
    capabilities = Capabilities(audience_kinds={"jsonl": frozenset()}, max_batch_size=10_000)
    settings: JsonlSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.destination = JsonlFiles(self.settings, context)


def _log_path() -> Path:
    return Path(os.environ.get("SEGSYNC_AUDIT_LOG", "segsync-audit.jsonl"))


@hookimpl
def register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(JsonlConnector)


@hookimpl
def run_finished(report: Any) -> None:
    entry = {
        "run_id": report.run_id,
        "status": report.status,
        "exit_code": report.exit_code,
        "syncs": {
            s.name: {"added": s.applied_adds, "removed": s.applied_removes} for s in report.syncs
        },
    }
    with _log_path().open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    @app.command("audit-log")
    def audit_log(last: int = typer.Option(10, help="How many entries")) -> None:
        """Show the last entries of the segsync-audit log."""
        path = _log_path()
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines[-last:]:
            typer.echo(line)
