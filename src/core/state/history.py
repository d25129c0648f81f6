"""The store's memory of the past: runs, where each source resumes, and what segments held.

``runs``             one row per run: command, times, status, exit code, the phase it is in
                     (or died in) and its report
``cursors``          where each source stream resumes
``segment_members``  segment membership as of the last run (``segsync run``)
``segment_history``  size, entered and left per segment per run
``segment_kpis``     KPIs per segment (and group) per run
"""

from __future__ import annotations

import datetime as dt
import json
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
        """The latest runs, newest first: id, command, start (naive UTC), seconds, status,
        exit, phase."""
        runs = self.engine.dicts(
            parse(
                "SELECT run_id, command, started_at, finished_at, status, exit_code, phase "
                "FROM runs ORDER BY started_at DESC LIMIT :limit",
                limit=limit,
            )
        )
        for row in runs:
            started, finished = row.pop("started_at"), row.pop("finished_at")
            row["started"] = started
            row["seconds"] = round((finished - started).total_seconds(), 1) if finished else None
        return runs

    def runs(self, limit: int, *, command: str | None = None) -> list[dict[str, Any]]:
        """The latest runs, newest first, with their stored reports parsed (None once purged
        by ``[privacy] retention_days``): ``run_id``, ``command``, ``started_at``,
        ``finished_at``, ``status``, ``exit_code``, ``phase``, ``report``."""
        query = parse(
            "SELECT run_id, command, started_at, finished_at, status, exit_code, phase, report "
            "FROM runs ORDER BY started_at DESC, run_id DESC LIMIT :limit",
            limit=limit,
        )
        if command is not None:
            assert isinstance(query, exp.Select)
            query = query.where(exp.column("command").eq(exp.Literal.string(command)))
        rows = self.engine.dicts(query)
        for row in rows:
            row["report"] = _parsed(row["report"])
        return rows

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run by id, or by a prefix of its id that only it has (``20260301T06``); None
        when no run matches. Raises ValueError naming the candidates when several do."""
        rows = self.engine.dicts(
            parse(
                "SELECT run_id, command, started_at, finished_at, status, exit_code, phase, "
                "report FROM runs WHERE run_id = :id OR starts_with(run_id, :id) "
                "ORDER BY started_at DESC LIMIT 6",
                id=run_id,
            )
        )
        exact = [r for r in rows if r["run_id"] == run_id]
        if len(exact) == 1 or len(rows) == 1:
            row = (exact or rows)[0]
            row["report"] = _parsed(row["report"])
            return row
        if rows:
            ids = ", ".join(r["run_id"] for r in rows[:5])
            raise ValueError(f"{run_id!r} matches several runs: {ids}; give more of the id")
        return None

    def last(self, command: str, *, status: str | None = None) -> dict[str, Any] | None:
        """The latest finished run of ``command`` (with ``status`` when given): ``run_id``,
        ``status``, ``exit_code``, ``finished_at``; None if there is none."""
        query = parse(
            "SELECT run_id, status, exit_code, finished_at FROM runs "
            "WHERE command = :command AND finished_at IS NOT NULL AND status <> 'running' "
            "ORDER BY finished_at DESC LIMIT 1",
            command=command,
        )
        assert isinstance(query, exp.Select)
        if status is not None:
            query = query.where(exp.column("status").eq(exp.Literal.string(status)))
        rows = self.engine.dicts(query)
        return rows[0] if rows else None

    def purge_reports(self, before: dt.datetime) -> int:
        """Drop the stored reports of runs started before ``before`` (their row stays: id,
        times, status); how many."""
        condition = parse("started_at < :before AND report IS NOT NULL", before=before)
        count = int(self.engine.scalar(exp.select("count(*)").from_("runs").where(condition)))
        if count:
            self.engine.execute(exp.update("runs", {"report": exp.null()}).where(condition))
        return count

    def reset_cursors(self, instance: str, stream: str | None = None) -> int:
        """Forget where ``instance`` (one ``stream``, or all) resumes: its next pull reads
        from the start. How many cursors were dropped."""
        condition: exp.Expr = exp.column("instance").eq(exp.Literal.string(instance))
        if stream is not None:
            condition = condition.and_(exp.column("stream").eq(exp.Literal.string(stream)))
        count = int(self.engine.scalar(exp.select("count(*)").from_("cursors").where(condition)))
        if count:
            self.engine.execute(exp.delete("cursors").where(condition))
        return count

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


def _parsed(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    if isinstance(report, dict):
        return report
    value = json.loads(report)
    return value if isinstance(value, dict) else None
