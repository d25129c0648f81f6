"""Progress of a run: the small interface the pipeline reports to, free of any display.

The pipeline calls :meth:`Progress.stage` when a stage begins (``pull``, ``load``,
``resolve``, ``traits``, ``segments``, ``plan``, ``push``) and, for the long ones, counts work
as it is done: :meth:`Progress.start` a task (records of a pulled stream, batches of a push,
of a ``total`` where one is known), :meth:`Progress.advance` it, :meth:`Progress.finish` it.
Observers subclass :class:`Progress` (or :class:`Tracker`, which keeps each task's counts,
rate and ETA) and decide what to show: the CLI draws rich progress bars on a terminal and
writes periodic JSON lines elsewhere (:mod:`segsync.cli.progress`);
:class:`StatusFileProgress` keeps ``<store>.work/status.json`` up to date for
``segsync status``. :class:`Fanout` hands every event to several observers.

An observer must never fail a run: :class:`Fanout` logs an observer's exception and carries
on without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from segsync.state.workspace import RunStatus

__all__ = [
    "STAGE_HELP",
    "Fanout",
    "Progress",
    "StatusFileProgress",
    "TaskState",
    "Tracker",
]

log = logging.getLogger("segsync.progress")

STAGE_HELP: dict[str, str] = {
    "pull": "reading every source's new records (all of them with --full) into staging files, "
    "one page at a time",
    "load": "checking the staged records against the source guards (shrinking snapshots, "
    "orphaned events), then loading each source in one transaction with its cursor",
    "resolve": "merging records into profiles: normalised emails first, then phone numbers; "
    "the latest non-empty value of each attribute wins, consent by when it was given",
    "traits": "computing the [traits] columns from events, one trait at a time, into "
    "profile_traits",
    "segments": "evaluating each segment's condition over the profiles, with entered/left "
    "since the last run, and their KPIs",
    "plan": "comparing each sync's wanted members (segment, consent, address) with what its "
    "destination confirmed, and checking the sync guards",
    "push": "sending each sync's changes in batches of the platform's size, recording every "
    "batch's outcome as it returns",
}
"""What each stage does, in a sentence (logged at debug level: ``segsync -v run``)."""


class Progress:
    """Receives a run's progress. This base ignores everything."""

    def stage(self, name: str, **info: Any) -> None:
        """A stage begins; ``info`` are its figures (``sources=3``, ``sync="vip"``)."""

    def start(self, task: str, *, label: str, total: int | None = None, unit: str = "") -> None:
        """A countable task begins: ``task`` is its key, ``label`` what to show, ``total``
        how many ``unit`` it will do in all when known."""

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        """``amount`` more of ``task`` is done (``total`` updates the total when it becomes
        known); ``counts`` are other running totals to add to (``pages=1``)."""

    def finish(self, task: str) -> None:
        """``task`` is done."""

    def close(self) -> None:
        """The run is over."""


@dataclass
class TaskState:
    """One task's counts as a :class:`Tracker` keeps them."""

    label: str
    total: int | None
    unit: str
    started: float
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    finished: float | None = None

    def elapsed(self, now: float) -> float:
        return (self.finished or now) - self.started

    def rate(self, now: float) -> float | None:
        """Units per second so far (None in the first moments)."""
        elapsed = self.elapsed(now)
        return self.done / elapsed if elapsed >= 0.5 and self.done else None

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate so far, when the total is known."""
        rate = self.rate(now)
        if self.total is None or rate is None or self.finished is not None:
            return None
        return max(self.total - self.done, 0) / rate

    def as_dict(self, now: float) -> dict[str, Any]:
        rate, eta = self.rate(now), self.eta(now)
        return {
            "label": self.label,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            **self.counts,
            "elapsed_seconds": round(self.elapsed(now), 1),
            "rate_per_second": None if rate is None else round(rate, 1),
            "eta_seconds": None if eta is None else round(eta),
            "finished": self.finished is not None,
        }


class Tracker(Progress):
    """Keeps the current stage and every task's counts; subclasses show them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.current: str | None = None
        self.info: dict[str, Any] = {}
        self.tasks: dict[str, TaskState] = {}

    def stage(self, name: str, **info: Any) -> None:
        self.current, self.info = name, dict(info)

    def start(self, task: str, *, label: str, total: int | None = None, unit: str = "") -> None:
        self.tasks[task] = TaskState(label=label, total=total, unit=unit, started=self.clock())

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        state = self.tasks.get(task)
        if state is None:
            return
        state.done += amount
        if total is not None:
            state.total = total
        for key, value in counts.items():
            state.counts[key] = state.counts.get(key, 0) + value

    def finish(self, task: str) -> None:
        state = self.tasks.get(task)
        if state is not None and state.finished is None:
            state.finished = self.clock()


class StatusFileProgress(Tracker):
    """Keeps ``status.json`` (:class:`~segsync.state.workspace.RunStatus`) up to date: the
    stage at once, task counts at most every ``interval`` seconds and when a task ends."""

    def __init__(
        self,
        status: RunStatus,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock)
        self.status = status
        self.interval = interval
        self._written = 0.0

    def stage(self, name: str, **info: Any) -> None:
        super().stage(name, **info)
        self.tasks.clear()
        self.status.phase(name, **info)
        self._written = self.clock()

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        super().advance(task, amount, total=total, **counts)
        if self.clock() - self._written >= self.interval:
            self._write()

    def finish(self, task: str) -> None:
        super().finish(task)
        self._write()

    def _write(self) -> None:
        now = self.clock()
        self.status.progress(tasks={key: t.as_dict(now) for key, t in self.tasks.items()})
        self._written = now


class Fanout(Progress):
    """Hands every event to each observer; one that raises is logged and dropped."""

    def __init__(self, observers: Iterable[Progress]) -> None:
        self.observers = list(observers)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for observer in list(self.observers):
            try:
                getattr(observer, method)(*args, **kwargs)
            except Exception:
                log.exception("progress display %s failed; carrying on without it", observer)
                self.observers.remove(observer)

    def stage(self, name: str, **info: Any) -> None:
        help_text = STAGE_HELP.get(name)
        if help_text:
            figures = ", ".join(f"{k} {v}" for k, v in info.items())
            log.debug("%s: %s%s", name, help_text, f" ({figures})" if figures else "")
        self._each("stage", name, **info)

    def start(self, task: str, *, label: str, total: int | None = None, unit: str = "") -> None:
        self._each("start", task, label=label, total=total, unit=unit)

    def advance(
        self, task: str, amount: int = 1, *, total: int | None = None, **counts: int
    ) -> None:
        self._each("advance", task, amount, total=total, **counts)

    def finish(self, task: str) -> None:
        self._each("finish", task)

    def close(self) -> None:
        self._each("close")
