"""A page of contacts given as columns (``ContactBatch``) stages what its contacts staged one
by one give: the same staging file, byte for byte, and the same warnings with the same
examples — on columns made of the awkward values real platforms hold."""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeSource, stage, staged_one_by_one

from segsync.connector import Contact, ContactBatch, Page, Purpose, SourceSettings
from segsync.pipeline import load
from segsync.pipeline.batches import BatchEncoder
from segsync.pipeline.staging import CONTACT_COLUMNS, Rejects, StagingWriter, contact_encoder
from segsync.pipeline.tally import WarningTally
from segsync.report import SourceSummary

PULLED = dt.datetime(2026, 6, 1, 12, 0)
CONFIG = """
[store]
path = "store.duckdb"
[resolve]
{region}
[attributes]
first_name = "text"
age = "integer"
score = "decimal"
ratio = "double"
vip = "boolean"
born = "date"
seen = "timestamp"
"""
PARIS = dt.timezone(dt.timedelta(hours=2))
TIMES: list[dt.datetime | None] = [
    None, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(2026, 1, 2, 3, 4, 5, 500, tzinfo=PARIS), dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 1, 12, 4), dt.datetime(2026, 6, 1, 12, 6, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 1, 14, 7, tzinfo=PARIS), dt.datetime(2030, 5, 5, 5, 5, 5),
]  # fmt: skip
EMAILS = [None, "Ann@Example.org", " bob@example.org ", "not an email", "a@b", "", "  ",
          "JOSÉ@EXAMPLE.ORG", "zoë@exämple.org", "two@@x.org", "\\back@x.org", 'q"uote@x.org']  # fmt: skip
PHONES = [None, "06 12 34 56 78", "+33 6 12 34 56 78", "(415) 777-1234", "12", "", "abc",
          "+44 7400 123456", "０６１２３４５６７８"]  # fmt: skip
COUNTRIES = [None, "FR", "fr ", "US", "GB", "", "Fra", "ß"]
TEXTS = [None, "Ann", "", "  ", "Zoë", "\\N", "\\x", 'a "quoted", text', "line\nbreak", 42,
         ["a", "b"], 1.5, True]  # fmt: skip
ANY = [None, "", "42", " 7 ", "1.0", "abc", "12.50", 3, 2.5, True, "yes", "2026-01-02",
       "2026-01-02T03:04:05+02:00", "soon", dt.date(2026, 1, 2), [1]]  # fmt: skip
ANSWERS = [None, True, False]


def _config(tmp_path: Path, region: str) -> Any:
    path = tmp_path / "segsync.toml"
    path.write_text(CONFIG.format(region=region), encoding="utf-8")
    return load(path)


def _values(name: str, texts_only: bool) -> list[Any]:
    if texts_only:
        return ["Ann", "Bob", "Zoë"]
    return TEXTS if name == "first_name" else ANY


def _batch(rng: random.Random, n: int, *, texts_only: bool) -> ContactBatch:
    def column(values: list[Any]) -> list[Any]:
        return [rng.choice(values) for _ in range(n)]

    names = ["first_name"] if texts_only else ["first_name", "age", "score", "ratio", "vip",
                                                "born", "seen", "undeclared"]  # fmt: skip
    purposes = rng.sample(list(Purpose), rng.randint(0, len(Purpose)))
    return ContactBatch(
        source_id=[rng.choice(["c", "C,", "\\"]) + str(i) for i in range(n)],
        email=column(EMAILS),
        phone=column(PHONES) if rng.random() < 0.8 else None,
        country=column(COUNTRIES) if rng.random() < 0.8 else None,
        updated_at=column(TIMES),
        attributes={name: column(_values(name, texts_only)) for name in names},
        consent={p: column(ANSWERS) for p in purposes},
        consent_at={p: column(TIMES) for p in purposes if rng.random() < 0.7},
    )


def _by_records(config: Any, settings: SourceSettings, batch: ContactBatch, tmp: Path) -> Any:
    tally = WarningTally("src contacts")
    summary = SourceSummary(instance="src", stream="contacts")
    encode = contact_encoder(
        config, "src", settings, tally, Rejects(tmp / "r.csv", settings, summary), PULLED
    )
    return staged_one_by_one(encode, batch, CONTACT_COLUMNS), tally


def _by_columns(config: Any, settings: SourceSettings, batch: ContactBatch) -> Any:
    tally = WarningTally("src contacts")
    encoder = BatchEncoder(config, settings, tally, PULLED)
    assert encoder.plain(batch)
    out = io.StringIO()
    StagingWriter(out, CONTACT_COLUMNS).write_rows(encoder.encode(batch, 7))
    assert tally.total == 0  # the warnings wait in held
    encoder.held.warn()
    return out.getvalue(), tally


@pytest.mark.parametrize("seed", range(12))
def test_a_batch_stages_as_its_contacts_do(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    region = rng.choice(['default_region = "FR"', ""])
    config = _config(tmp_path, region)
    settings = SourceSettings(phone_region=rng.choice([None, "US"]))
    batch = _batch(rng, rng.choice([1, 40, 300]), texts_only=seed % 3 == 0)
    staged, tally = _by_columns(config, settings, batch)
    expected, expected_tally = _by_records(config, settings, batch, tmp_path)
    assert staged == expected
    assert tally.lines() == expected_tally.lines() and tally.total == expected_tally.total


def test_the_warnings_keep_the_records_order(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    late = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    batch = ContactBatch(
        source_id=["a", "b", "c"],
        email=[None, "bad", "x@y.org"],
        phone=["12", None, "34"],
        updated_at=[late, None, late],
        attributes={"age": ["x", "1", "y"]},
    )
    staged, tally = _by_columns(config, SourceSettings(), batch)
    expected, expected_tally = _by_records(config, SourceSettings(), batch, tmp_path)
    assert staged == expected and tally.lines() == expected_tally.lines()
    assert "contact a" in tally.lines()[0]  # a's phone came first, though its column is later


def test_a_batch_reads_as_its_contacts() -> None:
    at = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    batch = ContactBatch(
        source_id=["1", "2"],
        email=["a@x.org", None],
        attributes={"first_name": ["Ann", None]},
        consent={Purpose.EMAIL_MARKETING: [True, None]},
        consent_at={Purpose.EMAIL_MARKETING: [at, None]},
    )
    assert list(batch) == [
        Contact(source_id="1", email="a@x.org", attributes={"first_name": "Ann"},
                consent={Purpose.EMAIL_MARKETING: True},
                consent_at={Purpose.EMAIL_MARKETING: at}),
        Contact(source_id="2", attributes={"first_name": None}),
    ]  # fmt: skip
    assert len(batch) == 2 and batch[-1] == batch[1:][0]
    with pytest.raises(IndexError):
        batch[2]
    with pytest.raises(ValueError, match="email holds 1 values for 2 contacts"):
        ContactBatch(source_id=["1", "2"], email=["a@x.org"])


def test_a_batch_with_a_record_columns_cannot_take_goes_record_by_record(tmp_path: Path) -> None:
    encoder = BatchEncoder(_config(tmp_path, ""), SourceSettings(), WarningTally("x"), PULLED)
    assert not encoder.plain(ContactBatch(source_id=["1", ""]))
    assert not encoder.plain(ContactBatch(source_id=["1"], consent={"marketing": [True]}))  # type: ignore[dict-item]
    assert encoder.plain(ContactBatch(source_id=["1"], consent={Purpose.AD_USER_DATA: [True]}))


@pytest.mark.parametrize("on_bad_row", ["fail", "skip"])
def test_rows_that_cannot_be_written_are_rejected_where_they_stand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_bad_row: str
) -> None:
    """Two contacts of a batch that cannot be written (half a UTF-16 pair), among others with
    warnings: the same rejects, counts and warnings as record by record, whether the first
    stops the source or both are skipped."""
    late = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    n = 8
    batch = ContactBatch(
        source_id=[f"c{i}" if i != 3 else "c\ud800" for i in range(n)],
        email=[
            "z\udc00@example.org" if i == 6 else "bad" if i % 2 else f"p{i}@example.org"
            for i in range(n)
        ],
        phone=["12"] * n,
        updated_at=[late] * n,
    )
    settings = SourceSettings(on_bad_row=on_bad_row)

    def seen(staged: Any) -> dict[str, Any]:
        (stream,) = staged.streams
        summary = stream.summary
        return {
            "staged": None if staged.failed else stream.path.read_text(encoding="utf-8"),
            "summary": summary.model_dump(exclude={"rejects_file", "started_at", "seconds"}),
            "rejects": Path(summary.rejects_file).read_text(encoding="utf-8")
            if summary.rejects_file
            else None,
        }

    by_columns = seen(stage(tmp_path / "columns", FakeSource("contacts", [Page(batch)]), settings))
    monkeypatch.setattr(BatchEncoder, "plain", lambda self, batch: False)
    by_records = seen(stage(tmp_path / "records", FakeSource("contacts", [Page(batch)]), settings))
    assert by_columns == by_records
    assert by_columns["summary"]["records"] == (6 if on_bad_row == "skip" else 3)
