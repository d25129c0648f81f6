"""How the CLI shows a run's progress on stderr: rich progress bars on a terminal; periodic
JSON lines otherwise (``--log-format json``, cron, CI). ``-q`` shows none.

Both are :class:`segsync.progress.Tracker` observers the pipeline reports to; neither ever
writes to stdout, which holds the command's result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBars

from segsync.progress import Progress, Tracker

__all__ = ["JsonLinesProgress", "RichProgress", "progress_display"]


class RichProgress(Tracker):
    """Live bars: the current stage as a spinner; each pull stream (records, pages, of the
    total when the platform gives one, rate) and each push (batches of the total, rate,
    ETA) as a bar. Log lines print above the bars."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.bars = RichBars(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            redirect_stderr=True,
            redirect_stdout=False,
        )
        self.ids: dict[str, TaskID] = {}
        self.stage_id: TaskID | None = None
        self._streams: list[tuple[logging.StreamHandler[Any], Any]] = []

    def __enter__(self) -> RichProgress:
        self.bars.start()
        # segsync's log handler holds the stderr it was made with: point it at the live
        # display's stderr, so log lines print above the bars instead of through them
        for handler in logging.getLogger("segsync").handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                self._streams.append((handler, handler.stream))
                handler.setStream(sys.stderr)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stage(self, name: str, **info: Any) -> None:
        super().stage(name, **info)
        figures = ", ".join(f"{k} {v}" for k, v in info.items())
        text = f"{name}" + (f" ({figures})" if figures else "")
        if self.stage_id is None:
            self.stage_id = self.bars.add_task(text, total=None, unit="", rate="")
        else:
            self.bars.update(self.stage_id, description=text)

    def start(self, task: str, *, label: str, total: int | None = None, unit: str = "") -> None:
        super().start(task, label=label, total=total, unit=unit)
        self.ids[task] = self.bars.add_task(label, total=total, unit=unit, rate="")

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        super().advance(task, amount, total=total, **counts)
        state, task_id = self.tasks.get(task), self.ids.get(task)
        if state is None or task_id is None:
            return
        rate = state.rate(self.clock())
        extra = ", ".join(f"{v:,} {k}" for k, v in state.counts.items())
        self.bars.update(
            task_id,
            completed=state.done,
            total=state.total,
            rate=(f"{rate:,.0f}/s" if rate else "") + (f" ({extra})" if extra else ""),
        )

    def finish(self, task: str) -> None:
        super().finish(task)
        state, task_id = self.tasks.get(task), self.ids.get(task)
        if state is not None and task_id is not None:
            self.bars.update(task_id, total=state.done if state.total is None else state.total)
            self.bars.update(task_id, completed=state.done)

    def close(self) -> None:
        if self.stage_id is not None:
            self.bars.update(self.stage_id, description="done", total=1, completed=1)
            self.stage_id = None
        self.bars.stop()
        for handler, stream in self._streams:
            handler.setStream(stream)
        self._streams.clear()


class JsonLinesProgress(Tracker):
    """One JSON object per line on ``stream``, in the shape of segsync's JSON logs (``ts``,
    ``level``, ``logger``, ``message``) plus ``progress``: every ``interval`` seconds for the
    tasks under way, and, when ``milestones``, also when a stage begins and a task ends."""

    def __init__(
        self,
        stream: IO[str],
        *,
        interval: float = 10.0,
        milestones: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock)
        self.stream = stream
        self.interval = interval
        self.milestones = milestones
        self._last = clock()

    def _line(self, message: str, progress: dict[str, Any]) -> None:
        record = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": "info",
            "logger": "segsync.progress",
            "message": message,
            "progress": progress,
        }
        self.stream.write(json.dumps(record, default=str) + "\n")
        self.stream.flush()
        self._last = self.clock()

    def stage(self, name: str, **info: Any) -> None:
        super().stage(name, **info)
        self.tasks.clear()
        if self.milestones:
            self._line(f"stage {name}", {"stage": name, **info})

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        super().advance(task, amount, total=total, **counts)
        now = self.clock()
        if now - self._last >= self.interval:
            running = {k: t.as_dict(now) for k, t in self.tasks.items() if t.finished is None}
            if running:
                self._line(
                    "; ".join(_describe(t) for t in running.values()),
                    {"stage": self.current, "tasks": running},
                )

    def finish(self, task: str) -> None:
        super().finish(task)
        state = self.tasks.get(task)
        if state is not None and self.milestones:
            info = state.as_dict(self.clock())
            self._line(f"{_describe(info)} done", {"stage": self.current, "task": task, **info})


def _describe(task: dict[str, Any]) -> str:
    total = f"/{task['total']:,}" if task.get("total") is not None else ""
    rate = f" at {task['rate_per_second']:,}/s" if task.get("rate_per_second") else ""
    eta = f", ETA {task['eta_seconds']}s" if task.get("eta_seconds") else ""
    return f"{task['label']}: {task['done']:,}{total} {task['unit']}{rate}{eta}".rstrip()


@contextlib.contextmanager
def progress_display(
    *, log_format: str, quiet: bool, verbose: bool = False
) -> Iterator[Progress | None]:
    """The progress observer for a command that runs the pipeline: rich bars when stderr is a
    terminal and logs are text; JSON lines otherwise; none with ``-q``.

    Beside text logs on a pipe (cron, ``make``), the JSON lines are only the periodic ones of
    long tasks (every stage and task end too with ``-v``); with JSON logs, all of them."""
    if quiet:
        yield None
        return
    if log_format == "text" and sys.stderr.isatty():
        with RichProgress(Console(stderr=True, emoji=False)) as bars:
            yield bars
        return
    yield JsonLinesProgress(sys.stderr, milestones=log_format == "json" or verbose)
