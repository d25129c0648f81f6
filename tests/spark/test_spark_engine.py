"""The Spark engine on a local Spark: each Engine method, the DELETE/UPDATE rewrites of
Parquet tables, temporary tables, paging, errors, and the ledger kept in Spark giving what
the DuckDB ledger gives for the same batches."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from segsync.engine import DataError, parse
from segsync.engine.spark import SparkEngine, SparkOptions
from segsync.state.ledger import Ledger, Outcome
from segsync.state.spark_store import SparkStore
from segsync.state.store import Store

_names = itertools.count()


@pytest.fixture
def engine(spark_session: Any, tmp_path: Path) -> SparkEngine:
    options = SparkOptions(home=tmp_path, database=f"unit_{next(_names)}")
    made = SparkEngine(spark_session, options)
    yield made  # type: ignore[misc]
    made.close()


COLUMNS = {
    "k": "VARCHAR", "n": "INTEGER", "at": "TIMESTAMP", "amount": "DECIMAL(18,4)",
    "ok": "BOOLEAN", "doc": "JSON",
}  # fmt: skip
ROWS = [
    ("a", 1, dt.datetime(2026, 1, 2, 3, 4, 5, 678901), Decimal("12.5000"), True, '{"x": 1}'),
    ("b", None, None, None, False, None),
    ("c", 3, dt.datetime(2026, 6, 30), Decimal("-0.0001"), None, "[]"),
]


@pytest.mark.parametrize("temporary", [False, True])
def test_rows_go_in_and_come_back_with_their_types(engine: SparkEngine, temporary: bool) -> None:
    engine.create_empty("t", COLUMNS, temporary=temporary)
    engine.insert_rows("t", tuple(COLUMNS), ROWS)
    assert sorted(engine.rows(parse("SELECT * FROM t")), key=lambda r: r[0]) == ROWS
    types = engine.columns("t")
    assert types["at"].is_type(exp.DataType.Type.TIMESTAMPNTZ)
    assert types["amount"].is_type(exp.DataType.Type.DECIMAL)
    # into some columns only: the others are NULL
    engine.insert_rows("t", ("k",), [("d",)])
    engine.insert("t", parse("SELECT 'e', 5"), columns=["k", "n"])
    assert engine.dicts(parse("SELECT k, n, ok FROM t WHERE k IN ('d', 'e') ORDER BY k")) == [
        {"k": "d", "n": None, "ok": None},
        {"k": "e", "n": 5, "ok": None},
    ]
    assert engine.scalar(parse("SELECT count(*) FROM t")) == 5


@pytest.mark.parametrize("temporary", [False, True])
def test_delete_and_update_on_parquet_tables(engine: SparkEngine, temporary: bool) -> None:
    engine.create_empty("t", COLUMNS, temporary=temporary)
    engine.insert_rows("t", tuple(COLUMNS), ROWS)
    engine.create_table("gone", parse("SELECT 'a' AS k"), temporary=True)
    # a NULL condition keeps the row (as DELETE does); a subquery works
    engine.execute(parse("DELETE FROM t WHERE n > 2 OR k IN (SELECT k FROM gone)"))
    assert engine.rows(parse("SELECT k FROM t ORDER BY k")) == [("b",)]
    engine.execute(parse("DELETE FROM t WHERE k = 'zzz'"))  # nothing to delete
    engine.insert_rows("t", tuple(COLUMNS), ROWS[:1])
    engine.execute(
        parse(
            "UPDATE t SET n = coalesce(n, 0) + :d, at = :at WHERE k = 'b'",
            d=10,
            at=dt.datetime(2026, 2, 1),
        )
    )
    assert engine.rows(parse("SELECT k, n, at FROM t ORDER BY k")) == [
        ("a", 1, dt.datetime(2026, 1, 2, 3, 4, 5, 678901)),
        ("b", 10, dt.datetime(2026, 2, 1)),
    ]
    engine.execute(parse("DELETE FROM t"))
    assert engine.scalar(parse("SELECT count(*) FROM t")) == 0


def test_update_from_another_table(engine: SparkEngine) -> None:
    engine.create_table(
        "f", parse("SELECT * FROM (VALUES ('a', 1), ('b', 1), ('c', 7)) AS v(k, tries)")
    )
    engine.create_table(
        "b",
        parse("SELECT * FROM (VALUES ('a', 'boom'), ('c', 'bang')) AS v(k, why)"),
        temporary=True,
    )
    engine.execute(
        parse("UPDATE f SET tries = f.tries + 1 FROM b WHERE f.k = b.k AND b.why <> 'bang'")
    )
    assert engine.rows(parse("SELECT k, tries FROM f ORDER BY k")) == [("a", 2), ("b", 1), ("c", 7)]


def test_results_stream_in_batches(engine: SparkEngine) -> None:
    engine.create_empty("r", {"id": "BIGINT"})
    engine.insert_rows("r", ("id",), [(i,) for i in range(25)])
    batches = list(engine.stream(parse("SELECT id FROM r ORDER BY id"), 10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [r[0] for b in batches for r in b] == list(range(25))


def test_parts_line_up_by_profile_key(engine: SparkEngine) -> None:
    engine.create_table(
        "k0",
        parse("SELECT * FROM (VALUES ('p1'), ('p2'), ('p3')) AS v(profile_key)"),
        temporary=True,
    )
    engine.create_table(
        "k1",
        parse("SELECT * FROM (VALUES ('p3', 30), ('p1', 10), ('p2', 20)) AS v(profile_key, x)"),
        temporary=True,
    )
    engine.create_table(
        "k2",
        parse("SELECT * FROM (VALUES ('p1', 1), ('p1', 2), ('p3', 3)) AS v(profile_key, y)"),
        temporary=True,
    )
    assert engine.misaligned("k0", "k1") == 0
    assert engine.misaligned("k0", "k2") > 0  # p1 twice, p2 missing
    engine.line_up("lined", [("k0", ["profile_key"]), ("k1", ["x"])])
    assert engine.rows(parse("SELECT * FROM lined ORDER BY profile_key")) == [
        ("p1", 10), ("p2", 20), ("p3", 30)
    ]  # fmt: skip


def test_many_parts_line_up_in_steps(engine: SparkEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """More parts than one step joins: the steps chain, every column lands, in order, and a
    profile missing from a part gets NULL there."""
    import segsync.engine.spark as spark_engine

    monkeypatch.setattr(spark_engine, "_LINE_UP_STEP", 2)
    engine.create_table(
        "s0", parse("SELECT * FROM (VALUES ('p1'), ('p2')) AS v(profile_key)"), temporary=True
    )
    parts: list[tuple[str, list[str]]] = [("s0", ["profile_key"])]
    for i in range(1, 6):
        engine.create_table(
            f"s{i}",
            parse(
                f"SELECT * FROM (VALUES ('p1', {i}, 'a{i}'), ('p2', {10 * i}, 'b{i}')) "
                f"AS v(profile_key, n{i}, t{i})"
                if i != 3
                else "SELECT * FROM (VALUES ('p2', 30, 'b3')) AS v(profile_key, n3, t3)"
            ),
            temporary=True,
        )
        parts.append((f"s{i}", [f"n{i}", f"t{i}"]))
    engine.line_up("wide", parts)
    assert list(engine.columns("wide")) == [
        "profile_key",
        *(c for i in range(1, 6) for c in (f"n{i}", f"t{i}")),
    ]
    assert engine.rows(parse("SELECT * FROM wide ORDER BY profile_key")) == [
        ("p1", 1, "a1", 2, "a2", None, None, 4, "a4", 5, "a5"),
        ("p2", 10, "b1", 20, "b2", 30, "b3", 40, "b4", 50, "b5"),
    ]


def test_arrays_for_the_predictive_kinds(engine: SparkEngine) -> None:
    import numpy as np

    got = engine.arrays(
        parse("SELECT * FROM (VALUES (1, 2.5, 'a'), (2, NULL, 'b')) AS v(i, x, s) ORDER BY i")
    )
    assert got["i"].dtype == np.int64 and list(got["i"]) == [1, 2]
    assert got["x"][0] == 2.5 and np.isnan(got["x"][1])
    engine.create_empty("scores", {"i": "BIGINT", "p": "DOUBLE"}, temporary=True)
    engine.insert_arrays("scores", {"i": np.array([1, 2]), "p": np.array([0.25, 0.75])})
    assert engine.rows(parse("SELECT i, p FROM scores ORDER BY i")) == [(1, 0.25), (2, 0.75)]


def test_a_statement_failing_on_the_data_is_a_data_error(engine: SparkEngine) -> None:
    with pytest.raises(DataError, match="CAST_INVALID_INPUT"):
        engine.rows(parse("SELECT CAST('abc' AS INTEGER)"))
    with pytest.raises(DataError):
        engine.rows(parse("SELECT no_such_column FROM (SELECT 1 AS x) AS t"))


def _ledger_story(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    ledger.remember_audience("s", "out", "csv", "Audience", "a1")
    ledger.record_batch(
        "s",
        "add",
        [
            Outcome("m1", "p1", True),
            Outcome("m2", "p2", False, error="bad email", permanent=True),
            Outcome("m3", "p3", False, error="timeout"),
        ],
        "r1",
    )
    ledger.record_batch(
        "s",
        "add",
        [
            Outcome("m3", "p3", False, error="timeout again"),
            Outcome("m4", "p4", True, delivered_key="id-4"),
        ],
        "r2",
    )
    ledger.record_batch("s", "add", [Outcome("m3", "p3", True, reason="entered segment")], "r3")
    ledger.record_batch("s", "remove", [Outcome("m1", "p1", True, reason="left segment")], "r3")
    ledger.settle("s", 2)
    engine = ledger.engine
    return {
        "sync_state": engine.rows(parse("SELECT sync, member_key, profile_key, run_id FROM sync_state ORDER BY member_key")),
        "failures": engine.rows(parse("SELECT sync, member_key, op, error, permanent, attempts, run_id FROM failures ORDER BY member_key")),
        "change_log": engine.rows(parse("SELECT run_id, op, member_key, ok, permanent, reason FROM change_log ORDER BY run_id, op, member_key")),
        "audiences": engine.rows(parse("SELECT sync, audience_id, settled_size FROM audiences")),
    }  # fmt: skip


def test_the_ledger_on_spark_records_what_duckdb_records(
    spark_session: Any, tmp_path: Path
) -> None:
    options = SparkOptions(home=tmp_path, database="ledger_story")
    spark = SparkStore.open(tmp_path / "segsync.duckdb", options)
    try:
        got = _ledger_story(Ledger(spark.engine))
    finally:
        spark.close()
    with Store.memory() as duck:
        want = _ledger_story(Ledger(duck.engine))
    assert got == want
    assert got["sync_state"] == [("s", "id-4", "p4", "r2"), ("s", "m3", "p3", "r3")]
    # opened again: the store is there, at the current version
    again = SparkStore.open(tmp_path / "segsync.duckdb", options)
    try:
        assert again.scalar("SELECT count(*) FROM sync_state") == 2
    finally:
        again.close()


def test_csv_staging_of_the_vectorised_ingest(engine: SparkEngine, tmp_path: Path) -> None:
    """The staging format of issue 18's ingest: no header, NULL as \\N, a text starting with
    a backslash escaped by another, JSON as text; the last row per key wins."""
    import csv

    path = tmp_path / "staged.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["1", "a", "2026-01-01T10:00:00", "\\N", '{"x": 1}', "true"])
        writer.writerow(["2", "b", "\\N", "\\\\N is not null", "\\N", "\\N"])
        writer.writerow(["3", "a", "2026-01-02T10:00:00", 'line\nbreak, "quoted"', "[]", "false"])
    columns = {"seq": "BIGINT", "id": "VARCHAR", "at": "TIMESTAMP", "note": "VARCHAR",
               "doc": "JSON", "ok": "BOOLEAN"}  # fmt: skip
    assert engine.load_staged("staged", path, columns, key="id", order="seq") == (2, ["a"])
    assert engine.rows(parse("SELECT id, at, note, doc, ok FROM staged ORDER BY id")) == [
        ("a", dt.datetime(2026, 1, 2, 10), 'line\nbreak, "quoted"', "[]", False),
        ("b", None, "\\N is not null", None, None),
    ]


@pytest.mark.parametrize("check", ["orphans", "keep"])
def test_the_source_guards_and_suppression_at_load_count_on_spark(
    spark_session: Any, tmp_path: Path, check: str
) -> None:
    """The orphan guard's count and the suppression filter at load, on a Spark store: the
    same answers as the DuckDB tests (their IN lists of subqueries, in a FILTER and a WHERE,
    are SQL that Spark takes)."""
    from loadkit import check_keep, check_orphans

    options = SparkOptions(home=tmp_path, database=f"load_checks_{check}")
    store = SparkStore.open(tmp_path / "segsync.duckdb", options)
    try:
        (check_orphans if check == "orphans" else check_keep)(store.engine)
    finally:
        store.close()
