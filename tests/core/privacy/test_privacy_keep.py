"""At load, a staged contact is kept out when any one of its email, phone or record id is
suppressed, and an event when its contact id (as a record of its instance) or its email is;
a value suppressed as another kind, or as another instance's record, keeps no one out."""

from __future__ import annotations

from sqlglot import exp

from segsync.privacy.identifiers import digest, store_salt
from segsync.privacy.suppression import keep_contacts, keep_events
from segsync.state.store import Store


def _kept(store: Store, table: str, key: str, keep: exp.Expr | None) -> set[str]:
    query = exp.select(key).from_(table)
    return {r[0] for r in store.engine.rows(query if keep is None else query.where(keep))}


def test_each_suppressed_identifier_keeps_its_rows_out_at_load() -> None:
    store = Store.memory()
    con = store.con
    con.execute("CREATE TABLE sc (source_id VARCHAR, email VARCHAR, phone VARCHAR)")
    con.execute(
        """INSERT INTO sc VALUES
           ('C1', 'ann@example.org', NULL), ('C2', 'bob@example.org', '+33612345678'),
           ('C3', NULL, NULL), ('C4', 'cat@example.org', '+33699999999'),
           ('C5', 'dan@example.org', NULL), ('C6', 'ann@example.org', NULL)"""
    )
    con.execute("CREATE TABLE se (event_id VARCHAR, contact_id VARCHAR, email VARCHAR)")
    con.execute(
        """INSERT INTO se VALUES ('E1', 'C1', NULL), ('E2', 'C3', NULL), ('E3', NULL,
           'ann@example.org'), ('E4', 'C4', NULL), ('E5', 'C9', 'dan@example.org'),
           ('E6', NULL, NULL), ('E7', 'C3', 'eve@example.org'), ('E8', 'C5', NULL)"""
    )
    assert keep_contacts(store.engine, "shop", "sc") is None  # nothing suppressed: no check
    salt = store_salt(store.engine)
    assert salt is not None
    suppressed = [
        ("email", "ann@example.org"),  # C1 and C6, E3
        ("phone", "+33612345678"),  # C2
        ("record", "shop:C3"),  # C3, E2 and E7
        ("record", "crm:C4"),  # another instance's C4: nobody here
        ("phone", "dan@example.org"),  # an email suppressed as a phone: nobody
    ]
    con.executemany(
        "INSERT INTO suppressions VALUES (?, ?, 'forget', 'r1', now(), TRUE)",
        [(digest(salt, kind, value), kind) for kind, value in suppressed],
    )
    contacts = keep_contacts(store.engine, "shop", "sc")
    assert _kept(store, "sc", "source_id", contacts) == {"C4", "C5"}
    events = keep_events(store.engine, "shop", "se")
    assert _kept(store, "se", "event_id", events) == {"E1", "E4", "E5", "E6", "E8"}
    store.close()
