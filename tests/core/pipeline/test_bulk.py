"""Files read by the engine stage what their pages stage: the same rows, warnings, rejects and
``file:line`` errors, on files made of the awkward values real exports hold (the pages are
the reference: each case stages a file both ways and compares everything)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from segsync.pipeline import load, open_connectors
from segsync.pipeline.pull import StagedStream, _read_staged, stage_source
from segsync.state.store import Store
from segsync.state.workspace import StorePaths

PULLED = dt.datetime(2026, 6, 1, 12, 0)

CONFIG = """
[store]
path = "store.duckdb"

[resolve]
{region}

[attributes]
first_name = "text"
country = "text"
age = "integer"
score = "decimal"
ratio = "double"
vip = "boolean"
born = "date"
seen = "timestamp"
tags = "text"

[connectors.src]
type = "files"
{source}
"""

CONTACTS = """
[connectors.src.contacts]
path = "{path}"
id = "id"
email = "email"
phone = "phone"
country = "country"
updated_at = "updated_at"
{given}
consent = {{ email_marketing = "opt", ad_user_data = "ads" }}
attributes = {{ first_name = "fname", tags = "labels" }}
"""

EVENTS = """
[connectors.src.events]
path = "{path}"
id = "oid"
occurred_at = "at"
contact_id = "cid"
email = "mail"
value = "amount"
{currency}
{kind}
"""

TIMES = ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05+02:00", "2026-01-02", "2026-01-02 03:04",
         " 2026-01-02T03:04:05.5-05:30 ", "2026-01-02T03:04:05.1234567", "2099-01-01T00:00:00Z",
         "2026-06-01T12:04:00", "2026-06-01T12:06:00", "2026-W01-1", "20260102T030405",
         "2026-01-02T03", "0999-01-01", "", "  ", "soon", "2026-02-30", "2026-01-02T24:00",
         "2026-01-02T03:04Z", "2026-01-02 03:04-01:30", "2026-01-02T03:04:05.123456+00:00",
         "\u30002026-01-02T03:04:05Z\u2009", "2026-01-02Z", "2026-01-02+01:00",
         "2026-01-02T03:04:05.12Z", "9998-12-31T23:59:59-01:00"]  # fmt: skip
BOOLS = ["yes", "NO", " Granted ", "opt-in", "opted_out", "1", "0", "T", "", " ", "maybe", "2",
         "\u3000yes", "no\x85", "\x1cy"]  # fmt: skip
EMAILS = ["Ann@Example.org", " bob@example.org ", "not an email", "a@b", "@x.org", "x@y.org ",
          "JOSÉ@EXAMPLE.ORG", "zoë@exämple.org", "", "  ", "two@@x.org", "a b@x.org",
          "\u2003ann@example.org", "ann@example.org\u00a0", "éve@x.org", "ann@x.fr\u200b"]  # fmt: skip
PHONES = ["06 12 34 56 78", "+33 6 12 34 56 78", "0612345678", "(415) 777-1234", "12", "",
          "+44 7400 123456", "0151 23456789", "abc", "+1-800-FLOWERS", "０６１２３４５６７８"]  # fmt: skip
COUNTRIES = ["FR", "fr ", "US", "DE", "GB", "", "Fra", "ß"]
NUMBERS = ["42", " 7 ", "+3", "1.0", "1e3", "abc", "", "-0", "12.50", "0.0000001", "1_000",
           "3.14159", "-2.5", "99999999999999999999", "007"]  # fmt: skip
DATES = ["1990-05-17", "2026-02-30", "0000-01-01", "19900517", "", "1990-5-17"]
AMOUNTS = ["12.30", "+5", ".5", "5.", "1e3", "-0", "", "  ", "abc", "99999999999999.99",
           "100000000000000", "1e30", "NaN", "007.50", "0.00005", "\u00a012.5", "12345678901234",
           "-0000000000000000012.5", "123456789012345.0", "+1234567890123.5"]  # fmt: skip


def _contact_rows(rng: random.Random, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        rows.append({
            "id": rng.choice([f"C{i}", f"C{i}", f"C{i}", f"C{rng.randrange(n)}", "", " "]),
            "email": rng.choice(EMAILS), "phone": rng.choice(PHONES),
            "country": rng.choice(COUNTRIES), "updated_at": rng.choice(TIMES),
            "given": rng.choice(TIMES), "opt": rng.choice(BOOLS), "ads": rng.choice(BOOLS),
            "fname": rng.choice(["Zoë", " Ann ", "", "Ö" * 3, 'He said "hi", twice', "\u3000Ann", "Ann\u2028", "~"]),
            "first_name": rng.choice(["shadowed", ""]), "age": rng.choice(NUMBERS),
            "score": rng.choice(NUMBERS), "ratio": rng.choice(NUMBERS),
            "vip": rng.choice(BOOLS), "born": rng.choice(DATES), "seen": rng.choice(TIMES),
            "labels": rng.choice(["a,b", "", "line\nbreak"]), "extra": "ignored",
        })  # fmt: skip
    return rows


def _event_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        rows.append({
            "oid": rng.choice([f"O{i}", f"O{i}", f"O{rng.randrange(n)}", ""]),
            "at": rng.choice(TIMES), "cid": rng.choice(["C1", " C2 ", "", "C3"]),
            "mail": rng.choice(EMAILS), "amount": rng.choice(AMOUNTS),
            "cur": rng.choice(["EUR", " usd ", ""]), "kind": rng.choice(["order", "", "refund"]),
            "channel": rng.choice(["web", "", "app"]),
        })  # fmt: skip
    return rows


def _jsonish(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    """The same row as a JSON export might hold it: typed values, nulls, missing keys."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        roll = rng.random()
        if roll < 0.05:
            continue  # missing
        if roll < 0.1:
            out[key] = None
        elif roll < 0.15 and value.strip().lstrip("+-").isdigit() and len(value) < 18:
            out[key] = int(value)
        elif roll < 0.18 and value in ("yes", "NO", "1", "0"):
            out[key] = value in ("yes", "1")
        elif roll < 0.2:
            out[key] = rng.choice([1.5, 0.1, 1e16, -0.0, 3, ["x", 1], {"k": "v"}, True])
        else:
            out[key] = value
    if rng.random() < 0.3:  # another key order
        keys = list(out)
        rng.shuffle(keys)
        out = {k: out[k] for k in keys}
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]], *, bom: bool = False) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict[str, Any]], rng: random.Random) -> None:
    lines = [json.dumps(r, ensure_ascii=rng.random() < 0.5) for r in rows]
    odd = [
        "",
        "   ",
        "not json",
        "[1, 2]",
        '"text"',
        '{"oid": "X1",}',
        '{"oid": NaN}',
        "\t",
        '{"oid": "X2", "v": nan}',
        '{"oid": "X3", "v": [1, -INF]}',
        '{"id": "X4", "v": Infinity}',
    ]
    for extra in odd:
        lines.insert(rng.randrange(len(lines)), extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _project(tmp_path: Path, source: str, region: str = 'default_region = "FR"') -> Path:
    config = tmp_path / "segsync.toml"
    config.write_text(CONFIG.format(region=region, source=source), encoding="utf-8")
    return config


def _stage(config_path: Path, *, bulk: bool) -> dict[str, Any]:
    """Stage every stream of ``src``, by the engine or by pages; what each one staged."""
    config = load(config_path)
    connector = open_connectors(config, ["src"])["src"]
    store = Store.memory()
    paths = StorePaths(config_path.parent / f"{'bulk' if bulk else 'pages'}.duckdb")
    staged = asyncio.run(
        stage_source(
            config,
            connector,
            paths=paths,
            cursors={},
            pulled_at=PULLED,
            engine=store.engine if bulk else None,
        )
    )
    out: dict[str, Any] = {}
    for index, item in enumerate(staged.streams):
        out[item.summary.stream] = _result(store, item, index, bulk)
    store.close()
    return out


def _result(store: Store, item: StagedStream, index: int, bulk: bool) -> dict[str, Any]:
    s = item.summary
    if not s.error:
        if bulk:
            assert item.bulk is not None, "read page by page"
        elif s.pages:
            _read_staged(store.engine, item, index)  # repeated ids: as loading counts them
    result: dict[str, Any] = {
        "error": s.error,
        "records": s.records,
        "warnings": s.warnings,
        "samples": list(s.warning_samples),
        "rejected": s.rejected,
        "rejects": Path(s.rejects_file).read_text() if s.rejects_file else None,
        "cursor": item.cursor is not None,
    }
    if s.error:
        return result
    key = "source_id" if item.contacts else "event_id"
    columns = [c for c in store.engine.columns(str(item.table)) if c != "seq"]
    select = ", ".join(f"CAST({c} AS VARCHAR)" for c in columns)
    result["rows"] = store.con.execute(
        f"SELECT {select} FROM {item.table} ORDER BY {key}"
    ).fetchall()
    return result


def _same(tmp_path: Path, source: str, **kwargs: str) -> dict[str, Any]:
    config = _project(tmp_path, source, **kwargs)
    pages, bulk = _stage(config, bulk=False), _stage(config, bulk=True)
    for stream in pages:
        for key in pages[stream]:
            assert bulk[stream][key] == pages[stream][key], (stream, key)
    return bulk


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("on_bad_row", ['on_bad_row = "skip"\nmax_bad_rows = 100000', ""])
def test_csv_contacts_and_events_stage_as_their_pages_do(
    tmp_path: Path, seed: int, on_bad_row: str
) -> None:
    rng = random.Random(seed)
    _write_csv(tmp_path / "c.csv", _contact_rows(rng, 400), bom=seed == 2)
    _write_csv(tmp_path / "e.csv", _event_rows(rng, 300))
    given = 'consent_updated_at = "given"' if seed == 1 else ""
    source = (
        on_bad_row
        + CONTACTS.format(path="c.csv", given=given)
        + EVENTS.format(path="e.csv", currency='currency = "cur"', kind='type_column = "kind"')
    )
    got = _same(tmp_path, source)
    if on_bad_row:
        assert got["contacts"]["rejected"] > 10 and got["contacts"]["records"] > 100
        assert got["events"]["rejected"] > 10 and got["events"]["records"] > 50
    else:
        assert got["contacts"]["error"] and ".csv:" in got["contacts"]["error"]


@pytest.mark.parametrize("seed", [3, 4])
def test_jsonl_contacts_and_events_stage_as_their_pages_do(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    contacts = [_jsonish(rng, r) for r in _contact_rows(rng, 400)]
    events = [_jsonish(rng, r) for r in _event_rows(rng, 300)]
    _write_jsonl(tmp_path / "c.jsonl", contacts, rng)
    _write_jsonl(tmp_path / "e.jsonl", events, rng)
    source = (
        'on_bad_row = "skip"\nmax_bad_rows = 100000\nphone_region = "DE"'
        + CONTACTS.format(path="c.jsonl", given='consent_updated_at = "given"')
        + EVENTS.format(path="e.jsonl", currency='default_currency = "EUR"', kind="")
    )
    got = _same(tmp_path, source, region="")
    assert got["contacts"]["records"] > 100 and got["events"]["records"] > 50


def test_clean_files_take_no_row_through_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's shapes are read by SQL alone (the lanes aside): no row goes back to the
    source to be read in Python."""
    from segsync.connectors.files import FilesSource
    from segsync.sandbox.synth import generate

    def no_rows(*args: Any) -> Any:
        raise AssertionError(f"rows read in Python: {args[-1]}")

    monkeypatch.setattr(FilesSource, "_numbered_rows", no_rows)
    generate(tmp_path / "data", seed=5, contacts=300, orders=900, as_of=dt.date(2026, 5, 1))
    source = CONTACTS.format(path="data/contacts.csv", given="").replace(
        'attributes = { first_name = "fname", tags = "labels" }', ""
    ).replace('"opt"', '"email_opt_in"').replace('"ads"', '"ads_opt_in"') + EVENTS.format(
        path="data/orders.jsonl", currency='currency = "currency"', kind=""
    ).replace('"oid"', '"order_id"').replace('"at"', '"ordered_at"').replace(
        '"cid"', '"customer_id"'
    ).replace('email = "mail"\n', "")
    got = _same(tmp_path, source)
    assert got["contacts"]["records"] == 300 and got["events"]["records"] == 900


def test_a_file_the_engine_refuses_is_read_by_its_pages(tmp_path: Path) -> None:
    """A record with a field too many: DuckDB's reader refuses the file, so the stream is
    paged — and fails as the pages fail, naming the line."""
    (tmp_path / "c.csv").write_text("id,email\n1,a@x.org\n2,b@x.org,extra\n", encoding="utf-8")
    source = '[connectors.src.contacts]\npath = "c.csv"\n'
    config = _project(tmp_path, source)
    got = _stage(config, bulk=False)
    assert got["contacts"]["error"].endswith(
        "c.csv:3: 3 fields where the header has 2 (a separator inside a value that is not quoted?)"
    )
    assert _stage(config, bulk=True) == got


def _stage_bulk(config_path: Path, threads: int) -> dict[str, Any]:
    """Stage ``src`` by the engine on a store running ``threads`` threads."""
    config = load(config_path)
    connector = open_connectors(config, ["src"])["src"]
    store = Store.memory(options={"threads": threads})
    staged = asyncio.run(
        stage_source(
            config,
            connector,
            paths=StorePaths(config_path.parent / "bulk.duckdb"),
            cursors={},
            pulled_at=PULLED,
            engine=store.engine,
        )
    )
    out = {i.summary.stream: _result(store, i, n, True) for n, i in enumerate(staged.streams)}
    store.close()
    return out


def _big_events(path: Path, n: int, bad: dict[int, dict[str, Any]]) -> None:
    """``n`` order lines (several of DuckDB's 4 MiB read buffers), line ``i`` replaced by
    ``bad[i]``."""
    lines = []
    for i in range(1, n + 1):
        row = {"oid": f"E{i:06d}", "at": "2026-01-02T03:04:05Z", "cid": f"C{i % 997}",
               "amount": f"{i % 500}.25", "note": "x" * 60}  # fmt: skip
        lines.append(json.dumps(bad.get(i, row)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("threads", [1, 2])
def test_rows_of_a_file_larger_than_a_read_buffer_keep_their_line_numbers(
    tmp_path: Path, threads: int
) -> None:
    """A file DuckDB reads in several buffers at once keeps its rows' order: a row read in
    Python is its own line's (not another line's, which would then be staged twice), and of
    a repeated id the last line wins. (DuckDB 2.0 reordered the rows of a table made through
    an ``IN`` list of 5 or more values, which the white-space rule uses.)"""
    n = 60_000
    odd = {"oid": "E000101", "at": "2026-01-02T03:04:05Z", "cid": "C1", "amount": 5000.5}
    again = {"oid": "E000050", "at": "2026-01-02T03:04:05Z", "cid": "C9", "amount": "777.00"}
    _big_events(tmp_path / "e.jsonl", n, {101: odd, n: again})
    source = EVENTS.format(path="e.jsonl", currency="", kind="")
    got = _stage_bulk(_project(tmp_path, source), threads)["events"]
    assert got["error"] is None
    rows = {r[0]: r for r in got["rows"]}
    assert len(rows) == n - 1  # E060000's line held E000050 again
    assert "5000.5000" in rows["E000101"]  # its own line's amount, read in Python
    assert "777.0000" in rows["E000050"] and "C9" in rows["E000050"]  # the last line's


@pytest.mark.parametrize("threads", [1, 2])
def test_a_bad_row_far_into_a_large_file_is_named_by_its_own_line(
    tmp_path: Path, threads: int
) -> None:
    n = 60_000
    bad = {"oid": "E040000", "at": "soon", "cid": "C1", "amount": "1.00"}
    _big_events(tmp_path / "e.jsonl", n, {40_000: bad})
    source = EVENTS.format(path="e.jsonl", currency="", kind="")
    got = _stage_bulk(_project(tmp_path, source), threads)["events"]
    assert got["error"] and "e.jsonl:40000:" in got["error"], got["error"]


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as JSON Lines, nothing odd in them (see :func:`_write_jsonl` for that)."""
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _keyed_by_email(tmp_path: Path, rows: list[dict[str, Any]], more: str = "") -> str:
    """A sign-up form's export (``mail``, ``at``): its contacts written to ``n.jsonl``, keyed
    by their email, and the source's settings (``more`` added to them)."""
    _write_lines(tmp_path / "n.jsonl", rows)
    return (
        '\n[connectors.src.contacts]\npath = "n.jsonl"\nid = "mail"\nemail = "mail"\n'
        f'{more}updated_at = "at"\n'
    )


def test_warning_examples_mask_a_contact_id_that_is_an_email(tmp_path: Path) -> None:
    """A source keyed by email (a sign-up form's export) names its rows in warnings by a
    masked id, in both ways of staging: the examples are kept in run reports."""
    rows = [
        {"mail": "jonas.meyer@example.org", "at": "2099-01-01T00:00:00Z", "tel": "12"},
        {"mail": "ann@example.org", "at": "2026-01-02T00:00:00Z", "tel": "06 12 34 56 78"},
    ]
    got = _same(tmp_path, _keyed_by_email(tmp_path, rows, 'phone = "tel"\n'))["contacts"]
    samples = " ".join(str(s) for s in got["samples"])
    assert got["warnings"] >= 2 and "jonas.meyer@example.org" not in samples, samples
    assert "contact j***@example.org" in samples, samples


def test_a_repeated_id_is_named_in_the_warning(tmp_path: Path) -> None:
    """The warning about repeated ids names the first ids repeated, in the file's order (an
    email masked), the same by pages and by the engine, so a person can find the rows."""
    rows = [
        {"mail": "zoe@example.org", "at": "2026-01-01T00:00:00Z"},
        {"mail": "ann@example.org", "at": "2026-01-02T00:00:00Z"},
        {"mail": "bob@example.org", "at": "2026-01-02T00:00:00Z"},
        {"mail": "ann@example.org", "at": "2026-01-03T00:00:00Z"},
        {"mail": "zoe@example.org", "at": "2026-01-04T00:00:00Z"},
        {"mail": "ann@example.org", "at": "2026-01-05T00:00:00Z"},
    ]
    events = [{"oid": f"O{i}", "at": "2026-01-01", "cid": "C1"} for i in (1, 2, 1, 3, 2, 4)]
    _write_lines(tmp_path / "e.jsonl", events)
    source = _keyed_by_email(tmp_path, rows) + EVENTS.format(path="e.jsonl", currency="", kind="")
    got = _same(tmp_path, source)
    assert got["contacts"]["samples"] == [
        "src contacts: 3 × a record repeated an id; the last one won; e.g. contact "
        "z***@example.org, contact a***@example.org"
    ]
    assert got["contacts"]["records"] == 6 and len(got["contacts"]["rows"]) == 3
    assert got["events"]["samples"] == [
        "src events: 2 × a record repeated an id; the last one won; e.g. event O1, event O2"
    ]


def _lines_both_ways(
    tmp_path: Path, contacts: list[str], events: list[str], settings: str = ""
) -> dict[str, Any]:
    """Contacts and events given as JSON lines, staged by pages and by the engine (equal)."""
    (tmp_path / "c.jsonl").write_text("\n".join(contacts) + "\n", encoding="utf-8")
    (tmp_path / "e.jsonl").write_text("\n".join(events) + "\n", encoding="utf-8")
    source = (
        settings
        + CONTACTS.format(path="c.jsonl", given="")
        + EVENTS.format(path="e.jsonl", currency='default_currency = "EUR"', kind="")
    )
    return _same(tmp_path, source)


def test_a_key_named_twice_keeps_its_last_value_as_the_pages_do(tmp_path: Path) -> None:
    """A JSON object that names a key twice is read as Python reads it (the last value wins),
    not as the engine's lookups would (the first): any key of a contact, and a key an event's
    field is read from. (A key named twice among an event's other keys stays twice in its
    properties: docs/user-guide.md.)"""
    contacts = [
        '{"id": "C1", "email": "first@x.org", "email": "last@x.org", "fname": "Ann"}',
        '{"id": "C2", "email": "c@x.org", "opt": "yes", "opt": "no"}',
        '{"id": "C3", "email": "d@x.org", "fname": "Bo", "extra": 1, "extra": 2}',
        '{"id": "C4", "email": "e@x.org", "fname": "Cy"}',
    ]
    events = [
        '{"oid": "O1", "at": "2026-01-02", "cid": "C1", "amount": "5", "amount": "7"}',
        '{"oid": "O2", "at": "2026-01-02", "cid": "C1", "mail": null, "mail": "q@x.org"}',
        '{"oid": "O3", "oid": "O4", "at": "2026-01-02", "cid": "C2", "channel": "web"}',
        '{"oid": "O5", "at": "2026-01-02", "cid": "C2", "amount": "1", "channel": "app"}',
    ]
    got = _lines_both_ways(tmp_path, contacts, events)
    contacts_rows = {r[0]: r for r in got["contacts"]["rows"]}
    assert contacts_rows["C1"][1] == "last@x.org"
    events_rows = {r[0]: r for r in got["events"]["rows"]}
    assert sorted(events_rows) == ["O1", "O2", "O4", "O5"]
    assert events_rows["O1"][5] == "7.0000" and events_rows["O2"][4] == "q@x.org"


def test_a_number_json_loads_refuses_is_refused_as_the_pages_do(tmp_path: Path) -> None:
    """DuckDB's JSON takes inf, nan and infinity in any case; json.loads takes only NaN,
    Infinity and -Infinity. A line holding one of the others is rejected as unreadable, as
    the pages reject it, wherever it stands (a key read or not, in a list)."""
    contacts = [
        '{"id": "C1", "email": "a@x.org", "extra": nan}',
        '{"id": "C2", "email": "b@x.org", "extra": [1, -INF]}',
        '{"id": "C3", "email": "c@x.org", "extra": {"n": [Infinity, NaN]}}',
        '{"id": "C4", "email": "d@x.org", "fname": "info: nan"}',
    ]
    events = [
        '{"oid": "O1", "at": "2026-01-02", "cid": "C1", "x": inf}',
        '{"oid": "O2", "at": "2026-01-02", "cid": "C1", "x": NaN}',
        '{"oid": "O3", "at": "2026-01-02", "cid": "C1", "amount": -Infinity}',
        '{"oid": "O4", "at": "2026-01-02", "cid": "C1", "x": [iNf]}',
    ]
    got = _lines_both_ways(tmp_path, contacts, events, 'on_bad_row = "skip"\nmax_bad_rows = 10\n')
    assert got["contacts"]["records"] == 2 and got["contacts"]["rejected"] == 2
    assert got["events"]["records"] == 1 and got["events"]["rejected"] == 3


def test_the_strip_in_sql_is_pythons_for_every_white_space_character() -> None:
    """``bulk_sql.strip`` trims what ``str.strip`` trims: its set is every character of
    ``str.isspace``, and its shortcut (an end from ``!`` to U+0084 is left as it is) holds
    none of them; texts with each at either end, or inside, come out as Python's."""
    import sys

    import duckdb

    from segsync.pipeline import bulk_sql

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert sorted(bulk_sql.WHITESPACE) == spaces
    assert not [s for s in spaces if 33 <= ord(s) <= 132]
    texts = ["", "a", "~", "\x84", "é", "a b", "ab", "\x85"]
    texts += [t for s in spaces for t in (f"{s}a", f"a{s}", f"{s}a{s}{s}", s, f"é{s}", f"a{s}b")]
    con = duckdb.connect()
    got = con.execute(f"SELECT {bulk_sql.strip('t')} FROM unnest(?) AS u(t)", [texts]).fetchall()
    assert [g for (g,) in got] == [t.strip() for t in texts]


def test_half_a_surrogate_pair_is_refused_by_name(tmp_path: Path) -> None:
    """JSON may escape half of a UTF-16 pair alone ("\\ud800"): json.loads takes it, DuckDB's
    JSON refuses it, and no encoding can write it. The line is rejected, naming the escape,
    both ways; a whole pair (an emoji) is a character like any other."""
    contacts = [
        '{"id": "C1", "email": "a@x.org", "fname": "x\\ud800"}',
        '{"id": "C2", "email": "b@x.org", "fname": "\\ud83d\\ude00 \\uDC00"}',
        '{"id": "C3", "email": "c@x.org", "fname": "\\ud83d\\ude00"}',
    ]
    events = [
        '{"oid": "O1", "at": "2026-01-02", "cid": "C1", "x": {"y": ["\\udfff"]}}',
        '{"oid": "O2", "at": "2026-01-02", "cid": "C1", "x": "\\ud83d\\ude00"}',
    ]
    got = _lines_both_ways(tmp_path, contacts, events, 'on_bad_row = "skip"\n')
    assert got["contacts"]["records"] == 1 and got["contacts"]["rejected"] == 2
    assert got["events"]["records"] == 1 and got["events"]["rejected"] == 1
    rejected = got["contacts"]["rejects"]
    assert 'c.jsonl:2,"not valid text: \\udc00 is half of a UTF-16 pair' in rejected
    got = _lines_both_ways(tmp_path, contacts[2:] + contacts[:1], events[1:])
    assert got["contacts"]["error"].endswith(
        "c.jsonl:2: not valid text: \\ud800 is half of a UTF-16 pair without its other half, "
        "not a character"
    )


def test_json_nested_deeper_than_python_reads_is_refused_by_name(tmp_path: Path) -> None:
    """json.loads recurses once per level and stops within Python's limit of 1,000 frames
    (it stopped the pull with an internal RecursionError, both ways). Such a line is rejected
    by name, both ways; a line with many brackets but little depth reads as any other, and
    so does one nested a few hundred levels down."""
    deep = "[" * 5000 + "]" * 5000
    wide = "[" + ", ".join(["[1, 2]"] * 600) + "]"
    fair = "[" * 300 + "]" * 300
    contacts = [
        f'{{"id": "C1", "email": "a@x.org", "fname": {deep}}}',
        f'{{"id": "C2", "email": "b@x.org", "fname": "Bo", "extra": {wide}}}',
        f'{{"id": "C3", "email": "c@x.org", "fname": "Cy", "extra": {{"n": {fair}}}}}',
        f'{{"id": "C4", "email": "d@x.org", "fname": "Di", "extra": {"{" + deep[:1] + "]}"}}}',
    ]
    events = [
        f'{{"oid": "O1", "at": "2026-01-02", "cid": "C2", "x": {deep}}}',
        f'{{"oid": "O2", "at": "2026-01-02", "cid": "C2", "x": {wide}}}',
        f'{{"oid": "O3", "at": "2026-01-02", "cid": "C3", "x": {fair}}}',
    ]
    got = _lines_both_ways(tmp_path, contacts, events, 'on_bad_row = "skip"\n')
    assert got["contacts"]["records"] == 2 and got["contacts"]["rejected"] == 2
    assert got["events"]["records"] == 2 and got["events"]["rejected"] == 1
    assert 'c.jsonl:1,"JSON nested too deeply to read' in got["contacts"]["rejects"]
    assert "c.jsonl:4,not valid JSON" in got["contacts"]["rejects"]
    got = _lines_both_ways(tmp_path, contacts[1:3] + contacts[:1], events[1:])
    assert got["contacts"]["error"].endswith(
        "c.jsonl:3: JSON nested too deeply to read (arrays or objects inside each other, "
        "about a thousand levels down)"
    )


def test_a_time_in_sql_is_pythons_under_any_session_time_zone() -> None:
    """``bulk_sql.moment`` gives what ``parse_datetime`` gives for every text it reads (a
    text SQL does not read is NULL, and goes to Python): seeded random times — dates near
    the ends of months and years, with and without seconds, fractions and suffixes (``Z``,
    ``±HH:MM`` up to ±23:59) — under a session time zone that is not UTC."""
    import random

    import duckdb

    from segsync.engine import parse
    from segsync.pipeline import bulk_sql
    from segsync.values import parse_datetime

    rnd = random.Random(18)
    texts = ["9998-12-31T23:59:59.999999-23:59", "1000-01-01T00:00:00+23:59", "2026-01-02T03:04Z"]
    for _ in range(3000):
        year = rnd.choice([1000, 1970, 2024, 2026, 9998, rnd.randint(1000, 9998)])
        text = f"{year}-{rnd.randint(1, 12):02d}-{rnd.choice([1, 28, 29, 30, 31]):02d}"
        if rnd.random() < 0.85:
            text += rnd.choice("T ") + f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}"
            if rnd.random() < 0.8:
                text += f":{rnd.randint(0, 59):02d}"
                if rnd.random() < 0.3:
                    text += "." + "".join(rnd.choices("0123456789", k=rnd.randint(1, 6)))
            suffix = rnd.random()
            if suffix < 0.3:
                text += "Z"
            elif suffix < 0.8:
                text += rnd.choice("+-") + f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}"
        texts.append(text)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")

    field = bulk_sql.Src(0)  # its kind k_0 and its stripped text s_0
    query = parse(f"SELECT {bulk_sql.moment(field)} FROM (SELECT 'string' AS k_0, t AS s_0 FROM u)")
    con.execute("CREATE TABLE u AS SELECT unnest(?) AS t", [texts])
    got = con.execute(query.sql("duckdb"))
    read = 0
    for text, (value,) in zip(texts, got.fetchall(), strict=True):
        try:
            expected = parse_datetime(text)
        except ValueError:
            expected = None
        if value is not None:
            read += 1
            assert value == expected, text
    assert read > 2000  # most of them are read in SQL, not sent to Python
