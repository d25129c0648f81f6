"""Erasure in the store: find everything held about a person, note what destinations still owe,
and delete the rest — set-wise, for any number of requests at once.

A request names a person by one identifier (:mod:`.identifiers`). It is first **registered**
(``erasures``: its id and the identifier's salted hash, status ``started``) and committed; then
**erased**, in one transaction:

1. the records it resolves to: every staged record holding the identifier (matched on the raw
   value when this process has it, else on the hash — a ``started`` request left by a killed
   process is resumed from its hash alone), then every record holding any email, phone or
   record id of those records (``_er2``);
2. their profiles (the keys resolve gives them, and the profiles holding those identifiers),
   events, traits, segment memberships; the ledger's confirmed deliveries of them (by profile,
   and by member key: their emails, phones and record ids at the destination), failures and
   change-log lines;
3. each delivery becomes a ``remove`` task, and each instance with an eraser where the person is
   known (pulled from or delivered to) an ``erase`` task — with the address it needs
   (``member_key``; ``person``), kept only until the destination confirms (:mod:`.tasks`);
4. the salted hashes of the identifier and of every email, phone and record id of the
   person's own records become suppressions (origin ``forget``);
5. the request's row says what was erased (counts, never values) and becomes ``pending``
   (tasks left), ``complete`` or ``not_found``.

Stored run reports and rejects files mentioning the person's record ids, event ids, emails or
phones have those values replaced with ``[erased]`` (:func:`scrub_text`). The caller then
compacts the store (:meth:`segsync.state.store.Store.compact`) so no deleted byte remains.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.values import utcnow

from .identifiers import Identifier, Kind, digest_sql

__all__ = [
    "ERASED",
    "Erasures",
    "Found",
    "Request",
    "Resolution",
    "scrub_json",
    "scrub_rejects",
    "scrub_text",
]

log = logging.getLogger("segsync.privacy.erasure")

ERASED = "[erased]"
_TEMPS = ("_erq", "_erh", "_erhd", "_er1", "_erid", "_er2", "_erp", "_erd", "_ere", "_erk")
_RECORD_KEY = "c.instance || ':' || c.source_id"


@dataclass(frozen=True)
class Request:
    """One erasure request: its id, the identifier's kind and hash, and the normalised value
    when this process was given it (None when resumed from the hash)."""

    request_id: str
    kind: Kind
    hash: str
    value: str | None = None


@dataclass
class Found:
    """What the store holds about one request's person (counts only)."""

    records: int = 0
    events: int = 0
    profiles: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """``sync``, ``destination``, ``kind``, ``audience``, ``audience_id`` of each delivery."""
    known_at: set[str] = field(default_factory=set)
    """Connector instances that hold a record of them (pulled from there)."""

    @property
    def anything(self) -> bool:
        return bool(self.records or self.events or self.profiles or self.deliveries)


@dataclass
class Resolution:
    """The rows of the store that hold the requests' people, in temporary tables (until
    :meth:`Erasures.close`), with what was found per request."""

    requests: list[Request]
    found: dict[str, Found]


class Erasures:
    """``erasures`` and ``erasure_tasks``, and the erasure of people from every table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- requests ---------------------------------------------------------------------------

    def register(
        self, batch_id: str, identifiers: Iterable[Identifier], salt: str, ids: Iterable[str]
    ) -> list[Request]:
        """Record one ``started`` request per identifier (ids from ``ids``), committed before
        anything is erased, so a killed process leaves them to be resumed."""
        now = utcnow()
        requests = [
            Request(request_id, i.kind, i.digest(salt), i.value)
            for i, request_id in zip(identifiers, ids, strict=False)
        ]
        self.engine.insert_rows(
            "erasures",
            ("request_id", "batch_id", "kind", "identifier_hash", "status", "requested_at"),
            [(r.request_id, batch_id, r.kind, r.hash, "started", now) for r in requests],
        )
        return requests

    def started(self, known: Mapping[str, str] | None = None) -> list[Request]:
        """Every request not erased from the store yet (``started``), with the value of those
        in ``known`` (request id → normalised value)."""
        known = known or {}
        rows = self.engine.rows(
            parse(
                "SELECT request_id, kind, identifier_hash FROM erasures "
                "WHERE status = 'started' ORDER BY requested_at, request_id"
            )
        )
        return [Request(str(r[0]), r[1], str(r[2]), known.get(str(r[0]))) for r in rows]

    def requests(self, ids: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Rows of ``erasures`` (these ids, or every one), oldest first, ``erased`` parsed."""
        query = parse(
            "SELECT request_id, batch_id, kind, identifier_hash, status, requested_at, "
            "erased_at, completed_at, profiles, erased FROM erasures "
            "ORDER BY requested_at, request_id"
        )
        assert isinstance(query, exp.Select)
        if ids is not None:
            if not ids:
                return []
            query = query.where(
                exp.column("request_id").isin(*(exp.Literal.string(i) for i in ids))
            )
        rows = self.engine.dicts(query)
        for row in rows:
            raw = row["erased"]
            row["erased"] = json.loads(raw) if isinstance(raw, str) else raw or {}
        return rows

    def unfinished(self) -> list[str]:
        """Ids of requests not complete yet (``started`` or ``pending``)."""
        return [
            str(r[0])
            for r in self.engine.rows(
                parse(
                    "SELECT request_id FROM erasures WHERE status IN ('started', 'pending') "
                    "ORDER BY requested_at, request_id"
                )
            )
        ]

    # -- resolution -------------------------------------------------------------------------

    def resolve(self, requests: list[Request], salt: str) -> Resolution:
        """Find the rows holding each request's person (temporary tables ``_er*``)."""
        engine = self.engine
        engine.create_empty(
            "_erq",
            {"request_id": "VARCHAR", "kind": "VARCHAR", "hash": "VARCHAR", "value": "VARCHAR"},
            temporary=True,
        )
        engine.insert_rows(
            "_erq",
            ("request_id", "kind", "hash", "value"),
            [(r.request_id, r.kind, r.hash, r.value) for r in requests],
        )
        hashed = any(r.value is None for r in requests)
        engine.create_table("_er1", self._first_records(salt, hashed), temporary=True)
        engine.create_table("_erid", _identifiers(), temporary=True)
        engine.create_table("_er2", _records_holding(), temporary=True)
        engine.create_table("_erp", self._profiles(), temporary=True)
        engine.create_table("_erd", self._deliveries(salt, hashed), temporary=True)
        engine.create_table("_ere", self._events(salt, hashed), temporary=True)
        engine.create_table("_erk", _member_keys(), temporary=True)
        return Resolution(requests=requests, found=self._found(requests))

    def _first_records(self, salt: str, hashed: bool) -> exp.Expr:
        """``(request_id, instance, source_id)`` of the records holding the identifier."""
        parts = [
            f"""SELECT q.request_id, c.instance, c.source_id FROM _erq q
                JOIN source_contacts c ON {column} = q.value
                WHERE q.value IS NOT NULL AND q.kind = '{kind}'"""
            for kind, column in (("email", "c.email"), ("phone", "c.phone"),
                                 ("record", _RECORD_KEY))
        ]  # fmt: skip
        query = parse(" UNION ".join(parts))
        if not hashed:
            return query
        self.engine.create_table(
            "_erh",
            exp.select(
                "instance",
                "source_id",
                exp.alias_(digest_sql(salt, "email", exp.column("email")), "email"),
                exp.alias_(digest_sql(salt, "phone", exp.column("phone")), "phone"),
                exp.alias_(
                    digest_sql(salt, "record", parse("instance || ':' || source_id")), "record"
                ),
            ).from_("source_contacts"),
            temporary=True,
        )
        by_hash = [
            f"""SELECT q.request_id, h.instance, h.source_id FROM _erq q
                JOIN _erh h ON h.{kind} = q.hash WHERE q.value IS NULL AND q.kind = '{kind}'"""
            for kind in ("email", "phone", "record")
        ]
        return parse(" UNION ".join([*parts, *by_hash]))

    def _profiles(self) -> exp.Expr:
        """``(request_id, profile_key)``: the keys resolve gives the records, the profiles
        they were resolved into, and profiles holding one of the person's emails or phones."""
        parts = [
            """SELECT r.request_id, md5(CASE
                    WHEN c.email IS NOT NULL THEN 'email:' || c.email
                    WHEN c.phone IS NOT NULL THEN 'phone:' || c.phone
                    ELSE 'record:' || c.instance || ':' || c.source_id END) AS profile_key
                FROM _er2 r JOIN source_contacts c
                    ON c.instance = r.instance AND c.source_id = r.source_id""",
            """SELECT r.request_id, i.profile_key FROM _er2 r JOIN profile_identifiers i
                ON i.instance = r.instance AND i.source_id = r.source_id""",
        ]
        columns = set(self.engine.columns("profiles"))
        parts += [
            f"""SELECT i.request_id, p.profile_key FROM _erid i JOIN profiles p
                ON p.{kind} = i.value WHERE i.kind = '{kind}'"""
            for kind in ("email", "phone")
            if kind in columns
        ]
        return parse(" UNION ".join(parts))

    def _deliveries(self, salt: str, hashed: bool) -> exp.Expr:
        """``(request_id, sync, member_key, destination, kind, name, audience_id)`` of every
        confirmed delivery of the person: by profile, or by member key (their emails and
        phones, their record ids at that destination)."""
        parts = [
            """SELECT p.request_id, s.sync, s.member_key FROM _erp p
                JOIN sync_state s ON s.profile_key = p.profile_key""",
            """SELECT i.request_id, s.sync, s.member_key FROM _erid i
                JOIN sync_state s ON s.member_key = i.value WHERE i.kind IN ('email', 'phone')""",
            """SELECT r.request_id, s.sync, s.member_key FROM _er2 r
                JOIN audiences a ON a.destination = r.instance
                JOIN sync_state s ON s.sync = a.sync AND s.member_key = r.source_id""",
        ]
        if hashed:
            key = exp.column("member_key", "s")
            values = {
                "he": digest_sql(salt, "email", key),
                "hp": digest_sql(salt, "phone", key),
                "hr": digest_sql(salt, "record", parse("a.destination || ':' || s.member_key")),
            }
            self.engine.create_table(
                "_erhd",
                parse(
                    """SELECT s.sync, s.member_key, :he AS email, :hp AS phone, :hr AS record
                    FROM sync_state s JOIN audiences a ON a.sync = s.sync""",
                    **values,
                ),
                temporary=True,
            )
            parts += [
                f"""SELECT q.request_id, h.sync, h.member_key FROM _erq q
                    JOIN _erhd h ON h.{kind} = q.hash WHERE q.value IS NULL AND q.kind = '{kind}'"""
                for kind in ("email", "phone", "record")
            ]
        # the profile's email and phone, for destinations that check or look up an address
        # (Mailchimp finds the email of a subscriber hash without a call when it is given)
        columns = set(self.engine.columns("profiles"))
        address = ", ".join(
            f"p.{c} AS {c}" if c in columns else f"CAST(NULL AS VARCHAR) AS {c}"
            for c in ("email", "phone")
        )
        return parse(
            f"""SELECT DISTINCT x.request_id, x.sync, x.member_key, a.destination, a.kind,
                    a.name, a.audience_id, {address}
            FROM ({" UNION ".join(parts)}) AS x JOIN audiences a ON a.sync = x.sync
            LEFT JOIN sync_state s ON s.sync = x.sync AND s.member_key = x.member_key
            LEFT JOIN profiles p ON p.profile_key = s.profile_key"""
        )

    def _events(self, salt: str, hashed: bool) -> exp.Expr:
        """``(request_id, key)`` (``instance:event_id``) of the events of the records, and of
        those naming one of the person's emails."""
        parts = [
            """SELECT r.request_id, e.instance || ':' || e.event_id AS key FROM _er2 r
                JOIN events e ON e.instance = r.instance AND e.contact_id = r.source_id""",
            """SELECT i.request_id, e.instance || ':' || e.event_id AS key FROM _erid i
                JOIN events e ON e.email = i.value WHERE i.kind = 'email'""",
        ]
        if not hashed:
            return parse(" UNION ".join(parts))
        parts.append(
            """SELECT q.request_id, e.key FROM _erq q
                JOIN (SELECT instance || ':' || event_id AS key, :he AS he
                      FROM events WHERE email IS NOT NULL) AS e ON e.he = q.hash
                WHERE q.value IS NULL AND q.kind = 'email'"""
        )
        return parse(" UNION ".join(parts), he=digest_sql(salt, "email", exp.column("email")))

    def _found(self, requests: list[Request]) -> dict[str, Found]:
        found = {r.request_id: Found() for r in requests}
        engine = self.engine
        for table, attr in (("_er2", "records"), ("_ere", "events"), ("_erp", "profiles")):
            for request_id, count in engine.rows(
                parse(f"SELECT request_id, count(*) FROM {table} GROUP BY request_id")
            ):
                setattr(found[str(request_id)], attr, int(count))
        for row in engine.dicts(
            parse(
                "SELECT DISTINCT request_id, sync, destination, kind, name AS audience, "
                "audience_id FROM _erd ORDER BY request_id, sync"
            )
        ):
            found[str(row.pop("request_id"))].deliveries.append(row)
        for request_id, instance in engine.rows(
            parse("SELECT DISTINCT request_id, instance FROM _er1")
        ):
            found[str(request_id)].known_at.add(str(instance))
        return found

    # -- the work destinations still owe ------------------------------------------------------

    def eraser_people(
        self, resolution: Resolution, instance: str, identifier: str
    ) -> dict[str, dict[str, list[str]]]:
        """Per request known at ``instance`` (pulled from or delivered to it): what an eraser
        there needs (``record_ids``, ``emails``, ``phones``) — the person's own records only,
        never the other records holding one of their identifiers."""
        engine = self.engine
        people: dict[str, dict[str, set[str]]] = {}

        def person(request_id: Any) -> dict[str, set[str]]:
            return people.setdefault(
                str(request_id), {"record_ids": set(), "emails": set(), "phones": set()}
            )

        for request_id, source_id in engine.rows(
            parse("SELECT request_id, source_id FROM _er1 WHERE instance = :i", i=instance)
        ):
            person(request_id)["record_ids"].add(str(source_id))
        slot = {"id": "record_ids", "email": "emails", "phone": "phones"}.get(identifier)
        for request_id, member_key in engine.rows(
            parse("SELECT request_id, member_key FROM _erd WHERE destination = :i", i=instance)
        ):
            if slot is not None and not str(member_key).startswith("new:"):
                person(request_id)[slot].add(str(member_key))
        for request_id, kind, value in engine.rows(
            parse("SELECT request_id, kind, value FROM _erid WHERE kind IN ('email', 'phone')")
        ):
            if str(request_id) in people:
                people[str(request_id)]["emails" if kind == "email" else "phones"].add(str(value))
        return {r: {k: sorted(v) for k, v in p.items()} for r, p in people.items()}

    # -- erasure ----------------------------------------------------------------------------

    def erase(
        self,
        resolution: Resolution,
        salt: str,
        erasers: Mapping[str, str],
        *,
        work_dir: Path | None = None,
    ) -> dict[str, int]:
        """Erase the resolved people from the store, in one transaction with their tasks,
        suppressions and requests' new status. ``erasers`` maps each instance whose eraser
        is on to how its destination addresses people (``id``, ``email``, ``phone``).
        Returns the totals erased per table (the rejects files in ``work_dir`` are scrubbed
        after the commit)."""
        engine = self.engine
        now = utcnow()
        requests = resolution.requests
        tasks = self._tasks(resolution, erasers, now)
        tokens = self._tokens()
        totals: dict[str, int] = {}
        with engine.transaction():
            engine.insert(
                "erasure_tasks",
                parse(
                    """SELECT request_id, 'remove', destination, sync, audience_id, kind, name,
                        member_key, json_object('email', email, 'phone', phone), 'pending',
                        CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), 0, :now
                    FROM _erd ORDER BY request_id, sync, member_key""",
                    now=now,
                ),
                columns=_TASK_COLUMNS,
            )
            if tasks:
                engine.insert_rows("erasure_tasks", _TASK_COLUMNS, tasks)
            self._suppress(salt, now)
            totals = self._delete()
            totals["reports"] = self._scrub_reports(tokens)
            pending = {str(t[0]) for t in tasks} | {
                str(r[0]) for r in engine.rows(parse("SELECT DISTINCT request_id FROM _erd"))
            }
            outcomes = []
            for request in requests:
                found = resolution.found[request.request_id]
                status = (
                    "pending" if request.request_id in pending
                    else "complete" if found.anything else "not_found"
                )  # fmt: skip
                erased = {
                    "records": found.records,
                    "events": found.events,
                    "profiles": found.profiles,
                    "deliveries": len(found.deliveries),
                }
                done = None if status == "pending" else now
                outcomes.append(
                    (request.request_id, status, done, found.profiles, json.dumps(erased))
                )
            engine.create_empty("_erstatus", _STATUS_COLUMNS, temporary=True)
            engine.insert_rows("_erstatus", tuple(_STATUS_COLUMNS), outcomes)
            engine.execute(
                parse(
                    """UPDATE erasures SET status = x.status, erased_at = :now,
                        completed_at = x.completed_at, profiles = x.profiles, erased = x.erased
                    FROM _erstatus AS x WHERE erasures.request_id = x.request_id""",
                    now=now,
                )
            )
        engine.drop("_erstatus")
        if work_dir is not None:
            totals["rejects_lines"] = scrub_rejects(work_dir / "rejects", tokens)
        return totals

    def _tasks(
        self, resolution: Resolution, erasers: Mapping[str, str], now: Any
    ) -> list[tuple[Any, ...]]:
        """The ``erase`` tasks (the ``remove`` ones are made in SQL, from ``_erd``)."""
        rows: list[tuple[Any, ...]] = []
        for instance, identifier in sorted(erasers.items()):
            for request_id, person in sorted(
                self.eraser_people(resolution, instance, identifier).items()
            ):
                rows.append(
                    (request_id, "erase", instance, None, None, None, None, None,
                     json.dumps(person), "pending", None, None, 0, now)
                )  # fmt: skip
        return rows

    def _suppress(self, salt: str, now: Any) -> None:
        """The identifiers' hashes, and the hashes of every identifier of their records (one
        entry per hash, naming the first request that asked for it)."""
        hashes = exp.Case(
            ifs=[
                exp.If(
                    this=exp.column("kind").eq(exp.Literal.string(kind)),
                    true=digest_sql(salt, kind, exp.column("value")),
                )
                for kind in ("email", "phone", "record")
            ]
        )
        self.engine.insert(
            "suppressions",
            parse(
                """SELECT hash, min(kind), 'forget', min(request_id), :now, TRUE FROM (
                    SELECT request_id, kind, hash FROM _erq
                    UNION SELECT request_id, kind, :hashes AS hash FROM _erid) AS x
                WHERE hash NOT IN (SELECT hash FROM suppressions)
                GROUP BY hash""",
                now=now,
                hashes=hashes,
            ),
            columns=["hash", "kind", "origin", "request_id", "added_at", "applied"],
        )

    def _delete(self) -> dict[str, int]:
        """Delete the resolved rows from every table; how many per table."""
        engine = self.engine
        conditions = {
            "source_contacts": "instance || ':' || source_id IN "
            "(SELECT instance || ':' || source_id FROM _er2)",
            "events": "instance || ':' || event_id IN (SELECT key FROM _ere)",
            "profiles": "profile_key IN (SELECT profile_key FROM _erp)",
            "profile_identifiers": "profile_key IN (SELECT profile_key FROM _erp) "
            "OR instance || ':' || source_id IN (SELECT instance || ':' || source_id FROM _er2)",
            "profile_events": "profile_key IN (SELECT profile_key FROM _erp)",
            "profile_traits": "profile_key IN (SELECT profile_key FROM _erp)",
            "segment_members": "profile_key IN (SELECT profile_key FROM _erp)",
            "sync_state": "sync || ':' || member_key IN "
            "(SELECT sync || ':' || member_key FROM _erd)",
            "failures": "profile_key IN (SELECT profile_key FROM _erp) "
            "OR sync || ':' || member_key IN (SELECT sync || ':' || member_key FROM _erk)",
            "change_log": "profile_key IN (SELECT profile_key FROM _erp) "
            "OR sync || ':' || member_key IN (SELECT sync || ':' || member_key FROM _erk)",
        }
        totals = {}
        for table, condition in conditions.items():
            if table == "profile_traits" and "profile_key" not in self.engine.columns(table):
                continue  # made by the first run's traits
            totals[table] = int(
                engine.scalar(parse(f"SELECT count(*) FROM {table} WHERE {condition}"))
            )
            if totals[table]:
                engine.execute(parse(f"DELETE FROM {table} WHERE {condition}"))
        return totals

    def _tokens(self) -> set[str]:
        """What may name the people in free text: record ids, event ids, member keys, emails
        and phones."""
        queries = [
            "SELECT source_id FROM _er2",
            "SELECT value FROM _erid WHERE kind IN ('email', 'phone')",
            "SELECT c.email FROM _er2 r JOIN source_contacts c "
            "ON c.instance = r.instance AND c.source_id = r.source_id WHERE c.email IS NOT NULL",
            "SELECT c.phone FROM _er2 r JOIN source_contacts c "
            "ON c.instance = r.instance AND c.source_id = r.source_id WHERE c.phone IS NOT NULL",
            "SELECT e.event_id FROM events e WHERE e.instance || ':' || e.event_id IN "
            "(SELECT key FROM _ere)",
            "SELECT member_key FROM _erd",
        ]
        tokens: set[str] = set()
        for query in queries:
            tokens.update(str(r[0]) for r in self.engine.rows(parse(query)) if r[0])
        return tokens

    def _scrub_reports(self, tokens: set[str]) -> int:
        """Replace the people's ids, emails and phones in the strings of stored run reports
        (warning samples, errors); how many reports changed."""
        if not tokens:
            return 0
        changed = 0
        for run_id, report in self.engine.rows(
            parse("SELECT run_id, CAST(report AS VARCHAR) FROM runs WHERE report IS NOT NULL")
        ):
            data = json.loads(str(report))
            cleaned = scrub_json(data, tokens)
            if cleaned != data:
                self.engine.execute(
                    parse(
                        "UPDATE runs SET report = :r WHERE run_id = :id",
                        r=json.dumps(cleaned),
                        id=run_id,
                    )
                )
                changed += 1
        return changed

    def close(self) -> None:
        """Drop the temporary tables of the last :meth:`resolve`."""
        self.engine.drop(*_TEMPS)


_STATUS_COLUMNS = {
    "request_id": "VARCHAR", "status": "VARCHAR", "completed_at": "TIMESTAMP",
    "profiles": "INTEGER", "erased": "JSON",
}  # fmt: skip
_TASK_COLUMNS = (
    "request_id", "task", "instance", "sync", "audience_id", "audience_kind", "audience_name",
    "member_key", "person", "status", "outcome", "error", "attempts", "updated_at",
)  # fmt: skip


def _identifiers() -> exp.Expr:
    """``(request_id, kind, value)``: the identifier as given (when known) and every email,
    phone and record id of the records holding it."""
    return parse(
        f"""SELECT request_id, kind, value FROM _erq WHERE value IS NOT NULL
        UNION SELECT r.request_id, 'email', c.email FROM _er1 r JOIN source_contacts c
            ON c.instance = r.instance AND c.source_id = r.source_id WHERE c.email IS NOT NULL
        UNION SELECT r.request_id, 'phone', c.phone FROM _er1 r JOIN source_contacts c
            ON c.instance = r.instance AND c.source_id = r.source_id WHERE c.phone IS NOT NULL
        UNION SELECT r.request_id, 'record', {_RECORD_KEY.replace("c.", "r.")} FROM _er1 r"""
    )


def _records_holding() -> exp.Expr:
    """``(request_id, instance, source_id)`` of every record holding one of the person's
    identifiers."""
    parts = [
        f"""SELECT i.request_id, c.instance, c.source_id FROM _erid i
            JOIN source_contacts c ON {column} = i.value WHERE i.kind = '{kind}'"""
        for kind, column in (("email", "c.email"), ("phone", "c.phone"), ("record", _RECORD_KEY))
    ]
    return parse(" UNION ".join(parts))


def _member_keys() -> exp.Expr:
    """``(sync, member_key)`` pairs that may name the people in the ledger's failures and
    change log: their deliveries, their emails and phones in every sync, their record ids
    in the syncs to the instance they are from."""
    return parse(
        """SELECT sync, member_key FROM _erd
        UNION SELECT s.sync, i.value FROM _erid i
            CROSS JOIN (SELECT DISTINCT sync FROM change_log
                        UNION SELECT DISTINCT sync FROM failures
                        UNION SELECT DISTINCT sync FROM audiences) AS s
            WHERE i.kind IN ('email', 'phone')
        UNION SELECT a.sync, r.source_id FROM _er2 r
            JOIN audiences a ON a.destination = r.instance"""
    )


_EMAIL_RE = re.compile(r"[^\s\"'<>(),;\\]+@[^\s\"'<>(),;\\]+")
_TOKEN_RE = re.compile(r"(?:^|(?<=[\s:(#'\"\[]))[^\s\"'(),;#\\\[\]]+")


def scrub_text(text: str, tokens: Collection[str]) -> str:
    """``text`` with every whole word that is one of ``tokens`` (and every email among them)
    replaced by ``[erased]``. Words are what stands between spaces, quotes, brackets and
    punctuation, so a record id ``101`` is replaced in ``contact 101 (…)`` but a count of
    ``1010`` is not."""
    if not tokens:
        return text
    wanted = tokens if isinstance(tokens, set | frozenset) else set(tokens)

    def word(match: re.Match[str]) -> str:
        value = match.group(0)
        stripped = value.rstrip(".:")
        if stripped in wanted:
            return ERASED + value[len(stripped) :]
        return value

    text = _EMAIL_RE.sub(lambda m: ERASED if m.group(0).lower() in wanted else m.group(0), text)
    return _TOKEN_RE.sub(word, text)


def scrub_json(value: Any, tokens: Collection[str]) -> Any:
    """``value`` (parsed JSON) with :func:`scrub_text` applied to every string in it (keys,
    numbers and the structure are left as they are)."""
    if isinstance(value, str):
        return scrub_text(value, tokens)
    if isinstance(value, list):
        return [scrub_json(v, tokens) for v in value]
    if isinstance(value, dict):
        return {k: scrub_json(v, tokens) for k, v in value.items()}
    return value


def scrub_rejects(folder: Path, tokens: set[str]) -> int:
    """Rewrite the rejects files whose lines name the people (``[erased]`` in their place);
    how many lines changed."""
    if not tokens or not folder.is_dir():
        return 0
    changed = 0
    for path in sorted(folder.glob("*.csv")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        rows = list(csv.reader(io.StringIO(text)))
        cleaned = [[scrub_text(cell, tokens) for cell in row] for row in rows]
        diff = sum(1 for a, b in zip(rows, cleaned, strict=True) if a != b)
        if diff:
            out = io.StringIO()
            csv.writer(out).writerows(cleaned)
            path.write_text(out.getvalue(), encoding="utf-8")
            changed += diff
    return changed
