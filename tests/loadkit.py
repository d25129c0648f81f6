"""Checks of what a load does with staged rows, on any engine (each takes a store's engine):
the DuckDB tests and the Spark tests run the same ones (``tests/core/pipeline/
test_orphan_guard.py``, ``tests/core/privacy/test_privacy_keep.py``, ``tests/spark``).

- :func:`check_orphans`: the orphan guard counts an event as naming someone exactly when its
  contact id is one of its instance's contacts (stored, unless this pull's snapshot replaces
  them, or staged in this pull) or its email is anyone's; every other event, an empty one
  included, names no one.
- :func:`check_keep`: at load, a staged contact is kept out when any one of its email, phone or
  record id is suppressed, and an event when its contact id (as a record of its instance) or
  its email is, or when it names by id a contact of the same pull that is kept out; a value
  suppressed as another kind, or as another instance's record, keeps no one out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlglot import exp

from segsync.connector import SourceSettings
from segsync.engine import Engine
from segsync.pipeline.pull import StagedSource, StagedStream, _check_orphans
from segsync.privacy.identifiers import digest, store_salt
from segsync.privacy.suppression import keep_contacts, keep_events
from segsync.report import SourceSummary

# stored: contacts of another instance (crm) whose email events may name; and one of shop's
# own, which this pull's snapshot of shop's contacts replaces
STORED = [("crm", "K1", "crm@example.org"), ("crm", "K2", None), ("shop", "OLD", "old@example.org")]
STAGED = [("C1", "c1@example.org"), ("C2", None)]
NAMED = [
    ("C1", None),  # a staged contact, by id
    ("C2", "nobody@example.org"),  # by id, whatever the email
    (None, "c1@example.org"),  # a staged contact, by email
    ("X9", "crm@example.org"),  # an unknown id, but another instance's email
]
NOBODY = [
    ("K1", None),  # crm's id: not one of shop's contacts
    ("OLD", None),  # shop's stored contact, replaced by this pull's snapshot
    (None, "old@example.org"),  # ... and its email
    ("X1", None),
    (None, "x@example.org"),
    (None, None),
]


def _stream(stream: str, table: str) -> StagedStream:
    summary = SourceSummary(instance="shop", stream=stream, snapshot=True)
    return StagedStream(summary=summary, path=Path("unused"), table=table)


def check_orphans(engine: Engine) -> None:
    """The contacts and events above, on ``engine`` (a store's, which has
    ``source_contacts``), counted as they should be."""
    engine.insert_rows("source_contacts", ("instance", "source_id", "email"), STORED)
    engine.create_empty("staged_contacts", {"source_id": "VARCHAR", "email": "VARCHAR"})
    engine.insert_rows("staged_contacts", ("source_id", "email"), STAGED)
    engine.create_empty(
        "staged_events", {"event_id": "VARCHAR", "contact_id": "VARCHAR", "email": "VARCHAR"}
    )
    rows = [(f"E{n}", c, e) for n, (c, e) in enumerate([*NAMED * 20, *NOBODY * 15])]
    engine.insert_rows("staged_events", ("event_id", "contact_id", "email"), rows)
    for limit, refused in ((0.5, True), (0.6, False)):
        shop = StagedSource(
            instance="shop",
            settings=SourceSettings(max_orphan_fraction=limit),
            streams=[_stream("contacts", "staged_contacts"), _stream("events", "staged_events")],
        )
        _check_orphans(engine, [shop])
        why = shop.streams[1].summary.refused
        assert (why is not None) is refused
        if why:
            assert why.startswith("90 of 170 events (53%) name no known contact")
        assert shop.streams[0].summary.refused is None


CONTACTS = [
    ("C1", "ann@example.org", None), ("C2", "bob@example.org", "+33612345678"),
    ("C3", None, None), ("C4", "cat@example.org", "+33699999999"),
    ("C5", "dan@example.org", None), ("C6", "ann@example.org", None),
]  # fmt: skip
EVENTS = [
    ("E1", "C1", None), ("E2", "C3", None), ("E3", None, "ann@example.org"), ("E4", "C4", None),
    ("E5", "C9", "dan@example.org"), ("E6", None, None), ("E7", "C3", "eve@example.org"),
    ("E8", "C5", None), ("E9", "C2", None),
]  # fmt: skip
SUPPRESSED = [
    ("email", "ann@example.org"),  # C1 and C6, E3
    ("phone", "+33612345678"),  # C2
    ("record", "shop:C3"),  # C3, E2 and E7
    ("record", "crm:C4"),  # another instance's C4: nobody here
    ("phone", "dan@example.org"),  # an email suppressed as a phone: nobody
]


def _kept(engine: Engine, table: str, key: str, keep: exp.Expr | None) -> set[str]:
    query = exp.select(key).from_(table)
    return {r[0] for r in engine.rows(query if keep is None else query.where(keep))}


def check_keep(engine: Engine) -> None:
    """The staged tables and suppressions above, on ``engine`` (a store's, which has the
    ``suppressions`` and ``segsync_meta`` tables), kept as they should be."""
    engine.create_empty("sc", {"source_id": "VARCHAR", "email": "VARCHAR", "phone": "VARCHAR"})
    engine.insert_rows("sc", ("source_id", "email", "phone"), CONTACTS)
    engine.create_empty("se", {"event_id": "VARCHAR", "contact_id": "VARCHAR", "email": "VARCHAR"})
    engine.insert_rows("se", ("event_id", "contact_id", "email"), EVENTS)
    assert keep_contacts(engine, "shop", "sc") is None  # nothing suppressed: no check
    salt = store_salt(engine)  # made now, as the first erasure makes it
    assert salt is not None
    now = dt.datetime(2026, 1, 1)
    engine.insert_rows(
        "suppressions",
        ("hash", "kind", "origin", "request_id", "added_at", "applied"),
        [
            (digest(salt, kind, value), kind, "forget", "r1", now, True)
            for kind, value in SUPPRESSED
        ],
    )
    assert _kept(engine, "sc", "source_id", keep_contacts(engine, "shop", "sc")) == {"C4", "C5"}
    kept = _kept(engine, "se", "event_id", keep_events(engine, "shop", "se"))
    assert kept == {"E1", "E4", "E5", "E6", "E8", "E9"}
    # with the contacts staged in the same pull: also those naming, by id alone, a contact
    # whose email (C1) or phone (C2) is suppressed
    kept = _kept(engine, "se", "event_id", keep_events(engine, "shop", "se", contacts="sc"))
    assert kept == {"E4", "E5", "E6", "E8"}
