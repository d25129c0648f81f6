"""The Spark engine's session and settings: where Spark runs (:class:`SparkOptions`), the
session segsync starts or joins, how Spark's exceptions become segsync's errors, and the
quoting of names and values in Spark SQL. Imports pyspark only when a session is made."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from segsync.engine import DataError, EngineError, OutOfMemory, StorageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "CONNECT_TIMEOUT",
    "SparkOptions",
    "remote_address",
    "spark_place",
    "spark_problem",
    "spark_type",
    "translate",
]

CONNECT_TIMEOUT = 10.0
"""Seconds a Spark Connect server has to accept a connection before a run gives up on it
(pyspark's own client retries an unreachable server for minutes, without a word)."""
_CONNECT_CLIENT = ("grpc", "google.protobuf", "pandas", "pyarrow")
_PROXIES = ("grpc_proxy", "https_proxy", "http_proxy", "GRPC_PROXY", "HTTPS_PROXY", "HTTP_PROXY")

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
_SERVER_ONLY = frozenset({"spark.ui.showConsoleProgress"})
"""Of :data:`_DEFAULTS`, those a Spark Connect client cannot set (the server's own)."""
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


def remote_address(url: str) -> tuple[str, int] | None:
    """The host and port of a Spark Connect URL (``sc://host:port/;token=…``; port 15002 by
    default), or None for a text that is not one."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 15002
    except ValueError:
        return None
    return (host, port) if parts.scheme == "sc" and host else None


def spark_place(options: SparkOptions) -> str:
    """Where the store's Spark runs, for a message (never the URL: it may carry a token)."""
    if options.remote:
        address = remote_address(options.remote)
        return "Spark Connect" + (f" at {address[0]}:{address[1]}" if address else "")
    return f"Spark, master {options.master}"


def spark_problem(options: SparkOptions, *, java: bool = False) -> str | None:
    """Why the store's Spark cannot be reached from here, or None: pyspark is not installed;
    with ``remote``, its Spark Connect client is not, the URL is not one, or nothing accepts a
    connection at its host and port within :data:`CONNECT_TIMEOUT`; with ``java``, a Spark
    started here finds no Java (``JAVA_HOME``, or ``java`` on the PATH). Behind a proxy (gRPC
    goes through ``grpc_proxy``, ``https_proxy`` or ``http_proxy``) the host is not tried:
    it may only be reachable through the proxy."""
    import os
    import socket

    if not _installed("pyspark"):
        return "[store] engine = 'spark' needs pyspark: pip install 'segsync[spark]'"
    if not options.remote:
        if java and not _has_java():
            return "needs Java 17 or later here (no JAVA_HOME, no 'java' on the PATH)"
        return None
    missing = [m for m in _CONNECT_CLIENT if not _installed(m)]
    if missing:
        return (
            f"[store.spark] remote needs pyspark's Spark Connect client ({', '.join(missing)} "
            "not installed): pip install 'segsync[spark-connect]'"
        )
    address = remote_address(options.remote)
    if address is None:
        return "[store.spark] remote: not a Spark Connect URL (expected sc://host:port)"
    if any(os.environ.get(v) for v in _PROXIES):
        return None
    host, port = address
    try:
        with socket.create_connection(address, timeout=CONNECT_TIMEOUT):
            return None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return (
            f"[store.spark] remote: no Spark Connect server answers at {host}:{port} ({why}, "
            f"within {CONNECT_TIMEOUT:g} s); is it running, and reachable from here?"
        )


def _has_java() -> bool:
    """A Java to start Spark with: ``$JAVA_HOME/bin/java``, or ``java`` on the PATH."""
    import os
    import shutil

    home = os.environ.get("JAVA_HOME")
    return bool(
        shutil.which("java") or (home and os.path.isfile(os.path.join(home, "bin", "java")))
    )


def _installed(module: str) -> bool:
    """``module`` (dotted: its parents too) can be imported."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent is missing
        return False


def _session(options: SparkOptions) -> SparkSession:
    """The process's SparkSession: with ``remote``, a Spark Connect session to that server
    (never a local session that happens to be running: the work would run in the wrong
    place); else the active one when there is one (a notebook, a Databricks job, a test), or
    one built from ``options``."""
    from pyspark.sql import SparkSession

    active = None if options.remote else SparkSession.getActiveSession()
    if active is not None:
        session: SparkSession = active
    else:
        builder: Any = SparkSession.builder.appName(options.app_name)
        defaults = _DEFAULTS
        if options.remote:
            builder = builder.remote(options.remote)
            # the server's own settings: a client may not change them (pyspark warns)
            defaults = {k: v for k, v in _DEFAULTS.items() if k not in _SERVER_ONLY}
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
        for key, value in {**defaults, **options.conf, **_SEMANTICS}.items():
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
