"""Files that belong to a store: its lock, its work folder and the live status of a run.

Everything segsync writes besides the DuckDB file lives beside it and carries its name, so two
projects in one folder (two configs, two stores) never share a file::

    segsync.duckdb               the store
    segsync.duckdb.lock          the run lock (:mod:`segsync.state.lock`)
    segsync.duckdb.work/         work files, created and cleared under the lock:
        staging/                 pages of a pull on their way into the store
        connectors/<instance>/   each connector instance's scratch folder
        rejects/                 rows a source skipped (``on_bad_row = "skip"``), with the reason
        status.json              what the run in progress (or the last one) is doing
        spill/                   DuckDB's temporary files past [store] memory_limit (while
                                 the store is open; :mod:`segsync.state.store`)

``status.json`` is written atomically (a temporary file renamed over it) at every phase of a
run, so ``segsync status`` can say what a run is doing without opening the store, which DuckDB
does not allow while a run writes to it.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segsync.errors import StoreError

__all__ = ["RunStatus", "StorePaths", "os_error", "read_status"]

log = logging.getLogger("segsync.state.workspace")

_ELSEWHERE = "a file stands where a folder is needed: point [store] path elsewhere"
_PERMISSIONS = "fix the folder's permissions or point [store] path elsewhere"
_ADVICE = {
    errno.ENOSPC: "free disk space",
    errno.EDQUOT: "free disk space (quota)",
    errno.EACCES: _PERMISSIONS,
    errno.EPERM: _PERMISSIONS,
    errno.EROFS: "the file system is read-only: point [store] path at a writable folder",
    errno.EEXIST: _ELSEWHERE,
    errno.ENOTDIR: _ELSEWHERE,
    errno.EISDIR: "a folder stands where a file is needed: move it away or point [store] "
    "path elsewhere",
}


def os_error(exc: OSError, where: Path) -> StoreError | None:
    """``exc``, met writing a store's files, said in the user's terms (the file, what the
    system said, what to do; ``where`` when the error names no file), or None when it is not
    the machine's problem (a full disk, permissions, a read-only file system, a file or
    folder in the way) but a bug."""
    if exc.errno not in _ADVICE:
        return None
    return StoreError(
        f"{exc.filename or where}: {exc.strerror}; {_ADVICE[exc.errno]}, then run again"
    )


@dataclass(frozen=True)
class StorePaths:
    """Where a store's companion files are."""

    store: Path

    @property
    def lock(self) -> Path:
        return self.store.with_name(self.store.name + ".lock")

    @property
    def work(self) -> Path:
        return self.store.with_name(self.store.name + ".work")

    @property
    def staging(self) -> Path:
        return self.work / "staging"

    @property
    def rejects(self) -> Path:
        return self.work / "rejects"

    @property
    def status(self) -> Path:
        return self.work / "status.json"

    def connector_dir(self, instance: str) -> Path:
        return self.work / "connectors" / instance

    def clear_staging(self) -> None:
        """Remove staging files left by an earlier (crashed) run. Call under the lock."""
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Replace ``path`` with ``payload`` so a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(paths: StorePaths) -> dict[str, Any] | None:
    """What ``status.json`` says, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(paths.status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunStatus:
    """Publishes a run's phase and progress to ``status.json``.

    Best effort: a status file that cannot be written is logged once and never fails the run.
    """

    def __init__(self, paths: StorePaths, *, run_id: str, command: str) -> None:
        self.paths = paths
        self._failed = False
        previous = read_status(paths) or {}
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "command": command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": _now(),
            "state": "running",
            "phase": "starting",
            "phase_started_at": _now(),
            "progress": {},
            "last_finished": previous.get("last_finished"),
            "last_success": previous.get("last_success"),
        }

    def phase(self, name: str, **progress: Any) -> None:
        self.data.update(phase=name, phase_started_at=_now(), progress=dict(progress))
        self._write()

    def progress(self, **progress: Any) -> None:
        self.data["progress"].update(progress)
        self._write()

    def finish(self, summary: dict[str, Any]) -> None:
        """The run ended: ``summary`` (status, exit code, per-sync results) becomes
        ``last_finished`` for the next reader."""
        self.data.update(state="finished", phase="finished", phase_started_at=_now())
        self.data["last_finished"] = summary
        if summary.get("command") == "run" and summary.get("status") == "ok":
            self.data["last_success"] = summary  # for `segsync status --max-age` during a run
        self._write()

    def _write(self) -> None:
        self.data["updated_at"] = _now()
        try:
            write_json_atomically(self.paths.status, self.data)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot write %s: %s", self.paths.status, exc.strerror or exc)
            self._failed = True
