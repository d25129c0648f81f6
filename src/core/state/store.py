"""The store: one DuckDB file holding everything segsync knows between runs.

The schema is versioned. Opening a store applies the migrations it lacks, in one transaction
each; a store written by a newer segsync (a higher schema version) is refused rather than
damaged. Tables:

``source_contacts``     staged contact records, the latest copy of each per source instance
``events``              staged events (orders, deals, …) per source instance
``cursors``             where each source stream resumes
``profiles``            resolved people (rebuilt by every run; columns follow ``[attributes]``)
``profile_identifiers`` every platform-side id of every profile
``profile_events``      events attached to a profile (rebuilt by every run; times UTC)
``profile_traits``      computed trait values per profile (rebuilt by every run, ``[traits]``)
``segment_profiles``    view: ``profiles`` joined with ``profile_traits``; segments read it
``segment_members``     segment membership as of the last run
``segment_history``     size, entered and left per segment per run
``segment_kpis``        KPIs per segment (and group) per run: size, share, entered, left,
                        conversion rate, average order value, revenue, mean value
``audiences``           the destination audience each sync pushes to, and how many members
                        it was meant to hold when a push last completed
``sync_state``          members each destination *confirmed* — nothing else
``failures``            changes that failed, with the reason; retried by later runs
``runs``                one row per run, with its report
``trait_clusters``      the clusters each ``cluster`` trait fitted, with their personas
``change_log``          every change a push applied or failed, batch by batch: who, what, why
                        (kept ``[privacy] retention_days``)
``trait_models``        the latest fit of each ``clv``/``propensity`` trait: status, as-of and
                        its diagnostics (parameters, fit quality, AUC, calibration) as JSON
``suppressions``        salted hashes of identifiers never to profile again (``segsync forget``,
                        ``[privacy] suppression_file``)
``erasures``            one row per erasure request: hashed identifier, status, what was erased
``erasure_tasks``       what an erasure still owes a destination (a removal, a record deletion),
                        with the address it needs until the destination confirms

:meth:`Store.compact` rewrites the file so that deleted rows leave no bytes behind (DuckDB
keeps deleted data in freed blocks): ``segsync forget`` calls it after erasing someone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from segsync.engine import Engine
from segsync.engine.duckdb import DuckDBEngine
from segsync.errors import StoreError
from segsync.state.workspace import StorePaths
from segsync.values import utcnow

if TYPE_CHECKING:
    from segsync.config import Config
    from segsync.engine.spark import SparkOptions

__all__ = ["SCHEMA_VERSION", "Store", "utcnow"]

_SETTLE_SECONDS = 30.0
"""How long closing (or settling) a store waits for a cancelled worker's statement to stop."""

log = logging.getLogger("segsync.state.store")

_MIGRATIONS: list[list[str]] = [
    # 1: the initial schema
    [
        """CREATE TABLE source_contacts (
            instance VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
            email VARCHAR, phone VARCHAR, attributes JSON,
            consent_email_marketing BOOLEAN, consent_ad_user_data BOOLEAN,
            consent_ad_personalization BOOLEAN,
            updated_at TIMESTAMP, run_id VARCHAR)""",
        """CREATE TABLE events (
            instance VARCHAR NOT NULL, event_id VARCHAR NOT NULL, type VARCHAR NOT NULL,
            occurred_at TIMESTAMP NOT NULL, contact_id VARCHAR, email VARCHAR,
            value DECIMAL(18,4), currency VARCHAR, properties JSON, run_id VARCHAR)""",
        """CREATE TABLE cursors (
            instance VARCHAR NOT NULL, stream VARCHAR NOT NULL, cursor VARCHAR,
            updated_at TIMESTAMP NOT NULL, run_id VARCHAR)""",
        """CREATE TABLE profiles (profile_key VARCHAR NOT NULL)""",
        """CREATE TABLE profile_identifiers (
            profile_key VARCHAR NOT NULL, instance VARCHAR NOT NULL, source_id VARCHAR NOT NULL)""",
        """CREATE TABLE segment_members (segment VARCHAR NOT NULL, profile_key VARCHAR NOT NULL)""",
        """CREATE TABLE segment_history (
            run_id VARCHAR NOT NULL, segment VARCHAR NOT NULL, size BIGINT NOT NULL,
            entered BIGINT NOT NULL, "left" BIGINT NOT NULL, computed_at TIMESTAMP NOT NULL)""",
        """CREATE TABLE audiences (
            sync VARCHAR NOT NULL, destination VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL, audience_id VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)""",
        """CREATE TABLE sync_state (
            sync VARCHAR NOT NULL, member_key VARCHAR NOT NULL, profile_key VARCHAR,
            delivered_at TIMESTAMP NOT NULL, run_id VARCHAR)""",
        """CREATE TABLE failures (
            sync VARCHAR NOT NULL, member_key VARCHAR NOT NULL, op VARCHAR NOT NULL,
            profile_key VARCHAR, error VARCHAR NOT NULL, permanent BOOLEAN NOT NULL,
            attempts INTEGER NOT NULL, first_failed_at TIMESTAMP NOT NULL,
            last_failed_at TIMESTAMP NOT NULL, run_id VARCHAR)""",
        """CREATE TABLE runs (
            run_id VARCHAR NOT NULL, command VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP, status VARCHAR NOT NULL, exit_code INTEGER,
            pid INTEGER, host VARCHAR, version VARCHAR, report JSON)""",
    ],
    # 2: computed traits — events with their profile, trait values, what segments read
    [
        """CREATE TABLE profile_events (
            profile_key VARCHAR NOT NULL, event_id VARCHAR NOT NULL, type VARCHAR NOT NULL,
            occurred_at TIMESTAMP NOT NULL, value DECIMAL(18,4), properties JSON)""",
        """CREATE TABLE profile_traits (profile_key VARCHAR NOT NULL)""",
        """CREATE VIEW segment_profiles AS
            SELECT * FROM profiles LEFT JOIN profile_traits USING (profile_key)""",
    ],
    # 3: KPIs per segment (and group) per run
    [
        """CREATE TABLE segment_kpis (
            run_id VARCHAR NOT NULL, segment VARCHAR NOT NULL, size BIGINT NOT NULL,
            share DOUBLE NOT NULL, entered BIGINT NOT NULL, "left" BIGINT NOT NULL,
            conversion_rate DOUBLE, average_order_value DECIMAL(18,4),
            revenue DECIMAL(18,4), mean_value DECIMAL(18,4), kpi_window VARCHAR,
            min_size BIGINT, too_small BOOLEAN NOT NULL, computed_at TIMESTAMP NOT NULL)""",
    ],
    # 4: consent answers dated on their own; a run's last phase; money sums that cannot overflow
    [
        *(
            f"ALTER TABLE source_contacts ADD COLUMN consent_{p}_at TIMESTAMP"
            for p in ("email_marketing", "ad_user_data", "ad_personalization")
        ),
        "ALTER TABLE runs ADD COLUMN phase VARCHAR",
        # members wanted when the sync last pushed to the end: the add guard's baseline
        "ALTER TABLE audiences ADD COLUMN settled_size BIGINT",
        "ALTER TABLE segment_kpis ALTER COLUMN average_order_value TYPE DECIMAL(38,4)",
        "ALTER TABLE segment_kpis ALTER COLUMN revenue TYPE DECIMAL(38,4)",
        "ALTER TABLE segment_kpis ALTER COLUMN mean_value TYPE DECIMAL(38,4)",
    ],
    # 5: the clusters a `cluster` trait fitted (made by the trait itself before, hence IF NOT);
    # the source of each profile event
    [
        """CREATE TABLE IF NOT EXISTS trait_clusters (
            trait VARCHAR NOT NULL, cluster INTEGER NOT NULL, label VARCHAR NOT NULL,
            size BIGINT NOT NULL, centroid JSON, persona VARCHAR)""",
        # the source instance of each profile's event (which syncs a failed source feeds)
        "ALTER TABLE profile_events ADD COLUMN instance VARCHAR",
    ],
    # 6 (issue 16, operations): the per-sync change log, written with each batch's record
    [
        """CREATE TABLE change_log (
            run_id VARCHAR NOT NULL, sync VARCHAR NOT NULL, op VARCHAR NOT NULL,
            member_key VARCHAR NOT NULL, profile_key VARCHAR, ok BOOLEAN NOT NULL,
            permanent BOOLEAN NOT NULL, reason VARCHAR, logged_at TIMESTAMP NOT NULL)""",
    ],
    # 7 (issue 17): the latest fit of each model-fitting trait (clv, propensity)
    [
        """CREATE TABLE trait_models (
            trait VARCHAR NOT NULL, kind VARCHAR NOT NULL, status VARCHAR NOT NULL,
            as_of TIMESTAMP NOT NULL, summary JSON NOT NULL)""",
    ],
    # 8 (issue 15, privacy): suppressions (salted hashes only), erasure records and the work
    # an erasure still owes destinations; the objection to profiling as a consent answer
    [
        """CREATE TABLE suppressions (
            hash VARCHAR NOT NULL, kind VARCHAR NOT NULL, origin VARCHAR NOT NULL,
            request_id VARCHAR, added_at TIMESTAMP NOT NULL, applied BOOLEAN NOT NULL)""",
        """CREATE TABLE erasures (
            request_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            identifier_hash VARCHAR NOT NULL, status VARCHAR NOT NULL,
            requested_at TIMESTAMP NOT NULL, erased_at TIMESTAMP, completed_at TIMESTAMP,
            profiles INTEGER, erased JSON)""",
        """CREATE TABLE erasure_tasks (
            request_id VARCHAR NOT NULL, task VARCHAR NOT NULL, instance VARCHAR NOT NULL,
            sync VARCHAR, audience_id VARCHAR, audience_kind VARCHAR, audience_name VARCHAR,
            member_key VARCHAR, person JSON, status VARCHAR NOT NULL, outcome VARCHAR,
            error VARCHAR, attempts INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL)""",
        "ALTER TABLE source_contacts ADD COLUMN consent_do_not_profile BOOLEAN",
        "ALTER TABLE source_contacts ADD COLUMN consent_do_not_profile_at TIMESTAMP",
    ],
]

SCHEMA_VERSION = len(_MIGRATIONS)


class Store:
    """An open store. Use :meth:`open` (or :meth:`memory` in tests); close with :meth:`close`
    or as a context manager. Everything the domain runs goes through :attr:`engine`."""

    def __init__(
        self,
        path: Path,
        con: duckdb.DuckDBPyConnection,
        options: Mapping[str, str | int] | None = None,
    ) -> None:
        self.path = path
        self.con = con
        self._duckdb = DuckDBEngine(con)
        self.engine: Engine = self._duckdb
        self.options = dict(options or {})

    @classmethod
    def memory(cls, *, options: Mapping[str, str | int] | None = None) -> Store:
        """A new, migrated store that lives in memory only: for tests and experiments."""
        con = duckdb.connect(":memory:", config=_in_order(options))
        store = cls(Path(":memory:"), con, options)
        store._migrate(read_only=False)
        return store

    @classmethod
    def of(cls, config: Config) -> Store:
        """The store ``config`` names: ``[store] path`` with its DuckDB settings, or the
        tables of its Spark (``[store] engine = "spark"``) — see :meth:`open`."""
        return cls.open(config.store_path, options=config.store_options, spark=config.spark_options)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        read_only: bool = False,
        options: Mapping[str, str | int] | None = None,
        spark: SparkOptions | None = None,
    ) -> Store:
        """Open (creating if needed) and migrate the store at ``path``. ``options`` are DuckDB
        settings (``memory_limit``, ``threads``: see ``[store]`` in segsync.toml); DuckDB
        spills past its ``memory_limit`` to ``<store>.work/spill/`` (``temp_directory``, unless
        ``options`` name another), removed when the store is closed. With
        ``spark`` (``[store] engine = "spark"``) the store's tables live in Spark instead
        (:class:`segsync.state.spark_store.SparkStore`); ``path`` still names the lock and
        the work folder."""
        if spark is not None:
            from segsync.state.spark_store import SparkStore

            return SparkStore.open(path, spark, read_only=read_only)
        if read_only and not path.exists():
            raise StoreError(f"{path}: no store yet; run 'segsync run' first")
        path.parent.mkdir(parents=True, exist_ok=True)
        options = _with_spill(path, options)
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_in_order(options))
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    f"{path}: the store is open in another process (a segsync run in progress?)"
                ) from None
            raise StoreError(f"{path}: cannot open the store: {text}") from None
        except duckdb.Error as exc:
            raise StoreError(f"{path}: not a segsync store (DuckDB says: {exc})") from None
        store = cls(path, con, options)
        try:
            store._migrate(read_only=read_only)
        except duckdb.Error as exc:
            con.close()
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(
                f"{path}: the store cannot be read ({first}); it may be damaged (a full disk "
                "or a copy cut short?): restore it from a backup, or move it away to start "
                "afresh (segsync then sends every member again)"
            ) from None
        except BaseException:
            con.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection; a statement a cancelled run's worker thread is still inside
        (Ctrl-C during a bulk read or while a batch is recorded) is interrupted first."""
        self._duckdb.interrupt_scratch(_SETTLE_SECONDS)
        if not self._when_free(self.con.close, _SETTLE_SECONDS):
            self.con.close()  # still busy: DuckDB's own error

    def settle(self, timeout: float = _SETTLE_SECONDS) -> bool:
        """Make the connection free again after a run was cancelled (Ctrl-C) while one of its
        worker threads was inside a statement (a bulk read, a batch being recorded): interrupt
        that statement (a transaction it was in rolls back) and wait, up to ``timeout``
        seconds, until the connection answers (and the threads reading files on scratch
        engines have stopped). True when it does."""
        if not self._duckdb.interrupt_scratch(timeout):
            return False
        return self._when_free(lambda: self.con.execute("SELECT 1").fetchall(), timeout)

    def _when_free(self, action: Callable[[], object], timeout: float) -> bool:
        """Do ``action`` on the connection, interrupting whatever statement keeps it busy,
        until it succeeds (True) or ``timeout`` seconds have passed (False)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                action()
                return True
            except duckdb.ResourceInUseException:
                if time.monotonic() >= deadline:
                    return False
                self.con.interrupt()
                time.sleep(0.02)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------

    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'segsync_meta' AND table_schema = 'main'"
        ).fetchone()
        if not exists or not exists[0]:
            return 0
        row = self.con.execute(
            "SELECT value FROM segsync_meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, *, read_only: bool) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: this store was written by a newer segsync (schema version "
                f"{current}; this segsync understands up to {SCHEMA_VERSION}). Upgrade segsync "
                f"or point store.path at another file; the store was left untouched."
            )
        if current == SCHEMA_VERSION:
            return
        if read_only:
            raise StoreError(f"{self.path}: the store needs migrating; run 'segsync run' first")
        from segsync._version import __version__

        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                if version == 1:
                    self.con.execute(
                        "CREATE TABLE segsync_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
                    )
                for statement in _MIGRATIONS[version - 1]:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT OR REPLACE INTO segsync_meta VALUES ('schema_version', ?), "
                    "('written_by', ?)",
                    [str(version), __version__],
                )
            # (a store in memory is made for a moment, e.g. to describe the schema: not news)
            log.log(
                logging.DEBUG if str(self.path) == ":memory:" else logging.INFO,
                "store %s migrated to schema version %d",
                self.path,
                version,
            )

    # -- compaction ---------------------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the store into a fresh file and put it in place of the old one, so rows
        deleted before leave no bytes in it: DuckDB marks deleted rows and frees their blocks,
        but the old bytes stay in the file (and in the ``.wal``) until overwritten.

        Every table, view and the schema version are copied (``COPY FROM DATABASE``); the
        copy is fsynced and renamed over the store atomically, so a crash leaves either the
        old or the new file. Temporary tables do not survive. The connection is replaced in
        place (``self.con`` and ``self.engine`` keep working). An in-memory store is left
        as it is."""
        if str(self.path) == ":memory:":
            return
        fresh = self.path.with_name(self.path.name + ".compact")
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        name = self.con.execute("SELECT current_database()").fetchone()
        assert name is not None
        try:
            self.con.execute("CHECKPOINT")
            self.con.execute(f"ATTACH '{_quoted(fresh)}' AS segsync_compact")
            try:
                self.con.execute(f'COPY FROM DATABASE "{name[0]}" TO segsync_compact')
            finally:
                self.con.execute("DETACH segsync_compact")
        except duckdb.Error as exc:
            fresh.unlink(missing_ok=True)
            raise StoreError(f"{self.path}: cannot compact the store: {exc}") from None
        self.con.close()
        with contextlib.suppress(OSError):
            os.chmod(fresh, self.path.stat().st_mode & 0o777)
        with open(fresh, "rb") as handle:
            os.fsync(handle.fileno())
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)  # checkpointed
        os.replace(fresh, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self.con = duckdb.connect(str(self.path), config=_in_order(self.options))
        self._duckdb.con = self.con
        log.info("store %s compacted", self.path)

    # -- the schema, as other engines build it ---------------------------------------------

    @staticmethod
    def layout() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        """The current schema, described: every table's columns with their (DuckDB) types,
        and every view's query (DuckDB SQL, portable). Another engine's store
        (:mod:`segsync.state.spark_store`) builds the same tables from it."""
        store = Store.memory()
        try:
            tables: dict[str, dict[str, str]] = {}
            for (name,) in store.rows(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"
            ):
                tables[name] = {
                    str(column): str(type_)
                    for column, type_, *_ in store.rows(f'DESCRIBE "{name}"')
                }
            views = dict(
                store.rows(
                    "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal "
                    "AND schema_name = 'main' ORDER BY view_name"
                )
            )
        finally:
            store.close()
        return tables, {name: _view_query(sql) for name, sql in views.items()}

    # -- helpers --------------------------------------------------------------------------

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        return self.engine.transaction()

    # -- for tests and inspection: raw DuckDB SQL (the domain goes through the engine) -----

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def dicts(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


_REORDERING = "in_clause"
"""DuckDB optimizers that reorder rows: ``in_clause`` turns ``x IN (5 or more constants)``
into a join, and a ``CREATE TABLE … AS`` through that join no longer keeps its query's row
order (DuckDB 2.0, two threads or more). segsync numbers a file's rows by that order
(:meth:`~segsync.engine.Engine.position`) and lines trait tables up by it, so the store's
connections run without them: the ``IN`` is then a chain of comparisons."""


def _in_order(
    options: Mapping[str, str | int] | None,
) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB's settings for a store's connection: ``options``, with the optimizers that
    reorder rows (:data:`_REORDERING`) disabled besides any ``options`` disables."""
    settled: dict[str, str | bool | int | float | list[str]] = dict(options or {})
    named = [n.strip() for n in str(settled.get("disabled_optimizers", "")).split(",")]
    settled["disabled_optimizers"] = ",".join(
        [n for n in named if n and n != _REORDERING] + [_REORDERING]
    )
    return settled


def _with_spill(path: Path, options: Mapping[str, str | int] | None) -> dict[str, str | int]:
    """``options`` with DuckDB's ``temp_directory`` in the store's work folder (beside the
    store with the other work files, not DuckDB's own ``<store>.tmp``); DuckDB creates the
    folder when it first spills and removes it on close. Left to DuckDB when the work folder
    cannot be made (a read-only folder)."""
    settled = dict(options or {})
    if "temp_directory" not in settled:
        work = StorePaths(path).work
        try:
            work.mkdir(exist_ok=True)
        except OSError:
            return settled
        settled["temp_directory"] = str(work / "spill")
    return settled


def _quoted(path: Path) -> str:
    """A path inside a single-quoted SQL string."""
    return str(path).replace("'", "''")


def _view_query(sql: str) -> str:
    """The query of a ``CREATE VIEW name AS query`` statement."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    query = tree.expression if isinstance(tree, exp.Create) else tree
    return str(query.sql(dialect="duckdb"))
