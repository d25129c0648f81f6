"""The store: schema versioning and migrations."""

from __future__ import annotations

import contextlib
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from segsync.engine import parse
from segsync.errors import StoreError
from segsync.state.history import History
from segsync.state.store import SCHEMA_VERSION, Store


def test_new_store_is_migrated_to_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        tables = {r[0] for r in store.rows("SELECT table_name FROM information_schema.tables")}
    expected = {
        "source_contacts",
        "events",
        "cursors",
        "profiles",
        "profile_identifiers",
        "segment_members",
        "segment_history",
        "audiences",
        "sync_state",
        "failures",
        "runs",
        "profile_events",
        "profile_traits",
        "segment_profiles",
        "segment_kpis",
    }
    assert expected <= tables
    with Store.open(path) as store:  # opening again is a no-op
        assert store.schema_version() == SCHEMA_VERSION


def test_store_written_by_newer_segsync_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    newer = SCHEMA_VERSION + 1
    con.execute(f"UPDATE segsync_meta SET value = '{newer}' WHERE key = 'schema_version'")
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"newer segsync .*schema version {newer}"):
        Store.open(path)
    assert path.read_bytes() == before


def _undo_version_8(con: duckdb.DuckDBPyConnection) -> None:
    """Make a current store look like one written before schema version 8."""
    for table in ("suppressions", "erasures", "erasure_tasks"):
        con.execute(f"DROP TABLE {table}")
    for column in ("consent_do_not_profile", "consent_do_not_profile_at"):
        con.execute(f"ALTER TABLE source_contacts DROP COLUMN {column}")


def _undo_version_7(con: duckdb.DuckDBPyConnection) -> None:
    """Make a current store look like one written before schema version 7."""
    _undo_version_8(con)
    con.execute("DROP TABLE trait_models")


def _undo_version_6(con: duckdb.DuckDBPyConnection) -> None:
    """Make a current store look like one written before schema version 6."""
    _undo_version_7(con)
    con.execute("DROP TABLE change_log")


def _undo_version_5(con: duckdb.DuckDBPyConnection) -> None:
    """Make a current store look like one written before schema version 5."""
    _undo_version_6(con)
    con.execute("DROP TABLE trait_clusters")
    con.execute("ALTER TABLE profile_events DROP COLUMN instance")


def _undo_version_4(con: duckdb.DuckDBPyConnection) -> None:
    """Make a current store look like one written before schema version 4."""
    _undo_version_5(con)
    for purpose in ("email_marketing", "ad_user_data", "ad_personalization"):
        con.execute(f"ALTER TABLE source_contacts DROP COLUMN consent_{purpose}_at")
    con.execute("ALTER TABLE runs DROP COLUMN phase")
    con.execute("ALTER TABLE audiences DROP COLUMN settled_size")
    for column in ("average_order_value", "revenue", "mean_value"):
        con.execute(f"ALTER TABLE segment_kpis ALTER COLUMN {column} TYPE DECIMAL(18,4)")


def test_a_version_1_store_is_migrated_to_version_2(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_4(con)
    con.execute("DROP TABLE segment_kpis")
    con.execute("DROP VIEW segment_profiles")
    con.execute("DROP TABLE profile_traits")
    con.execute("DROP TABLE profile_events")
    con.execute("UPDATE segsync_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.rows("SELECT count(*) FROM segment_profiles") == [(0,)]
        assert store.rows("SELECT count(*) FROM profile_events") == [(0,)]


def test_a_version_2_store_is_migrated_to_version_3_keeping_its_history(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))  # a version-2 store with a run's segments in it
    _undo_version_4(con)
    con.execute("DROP TABLE segment_kpis")
    con.execute("UPDATE segsync_meta SET value = '2' WHERE key = 'schema_version'")
    con.execute("INSERT INTO segment_members VALUES ('french', 'k1'), ('french', 'k2')")
    con.execute(
        "INSERT INTO segment_history VALUES ('r1', 'french', 2, 2, 0, '2026-01-01 00:00:00')"
    )
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.rows("SELECT segment, size FROM segment_history") == [("french", 2)]
        assert store.rows("SELECT count(*) FROM segment_members") == [(2,)]
        assert store.rows("SELECT count(*) FROM segment_kpis") == [(0,)]
        columns = [
            r[0]
            for r in store.rows(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'segment_kpis' ORDER BY ordinal_position"
            )
        ]
    assert columns == [
        "run_id",
        "segment",
        "size",
        "share",
        "entered",
        "left",
        "conversion_rate",
        "average_order_value",
        "revenue",
        "mean_value",
        "kpi_window",
        "min_size",
        "too_small",
        "computed_at",
    ]


def test_a_version_3_store_is_migrated_to_version_4_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_4(con)
    con.execute("UPDATE segsync_meta SET value = '3' WHERE key = 'schema_version'")
    con.execute(
        "INSERT INTO source_contacts (instance, source_id, email, consent_email_marketing, "
        "updated_at) VALUES ('crm', '1', 'a@x.org', false, '2026-01-01 00:00:00')"
    )
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status) "
        "VALUES ('r1', 'run', '2026-01-01 00:00:00', 'ok')"
    )
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        # the answer is kept; when it was given is not known (the record's time is not it)
        assert store.rows(
            "SELECT consent_email_marketing, consent_email_marketing_at FROM source_contacts"
        ) == [(False, None)]
        assert store.rows("SELECT run_id, phase FROM runs") == [("r1", None)]
        # sums of amounts up to 10^14 each cannot overflow any more
        store.con.execute(
            'INSERT INTO segment_kpis (run_id, segment, size, share, entered, "left", '
            "revenue, too_small, computed_at) VALUES "
            "('r1', 's', 1, 1, 0, 0, 1200000000000000000.5, false, now()::TIMESTAMP)"
        )
        assert store.scalar("SELECT revenue FROM segment_kpis") == Decimal("1200000000000000000.5")


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    path.write_text("hello, this is not a database")
    with pytest.raises(StoreError, match=r"not a segsync store|cannot open"):
        Store.open(path)


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        history = History(store.engine)
        with pytest.raises(RuntimeError), store.transaction():
            history.set_cursor("a", "contacts", "x", "r")
            raise RuntimeError
        assert history.cursor("a", "contacts") is None
        with store.transaction():
            history.set_cursor("a", "contacts", "y", "r")
        assert history.cursor("a", "contacts") == "y"


def test_a_version_4_store_is_migrated_to_version_5(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_5(con)
    # a cluster trait of an earlier segsync made this table itself
    con.execute(
        "CREATE TABLE trait_clusters (trait VARCHAR NOT NULL, cluster INTEGER NOT NULL, "
        "label VARCHAR NOT NULL, size BIGINT NOT NULL, centroid JSON, persona VARCHAR)"
    )
    con.execute("INSERT INTO trait_clusters VALUES ('p', 1, 'a', 3, '{}', 'three people')")
    con.execute("UPDATE segsync_meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.rows("SELECT trait, persona FROM trait_clusters") == [("p", "three people")]
        assert "instance" in {r[0] for r in store.rows("DESCRIBE profile_events")}


def test_a_version_5_store_is_migrated_to_version_6_with_an_empty_change_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_6(con)
    con.execute("UPDATE segsync_meta SET value = '5' WHERE key = 'schema_version'")
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.scalar("SELECT count(*) FROM change_log") == 0


def test_a_version_6_store_is_migrated_to_version_7(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_7(con)
    con.execute("UPDATE segsync_meta SET value = '6' WHERE key = 'schema_version'")
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert [r[0] for r in store.rows("DESCRIBE trait_models")] == [
            "trait", "kind", "status", "as_of", "summary",
        ]  # fmt: skip


def test_insert_rows_sends_constant_columns_as_one_value() -> None:
    """Columns holding one value throughout go to DuckDB as that value (faster than a list):
    the rows inserted are the same either way — NULLs, booleans next to integers, one row,
    every column constant."""
    store = Store.memory()
    engine = store.engine
    engine.create_empty("t", {"n": "INTEGER", "s": "VARCHAR", "b": "BOOLEAN", "x": "VARCHAR"})
    rows = [
        [(1, "a", True, None), (2, "a", True, None), (3, "a", True, None)],
        [(4, "same", False, "z"), (4, "same", False, "z")],  # every column constant
        [(5, "one", None, "only")],  # a single row
        [(6, "k", True, "v"), (1, "k", True, "v")],  # bools and ints never mixed up
    ]
    for batch in rows:
        engine.insert_rows("t", ("n", "s", "b", "x"), batch)
    got = engine.rows(parse("SELECT n, s, b, x FROM t ORDER BY n, s"))
    expected = sorted((tuple(r) for batch in rows for r in batch), key=lambda r: (r[0], r[1]))
    assert [tuple(r) for r in got] == expected
    engine.create_empty("m", {"f": "INTEGER", "g": "BOOLEAN"})
    engine.insert_rows("m", ("f", "g"), [(1, True), (True, True)])
    assert [tuple(r) for r in engine.rows(parse("SELECT f, g FROM m"))] == [(1, True), (1, True)]


def test_a_version_7_store_is_migrated_to_version_8_keeping_its_records(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    _undo_version_8(con)
    con.execute("UPDATE segsync_meta SET value = '7' WHERE key = 'schema_version'")
    con.execute(
        "INSERT INTO source_contacts (instance, source_id, email) VALUES ('crm', '1', 'a@x.org')"
    )
    con.close()
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 8
        assert store.rows(
            "SELECT email, consent_do_not_profile, consent_do_not_profile_at FROM source_contacts"
        ) == [("a@x.org", None, None)]
        for table in ("suppressions", "erasures", "erasure_tasks"):
            assert store.scalar(f"SELECT count(*) FROM {table}") == 0


def test_closing_a_store_a_worker_thread_still_uses_interrupts_it(tmp_path: Path) -> None:
    """A run cancelled by Ctrl-C leaves a worker thread inside a statement (a bulk read, a
    batch being recorded): closing the store interrupts that statement and waits for the
    connection instead of failing with DuckDB's "connection is busy"."""
    store = Store.open(tmp_path / "s.duckdb")
    outcome: list[str] = []
    started = threading.Event()

    def work() -> None:
        started.set()
        try:  # minutes of work unless interrupted
            store.con.execute(
                "SELECT sum(hash(a.range * b.range)) FROM range(1000000) a, range(1000000) b"
            ).fetchall()
            outcome.append("finished")
        except duckdb.InterruptException:
            outcome.append("interrupted")

    worker = threading.Thread(target=work)
    worker.start()
    started.wait(10)
    time.sleep(0.3)  # the statement is under way
    try:
        store.close()
    finally:
        with contextlib.suppress(duckdb.ConnectionException):  # stop the worker all the same
            store.con.interrupt()
        worker.join(timeout=30)
    assert outcome == ["interrupted"]


def test_scratch_engines_stage_side_by_side_for_the_store_to_read(tmp_path: Path) -> None:
    """Two threads make temporary tables on scratch engines at once; the store's engine reads
    them after, under the same names, drops them, and writes its own tables to the store —
    nothing of the scratch ones is kept in the file (whose name needs quoting)."""
    path = tmp_path / "my-store.duckdb"
    started = threading.Barrier(2)
    with Store.open(path) as store:
        engine = store.engine

        def stage(name: str, n: int) -> None:
            with engine.scratch() as scratch:
                started.wait(timeout=10)
                scratch.create_table(
                    f"{name}_rows", parse(f"SELECT range AS i FROM range({n})"), temporary=True
                )
                scratch.create_view(
                    name, parse(f"SELECT count(*) AS n FROM {name}_rows"), temporary=True
                )
                # the store's own tables are read from a scratch engine too
                assert scratch.scalar(parse("SELECT count(*) FROM profiles")) == 0

        threads = [threading.Thread(target=stage, args=(f"_s{k}", 1000 * k)) for k in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert engine.scalar(parse("SELECT n FROM _s1")) == 1000
        assert engine.scalar(parse("SELECT n FROM _s2")) == 2000
        engine.drop("_s1", view=True)
        engine.drop("_s1_rows")
        with pytest.raises(Exception, match="_s1"):
            engine.scalar(parse("SELECT n FROM _s1"))
        engine.create_table("kept", parse("SELECT 1 AS one"))
    with Store.open(path) as store:
        assert store.engine.scalar(parse("SELECT one FROM kept")) == 1
        with pytest.raises(Exception, match="_s2"):
            store.engine.scalar(parse("SELECT n FROM _s2"))
