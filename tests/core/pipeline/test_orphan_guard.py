"""The orphan guard's count, on DuckDB (the checks: ``tests/loadkit.py``)."""

from __future__ import annotations

from loadkit import check_orphans

from segsync.state.store import Store


def test_the_orphan_count_names_each_way_an_event_can_name_someone() -> None:
    with Store.memory() as store:
        check_orphans(store.engine)
