"""The incremental sources' cursor rule (segsync.cursors), shared by HubSpot and Salesforce."""

from __future__ import annotations

import pytest

from segsync.cursors import plan_pull
from segsync.errors import FatalError

BEGAN = 1_700_000_000.0
NOW_MS = int(BEGAN * 1000)


def plan(cursor: str | None, refresh: float | None = 7.0) -> tuple[int | None, str]:
    read = plan_pull(
        cursor, began=BEGAN, overlap_minutes=10, full_refresh_days=refresh, platform="Acme"
    )
    return read.since, read.next_cursor


def test_the_first_pull_reads_everything_and_dates_its_full_read() -> None:
    assert plan(None) == (None, f"{NOW_MS - 600_000}/{NOW_MS}")


def test_a_later_pull_reads_changes_and_keeps_when_the_last_full_read_was() -> None:
    day_ago = NOW_MS - 86_400_000
    assert plan(f"{NOW_MS - 3_600_000}/{day_ago}") == (
        NOW_MS - 3_600_000,
        f"{NOW_MS - 600_000}/{day_ago}",
    )


def test_a_full_read_again_once_the_last_one_is_full_refresh_days_old() -> None:
    week_ago = NOW_MS - 7 * 86_400_000
    assert plan(f"{NOW_MS - 1000}/{week_ago}") == (None, f"{NOW_MS - 600_000}/{NOW_MS}")
    assert plan(f"{NOW_MS - 1000}/{week_ago}", refresh=None)[0] == NOW_MS - 1000


def test_an_older_single_number_cursor_is_read_as_both() -> None:
    assert plan(f"{NOW_MS - 5000}")[0] == NOW_MS - 5000


def test_a_broken_cursor_names_the_platform_and_the_way_out() -> None:
    with pytest.raises(FatalError, match=r"stored Acme cursor 'x/y'.*segsync pull --full"):
        plan("x/y")
