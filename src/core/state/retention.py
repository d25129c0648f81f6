"""``[privacy] retention_days``: what segsync recorded about people is kept that long.

At the end of every ``segsync run``, change-log lines (who was added, removed or failed) and
stored run reports older than the retention are deleted. What holds no one's identity —
segment sizes, entered/left counts and KPIs over time, run ids and statuses — is kept.
"""

from __future__ import annotations

import datetime as dt
import logging

from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.values import utcnow

__all__ = ["apply_retention"]

log = logging.getLogger("segsync.state.retention")


def apply_retention(ledger: Ledger, history: History, days: int) -> dict[str, int]:
    """Delete what is older than ``days``; how many change-log lines and reports went."""
    before = utcnow() - dt.timedelta(days=days)
    with ledger.engine.transaction():
        purged = {
            "changes": ledger.purge_changes(before),
            "reports": history.purge_reports(before),
        }
    if any(purged.values()):
        log.info(
            "retention (%d days): deleted %d change-log line(s) and %d run report(s) older than %s",
            days,
            purged["changes"],
            purged["reports"],
            f"{before:%Y-%m-%d}",
        )
    return purged
