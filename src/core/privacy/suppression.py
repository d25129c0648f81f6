"""Suppression: people segsync must never profile or push again, held as salted hashes only.

``suppressions`` has one row per hashed identifier (:mod:`.identifiers`): ``origin`` is
``forget`` (added by an erasure, with its ``request_id``) or ``file`` (``[privacy]
suppression_file``, re-read at every run). What it does:

* **at load** (:func:`keep_contacts`, :func:`keep_events`): a staged contact whose email,
  phone or record id is suppressed is not loaded, nor an event naming such a contact (by
  email, by a suppressed record id, or by the id of a contact of the same pull whose email or
  phone is suppressed) — a source that still holds the person never brings them back;
* **once, for new file entries** (:meth:`Suppressions.purge_unapplied`): stored records and
  events matching them are deleted, so the next resolve has no profile for them and the
  next push removes them from the audiences they were in (the normal way, with the guards).

The file may be a plain list (one email or phone a line) or a CSV export whose header names
an email or phone column (Mailchimp's ``Email Address``, HubSpot's ``Email``, ``Phone
Number``): every such column of every row is read.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.errors import InputError
from segsync.model.identity import normalize_email, normalize_phone
from segsync.values import utcnow

from .identifiers import digest, digest_sql, store_salt

__all__ = [
    "SuppressionFile",
    "Suppressions",
    "apply_suppression_file",
    "keep_contacts",
    "keep_events",
    "read_suppression_file",
]

log = logging.getLogger("segsync.privacy.suppression")

_EMAIL_HEADERS = ("email", "e-mail", "mail")
_PHONE_HEADERS = ("phone", "mobile", "telephone", "tel")


def _record(instance: str, source_id: exp.Expr) -> exp.Expr:
    return parse(":instance || ':' || :id", instance=instance, id=source_id)


def _suppressed(salt: str, kind: str, value: exp.Expr) -> exp.Expr:
    """``coalesce(<hash of value> IN (SELECT hash FROM suppressions), FALSE)``."""
    return parse(
        "coalesce(:hash IN (SELECT hash FROM suppressions), FALSE)",
        hash=digest_sql(salt, kind, value),
    )


def _named(salt: str, kind: str, column: str, staged: str, instance: str | None = None) -> exp.Expr:
    """A staged row's ``column`` is one of the suppressed (as a record id of ``instance``
    when given): the column's distinct values hashed once each, not every row's (a million
    contacts' six million orders name a million ids: hashing each order's id and email took
    1.8 CPU-s a load, the distinct values 0.6)."""
    value = exp.column("v")
    named = parse(
        f"""SELECT v FROM (SELECT DISTINCT {column} AS v FROM {staged}
            WHERE {column} IS NOT NULL) AS d WHERE :suppressed""",
        suppressed=_suppressed(salt, kind, value if instance is None else _record(instance, value)),
    )
    return parse(f"coalesce({column} IN (:named), FALSE)", named=named)


def _any_suppressions(engine: Engine) -> str | None:
    """The salt, when there is anything suppressed; None otherwise (nothing to check)."""
    if not engine.scalar(parse("SELECT count(*) FROM suppressions")):
        return None
    return store_salt(engine, create=False)


def _suppressed_contact(salt: str, instance: str, staged: str) -> exp.Expr:
    """A contact of ``instance`` staged in ``staged`` is suppressed: its email, phone or record
    id."""
    return exp.or_(
        _named(salt, "email", "email", staged),
        _named(salt, "phone", "phone", staged),
        _named(salt, "record", "source_id", staged, instance),
    )


def keep_contacts(engine: Engine, instance: str, staged: str) -> exp.Expr | None:
    """A condition on the contacts of ``instance`` staged in ``staged`` (``email``, ``phone``,
    ``source_id``) that keeps only those no suppression names; None when nothing is
    suppressed."""
    salt = _any_suppressions(engine)
    if salt is None:
        return None
    return exp.not_(_suppressed_contact(salt, instance, staged))


def keep_events(
    engine: Engine, instance: str, staged: str, *, contacts: str | None = None
) -> exp.Expr | None:
    """A condition on the events of ``instance`` staged in ``staged`` (``contact_id``,
    ``email``) that keeps only those naming no suppressed contact; None when nothing is
    suppressed. ``contacts``: the contacts of ``instance`` staged in the same pull, if any —
    an event naming one of them by id is kept out when :func:`keep_contacts` keeps that
    contact out (a suppression file lists emails and phones, not record ids: without this, an
    order naming its buyer only by id would be stored although the buyer is not)."""
    salt = _any_suppressions(engine)
    if salt is None:
        return None
    named = [
        _named(salt, "email", "email", staged),
        _named(salt, "record", "contact_id", staged, instance),
    ]
    if contacts is not None:
        held = exp.select("source_id").from_(contacts)
        held = held.where(_suppressed_contact(salt, instance, contacts))
        named.append(parse("coalesce(contact_id IN (:held), FALSE)", held=held))
    return exp.not_(exp.or_(*named))


@dataclass(frozen=True)
class SuppressionFile:
    """What a suppression file holds: hashes by kind, and how many lines were unreadable."""

    hashes: dict[str, str]
    """hash → kind"""
    unreadable: int


def read_suppression_file(path: Path, salt: str, region: str | None) -> SuppressionFile:
    """Read a suppression file (see the module docstring) into salted hashes."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InputError(f"{path}: cannot read the suppression file: {reason}") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    columns = [
        (i, "email" if any(w in h for w in _EMAIL_HEADERS) else "phone")
        for i, h in enumerate(header)
        if any(w in h for w in (*_EMAIL_HEADERS, *_PHONE_HEADERS)) and "@" not in h
    ]
    if columns:
        cells = [(kind, row[i]) for row in rows[1:] for i, kind in columns if i < len(row)]
    else:  # a plain list: the first field of every line
        cells = [("", row[0]) for row in rows if row and row[0].strip()]
    hashes: dict[str, str] = {}
    unreadable = 0
    for kind, raw in cells:
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        email = normalize_email(raw) if kind in ("", "email") else None
        phone = normalize_phone(raw, region) if email is None and kind in ("", "phone") else None
        if email is not None:
            hashes[digest(salt, "email", email)] = "email"
        elif phone is not None:
            hashes[digest(salt, "phone", phone)] = "phone"
        else:
            unreadable += 1
    return SuppressionFile(hashes=hashes, unreadable=unreadable)


class Suppressions:
    """The ``suppressions`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first: ``hash``, ``kind``, ``origin``, ``request_id``,
        ``added_at``."""
        return self.engine.dicts(
            parse(
                "SELECT hash, kind, origin, request_id, added_at FROM suppressions "
                "ORDER BY added_at, hash"
            )
        )

    def count(self) -> int:
        return int(self.engine.scalar(parse("SELECT count(*) FROM suppressions")))

    def add(
        self,
        hashes: dict[str, str],
        origin: str,
        *,
        request_id: str | None = None,
        applied: bool = True,
    ) -> int:
        """Add ``hashes`` (hash → kind) not already suppressed; how many were new."""
        if not hashes:
            return 0
        known = {
            str(r[0])
            for r in self.engine.rows(
                exp.select("hash")
                .from_("suppressions")
                .where(exp.column("hash").isin(*(exp.Literal.string(h) for h in hashes)))
            )
        }
        now = utcnow()
        rows = [
            (h, k, origin, request_id, now, applied) for h, k in hashes.items() if h not in known
        ]
        self.engine.insert_rows(
            "suppressions",
            ("hash", "kind", "origin", "request_id", "added_at", "applied"),
            rows,
        )
        return len(rows)

    def remove(self, hashes: Iterable[str]) -> int:
        """Remove these exact hashes; how many entries went."""
        wanted = [exp.Literal.string(h) for h in set(hashes)]
        if not wanted:
            return 0
        condition = exp.column("hash").isin(*wanted)
        count = int(
            self.engine.scalar(exp.select("count(*)").from_("suppressions").where(condition))
        )
        self.engine.execute(exp.delete("suppressions").where(condition))
        return count

    def matching(self, prefix: str) -> list[dict[str, Any]]:
        """Entries whose hash starts with ``prefix``."""
        return self.engine.dicts(
            parse(
                "SELECT hash, kind, origin, request_id, added_at FROM suppressions "
                "WHERE starts_with(hash, :prefix) ORDER BY hash",
                prefix=prefix.lower(),
            )
        )

    def sync_file(self, file: SuppressionFile) -> tuple[int, int]:
        """Make the ``file`` entries exactly the file's: new ones are added unapplied (their
        stored records are purged by :meth:`purge_unapplied`), ones no longer in the file are
        removed. Returns ``(added, removed)``."""
        current = {
            str(r[0])
            for r in self.engine.rows(parse("SELECT hash FROM suppressions WHERE origin = 'file'"))
        }
        gone = current - set(file.hashes)
        with self.engine.transaction():
            removed = self.remove(gone)
            added = self.add(
                {h: k for h, k in file.hashes.items() if h not in current}, "file", applied=False
            )
        return added, removed

    def purge_unapplied(self) -> dict[str, int]:
        """Delete the stored records (and their events) that entries added unapplied name,
        then mark those entries applied; how many records and events went."""
        if not self.engine.scalar(parse("SELECT count(*) FROM suppressions WHERE NOT applied")):
            return {"records": 0, "events": 0}
        salt = store_salt(self.engine)
        assert salt is not None
        fresh = "(SELECT hash FROM suppressions WHERE NOT applied)"
        record = parse("instance || ':' || source_id")
        hit = exp.or_(
            *(
                parse(f"coalesce(:h IN {fresh}, FALSE)", h=digest_sql(salt, kind, value))
                for kind, value in (
                    ("email", exp.column("email")),
                    ("phone", exp.column("phone")),
                    ("record", record),
                )
            )
        )
        engine = self.engine
        with engine.transaction():
            engine.create_table(
                "_suppressed_records",
                exp.select("instance", "source_id", "email").from_("source_contacts").where(hit),
                temporary=True,
            )
            records = int(engine.scalar(parse("SELECT count(*) FROM _suppressed_records")))
            events_hit = parse(
                f"""instance || ':' || contact_id IN
                    (SELECT instance || ':' || source_id FROM _suppressed_records)
                OR email IN (SELECT email FROM _suppressed_records)
                OR coalesce(:h IN {fresh}, FALSE)""",
                h=digest_sql(salt, "email", exp.column("email")),
            )
            events = int(engine.scalar(exp.select("count(*)").from_("events").where(events_hit)))
            engine.execute(exp.delete("events").where(events_hit))
            engine.execute(
                parse(
                    "DELETE FROM source_contacts WHERE instance || ':' || source_id IN "
                    "(SELECT instance || ':' || source_id FROM _suppressed_records)"
                )
            )
            engine.execute(parse("UPDATE suppressions SET applied = TRUE WHERE NOT applied"))
        engine.drop("_suppressed_records")
        if records or events:
            log.info(
                "suppression: %d stored record(s) and %d event(s) of newly suppressed people "
                "deleted; the next push removes them from their audiences",
                records,
                events,
            )
        return {"records": records, "events": events}


def apply_suppression_file(engine: Engine, path: Path | None, region: str | None) -> dict[str, int]:
    """What a run does first: make the ``file`` entries those of ``path`` (none when it is
    None), then delete the stored records of people newly suppressed. Returns ``added``,
    ``removed`` and ``records`` (records and events purged)."""
    added = removed = 0
    if path is not None:
        salt = store_salt(engine)
        assert salt is not None
        file = read_suppression_file(path, salt, region)
        if file.unreadable:
            log.warning(
                "%s: %d value(s) are neither an email nor a phone number; ignored",
                path,
                file.unreadable,
            )
        added, removed = Suppressions(engine).sync_file(file)
    else:
        count = parse("SELECT count(*) FROM suppressions WHERE origin = 'file'")
        removed = int(engine.scalar(count))
        if removed:  # the setting was removed: the file's people are no longer suppressed
            engine.execute(parse("DELETE FROM suppressions WHERE origin = 'file'"))
    purged = Suppressions(engine).purge_unapplied()
    return {"added": added, "removed": removed, "records": purged["records"] + purged["events"]}
