"""The files connector on its own: streaming, snapshots, bad input, atomic audience files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from segsync.connector import AudienceSpec, Batch, ConnectorContext, Member, Purpose
from segsync.connectors.files import FilesConnector, FilesSettings
from segsync.errors import InputError


def make(tmp_path: Path, **settings: Any) -> FilesConnector:
    ctx = ConnectorContext(instance="src", base_dir=tmp_path, work_dir=tmp_path / "work")
    return FilesConnector(FilesSettings(**settings), ctx)


def collect(stream: Any) -> list[Any]:
    async def run() -> list[Any]:
        return [page async for page in stream]

    return asyncio.run(run())


def test_contacts_stream_in_pages_with_consent_and_attributes(tmp_path: Path) -> None:
    rows = ["id,email,opt,fname,city"] + [
        f"{i},p{i}@x.org,{'yes' if i % 2 else 'no'},N{i},Lyon" for i in range(7)
    ]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    conn = make(
        tmp_path,
        page_size=3,
        contacts={
            "path": "c.csv",
            "consent": {"email_marketing": "opt"},
            "attributes": {"first_name": "fname"},
        },
    )
    pages = collect(conn.source.contacts(None))
    assert [len(p.records) for p in pages] == [3, 3, 1]
    assert all(p.snapshot for p in pages)
    assert [p.cursor is not None for p in pages] == [False, False, True]
    first = pages[0].records[1]
    assert first.source_id == "1"
    assert first.consent == {Purpose.EMAIL_MARKETING: True}
    assert first.attributes == {"first_name": "N1", "city": "Lyon"}
    # unchanged files: nothing to pull
    assert collect(conn.source.contacts(pages[-1].cursor)) == []


def test_jsonl_events_with_value_and_utc_time(tmp_path: Path) -> None:
    lines = [
        {
            "oid": "a",
            "cid": "1",
            "at": "2026-01-01T01:00:00+02:00",
            "amount": "12.30",
            "channel": "web",
        },
        {"oid": "b", "cid": "2", "at": "2026-01-02T00:00:00Z", "amount": 5},
    ]
    (tmp_path / "o.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    conn = make(
        tmp_path,
        events={
            "path": "o.jsonl",
            "id": "oid",
            "contact_id": "cid",
            "occurred_at": "at",
            "value": "amount",
        },
    )
    (page,) = collect(conn.source.events(None))
    first, second = page.records
    assert first.occurred_at.isoformat() == "2025-12-31T23:00:00"
    assert str(first.value) == "12.30" and first.type == "order"
    assert first.properties == {"channel": "web"}
    assert str(second.value) == "5"


def test_glob_and_missing_file_errors(tmp_path: Path) -> None:
    conn = make(tmp_path, contacts={"path": "exports/c-*.csv"})
    with pytest.raises(InputError, match=r"connectors\.src\.contacts: no file matches"):
        collect(conn.source.contacts(None))
    conn = make(tmp_path, contacts={"path": "nope.csv"})
    with pytest.raises(InputError, match="file not found"):
        collect(conn.source.contacts(None))


@pytest.mark.parametrize(
    ("content", "settings", "message"),
    [
        ("email\nx@y.org\n", {}, r"missing column\(s\) 'id'.*the header has: email"),
        ("id,email\n,x@y.org\n", {}, r"c\.csv:2: empty id"),
        (
            "id,email\n1,x@y.org,extra\n",
            {},
            r"c\.csv:2: 3 fields where the header has 2 \(a separator",
        ),
        (
            "id,email,opt\n1,x@y.org,perhaps\n",
            {"consent": {"email_marketing": "opt"}},
            r"c\.csv:2: column 'opt': expected yes/no",
        ),
        (
            "id,email,u\n1,x@y.org,yesterday\n",
            {"updated_at": "u"},
            r"c\.csv:2: column 'u': expected an ISO 8601",
        ),
        (  # a quote left open swallows a separator: the values shift left
            'id,email,opt,u\n1,"x@y.org,"yes,2026-01-01\n',
            {"consent": {"email_marketing": "opt"}, "updated_at": "u"},
            r"c\.csv:2: column 'opt': expected yes/no.*found '2026-01-01' \(this row has 3 "
            r"fields where the header has 4: is a quote left open, or a separator missing\?\)$",
        ),
        (  # ... or the lines after it, up to the next quote
            'id,email,opt\n1,"x@y.org,yes\n2,y@y.org,no\n3,z@y.org",maybe\n',
            {"consent": {"email_marketing": "opt"}},
            r"c\.csv:2: column 'opt': expected yes/no.*found 'maybe' \(this record runs from "
            r"line 2 to line 4: is a quote left open\?\)$",
        ),
        (  # ... or the rest of the file
            'id,email\n1,"x@y.org\n' + "2,y@y.org\n" * 20_000,
            {},
            r"c\.csv:2: malformed CSV: a field is longer than 131,072 characters \(is a quote "
            r"left open on this line\?\)",
        ),
    ],
)
def test_bad_input_names_file_line_and_expectation(
    tmp_path: Path, content: str, settings: dict[str, Any], message: str
) -> None:
    (tmp_path / "c.csv").write_text(content)
    conn = make(tmp_path, contacts={"path": "c.csv", **settings})
    with pytest.raises(InputError, match=message):
        collect(conn.source.contacts(None))


def test_a_broken_json_line_is_named_with_its_column(tmp_path: Path) -> None:
    """json's own wording ("Invalid control character at") reads on into the column, once."""
    (tmp_path / "c.jsonl").write_text('{"id": "1", "email": "x@y.org"}\n{"id": "2", "email": "x@\n')
    conn = make(tmp_path, contacts={"path": "c.jsonl"})
    with pytest.raises(InputError) as raised:
        collect(conn.source.contacts(None))
    assert str(raised.value).endswith(
        "c.jsonl:2: not valid JSON (Invalid control character at column 25)"
    )


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_bytes("id,email\n1,é@x.org\n".encode("latin-1"))
    conn = make(tmp_path, contacts={"path": "c.csv"})
    with pytest.raises(InputError, match=r"not utf-8 text.*encoding"):
        collect(conn.source.contacts(None))
    conn = make(tmp_path, contacts={"path": "c.csv", "encoding": "latin-1"})
    assert collect(conn.source.contacts(None))[0].records[0].email == "é@x.org"


def test_audience_file_is_written_atomically_and_idempotently(tmp_path: Path) -> None:
    conn = make(tmp_path, output_dir="out")

    async def scenario() -> None:
        ref = await conn.destination.ensure_audience(
            AudienceSpec(sync="s", name="VIP / Été 2026", kind="csv")
        )
        assert ref.created and ref.id == "VIP_Été_2026.csv"
        again = await conn.destination.ensure_audience(
            AudienceSpec(sync="s", name="VIP / Été 2026", kind="csv")
        )
        assert not again.created
        members = [Member(key=k) for k in ("b@x.org", "a@x.org")]
        for _ in range(2):  # applying the same batch twice is harmless
            results = await conn.destination.apply_batch(Batch(ref, adds=members))
            assert [(r.key, r.ok) for r in results] == [("b@x.org", True), ("a@x.org", True)]
        assert (tmp_path / "out" / ref.id).read_text().splitlines() == [
            "email",
            "a@x.org",
            "b@x.org",
        ]
        await conn.destination.apply_batch(
            Batch(ref, removes=[Member(key="a@x.org"), Member(key="zz@x.org")])
        )
        assert (tmp_path / "out" / ref.id).read_text().splitlines() == ["email", "b@x.org"]

    asyncio.run(scenario())
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_check_reports_unreadable_and_writable(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("id,email\n1,a@b.org\n")
    conn = make(tmp_path, contacts={"path": "c.csv"}, output_dir="out")
    result = asyncio.run(conn.check())
    assert result.ok and "c.csv readable" in result.detail and "writable" in result.detail
