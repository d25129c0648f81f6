"""The Spark engine: the same statements on Spark SQL, for data past one machine.

With its siblings the only modules that import pyspark (extra ``segsync[spark]``) or hold
Spark-only SQL: ``spark_session`` (settings, the session, errors, quoting), ``spark_dialect``
(statements rewritten where Spark reads them otherwise), ``spark_writes`` (DELETE and UPDATE
on Parquet), ``spark_read`` (staged files, tables as they stand). The domain's sqlglot
expressions are rendered in the ``spark`` dialect; what Spark does its own way:

* **Tables** live in one database of the session's catalog (``[store.spark] database``): in
  local mode a Hive metastore and a warehouse folder beside the store (``<store>.spark/``); on
  a cluster, the cluster's catalog (Hive metastore, Glue, Unity Catalog, Dataproc Metastore).
  A *temporary* table is an ordinary table of that database that the engine drops when it
  closes (runs and the read-only commands exclude each other by the run lock, so no two
  sessions share one); a temporary view is a Spark temporary view.
* **Writes.** Tables are created ``USING [store.spark] table_format`` (``parquet`` by default).
  Parquet tables take ``INSERT`` but not ``DELETE``/``UPDATE``: those are rewritten
  (``spark_writes``) as a replacement of the table (the rows kept, the rows changed, into a
  new table that then takes the old one's name). With ``table_format = "delta"`` (or
  ``"iceberg"``), ``DELETE`` and ``UPDATE`` run as they are, and every statement commits
  atomically.
* **Transactions.** Spark has no multi-statement transactions: :meth:`transaction` only
  groups statements. Each stage's writes are idempotent (a replaced table, a delete before an
  insert of the same keys), so a run cut short is finished by the next one. On Parquet a
  replacement is not atomic either (a crash between dropping the old table and renaming the
  new one loses the table): keep the ledger on Delta or Iceberg in production.
* **Positions.** Spark tables have no row order: :meth:`line_up` joins the trait tables on
  ``profile_key`` (each holds one row per profile) instead of DuckDB's positional join.
* **Reading rows back** is paged: :meth:`stream` hands rows over in batches through
  ``toLocalIterator`` (one partition at a time on the driver), never a whole audience.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from segsync.engine import EngineError, column_types, spark_read, spark_writes
from segsync.engine.spark_dialect import for_spark as _for_spark
from segsync.engine.spark_session import (
    SparkOptions,
    _literal,
    _name,
    _plain,
    _quoted,
    _session,
    _text,
    _translated,
    spark_type,
    translate,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from segsync.connector import TableRef


__all__ = ["SparkEngine", "SparkOptions", "spark_type", "translate"]


_LINE_UP_STEP = 6
"""Parts :meth:`SparkEngine.line_up` joins in one step."""


class SparkEngine:
    """An :class:`segsync.engine.Engine` on one Spark session and one database."""

    dialect = "spark"
    reads_files = False  # files sources are paged; tables are read (see docs/scaling.md)

    def __init__(self, session: SparkSession, options: SparkOptions) -> None:
        self.session = session
        self.options = options
        self.database = options.database
        self._frames: dict[str, DataFrame] = {}
        """Temporary tables: checkpointed frames, each under a temporary view of its name."""
        self._views: set[str] = set()
        self._scratch_lock = threading.Lock()
        location = options.database_location()
        where = f" LOCATION '{_literal(location)}'" if location else ""
        with _translated():
            session.sql(f"CREATE DATABASE IF NOT EXISTS {_name(self.database)}{where}")
            session.sql(f"USE {_name(self.database)}")

    @classmethod
    def open(cls, options: SparkOptions) -> SparkEngine:
        """An engine on the process's Spark session (started from ``options`` when there
        is none)."""
        return cls(_session(options), options)

    def __repr__(self) -> str:
        return f"<SparkEngine database={self.database!r}>"

    def close(self) -> None:
        """Drop this engine's temporary tables and views (the session stays: it is the
        process's)."""
        for name in sorted({*self._views, *self._frames}):
            self.session.catalog.dropTempView(name)
        self._views.clear()
        self._frames.clear()

    def tables(self) -> set[str]:
        """The names of the tables and views of the store's database."""
        with _translated():
            return {
                t.name for t in self.session.catalog.listTables(self.database) if not t.isTemporary
            }

    # -- running ------------------------------------------------------------------------

    def sql(self, statement: exp.Expr) -> str:
        return _for_spark(statement).sql(dialect=self.dialect)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[SparkEngine]:
        """This engine: a Spark session runs statements from several threads, and it has no
        transactions to keep apart."""
        yield self

    @contextlib.contextmanager
    def scratch(self) -> Iterator[SparkEngine]:
        """This engine, to one thread at a time: its temporary tables already outlive any
        block, but the bookkeeping of them is not made for several threads at once."""
        with self._scratch_lock:
            yield self

    def _sql(self, text: str) -> DataFrame:
        with _translated():
            return self.session.sql(text)

    def _table(self, name: str) -> str:
        """How a statement names table ``name``: a temporary one by its view's name, any
        other in the store's database."""
        if name in self._frames:
            return _name(name)
        return f"{_name(self.database)}.{_name(name)}"

    def execute(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Delete) and not self.options.native_writes:
            spark_writes.delete(self, statement)
        elif isinstance(statement, exp.Update) and not self.options.native_writes:
            spark_writes.update(self, statement)
        else:
            self._run(self.sql(statement))

    def _run(self, text: str) -> None:
        with _translated():
            self.session.sql(text).collect()

    def rows(self, query: exp.Expr) -> list[tuple[Any, ...]]:
        with _translated():
            return [tuple(r) for r in self._sql(self.sql(query)).collect()]

    def dicts(self, query: exp.Expr) -> list[dict[str, Any]]:
        with _translated():
            return [r.asDict() for r in self._sql(self.sql(query)).collect()]

    def scalar(self, query: exp.Expr) -> Any:
        with _translated():
            row = self._sql(self.sql(query)).first()
        return row[0] if row else None

    def stream(self, query: exp.Expr, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``query`` in lists of up to ``size``, fetched a partition at a time
        (the driver never holds the whole result)."""
        batch: list[tuple[Any, ...]] = []
        with _translated():
            for row in self._sql(self.sql(query)).toLocalIterator(prefetchPartitions=True):
                batch.append(tuple(row))
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Groups statements; Spark commits each on its own (see the module's docstring)."""
        yield

    @contextlib.contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        """Spark's memory is the cluster's (``spark.executor.memory``): left as it is."""
        yield

    def memory_bytes(self) -> int | None:
        return None  # the cluster's, per executor: not one limit of this engine's

    # -- tables -------------------------------------------------------------------------

    def _using(self) -> str:
        return f"USING {self.options.table_format}"

    def create_table(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        self._replace(name, self.sql(query), temporary=temporary)

    def _replace(self, name: str, select: str, *, temporary: bool = False) -> None:
        """``name`` holding the rows of ``select`` (which may read ``name`` itself)."""
        self._forget_view(name)
        if temporary:
            with _translated():
                self._hold(name, self.session.sql(select))
            return
        self._frames.pop(name, None)
        scratch = f"_segsync_new_{uuid.uuid4().hex[:12]}"
        self._run(f"CREATE TABLE {self._table(scratch)} {self._using()} AS {select}")
        self._run(f"DROP TABLE IF EXISTS {self._table(name)}")
        self._run(f"ALTER TABLE {self._table(scratch)} RENAME TO {self._table(name)}")

    def _hold(self, name: str, frame: DataFrame) -> None:
        """Make ``frame`` the temporary table ``name``: computed once, now, and kept by the
        executors (memory, then their local disk) until dropped — no files, no catalog."""
        held = frame.localCheckpoint(eager=True)
        held.createOrReplaceTempView(name)
        self._frames[name] = held

    def _forget_view(self, name: str) -> None:
        if name in self._views:
            self.session.catalog.dropTempView(name)
            self._views.discard(name)

    def create_empty(
        self, name: str, columns: Mapping[str, str], *, temporary: bool = False
    ) -> None:
        self._forget_view(name)
        defs = ", ".join(
            f"{d.this.sql(dialect=self.dialect)} {spark_type(t)}"
            for d, t in zip(column_types(columns), columns.values(), strict=True)
        )
        if temporary:
            with _translated():
                self._hold(name, self.session.createDataFrame([], defs))
            return
        self._frames.pop(name, None)
        self._run(f"DROP TABLE IF EXISTS {self._table(name)}")
        self._run(f"CREATE TABLE {self._table(name)} ({defs}) {self._using()}")

    def create_view(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        if temporary:
            self._run(f"CREATE OR REPLACE TEMPORARY VIEW {_name(name)} AS {self.sql(query)}")
            self._views.add(name)
        else:
            self._run(f"CREATE OR REPLACE VIEW {self._table(name)} AS {self.sql(query)}")

    def drop(self, *names: str, view: bool = False) -> None:
        for name in names:
            if view and name in self._frames:  # a view held as a frame (read_table)
                self.session.catalog.dropTempView(name)
                del self._frames[name]
            elif view:
                if name in self._views:
                    self._forget_view(name)
                else:
                    self._run(f"DROP VIEW IF EXISTS {self._table(name)}")
            elif name in self._frames:
                self.session.catalog.dropTempView(name)
                del self._frames[name]
            else:
                self._run(f"DROP TABLE IF EXISTS {self._table(name)}")

    def insert(self, table: str, query: exp.Expr, *, columns: Sequence[str] | None = None) -> None:
        if table in self._frames:
            with _translated():
                self._append(table, self.session.sql(self.sql(query)), columns)
            return
        names = f" ({', '.join(_quoted(c) for c in columns)})" if columns else ""
        self._run(f"INSERT INTO {self._table(table)}{names} {self.sql(query)}")

    def _append(self, table: str, rows: DataFrame, columns: Sequence[str] | None) -> None:
        """Append ``rows`` (by position: into ``columns``, else every column) to the
        temporary table ``table``, cast to its types."""
        types = self._types(table)
        names = list(columns or types)
        given = rows.toDF(*(f"_c{i}" for i in range(len(names))))
        position = {c: i for i, c in enumerate(names)}
        shaped = given.selectExpr(
            *(
                f"CAST({f'_c{position[c]}' if c in position else 'NULL'} AS {t}) AS {_quoted(c)}"
                for c, t in types.items()
            )
        )
        self._hold(table, self._frames[table].union(shaped))

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        data = [tuple(_plain(v) for v in row) for row in rows]
        if data:
            self._insert_frame(table, columns, data)

    def insert_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        self.insert_rows(table, list(columns), zip(*columns.values(), strict=True))

    def _insert_frame(
        self, table: str, columns: Sequence[str], data: list[tuple[Any, ...]]
    ) -> None:
        """Append Python rows: sent as text (exact for every type segsync stores) and cast to
        the table's own types by Spark."""
        from pyspark.sql.types import StringType, StructField, StructType

        types = self._types(table)
        schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(columns))])
        view = f"_segsync_rows_{uuid.uuid4().hex[:12]}"
        with _translated():
            frame = self.session.createDataFrame(
                [tuple(None if v is None else _text(v) for v in row) for row in data], schema
            )
            if table in self._frames:
                self._append(table, frame, columns)
                return
            frame.createOrReplaceTempView(view)
            try:
                casts = ", ".join(f"CAST(c{i} AS {types[c]})" for i, c in enumerate(columns))
                names = ", ".join(_quoted(c) for c in columns)
                self._run(f"INSERT INTO {self._table(table)} ({names}) SELECT {casts} FROM {view}")
            finally:
                self.session.catalog.dropTempView(view)

    def _types(self, table: str) -> dict[str, str]:
        with _translated():
            fields = self.session.table(self._table(table)).schema.fields
        return {f.name: f.dataType.simpleString() for f in fields}

    def arrays(self, query: exp.Expr) -> dict[str, Any]:
        import numpy as np
        from pyspark.sql import types as T

        with _translated():
            frame = self._sql(self.sql(query))
            fields = frame.schema.fields
            rows = frame.collect()
        out: dict[str, Any] = {}
        for i, f in enumerate(fields):
            values = [r[i] for r in rows]
            numeric = isinstance(f.dataType, T.NumericType)
            if numeric and (None in values or isinstance(f.dataType, T.DecimalType)):
                out[f.name] = np.array(
                    [np.nan if v is None else float(v) for v in values], dtype="float64"
                )
            elif isinstance(f.dataType, T.IntegralType):
                out[f.name] = np.array(values, dtype="int64")
            elif numeric:
                out[f.name] = np.array(values, dtype="float64")
            elif isinstance(f.dataType, T.BooleanType) and None not in values:
                out[f.name] = np.array(values, dtype="bool")
            elif isinstance(f.dataType, T.TimestampNTZType | T.TimestampType | T.DateType):
                out[f.name] = np.array(values, dtype="datetime64[us]")
            else:
                out[f.name] = np.array(values, dtype="object")
        return out

    def insert_arrays(self, table: str, columns: Mapping[str, Any]) -> None:
        names = list(columns)
        lists = [columns[n].tolist() for n in names]
        rows = list(zip(*lists, strict=True)) if lists else []
        if rows:
            self._insert_frame(table, names, [tuple(_plain(v) for v in r) for r in rows])

    def load_staged(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> tuple[int, list[str]]:
        """Read a staging file of the vectorised ingest into a new temporary ``table`` (see
        :func:`segsync.engine.spark_read.load_staged`); its row count and the first keys
        repeated."""
        return spark_read.load_staged(self, table, path, columns, key=key, order=order)

    def read_csv(
        self, view: str, path: Path, columns: Sequence[str], *, delimiter: str = ","
    ) -> None:
        """Not on this engine yet: the files connector's vectorised reader (issue 18,
        part A) runs on DuckDB; on Spark, use a ``table`` source or stage through a
        connector."""
        raise EngineError("read_csv is not on the Spark engine yet (see docs/scaling.md)")

    def read_jsonl(
        self,
        view: str,
        path: Path,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
        with_keys: bool = False,
    ) -> None:
        """Not on this engine yet (see :meth:`read_csv`)."""
        raise EngineError("read_jsonl is not on the Spark engine yet (see docs/scaling.md)")

    def read_table(
        self,
        view: str,
        table: TableRef,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
    ) -> list[str]:
        """A table as it stands, as a view (see :func:`segsync.engine.spark_read.read_table`)."""
        return spark_read.read_table(self, view, table, keys, rest_without=rest_without)

    def create_numbered(
        self, table: str, query: exp.Expr, view: str, *, first: int, numbered: bool = False
    ) -> None:
        """Only ``numbered`` rows (a table's, numbered by :meth:`read_table`): Spark tables
        have no insertion order to number the rows of a file by."""
        if not numbered:
            raise EngineError("row positions are not on the Spark engine (see docs/scaling.md)")
        self.create_table(table, query, temporary=True)
        seq = exp.Add(this=exp.column("_row"), expression=exp.Literal.number(int(first)))
        self.create_view(
            view, exp.select(exp.alias_(seq, "seq"), exp.Star()).from_(table), temporary=True
        )

    def line_up(self, into: str, parts: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Parts joined to the spine on ``profile_key``, ``_LINE_UP_STEP`` parts a step: each
        join is a sort-merge join holding its own sort buffers, and a task running twenty at
        once starves of execution memory (1M profiles on two local workers did); each step
        is held (checkpointed) before the next."""
        (spine, _), *rest = parts
        if not rest:
            self._replace(into, f"SELECT t0.profile_key FROM {_name(spine)} t0")
            return
        held: list[str] = []
        base, base_cols = spine, ["profile_key"]
        try:
            for start in range(0, len(rest), _LINE_UP_STEP):
                step = rest[start : start + _LINE_UP_STEP]
                columns = "".join(f", t0.{_quoted(c)}" for c in base_cols[1:]) + "".join(
                    f", t{i}.{_quoted(c)}"
                    for i, (_, cols) in enumerate(step, start=1)
                    for c in cols
                )
                joins = "".join(
                    f" LEFT JOIN {_name(table)} t{i} ON t{i}.profile_key = t0.profile_key"
                    for i, (table, _) in enumerate(step, start=1)
                )
                select = f"SELECT t0.profile_key{columns} FROM {_name(base)} t0{joins}"
                if start + _LINE_UP_STEP >= len(rest):
                    self._replace(into, select)
                    return
                base = f"_segsync_line_up_{len(held)}"
                self._replace(base, select, temporary=True)
                held.append(base)
                base_cols = [*base_cols, *(c for _, cols in step for c in cols)]
        finally:
            for name in held:
                self.drop(name)

    def columns(self, table: str) -> dict[str, exp.DataType]:
        with _translated():
            fields = self.session.table(table).schema.fields
        return {
            f.name: exp.DataType.build(f.dataType.simpleString(), dialect=self.dialect)
            for f in fields
        }

    def misaligned(self, spine: str, part: str) -> int:
        """Rows of ``part`` that are not one per profile of ``spine``: keys missing on
        either side, or repeated (Spark lines parts up by key, not by position)."""
        return int(
            self._sql(
                f"SELECT count(*) FROM (SELECT profile_key, count(*) AS n FROM {_name(part)} "
                f"GROUP BY profile_key) t FULL JOIN {_name(spine)} k "
                "ON k.profile_key = t.profile_key "
                "WHERE k.profile_key IS NULL OR t.profile_key IS NULL OR t.n > 1"
            ).first()[0]  # type: ignore[index]
        )
