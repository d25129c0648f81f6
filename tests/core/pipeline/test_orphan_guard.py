"""The orphan guard counts an event as naming someone exactly when its contact id is one of
its instance's contacts (stored or staged in this pull) or its email is anyone's; every other
event, an empty one included, names no one."""

from __future__ import annotations

from pathlib import Path

from segsync.connector import SourceSettings
from segsync.pipeline.pull import StagedSource, StagedStream, _check_orphans
from segsync.report import SourceSummary
from segsync.state.store import Store


def _stream(stream: str, table: str) -> StagedStream:
    summary = SourceSummary(instance="shop", stream=stream, snapshot=True)
    return StagedStream(summary=summary, path=Path("unused"), table=table)


def test_the_orphan_count_names_each_way_an_event_can_name_someone() -> None:
    store = Store.memory()
    con = store.con
    # stored: a contact of another instance (crm) whose email events may name; and one of
    # shop's own, which this pull's snapshot of shop's contacts replaces
    con.execute(
        """INSERT INTO source_contacts (instance, source_id, email) VALUES
           ('crm', 'K1', 'crm@example.org'), ('crm', 'K2', NULL),
           ('shop', 'OLD', 'old@example.org')"""
    )
    con.execute("CREATE TABLE staged_contacts (source_id VARCHAR, email VARCHAR)")
    con.execute("""INSERT INTO staged_contacts VALUES ('C1', 'c1@example.org'), ('C2', NULL)""")
    con.execute("CREATE TABLE staged_events (event_id VARCHAR, contact_id VARCHAR, email VARCHAR)")
    named = [
        ("C1", None),  # a staged contact, by id
        ("C2", "nobody@example.org"),  # by id, whatever the email
        (None, "c1@example.org"),  # a staged contact, by email
        ("X9", "crm@example.org"),  # an unknown id, but another instance's email
    ]
    nobody = [
        ("K1", None),  # crm's id: not one of shop's contacts
        ("OLD", None),  # shop's stored contact, replaced by this pull's snapshot
        (None, "old@example.org"),  # ... and its email
        ("X1", None),
        (None, "x@example.org"),
        (None, None),
    ]
    rows = [
        (f"E{n}", contact, email) for n, (contact, email) in enumerate([*named * 20, *nobody * 15])
    ]
    con.executemany("INSERT INTO staged_events VALUES (?, ?, ?)", rows)
    for limit, refused in ((0.5, True), (0.6, False)):
        shop = StagedSource(
            instance="shop",
            settings=SourceSettings(max_orphan_fraction=limit),
            streams=[_stream("contacts", "staged_contacts"), _stream("events", "staged_events")],
        )
        _check_orphans(store.engine, [shop])
        why = shop.streams[1].summary.refused
        assert (why is not None) is refused
        if why:
            assert why.startswith("90 of 170 events (53%) name no known contact")
        assert shop.streams[0].summary.refused is None
    store.close()
