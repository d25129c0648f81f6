"""The store's memory of the past: runs, where each source resumes, and what segments held.

``runs``             one row per run: command, times, status, exit code, the phase it is in
                     (or died in) and its report
``cursors``          where each source stream resumes
``segment_members``  segment membership as of the last run (``segsync run``)
``segment_history``  size, entered and left per segment per run
``segment_kpis``     KPIs per segment (and group) per run
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from typing import Any, Protocol

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.values import utcnow

__all__ = ["History", "SegmentFigures"]

log = logging.getLogger("segsync.history")


class SegmentFigures(Protocol):
    """What is kept of a segment per run (:class:`segsync.pipeline.segments.SegmentResult`)."""

    name: str
    size: int
    entered: int
    left: int
    share: float
    conversion_rate: float | None
    average_order_value: Any
    revenue: Any
    mean_value: Any
    min_size: int | None
    too_small: bool


class History:
    """Runs, cursors and segment history in the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- cursors ------------------------------------------------------------------------------

    def cursor(self, instance: str, stream: str) -> str | None:
        value = self.engine.scalar(
            parse(
                "SELECT cursor FROM cursors WHERE instance = :i AND stream = :s",
                i=instance,
                s=stream,
            )
        )
        return None if value is None else str(value)

    def set_cursor(self, instance: str, stream: str, cursor: str | None, run_id: str) -> None:
        """Store where ``stream`` resumes; call inside the transaction that loads its data."""
        self.engine.execute(
            parse("DELETE FROM cursors WHERE instance = :i AND stream = :s", i=instance, s=stream)
        )
        self.engine.insert_rows(
            "cursors",
            ("instance", "stream", "cursor", "updated_at", "run_id"),
            [(instance, stream, cursor, utcnow(), run_id)],
        )

    # -- runs ---------------------------------------------------------------------------------

    def mark_killed(self) -> list[dict[str, Any]]:
        """Runs still ``running`` were killed (the caller holds the lock they held): mark
        them ``killed``, keeping the phase they died in; return them."""
        killed = self.engine.dicts(
            parse("SELECT run_id, command, phase FROM runs WHERE status = 'running'")
        )
        if killed:
            self.engine.execute(
                parse(
                    "UPDATE runs SET status = 'killed', finished_at = coalesce(finished_at, :now) "
                    "WHERE status = 'running'",
                    now=utcnow(),
                )
            )
        return killed

    def start(self, run_id: str, command: str, version: str) -> None:
        self.engine.insert_rows(
            "runs",
            ("run_id", "command", "started_at", "status", "pid", "host", "version", "phase"),
            [
                (
                    run_id,
                    command,
                    utcnow(),
                    "running",
                    os.getpid(),
                    socket.gethostname(),
                    version,
                    "starting",
                )
            ],
        )

    def phase(self, run_id: str, phase: str) -> None:
        self.engine.execute(
            parse("UPDATE runs SET phase = :phase WHERE run_id = :run", phase=phase, run=run_id)
        )

    def finish(self, run_id: str, status: str, exit_code: int, report_json: str) -> None:
        self.engine.execute(
            parse(
                "UPDATE runs SET finished_at = :now, status = :status, exit_code = :code, "
                "report = :report, phase = 'finished' WHERE run_id = :run",
                now=utcnow(),
                status=status,
                code=exit_code,
                report=report_json,
                run=run_id,
            )
        )

    def recent_runs(self, limit: int) -> list[dict[str, Any]]:
        """The latest runs, newest first: id, command, start, seconds, status, exit, phase."""
        runs = self.engine.dicts(
            parse(
                "SELECT run_id, command, started_at, finished_at, status, exit_code, phase "
                "FROM runs ORDER BY started_at DESC LIMIT :limit",
                limit=limit,
            )
        )
        for row in runs:
            started, finished = row.pop("started_at"), row.pop("finished_at")
            row["started"] = f"{started:%Y-%m-%d %H:%M:%S} UTC"
            row["seconds"] = round((finished - started).total_seconds(), 1) if finished else None
        return runs

    # -- segments -----------------------------------------------------------------------------

    def last_members(self) -> exp.Select:
        """``SELECT segment, profile_key`` of every segment as of the last run."""
        return exp.select("segment", "profile_key").from_("segment_members")

    def record_segments(
        self,
        members: exp.Expr,
        figures: Iterable[SegmentFigures],
        run_id: str,
        *,
        kpi_window: str | None,
    ) -> None:
        """Make ``members`` (``SELECT segment, profile_key``) the current membership and add
        each segment's size, changes and KPIs to the history, in one transaction."""
        now = utcnow()
        rows = list(figures)
        with self.engine.transaction():
            self.engine.execute(parse("DELETE FROM segment_members"))
            self.engine.insert("segment_members", members)
            self.engine.insert_rows(
                "segment_history",
                ("run_id", "segment", "size", "entered", "left", "computed_at"),
                [(run_id, r.name, r.size, r.entered, r.left, now) for r in rows],
            )
            self.engine.insert_rows(
                "segment_kpis",
                ("run_id", "segment", "size", "share", "entered", "left", "conversion_rate",
                 "average_order_value", "revenue", "mean_value", "kpi_window", "min_size",
                 "too_small", "computed_at"),
                [
                    (run_id, r.name, r.size, r.share, r.entered, r.left, r.conversion_rate,
                     r.average_order_value, r.revenue, r.mean_value, kpi_window, r.min_size,
                     r.too_small, now)
                    for r in rows
                ],
            )  # fmt: skip
