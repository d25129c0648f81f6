"""The DuckDB engine: the embedded default, and the only module besides the store that knows
DuckDB (its dialect, its readers, its driver's exceptions)."""

from __future__ import annotations

import contextlib
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


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# the CSV reader's buffer: DuckDB's default (16 × its 2 MB longest line) is 32 MB, and a
# parallel read that keeps the file's order pins several at once — under a small memory_limit
# the read ran out of memory (at 128 MiB, with 8 MB buffers, in 2 of 4 reads of 1,000,000
# contacts); 4 MB still holds the longest line the reader takes (2 MB)
_CSV_BUFFER = "buffer_size = 4194304"

_READER_ERRORS = ("CSV Error", "CSV Parser", "Invalid unicode", "not utf-8")

# what Python's str.strip() strips (the characters of str.isspace), as an RE2 class
_WHITE = (
    "["
    "\\x{9}\\x{a}\\x{b}\\x{c}\\x{d}\\x{1c}\\x{1d}\\x{1e}"
    "\\x{1f}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}\\x{2001}\\x{2002}"
    "\\x{2003}\\x{2004}\\x{2005}\\x{2006}\\x{2007}\\x{2008}\\x{2009}\\x{200a}"
    "\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
    "]"
)
# JSON text json.loads refuses that DuckDB's reader takes, in three patterns that each open
# on one character (a pattern opening on a class of them reads 3 times slower): a comma
# before a closing bracket; a number written inf, nan or infinity, in any case, after a comma,
# a colon or an opening bracket (json.loads takes NaN, Infinity and -Infinity only: those are
# read in Python too, as is a string that holds such a text)
_BARE = "-?(?:[iI][nN][fF]|[nN][aA][nN])"
_LAX_JSON = (
    f",[ \\t\\r\\n]*(?:[}}\\]]|{_BARE})",
    f":[ \\t\\r\\n]*{_BARE}",
    f"\\[[ \\t\\r\\n]*{_BARE}",
)
DEEP_BRACKETS = 400
"""A JSON line with this many opening brackets is read by Python (it may nest deeper than
Python's JSON reader goes, which only Python can tell)."""
_JSON_KIND = (
    "CASE {v} WHEN 'NULL' THEN 'null' WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN "
    "'boolean' WHEN 'UBIGINT' THEN 'integer' WHEN 'BIGINT' THEN 'integer' WHEN 'ARRAY' THEN "
    "'array' WHEN 'OBJECT' THEN 'object' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN "
    "'number' END"
)


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
            f"encoding = 'utf-8', {_CSV_BUFFER})"
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
            f"strict_mode = true, encoding = 'utf-8', {_CSV_BUFFER})"
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
        # the paths looked up: the keys read, then any key left out of _rest not among them
        looked = [*keys, *(k for k in rest_without or () if k not in keys)]
        paths = "[" + ", ".join(_text("$." + _json_key(k)) for k in looked) + "]"
        wanted = "[" + ", ".join(_text(k) for k in keys) + "]"
        fields = "".join(
            f", CASE WHEN _kind = 'object' THEN {_JSON_KIND.format(v=f'_ty[{i + 1}]')} END "
            f"AS t{i}, CASE WHEN _kind = 'object' THEN _st[{i + 1}] END AS v{i}"
            for i in range(len(keys))
        )
        # blank: white space only; then the kinds of the keys' values, NULL when the line is
        # not JSON (json_valid would parse it once more)
        blank = (
            f"CASE WHEN _line IS NULL THEN TRUE WHEN left(_line, 1) = '{{' THEN FALSE "
            f"ELSE regexp_full_match(_line, '{_WHITE}*') END"
        )
        typed = (
            f"SELECT _line, _blank, CASE WHEN NOT _blank THEN try(json_type(_line, {paths})) "
            f"END AS _ty FROM (SELECT _line, {blank} AS _blank FROM {lines(path)})"
        )
        # an object: what json.loads takes
        lax = " AND ".join(f"NOT regexp_matches(_line, {_text(p)})" for p in _LAX_JSON)
        # nested deeper than json.loads can go (its C reader recurses, within Python's limit
        # of 1,000 frames): such a line holds at least DEEP_BRACKETS brackets, and is long;
        # the few lines that do are read in Python, which reads them or names them
        # (in a CASE: DuckDB evaluates both sides of an AND on every row, and counting the
        # brackets of every line cost 10 CPU-s on 6,000,000 orders; strlen is free)
        lax += (
            f" AND NOT CASE WHEN strlen(_line) >= {2 * DEEP_BRACKETS} THEN strlen(_line) - "
            f"strlen(translate(_line, '[{{', '')) >= {DEEP_BRACKETS} ELSE FALSE END"
        )
        kind = (
            "CASE WHEN _blank THEN 'blank' "
            # JSON that opens with '{' is an object: json_type parses only the others
            "WHEN _ty IS NOT NULL AND CASE WHEN left(_line, 1) = '{' THEN TRUE "
            "ELSE json_type(_line) = 'OBJECT' END "
            f"AND {lax} THEN 'object' ELSE 'other' END"
        )
        # A key named twice: Python keeps its last value, the engine's lookups the first, so
        # such an object is 'other'. With with_keys every key is listed, and the keys read
        # are checked for repeats (the others are not read); else (a list costs as much as
        # a parse) the keys are counted: _rest drops every copy of the keys it leaves out,
        # so a key of rest_without named twice leaves the object with more keys than _rest
        # and the ones found
        extra = ""
        if with_keys:
            listed = "CASE WHEN _kind = 'object' THEN json_keys(_line) END"
            keyed = (
                f"array_to_string(list_transform(list_filter(_listed, lambda k: "
                f"list_contains({wanted}, k)), lambda k: list_position({wanted}, k) - 1), ',')"
            )
            # a key of keys named twice is listed twice in _keys: more entries than keys
            # found (counting the commas of that short text; list_unique of every key, the
            # check before, cost 0.5 s per 1,000,000 lines)
            twice = (
                "CASE WHEN _keys = '' THEN 0 ELSE strlen(_keys) - strlen(replace(_keys, ',', '')) "
                f"+ 1 END <> {_found(range(len(keys)))}"
            )
        else:
            listed = "CAST(NULL AS VARCHAR[])"
            keyed = "CAST(NULL AS VARCHAR)"
            twice = "FALSE"
        rest = ""
        if rest_without is not None:
            patch = "{" + ", ".join(f"{_json_key(k)}: null" for k in rest_without) + "}"
            rest = (
                f", CASE WHEN _kind = 'object' THEN json_merge_patch(_line, {_text(patch)}) "
                "END AS _rest"
            )
            if not with_keys:
                extra = ", CASE WHEN _kind = 'object' THEN len(json_keys(_line)) END AS _many"
                found = _found(looked.index(k) for k in rest_without)
                twice = f"_many <> len(json_keys(_rest)) + {found}"
        parsed = (
            f"SELECT _kind, _listed, {keyed} AS _keys, _ty, "
            f"CASE WHEN _kind = 'object' THEN json_extract_string(_line, {paths}) END AS _st"
            f"{rest}{extra} FROM (SELECT _line, _kind, _ty, {listed} AS _listed FROM "
            f"(SELECT _line, _ty, {kind} AS _kind FROM ({typed})))"
        )
        checked = (
            f"SELECT CASE WHEN _kind = 'object' AND {twice} THEN 'other' ELSE _kind END AS _kind, "
            f"* EXCLUDE (_kind) FROM ({parsed})"
        )
        more = ", _rest" if rest_without is not None else ""
        self._run(
            f"CREATE OR REPLACE TEMP VIEW {_name(view)} AS SELECT _kind, _keys{fields}"
            f"{more} FROM ({checked})"
        )

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


def lines(path: Path) -> str:
    """A text file's lines as a relation of one column, ``_line`` (NULL for an empty line),
    in the file's order: DuckDB's CSV reader with a delimiter, quote and escape no line
    holds (what :meth:`DuckDBEngine.read_jsonl` reads; a byte-order mark is skipped)."""
    return (
        f"read_csv({_text(str(path))}, header = false, columns = {{'_line': 'VARCHAR'}}, "
        "delim = '\\x01', quote = '', escape = '', auto_detect = false, strict_mode = true, "
        f"encoding = 'utf-8', {_CSV_BUFFER})"
    )


def _column(name: str) -> str:
    """A column (or table) name as DuckDB reads it, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _found(indexes: Iterable[int]) -> str:
    """How many of the keys looked up at ``indexes`` (of ``_ty``) the object holds."""
    return " + ".join(f"(_ty[{i + 1}] IS NOT NULL)::INT" for i in indexes) or "0"


def _text(value: str) -> str:
    """A string literal as DuckDB reads it."""
    return "'" + value.replace("'", "''") + "'"


def _json_key(key: str) -> str:
    """A top-level key as a JSON path step: quoted, its quotes and backslashes escaped."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(name: str) -> str:
    """A table name as DuckDB reads it (segsync's own names: letters, digits, '_')."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {name!r}")
    return name
