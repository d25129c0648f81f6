"""Run a command in a subprocess and measure it: the shared helper of the benchmarks.

Peak memory is the child's own ``ru_maxrss`` (from ``os.wait4``), not the maximum over every
child so far, so each phase of a benchmark is measured on its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["measure", "peak_rss_mib", "run_cli"]


def measure(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, str, str, float, int]:
    """Run ``argv``: ``(exit code, stdout, stderr, wall seconds, peak RSS in MiB)``. Output goes
    through files, so a chatty child never blocks on a full pipe."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return (
            os.waitstatus_to_exitcode(status),
            out.read(),
            err.read(),
            wall,
            usage.ru_maxrss // 1024,
        )


def run_cli(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> tuple[dict[str, Any], float, int]:
    """``segsync -c CONFIG ARGS --format json``: ``(report, wall seconds, peak RSS in MiB)``;
    exits with the stderr tail when the exit code is not in ``ok``."""
    argv = [sys.executable, "-m", "segsync", "-q", "-c", str(config), *args, "--format", "json"]
    code, out, err, wall, rss = measure(argv, cwd=config.parent, env=env)
    if code not in ok:
        raise SystemExit(f"segsync {' '.join(args)} exited {code}:\n{err[-3000:]}")
    report: dict[str, Any] = json.loads(out)
    return report, wall, rss


def peak_rss_mib() -> int:
    """This process's own peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent that forked us)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
