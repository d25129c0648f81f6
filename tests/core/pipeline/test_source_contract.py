"""A source that breaks the page contract (yields something other than a ``Page``, or a page
whose records are not a sequence) fails with a message naming the instance, the stream and
what it yielded — not an internal error about an attribute."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeSource, stage

from segsync.connector import (
    Contact,
    ContactBatch,
    Event,
    Page,
    Purpose,
    SourceSettings,
)


@pytest.mark.parametrize(
    ("yielded", "expected"),
    [
        ([Contact(source_id="1")], "shop: the contacts stream yielded list, expected a Page"),
        (None, "shop: the contacts stream yielded NoneType, expected a Page"),
        (Page(None), "shop: a contacts page's records are NoneType, expected a sequence"),  # type: ignore[arg-type]
    ],
)
def test_a_source_breaking_the_page_contract_fails_naming_it(
    tmp_path: Path, yielded: Any, expected: str
) -> None:
    staged = stage(tmp_path, FakeSource("contacts", [yielded]))
    (stream,) = staged.streams
    assert stream.summary.error is not None and expected in stream.summary.error
    assert staged.failed


class _Raising(FakeSource):
    """A source whose second page raises what a plugin's bug raises (``yielded[0]``)."""

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        yield Page([Contact(source_id="1", email="a@example.com")])
        raise self.yielded[0]


@pytest.mark.parametrize("error", [ValueError("zzz"), KeyError("properties")])
def test_a_source_raising_a_plugin_bug_fails_that_source_naming_it(
    tmp_path: Path, error: Exception
) -> None:
    """Not an "internal error" that stops the run and blames segsync: the source fails, as
    one whose platform failed does, named, and not to be retried as if transient."""
    staged = stage(tmp_path, _Raising("contacts", [error]))
    (stream,) = staged.streams
    expected = f"shop: the contacts stream failed: {type(error).__name__}: {error} (a bug in"
    assert stream.summary.error is not None and expected in stream.summary.error
    assert not stream.summary.transient
    assert staged.failed


_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_BUG = "(a bug in the connector plugin)"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            Contact(source_id="C1", updated_at="2026-01-01T00:00:00Z"),  # type: ignore[arg-type]
            "shop: contact C1: updated_at is a str, expected a datetime or None",
        ),
        (
            Contact(source_id="C1", attributes=["vip"]),  # type: ignore[arg-type]
            "shop: contact C1: attributes is a list, expected a dict",
        ),
        (  # read as no answer, silently, before
            Contact(source_id="C1", consent={Purpose.EMAIL_MARKETING: "yes"}),  # type: ignore[dict-item]
            "shop: contact C1: consent[email_marketing] is a str, expected True, False or None",
        ),
        (
            Contact(
                source_id="ann@example.org",
                consent={Purpose.EMAIL_MARKETING: True},
                consent_at={Purpose.EMAIL_MARKETING: "2026-01-01"},  # type: ignore[dict-item]
            ),
            "shop: contact a***@example.org: consent_at[email_marketing] is a str, expected a "
            "datetime",
        ),
        (
            Contact(source_id="C1", country=33),  # type: ignore[arg-type]
            "shop: contact C1: country is an int, expected a country code (str)",
        ),
        (
            Event(event_id="E1", type="order", occurred_at=dt.date(2026, 1, 1)),  # type: ignore[arg-type]
            "shop: event E1: occurred_at is a date, expected a datetime",
        ),
        (
            Event(event_id="E1", type="order", occurred_at=_AT, value=12.5),  # type: ignore[arg-type]
            "shop: event E1: value is a float, expected a Decimal, an int or None (Decimal(str(x)) "
            "for a float)",
        ),
        (
            Event(event_id="E1", type="order", occurred_at=_AT, value="12.50"),  # type: ignore[arg-type]
            "shop: event E1: value is a str, expected a Decimal, an int or None",
        ),
        (  # failed later, at the load, as an internal error
            Event(event_id="E1", type=None, occurred_at=_AT),  # type: ignore[arg-type]
            "shop: event E1: type is None, expected a non-empty str",
        ),
        (
            Event(event_id="E1", type="order", occurred_at=_AT, properties=[1]),  # type: ignore[arg-type]
            "shop: event E1: properties is a list, expected a dict",
        ),
        (
            Event(event_id="E1", type="order", occurred_at=_AT, properties={"tags": {"a"}}),
            "shop: event E1: properties: cannot stage a value of type set; expected JSON values",
        ),
    ],
)
def test_a_record_of_the_wrong_types_fails_its_source_naming_the_field(
    tmp_path: Path, record: Contact | Event, expected: str
) -> None:
    """A plugin's record whose field has the wrong type fails the source with the record and
    the field named — not an internal error about an attribute ('str' object has no attribute
    'tzinfo'), and not data silently lost — and shows no value (it may be personal data)."""
    source = FakeSource("contacts" if isinstance(record, Contact) else "events", [Page([record])])
    staged = stage(tmp_path, source)
    (stream,) = staged.streams
    error = stream.summary.error
    assert error is not None and expected in error and error.endswith(_BUG), error
    assert "ann@example.org" not in error and "2026-01-01" not in error
    assert staged.failed and not stream.summary.transient


def test_a_page_of_columns_of_the_wrong_types_names_the_record(tmp_path: Path) -> None:
    """The same for a page given as columns (ContactBatch): the first record at fault."""
    batch = ContactBatch(
        source_id=["C1", "C2"],
        updated_at=[_AT, "yesterday"],  # type: ignore[list-item]
    )
    staged = stage(tmp_path, FakeSource("contacts", [Page(batch)]))
    (stream,) = staged.streams
    assert stream.summary.error == (
        "shop: contact C2: updated_at is a str, expected a datetime or None " + _BUG
    )


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            {"consent": {Purpose.EMAIL_MARKETING: [True, "yes"]}},
            "shop: contact C2: consent[email_marketing] is a str, expected True, False or None",
        ),
        ({"country": ["FR", 33]}, "shop: contact C2: country is an int, expected a country code"),
    ],
)
def test_a_page_of_columns_refuses_what_its_records_would(
    tmp_path: Path, columns: dict[str, Any], expected: str
) -> None:
    """Values a page of columns would read as none (a consent of "yes", a numeric country)
    fail the source as the same contacts given one by one do."""
    batch = ContactBatch(source_id=["C1", "C2"], **columns)
    staged = stage(tmp_path, FakeSource("contacts", [Page(batch)]))
    (stream,) = staged.streams
    assert stream.summary.error is not None and stream.summary.error.startswith(expected)
    (tmp_path / "records").mkdir()
    one_by_one = stage(tmp_path / "records", FakeSource("contacts", [Page(list(batch))]))
    assert one_by_one.streams[0].summary.error == stream.summary.error


def test_records_of_the_right_typesstage(tmp_path: Path) -> None:
    """What the contract allows: an int id or amount, naive or aware times, no consent."""
    from decimal import Decimal

    staged = stage(
        tmp_path,
        FakeSource("events", [Page([
            Event(event_id=1, type="order", occurred_at=dt.datetime(2026, 1, 1), value=12),  # type: ignore[arg-type]
            Event(event_id="E2", type="order", occurred_at=_AT, value=Decimal("1.5"),
                  currency="EUR", properties={"at": _AT, "n": [1, None]}),
        ])]),
    )  # fmt: skip
    (stream,) = staged.streams
    assert stream.summary.error is None and stream.summary.records == 2


_HALF = "not valid text: \\ud800 is half of a UTF-16 pair without its other half, not a character"


def _half_pair_pages() -> list[tuple[str, FakeSource]]:
    """The same records three ways: a page of columns, a page of records, and events. JSON
    escapes half a UTF-16 pair alone ("\\ud800"), which json.loads reads into a str."""
    ids = ["C1", "C\ud800", "C3", "C4"]
    emails = ["a@example.org", "b@example.org", "c\ud800@example.org", None]
    batch = ContactBatch(source_id=ids, email=emails)
    events = [
        Event(event_id=f"E{i}", type="order", occurred_at=_AT, properties={"note": n})
        for i, n in enumerate(["ok", "half \ud800 pair", "ok", "fine"], start=1)
    ]
    return [
        ("columns", FakeSource("contacts", [Page(batch)])),
        ("records", FakeSource("contacts", [Page(list(batch))])),
        ("events", FakeSource("events", [Page(events)])),
    ]


@pytest.mark.parametrize("way", ["columns", "records", "events"])
def test_half_a_utf16_pair_fails_the_source_naming_the_record(tmp_path: Path, way: str) -> None:
    """A text no encoding can write (a lone surrogate) fails its source as bad input naming
    the record and the field — it stopped the pull with an internal UnicodeEncodeError."""
    source = dict(_half_pair_pages())[way]
    staged = stage(tmp_path, source)
    (stream,) = staged.streams
    expected = {
        "columns": f"shop contact C\\ud800: source_id: {_HALF}",
        "records": f"shop contact C\\ud800: source_id: {_HALF}",
        "events": f"shop event E2: properties.note: {_HALF}",
    }[way]
    assert stream.summary.error == expected
    assert staged.failed and not stream.summary.transient


@pytest.mark.parametrize("way", ["columns", "records", "events"])
def test_half_a_utf16_pair_is_a_bad_row_to_skip(tmp_path: Path, way: str) -> None:
    """With on_bad_row = "skip", the record is rejected by name and the others stage, in
    order, as every other bad row is."""
    source = dict(_half_pair_pages())[way]
    staged = stage(tmp_path, source, SourceSettings(on_bad_row="skip"))
    (stream,) = staged.streams
    summary = stream.summary
    assert summary.error is None
    assert summary.rejects_file is not None
    rejected = Path(summary.rejects_file).read_text(encoding="utf-8").splitlines()
    if way == "events":
        assert summary.records == 3 and summary.rejected == 1
        assert rejected[1:] == [f'shop event E2,"properties.note: {_HALF}"']
        kept = ["E1", "E3", "E4"]
    else:
        assert summary.records == 2 and summary.rejected == 2
        assert rejected[1:] == [
            f'shop contact C\\ud800,"source_id: {_HALF}"',
            f'shop contact C3,"email: {_HALF}"',
        ]
        kept = ["C1", "C4"]
    staged_rows = stream.path.read_text(encoding="utf-8").splitlines()
    assert [row.split(",")[1] for row in staged_rows] == kept


def test_half_a_pair_is_named_down_to_its_key() -> None:
    """In attributes or properties, the message names the key the text sits under."""
    import io

    from segsync.pipeline.staging import EVENT_COLUMNS, StagingWriter

    writer = StagingWriter(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), EVENT_COLUMNS)
    cases = {
        "properties.tags.x": {"tags": ["ok", {"y": 1, "x": "\ud800"}]},
        "properties.k\\udc00": {"k\udc00": 1},
        "properties.a.b": {"a": {"b": ["\udbff"]}},
    }
    for where, properties in cases.items():
        with pytest.raises(ValueError) as caught:
            writer.write({"seq": 1, "event_id": "E1", "properties": properties})
        assert str(caught.value).startswith(f"{where}: not valid text: \\u"), caught.value
