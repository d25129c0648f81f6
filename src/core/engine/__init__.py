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
condition, usually), :class:`StorageError` when the store cannot be written, and
:class:`OutOfMemory` when the engine's memory limit is reached.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlglot import exp

__all__ = [
    "DataError",
    "Engine",
    "EngineError",
    "OutOfMemory",
    "StorageError",
    "column_types",
    "parse",
]


class EngineError(Exception):
    """Base of the errors an engine raises; the message is the engine's own, first line."""


class DataError(EngineError):
    """A statement failed on the data: a conversion, an overflow, a type mismatch."""


class StorageError(EngineError):
    """The store cannot be read or written (disk full, permissions, I/O)."""


class OutOfMemory(EngineError):
    """The engine reached its memory limit."""


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

    def sql(self, statement: exp.Expr) -> str:
        """``statement`` rendered in this engine's dialect."""

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

    def arrays(self, query: exp.Expr) -> dict[str, Any]:
        """Run a query; its columns as numpy arrays, by name, in the rows' order (for the
        predictive trait kinds: needs numpy, the ``predict`` extra). A NULL comes back as NaN
        in a numeric column; keep NULLs out of integer and text columns."""

    def insert_arrays(self, table: str, columns: Mapping[str, Any]) -> None:
        """Append rows to ``table`` from equal-length numpy arrays, one per column (by name):
        many rows at once, without Python objects per row."""

    def load_jsonl(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> int:
        """Read a JSON Lines staging file into a new temporary ``table`` with typed
        ``columns``, keeping the row with the highest ``order`` per ``key``; its row count."""

    def line_up(self, into: str, parts: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Make ``into`` from tables that hold one row per profile in the same order
        (``profile_key`` first): the first part's ``profile_key`` and every other part's
        listed columns, side by side."""

    def columns(self, table: str) -> dict[str, exp.DataType]:
        """The columns of a table or view, in order, with their types."""

    def misaligned(self, spine: str, part: str) -> int:
        """How many rows of ``part`` do not hold the ``profile_key`` of the same row of
        ``spine`` (0 when ``part`` lines up with it)."""
