"""The run lock: one segsync process at a time per store.

An OS advisory lock (``flock``) on ``<store>.lock``. The kernel releases it when the holder
exits, however it exits, so a lock left by a dead process is simply taken over. The file holds
a JSON description of the holder so a second process can say who holds it.

Who waits for whom:

* A **run** (``run``, ``pull``) that finds another run holding the lock stops at once with
  :class:`LockHeldError` (exit 4): two runs of one store never overlap.
* A run that finds a **short read-only command** holding it (``status``, ``plan``,
  ``segments``) waits for it to finish, up to ``wait`` seconds (``[store] lock_wait_seconds``),
  so a monitoring loop never makes a scheduled run fail. Past that it stops with exit 4.
* A read-only command that finds a run holding the lock does not wait: ``status`` answers
  from the run's published status file; ``plan`` and ``segments`` stop with exit 4.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segsync.errors import LockHeldError
from segsync.state.workspace import StorePaths, os_error

__all__ = ["READ_ONLY_COMMANDS", "describe_holder", "read_holder", "run_lock"]

log = logging.getLogger("segsync.state.lock")

READ_ONLY_COMMANDS = frozenset(
    {"status", "plan", "segments", "runs", "changes", "report", "forget-dry-run",
     "export-person", "suppressions", "erasures"}
)  # fmt: skip
"""Short commands a run waits for rather than failing."""
_POLL = 0.1
_UNKNOWN_GRACE = 2.0  # a holder that has not written its description yet


def lock_path(store_path: Path) -> Path:
    return StorePaths(store_path).lock


def read_holder(store_path: Path) -> dict[str, Any] | None:
    """What the lock file says about its last holder, or None."""
    try:
        text = lock_path(store_path).read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_holder(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "an unknown process"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} "
        f"(segsync {holder.get('command', '?')}, run {holder.get('run_id', '?')}, "
        f"started {holder.get('started_at', '?')})"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _acquire(fd: int, store_path: Path, wait: float) -> None:
    """Take the lock, waiting up to ``wait`` seconds for a short read-only holder."""
    if _try(fd):
        return
    started = time.monotonic()
    while True:
        holder = read_holder(store_path)
        waited = time.monotonic() - started
        held_by = (holder or {}).get("command")
        # a short read-only holder is waited for (by runs and read-only commands alike); a
        # run is not; a holder that has not described itself yet is given a moment
        waitable = held_by in READ_ONLY_COMMANDS or (holder is None and waited < _UNKNOWN_GRACE)
        if not waitable or waited >= wait:
            why = f" (waited {waited:.0f} s for it)" if waitable else ""
            raise LockHeldError(
                f"another segsync process holds the lock on {store_path}: "
                f"{describe_holder(holder)}{why}"
            )
        time.sleep(_POLL)
        if _try(fd):
            if waited >= 1:
                log.info(
                    "the store was busy with segsync %s; went on after %.0f s", held_by, waited
                )
            return


@contextlib.contextmanager
def run_lock(
    store_path: Path, *, command: str, run_id: str, wait: float = 0.0
) -> Iterator[dict[str, Any] | None]:
    """Hold the store's lock for the duration of the block, or raise :class:`LockHeldError`.

    Yields the description the previous holder left when that holder is gone without
    releasing it (a killed run), else None. ``wait`` bounds how long to wait for a short
    read-only command holding the lock (see the module docstring).
    """
    path = lock_path(store_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # every command takes the lock first: say it, never exit 5
        raise os_error(exc, path) or exc from None
    try:
        _acquire(fd, store_path, wait)
        previous = read_holder(store_path)
        abandoned = None
        if previous and previous.get("host") == socket.gethostname():
            pid = previous.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and not _alive(pid):
                abandoned = previous
                log.warning(
                    "the previous holder of the lock (pid %s, segsync %s, run %s) is gone; "
                    "taking over",
                    pid,
                    previous.get("command"),
                    previous.get("run_id"),
                )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "run_id": run_id,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        try:
            yield abandoned
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
