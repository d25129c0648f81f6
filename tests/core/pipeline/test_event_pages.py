"""A page of events staged a column at a time (``EventPages``) stages what its events staged
one by one give: the same staging file, byte for byte, the same warnings with the same
examples, the same rejects and errors — on pages of the awkward values real platforms hold,
and on pages the columns hand back to the record-by-record way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import random
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeSource, stage, staged_one_by_one

from segsync.connector import (
    Contact,
    Event,
    Page,
    SourceSettings,
)
from segsync.pipeline.event_pages import EventPages
from segsync.pipeline.staging import EVENT_COLUMNS, Rejects, StagingWriter, event_encoder
from segsync.pipeline.tally import WarningTally
from segsync.report import SourceSummary

PULLED = dt.datetime(2026, 6, 1, 12, 0)
PARIS = dt.timezone(dt.timedelta(hours=2))
TIMES = [
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(2026, 1, 2, 3, 4, 5, 500, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 23, 4, 5, 500, tzinfo=PARIS),
    dt.datetime(2026, 1, 1, 23, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.datetime(2026, 1, 2, tzinfo=zoneinfo.ZoneInfo("UTC")),
    dt.datetime(2099, 1, 1, tzinfo=dt.UTC), dt.datetime(2030, 5, 5, 5, 5, 5),
    dt.datetime(2026, 6, 1, 12, 4), dt.datetime(2026, 6, 1, 12, 6, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 1, 14, 7, tzinfo=PARIS), dt.datetime(1, 1, 1, 0, 0),
]  # fmt: skip
IDS = ["E1", "e,2", "\\N", "\\x", 'q"uote', "zoë", "line\nbreak", 42, "ann@example.org"]
TYPES = ["order", "deal_won", "\\back", "ça,va", "opportunity"]
CONTACTS = [None, "C1", "", " c2 ", "\\C3", 17]
EMAILS = [None, "Ann@Example.org", " bob@example.org ", "not an email", "", "JOSÉ@EXAMPLE.ORG",
          "zoë@exämple.org", "\\back@x.org"]  # fmt: skip
VALUES = [None, Decimal("12.50"), Decimal("-3"), Decimal("0E-7"), Decimal("99999999999999.9999"),
          7, -2, 0, Decimal("1E+3")]  # fmt: skip
CURRENCIES = [None, "EUR", "", "usd", "\\X"]
PROPERTIES: list[dict[str, Any]] = [
    {}, {"store_id": "s1", "status": "paid"}, {"n": 3, "ratio": 0.5, "ok": True, "none": None},
    {"nested": {"a": [1, {"b": "c"}]}, "zoë": "ü"}, {"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
    {"day": dt.date(2026, 1, 2), "amount": Decimal("1.10")}, {"text": 'a "quoted", text\n'},
    {"nan": float("nan"), "big": 10**30},
]  # fmt: skip


def _event(rng: random.Random) -> Event:
    return Event(
        event_id=rng.choice(IDS),
        type=rng.choice(TYPES),
        occurred_at=rng.choice(TIMES),
        contact_id=rng.choice(CONTACTS),
        email=rng.choice(EMAILS),
        value=rng.choice(VALUES),
        currency=rng.choice(CURRENCIES),
        properties=rng.choice(PROPERTIES),
    )


def _by_records(events: list[Event], tmp: Path) -> tuple[str, WarningTally]:
    tally = WarningTally("src events")
    summary = SourceSummary(instance="src", stream="events")
    encode = event_encoder("src", tally, Rejects(tmp / "r.csv", SourceSettings(), summary), PULLED)
    return staged_one_by_one(encode, events, EVENT_COLUMNS), tally


def _by_columns(events: list[Event]) -> tuple[str, WarningTally]:
    tally = WarningTally("src events")
    pages = EventPages("src", tally, PULLED)
    assert pages.plain(events)
    rows = pages.encode(events, 7)
    assert rows is not None and tally.total == 0  # the warnings wait in held
    pages.held.warn()
    out = io.StringIO()
    StagingWriter(out, EVENT_COLUMNS).write_rows(rows)
    return out.getvalue(), tally


@pytest.mark.parametrize("seed", range(10))
def test_a_page_stages_as_its_events_do(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    events = [_event(rng) for _ in range(rng.choice([1, 40, 300]))]
    staged, tally = _by_columns(events)
    expected, expected_tally = _by_records(events, tmp_path)
    assert staged == expected
    assert tally.lines() == expected_tally.lines() and tally.total == expected_tally.total
    assert tally.examples == expected_tally.examples


def test_the_warnings_keep_the_records_order(tmp_path: Path) -> None:
    late = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events = [
        Event(event_id="a", type="order", occurred_at=late, contact_id="C1"),
        Event(event_id="b", type="order", occurred_at=at),
        Event(event_id="c", type="order", occurred_at=late),
    ]
    staged, tally = _by_columns(events)
    expected, expected_tally = _by_records(events, tmp_path)
    assert staged == expected and tally.examples == expected_tally.examples
    assert tally.examples["event dated in the future"] == ["event a (2099-01-01)",
                                                           "event c (2099-01-01)"]  # fmt: skip
    assert tally.examples["event names no contact (no contact_id or email)"] == [
        "event b", "event c"
    ]  # fmt: skip


def test_a_page_the_columns_cannot_take_goes_record_by_record() -> None:
    pages = EventPages("src", WarningTally("x"), PULLED)
    good = Event(event_id="E1", type="order", occurred_at=PULLED)
    assert pages.plain([good]) and pages.plain([])
    for bad in (
        Contact(source_id="C1"),
        dataclasses.replace(good, event_id=""),
        dataclasses.replace(good, type=""),
        dataclasses.replace(good, occurred_at=dt.date(2026, 1, 1)),
        dataclasses.replace(good, value=12.5),
        dataclasses.replace(good, value=Decimal(10) ** 14),
        dataclasses.replace(good, value=-(Decimal(10) ** 15)),
        dataclasses.replace(good, currency=3),
        dataclasses.replace(good, properties=[1]),
        dataclasses.replace(good, value=Decimal("NaN")),
    ):
        assert not pages.plain([good, bad]), bad  # type: ignore[list-item]
    # a property JSON cannot hold: no rows, nothing noted (the records name it)
    noted = WarningTally("x")
    circular: dict[str, Any] = {}
    circular["self"] = circular
    for properties in ({"s": {1}}, circular):
        unheld = [Event(event_id="E1", type="order", occurred_at=PULLED, properties=properties)]
        assert EventPages("src", noted, PULLED).encode(unheld, 1) is None and noted.total == 0


# -- through the pipeline: column by column against record by record ------------------------

_HALF_ID = "E\ud800"


def _stage(tmp: Path, pages: list[Page[Event]], settings: SourceSettings) -> dict[str, Any]:
    """Stage instance ``shop`` whose events come in ``pages``: what a person would see of it
    (the staging file, the summary, the rejects file)."""
    staged = stage(tmp, FakeSource("events", pages), settings, pulled_at=PULLED)
    (stream,) = staged.streams
    summary = stream.summary
    return {
        "staged": stream.path.read_text(encoding="utf-8") if stream.path.exists() else None,
        "summary": summary.model_dump(exclude={"rejects_file", "started_at", "seconds"}),
        "rejects": (
            Path(summary.rejects_file).read_text(encoding="utf-8") if summary.rejects_file else None
        ),
        "failed": staged.failed,
    }


def _pages(seed: int) -> list[Page[Event]]:
    """Pages of awkward events; some holding one or two records the columns do not take (no
    id, an amount out of range, a float amount, a property JSON cannot hold) or that cannot
    be written (half a UTF-16 pair)."""
    rng = random.Random(seed)
    pages = [Page([_event(rng) for _ in range(25)])]  # the first goes by columns
    for _ in range(5):
        events = [_event(rng) for _ in range(rng.choice([0, 1, 25, 120]))]
        for at in rng.sample(range(len(events)), min(len(events), rng.choice([0, 1, 2]))):
            events[at] = rng.choice([
                dataclasses.replace(events[at], event_id=""),
                dataclasses.replace(events[at], value=Decimal(10) ** 15),
                dataclasses.replace(events[at], properties={"note": "half \udc00 pair"}),
                dataclasses.replace(events[at], event_id=_HALF_ID),
                dataclasses.replace(events[at], value=1.5),  # type: ignore[arg-type]
                dataclasses.replace(events[at], properties={"tags": {"a"}}),
            ])  # fmt: skip
        pages.append(Page(events))
    return pages


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
@pytest.mark.parametrize("seed", range(6))
def test_pages_of_events_stage_as_they_do_record_by_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, on_bad_row: str
) -> None:
    settings = SourceSettings(on_bad_row=on_bad_row, max_bad_rows=1000)
    encoded: list[int] = []
    encode = EventPages.encode

    def counted(self: EventPages, events: list[Event], first_seq: int) -> Any:
        rows = encode(self, events, first_seq)
        encoded.append(len(rows or ()))
        return rows

    monkeypatch.setattr(EventPages, "encode", counted)
    by_columns = _stage(tmp_path / "columns", _pages(seed), settings)
    assert encoded[0] == 25  # the first page went by columns
    monkeypatch.setattr(EventPages, "plain", lambda self, events: False)
    by_records = _stage(tmp_path / "records", _pages(seed), settings)
    if by_columns["failed"]:
        # a failed source's staging file is never loaded (nor kept): record by record it
        # holds the rows before the bad one, by columns its whole page but the bad row
        del by_columns["staged"], by_records["staged"]
    assert by_columns == by_records


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
def test_rows_that_cannot_be_written_are_rejected_where_they_stand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_bad_row: str
) -> None:
    """Two rows of a page that cannot be written (half a UTF-16 pair), each after warnings:
    the same rejects, counts and warnings as record by record, whether the first stops the
    source or both are skipped."""
    late = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    events = [
        Event(event_id=f"E{i}", type="order", occurred_at=late if i % 2 else PULLED,
              properties={"note": "half \udc00 pair" if i in (3, 6) else "ok"})
        for i in range(1, 9)
    ]  # fmt: skip
    settings = SourceSettings(on_bad_row=on_bad_row)
    by_columns = _stage(tmp_path / "columns", [Page(events)], settings)
    monkeypatch.setattr(EventPages, "plain", lambda self, events: False)
    by_records = _stage(tmp_path / "records", [Page(events)], settings)
    if on_bad_row == "fail":
        del by_columns["staged"], by_records["staged"]
    assert by_columns == by_records
    assert by_columns["summary"]["records"] == (6 if on_bad_row == "skip" else 2)


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
def test_an_amount_that_is_not_a_number_is_a_bad_row(tmp_path: Path, on_bad_row: str) -> None:
    """A Decimal NaN (what Decimal("NaN") makes of a platform's "NaN") is a bad record named
    as one — it stopped the pull with decimal.InvalidOperation, an internal error."""
    events = [
        Event(event_id="E1", type="order", occurred_at=PULLED, value=Decimal("1.5")),
        Event(event_id="E2", type="order", occurred_at=PULLED, value=Decimal("NaN")),
        Event(event_id="E3", type="order", occurred_at=PULLED, value=Decimal("-sNaN")),
    ]
    staged = _stage(tmp_path / "s", [Page(events)], SourceSettings(on_bad_row=on_bad_row))
    if on_bad_row == "fail":
        assert staged["failed"]
        assert staged["summary"]["error"] == "shop event E2: amount is not a number (NaN)"
    else:
        assert staged["summary"]["records"] == 1 and staged["summary"]["rejected"] == 2
        assert staged["rejects"].splitlines()[1:] == [
            "shop event E2,amount is not a number (NaN)",
            "shop event E3,amount is not a number (-sNaN)",
        ]
