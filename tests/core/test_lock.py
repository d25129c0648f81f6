"""The run lock: runs never overlap; a run waits (bounded) for a short read-only command and
never fails because of one."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from segsync.errors import LockHeldError
from segsync.state.lock import read_holder, run_lock


def _hold(store: Path, command: str, seconds: float, started: threading.Event) -> threading.Thread:
    def hold() -> None:
        with run_lock(store, command=command, run_id="holder"):
            started.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(5)
    return thread


def test_a_run_waits_for_a_read_only_command(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    started = threading.Event()
    holder = _hold(store, "status", 0.4, started)
    begun = time.monotonic()
    with run_lock(store, command="run", run_id="r1", wait=10):
        waited = time.monotonic() - begun
        assert (read_holder(store) or {})["run_id"] == "r1"
    holder.join()
    assert waited >= 0.2  # it did wait, and then went on


def test_a_run_never_waits_for_another_run(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    started = threading.Event()
    holder = _hold(store, "run", 0.5, started)
    begun = time.monotonic()
    with (
        pytest.raises(LockHeldError, match=r"segsync run, run holder"),
        run_lock(store, command="run", run_id="r2", wait=10),
    ):
        pass
    assert time.monotonic() - begun < 0.3
    holder.join()


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    started = threading.Event()
    holder = _hold(store, "plan", 1.0, started)
    with (
        pytest.raises(LockHeldError, match=r"segsync plan.*waited 0 s"),
        run_lock(store, command="run", run_id="r3", wait=0.3),
    ):
        pass
    holder.join()


def test_a_dead_holder_is_reported_to_the_taker(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    lock = tmp_path / "s.duckdb.lock"
    gone = {"pid": 999999999, "host": socket.gethostname(), "command": "run", "run_id": "gone"}
    lock.write_text(json.dumps(gone))
    with run_lock(store, command="run", run_id="new") as abandoned:
        assert abandoned is not None and abandoned["run_id"] == "gone"
