"""Plan: for each sync, compare the desired members with what was confirmed delivered.

desired = members of the segment that have every consent purpose the destination needs, an
address the destination can use, and no permanent failure; adds = desired − confirmed;
removes = confirmed − desired. A profile that loses consent is therefore removed.

Where memberships expire at the destination (:meth:`segsync.connector.Connector.membership_days`),
confirmed members still desired whose last delivery is older than the sync's ``refresh_days``
are planned as **refreshes**: sent again as adds, counted apart, so the audience does not
shrink silently.

Guards run here and block a sync (they do not just warn): a segment below its ``min_size``
with ``min_size_action = "skip_syncs"``, removing more than ``max_remove_fraction`` of the
audience, adding more than ``max_add_fraction`` of it (a segment that suddenly doubles), or a
segment that computes empty while the audience is not. ``--force`` lifts them.
A sync of a split segment leaves out the split's holdout group.

The result is a :class:`SyncPlan`: the report skeleton (counts, guard verdict) and the changes,
which stay with the engine until push reads them in batches (:meth:`SyncPlan.members`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlglot import exp

from segsync.config.schema import SyncConfig
from segsync.connector import NEW_MEMBER_PREFIX, Identifier, Member, Purpose
from segsync.engine import Engine, parse
from segsync.model.profile import CONSENT_COLUMNS, GRANT_COLUMNS
from segsync.model.segments import SegmentBook
from segsync.pipeline.segments import Membership
from segsync.report import SkippedCounts, SyncPreview, SyncReport
from segsync.state.ledger import Ledger
from segsync.values import utcnow

__all__ = ["Destination", "Planner", "SyncPlan", "sources_feeding", "sources_loaded"]

Op = Literal["add", "refresh", "remove"]
"""A planned change: ``refresh`` is an add of a member already confirmed, sent again before
its membership expires at the destination."""
_CHANGES = "_plan_changes"
_QUEUE = "_push_queue"


@dataclass(frozen=True)
class Destination:
    """What planning needs to know of a sync's destination."""

    instance: str
    kind: str
    identifier: Identifier
    purposes: frozenset[Purpose]
    """Consent purposes a member must have granted (the kind's and the sync's)."""
    create_requires: frozenset[Purpose] = frozenset()
    """With ``on_missing = "create"``: what a profile must have granted to be created there."""
    refresh_days: int | None = None
    """Re-add confirmed members last delivered longer ago than this (None: never)."""


@dataclass
class SyncPlan:
    """One sync's planned changes and its report so far."""

    engine: Engine
    report: SyncReport
    fresh: bool = False
    """Planned as if nothing had been delivered (the audience is new or was recreated)."""

    @property
    def name(self) -> str:
        return self.report.name

    def batches(self, op: Op, size: int, *, chunk: int = 20_000) -> Generator[list[Member]]:
        """The planned changes of ``op`` in batches of ``size``, in key order, with the
        identifiers and consent of their profiles (refreshes are sent as adds).

        The changes are put in order once, then read ``chunk`` rows at a time (whole batches),
        so a push of millions of members costs one sort and a few hundred reads, not a query
        per batch."""
        engine = self.engine
        consent = ", ".join(f"p.{c}" for c in GRANT_COLUMNS.values())
        engine.create_table(
            _QUEUE,
            parse(
                f"""SELECT row_number() OVER (ORDER BY c.member_key) AS seq, c.member_key,
                    c.profile_key, p.email, p.phone, {consent}
                FROM {_CHANGES} c LEFT JOIN profiles p ON p.profile_key = c.profile_key
                WHERE c.sync = :sync AND c.op = :op
                ORDER BY seq""",
                sync=self.name,
                op=op,
            ),
            temporary=True,
        )
        purposes = list(GRANT_COLUMNS)
        consents: dict[tuple[bool | None, ...], dict[Purpose, bool | None]] = {}
        per_read = max(1, chunk // size) * size
        done = 0
        try:
            while True:
                rows = engine.rows(
                    parse(
                        f"""SELECT member_key, profile_key, email, phone,
                            {", ".join(GRANT_COLUMNS.values())}
                        FROM {_QUEUE} WHERE seq > :done AND seq <= :upto ORDER BY seq""",
                        done=done,
                        upto=done + per_read,
                    )
                )
                if not rows:
                    return
                done += len(rows)
                members = []
                for row in rows:
                    answers = row[4:]
                    granted = consents.get(answers)  # one mapping per combination, shared
                    if granted is None:
                        granted = consents[answers] = dict(zip(purposes, answers, strict=True))
                    members.append(Member(row[0], row[1], row[2], row[3], granted))
                for start in range(0, len(members), size):
                    yield members[start : start + size]
        finally:
            engine.drop(_QUEUE)


class Planner:
    """Plans the syncs of one run against one membership."""

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        membership: Membership,
        book: SegmentBook,
        *,
        now: datetime | None = None,
    ):
        self.engine = engine
        self.ledger = ledger
        self.membership = membership
        self.book = book
        self.now = now or utcnow()
        """What refreshes are measured from (naive UTC): the run's time."""
        engine.create_empty(
            _CHANGES,
            {"sync": "VARCHAR", "op": "VARCHAR", "member_key": "VARCHAR",
             "profile_key": "VARCHAR", "retry": "BOOLEAN"},
            temporary=True,
        )  # fmt: skip

    def plan(
        self,
        name: str,
        sync: SyncConfig,
        destination: Destination,
        *,
        force: bool,
        fresh: bool = False,
        preview: int = 0,
    ) -> SyncPlan:
        """Plan one sync. ``fresh`` plans as if nothing had been delivered yet (the sync's
        audience changed); ``preview`` lists up to that many of the adds and of the removes
        (emails where known)."""
        engine = self.engine
        purposes = sorted(destination.purposes)
        report = SyncReport(
            name=name,
            segment=sync.segment,
            destination=sync.destination,
            kind=destination.kind,
            audience=sync.audience or name,
            required_consent=[p.value for p in purposes],
        )
        plan = SyncPlan(engine=engine, report=report, fresh=fresh)
        if not sync.enabled:
            report.status = "disabled"
            return plan
        engine.execute(exp.delete(_CHANGES).where(exp.column("sync").eq(exp.Literal.string(name))))
        consent_ok = exp.and_(
            *(exp.column(CONSENT_COLUMNS[p], table="p").is_(exp.true()) for p in purposes)
        ) if purposes else exp.true()  # fmt: skip
        members = self.membership.of(sync.segment)
        holdout = self.book.holdout_of(sync.segment)
        if holdout is not None:
            members = members.where(
                exp.not_(exp.column("profile_key").isin(query=self.membership.of(holdout)))
            )
        engine.create_table(
            "_candidates",
            exp.select(
                exp.column("profile_key", table="p"),
                exp.alias_(_address(sync, destination), "member_key"),
                exp.alias_(consent_ok, "consent_ok"),
            )
            .from_(exp.alias_(exp.to_table("profiles"), "p", table=True))
            .where(exp.column("profile_key", table="p").isin(query=members)),
            temporary=True,
        )
        confirmed = self._valid(self.ledger.confirmed(name), fresh)
        permanent_adds = self._valid(self.ledger.failed(name, op="add", permanent=True), fresh)
        permanent_removes = self._valid(
            self.ledger.failed(name, op="remove", permanent=True), fresh
        )
        engine.create_table(
            "_desired",
            parse(
                """SELECT member_key, min(profile_key) AS profile_key FROM _candidates
                WHERE consent_ok AND member_key IS NOT NULL
                  AND member_key NOT IN (SELECT member_key FROM :permanent AS f)
                GROUP BY member_key""",
                permanent=permanent_adds.subquery(),
            ),
            temporary=True,
        )
        counts = engine.dicts(
            parse(
                """SELECT
                    (SELECT count(*) FROM _candidates) AS segment_size,
                    (SELECT count(*) FROM _candidates WHERE NOT consent_ok) AS no_consent,
                    (SELECT count(*) FROM _candidates WHERE consent_ok AND member_key IS NULL)
                        AS unmatched,
                    (SELECT count(*) FROM _candidates WHERE consent_ok AND member_key IN
                        (SELECT member_key FROM :permanent AS f)) AS failed_permanently,
                    (SELECT count(*) FROM _desired) AS desired,
                    (SELECT count(*) FROM :confirmed AS s) AS in_audience""",
                permanent=permanent_adds.subquery(),
                confirmed=confirmed.subquery(),
            )
        )[0]
        retried_adds = self._valid(self.ledger.pending(name, "add"), fresh)
        engine.insert(
            _CHANGES,
            parse(
                """SELECT (:sync), 'add', d.member_key, d.profile_key,
                       d.member_key IN (SELECT member_key FROM :retried AS f)
                FROM _desired d
                WHERE d.member_key NOT IN (SELECT member_key FROM :confirmed AS s)""",
                sync=name,
                retried=retried_adds.subquery(),
                confirmed=confirmed.subquery(),
            ),
        )
        engine.insert(
            _CHANGES,
            parse(
                f"""SELECT (:sync), 'remove', s.member_key, s.profile_key,
                       s.member_key IN (SELECT member_key FROM :retried AS f)
                FROM :confirmed AS s
                WHERE s.member_key NOT IN (SELECT member_key FROM _desired)
                  -- the same person still wanted under a "new:" key (not pulled back yet)
                  AND s.profile_key NOT IN (SELECT profile_key FROM _desired
                                            WHERE member_key LIKE '{NEW_MEMBER_PREFIX}%')
                  AND s.member_key NOT IN (SELECT member_key FROM :permanent AS f)""",
                sync=name,
                retried=self.ledger.pending(name, "remove").subquery(),
                confirmed=confirmed.subquery(),
                permanent=permanent_removes.subquery(),
            ),
        )
        if destination.refresh_days is not None and not fresh:
            due = self.now - timedelta(days=destination.refresh_days)
            engine.insert(
                _CHANGES,
                parse(
                    """SELECT (:sync), 'refresh', d.member_key, d.profile_key,
                           d.member_key IN (SELECT member_key FROM :retried AS f)
                    FROM _desired d
                    WHERE d.member_key IN (SELECT member_key FROM :due AS s)""",
                    sync=name,
                    retried=retried_adds.subquery(),
                    due=self.ledger.delivered_before(name, due).subquery(),
                ),
            )
        adds, removes, refreshes, retries = engine.rows(
            parse(
                f"""SELECT count(*) FILTER (WHERE op = 'add'),
                       count(*) FILTER (WHERE op = 'remove'),
                       count(*) FILTER (WHERE op = 'refresh'), count(*) FILTER (WHERE retry)
                FROM {_CHANGES} WHERE sync = :sync""",
                sync=name,
            )
        )[0]
        engine.drop("_candidates", "_desired")
        report.segment_size = int(counts["segment_size"])
        report.desired = int(counts["desired"])
        report.in_audience_before = int(counts["in_audience"])
        report.adds, report.removes, report.retries = int(adds), int(removes), int(retries)
        report.refreshes = int(refreshes)
        report.refresh_days = destination.refresh_days
        report.skipped = SkippedCounts(
            no_consent=int(counts["no_consent"]),
            unmatched=int(counts["unmatched"]),
            failed_permanently=int(counts["failed_permanently"]),
        )
        if not force:
            record = None if fresh else self.ledger.audience(name)
            settled = record.settled_size if record is not None else None
            report.blocked = self._min_size_guard(sync) or _guard(report, sync, settled)
        report.status = "blocked" if report.blocked else "planned"
        if preview:
            report.preview = SyncPreview(
                adds=self._preview(name, "add", preview),
                removes=self._preview(name, "remove", preview),
            )
        return plan

    @staticmethod
    def _valid(query: exp.Select, fresh: bool) -> exp.Select:
        """What the ledger says, or nothing when planning afresh."""
        return query.where(exp.false()) if fresh else query

    def _preview(self, sync: str, op: Op, limit: int) -> list[str]:
        rows = self.engine.rows(
            parse(
                f"""SELECT coalesce(p.email, p.phone, c.member_key) AS who
                FROM {_CHANGES} c LEFT JOIN profiles p ON p.profile_key = c.profile_key
                WHERE c.sync = :sync AND c.op = :op ORDER BY who LIMIT :limit""",
                sync=sync,
                op=op,
                limit=limit,
            )
        )
        return [str(r[0]) for r in rows]

    def _min_size_guard(self, sync: SyncConfig) -> str | None:
        """Block a sync of a segment (or of one of its groups) that has fewer members than its
        ``min_size`` when ``min_size_action = "skip_syncs"``."""
        limit = self.book.min_size(sync.segment)
        if limit is None or limit[1] != "skip_syncs":
            return None
        parent = sync.segment.partition(".")[0]
        size = self.membership.size(parent)
        if size >= limit[0]:
            return None
        return (
            f"segment {parent!r} has {size} members, below min_size {limit[0]}; "
            f"rerun with --force to push it anyway"
        )


def _address(sync: SyncConfig, destination: Destination) -> exp.Expr:
    """How the destination addresses a profile ``p``: its email, phone, or the record id that
    destination instance itself returned when pulled (``new:<email>`` to create it)."""
    if destination.identifier == "email":
        return exp.column("email", table="p")
    if destination.identifier == "phone":
        return exp.column("phone", table="p")
    record_id = parse(
        "(SELECT min(i.source_id) FROM profile_identifiers i "
        "WHERE i.profile_key = p.profile_key AND i.instance = :instance)",
        instance=destination.instance,
    )
    if sync.on_missing != "create":
        return record_id
    # no record there yet: the connector creates it from the email ("new:<email>"), if the
    # profile has granted what creating someone there requires (else: unmatched)
    new: exp.Expr = exp.DPipe(
        this=exp.Literal.string(NEW_MEMBER_PREFIX), expression=exp.column("email", table="p")
    )
    if destination.create_requires:
        granted = exp.and_(
            *(
                exp.column(CONSENT_COLUMNS[need], table="p").is_(exp.true())
                for need in sorted(destination.create_requires)
            )
        )
        new = exp.Case(ifs=[exp.If(this=granted, true=new)])
    return exp.Coalesce(this=record_id, expressions=[new])


def sources_feeding(
    engine: Engine, membership: Membership, ledger: Ledger, sync: str, segment: str,
    instances: Mapping[str, object],
) -> list[str]:  # fmt: skip
    """Which of the source ``instances`` feed ``sync``: a source feeds a sync when any profile
    the sync would add, keep or remove has a record or an event from it."""
    if not instances:
        return []
    people = exp.union(
        membership.of(segment),
        exp.select("profile_key").from_(ledger.confirmed(sync).subquery("s")),
    )
    rows = engine.rows(
        parse(
            """SELECT DISTINCT instance FROM (
                SELECT i.instance FROM profile_identifiers i
                WHERE i.profile_key IN (SELECT profile_key FROM :people AS a)
                UNION ALL
                SELECT e.instance FROM profile_events e
                WHERE e.profile_key IN (SELECT profile_key FROM :people AS b)) AS x""",
            people=people.subquery(),
        )
    )
    return sorted(str(r[0]) for r in rows if r[0] in instances)


def sources_loaded(
    engine: Engine, instance: str, tables: tuple[str, ...] = ("source_contacts", "events")
) -> bool:
    """Whether the store holds any record or event of source ``instance`` (in ``tables``)."""
    for table in tables:
        query = (
            exp.select("1")
            .from_(table)
            .where(exp.column("instance").eq(exp.Literal.string(instance)))
            .limit(1)
        )
        if engine.rows(query):
            return True
    return False


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
