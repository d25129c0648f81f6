"""``DELETE`` and ``UPDATE`` on Spark tables that have neither (Parquet): each rewritten as a
replacement of the table — the rows kept, the rows changed — into a new table that then takes
the old one's name (:meth:`SparkEngine._replace`). Not atomic: a crash between the drop and the
rename loses the table (docs/scaling.md: use Delta or Iceberg for the ledger in production,
where the statements run as they are). A temporary table (a held frame) is replaced by a new
frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from segsync.engine.spark_session import _quoted, _translated

if TYPE_CHECKING:
    from segsync.engine.spark import SparkEngine

__all__ = ["delete", "update"]


def _target(statement: exp.Delete | exp.Update) -> str:
    table = statement.this
    if not isinstance(table, exp.Table):
        raise ValueError(f"not a table: {table!r}")
    return table.name


def delete(engine: SparkEngine, statement: exp.Delete) -> None:
    """``DELETE`` as a replacement of the table by the rows it keeps (nothing when no row
    matches; a ``TRUNCATE`` when every row goes)."""
    name = _target(statement)
    where = statement.args.get("where")
    if where is None:
        if name in engine._frames:
            with _translated():
                engine._hold(name, engine._frames[name].limit(0))
        else:
            engine._run(f"TRUNCATE TABLE {engine._table(name)}")
        return
    condition = engine.sql(where.this)
    if not engine._sql(f"SELECT 1 FROM {engine._table(name)} WHERE {condition} LIMIT 1").collect():
        return
    engine._replace(
        name,
        f"SELECT * FROM {engine._table(name)} AS {_quoted(name)} "
        f"WHERE NOT coalesce({condition}, false)",
        temporary=name in engine._frames,
    )


def update(engine: SparkEngine, statement: exp.Update) -> None:
    """``UPDATE`` (with ``FROM``: a join) as a replacement of the table by every row, the
    matching ones changed (nothing when no row matches)."""
    name = _target(statement)
    types = engine._types(name)
    where = statement.args.get("where")
    condition = engine.sql(where.this) if where is not None else "true"
    sets = {s.this.name: engine.sql(s.expression) for s in statement.expressions}
    source = statement.args.get("from_") or statement.args.get("from")
    me = _quoted(name)
    if source is None:
        hit = f"coalesce({condition}, false)"
        tail = f"FROM {engine._table(name)} AS {me}"
    else:
        other = source.this.copy()
        alias = other.alias_or_name
        other.set("alias", None)
        hit = f"{_quoted(alias)}._segsync_hit IS NOT NULL"
        tail = (
            f"FROM {engine._table(name)} AS {me} LEFT JOIN (SELECT *, true AS _segsync_hit "
            f"FROM {engine.sql(other)}) AS {_quoted(alias)} ON {condition}"
        )
    projection = ", ".join(
        f"CAST(CASE WHEN {hit} THEN {sets[c]} ELSE {me}.{_quoted(c)} END AS {t}) AS {_quoted(c)}"
        if c in sets
        else f"{me}.{_quoted(c)}"
        for c, t in types.items()
    )
    if not engine._sql(f"SELECT 1 {tail} WHERE {hit} LIMIT 1").collect():
        return
    engine._replace(name, f"SELECT {projection} {tail}", temporary=name in engine._frames)
