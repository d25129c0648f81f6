"""``[privacy] retention_days``: what segsync recorded about people is kept that long.

At the end of every ``segsync run``, these older than the retention are deleted:

* change-log lines (who was added, removed or failed) and stored run reports;
* records and events staged from source instances **no longer configured** (loaded by a run
  older than the retention), and their cursors — data no source refreshes any more. The
  records of configured sources are replaced by every full pull, and deleted with the person
  by ``segsync forget``;
* rejects files (records a source skipped, with the reason) beside the store.

What holds no one's identity — segment sizes, entered/left counts and KPIs over time, run ids
and statuses — is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from pathlib import Path

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.values import utcnow

__all__ = ["apply_retention", "purge_stale_sources"]

log = logging.getLogger("segsync.state.retention")


def apply_retention(
    ledger: Ledger,
    history: History,
    days: int,
    *,
    sources: Collection[str] | None = None,
    rejects: Path | None = None,
) -> dict[str, int]:
    """Delete what is older than ``days``: change-log lines and reports; with ``sources``
    (the configured source instances), the records of the others; with ``rejects`` (the
    folder), old rejects files. How many of each went."""
    before = utcnow() - dt.timedelta(days=days)
    with ledger.engine.transaction():
        purged = {
            "changes": ledger.purge_changes(before),
            "reports": history.purge_reports(before),
        }
        if sources is not None:
            purged["stale_records"] = purge_stale_sources(ledger.engine, sources, before)
    if rejects is not None:
        purged["rejects_files"] = _purge_files(rejects, before)
    if any(purged.values()):
        log.info(
            "retention (%d days): deleted %s older than %s",
            days,
            ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in purged.items() if n),
            f"{before:%Y-%m-%d}",
        )
    return purged


def purge_stale_sources(engine: Engine, sources: Collection[str], before: dt.datetime) -> int:
    """Delete the records, events and cursors of source instances not in ``sources`` that a
    run before ``before`` loaded; how many records and events went."""
    gone: exp.Expr = exp.true()
    if sources:
        gone = exp.not_(exp.column("instance").isin(*(exp.Literal.string(s) for s in sources)))
    old = parse("run_id IN (SELECT run_id FROM runs WHERE started_at < :before)", before=before)
    total = 0
    for table in ("source_contacts", "events"):
        condition = exp.and_(gone.copy(), old.copy())
        count = int(engine.scalar(exp.select("count(*)").from_(table).where(condition)))
        if count:
            engine.execute(exp.delete(table).where(condition.copy()))
        total += count
    if total:
        engine.execute(exp.delete("cursors").where(gone.copy()))
    return total


def _purge_files(folder: Path, before: dt.datetime) -> int:
    if not folder.is_dir():
        return 0
    cutoff = before.replace(tzinfo=dt.UTC).timestamp()
    count = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                count += 1
        except OSError:
            continue
    return count
