"""``segsync forget``: a right-to-erasure request, end to end — and its resumption by later
``forget`` and ``run`` invocations.

Under the store's lock (as ``forget``, a writing command):

1. the identifiers are parsed first (a malformed one: exit 2, nothing done);
2. one request per identifier is **registered** and committed (:meth:`.erasure.Erasures.register`);
3. every ``started`` request — these, and any a killed process left — is **erased** from the
   store in one transaction (:mod:`.erasure`), and the store is compacted so no deleted byte
   remains in the file;
4. what destinations still owe is done (:mod:`.tasks`): removals, then record erasure where an
   instance's ``erase_records`` is on; requests with nothing left become ``complete``; the
   store is compacted again (the addresses the tasks held are gone);
5. the receipt is built from the erasure record (:mod:`.receipt`).

``segsync run`` does 3 and 4 before pulling (:func:`complete_erasures`), so a destination that
failed transiently is completed by the next scheduled run.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from segsync.config import Config
from segsync.connector import Connector
from segsync.engine import Engine, parse
from segsync.errors import ConfigError
from segsync.state.lock import run_lock
from segsync.state.store import Store
from segsync.state.workspace import StorePaths

from .erasure import Erasures, Request, Resolution
from .identifiers import Identifier, parse_identifiers, store_salt
from .receipt import DestinationLine, ForgetReceipt, RequestReceipt, destination_lines
from .tasks import TaskRunner, finish_requests

__all__ = [
    "ErasureProgress",
    "complete_erasures",
    "erasure_receipts",
    "erasures_owed",
    "forget",
]

log = logging.getLogger("segsync.privacy.forget")


@dataclass
class ErasureProgress:
    """What one pass over the pending erasures did."""

    erased: list[str] = field(default_factory=list)
    """Requests erased from the store in this pass."""
    finished: list[str] = field(default_factory=list)
    """Requests that became complete (or failed for good) in this pass."""
    pending: list[str] = field(default_factory=list)
    """Requests still waiting for a destination."""
    failed: list[str] = field(default_factory=list)
    store: dict[str, int] = field(default_factory=dict)


def _new_ids(count: int, now: dt.datetime) -> list[str]:
    return [f"E{now:%Y%m%d}-{secrets.token_hex(5)}" for _ in range(count)]


def destination_types(config: Config) -> dict[str, str]:
    """Every configured destination instance → its connector type."""
    return {
        name: c.type_name
        for name, c in config.connectors.items()
        if c.cls.capabilities.is_destination
    }


def _privacy_instances(config: Config) -> list[str]:
    """Instances a pass may need: destinations and connectors that can erase records."""
    return sorted(
        name
        for name, c in config.connectors.items()
        if c.cls.capabilities.is_destination or c.cls.capabilities.erases
    )


def _erasers(connectors: Mapping[str, Connector]) -> dict[str, str]:
    """Instances whose eraser is on → how their destination addresses people."""
    return {
        name: type(c).capabilities.identifier
        for name, c in connectors.items()
        if c.eraser is not None
    }


def _eraser_types(connectors: Mapping[str, Connector]) -> dict[str, str]:
    return {name: type(c).name for name, c in connectors.items() if c.eraser is not None}


async def _pass(
    store: Store,
    connectors: Mapping[str, Connector],
    run_id: str,
    known: Mapping[str, str] | None = None,
) -> ErasureProgress:
    """Erase every ``started`` request from the store, then do what destinations owe."""
    engine = store.engine
    erasures = Erasures(engine)
    progress = ErasureProgress()
    started = erasures.started(known)
    if started:
        salt = store_salt(engine)
        assert salt is not None
        resolution = erasures.resolve(started, salt)
        try:
            progress.store = erasures.erase(
                resolution, salt, _erasers(connectors), work_dir=StorePaths(store.path).work
            )
        finally:
            erasures.close()
        progress.erased = [r.request_id for r in started]
        store.compact()
    runner = TaskRunner(engine, connectors, run_id)
    settled = bool(runner.instances())
    if settled:
        await runner.run()
    finished = finish_requests(engine)
    if settled:
        store.compact()  # the addresses settled tasks held leave the file too
    statuses = dict(
        engine.rows(parse("SELECT request_id, status FROM erasures WHERE status <> 'complete'"))
    )
    progress.finished = [r for r in finished if statuses.get(r) != "failed"]
    progress.failed = [r for r in finished if statuses.get(r) == "failed"]
    progress.pending = sorted(r for r, s in statuses.items() if s in ("pending", "started"))
    return progress


def erasures_owed(engine: Engine) -> int:
    """How many erasure requests are not finished: ``started`` (a killed ``forget`` left them
    before erasing the store) or ``pending`` (a destination still owes its part)."""
    return int(
        engine.scalar(parse("SELECT count(*) FROM erasures WHERE status IN ('started', 'pending')"))
    )


async def complete_erasures(
    store: Store, config: Config, connectors: Mapping[str, Connector], run_id: str
) -> ErasureProgress | None:
    """What ``segsync run`` does first: resume erasures a killed ``forget`` left, and retry
    what destinations still owe. ``connectors`` are the run's; others a pending task needs
    are opened here (and closed). None when there was nothing to do."""
    if not erasures_owed(store.engine):
        return None
    from segsync.pipeline import open_connectors

    extra = [n for n in _privacy_instances(config) if n not in connectors]
    opened = open_connectors(config, extra)
    try:
        progress = await _pass(store, {**connectors, **opened}, run_id)
    finally:
        for connector in opened.values():
            await connector.aclose()
    if progress.erased or progress.finished:
        log.info(
            "erasures: %d erased from the store, %d completed, %d still pending",
            len(progress.erased),
            len(progress.finished),
            len(progress.pending),
        )
    return progress


async def forget(config: Config, texts: Sequence[str], *, dry_run: bool = False) -> ForgetReceipt:
    """Forget the people ``texts`` name (emails, phones, ``INSTANCE:ID``); with no
    identifiers, resume the pending erasures. Raises :class:`segsync.errors.InputError` for a
    malformed identifier (before anything is done), :class:`ConfigError` when there is no
    store, :class:`segsync.errors.LockHeldError` when another process holds it."""
    from segsync.pipeline import new_run_id, open_connectors

    region = config.settings.resolve.default_region
    identifiers = parse_identifiers(texts, instances=list(config.connectors), region=region)
    path = config.store_path
    if config.no_store_yet:
        raise ConfigError(
            f"{path}: no store yet, so segsync holds nothing about anyone (the store path is "
            "[store] path in the config)"
        )
    batch_id = new_run_id()
    receipt = ForgetReceipt(batch_id=batch_id, dry_run=dry_run)
    wait = config.settings.store.lock_wait_seconds
    with (
        run_lock(
            path, command="forget-dry-run" if dry_run else "forget", run_id=batch_id, wait=wait
        ),  # fmt: skip
        Store.of(config) as store,
    ):
        engine = store.engine
        erasures = Erasures(engine)
        connectors = open_connectors(config, _privacy_instances(config))
        try:
            destinations = destination_types(config)
            if dry_run:
                return _dry_run(engine, identifiers, connectors, destinations, receipt)
            earlier = erasures.unfinished()
            with engine.transaction():
                salt = store_salt(engine)
                assert salt is not None
                ids = _new_ids(len(identifiers), dt.datetime.now(dt.UTC))
                requests = erasures.register(batch_id, identifiers, salt, ids)
            known = {r.request_id: r.value for r in requests if r.value is not None}
            progress = await _pass(store, connectors, batch_id, known)
            receipt.store = progress.store
            masked = {r.request_id: i for r, i in zip(requests, identifiers, strict=True)}
            eraser_types = _eraser_types(connectors)
            receipt.requests = erasure_receipts(
                engine, [r.request_id for r in requests], destinations, eraser_types, masked
            )
            receipt.resumed = erasure_receipts(engine, earlier, destinations, eraser_types, {})
        finally:
            for connector in connectors.values():
                await connector.aclose()
    receipt.finish()
    return receipt


def _dry_run(
    engine: Engine,
    identifiers: list[Identifier],
    connectors: Mapping[str, Connector],
    destinations: Mapping[str, str],
    receipt: ForgetReceipt,
) -> ForgetReceipt:
    """What a forget of ``identifiers`` would erase where; writes nothing (a store without a
    salt yet is matched with a throwaway one)."""
    stored = store_salt(engine, create=False)
    salt = stored or secrets.token_hex(32)
    requests = [
        Request(f"dry-run-{n}", i.kind, i.digest(salt), i.value)
        for n, i in enumerate(identifiers, start=1)
    ]
    erasures = Erasures(engine)
    resolution = erasures.resolve(requests, salt)
    try:
        receipt.requests = _would(
            resolution, identifiers, connectors, destinations, hashed=stored is not None
        )
    finally:
        erasures.close()
    receipt.finish()
    return receipt


def _would(
    resolution: Resolution,
    identifiers: list[Identifier],
    connectors: Mapping[str, Connector],
    destinations: Mapping[str, str],
    *,
    hashed: bool,
) -> list[RequestReceipt]:
    """The dry run's receipts; ``hashed``: the store has its salt (else the hashes the dry
    run matched with are throwaway ones, not shown: the real erasure's would differ)."""
    erasers = _eraser_types(connectors)
    out = []
    for request, identifier in zip(resolution.requests, identifiers, strict=True):
        found = resolution.found[request.request_id]
        tasks: list[dict[str, Any]] = [
            {"instance": d["destination"], "task": "remove", "sync": d["sync"],
             "audience_name": d["audience"], "audience_kind": d["kind"], "status": "would_do"}
            for d in found.deliveries
        ]  # fmt: skip
        delivered = {d["destination"] for d in found.deliveries}
        tasks += [
            {"instance": name, "task": "erase", "status": "would_do"}
            for name in sorted(erasers)
            if name in found.known_at or name in delivered
        ]
        out.append(
            RequestReceipt(
                request_id=request.request_id,
                identifier=identifier.masked(),
                kind=identifier.kind,
                hash_prefix=request.hash[:12] if hashed else None,
                status="dry_run" if found.anything else "not_found",
                found={
                    "records": found.records,
                    "events": found.events,
                    "profiles": found.profiles,
                    "deliveries": len(found.deliveries),
                },
                destinations=destination_lines(tasks, destinations, erasers),
            )
        )
    return out


def erasure_receipts(
    engine: Engine,
    ids: Sequence[str] | None,
    destinations: Mapping[str, str],
    erasers: Mapping[str, str],
    identifiers: Mapping[str, Identifier],
) -> list[RequestReceipt]:
    """The receipts of these requests (every request when ``ids`` is None), from the erasure
    record; ``identifiers`` (request id → identifier) shows those this process was given,
    masked."""
    if ids is not None and not ids:
        return []
    rows = Erasures(engine).requests(ids)
    if ids is not None:  # in the order asked (the order the identifiers were given)
        position = {request_id: n for n, request_id in enumerate(ids)}
        rows.sort(key=lambda r: position.get(str(r["request_id"]), len(position)))
    wanted = [r["request_id"] for r in rows]
    tasks: dict[str, list[dict[str, Any]]] = {}
    suppressed: set[str] = set()
    if wanted:
        listed = exp.column("request_id").isin(*(exp.Literal.string(i) for i in wanted))
        columns = ("request_id", "task", "instance", "sync", "audience_name", "audience_kind",
                   "status", "outcome", "error", "attempts")  # fmt: skip
        query = (
            exp.select(*columns)
            .from_("erasure_tasks")
            .where(listed)
            .order_by("request_id", "task", "instance", "sync")
        )
        for row in engine.dicts(query):
            tasks.setdefault(str(row["request_id"]), []).append(row)
        suppressed = {
            str(r[0])
            for r in engine.rows(
                parse(
                    "SELECT e.request_id FROM erasures e WHERE e.identifier_hash IN "
                    "(SELECT hash FROM suppressions)"
                )
            )
        }
    out = []
    for row in rows:
        request_id = str(row["request_id"])
        identifier = identifiers.get(request_id)
        found = {k: int(v) for k, v in (row["erased"] or {}).items()}
        out.append(
            RequestReceipt(
                request_id=request_id,
                identifier=identifier.masked() if identifier else "(given earlier)",
                kind=str(row["kind"]),
                hash_prefix=str(row["identifier_hash"])[:12],
                status=row["status"],
                requested_at=_utc(row["requested_at"]),
                completed_at=_utc(row["completed_at"]),
                found=found,
                suppressed=request_id in suppressed,
                destinations=_lines(tasks.get(request_id, []), destinations, erasers),
            )
        )
    return out


def _lines(
    tasks: list[dict[str, Any]], destinations: Mapping[str, str], erasers: Mapping[str, str]
) -> list[DestinationLine]:
    # an instance turned off or removed since still shows the tasks it had
    known = dict(destinations)
    for t in tasks:
        if t["task"] == "remove":
            known.setdefault(str(t["instance"]), "?")
    return destination_lines(tasks, known, erasers)


def _utc(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return None
