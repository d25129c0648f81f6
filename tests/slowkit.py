"""A destination slow enough to be killed mid-push, for the killed-run tests (tests/e2e and
tests/ops)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from projectkit import Project, contact

SLOW_PLUGIN = """
import asyncio
import os
from pathlib import Path

from segsync import hookimpl
from segsync.connectors.files import FilesConnector, FilesDestination


class SlowWriter(FilesDestination):
    def batch_limit(self, kind):
        return 1

    async def apply_batch(self, batch):
        results = await super().apply_batch(batch)
        marker = Path(os.environ["SEGSYNC_TEST_MARKER"])
        done = int(marker.read_text()) if marker.exists() else 0
        # Written aside and renamed into place, so a reader never sees a half-written count.
        staged = marker.with_name(marker.name + ".tmp")
        staged.write_text(str(done + 1))
        os.replace(staged, marker)
        await asyncio.sleep(float(os.environ.get("SEGSYNC_TEST_DELAY", "0")))
        return results


class SlowFiles(FilesConnector):
    name = "slowfiles"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.destination = SlowWriter(self.settings, context)


@hookimpl
def register_connectors(register):
    register(SlowFiles)
"""


def slow_project(project: Project) -> Path:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "slow.py").write_text(SLOW_PLUGIN)
    project.destination_type = "slowfiles"
    project.contacts += [contact(i) for i in range(10, 40)]
    project.write()
    return project.root / "marker"


def wait_for(marker: Path, count: int, proc: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = marker.read_text() if marker.exists() else ""
        if text and int(text) >= count:
            return
        if getattr(proc, "poll")() is not None:  # noqa: B009
            raise AssertionError("the run ended before it was expected to")
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the run to push")


def kill_run(project: Project, marker: Path, count: int, delay: str) -> subprocess.Popen[str]:
    """Start ``segsync run`` with the slow plugin pausing ``delay`` seconds a batch (or a
    page), and kill -9 it once ``marker`` counts ``count``; the killed process."""
    proc = project.spawn(
        "run", env={"SEGSYNC_TEST_MARKER": str(marker), "SEGSYNC_TEST_DELAY": delay}
    )
    try:
        wait_for(marker, count, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    return proc
