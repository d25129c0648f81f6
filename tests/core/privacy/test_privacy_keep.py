"""Suppression at load, on DuckDB (the checks: ``tests/loadkit.py``)."""

from __future__ import annotations

from loadkit import check_keep

from segsync.state.store import Store


def test_each_suppressed_identifier_keeps_its_rows_out_at_load() -> None:
    with Store.memory() as store:
        check_keep(store.engine)
