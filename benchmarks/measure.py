"""Run a command in a subprocess and measure it: the shared helper of the benchmarks.

Peak memory is the child's own ``ru_maxrss`` (from ``os.wait4``), not the maximum over every
child so far, so each phase of a benchmark is measured on its own; CPU time is the child's
user + system seconds from the same call.

Children are started by a small launcher process (a ``forkserver``), never by the benchmark
itself: Linux carries the peak RSS of the process a child was forked (or vforked) from into
the child's ``ru_maxrss`` across ``exec``, so a benchmark that holds a seeded simulator or a
million members would otherwise report its own size as the child's.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Measured", "measure", "measured", "peak_rss_mib", "run_cli", "run_cli_measured"]


@dataclass(frozen=True)
class Measured:
    """What one child process did: exit code, output, wall and CPU seconds, peak RSS (MiB)."""

    code: int
    out: str
    err: str
    wall: float
    cpu: float
    rss: int


def measured(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Measured:
    """Run ``argv`` (started by the launcher, see the module's docstring) and measure it."""
    full = {**os.environ, **(env or {})}
    return _launcher().submit(_measured_here, list(argv), cwd, full).result()


_LAUNCHER: ProcessPoolExecutor | None = None


def _launcher() -> ProcessPoolExecutor:
    """One small process that starts the measured children (made on first use, from a fresh
    interpreter whatever this process's size)."""
    global _LAUNCHER
    if _LAUNCHER is None:
        context = multiprocessing.get_context("forkserver")
        _LAUNCHER = ProcessPoolExecutor(max_workers=1, mp_context=context)
    return _LAUNCHER


def _measured_here(argv: list[str], cwd: Path | None, env: dict[str, str]) -> Measured:
    """(In the launcher) run ``argv``; output goes through files, so a chatty child never
    blocks on a full pipe."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            code=os.waitstatus_to_exitcode(status),
            out=out.read(),
            err=err.read(),
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            rss=usage.ru_maxrss // 1024,
        )


def measure(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, str, str, float, int]:
    """``(exit code, stdout, stderr, wall seconds, peak RSS in MiB)`` of ``argv``."""
    done = measured(argv, cwd=cwd, env=env)
    return done.code, done.out, done.err, done.wall, done.rss


def run_cli_measured(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
    python: str = sys.executable,
) -> tuple[dict[str, Any], Measured]:
    """``segsync -c CONFIG ARGS --format json`` run by ``python``: its JSON report and the
    measurement; exits with the stderr tail when the exit code is not in ``ok``."""
    argv = [python, "-m", "segsync", "-q", "-c", str(config), *args, "--format", "json"]
    done = measured(argv, cwd=config.parent, env=env)
    if done.code not in ok:
        raise SystemExit(f"segsync {' '.join(args)} exited {done.code}:\n{done.err[-3000:]}")
    report: dict[str, Any] = json.loads(done.out)
    return report, done


def run_cli(
    config: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> tuple[dict[str, Any], float, int]:
    """``segsync -c CONFIG ARGS --format json``: ``(report, wall seconds, peak RSS in MiB)``;
    exits with the stderr tail when the exit code is not in ``ok``."""
    report, done = run_cli_measured(config, *args, env=env, ok=ok)
    return report, done.wall, done.rss


def peak_rss_mib() -> int:
    """This process's own peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent that forked us)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
