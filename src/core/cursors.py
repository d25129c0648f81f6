"""Cursors of incremental sources: ``<since ms>/<last full pull ms>``.

A source that reads "what changed since" (HubSpot's search on ``lastmodifieddate``,
Salesforce's ``SystemModstamp``) still has to read everything now and then, or it never sees
a deletion. :func:`plan_pull` decides, from the stored cursor and the source's settings,
which read this pull is, and gives the cursor to store after it::

    read = plan_pull(cursor, began=self.clock(), overlap_minutes=s.overlap_minutes,
                     full_refresh_days=s.full_refresh_days, platform="HubSpot")
    if read.since is None:  # first pull, --full, or the periodic full read: a snapshot
        ...
    yield Page(records, cursor=read.next_cursor, snapshot=read.since is None)
"""

from __future__ import annotations

from dataclasses import dataclass

from segsync.errors import FatalError

__all__ = ["PullRead", "plan_pull"]

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class PullRead:
    """What one pull reads: changes since ``since`` (epoch ms), or everything when None (a
    snapshot); and the cursor to store once the pull is done."""

    since: int | None
    next_cursor: str


def plan_pull(
    cursor: str | None,
    *,
    began: float,
    overlap_minutes: float,
    full_refresh_days: float | None,
    platform: str,
) -> PullRead:
    """The read of a pull that began at ``began`` (epoch seconds) from the stored ``cursor``:
    everything on the first pull (no cursor) and when the last full read is
    ``full_refresh_days`` old (None: never again); otherwise the changes since the last pull
    began, less ``overlap_minutes`` (clocks differ; a change saved while the last pull ran is
    read again rather than missed). A cursor that is not ``<ms>/<ms>`` (or an older ``<ms>``)
    is a :class:`FatalError` naming ``platform`` and saying how to start afresh."""
    now_ms = int(began * 1000)
    since: int | None = None
    full_at = now_ms
    if cursor is not None:
        text, _, full_text = cursor.partition("/")
        try:
            since, full_at = int(text), int(full_text or text)
        except ValueError:
            raise FatalError(
                f"the stored {platform} cursor {cursor!r} is not '<epoch ms>/<epoch ms>'; run "
                "`segsync pull --full` to read every record again"
            ) from None
        if full_refresh_days is not None and now_ms - full_at >= full_refresh_days * _DAY_MS:
            since, full_at = None, now_ms
    next_since = int((began - overlap_minutes * 60) * 1000)
    return PullRead(since=since, next_cursor=f"{next_since}/{full_at}")
