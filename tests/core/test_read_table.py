"""``Engine.read_table`` on DuckDB: a Parquet table in the JSON Lines reader's shape — each
column's kind and text by its type, rows numbered in the files' order, the other columns as
JSON, absent columns NULL — and a table it cannot find is a ReadError."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from segsync.connector import TableRef
from segsync.engine import ReadError, parse
from segsync.engine.duckdb import DuckDBEngine


def test_a_parquet_table_reads_as_typed_objects(tmp_path: Path) -> None:
    con = duckdb.connect()
    for part, first in ((0, 1), (1, 3)):
        con.execute(
            f"""COPY (SELECT i AS id, 'p' || i AS name, i % 2 = 0 AS flag, i * 1.25 AS amount,
                    CAST(i * 2.5 AS DOUBLE) AS score,
                    TIMESTAMPTZ '2026-01-01 10:00:00+02' + i * INTERVAL 1 HOUR AS at,
                    DATE '2026-02-01' AS day, [i, i] AS pair,
                    CASE WHEN i = 4 THEN NULL ELSE 'x' END AS note
                FROM range({first}, {first + 2}) t(i) ORDER BY i)
            TO '{tmp_path}/part-{part}.parquet' (FORMAT parquet)"""
        )
    engine = DuckDBEngine(con)
    keys = ["id", "flag", "amount", "score", "at", "day", "pair", "note", "missing"]
    columns = engine.read_table(
        "v", TableRef("parquet", f"{tmp_path}/*.parquet"), keys, rest_without=keys
    )
    assert columns == ["id", "name", "flag", "amount", "score", "at", "day", "pair", "note"]
    rows = engine.rows(parse("SELECT * FROM v ORDER BY _row"))
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    _, kind, present, *fields, rest = rows[3]
    assert kind == "object" and present == "0,1,2,3,4,5,6,7"
    assert list(zip(fields[::2], fields[1::2], strict=True)) == [
        ("integer", "4"),
        ("boolean", "true"),
        ("string", "5.00"),
        ("string", "10.0"),
        ("string", "2026-01-01 12:00:00"),  # 10:00+02 plus 4 hours, in UTC
        ("string", "2026-02-01"),
        ("array", "[4,4]"),
        ("null", None),
        (None, None),
    ]
    assert rest == '{"name":"p4"}'


def test_a_table_the_engine_cannot_find_is_a_read_error(tmp_path: Path) -> None:
    engine = DuckDBEngine(duckdb.connect())
    with pytest.raises(ReadError):
        engine.read_table("v", TableRef("parquet", f"{tmp_path}/none.parquet"), ["id"])
    with pytest.raises(ReadError):
        engine.read_table("v", TableRef("table", "nowhere.customers"), ["id"])
    (tmp_path / "csv.parquet").write_text("id,email\n1,a@b.c\n", encoding="utf-8")
    with pytest.raises(ReadError):
        engine.read_table("v", TableRef("parquet", f"{tmp_path}/csv.parquet"), ["id"])
