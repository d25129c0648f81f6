"""The store on Spark: the same tables as the DuckDB file, in a database of Spark's catalog.

The schema is the DuckDB store's, described (:meth:`Store.layout`) and built by the Spark
engine with its own types (``JSON`` is kept as text, ``TIMESTAMP`` as ``TIMESTAMP_NTZ``: UTC
wall clock, as in DuckDB). ``segsync_meta`` records the schema version. A Spark store is
created at the current version; one written by an older segsync would need its own
migration, which this version does not have (it says so rather than guessing).

What stays on the machine that runs segsync: the run lock (``<store>.lock``) and the work
folder (``<store>.work/``: staged pages, rejects, ``status.json``), beside ``[store] path``;
in local mode also the warehouse and the metastore (``<store>.spark/``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlglot import exp

from segsync.engine import parse
from segsync.engine.spark import SparkEngine, SparkOptions
from segsync.engine.spark_session import spark_problem
from segsync.errors import StoreError
from segsync.state.store import SCHEMA_VERSION, Store

__all__ = ["SparkStore"]

log = logging.getLogger("segsync.state.spark_store")

_META = "segsync_meta"


class SparkStore(Store):
    """A :class:`Store` whose tables live in Spark; :attr:`engine` is a
    :class:`SparkEngine`. It has no DuckDB connection (``con``)."""

    def __init__(self, path: Path, engine: SparkEngine) -> None:  # no DuckDB connection
        self.path = path
        self.engine = engine
        self.spark = engine

    @classmethod
    def open(  # type: ignore[override]
        cls, path: Path, options: SparkOptions, *, read_only: bool = False
    ) -> SparkStore:
        """Connect to Spark and to the store's database, creating its tables when new."""
        # (Java is not asked for: a process may have its Spark session already, and
        # pyspark says itself when it cannot start one)
        if problem := spark_problem(options):
            raise StoreError(f"{problem} — nothing was run")
        engine = SparkEngine.open(options)
        store = cls(path, engine)
        try:
            store._migrate(read_only=read_only)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self.spark.close()

    def settle(self, timeout: float = 0.0) -> bool:
        """Nothing to wait for: Spark jobs are not this process's connection."""
        return True

    def compact(self) -> None:
        """Leave no deleted row's bytes behind (``segsync forget``). On Parquet a DELETE
        already rebuilds the table and drops the old one with its files, so there is nothing
        left to do; Delta and Iceberg keep the old files for time travel until they are
        vacuumed (``VACUUM`` / ``expire_snapshots``), which is the table owner's job: said
        once as a warning."""
        if self.spark.options.native_writes:
            log.warning(
                "store on %s tables: deleted rows stay in the table's old files until they "
                "are vacuumed (Delta VACUUM, Iceberg expire_snapshots); run that to finish "
                "the erasure",
                self.spark.options.table_format,
            )

    def __enter__(self) -> SparkStore:
        return self

    def schema_version(self) -> int:
        if _META not in self.spark.tables():
            return 0
        value = self.spark.scalar(
            exp.select("value").from_(_META).where(exp.column("key").eq("schema_version"))
        )
        return int(value) if value is not None else 0

    def _migrate(self, *, read_only: bool) -> None:
        current = self.schema_version()
        where = f"{self.path} (Spark database {self.spark.database!r})"
        if current == SCHEMA_VERSION:
            return
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{where}: written by a newer segsync (schema version {current}; this one "
                f"understands up to {SCHEMA_VERSION}); upgrade segsync"
            )
        if current:
            raise StoreError(
                f"{where}: schema version {current} needs migrating to {SCHEMA_VERSION}, "
                "which this segsync cannot do on Spark yet; point [store.spark] database at a "
                "new database (segsync then sends every member again)"
            )
        if read_only:
            raise StoreError(f"{where}: no store yet; run 'segsync run' first")
        from segsync._version import __version__

        tables, views = Store.layout()
        engine = self.spark
        for name, columns in tables.items():
            if name != _META:
                engine.create_empty(name, columns)
        for name, query in views.items():
            engine.create_view(name, parse(query))
        # written last: a store cut short while being created is created again
        engine.create_empty(_META, {"key": "VARCHAR", "value": "VARCHAR"})
        engine.insert_rows(
            _META,
            ("key", "value"),
            [("schema_version", str(SCHEMA_VERSION)), ("written_by", __version__)],
        )
        log.info("store %s created at schema version %d", where, SCHEMA_VERSION)

    # -- for tests and inspection: portable SQL, run on Spark --------------------------------

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.spark.scalar(_statement(sql, params))

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.spark.rows(_statement(sql, params))

    def dicts(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        return self.spark.dicts(_statement(sql, params))


def _statement(sql: str, params: Sequence[Any] | None) -> exp.Expr:
    if params:
        raise StoreError("a Spark store takes statements with :name values, not ? parameters")
    return parse(sql)
