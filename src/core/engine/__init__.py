"""The engine seam: where segsync's SQL runs.

The domain (model, pipeline, traits, state's ledger and history) builds statements as sqlglot
expressions and hands them to an :class:`Engine`; it never writes an engine's own SQL dialect
and never imports a database driver. An engine renders each expression in its dialect and runs
it. What only one engine can do (read a staged file, line up per-profile results by position,
load many rows at once) is a method of the engine, so each engine implements it its own way.

Every statement the domain emits transpiles to Spark SQL, Postgres, BigQuery and Snowflake
(``tests/core/test_engine_portability.py`` runs the domain and checks each one).

Errors come back as segsync's own: :class:`DataError` when a statement fails on the data (a
cast of text that is not a number, an overflow, a function given the wrong type — the user's
condition, usually), :class:`ReadError` (a kind of it) when the engine's reader cannot read a
file or table it was given (:meth:`Engine.read_csv`, :meth:`Engine.read_jsonl`,
:meth:`Engine.read_table`), :class:`StorageError`
when the store cannot be written, and :class:`OutOfMemory` when the engine's memory limit is
reached.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlglot import exp

if TYPE_CHECKING:
    from segsync.connector import TableRef

__all__ = [
    "JSON_KINDS",
    "REPEATED_EXAMPLES",
    "DataError",
    "Engine",
    "EngineError",
    "OutOfMemory",
    "ReadError",
    "StorageError",
    "column_types",
    "parse",
    "table_kind",
]


class EngineError(Exception):
    """Base of the errors an engine raises; the message is the engine's own, first line."""


class DataError(EngineError):
    """A statement failed on the data: a conversion, an overflow, a type mismatch."""


class ReadError(DataError):
    """A file given to the engine's reader is not what it reads: a malformed CSV record, a
    record with more or fewer fields than the header, text that is not UTF-8."""


class StorageError(EngineError):
    """The store cannot be read or written (disk full, permissions, I/O)."""


class OutOfMemory(EngineError):
    """The engine reached its memory limit."""


REPEATED_EXAMPLES = 4
"""How many repeated keys :meth:`Engine.load_staged` names: a warning shows three, and a
fourth tells it there are more."""

JSON_KINDS = ("null", "string", "boolean", "integer", "number", "array", "object")
"""The kinds of a JSON value :meth:`Engine.read_jsonl` tells apart (NULL: the key is absent)."""


def parse(sql: str, **values: Any) -> exp.Expr:
    """A statement written as portable SQL, with ``:name`` placeholders replaced by
    ``values``: expressions as they are, Python values as literals (never pasted as text).

    Use it for fixed statements; build anything shaped by configuration with sqlglot's
    builders. The text is parsed as DuckDB reads it but must use only what every engine has.
    A placeholder opening a select list is written in parentheses, ``SELECT (:sync), …``
    (DuckDB reads ``SELECT :x`` as its prefix-alias syntax).
    """
    tree = _parsed(sql)
    if not values:
        return tree.copy()
    replaced: exp.Expr = exp.replace_placeholders(
        tree, **{k: _as_expression(v) for k, v in values.items()}
    )
    return replaced


@functools.lru_cache(maxsize=512)
def _parsed(sql: str) -> exp.Expr:
    """The tree of a statement's text, parsed once (callers get copies: trees are mutable)."""
    import sqlglot

    tree: exp.Expr = sqlglot.parse_one(sql, read="duckdb")
    return tree


def _as_expression(value: Any) -> exp.Expr:
    """An expression as it is; a Python value (text, number, bool, None, date, datetime,
    Decimal) as a literal."""
    if isinstance(value, exp.Expr):
        return value
    converted: exp.Expr = exp.convert(value)
    return converted


TableKind = Literal["string", "integer", "boolean", "number", "time", "time_tz", "date",
                   "array", "object", "text"]  # fmt: skip


def table_kind(type_: exp.DataType) -> TableKind:
    """How :meth:`Engine.read_table` hands a column of a table over, by its type: as a JSON
    value of a kind (``string``, ``integer``, ``boolean``, ``array``, ``object``), or as a
    string written from the typed value — ``number`` (a decimal or floating number, as the
    shortest text that reads back the same), ``time`` (``YYYY-MM-DD HH:MM:SS[.ffffff]``),
    ``time_tz`` (the same, in UTC), ``date`` (``YYYY-MM-DD``), ``text`` (anything else, as the
    engine casts it to text)."""
    t = exp.DataType.Type
    if type_.is_type(*exp.DataType.TEXT_TYPES):
        return "string"
    if type_.is_type(*exp.DataType.INTEGER_TYPES):
        return "integer"
    if type_.is_type(t.BOOLEAN):
        return "boolean"
    if type_.is_type(*exp.DataType.REAL_TYPES):
        return "number"
    if type_.is_type(t.TIMESTAMPTZ, t.TIMESTAMPLTZ):
        return "time_tz"
    if type_.is_type(*exp.DataType.TEMPORAL_TYPES) and not type_.is_type(t.DATE, t.TIME):
        return "time"
    if type_.is_type(t.DATE):
        return "date"
    if type_.is_type(t.ARRAY, t.LIST):
        return "array"
    if type_.is_type(t.STRUCT, t.MAP, t.JSON, t.OBJECT):
        return "object"
    return "text"


def column_types(columns: Mapping[str, str]) -> list[exp.ColumnDef]:
    """Column definitions (``name TYPE``) for :meth:`Engine.create_empty`."""
    return [
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build(type_))
        for name, type_ in columns.items()
    ]


class Engine(Protocol):
    """What the domain asks of an engine. Statements are sqlglot expressions."""

    dialect: str
    """The sqlglot dialect statements are rendered in."""

    reads_files: bool
    """Whether :meth:`read_csv`, :meth:`read_jsonl` and :meth:`position` work here: sources
    that hand over whole files are read by the engine when True, page by page otherwise
    (:meth:`read_table` works on every engine)."""

    def sql(self, statement: exp.Expr) -> str:
        """``statement`` rendered in this engine's dialect."""

    def cursor(self) -> contextlib.AbstractContextManager[Engine]:
        """An engine on the same database for one other thread, open for the block: its own
        connection where the engine has them (its own transactions and temporary tables),
        so that a thread beside the event loop can write while this engine reads. Two
        engines must not write the same rows at once."""

    def scratch(self) -> contextlib.AbstractContextManager[Engine]:
        """An engine for one other thread to stage rows in, open for the block, beside other
        scratch engines of this one: its *temporary* tables and views stay readable by this
        engine (under the same names) after the block, until this engine drops them, so
        several sources' files can be read at once and loaded afterwards. Scratch engines
        share one namespace for them: concurrent users give their objects distinct names.
        An engine that cannot read concurrently hands out one scratch engine at a time."""

    def execute(self, statement: exp.Expr) -> None:
        """Run a statement that returns nothing."""

    def rows(self, query: exp.Expr) -> list[tuple[Any, ...]]:
        """Run a query; its rows."""

    def dicts(self, query: exp.Expr) -> list[dict[str, Any]]:
        """Run a query; its rows as dicts by column name."""

    def scalar(self, query: exp.Expr) -> Any:
        """The first column of the first row, or None."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A transaction: committed when the block ends, rolled back when it raises."""

    def memory_limit(self, limit: str) -> contextlib.AbstractContextManager[None]:
        """The engine may use ``limit`` (``"256MiB"``) of memory for the block, and what it
        had again after it (an engine that sets no limit of its own ignores it)."""

    def memory_bytes(self) -> int | None:
        """The memory the engine may use now, in bytes (:meth:`memory_limit`'s, or the
        store's setting); None when it sets no limit of its own."""

    def create_table(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        """``name`` (replaced if it exists) holding the rows of ``query``."""

    def create_empty(
        self, name: str, columns: Mapping[str, str], *, temporary: bool = False
    ) -> None:
        """An empty table ``name`` (replaced if it exists) with typed ``columns``."""

    def create_view(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        """A view ``name`` (replaced if it exists) over ``query``."""

    def drop(self, *names: str, view: bool = False) -> None:
        """Drop tables (or views) if they exist."""

    def insert(self, table: str, query: exp.Expr, *, columns: Sequence[str] | None = None) -> None:
        """Append the rows of ``query`` to ``table`` (into ``columns``, in that order, when
        given; else into all of the table's columns, in order)."""

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Append Python rows to ``table`` (many at once, without building SQL text)."""

    def insert_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """Append rows to ``table`` given column-wise: equal-length sequences of Python values
        by column name (what :meth:`insert_rows` takes, without the rows)."""

    def arrays(self, query: exp.Expr) -> dict[str, Any]:
        """Run a query; its columns as numpy arrays, by name, in the rows' order (for the
        predictive trait kinds: needs numpy, the ``predict`` extra). A NULL comes back as NaN
        in a numeric column; keep NULLs out of integer and text columns."""

    def insert_arrays(self, table: str, columns: Mapping[str, Any]) -> None:
        """Append rows to ``table`` from equal-length numpy arrays, one per column (by name):
        many rows at once, without Python objects per row."""

    def load_staged(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> tuple[int, list[str]]:
        """Read a staging file (CSV as :class:`segsync.pipeline.staging.StagingWriter`
        writes it: no header, NULL as ``\\N``, a leading backslash doubled) into a new
        temporary ``table`` with typed ``columns``, keeping the row with the highest
        ``order`` per ``key``; its row count, and the first keys (at most
        :data:`REPEATED_EXAMPLES`, in the file's order) that more than one row had."""

    def read_csv(
        self, view: str, path: Path, columns: Sequence[str], *, delimiter: str = ","
    ) -> None:
        """A temporary view ``view`` of the records of a UTF-8 CSV file after its header line
        (a byte-order mark is skipped), in the file's order (blank lines are not records):
        the file's fields in order, named ``columns``, as text (an empty field is NULL). The
        view is read as it is queried, never held whole; a file the reader refuses (a
        malformed record, a record with more or fewer fields than ``columns``, bytes that are
        not UTF-8) raises :class:`ReadError`
        then."""

    def read_jsonl(
        self,
        view: str,
        path: Path,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
        with_keys: bool = False,
    ) -> None:
        """A temporary view ``view`` of the lines of a UTF-8 JSON Lines file (a byte-order
        mark is skipped), read as it is queried, one row per line in the file's order:
        ``_kind``
        (``'blank'`` for a line of white space only, ``'object'`` for a JSON object as
        Python's ``json.loads`` reads one, ``'other'`` for anything else — and for an object
        that names a key twice, whose last value Python keeps where the engine's lookups may
        find the first: with ``with_keys`` any of ``keys``; else any of ``rest_without``, while a
        key named twice among the others stays twice in ``_rest``) and, for a JSON
        object, per key ``keys[i]`` (top level): ``t{i}``, the kind of its value (one of
        :data:`JSON_KINDS`, NULL when the key is absent) and ``v{i}``, the value as text (a
        string's own text; ``true``/``false``; a number as JSON writes it; an array or
        object as JSON). With ``with_keys``, ``_keys`` lists which of ``keys`` the object
        holds, in its order, as their indexes joined by ``,``. With ``rest_without``,
        ``_rest`` is the object without those keys (JSON, keys in its order). A file the
        reader refuses raises :class:`ReadError` when the view is read."""

    def read_table(
        self,
        view: str,
        table: TableRef,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
    ) -> list[str]:
        """A temporary view ``view`` of a table's rows (Parquet files, a Delta table, a table
        of the engine's catalog: :class:`~segsync.connector.TableRef`), in the shape of
        :meth:`read_jsonl`'s view of objects, every row an object whose keys are the table's
        columns: ``_row`` numbers the rows from 1 in the order the engine reads them (files in
        order, rows in a file's order, where the engine knows it), ``_kind`` is
        ``'object'``, ``_keys`` lists which of ``keys`` are columns, ``t{i}``/``v{i}`` are the
        kind and text of column ``keys[i]`` by :func:`table_kind` (``'null'`` for a NULL;
        both NULL when the table has no such column), and with ``rest_without``, ``_rest`` is
        the row's other columns as a JSON object. The view reads the same rows, numbered the
        same, every time it is queried. Returns the table's columns, in order; a table the
        engine cannot find or read raises :class:`ReadError`."""

    def create_numbered(
        self, table: str, query: exp.Expr, view: str, *, first: int, numbered: bool = False
    ) -> None:
        """Read ``query`` once into the temporary table ``table``, and make the temporary view
        ``view`` of it: ``_row``, the row's number, ``seq`` (``first`` + ``_row``: its place
        in the stream), then the query's columns. The rows of a :meth:`read_csv` or
        :meth:`read_jsonl` view are numbered in the query's order (a CSV record's number, a
        line's number); with ``numbered``, the query has its rows' ``_row`` already (a
        :meth:`read_table` view's)."""

    def line_up(self, into: str, parts: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Make ``into`` from tables that hold one row per profile in the same order
        (``profile_key`` first): the first part's ``profile_key`` and every other part's
        listed columns, side by side."""

    def columns(self, table: str) -> dict[str, exp.DataType]:
        """The columns of a table or view, in order, with their types."""

    def misaligned(self, spine: str, part: str) -> int:
        """How many rows of ``part`` do not hold the ``profile_key`` of the same row of
        ``spine`` (0 when ``part`` lines up with it)."""
