"""Segment conditions: what is accepted runs in DuckDB and matches a plain-Python reading;
what is hostile or broken is refused with the offending text quoted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from segsync.errors import ConfigError
from segsync.where import ALLOWED_FUNCTIONS, compile_where, referenced_columns

COLUMNS = {
    "email": "text", "country": "text", "age": "integer", "revenue": "decimal",
    "score": "double", "vip": "boolean", "signup_date": "date", "last_order_at": "timestamp",
}  # fmt: skip
TODAY = dt.date.today()
ROWS: list[dict[str, Any]] = [
    {"email": "a@x.org", "country": "FR", "age": 30, "revenue": Decimal("120.50"), "score": 0.5, "vip": True, "signup_date": dt.date(2024, 1, 5), "last_order_at": dt.datetime.combine(TODAY, dt.time()) - dt.timedelta(days=10)},
    {"email": "b@y.com", "country": "DE", "age": 45, "revenue": Decimal("0"), "score": 2.25, "vip": False, "signup_date": dt.date(2023, 6, 1), "last_order_at": dt.datetime.combine(TODAY, dt.time()) - dt.timedelta(days=400)},
    {"email": "C@x.org", "country": "BE", "age": None, "revenue": Decimal("999.99"), "score": None, "vip": None, "signup_date": None, "last_order_at": None},
    {"email": None, "country": "FR", "age": 19, "revenue": Decimal("1000.00"), "score": -1.0, "vip": True, "signup_date": dt.date(2026, 2, 28), "last_order_at": dt.datetime(2020, 1, 1)},
    {"email": "e@x.org", "country": None, "age": 61, "revenue": None, "score": 10.0, "vip": False, "signup_date": dt.date(2022, 12, 31), "last_order_at": dt.datetime.combine(TODAY, dt.time()) - dt.timedelta(days=200)},
]  # fmt: skip


def _days_ago(r: dict[str, Any]) -> int | None:
    moment = r["last_order_at"]
    return None if moment is None else (TODAY - moment.date()).days


ACCEPTED: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("country = 'FR'", lambda r: r["country"] == "FR"),
    ("country <> 'FR'", lambda r: r["country"] is not None and r["country"] != "FR"),
    ("country != 'FR'", lambda r: r["country"] is not None and r["country"] != "FR"),
    ("Country IN ('FR', 'BE')", lambda r: r["country"] in ("FR", "BE")),
    ("country NOT IN ('FR')", lambda r: r["country"] is not None and r["country"] != "FR"),
    ("age > 29 AND age <= 45", lambda r: r["age"] is not None and 29 < r["age"] <= 45),
    ("age BETWEEN 19 AND 30", lambda r: r["age"] is not None and 19 <= r["age"] <= 30),
    ("age IS NULL", lambda r: r["age"] is None),
    ("email IS NOT NULL AND email LIKE '%@x.org'", lambda r: r["email"] is not None and r["email"].endswith("@x.org")),
    ("email ILIKE 'c@%'", lambda r: r["email"] is not None and r["email"].lower().startswith("c@")),
    ("lower(email) = 'c@x.org'", lambda r: r["email"] is not None and r["email"].lower() == "c@x.org"),
    ("revenue >= 1000", lambda r: r["revenue"] is not None and r["revenue"] >= 1000),
    ("revenue + 0.01 > 1000", lambda r: r["revenue"] is not None and r["revenue"] + Decimal("0.01") > 1000),
    ("coalesce(revenue, 0) = 0", lambda r: (r["revenue"] or 0) == 0),
    ("score * 2 > 1 OR vip", lambda r: (r["score"] is not None and r["score"] * 2 > 1) or r["vip"] is True),
    ("-score > 0", lambda r: r["score"] is not None and -r["score"] > 0),
    ("vip", lambda r: r["vip"] is True),
    ("NOT vip", lambda r: r["vip"] is False),
    ("vip IS NOT TRUE", lambda r: r["vip"] is not True),
    ("signup_date >= DATE '2024-01-01'", lambda r: r["signup_date"] is not None and r["signup_date"] >= dt.date(2024, 1, 1)),
    ("year(signup_date) = 2023", lambda r: r["signup_date"] is not None and r["signup_date"].year == 2023),
    ("last_order_at >= current_date - INTERVAL 30 DAY", lambda r: (d := _days_ago(r)) is not None and d <= 30),
    ("last_order_at < now() - INTERVAL '180 days'", lambda r: (d := _days_ago(r)) is not None and d > 180),
    ("date_diff('day', last_order_at, current_date) BETWEEN 100 AND 300", lambda r: (d := _days_ago(r)) is not None and 100 <= d <= 300),
    ("CASE WHEN country = 'FR' THEN age > 20 ELSE vip END", lambda r: (r["age"] is not None and r["age"] > 20) if r["country"] == "FR" else r["vip"] is True),
    ("CAST(age AS DOUBLE) / 2 > 20", lambda r: r["age"] is not None and r["age"] / 2 > 20),
    ("length(trim(email)) = 7 AND starts_with(email, 'a')", lambda r: r["email"] is not None and len(r["email"]) == 7 and r["email"].startswith("a")),
    ("age % 2 = 1", lambda r: r["age"] is not None and r["age"] % 2 == 1),
    ("TRUE", lambda r: True),
    ("(country = 'FR') -- French only", lambda r: r["country"] == "FR"),
]  # fmt: skip


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE profiles (id INTEGER, email VARCHAR, country VARCHAR, age BIGINT, "
        "revenue DECIMAL(18,4), score DOUBLE, vip BOOLEAN, signup_date DATE, last_order_at TIMESTAMP)"
    )
    for i, r in enumerate(ROWS):
        con.execute("INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [i, *r.values()])
    return con


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted_conditions_select_what_python_selects(
    con: duckdb.DuckDBPyConnection, text: str, expected: Callable[[dict[str, Any]], bool]
) -> None:
    expr = compile_where(text, COLUMNS, location="segments.s.where")
    sql = f"SELECT id FROM profiles WHERE {expr.sql(dialect='duckdb')} ORDER BY id"
    got = [row[0] for row in con.execute(sql).fetchall()]
    assert got == [i for i, r in enumerate(ROWS) if expected(r)]


REJECTED: list[tuple[str, str]] = [
    ("", "expected a condition"),
    ("   ", "expected a condition"),
    ("country = 'FR'; DROP TABLE profiles", "';' is not allowed"),
    (
        "country = 'FR' -- '; DROP TABLE profiles",
        "country = 'FR' --",
    ),  # a comment is just a comment
    ("country = 'FR';", "';' is not allowed"),
    ("DROP TABLE profiles", "DROP TABLE profiles"),
    ("DELETE FROM profiles", "DELETE FROM profiles"),
    ("SELECT 1", "subqueries are not allowed"),
    ("age IN (SELECT age FROM profiles)", "subqueries are not allowed"),
    ("EXISTS (SELECT 1)", "subqueries are not allowed"),
    ("country = (SELECT 'FR')", "subqueries are not allowed"),
    ("'a' || (SELECT 'b') = 'ab'", "subqueries are not allowed"),
    ("read_csv('/etc/passwd') IS NOT NULL", 'function "read_csv"'),
    ("getenv('HOME') = 'x'", 'function "getenv"'),
    ("pg_sleep(10) IS NULL", 'function "pg_sleep"'),
    ("strftime(signup_date, '%Y') = '2024'", 'function "strftime"'),
    ("profiles.country = 'FR'", 'qualified names such as "profiles.country"'),
    ("main.profiles.country = 'FR'", "qualified names"),
    ("contry = 'FR'", 'unknown column "contry" (did you mean "country"?)'),
    ("password = 'x'", 'unknown column "password"'),
    ("* = 1", '"*" is not allowed'),
    ("age = ?", "parameters"),
    ("age = $1", "parameters"),
    ("sum(revenue) > 10", "aggregates are not allowed"),
    ("row_number() OVER () > 1", "window functions are not allowed"),
    ("COPY profiles TO '/tmp/x.csv'", "COPY profiles"),
    ("ATTACH 'evil.db'", "ATTACH"),
    ("PRAGMA version", "PRAGMA"),
    ("SET memory_limit = '1GB'", "SET"),
    ("country", "expected a true/false condition"),
    ("age + 1", "expected a true/false condition"),
    ("'yes'", "expected a true/false condition"),
    ("(age > 1", "cannot parse"),
    ("age >", "cannot parse"),
    ("CAST(age AS BLOB) IS NULL", 'casting to "BLOB"'),
    ("country = 'FR' AND " * 2000 + "TRUE", "characters; at most"),
    ("(" * 80 + "TRUE" + ")" * 80, "nested too deeply"),
    ("cоuntry = 'FR'", 'unknown column "cоuntry"'),  # Cyrillic "о"
]


@pytest.mark.parametrize(
    ("text", "fragment"), REJECTED, ids=[f"{i}:{r[0][:30]}" for i, r in enumerate(REJECTED)]
)
def test_rejected_conditions_quote_the_problem(text: str, fragment: str) -> None:
    if text.startswith("country = 'FR' -- "):
        # a trailing comment cannot smuggle a statement: it is dropped
        expr = compile_where(text, COLUMNS, location="segments.s.where")
        assert expr.sql(dialect="duckdb") == "\"country\" = 'FR'"
        return
    with pytest.raises(ConfigError) as info:
        compile_where(text, COLUMNS, location="segsync.toml: segments.s.where")
    message = str(info.value)
    assert message.startswith("segsync.toml: segments.s.where: ")
    assert fragment in message


def test_columns_are_normalised_and_reported() -> None:
    expr = compile_where("Country = 'FR' AND AGE > 1", COLUMNS, location="x")
    assert referenced_columns(expr) == {"country", "age"}
    assert expr.sql(dialect="duckdb") == '"country" = \'FR\' AND "age" > 1'


def test_unlisted_function_error_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        compile_where("md5(email) = 'x'", COLUMNS, location="x")
    for name in ("lower", "coalesce", "date_diff"):
        assert name in str(info.value)
    assert {"lower", "now", "current_date"} <= ALLOWED_FUNCTIONS
