"""The run report: what a run (or a plan) did, for machines (JSON) and people (text).

``segsync run --format json`` and ``segsync plan --format json`` print one :class:`RunReport`.
Its shape is part of segsync's public interface: fields are only ever added.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from segsync.traits.notes import CalibrationBin, ModelSummary, TraitWarning

__all__ = [
    "EXIT_CODES",
    "CalibrationBin",
    "FailureSummary",
    "ModelSummary",
    "PrivacySummary",
    "ProfileSummary",
    "RunReport",
    "SegmentSummary",
    "SkippedCounts",
    "SourceSummary",
    "SyncPreview",
    "SyncReport",
    "TraitWarning",
]

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "retry later: some records failed, a sync was deferred, or a source failed transiently",
    2: "configuration, input or environment error",
    3: "a guard stopped a source or a sync (review with 'segsync plan', then --force)",
    4: "another segsync process holds the store's lock",
    5: "unexpected internal error (a bug: rerun with --debug and report it)",
    6: "changes are pending ('plan --detailed-exitcode' only)",
    130: "interrupted (Ctrl-C): the run shows as killed in its phase; the next run carries on",
}


class SourceSummary(BaseModel):
    instance: str
    stream: str
    pages: int = 0
    records: int = 0
    snapshot: bool = False
    loaded: bool = False
    warnings: int = 0
    warning_samples: list[str] = Field(default_factory=list)
    """One line per kind of warning: how many, and a few examples (identifiers masked)."""
    rejected: int = 0
    """Records skipped as unreadable (``on_bad_row = "skip"``)."""
    rejects_file: str | None = None
    """Where the skipped records are listed, with the reason."""
    error: str | None = None
    transient: bool = False
    """The error may go away by itself (the platform was unavailable): retried next run."""
    refused: str | None = None
    """A source guard refused this pull (nothing of the source was loaded); ``--force``."""


class ProfileSummary(BaseModel):
    records: int = 0
    profiles: int = 0
    merged_records: int = 0
    events: int = 0
    orphan_events: int = 0
    objected: int = 0
    """People who object to profiling (``do_not_profile``): no profile, never pushed."""
    order_currencies: dict[str, int] = Field(default_factory=dict)
    """Currency → how many orders with a value in it ``revenue`` sums (the most common
    first); more than one warns (``mixed_currencies``): the amounts are added as they are."""


class SegmentSummary(BaseModel):
    name: str
    size: int
    entered: int
    left: int
    share: float = 0.0
    """Of all profiles, rounded to 4 places."""
    group_of: str | None = None
    """For a group (``NAME.GROUP`` of a ``priority`` or ``split`` segment): ``NAME``."""
    min_size: int | None = None
    too_small: bool = False
    """Fewer members than ``min_size``."""
    conversion_rate: float | None = None
    """Share of members with an order in the KPI window, rounded to 4 places."""
    average_order_value: Decimal | None = None
    """Order value / orders, in the KPI window (JSON: a decimal string)."""
    revenue: Decimal | None = None
    """Order value in the KPI window (JSON: a decimal string)."""
    mean_value: Decimal | None = None
    """Mean historical value: the members' mean ``revenue`` (JSON: a decimal string)."""


class PrivacySummary(BaseModel):
    """What a run did for privacy before pulling (``[privacy]``, ``segsync forget``)."""

    suppressions_added: int = 0
    """New entries read from ``[privacy] suppression_file``."""
    suppressions_removed: int = 0
    """Entries gone from the file since the last run (no longer suppressed)."""
    records_purged: int = 0
    """Stored records (and events) of newly suppressed people deleted."""
    erasures_resumed: int = 0
    """Erasure requests a killed ``forget`` left, erased from the store by this run."""
    erasures_completed: int = 0
    """Erasure requests whose last pending destination this run completed."""
    erasures_pending: int = 0
    """Erasure requests still waiting for a destination (retried by the next run)."""
    erasures_failed: int = 0
    """Erasure requests a destination refused for good (see ``segsync erasures``)."""


class SkippedCounts(BaseModel):
    """Segment members not pushed, by reason."""

    no_consent: int = 0
    unmatched: int = 0
    failed_permanently: int = 0


class FailureSummary(BaseModel):
    op: str
    error: str
    count: int
    permanent: bool


class SyncPreview(BaseModel):
    """A sample of a sync's planned changes, for a person to review before forcing."""

    adds: list[str] = Field(default_factory=list)
    removes: list[str] = Field(default_factory=list)


class SyncReport(BaseModel):
    name: str
    segment: str
    destination: str
    kind: str
    audience: str
    audience_id: str | None = None
    required_consent: list[str] = Field(default_factory=list)
    segment_size: int = 0
    desired: int = 0
    in_audience_before: int = 0
    adds: int = 0
    removes: int = 0
    retries: int = 0
    refreshes: int = 0
    """Members already in the audience sent again before their membership expires at the
    destination (``refresh_days``); not counted in ``adds``."""
    refresh_days: int | None = None
    """After how many days a delivered member is refreshed; None where memberships do not
    expire (and no ``refresh_days`` is set)."""
    skipped: SkippedCounts = Field(default_factory=SkippedCounts)
    applied_adds: int = 0
    applied_removes: int = 0
    applied_refreshes: int = 0
    created: int = 0
    """Members created at the destination first (``on_missing = "create"``)."""
    failed: int = 0
    failures: list[FailureSummary] = Field(default_factory=list)
    batches: int = 0
    blocked: str | None = None
    error: str | None = None
    deferred: str | None = None
    """Why the sync stopped early without anything being wrong (a platform's daily quota is
    used up): its remaining changes stay pending for the next run."""
    skipped_reason: str | None = None
    """Why the sync was not pushed this run although nothing is wrong with it (a source that
    feeds it failed or was refused): it runs again next time."""
    match_rate: float | None = None
    """Share (0..1) of the members sent that the platform matched to its own users, where the
    platform reports one (ad audiences: Google Ads Customer Match); None elsewhere."""
    audience_size: int | None = None
    """The audience's size as the platform reports it after the push (Customer Match: the
    Google users matched, an estimate), where it reports one."""
    audience_min_size: int | None = None
    """Below this size the platform does not serve the audience (Customer Match: 100)."""
    audience_warning: str | None = None
    """Why the audience may not work as meant although the push succeeded (too small to be
    served)."""
    preview: SyncPreview | None = None
    """Who would be added and removed (``segsync plan``; first ``--limit`` of each)."""
    status: Literal[
        "planned", "ok", "failed_records", "blocked", "error", "disabled", "deferred", "skipped"
    ] = "planned"


class RunReport(BaseModel):
    run_id: str
    command: Literal["run", "plan", "pull", "segments"]
    config: str
    store: str
    version: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    duration_seconds: float = 0.0
    status: Literal["running", "ok", "failed_records", "blocked", "error", "killed"] = "running"
    exit_code: int = 0
    forced: bool = False
    sources: list[SourceSummary] = Field(default_factory=list)
    profiles: ProfileSummary = Field(default_factory=ProfileSummary)
    segments: list[SegmentSummary] = Field(default_factory=list)
    kpi_window: str | None = None
    """``[kpis] window``; the KPIs read orders in ``[kpi_window_start, kpi_window_end)``."""
    kpi_window_start: dt.datetime | None = None
    kpi_window_end: dt.datetime | None = None
    # -- issue 17: the run's as-of, warnings about the data, fitted models ----------------
    as_of: dt.datetime | None = None
    """The moment traits without their own ``as_of``, the KPIs and ``current_date``/``now()``
    in conditions were computed as of (UTC)."""
    as_of_source: Literal["run_start", "config", "command_line"] | None = None
    """Where ``as_of`` came from: the run's start, ``[segments] as_of``, or ``--as-of``."""
    warnings: list[TraitWarning] = Field(default_factory=list)
    """Problems with the data that did not stop the run (stale events, ties decided by key,
    models refused), each once."""
    models: list[ModelSummary] = Field(default_factory=list)
    """The models traits fitted this run (``clv``, ``propensity``): parameters, fit quality,
    holdout AUC and calibration."""
    # ----------------------------------------------------------------------------------------
    syncs: list[SyncReport] = Field(default_factory=list)
    http: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per connector instance: requests, retries, by_status, throttled, network_errors, …"""
    errors: list[str] = Field(default_factory=list)
    privacy: PrivacySummary | None = None
    """Suppressions read and erasures finished before the pull (None when there were none)."""

    def finish(self) -> None:
        """Set status and exit code from the parts; the most severe outcome wins: an error
        (2), then a guard (3), then what the next run retries (1)."""
        self.finished_at = dt.datetime.now(dt.UTC)
        self.duration_seconds = round((self.finished_at - self.started_at).total_seconds(), 3)
        fatal_source = any(s.error and not s.transient for s in self.sources)
        if self.errors or fatal_source or any(s.error for s in self.syncs):
            self.status, self.exit_code = "error", 2
        elif any(s.blocked for s in self.syncs) or any(s.refused for s in self.sources):
            self.status, self.exit_code = "blocked", 3
        elif (
            any(s.failed or s.deferred for s in self.syncs)
            or any(s.error for s in self.sources)
            or any(s.skipped_reason for s in self.syncs)
            or (self.privacy and (self.privacy.erasures_pending or self.privacy.erasures_failed))
        ):
            self.status, self.exit_code = "failed_records", 1
        else:
            self.status, self.exit_code = "ok", 0
