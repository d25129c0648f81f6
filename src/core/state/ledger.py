"""The delivery ledger: the one owner of what each destination confirmed, what failed, and
where.

``audiences``   the destination audience each sync pushes to, and how many members it was
                meant to hold when a push last completed (the add guard's baseline)
``sync_state``  members each destination *confirmed* — nothing else
``failures``    changes that failed, with the reason; retried by later runs unless permanent
``change_log``  every change each batch applied or failed, with why (who was added, who
                removed, who failed): written in the batch's own transaction, kept
                ``[privacy] retention_days`` (:meth:`Ledger.purge_changes`)

Plan reads it (:meth:`Ledger.confirmed`, :meth:`Ledger.failed`, :meth:`Ledger.pending`,
:meth:`Ledger.delivered_before` for refreshes); push
writes it one batch at a time (:meth:`Ledger.record_batch`, in one transaction each, so a crash
between a batch and its record only means the batch is sent again); status, history, reports
and erasure query it (:meth:`Ledger.summary`, :meth:`Ledger.deliveries`, :meth:`Ledger.changes`);
an erasure's removals are logged by :meth:`Ledger.log_erased`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.values import utcnow

__all__ = ["AudienceRecord", "Change", "Delivery", "Ledger", "Outcome"]

Op = Literal["add", "remove"]


@dataclass(frozen=True)
class AudienceRecord:
    """The audience a sync last pushed to."""

    sync: str
    destination: str
    kind: str
    name: str
    audience_id: str
    settled_size: int | None = None

    @property
    def target(self) -> tuple[str, str, str]:
        return self.destination, self.kind, self.name


class Outcome(NamedTuple):
    """One change's result as the ledger records it: ``key`` as sent; ``delivered_key`` the
    key it is known by at the destination from now on (a created member's new id). A named
    tuple: a push hands the ledger tens of thousands a batch, and a frozen dataclass each cost
    several microseconds."""

    key: str
    profile_key: str | None
    ok: bool
    error: str | None = None
    permanent: bool = False
    delivered_key: str | None = None
    reason: str | None = None
    """Why the change was made (``entered segment 'vip'``, ``consent withdrawn``), for the
    change log; a failure's reason is its ``error``."""


@dataclass(frozen=True)
class Change:
    """One line of the change log: a change a batch applied (``ok``) or failed, and why.
    ``who`` is the profile's email (else phone, else the member key) as stored, unmasked."""

    run_id: str
    sync: str
    op: str
    who: str
    member_key: str
    profile_key: str | None
    ok: bool
    permanent: bool
    reason: str | None
    logged_at: datetime


@dataclass(frozen=True)
class Delivery:
    """Where a profile was delivered: a sync's audience at a destination, and as what."""

    profile_key: str
    sync: str
    destination: str
    kind: str
    audience: str
    audience_id: str
    member_key: str


def _sync(name: str) -> exp.Expr:
    return exp.column("sync").eq(exp.Literal.string(name))


_BATCH = "_ledger_batch"
_BATCH_COLUMNS = {
    "seq": "INTEGER", "member_key": "VARCHAR", "delivered_key": "VARCHAR",
    "profile_key": "VARCHAR", "ok": "BOOLEAN", "error": "VARCHAR", "permanent": "BOOLEAN",
    "reason": "VARCHAR",
}  # fmt: skip
# one line per outcome: the key a confirmed change is known by from now on, and why
_LOG = f"""SELECT (:run), (:sync), (:op),
        CASE WHEN b.ok THEN coalesce(b.delivered_key, b.member_key) ELSE b.member_key END,
        b.profile_key, b.ok, b.permanent,
        CASE WHEN NOT b.ok THEN b.error
             WHEN f.error IS NULL THEN b.reason
             WHEN b.reason IS NULL THEN 'retried after failing with: ' || f.error
             ELSE b.reason || '; retried after failing with: ' || f.error END,
        (:now)
    FROM {_BATCH} AS b LEFT JOIN failures AS f
        ON f.sync = :sync AND f.op = :op AND f.member_key = b.member_key
    ORDER BY b.seq"""
# confirmed changes: the key sent and the key delivered leave sync_state and failures
_FORGET = f"""DELETE FROM {{table}} WHERE sync = :sync AND member_key IN (
        SELECT member_key FROM {_BATCH} WHERE ok
        UNION ALL SELECT delivered_key FROM {_BATCH} WHERE ok AND delivered_key IS NOT NULL)"""
_CONFIRM = f"""SELECT (:sync), coalesce(delivered_key, member_key), profile_key, (:now), (:run)
    FROM {_BATCH} WHERE ok"""
_FAILED_AGAIN = f"""UPDATE failures SET attempts = failures.attempts + 1, error = b.error,
        permanent = b.permanent, last_failed_at = :now, run_id = :run
    FROM {_BATCH} AS b
    WHERE NOT b.ok AND failures.sync = :sync AND failures.op = :op
      AND failures.member_key = b.member_key"""
_FAILED_FIRST = f"""SELECT (:sync), b.member_key, (:op), b.profile_key, b.error, b.permanent, 1,
        (:now), (:now), (:run)
    FROM {_BATCH} AS b
    WHERE NOT b.ok AND b.member_key NOT IN
        (SELECT member_key FROM failures WHERE sync = :sync AND op = :op)"""


class Ledger:
    """Audiences, confirmed membership and failures, in the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- audiences ----------------------------------------------------------------------------

    def audience(self, sync: str) -> AudienceRecord | None:
        rows = self.engine.dicts(
            exp.select("sync", "destination", "kind", "name", "audience_id", "settled_size")
            .from_("audiences")
            .where(_sync(sync))
        )
        return AudienceRecord(**rows[0]) if rows else None

    def target_changed(self, sync: str, target: tuple[str, str, str]) -> str | None:
        """Describe the audience ``sync`` pushed to before, when ``target`` (destination,
        kind, audience name) is another one; None when it is the same or there was none."""
        record = self.audience(sync)
        if record is None or record.target == target:
            return None
        return f"{record.destination} {record.kind} {record.name!r}"

    def remember_audience(
        self, sync: str, destination: str, kind: str, name: str, audience_id: str
    ) -> None:
        """Record the audience ``sync`` pushes to (keeping its settled size)."""
        previous = self.audience(sync)
        settled = previous.settled_size if previous else None
        with self.engine.transaction():
            self.engine.execute(exp.delete("audiences").where(_sync(sync)))
            self.engine.insert_rows(
                "audiences",
                ("sync", "destination", "kind", "name", "audience_id", "updated_at",
                 "settled_size"),
                [(sync, destination, kind, name, audience_id, utcnow(), settled)],
            )  # fmt: skip

    def settle(self, sync: str, desired: int) -> None:
        """A push of ``sync`` went to its end meaning the audience to hold ``desired``."""
        self.engine.execute(
            parse("UPDATE audiences SET settled_size = :n WHERE sync = :s", n=desired, s=sync)
        )

    def start_afresh(self, sync: str) -> None:
        """Forget what ``sync`` delivered: its audience changed or was deleted at the
        destination, so it starts empty."""
        with self.engine.transaction():
            for table in ("sync_state", "failures", "audiences"):
                self.engine.execute(exp.delete(table).where(_sync(sync)))

    # -- membership ---------------------------------------------------------------------------

    def confirmed(self, sync: str) -> exp.Select:
        """``SELECT member_key, profile_key`` of what the destination confirmed for ``sync``."""
        return exp.select("member_key", "profile_key").from_("sync_state").where(_sync(sync))

    def delivered_before(self, sync: str, moment: datetime) -> exp.Select:
        """``SELECT member_key, profile_key`` of the confirmed members of ``sync`` last
        delivered before ``moment`` (naive UTC): those due for a refresh where memberships
        expire. Delivering a member again (a normal add, :meth:`record_batch`) moves its
        time on."""
        return self.confirmed(sync).where(parse("delivered_at < :moment", moment=moment))

    def confirmed_count(self, sync: str) -> int:
        return int(
            self.engine.scalar(exp.select("count(*)").from_("sync_state").where(_sync(sync)))
        )

    def failed(
        self, sync: str, *, op: Op | None = None, permanent: bool | None = None
    ) -> exp.Select:
        """``SELECT member_key, op`` of the changes of ``sync`` that failed."""
        query = exp.select("member_key", "op").from_("failures").where(_sync(sync))
        if op is not None:
            query = query.where(exp.column("op").eq(exp.Literal.string(op)))
        if permanent is not None:
            query = query.where(exp.column("permanent").eq(exp.Boolean(this=permanent)))
        return query

    def pending(self, sync: str, op: Op) -> exp.Select:
        """``SELECT member_key, op`` of the ``op`` changes of ``sync`` that failed and will be
        tried again (not permanently)."""
        return self.failed(sync, op=op, permanent=False)

    def record_batch(self, sync: str, op: Op, outcomes: Sequence[Outcome], run_id: str) -> None:
        """Record one batch's outcomes in one transaction: confirmed changes enter (or, for
        removes, leave) ``sync_state`` and clear their failures; failed ones are added to
        ``failures`` or have their attempt counted; every outcome gets a change-log line.

        The batch is staged once and then handled set-wise, a fixed handful of statements
        whatever its size (a push records thousands of batches)."""
        if not outcomes:
            return
        engine = self.engine
        engine.create_empty(_BATCH, _BATCH_COLUMNS, temporary=True)
        keys, profiles, oks, errors, permanents, delivered, reasons = zip(*outcomes, strict=True)
        any_ok = any(oks)
        any_bad = not all(oks)
        engine.insert_columns(
            _BATCH,
            {
                "seq": range(len(keys)),
                "member_key": keys,
                "delivered_key": delivered,
                "profile_key": profiles,
                "ok": oks,
                "error": [e or "failed" for e in errors] if any_bad else errors,
                "permanent": permanents,
                "reason": reasons,
            },
        )
        values = {"sync": sync, "op": op, "now": utcnow(), "run": run_id}
        with engine.transaction():
            # the log first: a change retried after a failure says what the failure was
            engine.insert("change_log", parse(_LOG, **values))
            if any_ok:
                for table in ("sync_state", "failures"):
                    engine.execute(parse(_FORGET.format(table=table), **values))
                if op == "add":
                    engine.insert("sync_state", parse(_CONFIRM, **values))
            if any_bad:
                engine.execute(parse(_FAILED_AGAIN, **values))
                engine.insert("failures", parse(_FAILED_FIRST, **values))
        engine.drop(_BATCH)

    # -- questions ----------------------------------------------------------------------------

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per sync the ledger knows: its audience, how many members the destination
        confirmed, and how many changes failed (will be retried / permanently)."""
        out: dict[str, dict[str, Any]] = {}
        for sync, name, audience_id in self.engine.rows(
            exp.select("sync", "name", "audience_id").from_("audiences")
        ):
            out.setdefault(sync, {}).update(audience=name, audience_id=audience_id)
        for sync, members in self.engine.rows(
            parse("SELECT sync, count(*) FROM sync_state GROUP BY sync")
        ):
            out.setdefault(sync, {})["members"] = int(members)
        for sync, permanent, count in self.engine.rows(
            parse("SELECT sync, permanent, count(*) FROM failures GROUP BY sync, permanent")
        ):
            key = "failed_permanently" if permanent else "failed_will_retry"
            out.setdefault(sync, {})[key] = int(count)
        return out

    def changes(
        self, sync: str, *, run_id: str | None = None, limit: int | None = None
    ) -> list[Change]:
        """The change log of ``sync`` in one run (default: the latest run that changed it),
        in the order the changes were recorded: adds, then removes, then by key."""
        if run_id is None:
            run_id = self.last_changed(sync)
            if run_id is None:
                return []
        known = set(self.engine.columns("profiles"))  # email/phone once profiles resolved
        who = [f"p.{c}" for c in ("email", "phone") if c in known]
        query = parse(
            f"""SELECT c.run_id, c.sync, c.op, coalesce({", ".join([*who, "c.member_key"])})
                    AS who, c.member_key, c.profile_key, c.ok, c.permanent, c.reason, c.logged_at
            FROM change_log AS c LEFT JOIN profiles AS p ON p.profile_key = c.profile_key
            WHERE c.sync = :sync AND c.run_id = :run
            ORDER BY c.logged_at, c.op, c.member_key""",
            sync=sync,
            run=run_id,
        )
        if limit is not None:
            assert isinstance(query, exp.Select)
            query = query.limit(limit)
        return [Change(**row) for row in self.engine.dicts(query)]

    def last_changed(self, sync: str) -> str | None:
        """The latest run whose change log has lines for ``sync``, if any."""
        value = self.engine.scalar(
            parse(
                "SELECT run_id FROM change_log WHERE sync = :sync "
                "ORDER BY logged_at DESC, run_id DESC LIMIT 1",
                sync=sync,
            )
        )
        return None if value is None else str(value)

    def change_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """Per sync, what ``run_id`` logged: ``added``, ``removed``, ``failed``."""
        out: dict[str, dict[str, int]] = {}
        for sync, op, ok, count in self.engine.rows(
            parse(
                "SELECT sync, op, ok, count(*) FROM change_log WHERE run_id = :run "
                "GROUP BY sync, op, ok",
                run=run_id,
            )
        ):
            key = "failed" if not ok else "added" if op == "add" else "removed"
            counts = out.setdefault(str(sync), {"added": 0, "removed": 0, "failed": 0})
            counts[key] += int(count)
        return out

    def log_erased(
        self, sync: str, outcomes: Sequence[tuple[str, bool, bool, str | None]], run_id: str
    ) -> None:
        """Change-log lines for the removals an erasure made (``segsync forget``): one per
        ``(request_id, ok, permanent, error)``, the member named ``erased:<request id>`` —
        never by the address it had, which the erasure has already deleted everywhere else."""
        now = utcnow()
        self.engine.insert_rows(
            "change_log",
            ("run_id", "sync", "op", "member_key", "profile_key", "ok", "permanent", "reason",
             "logged_at"),
            [
                (run_id, sync, "remove", f"erased:{request_id}", None, ok, permanent,
                 f"erased (segsync forget, request {request_id})" if ok else error or "failed",
                 now)
                for request_id, ok, permanent, error in outcomes
            ],
        )  # fmt: skip

    def purge_changes(self, before: datetime) -> int:
        """Delete change-log lines logged before ``before`` (``[privacy] retention_days``);
        how many."""
        condition = parse("logged_at < :before", before=before)
        count = int(self.engine.scalar(exp.select("count(*)").from_("change_log").where(condition)))
        if count:
            self.engine.execute(exp.delete("change_log").where(condition))
        return count

    def deliveries(self, profile_keys: Iterable[str]) -> list[Delivery]:
        """Where each of these profiles was delivered (confirmed), sync by sync."""
        keys = sorted(set(profile_keys))
        if not keys:
            return []
        self.engine.create_empty("_ledger_people", {"profile_key": "VARCHAR"}, temporary=True)
        self.engine.insert_rows("_ledger_people", ("profile_key",), [(k,) for k in keys])
        try:
            rows = self.engine.dicts(
                parse(
                    """SELECT s.profile_key, s.sync, a.destination, a.kind,
                        a.name AS audience, a.audience_id, s.member_key
                    FROM sync_state AS s JOIN audiences AS a ON a.sync = s.sync
                    WHERE s.profile_key IN (SELECT profile_key FROM _ledger_people)
                    ORDER BY s.profile_key, s.sync"""
                )
            )
        finally:
            self.engine.drop("_ledger_people")
        return [Delivery(**row) for row in rows]
