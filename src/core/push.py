"""Push and record: apply a sync's planned changes batch by batch, recording each batch.

The batch is the unit of retry. After each batch the confirmed changes enter ``sync_state``
and failed ones go to ``failures`` (with their reason), in one transaction; a crash between a
batch and its record only means the batch is sent again by the next run, which is harmless
because applying a batch is idempotent.

A batch the platform rejects as a whole with a fatal error is split in halves until the bad
records are isolated; a single rejected record fails permanently. A transient error fails the
batch's records for this run (the HTTP layer has already retried); they are retried next run.
An authentication error, or a used-up quota, stops the sync (its changes stay pending).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Literal

from segsync.config import Config
from segsync.connector import AudienceRef, AudienceSpec, Batch, Connector, Member, RecordResult
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.plan import PLAN_TABLE, plan_sync
from segsync.profile import CONSENT_COLUMNS
from segsync.report import FailureSummary, SyncReport
from segsync.store import Store, utcnow

__all__ = ["audience_target_changed", "push_sync"]

log = logging.getLogger("segsync.push")
Op = Literal["add", "remove"]


def audience_target_changed(store: Store, sync: str, target: tuple[str, str, str]) -> str | None:
    """Describe the previous target when ``sync`` now points at a different audience
    (``target`` is destination, kind, audience name)."""
    rows = store.rows("SELECT destination, kind, name FROM audiences WHERE sync = ?", [sync])
    if not rows or tuple(rows[0]) == target:
        return None
    before = rows[0]
    return f"{before[0]} {before[1]} {before[2]!r}"


def start_afresh(store: Store, sync: str) -> None:
    """Forget a sync's state after its audience changed: the new audience starts empty."""
    with store.transaction() as con:
        for table in ("sync_state", "failures", "audiences"):
            con.execute(f"DELETE FROM {table} WHERE sync = ?", [sync])


async def push_sync(
    store: Store, config: Config, connector: Connector, report: SyncReport, run_id: str
) -> None:
    """Apply the planned changes of one sync, recording every batch."""
    sync = config.syncs[report.name]
    spec = AudienceSpec(
        sync=report.name, name=report.audience, kind=report.kind, description=sync.description
    )
    failures: Counter[tuple[str, str, bool]] = Counter()
    try:
        audience = await connector.ensure_audience(spec)
        await _push_batches(store, config, connector, report, audience, run_id, failures)
    except QuotaError as exc:  # a FatalError, caught first: the changes wait for the reset
        report.deferred = f"{report.destination}: {exc}"
    except RetryableError as exc:  # only ensure_audience lets these out; batches keep them
        report.deferred = f"{report.destination}: could not reach the audience: {exc}"
    except FatalError as exc:  # AuthError from anywhere; anything else from ensure_audience
        report.error = f"{report.destination}: {exc}"
    if report.deferred or report.error:
        log.log(
            logging.WARNING if report.deferred else logging.ERROR,
            "%s: stopped: %s",
            report.name,
            report.deferred or report.error,
        )
    report.failures = [
        FailureSummary(op=op, error=error, count=count, permanent=permanent)
        for (op, error, permanent), count in failures.most_common(10)
    ]
    if report.error:
        report.status = "error"
    elif report.deferred:
        report.status = "deferred"
    elif report.failed:
        report.status = "failed_records"
    else:
        report.status = "ok"
    if report.status in ("ok", "failed_records"):  # the baseline of the add guard
        store.con.execute(
            "UPDATE audiences SET settled_size = ? WHERE sync = ?", [report.desired, report.name]
        )


async def _push_batches(
    store: Store,
    config: Config,
    connector: Connector,
    report: SyncReport,
    audience: AudienceRef,
    run_id: str,
    failures: Counter[tuple[str, str, bool]],
) -> None:
    """Record the audience, then send the planned adds and removes batch by batch."""
    report.audience_id = audience.id
    recreated = _recreated(store, report.name, audience)
    if recreated:
        log.warning("%s: %s; sending every member again", report.name, recreated)
        _replan_afresh(store, config, report)
    _remember_audience(store, report, audience)
    if audience.created:
        log.info(
            "%s: created %s %r at %s", report.name, report.kind, audience.name, report.destination
        )
    limit = max(1, connector.batch_limit(report.kind))
    size = min(config.syncs[report.name].batch_size or limit, limit)
    for op in ("add", "remove"):
        last = ""
        while members := _next_members(store, report.name, op, last, size):
            last = members[-1].key
            batch = Batch(
                audience=audience,
                adds=members if op == "add" else [],
                removes=members if op == "remove" else [],
            )
            results = await _apply(connector, batch, op)
            report.batches += 1
            _record(store, report, op, members, results, run_id, failures)


def _recreated(store: Store, sync: str, audience: AudienceRef) -> str | None:
    """Why what segsync delivered to ``sync`` is no longer there, if it is not: the audience
    was just created although members were delivered (deleted at the platform), or it has
    another id than the one delivered to (deleted, and one of that name made by hand)."""
    stored = store.rows("SELECT audience_id FROM audiences WHERE sync = ?", [sync])
    if stored and stored[0][0] != audience.id:
        return (
            f"{audience.kind} {audience.name!r} is now id {audience.id}, not {stored[0][0]} "
            "(deleted and made again at the destination?)"
        )
    if not audience.created:
        return None
    delivered = int(store.scalar("SELECT count(*) FROM sync_state WHERE sync = ?", [sync]))
    if delivered:
        return (
            f"{audience.kind} {audience.name!r} had to be created although {delivered:,} "
            "members were delivered to it (deleted at the destination?)"
        )
    return None


def _replan_afresh(store: Store, config: Config, report: SyncReport) -> None:
    """Forget the sync's deliveries and plan it again as if nothing had been delivered."""
    start_afresh(store, report.name)
    store.con.execute(f"DELETE FROM {PLAN_TABLE} WHERE sync = ?", [report.name])
    fresh = plan_sync(store, config, report.name, force=True, fresh=True)
    report.in_audience_before, report.desired = fresh.in_audience_before, fresh.desired
    report.adds, report.removes, report.retries = fresh.adds, fresh.removes, fresh.retries
    report.skipped = fresh.skipped


def _remember_audience(store: Store, report: SyncReport, audience: AudienceRef) -> None:
    with store.transaction() as con:
        settled = store.scalar("SELECT settled_size FROM audiences WHERE sync = ?", [report.name])
        con.execute("DELETE FROM audiences WHERE sync = ?", [report.name])
        con.execute(
            "INSERT INTO audiences (sync, destination, kind, name, audience_id, updated_at, "
            "settled_size) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                report.name,
                report.destination,
                report.kind,
                report.audience,
                audience.id,
                utcnow(),
                settled,
            ],
        )


def _next_members(store: Store, sync: str, op: Op, after: str, size: int) -> list[Member]:
    consent = ", ".join(f"p.{c}" for c in CONSENT_COLUMNS.values())
    rows = store.rows(
        f"""SELECT c.member_key, c.profile_key, p.email, p.phone, {consent}
        FROM {PLAN_TABLE} c LEFT JOIN profiles p USING (profile_key)
        WHERE c.sync = ? AND c.op = ? AND c.member_key > ?
        ORDER BY c.member_key LIMIT ?""",
        [sync, op, after, size],
    )
    purposes = list(CONSENT_COLUMNS)
    return [
        Member(
            key=row[0],
            profile_key=row[1],
            email=row[2],
            phone=row[3],
            consent=dict(zip(purposes, row[4:], strict=True)),
        )
        for row in rows
    ]


async def _apply(connector: Connector, batch: Batch, op: Op) -> list[RecordResult]:
    members = batch.adds or batch.removes
    try:
        results = await connector.apply_batch(batch)
    except (AuthError, QuotaError):
        raise
    except RetryableError as exc:
        return [RecordResult.failure(m.key, op, f"transient: {exc}") for m in members]
    except FatalError as exc:
        if len(members) == 1:
            return [RecordResult.failure(members[0].key, op, str(exc), permanent=True)]
        half = len(members) // 2
        log.info(
            "batch of %d rejected (%s); splitting to isolate the bad records", len(members), exc
        )
        out: list[RecordResult] = []
        for part in (members[:half], members[half:]):
            sub = Batch(
                audience=batch.audience,
                adds=part if op == "add" else [],
                removes=part if op == "remove" else [],
            )
            out += await _apply(connector, sub, op)
        return out
    except Exception as exc:  # a connector bug: fail the batch, keep the run going
        log.exception("connector %s raised unexpectedly", connector.context.instance)
        return [
            RecordResult.failure(m.key, op, f"connector error: {type(exc).__name__}: {exc}")
            for m in members
        ]
    return _match(members, op, results)


def _match(members: list[Member], op: Op, results: Any) -> list[RecordResult]:
    by_key: dict[str, RecordResult] = {}
    for result in results if isinstance(results, list) else []:
        if isinstance(result, RecordResult) and result.op == op:
            by_key.setdefault(result.key, result)
    return [
        by_key.get(m.key)
        or RecordResult.failure(m.key, op, "the connector returned no result for this record")
        for m in members
    ]


def _record(
    store: Store,
    report: SyncReport,
    op: Op,
    members: list[Member],
    results: list[RecordResult],
    run_id: str,
    failures: Counter[tuple[str, str, bool]],
) -> None:
    profile_of = {m.key: m.profile_key for m in members}
    for r in results:  # a created member is recorded under the platform's id for it
        if r.ok and r.delivered_key:
            profile_of[r.delivered_key] = profile_of.get(r.key)
    ok = [r.key for r in results if r.ok]
    delivered = [r.delivered_key or r.key for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    now = utcnow()
    params: dict[str, Any] = {"sync": report.name, "now": now, "run": run_id}
    with store.transaction() as con:
        if ok:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _ok AS "
                "SELECT unnest($keys) AS member_key, unnest($pks) AS profile_key",
                {"keys": delivered, "pks": [profile_of.get(k) for k in delivered]},
            )
            con.execute(
                "DELETE FROM sync_state WHERE sync = $sync "
                "AND member_key IN (SELECT member_key FROM _ok)",
                {"sync": report.name},
            )
            if op == "add":
                con.execute(
                    "INSERT INTO sync_state SELECT $sync, member_key, profile_key, $now, $run "
                    "FROM _ok",
                    params,
                )
            con.execute(
                "DELETE FROM failures WHERE sync = $sync "
                "AND (member_key IN (SELECT member_key FROM _ok) "
                "OR member_key IN (SELECT unnest($sent)))",
                {"sync": report.name, "sent": ok},
            )
            con.execute("DROP TABLE _ok")
        if bad:
            con.execute(
                """CREATE OR REPLACE TEMP TABLE _failed AS SELECT
                    unnest($keys) AS member_key, unnest($pks) AS profile_key,
                    unnest($errors) AS error, unnest($perm) AS permanent""",
                {
                    "keys": [r.key for r in bad],
                    "pks": [profile_of.get(r.key) for r in bad],
                    "errors": [r.error or "failed" for r in bad],
                    "perm": [r.permanent for r in bad],
                },
            )
            con.execute(
                """UPDATE failures SET attempts = failures.attempts + 1, error = f.error,
                    permanent = f.permanent, last_failed_at = $now, run_id = $run
                FROM _failed f
                WHERE failures.sync = $sync AND failures.op = $op
                  AND failures.member_key = f.member_key""",
                {**params, "op": op},
            )
            con.execute(
                """INSERT INTO failures SELECT $sync, f.member_key, $op, f.profile_key, f.error,
                    f.permanent, 1, $now, $now, $run FROM _failed f
                WHERE f.member_key NOT IN
                    (SELECT member_key FROM failures WHERE sync = $sync AND op = $op)""",
                {**params, "op": op},
            )
            con.execute("DROP TABLE _failed")
    report.created += sum(1 for r in results if r.ok and r.delivered_key)
    if op == "add":
        report.applied_adds += len(ok)
    else:
        report.applied_removes += len(ok)
    report.failed += len(bad)
    for r in bad:
        failures[(op, r.error or "failed", r.permanent)] += 1
