"""The run lock: one segsync process at a time per store.

An OS advisory lock (``flock``) on ``<store>.lock``. The kernel releases it when the holder
exits, however it exits, so a lock left by a dead process is simply taken over. The file holds
a JSON description of the holder so a second process can say who holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from segsync.errors import LockHeldError

__all__ = ["describe_holder", "read_holder", "run_lock"]

log = logging.getLogger("segsync.lock")


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


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


@contextlib.contextmanager
def run_lock(store_path: Path, *, command: str, run_id: str) -> Iterator[None]:
    """Hold the store's lock for the duration of the block, or raise :class:`LockHeldError`."""
    path = lock_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(store_path)
            raise LockHeldError(
                f"another segsync run holds the lock on {store_path}: {describe_holder(holder)}"
            ) from None
        previous = read_holder(store_path)
        if previous and previous.get("host") == socket.gethostname():
            pid = previous.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and not _alive(pid):
                log.warning(
                    "the previous holder of the lock (pid %s, run %s) is gone; taking over",
                    pid,
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
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
