"""The ``files`` destination: audiences written as CSV files.

Each audience (kind ``csv``) is one CSV file in ``output_dir`` with an ``email`` column,
sorted. Every batch rewrites it atomically (temporary file, fsync, rename), so a reader never
sees a half-written file and a crash leaves the previous version intact. One batch at a time
(they rewrite the same file).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    Batch,
    ConnectorContext,
    Member,
    RecordResult,
)
from segsync.errors import FatalError

from .settings import FilesSettings

__all__ = ["BATCH_MAX", "FilesDestination"]

BATCH_MAX = 50_000
_SAFE_NAME = re.compile(r"[^\w.-]+")


class FilesDestination:
    """The destination role of a ``files`` instance."""

    max_in_flight = 1

    def __init__(self, settings: FilesSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    def batch_limit(self, kind: str) -> int:
        return BATCH_MAX

    def output_dir(self) -> Path:
        out = Path(self.settings.output_dir).expanduser()
        return out if out.is_absolute() else self.context.base_dir / out

    def _audience_path(self, audience_id: str) -> Path:
        return self.output_dir() / audience_id

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        name = _SAFE_NAME.sub("_", spec.name).strip("._") or "audience"
        file_name = f"{name}.csv"
        path = self._audience_path(file_name)
        created = not path.exists()
        if created:
            self._write_members(path, set())
        return AudienceRef(id=file_name, name=spec.name, kind=spec.kind, created=created)

    def _read_members(self, path: Path) -> set[str]:
        if not path.exists():
            return set()
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "email" not in reader.fieldnames:
                raise FatalError(f"{path}: expected an audience CSV with an 'email' column")
            return {row["email"] for row in reader if row.get("email")}

    def _write_members(self, path: Path, members: set[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; audience files are meant to be shared
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["email"])
                writer.writerows([m] for m in sorted(members))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        path = self._audience_path(batch.audience.id)
        try:
            members = self._read_members(path)
            results: list[RecordResult] = []
            groups: tuple[tuple[Literal["add", "remove"], list[Member]], ...] = (
                ("add", batch.adds),
                ("remove", batch.removes),
            )
            for op, group in groups:
                for member in group:
                    problem = _key_problem(member.key)
                    if problem:
                        results.append(
                            RecordResult.failure(member.key, op, problem, permanent=True)
                        )
                        continue
                    if op == "add":
                        members.add(member.key)
                    else:
                        members.discard(member.key)
                    results.append(RecordResult.success(member.key, op))
            self._write_members(path, members)
        except OSError as exc:
            raise FatalError(f"{path}: cannot write the audience file: {exc.strerror}") from None
        return results


def _key_problem(key: str) -> str | None:
    """Why a member key cannot be a row of an audience file, if it cannot."""
    if not key or not key.strip():
        return "empty member key"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return "member key contains a control character (a line break?)"
    return None
