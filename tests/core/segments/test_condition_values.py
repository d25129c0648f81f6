"""Conditions and the values traits can hold; the clock in conditions pinned to the as-of."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from segkit import make_config

from segsync.errors import ConfigError
from segsync.model.where import compile_where, pin_clock

TRAITS = """
[traits.rfm]
kind = "rfm"
event = "order"
ties = "share"

[traits.stage]
kind = "lifecycle"
names = { loyal = "vip" }

[traits.tier]
kind = "value_tier"
quantiles = { low = 0.5, high = 1.0 }
none = "no_orders"
"""


def problems(tmp_path: Path, where: str) -> list[str]:
    try:
        make_config(tmp_path, TRAITS + f'\n[segments.s]\nwhere = "{where}"\n')
    except ConfigError as exc:
        return [e.split(": ", 1)[1] for e in exc.errors]
    return []


def test_values_a_trait_can_hold_pass(tmp_path: Path) -> None:
    assert problems(tmp_path, "rfm IN ('champions', 'slipping') AND stage <> 'vip'") == []
    assert problems(tmp_path, "tier = 'no_orders' OR 'high' = tier") == []
    assert problems(tmp_path, "country = 'anything'") == []  # an attribute: not known


def test_a_renamed_rfm_cell_says_what_it_is_called_now(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, "rfm IN ('at_risk', 'champions')")
    assert problem == (
        "segments.s.where: rfm never holds 'at_risk'; 'at_risk' is now called 'slipping' (its "
        "values: champions, regulars, potential_regulars, recent_first, promising, "
        "need_attention, about_to_sleep, cannot_lose, slipping, hibernating, dormant)"
    )


def test_a_misspelt_value_is_refused_with_a_close_match(tmp_path: Path) -> None:
    found = problems(tmp_path, "stage = 'loyal' OR tier = 'hihg'")
    assert found == [
        "segments.s.where: stage never holds 'loyal' (its values: prospect, new, vip, active, "
        "at_risk, lost)",
        "segments.s.where: tier never holds 'hihg' (did you mean 'high'?) (its values: low, "
        "high, no_orders)",
    ]


def test_the_clock_is_pinned_to_the_as_of() -> None:
    columns = {"last_order_at": "timestamp", "signup_date": "date"}
    tree = compile_where(
        "last_order_at >= now() - INTERVAL 30 DAY AND signup_date < current_date "
        "AND last_order_at < current_timestamp",
        columns,
        location="x",
    )
    pinned = pin_clock(tree, dt.datetime(2020, 7, 1, 15, 30))
    sql = pinned.sql("duckdb")
    assert "NOW(" not in sql.upper()
    assert "CURRENT_DATE" not in sql and "CURRENT_TIMESTAMP" not in sql
    assert sql.count("CAST('2020-07-01 15:30:00' AS TIMESTAMP)") == 2
    assert "CAST('2020-07-01' AS DATE)" in sql
    assert tree.sql("duckdb") != sql  # the condition itself is left as it was


@pytest.mark.parametrize("text", ["current_date", "now()", "current_timestamp"])
def test_every_clock_function_is_pinned(text: str) -> None:
    tree = compile_where(f"last_order_at < {text}", {"last_order_at": "timestamp"}, location="x")
    sql = pin_clock(tree, dt.datetime(2020, 7, 1)).sql("duckdb").upper()
    assert "CURRENT" not in sql and "NOW(" not in sql


def test_a_condition_that_cannot_run_on_its_columns_types_is_refused_when_loaded(
    tmp_path: Path,
) -> None:
    """Found with no data, before a run pulls anything (it used to fail after the pull)."""
    assert problems(tmp_path, "country > 5") == [
        "segments.s.where: the condition cannot run on its columns' types: Cannot compare "
        "values of type VARCHAR and type INTEGER_LITERAL - an explicit cast is required "
        "(country is text)"
    ]
    (problem,) = problems(tmp_path, "revenue > '1,000' AND orders_count > 0")
    assert problem == (
        "segments.s.where: the condition cannot run on its columns' types: Could not convert "
        'string "1,000" to DECIMAL(38,4) (orders_count is integer, revenue is decimal)'
    )
    # however the condition would be cut short (TRUE OR …; a NULL row, FALSE AND …)
    (problem,) = problems(tmp_path, "country IS NULL OR last_order_at > DATE '2026-02-30'")
    assert 'date field value out of range: "2026-02-30"' in problem
    # what runs on the types passes, whatever the data would hold
    for fine in (
        "orders_count > '5'",
        "CAST(country AS INTEGER) > 5",
        "revenue / orders_count > 10",
        "rfm_r >= 4 AND last_order_at > current_date - INTERVAL 30 DAY",
        " AND ".join(f"orders_count <> {i}" for i in range(400)),
    ):
        assert problems(tmp_path, fine) == [], fine
