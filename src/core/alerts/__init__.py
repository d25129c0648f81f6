"""Alerts: tell people when a run failed, was blocked, deferred work, or recovered.

:func:`send_alerts` is called once a ``segsync run`` has finished (by
:func:`segsync.pipeline.execute`); :func:`send_test_alert` by ``segsync check --test-alert``.
Each ``[alerts.targets.NAME]`` hears the events its ``notify_on`` lists, in its own shape
(:mod:`.targets`: Slack, a JSON webhook, email, Apprise).

Alerts are best effort: each target is tried with retries and a timeout, all at once; one that
cannot be reached is logged (naming the target, never its URL or password) and the run's exit
code stays what it was.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from segsync.config.alerts import AlertsConfig
from segsync.report import RunReport

from .message import Alert, alert_for, events_for, trial_alert
from .targets import deliver

__all__ = ["Alert", "alert_for", "events_for", "send_alerts", "send_test_alert"]

log = logging.getLogger("segsync.alerts")


async def _send(config: AlertsConfig, alert: Alert, names: list[str]) -> dict[str, str | None]:
    """Deliver ``alert`` to the named targets at once: name → None, or why it failed."""

    async def one(name: str) -> str | None:
        target = config.targets[name]
        try:
            await deliver(name, target, alert)
        except Exception as exc:  # best effort: whatever went wrong is said, never raised
            from .targets import scrub

            why = scrub(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc), target)
            log.warning("alert %s to %s (%s) not sent: %s", alert.event, name, target.type, why)
            return why
        log.info("alert %s sent to %s (%s)", alert.event, name, target.type)
        return None

    results = await asyncio.gather(*(one(name) for name in names))
    return dict(zip(names, results, strict=True))


async def send_alerts(
    config: AlertsConfig, report: RunReport, previous: dict[str, Any] | None
) -> dict[str, str | None]:
    """Alert every target interested in what ``report`` raises (``previous``: the last run
    before it, for ``recovered``). Target name → None when sent, else why not; targets that
    heard nothing are left out."""
    events = events_for(report, previous)
    if not events:
        return {}
    alert = alert_for(report, events, previous, report_url=config.report_url)
    names = [
        name
        for name, target in config.targets.items()
        if any(event in target.notify_on for event in events)
    ]
    return await _send(config, alert, names) if names else {}


async def send_test_alert(config: AlertsConfig) -> dict[str, str | None]:
    """Send a test alert to every target, whatever its ``notify_on``."""
    return await _send(config, trial_alert(config.report_url), list(config.targets))
