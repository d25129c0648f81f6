"""Push: apply a sync's planned changes batch by batch, recording each batch in the ledger.

The batch is the unit of retry, one API call of the destination. Up to the destination's
``max_in_flight`` batches are in flight at once; each one's outcome enters the ledger as soon
as it comes back, in one transaction (a crash between a batch and its record only means the
batch is sent again by the next run, which is harmless because applying a batch is
idempotent). Adds go out first, then refreshes (members sent again before their membership
expires at the destination: adds to the destination and to the ledger, counted apart), then
removes.

The event loop only sends: the planned members are read from the store, and each batch is
recorded in the ledger, on threads beside it (the ledger on one thread of its own, on an
engine :meth:`~segsync.engine.Engine.cursor` of its own), so that a destination's pacer starts
its requests on time however long reading and recording take. A batch is recorded only once
the destination answered it, in the order the answers came, and the push ends only when every
batch it sent is recorded.

One rule splits batches, here and nowhere else: a batch the platform rejects as a whole with a
fatal error is split in halves until the bad records are isolated; a single rejected record
fails permanently. A transient error fails the batch's records for this run (the HTTP layer has
already retried); they are retried next run. An authentication error, or a used-up quota,
stops the sync (its changes stay pending); batches already in flight finish and are recorded.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import Awaitable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from segsync import collector
from segsync.connector import (
    NEW_MEMBER_PREFIX,
    AudienceRef,
    AudienceSpec,
    AudienceStats,
    Batch,
    Destination,
    Member,
    Purpose,
    RecordResult,
)
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.pipeline.plan import SyncPlan
from segsync.progress import Progress
from segsync.report import FailureSummary, SyncReport
from segsync.state.ledger import Ledger, Outcome

__all__ = ["AudienceRecreated", "PushTarget", "apply_batch", "push_sync"]

log = logging.getLogger("segsync.push")
Op = Literal["add", "remove"]
Planned = Literal["add", "refresh", "remove"]


class AudienceRecreated(Exception):
    """What a sync delivered is no longer at the destination (the audience was deleted, or
    another one of that name stands in its place): the pipeline forgets the sync's
    deliveries, plans it afresh and pushes again."""


@dataclass(frozen=True)
class PushTarget:
    """Where a sync pushes: its destination role and the audience it asks for."""

    destination: Destination
    instance: str
    spec: AudienceSpec
    batch_size: int | None = None
    """The sync's own ``batch_size`` (capped at the destination's limit)."""


async def push_sync(
    plan: SyncPlan,
    target: PushTarget,
    ledger: Ledger,
    run_id: str,
    progress: Progress | None = None,
) -> SyncReport:
    """Apply the planned changes of one sync, recording every batch; return its report.
    ``progress`` hears of each batch recorded, of the batches the plan makes in all.

    Raises :class:`AudienceRecreated` (before sending anything) when the audience no longer
    holds what was delivered; the caller plans afresh and calls again."""
    report = plan.report
    progress = progress or Progress()
    failures: Counter[tuple[str, str, bool]] = Counter()
    try:
        audience = await target.destination.ensure_audience(target.spec)
        recreated = None if plan.fresh else _recreated(ledger, report.name, audience)
        if recreated:
            raise AudienceRecreated(recreated)
        report.audience_id = audience.id
        ledger.remember_audience(
            report.name, report.destination, report.kind, report.audience, audience.id
        )
        if audience.created:
            log.info(
                "%s: created %s %r at %s", report.name, report.kind, audience.name, target.instance
            )
        with (
            ledger.engine.cursor() as engine,
            ThreadPoolExecutor(1, thread_name_prefix="segsync-ledger") as recorder,
        ):
            batches = _Batches(plan, target, Ledger(engine), audience, run_id, failures, progress)
            await batches.send(recorder)
        await _read_back(target.destination, audience, report)
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
        ledger.settle(report.name, report.desired)
    return report


async def _read_back(destination: Destination, audience: AudienceRef, report: SyncReport) -> None:
    """What the platform says of the audience now (its size, match rate, the size it needs to
    serve it), where the destination can tell (its optional ``audience_stats``); a failure to
    read it is a warning, never the sync's failure."""
    read = getattr(destination, "audience_stats", None)
    if read is None:
        return
    try:
        stats = await read(audience)
    except (FatalError, RetryableError) as exc:
        log.warning("%s: could not read the audience's size back: %s", report.name, exc)
        return
    if not isinstance(stats, AudienceStats):
        return
    report.audience_size, report.match_rate = stats.size, stats.match_rate
    report.audience_min_size = stats.min_size
    if stats.too_small:
        report.audience_warning = (
            f"{report.kind} {audience.name!r} holds {stats.size:,} people at "
            f"{report.destination}, below the {stats.min_size:,} it needs to be served"
        )
        log.warning("%s: %s", report.name, report.audience_warning)


def _recreated(ledger: Ledger, sync: str, audience: AudienceRef) -> str | None:
    """Why what segsync delivered to ``sync`` is no longer there, if it is not: the audience
    was just created although members were delivered (deleted at the platform), or it has
    another id than the one delivered to (deleted, and one of that name made by hand)."""
    stored = ledger.audience(sync)
    if stored is not None and stored.audience_id != audience.id:
        return (
            f"{audience.kind} {audience.name!r} is now id {audience.id}, not "
            f"{stored.audience_id} (deleted and made again at the destination?)"
        )
    if not audience.created:
        return None
    delivered = ledger.confirmed_count(sync)
    if delivered:
        return (
            f"{audience.kind} {audience.name!r} had to be created although {delivered:,} "
            "members were delivered to it (deleted at the destination?)"
        )
    return None


class _Batches:
    """Sends one sync's batches, up to ``max_in_flight`` at once, recording each."""

    def __init__(
        self,
        plan: SyncPlan,
        target: PushTarget,
        ledger: Ledger,
        audience: AudienceRef,
        run_id: str,
        failures: Counter[tuple[str, str, bool]],
        progress: Progress,
    ) -> None:
        self.plan = plan
        self.report = plan.report
        self.destination = target.destination
        self.ledger = ledger
        self.audience = audience
        self.run_id = run_id
        self.failures = failures
        limit = max(1, self.destination.batch_limit(self.report.kind))
        self.size = min(target.batch_size or limit, limit)
        self.in_flight = max(1, int(getattr(self.destination, "max_in_flight", 1) or 1))
        self.stop: BaseException | None = None
        self.progress = progress
        self.task = f"push:{self.report.name}"

    async def send(self, recorder: ThreadPoolExecutor) -> None:
        """Send every planned batch; ``recorder`` (one thread) records them in the ledger."""
        report = self.report
        planned = sum(-(-n // self.size) for n in (report.adds, report.refreshes, report.removes))
        self.progress.start(self.task, label=f"push {report.name}", total=planned, unit="batches")
        try:
            with collector.paused():  # see segsync.collector; cycles: _COLLECT_EVERY
                planned_ops: tuple[Planned, ...] = ("add", "refresh", "remove")
                for op in planned_ops:
                    await self._send(op, recorder)
                    if self.stop is not None:
                        raise self.stop
        finally:
            self.progress.finish(self.task)

    async def _send(self, op: Planned, recorder: ThreadPoolExecutor) -> None:
        running: set[asyncio.Task[None]] = set()
        batches = self.plan.batches(op, self.size)
        reader = ThreadPoolExecutor(1, thread_name_prefix="segsync-plan")
        reading: Future[list[Member] | None] | None = None
        try:
            # the next batch is read (on a thread) before a place in flight is free for it
            while True:
                reading = reader.submit(_next, batches)
                members = await asyncio.wrap_future(reading)
                if members is None:
                    break
                while len(running) >= self.in_flight:
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                if self.stop is not None:
                    break
                running.add(asyncio.create_task(self._one(op, members, recorder)))
        finally:
            # a read still going (the push was cancelled meanwhile) closes the plan's reading
            # when it ends; the reader's thread goes once it has
            if reading is None or reading.done():
                batches.close()
            else:
                reading.add_done_callback(lambda _: batches.close())
            reader.shutdown(wait=False)
        if running:
            await asyncio.wait(running)

    async def _one(
        self, planned: Planned, members: list[Member], recorder: ThreadPoolExecutor
    ) -> None:
        op: Op = "remove" if planned == "remove" else "add"
        try:
            results = await apply_batch(self.destination, self.audience, op, members)
        except (AuthError, QuotaError) as exc:
            if self.stop is None:
                self.stop = exc
            return
        self.report.batches += 1
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(recorder, self._record, planned, members, results)
        self._count(planned, results)
        self.progress.advance(self.task, 1, changes=len(members))
        if self.report.batches % _COLLECT_EVERY == 0 and not gc.isenabled():
            gc.collect(0)  # the few cycles the last batches left (statement trees)

    def _record(self, planned: Planned, members: list[Member], results: list[RecordResult]) -> None:
        """Record one batch in the ledger (on the recorder's thread)."""
        op: Op = "remove" if planned == "remove" else "add"
        report = self.report
        # why each change was made: the same for every add (or refresh) but a created member
        plain = None if planned == "remove" else _why(Member(key=""), planned, report)
        # apply_batch answers one result per member, in the members' order
        outcomes = [
            Outcome(
                r.key,
                m.profile_key,
                r.ok,
                r.error,
                r.permanent,
                r.delivered_key,
                None
                if not r.ok
                else plain
                if plain is not None and not r.key.startswith(NEW_MEMBER_PREFIX)
                else _why(m, planned, report),
            )
            for m, r in zip(members, results, strict=True)
        ]
        self.ledger.record_batch(report.name, op, outcomes, self.run_id)

    def _count(self, planned: Planned, results: list[RecordResult]) -> None:
        """Count a recorded batch in the report."""
        op: Op = "remove" if planned == "remove" else "add"
        report = self.report
        ok = sum(1 for r in results if r.ok)
        report.created += sum(1 for r in results if r.ok and r.delivered_key)
        if planned == "add":
            report.applied_adds += ok
        elif planned == "refresh":
            report.applied_refreshes += ok
        else:
            report.applied_removes += ok
        report.failed += len(results) - ok
        for r in results:
            if not r.ok:
                self.failures[(op, r.error or "failed", r.permanent)] += 1


_COLLECT_EVERY = 20
"""Batches between two collections of the young generation while the collector is paused."""


def _next(batches: Iterator[list[Member]]) -> list[Member] | None:
    return next(batches, None)


def _why(member: Member, op: Planned, report: SyncReport) -> str:
    """Why a change was made, for the change log (the ``segsync changes`` command)."""
    segment = report.segment
    if op == "refresh":
        return (
            f"refreshed: in segment {segment!r}, last delivered over {report.refresh_days} days "
            "ago, before the membership expires at the destination"
        )
    if op == "add":
        created = (
            " (created at the destination)" if member.key.startswith(NEW_MEMBER_PREFIX) else ""
        )
        return f"in segment {segment!r}{created}"
    consent = member.consent
    if member.email is None and member.phone is None and not any(consent.values()):
        return "no longer in any source (or objected to profiling, or suppressed)"
    missing = [p for p in report.required_consent if consent.get(Purpose(p)) is not True]
    if missing:
        return f"consent not granted: {', '.join(missing)}"
    return f"not wanted in segment {segment!r} any more (left it, or reached at another address)"


async def apply_batch(
    destination: Destination, audience: AudienceRef, op: Op, members: list[Member]
) -> list[RecordResult]:
    """One batch of ``op`` changes, with the one splitting rule (see the module docstring):
    one result per member, in order. :class:`AuthError` and :class:`QuotaError` propagate."""
    batch = Batch(
        audience=audience,
        adds=members if op == "add" else [],
        removes=members if op == "remove" else [],
    )
    try:
        results = await destination.apply_batch(batch)
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
        parts: list[Awaitable[list[RecordResult]]] = [
            apply_batch(destination, audience, op, members[:half]),
            apply_batch(destination, audience, op, members[half:]),
        ]
        left, right = [await part for part in parts]
        return left + right
    except Exception as exc:  # a connector bug: fail the batch, keep the run going
        log.exception("connector raised unexpectedly")
        return [
            RecordResult.failure(m.key, op, f"connector error: {type(exc).__name__}: {exc}")
            for m in members
        ]
    return _match(members, op, results)


def _match(members: list[Member], op: Op, results: Any) -> list[RecordResult]:
    """One result per member, in the members' order, whatever order (or gaps, or strays)
    the connector answered in."""
    answered: list[Any] = results if isinstance(results, list) else []
    if len(answered) == len(members) and all(
        isinstance(r, RecordResult) and r.key == m.key and r.op == op
        for r, m in zip(answered, members, strict=True)
    ):
        return answered  # the usual answer: already one per member, in order
    by_key: dict[str, RecordResult] = {}
    for result in answered:
        if isinstance(result, RecordResult) and result.op == op:
            by_key.setdefault(result.key, result)
    return [
        by_key.get(m.key)
        or RecordResult.failure(m.key, op, "the connector returned no result for this record")
        for m in members
    ]
