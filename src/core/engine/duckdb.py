"""The DuckDB engine: the embedded default, and the only module besides the store that knows
DuckDB (its dialect, its readers, its driver's exceptions)."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from segsync.engine import (
    REPEATED_EXAMPLES,
    DataError,
    EngineError,
    OutOfMemory,
    ReadError,
    StorageError,
    TableKind,
    column_types,
    table_kind,
)
from segsync.engine.duckdb_jsonl import CSV_BUFFER, first_keys, jsonl_view, lines
from segsync.engine.duckdb_jsonl import literal as _text

if TYPE_CHECKING:
    from segsync.connector import TableRef

__all__ = ["SCRATCH", "DuckDBEngine", "lines", "translate"]

SCRATCH = "segsync_scratch"
"""The in-memory database :meth:`DuckDBEngine.scratch` engines make their temporary objects in."""

_DATA_ERRORS = (
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
    duckdb.BinderException,
    duckdb.TypeMismatchException,
)


_SIZE = re.compile(r"([0-9]+(?:[.][0-9]+)?) ?(bytes|KiB|MiB|GiB|TiB|PiB)")
_UNITS = {
    "bytes": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "PiB": 1 << 50,
}


def memory_size(setting: str) -> int | None:
    """Bytes of a memory setting as DuckDB shows it (``"256.0 MiB"``, ``"3.7 GiB"``); None
    for a text of another shape."""
    found = _SIZE.fullmatch(setting.strip())
    return None if found is None else int(float(found[1]) * _UNITS[found[2]])


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


_READER_ERRORS = ("CSV Error", "CSV Parser", "Invalid unicode", "not utf-8")


def translate(exc: duckdb.Error) -> EngineError | None:
    """The segsync error for a DuckDB exception, or None for one that means a bug."""
    if isinstance(exc, duckdb.InvalidInputException) and any(
        marker in str(exc) for marker in _READER_ERRORS
    ):
        return ReadError(_first_line(exc))
    if isinstance(exc, duckdb.OutOfMemoryException):
        return OutOfMemory(_first_line(exc))
    if isinstance(exc, duckdb.IOException) or "No space left" in str(exc):
        return StorageError(_first_line(exc))
    if isinstance(exc, _DATA_ERRORS):
        return DataError(_first_line(exc))
    return None


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


def type_errors(
    columns: Mapping[str, str], conditions: Mapping[str, exp.Expression]
) -> dict[str, str]:
    """Per condition (by its key) that cannot run on the columns' types, DuckDB's reason,
    found without any data: a text compared with a number (``country > 5``), a text that is
    no value of its column's type (``revenue > '1,000'``, ``signup_date > '2025-13-01'``).
    Each is run over a table of one row of NULLs typed as ``columns`` (name → SQL type): a
    NULL makes no function or cast fail, so only the types and the condition's own values
    can."""
    if not conditions:
        return {}
    row = ", ".join(f"CAST(NULL AS {t}) AS {_column(c)}" for c, t in columns.items())
    found: dict[str, str] = {}
    # one in-memory database for the process (opening one costs ~15 ms, and a config load
    # checks segments and score rules apart), a cursor of its own per call
    with _checks().cursor() as con:
        # a table, not a SELECT of constants: the optimiser would fold the NULLs away and
        # never convert the condition's texts
        con.execute(f"CREATE OR REPLACE TEMP TABLE p AS SELECT {row}")
        for key, condition in conditions.items():
            # each operand of AND, OR and NOT on its own: the engine skips the rest of a
            # conjunction once one part decides it (NULL AND … still runs; TRUE OR … not)
            parts = ", ".join(f"({part.sql(dialect='duckdb')})" for part in _operands(condition))
            try:
                con.execute(f"SELECT {parts} FROM p").fetchall()
            except _DATA_ERRORS as exc:  # a type, a conversion, an overflow of constants
                found[key] = re.sub(r"^[\w ]+ Error: ", "", _first_line(exc))
    return found


@functools.cache
def _checks() -> duckdb.DuckDBPyConnection:
    """The in-memory database :func:`type_errors` binds conditions in."""
    return duckdb.connect(":memory:")


def _operands(condition: exp.Expression) -> list[exp.Expression]:
    """The parts of a condition under its AND, OR, NOT and parentheses, left to right (a
    loop: a chain of a thousand ANDs is a thousand levels deep)."""
    parts: list[exp.Expression] = []
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.And | exp.Or):
            stack += [node.expression, node.this]
        elif isinstance(node, exp.Not | exp.Paren):
            stack.append(node.this)
        else:
            parts.append(node)
    return parts


def _constant(column: Sequence[Any]) -> bool:
    """Whether a column holds one text, integer, boolean or NULL value throughout."""
    first = column[0]
    kind = type(first)
    if len(column) < 2 or (first is not None and kind not in (str, bool, int)):
        return False
    return column.count(first) == len(column) and set(map(type, column)) == {kind}


class DuckDBEngine:
    """An :class:`segsync.engine.Engine` over one DuckDB connection."""

    dialect = "duckdb"
    reads_files = True

    def __init__(self, con: duckdb.DuckDBPyConnection, *, scratch: bool = False) -> None:
        self.con = con
        self._temp = "" if scratch else "TEMP "
        """How a *temporary* object is made: a scratch engine's (:meth:`scratch`) are ordinary
        ones of the scratch database, which its parent reads."""
        self._scratch_lock = threading.Lock()
        self._scratches: set[duckdb.DuckDBPyConnection] = set()
        """The connections of the scratch engines open now (:meth:`interrupt_scratch`)."""

    def __repr__(self) -> str:
        return "<DuckDBEngine>"

    def sql(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[DuckDBEngine]:
        """An engine on a connection of its own to the same database (``con.cursor()``)."""
        con = self.con.cursor()
        try:
            yield DuckDBEngine(con)
        finally:
            con.close()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[DuckDBEngine]:
        """An engine on a connection of its own whose temporary tables and views this engine
        reads: they are made in an in-memory database attached beside the store (:data:`SCRATCH`,
        which spills to disk past the memory limit like temporary tables), which this engine
        looks names up in after its own. Several run at once (DuckDB runs their statements
        side by side); they share that database's names."""
        with self._scratch_lock:
            store = self._run("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            attached = self._run(
                "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [SCRATCH]
            ).fetchone()[0]  # type: ignore[index]
            if not attached:
                self._run(f"ATTACH ':memory:' AS {SCRATCH} (COMPRESS)")
                self._run(f"SET search_path = {_text(f'{_column(store)}.main,{SCRATCH}.main')}")
        con = self.con.cursor()
        with self._scratch_lock:
            self._scratches.add(con)
        try:
            with _translated():
                con.execute(f"USE {SCRATCH}")
                con.execute(f"SET search_path = {_text(f'{SCRATCH}.main,{_column(store)}.main')}")
            yield DuckDBEngine(con, scratch=True)
        finally:
            con.close()
            with self._scratch_lock:
                self._scratches.discard(con)

    def interrupt_scratch(self, timeout: float) -> bool:
        """Interrupt whatever the open scratch engines run (a cancelled run's threads reading
        files), until their blocks have closed them or ``timeout`` seconds have passed; True
        when none is left open."""
        deadline = time.monotonic() + timeout
        while True:
            with self._scratch_lock:
                open_now = list(self._scratches)
            if not open_now:
                return True
            if time.monotonic() >= deadline:
                return False
            for con in open_now:
                with contextlib.suppress(duckdb.Error):
                    con.interrupt()
            time.sleep(0.02)

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        with _translated():
            return self.con.execute(sql, params or [])

    def execute(self, statement: exp.Expr) -> None:
        self._run(self.sql(statement))

    def rows(self, query: exp.Expr) -> list[tuple[Any, ...]]:
        with _translated():
            return self._run(self.sql(query)).fetchall()

    def dicts(self, query: exp.Expr) -> list[dict[str, Any]]:
        with _translated():
            cur = self._run(self.sql(query))
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def scalar(self, query: exp.Expr) -> Any:
        with _translated():
            row = self._run(self.sql(query)).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._run("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self._run("COMMIT")

    @contextlib.contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        before = self._run("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]
        self._run(f"SET memory_limit = {_text(limit)}")
        try:
            yield
        finally:
            self._run(f"SET memory_limit = {_text(str(before))}")

    def memory_bytes(self) -> int | None:
        setting = self._run("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]
        return memory_size(str(setting))

    def create_table(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        temp = self._temp if temporary else ""
        self._run(f"CREATE OR REPLACE {temp}TABLE {_name(name)} AS {self.sql(query)}")

    def create_empty(
        self, name: str, columns: Mapping[str, str], *, temporary: bool = False
    ) -> None:
        temp = self._temp if temporary else ""
        defs = ", ".join(d.sql(dialect=self.dialect) for d in column_types(columns))
        self._run(f"CREATE OR REPLACE {temp}TABLE {_name(name)} ({defs})")

    def create_view(self, name: str, query: exp.Expr, *, temporary: bool = False) -> None:
        temp = self._temp if temporary else ""
        self._run(f"CREATE OR REPLACE {temp}VIEW {_name(name)} AS {self.sql(query)}")

    def drop(self, *names: str, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        for name in names:
            self._run(f"DROP {kind} IF EXISTS {_name(name)}")

    def insert(self, table: str, query: exp.Expr, *, columns: Sequence[str] | None = None) -> None:
        names = f" ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)})" if columns else ""
        self._run(f"INSERT INTO {_name(table)}{names} {self.sql(query)}")

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        data = list(rows)
        if data:
            self.insert_columns(table, dict(zip(columns, zip(*data, strict=True), strict=True)))

    def insert_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        if not columns or not len(next(iter(columns.values()))):
            return
        names = ", ".join(f'"{c}"' for c in columns)
        # a column holding one value throughout goes as that value, not as a list of it:
        # handing DuckDB a Python list costs per element, and batches of confirmed changes
        # are mostly such columns (ok, permanent, reason, …); one column stays a list, so
        # the statement still makes one row per element
        constant = [_constant(col) for col in columns.values()]
        if all(constant):
            constant[0] = False
        selects: list[str] = []
        values: list[Any] = []
        for col, same in zip(columns.values(), constant, strict=True):
            values.append(col[0] if same else list(col))
            selects.append(f"${len(values)}" if same else f"unnest(${len(values)})")
        self._run(f"INSERT INTO {_name(table)} ({names}) SELECT {', '.join(selects)}", values)

    def arrays(self, query: exp.Expr) -> dict[str, Any]:
        with _translated():
            columns: dict[str, Any] = self._run(self.sql(query)).fetchnumpy()
        for name, values in columns.items():
            mask = getattr(values, "mask", None)  # a masked array: the column held NULLs
            if mask is not None:
                if values.dtype.kind in "fiu":
                    columns[name] = values.astype("float64").filled(float("nan"))
                else:
                    columns[name] = values.filled(None)
        return columns

    def insert_arrays(self, table: str, columns: Mapping[str, Any]) -> None:
        view = f"_segsync_arrays_{id(columns):x}"
        names = ", ".join(f'"{c}"' for c in columns)
        with _translated():
            self.con.register(view, dict(columns))
            try:
                self._run(f"INSERT INTO {_name(table)} ({names}) SELECT {names} FROM {view}")
            finally:
                self.con.unregister(view)

    def load_staged(
        self,
        table: str,
        path: Path,
        columns: Mapping[str, str],
        *,
        key: str,
        order: str,
    ) -> tuple[int, list[str]]:
        spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in columns) + "}"
        typed = ", ".join(_staged(n, t) for n, t in columns.items() if n != order)
        read = (
            f"read_csv(?, header = false, columns = {spec}, nullstr = '\\N', quote = '\"', "
            "escape = '\"', delim = ',', auto_detect = false, strict_mode = true, "
            f"encoding = 'utf-8', {CSV_BUFFER})"
        )
        # A key is seldom repeated within a pull: read the file as it is, and only when a key
        # is repeated read it again keeping the last row of each (a window sorts every row:
        # twice the work of the plain read)
        self._run(f"CREATE OR REPLACE TEMP TABLE {_name(table)} AS SELECT {typed} FROM {read}",
                  [str(path)])  # fmt: skip
        rows, keys = self._run(
            f'SELECT count(*), count(DISTINCT "{key}") FROM {_name(table)}'
        ).fetchone()  # type: ignore[misc]
        if rows != keys:
            # the file's order is the table's (rowid)
            repeated = self._run(
                f'SELECT "{key}" FROM {_name(table)} GROUP BY 1 HAVING count(*) > 1 '
                f"ORDER BY min(rowid) LIMIT {REPEATED_EXAMPLES}"
            ).fetchall()
            self._run(
                f"CREATE OR REPLACE TEMP TABLE {_name(table)} AS SELECT {typed} FROM (SELECT *, "
                f'row_number() OVER (PARTITION BY "{key}" ORDER BY CAST("{order}" AS BIGINT) '
                f"DESC) AS _last FROM {read}) WHERE _last = 1",
                [str(path)],
            )
            kept = int(self._run(f"SELECT count(*) FROM {_name(table)}").fetchone()[0])  # type: ignore[index]
            return kept, [str(r[0]) for r in repeated]
        return int(rows), []

    def read_csv(
        self, view: str, path: Path, columns: Sequence[str], *, delimiter: str = ","
    ) -> None:
        spec = "{" + ", ".join(f"{_text(c)}: 'VARCHAR'" for c in columns) + "}"
        names = ", ".join(f'"{c}"' for c in columns)
        self._run(
            f"CREATE OR REPLACE TEMP VIEW {_name(view)} AS SELECT {names} "
            f"FROM read_csv({_text(str(path))}, header = true, columns = {spec}, "
            f"delim = {_text(delimiter)}, quote = '\"', escape = '\"', auto_detect = false, "
            f"strict_mode = true, encoding = 'utf-8', {CSV_BUFFER})"
        )

    def read_jsonl(
        self,
        view: str,
        path: Path,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
        with_keys: bool = False,
    ) -> None:
        self._run(
            jsonl_view(
                _name(view), path, keys, rest_without=rest_without, with_keys=with_keys,
                shape=first_keys(path),
            )
        )  # fmt: skip

    def read_table(
        self,
        view: str,
        table: TableRef,
        keys: Sequence[str],
        *,
        rest_without: Sequence[str] | None = None,
    ) -> list[str]:
        source = _table_source(table)
        with _translated():
            try:
                described = self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            except (
                duckdb.IOException,
                duckdb.CatalogException,
                duckdb.BinderException,
                duckdb.InvalidInputException,
            ) as exc:
                raise ReadError(_first_line(exc)) from exc
        types = {str(r[0]): exp.DataType.build(str(r[1]), dialect=self.dialect) for r in described}
        present = ",".join(str(i) for i, k in enumerate(keys) if k in types)
        fields = []
        for i, key in enumerate(keys):
            if key in types:
                kind, text = _table_field(_column(key), table_kind(types[key]))
                fields.append(
                    f"CASE WHEN {_column(key)} IS NULL THEN 'null' ELSE '{kind}' END AS t{i}, "
                    f"{text} AS v{i}"
                )
            else:
                fields.append(f"CAST(NULL AS VARCHAR) AS t{i}, CAST(NULL AS VARCHAR) AS v{i}")
        if rest_without is not None:
            rest = [c for c in types if c not in rest_without]
            pairs = ", ".join(f"{_text(c)}, {_column(c)}" for c in rest)
            fields.append(f"CAST(json_object({pairs}) AS VARCHAR) AS _rest")
        # row_number() OVER () streams in the scan's order (files in order, rows in order)
        self._run(
            f"CREATE OR REPLACE TEMP VIEW {_name(view)} AS SELECT row_number() OVER () AS _row, "
            f"'object' AS _kind, {_text(present)} AS _keys, {', '.join(fields)} FROM {source}"
        )
        return list(types)

    def create_numbered(
        self, table: str, query: exp.Expr, view: str, *, first: int, numbered: bool = False
    ) -> None:
        # A CREATE TABLE … AS keeps the order of its query (preserve_insertion_order), and a
        # table's row ids count its rows in that order: a table's rows (``numbered``, by
        # read_table's row_number() OVER (), which streams in the scan's order) are numbered
        # the same by their row ids, and the window, which runs on one thread, is left out
        # (6M orders from Parquet read in 4.0 s on two threads rather than 6.9 s on one).
        # The columns go in one STRUCT column: an ordered insert runs on as many threads as
        # its memory limit has room for, at 4 MB a column a thread — a file's dozens of
        # columns would take one thread at segsync's limits (a million contacts' 49 columns
        # at 256 MiB: 5.8 s on one thread, packed 3.5 s on two), one column takes them all.
        if numbered:
            assert isinstance(query, exp.Select)
            query = query.copy()
            query.set("expressions", [e for e in query.expressions if e.alias_or_name != "_row"])
        self._run(
            f"CREATE OR REPLACE {self._temp}TABLE {_name(table)} AS SELECT _q AS _r "
            f"FROM ({self.sql(query)}) AS _q"
        )
        self._run(
            f"CREATE OR REPLACE {self._temp}VIEW {_name(view)} AS SELECT rowid + 1 AS _row, "
            f"rowid + {int(first) + 1} AS seq, _r.* FROM {_name(table)}"
        )

    def line_up(self, into: str, parts: Sequence[tuple[str, Sequence[str]]]) -> None:
        (spine, _), *rest = parts
        columns = "".join(
            f', t{i}."{c}"' for i, (_, cols) in enumerate(rest, start=1) for c in cols
        )
        joins = "".join(
            f" POSITIONAL JOIN {_name(table)} t{i}" for i, (table, _) in enumerate(rest, start=1)
        )
        self._run(
            f"CREATE OR REPLACE TABLE {_name(into)} AS "
            f"SELECT t0.profile_key{columns} FROM {_name(spine)} t0{joins}"
        )

    def columns(self, table: str) -> dict[str, exp.DataType]:
        rows = self._run(f"DESCRIBE {_name(table)}").fetchall()
        return {str(r[0]): exp.DataType.build(str(r[1]), dialect=self.dialect) for r in rows}

    def misaligned(self, spine: str, part: str) -> int:
        row = self._run(
            f"SELECT count(*) FROM {_name(spine)} k POSITIONAL JOIN {_name(part)} t "
            "WHERE k.profile_key IS DISTINCT FROM t.profile_key"
        ).fetchone()
        return int(row[0]) if row else 0


def _staged(name: str, type_: str) -> str:
    """A staging file's text cell as its column's type (see ``load_staged``)."""
    if type_ == "JSON":
        return f'json("{name}") AS "{name}"'
    if type_ == "VARCHAR":
        escaped = f'starts_with("{name}", chr(92))'  # a leading backslash was doubled
        return f'CASE WHEN {escaped} THEN substr("{name}", 2) ELSE "{name}" END AS "{name}"'
    return f'CAST("{name}" AS {type_}) AS "{name}"'


def _table_source(table: TableRef) -> str:
    """What a FROM reads for a table: Parquet files, a Delta table (the ``delta``
    extension), or a table by name (``database.table``, of an attached database)."""
    if table.kind == "parquet":
        return f"read_parquet({_text(table.location)})"
    if table.kind == "delta":
        return f"delta_scan({_text(table.location)})"
    parts = table.location.split(".")
    return ".".join(_column(p) for p in parts)


def _table_field(column: str, kind: TableKind) -> tuple[str, str]:
    """A table column as ``read_table`` hands it over: (its JSON kind, its text)."""
    if kind == "boolean":
        return "boolean", f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
    if kind in ("string", "integer"):
        return kind, f"CAST({column} AS VARCHAR)"
    if kind in ("array", "object"):
        return kind, f"CAST(to_json({column}) AS VARCHAR)"
    if kind == "time_tz":
        return "string", f"CAST(CAST(timezone('UTC', {column}) AS TIMESTAMP) AS VARCHAR)"
    if kind == "time":
        return "string", f"CAST(CAST({column} AS TIMESTAMP) AS VARCHAR)"
    return "string", f"CAST({column} AS VARCHAR)"


def _column(name: str) -> str:
    """A column (or table) name as DuckDB reads it, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _name(name: str) -> str:
    """A table name as DuckDB reads it (segsync's own names: letters, digits, '_')."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return name
