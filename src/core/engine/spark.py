"""The Spark engine: the same statements on Spark SQL, for data past one machine.

The only module that imports pyspark (extra ``segsync[spark]``) or holds Spark-only SQL. The
domain's sqlglot expressions are rendered in the ``spark`` dialect; what Spark does its own way
is here:

* **Tables** live in one database of the session's catalog (``[store.spark] database``): in
  local mode a Hive metastore and a warehouse folder beside the store (``<store>.spark/``); on
  a cluster, the cluster's catalog (Hive metastore, Glue, Unity Catalog, Dataproc Metastore).
  A *temporary* table is an ordinary table of that database that the engine drops when it
  closes (runs and the read-only commands exclude each other by the run lock, so no two
  sessions share one); a temporary view is a Spark temporary view.
* **Writes.** Tables are created ``USING [store.spark] table_format`` (``parquet`` by default).
  Parquet tables take ``INSERT`` but not ``DELETE``/``UPDATE``: those are rewritten as a
  replacement of the table (the rows kept, the rows changed, into a new table that then takes
  the old one's name). With ``table_format = "delta"`` (or ``"iceberg"``), ``DELETE`` and
  ``UPDATE`` run as they are, and every statement commits atomically.
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
import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from segsync.engine import DataError, EngineError, OutOfMemory, StorageError, column_types

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine", "SparkOptions", "spark_type", "translate"]

log = logging.getLogger("segsync.engine.spark")

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# settings that make Spark read segsync's statements as DuckDB does: times are UTC wall
# clock (TIMESTAMP means TIMESTAMP_NTZ, like DuckDB's TIMESTAMP)
_SEMANTICS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}
_DEFAULTS = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
}
# types DuckDB has and Spark has not, as Spark keeps them
_TYPES = {
    exp.DataType.Type.JSON: "STRING",
    exp.DataType.Type.INT128: "DECIMAL(38,0)",
    exp.DataType.Type.UBIGINT: "DECIMAL(20,0)",
    exp.DataType.Type.UINT: "BIGINT",
    exp.DataType.Type.USMALLINT: "INT",
    exp.DataType.Type.UTINYINT: "SMALLINT",
    exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMP_NTZ",
}


@dataclass(frozen=True)
class SparkOptions:
    """Where the Spark engine runs and keeps its tables (``[store]`` and ``[store.spark]``).

    ``remote`` (a Spark Connect URL, ``sc://host:15002``) wins over ``master``. ``home`` is
    the local folder beside the store (``<store>.spark``): in local mode it holds the
    warehouse and the metastore. ``warehouse`` and ``location`` (the database's folder) may
    be any URL Spark writes to (``s3a://``, ``abfss://``, ``gs://``, ``dbfs:/``)."""

    home: Path
    master: str = "local[*]"
    remote: str | None = None
    database: str = "segsync"
    warehouse: str | None = None
    location: str | None = None
    table_format: str = "parquet"
    conf: Mapping[str, str] = field(default_factory=dict)
    app_name: str = "segsync"

    @property
    def local(self) -> bool:
        """Spark runs on this machine (``local[...]``, ``local-cluster[...]``)."""
        return self.remote is None and self.master.startswith("local")

    @property
    def native_writes(self) -> bool:
        """The table format takes DELETE and UPDATE itself."""
        return self.table_format.lower() in ("delta", "iceberg")

    def database_location(self) -> str | None:
        if self.location:
            return self.location
        if self.local:
            return str(self.home / "warehouse" / f"{self.database}.db")
        return None


def spark_type(type_: str | exp.DataType) -> str:
    """A column type as Spark keeps it (``type_`` in DuckDB's spelling, or a built type)."""
    built = (
        type_ if isinstance(type_, exp.DataType) else exp.DataType.build(type_, dialect="duckdb")
    )
    if built.this in _TYPES:
        return _TYPES[built.this]
    return built.sql(dialect="spark")


def _session(options: SparkOptions) -> SparkSession:
    """The process's SparkSession: the active one when there is one (a notebook, a Databricks
    job, a test), else one built from ``options``."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        session: SparkSession = active
    else:
        builder: Any = SparkSession.builder.appName(options.app_name)
        if options.remote:
            builder = builder.remote(options.remote)
        else:
            builder = builder.master(options.master)
            if options.local:
                home = options.home.resolve()
                home.mkdir(parents=True, exist_ok=True)
                builder = (
                    builder.config(
                        "spark.sql.warehouse.dir", options.warehouse or str(home / "warehouse")
                    )
                    .config(
                        "spark.hadoop.javax.jdo.option.ConnectionURL",
                        f"jdbc:derby:;databaseName={home / 'metastore'};create=true",
                    )
                    .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
                )
            elif options.warehouse:
                builder = builder.config("spark.sql.warehouse.dir", options.warehouse)
            builder = builder.enableHiveSupport()
        for key, value in {**_DEFAULTS, **options.conf, **_SEMANTICS}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    for key, value in _SEMANTICS.items():
        session.conf.set(key, value)
    # Spark logs every failed statement at ERROR; segsync reports them as its own errors
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    if options.remote is None:
        session.sparkContext.setLogLevel("ERROR")
    return session


def _first_line(exc: BaseException) -> str:
    """The line that says what went wrong (past py4j's "An error occurred while calling")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        return lines[1]
    return lines[0] if lines else type(exc).__name__


def translate(exc: BaseException) -> EngineError | None:
    """The segsync error for a Spark exception, or None for one that means a bug."""
    try:
        from pyspark.errors import (
            AnalysisException,
            ArithmeticException,
            DateTimeException,
            NumberFormatException,
            PySparkException,
        )
    except ImportError:  # pragma: no cover - pyspark is there when an engine exists
        return None
    text = str(exc)
    if "OutOfMemoryError" in text or "Java heap space" in text:
        return OutOfMemory(_first_line(exc))
    if "No space left" in text or "AccessDeniedException" in text:
        return StorageError(_first_line(exc))
    if isinstance(
        exc, ArithmeticException | DateTimeException | NumberFormatException | AnalysisException
    ):
        return DataError(_first_line(exc))
    if isinstance(exc, PySparkException) and any(
        cls in text for cls in ("CAST_INVALID_INPUT", "DIVIDE_BY_ZERO", "NUMERIC_VALUE_OUT_OF")
    ):
        return DataError(_first_line(exc))
    return None


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except EngineError:
        raise
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


class SparkEngine:
    """An :class:`segsync.engine.Engine` on one Spark session and one database."""

    dialect = "spark"
    reads_files = False  # files sources are paged (see docs/scaling.md)

    def __init__(self, session: SparkSession, options: SparkOptions) -> None:
        self.session = session
        self.options = options
        self.database = options.database
        self._frames: dict[str, DataFrame] = {}
        """Temporary tables: checkpointed frames, each under a temporary view of its name."""
        self._views: set[str] = set()
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
            self._delete(statement)
        elif isinstance(statement, exp.Update) and not self.options.native_writes:
            self._update(statement)
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
            if view:
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

    def load_jsonl(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> int:
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(c, StringType()) for c in columns])
        view = f"_segsync_json_{uuid.uuid4().hex[:12]}"
        with _translated():
            self.session.read.schema(schema).json(path.resolve().as_uri()).createOrReplaceTempView(
                view
            )
        try:
            casts = ", ".join(
                f"CAST({_quoted(c)} AS {spark_type(t)}) AS {_quoted(c)}" for c, t in columns.items()
            )
            kept = ", ".join(_quoted(c) for c in columns if c != order)
            self._replace(
                table,
                f"SELECT {kept} FROM (SELECT *, row_number() OVER (PARTITION BY {_quoted(key)} "
                f"ORDER BY {_quoted(order)} DESC) AS _segsync_rank FROM "
                f"(SELECT {casts} FROM {view})) WHERE _segsync_rank = 1",
                temporary=True,
            )
        finally:
            self.session.catalog.dropTempView(view)
        return int(self._sql(f"SELECT count(*) FROM {self._table(table)}").first()[0])  # type: ignore[index]

    def load_staged(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> int:
        """Read a staging file of the vectorised ingest (CSV without a header, NULL as
        ``\\N``, a text starting with a backslash escaped by another, JSON as text) into a
        new temporary ``table`` with typed ``columns``, keeping the row with the highest
        ``order`` per ``key``; its row count."""
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(c, StringType()) for c in columns])
        view = f"_segsync_csv_{uuid.uuid4().hex[:12]}"
        with _translated():
            self.session.read.schema(schema).options(
                header="false",
                nullValue="\\N",
                quote='"',
                escape='"',
                multiLine="true",
                mode="FAILFAST",
                encoding="UTF-8",
            ).csv(path.resolve().as_uri()).createOrReplaceTempView(view)
        try:
            typed = ", ".join(_staged(c, t) for c, t in columns.items() if c != order)
            self._replace(
                table,
                f"SELECT {typed} FROM (SELECT *, row_number() OVER (PARTITION BY {_quoted(key)} "
                f"ORDER BY CAST({_quoted(order)} AS BIGINT) DESC) AS _segsync_rank "
                f"FROM {view}) WHERE _segsync_rank = 1",
                temporary=True,
            )
        finally:
            self.session.catalog.dropTempView(view)
        return int(self._sql(f"SELECT count(*) FROM {self._table(table)}").first()[0])  # type: ignore[index]

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

    def position(self) -> exp.Expr:
        """Not on this engine: Spark tables have no insertion order."""
        raise EngineError("row positions are not on the Spark engine (see docs/scaling.md)")

    def line_up(self, into: str, parts: Sequence[tuple[str, Sequence[str]]]) -> None:
        (spine, _), *rest = parts
        columns = "".join(
            f", t{i}.{_quoted(c)}" for i, (_, cols) in enumerate(rest, start=1) for c in cols
        )
        joins = "".join(
            f" LEFT JOIN {_name(table)} t{i} ON t{i}.profile_key = t0.profile_key"
            for i, (table, _) in enumerate(rest, start=1)
        )
        self._replace(into, f"SELECT t0.profile_key{columns} FROM {_name(spine)} t0{joins}")

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

    # -- DELETE and UPDATE on tables that have neither (Parquet) --------------------------

    def _target(self, statement: exp.Delete | exp.Update) -> str:
        table = statement.this
        if not isinstance(table, exp.Table):
            raise ValueError(f"not a table: {table!r}")
        return table.name

    def _delete(self, statement: exp.Delete) -> None:
        name = self._target(statement)
        where = statement.args.get("where")
        if where is None:
            if name in self._frames:
                with _translated():
                    self._hold(name, self._frames[name].limit(0))
            else:
                self._run(f"TRUNCATE TABLE {self._table(name)}")
            return
        condition = self.sql(where.this)
        if not self._sql(f"SELECT 1 FROM {self._table(name)} WHERE {condition} LIMIT 1").collect():
            return
        self._replace(
            name,
            f"SELECT * FROM {self._table(name)} AS {_quoted(name)} "
            f"WHERE NOT coalesce({condition}, false)",
            temporary=name in self._frames,
        )

    def _update(self, statement: exp.Update) -> None:
        name = self._target(statement)
        types = self._types(name)
        where = statement.args.get("where")
        condition = self.sql(where.this) if where is not None else "true"
        sets = {s.this.name: self.sql(s.expression) for s in statement.expressions}
        source = statement.args.get("from_") or statement.args.get("from")
        me = _quoted(name)
        if source is None:
            hit = f"coalesce({condition}, false)"
            tail = f"FROM {self._table(name)} AS {me}"
        else:
            other = source.this.copy()
            alias = other.alias_or_name
            other.set("alias", None)
            hit = f"{_quoted(alias)}._segsync_hit IS NOT NULL"
            tail = (
                f"FROM {self._table(name)} AS {me} LEFT JOIN (SELECT *, true AS _segsync_hit "
                f"FROM {self.sql(other)}) AS {_quoted(alias)} ON {condition}"
            )
        projection = ", ".join(
            f"CAST(CASE WHEN {hit} THEN {sets[c]} ELSE {me}.{_quoted(c)} END AS {t}) "
            f"AS {_quoted(c)}"
            if c in sets
            else f"{me}.{_quoted(c)}"
            for c, t in types.items()
        )
        if not self._sql(f"SELECT 1 {tail} WHERE {hit} LIMIT 1").collect():
            return
        self._replace(name, f"SELECT {projection} {tail}", temporary=name in self._frames)


def _for_spark(statement: exp.Expr) -> exp.Expr:
    """``statement`` with what Spark reads otherwise than DuckDB rewritten: a hexadecimal
    text cast to an integer (``CAST('0x' || h AS BIGINT)``, the split buckets) becomes
    ``CAST(conv(h, 16, 10) AS BIGINT)``."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.INTEGER_TYPES):
            inner = node.this
            if (
                isinstance(inner, exp.DPipe)
                and isinstance(inner.this, exp.Literal)
                and inner.this.is_string
                and inner.this.name.lower() == "0x"
            ):
                digits = exp.Anonymous(
                    this="conv",
                    expressions=[inner.expression, exp.Literal.number(16), exp.Literal.number(10)],
                )
                return exp.Cast(this=digits, to=node.to.copy())
        return node

    transformed: exp.Expr = statement.transform(rewrite)
    return transformed


def _staged(name: str, type_: str) -> str:
    """A staging file's text cell as its column's type (see ``load_staged``)."""
    column = _quoted(name)
    if spark_type(type_) == "STRING" and type_.upper() != "JSON":
        # a leading backslash was doubled
        return (
            f"CASE WHEN startswith({column}, '\\\\') THEN substr({column}, 2) "
            f"ELSE {column} END AS {column}"
        )
    return f"CAST({column} AS {spark_type(type_)}) AS {column}"


def _name(name: str) -> str:
    """A table or database name as Spark reads it (segsync's own: letters, digits, '_')."""
    if not name or not set(name.lower()) <= _NAME_CHARS:
        raise ValueError(f"not a table name: {name!r}")
    return f"`{name}`"


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _plain(value: Any) -> Any:
    """numpy scalars as Python values."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def _text(value: Any) -> str:
    """A Python value as text Spark casts back exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return str(value.isoformat(sep=" "))
    return str(value)
