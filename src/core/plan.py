"""Plan: for each sync, compare the desired members with what was confirmed delivered.

desired = members of the segment that have every consent purpose the destination needs, an
address the destination can use, and no permanent failure; adds = desired − state;
removes = state − desired. A profile that loses consent is therefore removed.

Guards run here and block a sync (they do not just warn): a segment below its ``min_size``
with ``min_size_action = "skip_syncs"``, removing more than ``max_remove_fraction`` of the
audience, adding more than ``max_add_fraction`` of it (a segment that suddenly doubles), or a
segment that computes empty while the audience is not. ``--force`` lifts them.
A sync of a split segment leaves out the split's holdout group. The changes are left in the
temp table ``_plan_changes`` for :mod:`segsync.push`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from segsync.config import Config, SyncConfig
from segsync.connector import NEW_MEMBER_PREFIX
from segsync.profile import CONSENT_COLUMNS
from segsync.report import SkippedCounts, SyncPreview, SyncReport
from segsync.segments import NEW_MEMBERS, holdout_of
from segsync.store import Store

__all__ = ["PLAN_TABLE", "plan_sync", "prepare_plan", "sources_feeding"]

PLAN_TABLE = "_plan_changes"


def prepare_plan(store: Store) -> None:
    store.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PLAN_TABLE} (sync VARCHAR, op VARCHAR, "
        "member_key VARCHAR, profile_key VARCHAR, retry BOOLEAN)"
    )


def _address_sql(config: Config, sync: SyncConfig) -> str:
    identifier = config.connectors[sync.destination].cls.capabilities.identifier
    if identifier == "email":
        return "p.email"
    if identifier == "phone":
        return "p.phone"
    # "id": the record id this destination instance itself returned when pulled.
    instance = exp.Literal.string(sync.destination).sql(dialect="duckdb")
    record_id = (
        "(SELECT min(i.source_id) FROM profile_identifiers i "
        f"WHERE i.profile_key = p.profile_key AND i.instance = {instance})"
    )
    if sync.on_missing == "create":
        # no record there yet: the connector creates it from the email ("new:<email>"), if
        # the profile has granted what creating someone there requires (else: unmatched)
        prefix = exp.Literal.string(NEW_MEMBER_PREFIX).sql(dialect="duckdb")
        dest = config.connectors[sync.destination]
        needed = dest.cls.create_requires(dest.settings, config.sync_kind(sync))
        granted = " AND ".join(f"p.{CONSENT_COLUMNS[need]} IS TRUE" for need in sorted(needed))
        new = f"{prefix} || p.email"
        if granted:
            new = f"CASE WHEN {granted} THEN {new} END"
        return f"coalesce({record_id}, {new})"
    return record_id


def plan_sync(
    store: Store,
    config: Config,
    name: str,
    *,
    force: bool,
    fresh: bool = False,
    preview: int = 0,
) -> SyncReport:
    """Compute one sync's changes into the plan table and return its report skeleton.

    ``fresh`` plans as if nothing had been delivered yet (the sync's audience changed);
    ``preview`` lists up to that many of the adds and of the removes (emails where known).
    """
    sync = config.syncs[name]
    kind = config.sync_kind(sync)
    purposes = sorted(config.required_purposes(sync))
    report = SyncReport(
        name=name,
        segment=sync.segment,
        destination=sync.destination,
        kind=kind,
        audience=sync.audience or name,
        required_consent=[p.value for p in purposes],
    )
    if not sync.enabled:
        report.status = "disabled"
        return report
    consent_ok = " AND ".join(f"p.{CONSENT_COLUMNS[p]} IS TRUE" for p in purposes) or "TRUE"
    con = store.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _candidates AS
        SELECT p.profile_key, {_address_sql(config, sync)} AS member_key,
               ({consent_ok}) AS consent_ok
        FROM {NEW_MEMBERS} m JOIN profiles p USING (profile_key)
        WHERE m.segment = $segment
          -- a split's holdout is never sent by a sync of the split segment itself
          AND m.profile_key NOT IN (SELECT profile_key FROM {NEW_MEMBERS}
                                    WHERE segment = $holdout)""",
        {"segment": sync.segment, "holdout": holdout_of(config, sync.segment) or ""},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _permanent AS
        SELECT member_key, op FROM failures WHERE sync = $sync AND permanent AND $valid""",
        {"sync": name, "valid": not fresh},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _desired AS
        SELECT member_key, min(profile_key) AS profile_key FROM _candidates
        WHERE consent_ok AND member_key IS NOT NULL
          AND member_key NOT IN (SELECT member_key FROM _permanent WHERE op = 'add')
        GROUP BY member_key"""
    )
    counts = store.dicts(
        """SELECT
            (SELECT count(*) FROM _candidates) AS segment_size,
            (SELECT count(*) FROM _candidates WHERE NOT consent_ok) AS no_consent,
            (SELECT count(*) FROM _candidates WHERE consent_ok AND member_key IS NULL)
                AS unmatched,
            (SELECT count(*) FROM _candidates WHERE consent_ok AND member_key IN
                (SELECT member_key FROM _permanent WHERE op = 'add')) AS failed_permanently,
            (SELECT count(*) FROM _desired) AS desired,
            (SELECT count(*) FROM sync_state WHERE sync = $sync AND $valid) AS in_audience""",
        {"sync": name, "valid": not fresh},  # type: ignore[arg-type]
    )[0]
    con.execute(
        f"""INSERT INTO {PLAN_TABLE}
        SELECT $sync, 'add', d.member_key, d.profile_key,
               d.member_key IN (SELECT member_key FROM failures
                                WHERE sync = $sync AND op = 'add' AND $valid)
        FROM _desired d
        WHERE d.member_key NOT IN (SELECT member_key FROM sync_state
                                   WHERE sync = $sync AND $valid)""",
        {"sync": name, "valid": not fresh},
    )
    con.execute(
        f"""INSERT INTO {PLAN_TABLE}
        SELECT $sync, 'remove', s.member_key, s.profile_key,
               s.member_key IN (SELECT member_key FROM failures WHERE sync = $sync
                                AND op = 'remove')
        FROM sync_state s
        WHERE s.sync = $sync AND $valid
          AND s.member_key NOT IN (SELECT member_key FROM _desired)
          -- the same person still wanted under a "new:" key (not pulled back yet): keep
          AND s.profile_key NOT IN (SELECT profile_key FROM _desired
                                    WHERE starts_with(member_key, 'new:'))
          AND s.member_key NOT IN (SELECT member_key FROM _permanent WHERE op = 'remove')""",
        {"sync": name, "valid": not fresh},
    )
    adds, removes, retries = store.rows(
        f"""SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'remove'),
                   count(*) FILTER (WHERE retry)
            FROM {PLAN_TABLE} WHERE sync = $sync""",
        {"sync": name},  # type: ignore[arg-type]
    )[0]
    report.segment_size = int(counts["segment_size"])
    report.desired = int(counts["desired"])
    report.in_audience_before = int(counts["in_audience"])
    report.adds, report.removes, report.retries = int(adds), int(removes), int(retries)
    report.skipped = SkippedCounts(
        no_consent=int(counts["no_consent"]),
        unmatched=int(counts["unmatched"]),
        failed_permanently=int(counts["failed_permanently"]),
    )
    settled = (
        None if fresh else store.scalar("SELECT settled_size FROM audiences WHERE sync = ?", [name])
    )
    report.blocked = (
        None if force else _min_size_guard(store, config, sync) or _guard(report, sync, settled)
    )
    report.status = "blocked" if report.blocked else "planned"
    if preview:
        report.preview = SyncPreview(
            adds=_preview(store, name, "add", preview),
            removes=_preview(store, name, "remove", preview),
        )
    for table in ("_candidates", "_permanent", "_desired"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return report


def _preview(store: Store, sync: str, op: str, limit: int) -> list[str]:
    rows = store.rows(
        f"""SELECT coalesce(p.email, p.phone, c.member_key)
        FROM {PLAN_TABLE} c LEFT JOIN profiles p USING (profile_key)
        WHERE c.sync = ? AND c.op = ? ORDER BY 1 LIMIT ?""",
        [sync, op, limit],
    )
    return [str(r[0]) for r in rows]


def sources_feeding(
    store: Store, config: Config, sync: str, instances: Mapping[str, object]
) -> list[str]:
    """Which of the source ``instances`` feed ``sync``: a source feeds a sync when any profile
    the sync would add, keep or remove has a record or an event from it."""
    if not instances:
        return []
    segment = config.syncs[sync].segment
    names = sorted(instances)
    marks = ", ".join("?" for _ in names)
    rows = store.rows(
        f"""WITH people AS (
            SELECT profile_key FROM {NEW_MEMBERS} WHERE segment = ?
            UNION SELECT profile_key FROM sync_state WHERE sync = ? AND profile_key IS NOT NULL)
        SELECT DISTINCT instance FROM (
            SELECT i.instance FROM profile_identifiers i JOIN people USING (profile_key)
            WHERE i.instance IN ({marks})
            UNION ALL
            SELECT e.instance FROM profile_events e JOIN people USING (profile_key)
            WHERE e.instance IN ({marks}))
        ORDER BY instance""",
        [segment, sync, *names, *names],
    )
    return [str(r[0]) for r in rows]


def _min_size_guard(store: Store, config: Config, sync: SyncConfig) -> str | None:
    """Block a sync of a segment (or of one of its groups) that has fewer members than its
    ``min_size`` when ``min_size_action = "skip_syncs"``."""
    parent = sync.segment.partition(".")[0]
    segment = config.segments.get(parent)
    if segment is None or segment.min_size is None or segment.min_size_action != "skip_syncs":
        return None
    size = int(store.scalar(f"SELECT count(*) FROM {NEW_MEMBERS} WHERE segment = ?", [parent]))
    if size >= segment.min_size:
        return None
    return (
        f"segment {parent!r} has {size} members, below min_size {segment.min_size}; "
        f"rerun with --force to push it anyway"
    )


def _guard(report: SyncReport, sync: SyncConfig, settled: int | None) -> str | None:
    before = report.in_audience_before
    if before == 0:
        return None
    if report.segment_size == 0:
        return (
            f"segment {sync.segment!r} computed empty while the audience holds {before} members; "
            f"refusing to empty it (check the sources, or rerun with --force)"
        )
    review = f"review them with 'segsync plan --sync {report.name}', then rerun with --force"
    fraction = report.removes / before
    if fraction > sync.max_remove_fraction:
        return (
            f"would remove {report.removes:,} of {before:,} members ({fraction:.0%}), more than "
            f"max_remove_fraction = {sync.max_remove_fraction:g}; {review}"
        )
    # growth is measured from what the sync last pushed to the end, so finishing an
    # interrupted push never counts as growth, and a blocked run does not move the baseline
    if settled:
        grow = (report.desired - settled) / settled
        if grow > sync.max_add_fraction:
            return (
                f"the audience would grow from {settled:,} to {report.desired:,} members "
                f"(+{grow:.0%}), more than max_add_fraction = {sync.max_add_fraction:g}; {review}"
            )
    return None
