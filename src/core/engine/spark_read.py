"""The Spark engine's readers: the vectorised ingest's staged CSV and
tables as they stand (:func:`read_table`: Parquet, Delta, catalog tables) for the ``table``
connector."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from segsync.engine import REPEATED_EXAMPLES, ReadError, TableKind, table_kind
from segsync.engine.spark_session import _first_line, _literal, _quoted, _translated, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from segsync.connector import TableRef
    from segsync.engine.spark import SparkEngine

__all__ = ["load_staged", "read_table"]

_IN_PARTITION = (1 << 33) - 1
"""monotonically_increasing_id(): the partition's index above bit 33, the row's below."""


def load_staged(
    engine: SparkEngine,
    table: str,
    path: Path,
    columns: Mapping[str, str],
    *,
    key: str,
    order: str,
) -> tuple[int, list[str]]:
    """Read a staging file of the vectorised ingest (CSV without a header, NULL as
    ``\\N``, a text starting with a backslash escaped by another, JSON as text) into a
    new temporary ``table`` with typed ``columns``, keeping the row with the highest
    ``order`` per ``key``; its row count and the first keys repeated (in ``order``)."""
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(c, StringType()) for c in columns])
    view = f"_segsync_csv_{uuid.uuid4().hex[:12]}"
    with _translated():
        engine.session.read.schema(schema).options(
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
        engine._replace(
            table,
            f"SELECT {typed} FROM (SELECT *, row_number() OVER (PARTITION BY {_quoted(key)} "
            f"ORDER BY CAST({_quoted(order)} AS BIGINT) DESC) AS _segsync_rank "
            f"FROM {view}) WHERE _segsync_rank = 1",
            temporary=True,
        )
        kept = int(engine._sql(f"SELECT count(*) FROM {engine._table(table)}").first()[0])  # type: ignore[index]
        repeated: list[str] = []
        if int(engine._sql(f"SELECT count(*) FROM {view}").first()[0]) != kept:  # type: ignore[index]
            repeated = [
                str(r[0])
                for r in engine._sql(
                    f"SELECT k FROM (SELECT {_quoted(key)} AS k, min(CAST({_quoted(order)} AS "
                    f"BIGINT)) AS o FROM {view} GROUP BY {_quoted(key)} HAVING count(*) > 1) "
                    f"ORDER BY o LIMIT {REPEATED_EXAMPLES}"
                ).collect()
            ]
    finally:
        engine.session.catalog.dropTempView(view)
    return kept, repeated


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


def read_table(
    engine: SparkEngine,
    view: str,
    table: TableRef,
    keys: Sequence[str],
    *,
    rest_without: Sequence[str] | None = None,
) -> list[str]:
    """:meth:`segsync.engine.Engine.read_table` on Spark: the table read once and held by the
    executors (a checkpointed frame under the view's name, so every query of the view sees
    the same rows, numbered the same), its rows numbered from 1 in partition order — the
    files' order as Spark splits them — without gathering them in one partition: each
    partition's count, on the driver, gives the offset of its first row."""
    from pyspark.sql import functions as F

    reader = engine.session.read
    try:
        if table.kind == "parquet":
            frame = reader.parquet(table.location)
        elif table.kind == "delta":
            frame = reader.format("delta").load(table.location)
        else:
            frame = engine.session.table(table.location)
        fields = frame.schema.fields
    except Exception as exc:  # no such path or table, not Parquet, no Delta jar: the table's
        raise ReadError(_first_line(exc)) from exc
    types = {f.name: exp.DataType.build(f.dataType.simpleString(), dialect="spark") for f in fields}
    present = ",".join(str(i) for i, k in enumerate(keys) if k in types)
    columns = ["'object' AS _kind", f"'{present}' AS _keys"]
    for i, key in enumerate(keys):
        if key in types:
            kind, text = _field(_quoted(key), table_kind(types[key]))
            columns += [
                f"CASE WHEN {_quoted(key)} IS NULL THEN 'null' ELSE '{kind}' END AS t{i}",
                f"{text} AS v{i}",
            ]
        else:
            columns += [f"CAST(NULL AS STRING) AS t{i}", f"CAST(NULL AS STRING) AS v{i}"]
    if rest_without is not None:
        rest = [c for c in types if c not in rest_without]
        pairs = ", ".join(f"'{_literal(c)}', {_quoted(c)}" for c in rest)
        columns.append(f"to_json(named_struct({pairs})) AS _rest" if rest else "'{}' AS _rest")
    with _translated():
        numbered = frame.withColumn("_segsync_id", F.monotonically_increasing_id())
        held = numbered.localCheckpoint(eager=True)
        part = F.shiftright(F.col("_segsync_id"), 33)
        counts = held.groupBy(part.alias("p")).count().collect()
        offsets, total = [], 0
        for row in sorted(counts, key=lambda r: int(r["p"])):
            offsets.append((int(row["p"]), total))
            total += int(row["count"])
        starts: DataFrame = engine.session.createDataFrame(
            offsets or [(0, 0)], "p BIGINT, o BIGINT"
        )
        rows = held.join(F.broadcast(starts), part == starts["p"])
        rows = rows.withColumn(
            "_row", F.col("o") + F.expr(f"_segsync_id & {_IN_PARTITION}") + F.lit(1)
        )
        engine._hold(view, rows.selectExpr("_row", *columns))
    return list(types)


def _field(column: str, kind: TableKind) -> tuple[str, str]:
    """A table column as ``read_table`` hands it over: (its JSON kind, its text)."""
    if kind == "boolean":
        return "boolean", f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
    if kind in ("string", "integer"):
        return kind, f"CAST({column} AS STRING)"
    if kind in ("array", "object"):
        return kind, f"to_json({column})"
    if kind == "time_tz":  # the session's time zone is UTC
        return "string", f"CAST(CAST({column} AS TIMESTAMP_NTZ) AS STRING)"
    return "string", f"CAST({column} AS STRING)"
