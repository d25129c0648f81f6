"""A staging file gives back what was written: NULL and empty text apart, backslashes,
quotes and line breaks kept, times, decimals, booleans and JSON typed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from segsync.engine import parse
from segsync.pipeline.staging import EVENT_COLUMNS, StagingWriter
from segsync.state.store import Store


def test_a_staging_file_round_trips(tmp_path: Path) -> None:
    rows = [
        {"seq": 1, "event_id": "c", "type": "", "occurred_at": "2026-01-02T03:04:05.000006",
         "contact_id": None, "email": "\\N", "value": Decimal("12.3400"), "currency": "\\x",
         "properties": {"note": 'line\nbreak, "quoted"', "when": dt.date(2026, 1, 2), "n": 1.5}},
        {"seq": 2, "event_id": "b", "type": "order", "occurred_at": "2026-01-02T03:04:05",
         "contact_id": "C,1", "email": None, "value": None, "currency": "EUR", "properties": {}},
        {"seq": 3, "event_id": "a", "type": "later", "occurred_at": "2026-01-03T00:00:00",
         "contact_id": "\\", "email": "", "value": Decimal("-0.5"), "currency": None,
         "properties": {"x": None}},
        {"seq": 0, "event_id": "a", "type": "earlier", "occurred_at": "2026-01-01T00:00:00",
         "contact_id": None, "email": None, "value": None, "currency": None, "properties": {}},
    ]  # fmt: skip
    path = tmp_path / "s.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = StagingWriter(out, EVENT_COLUMNS)
        for row in rows:
            writer.write(row)
    store = Store.memory()
    assert store.engine.load_staged("t", path, EVENT_COLUMNS, key="event_id", order="seq") == (
        3,
        ["a"],
    )
    got = {r["event_id"]: r for r in store.engine.dicts(parse("SELECT * FROM t"))}
    assert got["a"]["type"] == "later" and got["a"]["contact_id"] == "\\"
    assert got["a"]["email"] == "" and got["a"]["currency"] is None
    assert got["a"]["value"] == Decimal("-0.5000") and got["a"]["properties"] == '{"x":null}'
    assert got["b"]["type"] == "order" and got["b"]["contact_id"] == "C,1"
    assert got["b"]["email"] is None and got["b"]["value"] is None
    assert got["b"]["occurred_at"] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert got["b"]["properties"] == "{}"
    c = got["c"]
    assert (c["type"], c["email"], c["currency"], c["contact_id"]) == ("", "\\N", "\\x", None)
    assert c["value"] == Decimal("12.3400") and c["occurred_at"].microsecond == 6
    assert c["properties"] == '{"note":"line\\nbreak, \\"quoted\\"","when":"2026-01-02","n":1.5}'


def test_repeated_ids_show_three_examples_and_say_there_are_more() -> None:
    """The engine names up to four repeated keys: three are shown, a fourth adds "…"."""
    import logging

    from segsync.pipeline.tally import note_repeated_ids
    from segsync.report import SourceSummary

    log = logging.getLogger("test")
    summary = SourceSummary(instance="crm", stream="contacts", records=10)
    note_repeated_ids(summary, 5, log, ["C1", "x@example.org", "C3", "C4"])
    note_repeated_ids(summary, 1, log, ["C9"])
    note_repeated_ids(summary, 0, log, [])
    assert summary.warning_samples == [
        "crm contacts: 5 × a record repeated an id; the last one won; e.g. contact C1, "
        "contact x***@example.org, contact C3, …",
        "crm contacts: a record repeated an id; the last one won; e.g. contact C9",
    ]
    assert summary.warnings == 6
