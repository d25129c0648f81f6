"""The delivery ledger: the one owner of what each destination confirmed, what failed, and
where.

``audiences``   the destination audience each sync pushes to, and how many members it was
                meant to hold when a push last completed (the add guard's baseline)
``sync_state``  members each destination *confirmed* — nothing else
``failures``    changes that failed, with the reason; retried by later runs unless permanent

Plan reads it (:meth:`Ledger.confirmed`, :meth:`Ledger.failed`); push writes it one batch at a
time (:meth:`Ledger.record_batch`, in one transaction each, so a crash between a batch and its
record only means the batch is sent again); status, history, reports and erasure query it
(:meth:`Ledger.summary`, :meth:`Ledger.deliveries`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.values import utcnow

__all__ = ["AudienceRecord", "Delivery", "Ledger", "Outcome"]

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


@dataclass(frozen=True)
class Outcome:
    """One change's result as the ledger records it: ``key`` as sent; ``delivered_key`` the
    key it is known by at the destination from now on (a created member's new id)."""

    key: str
    profile_key: str | None
    ok: bool
    error: str | None = None
    permanent: bool = False
    delivered_key: str | None = None


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

    def record_batch(self, sync: str, op: Op, outcomes: Sequence[Outcome], run_id: str) -> None:
        """Record one batch's outcomes in one transaction: confirmed changes enter (or, for
        removes, leave) ``sync_state`` and clear their failures; failed ones are added to
        ``failures`` or have their attempt counted."""
        ok = [o for o in outcomes if o.ok]
        bad = [o for o in outcomes if not o.ok]
        now = utcnow()
        with self.engine.transaction():
            if ok:
                delivered = [(o.delivered_key or o.key, o.profile_key) for o in ok]
                keys = [d[0] for d in delivered] + [o.key for o in ok if o.delivered_key]
                self._delete_keys("sync_state", sync, keys)
                self._delete_keys("failures", sync, keys)
                if op == "add":
                    self.engine.insert_rows(
                        "sync_state",
                        ("sync", "member_key", "profile_key", "delivered_at", "run_id"),
                        [(sync, key, profile, now, run_id) for key, profile in delivered],
                    )
            if bad:
                self._record_failures(sync, op, bad, now, run_id)

    def _delete_keys(self, table: str, sync: str, keys: Iterable[str]) -> None:
        self.engine.create_empty("_ledger_keys", {"member_key": "VARCHAR"}, temporary=True)
        self.engine.insert_rows("_ledger_keys", ("member_key",), [(k,) for k in keys])
        self.engine.execute(
            parse(
                f"DELETE FROM {table} WHERE sync = :sync "
                "AND member_key IN (SELECT member_key FROM _ledger_keys)",
                sync=sync,
            )
        )
        self.engine.drop("_ledger_keys")

    def _record_failures(
        self, sync: str, op: Op, bad: Sequence[Outcome], now: Any, run_id: str
    ) -> None:
        self.engine.create_empty(
            "_ledger_failed",
            {"member_key": "VARCHAR", "profile_key": "VARCHAR", "error": "VARCHAR",
             "permanent": "BOOLEAN"},
            temporary=True,
        )  # fmt: skip
        self.engine.insert_rows(
            "_ledger_failed",
            ("member_key", "profile_key", "error", "permanent"),
            [(o.key, o.profile_key, o.error or "failed", o.permanent) for o in bad],
        )
        values = {"sync": sync, "op": op, "now": now, "run": run_id}
        self.engine.execute(
            parse(
                """UPDATE failures SET attempts = failures.attempts + 1, error = f.error,
                    permanent = f.permanent, last_failed_at = :now, run_id = :run
                FROM _ledger_failed AS f
                WHERE failures.sync = :sync AND failures.op = :op
                  AND failures.member_key = f.member_key""",
                **values,
            )
        )
        self.engine.insert(
            "failures",
            parse(
                """SELECT (:sync), f.member_key, :op, f.profile_key, f.error, f.permanent, 1,
                    :now, :now, :run FROM _ledger_failed AS f
                WHERE f.member_key NOT IN
                    (SELECT member_key FROM failures WHERE sync = :sync AND op = :op)""",
                **values,
            ),
        )
        self.engine.drop("_ledger_failed")

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
