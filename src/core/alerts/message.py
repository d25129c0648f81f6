"""What an alert says: which events a finished run raises, and the message in each shape (a
JSON summary, plain text, a Slack message)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from segsync.config.alerts import ALERT_EVENTS, AlertEvent
from segsync.redaction import redact
from segsync.report import RunReport

__all__ = ["Alert", "alert_for", "events_for", "trial_alert"]

Event = AlertEvent | Literal["test"]

_SEVERITY: dict[str, int] = {"failed": 0, "blocked": 1, "deferred": 2, "recovered": 3, "test": 4}
_EMOJI = {
    "failed": ":red_circle:",
    "blocked": ":no_entry:",
    "deferred": ":hourglass_flowing_sand:",
    "recovered": ":large_green_circle:",
    "test": ":bell:",
}


def events_for(report: RunReport, previous: dict[str, Any] | None) -> list[AlertEvent]:
    """The events a finished run raises, most severe first.

    ``failed``: the run ended in error, a source failed, a sync errored or records failed;
    ``blocked``: a guard stopped a source or a sync; ``deferred``: a sync stopped early with
    its changes kept (a used-up quota); ``recovered``: the run succeeded (exit 0) and the
    previous one (``previous``: its ``status``) had not.
    """
    events: list[AlertEvent] = []
    if (
        report.status == "error"
        or any(s.error for s in report.sources)
        or any(s.error or s.failed for s in report.syncs)
    ):
        events.append("failed")
    if any(s.blocked for s in report.syncs) or any(s.refused for s in report.sources):
        events.append("blocked")
    if any(s.deferred for s in report.syncs):
        events.append("deferred")
    if report.exit_code == 0 and previous is not None and previous.get("status") != "ok":
        events.append("recovered")
    return events


@dataclass
class Alert:
    """One alert: its events, a title, the lines that explain it, and a JSON summary."""

    events: list[Event]
    title: str
    lines: list[str]
    summary: dict[str, Any]
    report_url: str | None = None
    context: list[str] = field(default_factory=list)

    @property
    def event(self) -> Event:
        """The most severe event, the one the alert is named after."""
        return min(self.events, key=lambda e: _SEVERITY[e])

    def text(self) -> str:
        """Plain text (email bodies, Apprise): title, lines, context, link."""
        parts = [self.title, "", *(f"- {line}" for line in self.lines)]
        if self.report_url:
            parts += ["", f"Report: {self.report_url}"]
        if self.context:
            parts += ["", " · ".join(self.context)]
        return "\n".join(parts) + "\n"

    def payload(self) -> dict[str, Any]:
        """The generic webhook's JSON body."""
        return {
            "event": self.event,
            "events": list(self.events),
            "title": self.title,
            "text": self.text(),
            **self.summary,
            "report_url": self.report_url,
        }

    def slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook message: ``text`` (the notification's fallback) and
        ``blocks``: a header, the lines, a link to the report, a context line.

        What a run says (the lines, the context) goes as ``plain_text`` with ``emoji`` off,
        shown as written: in ``mrkdwn`` an error naming ``orders.jsonl:100:`` would show
        ``orders.jsonl💯`` and a file named ``_old_export_.csv`` in italics, and mrkdwn has no
        switch for either. Only the link, which segsync writes, is mrkdwn."""
        body = "\n".join(f"• {line}" for line in self.lines) or "nothing to report"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": _plain(self.title, 150)},
            {"type": "section", "text": _plain(body, 3000)},
        ]
        if self.report_url:
            link = f"<{_mrkdwn(self.report_url)}|Open the report>"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": link}})
        if self.context:
            blocks.append({"type": "context", "elements": [_plain(" · ".join(self.context), 3000)]})
        title = f"{_EMOJI[self.event]} {self.title}"
        return {"text": _cut(_mrkdwn(title), 3000), "blocks": blocks}


def _plain(text: str, limit: int) -> dict[str, Any]:
    """A Slack ``plain_text`` object shown as written: no emoji codes read, no markup."""
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": False}


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(
    report: RunReport, events: list[AlertEvent], previous: dict[str, Any] | None
) -> list[str]:
    lines: list[str] = []
    for source in report.sources:
        where = f"source {source.instance} {source.stream}"
        if source.refused:
            lines.append(f"{where} refused by a guard: {source.refused}")
        elif source.error:
            retry = " (will retry)" if source.transient else ""
            lines.append(f"{where} failed{retry}: {source.error}")
    for sync in report.syncs:
        if sync.blocked:
            lines.append(f"sync {sync.name} blocked: {sync.blocked}")
        if sync.error:
            lines.append(f"sync {sync.name} error: {sync.error}")
        if sync.deferred:
            lines.append(f"sync {sync.name} deferred: {sync.deferred}")
        if sync.skipped_reason:
            lines.append(f"sync {sync.name} not pushed: {sync.skipped_reason}")
        if sync.failed:
            top = f" (most: {sync.failures[0].error})" if sync.failures else ""
            lines.append(f"sync {sync.name}: {sync.failed:,} change(s) failed{top}")
    lines += [f"error: {e}" for e in report.errors]
    if "recovered" in events and previous is not None:
        lines.append(
            f"back to normal after run {previous.get('run_id')} ended {previous.get('status')}"
        )
    applied = [
        f"{s.name} +{s.applied_adds:,}/-{s.applied_removes:,}"
        for s in report.syncs
        if s.status in ("ok", "failed_records", "deferred")
    ]
    if applied:
        lines.append("applied: " + ", ".join(applied))
    return [redact(line) for line in lines]


def _summary(report: RunReport) -> dict[str, Any]:
    return {
        "run": {
            "run_id": report.run_id,
            "command": report.command,
            "status": report.status,
            "exit_code": report.exit_code,
            "forced": report.forced,
            "started_at": report.started_at.isoformat(),
            "finished_at": report.finished_at.isoformat() if report.finished_at else None,
            "duration_seconds": report.duration_seconds,
            "host": socket.gethostname(),
            "config": report.config,
            "store": report.store,
            "version": report.version,
        },
        "syncs": [
            s.model_dump(
                mode="json",
                include={
                    "name",
                    "segment",
                    "destination",
                    "audience",
                    "status",
                    "adds",
                    "removes",
                    "applied_adds",
                    "applied_removes",
                    "failed",
                    "blocked",
                    "deferred",
                    "error",
                    "skipped_reason",
                },
            )
            for s in report.syncs
        ],
        "sources": [
            s.model_dump(
                mode="json", include={"instance", "stream", "error", "refused", "transient"}
            )
            for s in report.sources
            if s.error or s.refused
        ],
        "errors": [redact(e) for e in report.errors],
    }


def alert_for(
    report: RunReport,
    events: list[AlertEvent],
    previous: dict[str, Any] | None,
    *,
    report_url: str | None = None,
) -> Alert:
    """The alert a finished run raises with ``events`` (from :func:`events_for`)."""
    worst = min(events, key=lambda e: _SEVERITY[e])
    host = socket.gethostname()
    title = f"segsync {report.command} {worst} on {host} (exit {report.exit_code})"
    context = [
        f"run {report.run_id}",
        f"status {report.status}",
        f"{report.duration_seconds:.0f} s",
        f"config {report.config}",
    ]
    return Alert(
        events=list(events),
        title=title,
        lines=_lines(report, events, previous),
        summary=_summary(report),
        report_url=report_url,
        context=context,
    )


def trial_alert(report_url: str | None = None) -> Alert:
    """What ``segsync check --test-alert`` sends."""
    host = socket.gethostname()
    return Alert(
        events=["test"],
        title=f"segsync test alert from {host}",
        lines=[
            "This is a test: segsync can reach this target. Real alerts say which run "
            f"{', '.join(ALERT_EVENTS)}, and why."
        ],
        summary={"run": None, "syncs": [], "sources": [], "errors": []},
        report_url=report_url,
        context=[f"host {host}"],
    )
