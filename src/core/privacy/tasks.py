"""What erasures still owe destinations, done: removals from audiences, then record erasure.

``erasure_tasks`` rows are ``pending`` until the destination confirms (``done``) or refuses
for good (``failed``); either way the address the task held (``member_key``, ``person``) is
cleared in the same transaction. A task that fails transiently stays pending, its attempts
counted and its error kept, and is tried again by the next ``segsync forget`` or ``run``.

* **remove** tasks go through each destination's ordinary role, as a push's removes do: one
  :func:`segsync.pipeline.push.apply_batch` per ``batch_limit(kind)`` members (core's one
  splitting rule), up to ``max_in_flight`` at once. Each batch is recorded in the ledger's
  change log (as ``erased:<request id>``, never the address) in the transaction that updates
  its tasks.
* **erase** tasks run at an instance once the person's removals there are settled: at most
  ``eraser.erase_limit`` people per call, ``eraser.max_in_flight`` calls at once. A call the
  platform rejects as a whole (:class:`~segsync.errors.FatalError`) is tried again one person
  at a time; a single person it rejects fails for good. Their answers are recorded set-wise,
  every :data:`RECORD_EVERY` seconds (or :data:`RECORD_AT` answers) and when the instance is
  done or stopped — not one transaction per call, which would cost more than the call itself
  at platforms erasing one person a call. A process killed in between asks again for the
  last second's people: the platforms' erasures are idempotent (an erased record answers
  ``not_found``).
* :class:`~segsync.errors.AuthError` and :class:`~segsync.errors.QuotaError` stop the work at
  that instance (everything left stays pending); the other instances go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from segsync.connector import (
    AudienceRef,
    Connector,
    Eraser,
    ErasureResult,
    Member,
    Person,
    RecordResult,
)
from segsync.engine import Engine, parse
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.pipeline.push import apply_batch
from segsync.state.ledger import Ledger
from segsync.values import utcnow

__all__ = ["RECORD_AT", "RECORD_EVERY", "TaskRunner", "finish_requests"]

log = logging.getLogger("segsync.privacy.tasks")
T = TypeVar("T")

RECORD_EVERY = 1.0
"""Seconds between two recordings of an instance's eraser answers."""
RECORD_AT = 1000
"""Eraser answers that are recorded at once without waiting for :data:`RECORD_EVERY`."""

_OUTCOMES = {
    "request_id": "VARCHAR", "task": "VARCHAR", "instance": "VARCHAR", "sync": "VARCHAR",
    "member_key": "VARCHAR", "status": "VARCHAR", "outcome": "VARCHAR", "error": "VARCHAR",
}  # fmt: skip


@dataclass(frozen=True)
class _Removal:
    request_ids: tuple[str, ...]
    member: Member


@dataclass(frozen=True)
class _Outcome:
    """One task's new state: ``done`` / ``failed`` (permanent) / ``pending`` (try again)."""

    request_id: str
    task: str
    instance: str
    sync: str | None
    member_key: str | None
    status: str
    outcome: str | None
    error: str | None


class TaskRunner:
    """Runs every pending task against the connectors given (by instance name)."""

    def __init__(self, engine: Engine, connectors: Mapping[str, Connector], run_id: str) -> None:
        self.engine = engine
        self.ledger = Ledger(engine)
        self.connectors = connectors
        self.run_id = run_id

    def instances(self) -> list[str]:
        """The connector instances pending tasks need."""
        rows = self.engine.rows(
            parse("SELECT DISTINCT instance FROM erasure_tasks WHERE status = 'pending'")
        )
        return sorted(str(r[0]) for r in rows)

    async def run(self) -> None:
        """Do every pending task, the instances side by side."""
        instances = self.instances()
        if instances:
            await asyncio.gather(*(self._instance(i) for i in instances))

    # -- one instance -----------------------------------------------------------------------

    async def _instance(self, instance: str) -> None:
        connector = self.connectors.get(instance)
        if connector is None:
            self._give_up(
                instance,
                f"connector instance {instance!r} is no longer configured: remove the person "
                "there by hand",
            )
            return
        try:
            await self._removals(instance, connector)
            await self._erasures(instance, connector)
        except (AuthError, QuotaError) as exc:
            log.warning("forget: %s stopped: %s; the rest stays pending", instance, exc)
            self._note(instance, f"stopped: {exc}")

    def _give_up(self, instance: str, why: str) -> None:
        rows = self.engine.rows(
            parse(
                "SELECT request_id, task, sync, member_key FROM erasure_tasks "
                "WHERE status = 'pending' AND instance = :i",
                i=instance,
            )
        )
        self._record(
            [_Outcome(str(r), str(t), instance, s, k, "failed", None, why) for r, t, s, k in rows]
        )

    def _note(self, instance: str, error: str) -> None:
        """Pending tasks of ``instance`` keep ``error`` as why they are still pending."""
        self.engine.execute(
            parse(
                "UPDATE erasure_tasks SET error = :e, updated_at = :now "
                "WHERE status = 'pending' AND instance = :i",
                e=error,
                now=utcnow(),
                i=instance,
            )
        )

    # -- removals ---------------------------------------------------------------------------

    async def _removals(self, instance: str, connector: Connector) -> None:
        rows = self.engine.dicts(
            parse(
                """SELECT request_id, sync, audience_id, audience_kind, audience_name,
                    member_key, person FROM erasure_tasks
                WHERE status = 'pending' AND task = 'remove' AND instance = :i
                ORDER BY sync, member_key, request_id""",
                i=instance,
            )
        )
        if not rows:
            return
        destination = connector.destination
        if destination is None:
            self._give_up(instance, f"{instance} is no longer a destination")
            return
        by_sync: dict[str, tuple[AudienceRef, dict[str, _Removal]]] = {}
        for row in rows:
            audience = AudienceRef(
                id=row["audience_id"], name=row["audience_name"], kind=row["audience_kind"]
            )
            _, members = by_sync.setdefault(row["sync"], (audience, {}))
            key = row["member_key"]
            known = members.get(key)
            if known is None:
                person = _json(row["person"])
                members[key] = _Removal(
                    (row["request_id"],),
                    Member(key=key, email=person.get("email"), phone=person.get("phone")),
                )
            else:
                members[key] = _Removal((*known.request_ids, row["request_id"]), known.member)
        for sync, (audience, members) in by_sync.items():
            size = max(1, destination.batch_limit(audience.kind))
            removals = list(members.values())
            batches = [removals[i : i + size] for i in range(0, len(removals), size)]
            in_flight = max(1, int(getattr(destination, "max_in_flight", 1) or 1))

            async def one(batch: list[_Removal], sync: str = sync,
                          audience: AudienceRef = audience) -> None:  # fmt: skip
                results = await apply_batch(
                    destination, audience, "remove", [r.member for r in batch]
                )
                self._removed(instance, sync, batch, results)

            await _bounded(batches, one, in_flight)

    def _removed(
        self, instance: str, sync: str, batch: list[_Removal], results: list[RecordResult]
    ) -> None:
        outcomes: list[_Outcome] = []
        logged: list[tuple[str, bool, bool, str | None]] = []
        for removal, result in zip(batch, results, strict=True):
            if result.ok:
                status, outcome, error = "done", "removed", None
            elif result.permanent:
                status, outcome, error = "failed", None, result.error
            else:
                status, outcome, error = "pending", None, result.error
            key = removal.member.key
            for request_id in removal.request_ids:
                outcomes.append(
                    _Outcome(request_id, "remove", instance, sync, key, status, outcome, error)
                )
            logged.append((removal.request_ids[0], result.ok, result.permanent, result.error))
        with self.engine.transaction():
            self._record(outcomes, transaction=False)
            self.ledger.log_erased(sync, logged, self.run_id)

    # -- record erasure ---------------------------------------------------------------------

    async def _erasures(self, instance: str, connector: Connector) -> None:
        rows = self.engine.rows(
            parse(
                """SELECT t.request_id, t.person FROM erasure_tasks t
                WHERE t.status = 'pending' AND t.task = 'erase' AND t.instance = :i
                  AND NOT EXISTS (SELECT 1 FROM erasure_tasks r
                      WHERE r.request_id = t.request_id AND r.instance = t.instance
                        AND r.task = 'remove' AND r.status = 'pending')
                ORDER BY t.request_id""",
                i=instance,
            )
        )
        if not rows:
            return
        eraser = connector.eraser
        if eraser is None:
            self._give_up(
                instance, f"erase_records is off at {instance} now: its records were not erased"
            )
            return
        people = [
            Person(
                key=str(request_id),
                record_ids=tuple(p.get("record_ids") or ()),
                emails=tuple(p.get("emails") or ()),
                phones=tuple(p.get("phones") or ()),
            )
            for request_id, raw in rows
            for p in (_json(raw),)
        ]
        size = max(1, int(eraser.erase_limit))
        batches = [people[i : i + size] for i in range(0, len(people), size)]
        answered: list[_Outcome] = []
        recorded = time.monotonic()

        def record() -> None:
            nonlocal recorded
            self._record(answered)
            answered.clear()
            recorded = time.monotonic()

        async def one(batch: list[Person]) -> None:
            results = await _erase(eraser, batch)
            answered.extend(_erased(instance, batch, results))
            if len(answered) >= RECORD_AT or time.monotonic() - recorded >= RECORD_EVERY:
                record()

        try:
            await _bounded(batches, one, max(1, int(eraser.max_in_flight)))
        finally:
            record()

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(self, outcomes: Sequence[_Outcome], *, transaction: bool = True) -> None:
        """Set the tasks' new state set-wise; a settled task's address is cleared."""
        if not outcomes:
            return
        engine = self.engine
        engine.create_empty("_task_outcomes", _OUTCOMES, temporary=True)
        engine.insert_rows(
            "_task_outcomes",
            tuple(_OUTCOMES),
            [(o.request_id, o.task, o.instance, o.sync, o.member_key, o.status, o.outcome,
              o.error) for o in outcomes],
        )  # fmt: skip
        update = parse(
            """UPDATE erasure_tasks SET status = o.status, outcome = o.outcome, error = o.error,
                attempts = erasure_tasks.attempts + 1, updated_at = :now,
                member_key = CASE WHEN o.status = 'pending' THEN erasure_tasks.member_key END,
                person = CASE WHEN o.status = 'pending' THEN erasure_tasks.person END
            FROM _task_outcomes AS o
            WHERE erasure_tasks.status = 'pending' AND erasure_tasks.request_id = o.request_id
              AND erasure_tasks.task = o.task AND erasure_tasks.instance = o.instance
              AND (o.sync IS NULL OR erasure_tasks.sync = o.sync)
              AND (o.member_key IS NULL OR erasure_tasks.member_key = o.member_key)""",
            now=utcnow(),
        )
        if transaction:
            with engine.transaction():
                engine.execute(update)
        else:
            engine.execute(update)
        engine.drop("_task_outcomes")


def finish_requests(engine: Engine) -> list[str]:
    """Mark ``pending`` requests with no pending task left ``complete`` (or ``failed`` when a
    task failed for good); their ids."""
    rows = engine.rows(
        parse(
            """SELECT e.request_id, count(*) FILTER (WHERE t.status = 'failed')
            FROM erasures e LEFT JOIN erasure_tasks t ON t.request_id = e.request_id
            WHERE e.status = 'pending'
            GROUP BY e.request_id
            HAVING count(*) FILTER (WHERE t.status = 'pending') = 0"""
        )
    )
    now = utcnow()
    with engine.transaction():
        for request_id, failed in rows:
            engine.execute(
                parse(
                    "UPDATE erasures SET status = :s, completed_at = :now WHERE request_id = :id",
                    s="failed" if failed else "complete",
                    now=now,
                    id=request_id,
                )
            )
    return [str(r[0]) for r in rows]


async def _bounded(items: Sequence[T], work: Callable[[T], Awaitable[None]], limit: int) -> None:
    """``work(item)`` for every item, at most ``limit`` at once. An AuthError or QuotaError
    stops new work (what is in flight finishes and is recorded) and is raised."""
    stop: BaseException | None = None
    running: set[asyncio.Task[None]] = set()

    async def guarded(item: T) -> None:
        nonlocal stop
        try:
            await work(item)
        except (AuthError, QuotaError) as exc:
            if stop is None:
                stop = exc

    for item in items:
        while len(running) >= limit:
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        if stop is not None:
            break
        running.add(asyncio.create_task(guarded(item)))
    if running:
        await asyncio.wait(running)
    if stop is not None:
        raise stop


async def _erase(eraser: Eraser, people: list[Person]) -> dict[str, ErasureResult]:
    """One eraser call, with the contract's rules: a transient failure leaves everyone
    pending; a call rejected as a whole is tried one person at a time, and a single person
    rejected fails for good. Results by person key (a missing one fails, to be retried)."""
    try:
        results = await eraser.erase(people)
    except (AuthError, QuotaError):
        raise
    except RetryableError as exc:
        return {p.key: ErasureResult(p.key, "failed", f"transient: {exc}") for p in people}
    except FatalError as exc:
        if len(people) == 1:
            return {people[0].key: ErasureResult(people[0].key, "failed", str(exc), True)}
        out: dict[str, ErasureResult] = {}
        for person in people:
            out.update(await _erase(eraser, [person]))
        return out
    except Exception as exc:  # a connector bug: fail the call, try again later
        log.exception("eraser raised unexpectedly")
        return {
            p.key: ErasureResult(p.key, "failed", f"connector error: {type(exc).__name__}")
            for p in people
        }
    by_key = {r.key: r for r in results if isinstance(r, ErasureResult)}
    return {
        p.key: by_key.get(p.key)
        or ErasureResult(p.key, "failed", "the connector returned no result for this person")
        for p in people
    }


def _erased(
    instance: str, batch: list[Person], results: Mapping[str, ErasureResult]
) -> list[_Outcome]:
    """The erase tasks' new states from one eraser call's results."""
    outcomes = []
    for person in batch:
        result = results[person.key]
        if result.done:
            status, outcome, error = "done", result.outcome, None
        else:
            status = "failed" if result.permanent else "pending"
            outcome, error = None, result.error or "failed"
        outcomes.append(_Outcome(person.key, "erase", instance, None, None, status, outcome, error))
    return outcomes


def _json(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    value = json.loads(str(raw))
    return value if isinstance(value, dict) else {}
