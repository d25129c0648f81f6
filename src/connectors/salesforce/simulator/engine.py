"""Evaluating a parsed SOQL :class:`~.soql.Query` against the :class:`~.data.Org`.

:func:`select` picks candidate records through an index when a top-level ``AND`` term allows
it (``Id =|IN``, ``Email =|IN`` on Contact/Lead, ``CampaignId =`` and ``ContactId``/``LeadId``/
``LeadOrContactId =`` on CampaignMember, ranges on ``SystemModstamp``/``LastModifiedDate``),
otherwise scans the object; then applies the whole ``WHERE`` to every candidate, sorts, offsets
and limits. Comparison semantics follow SOQL: text compares case-insensitively; ``!=`` and
``NOT IN`` keep nulls; ``<``/``>`` and ``LIKE`` never match null; ``ORDER BY`` puts nulls first
ascending and last descending unless ``NULLS FIRST|LAST`` says otherwise.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from .data import STAMP_FIELDS, Org, Record
from .schema import STRING_TYPES, Field, csv_value, json_value
from .soql import BoolOp, Cmp, DateRange, InList, Like, Node, Not, Query

__all__ = ["Row", "csv_rows", "json_records", "select"]

Predicate = Callable[[Record], bool]
Row = Record
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _reader(org: Org, obj: str, f: Field) -> Callable[[Record], Any]:
    get = org.getter(obj, f.name)
    if f.type in STRING_TYPES:

        def lower(record: Record) -> Any:
            value = get(record)
            return None if value is None else str(value).lower()

        return lower
    return get


def _compile(org: Org, obj: str, node: Node) -> Predicate:
    if isinstance(node, BoolOp):
        parts = [_compile(org, obj, item) for item in node.items]
        if node.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(node, Not):
        inner = _compile(org, obj, node.item)
        return lambda r: not inner(r)
    get = _reader(org, obj, node.field)
    if isinstance(node, InList):
        values, negate = node.values, node.negate
        return lambda r: (get(r) in values) != negate
    if isinstance(node, Like):
        match = node.pattern.fullmatch

        def like(record: Record) -> bool:
            value = get(record)
            return value is not None and match(value) is not None

        return like
    return _compare(get, node)


def _compare(get: Callable[[Record], Any], node: Cmp) -> Predicate:
    op, value = node.op, node.value
    if isinstance(value, DateRange):
        start, end = value.start, value.end
        ranges: dict[str, Predicate] = {
            "=": lambda r: (v := get(r)) is not None and start <= v < end,
            "!=": lambda r: (v := get(r)) is None or not start <= v < end,
            "<": lambda r: (v := get(r)) is not None and v < start,
            "<=": lambda r: (v := get(r)) is not None and v < end,
            ">": lambda r: (v := get(r)) is not None and v >= end,
            ">=": lambda r: (v := get(r)) is not None and v >= start,
        }
        return ranges[op]
    if op == "=":
        return lambda r: get(r) == value
    if op == "!=":
        return lambda r: get(r) != value
    compare = _OPS[op]
    return lambda r: (v := get(r)) is not None and compare(v, value)


def _terms(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if isinstance(node, BoolOp) and node.op == "AND":
        return list(node.items)
    return [node]


def _bounds(op: str, value: Any) -> tuple[int | None, int | None]:
    """The inclusive ``(low, high)`` epoch-ms range a stamp comparison keeps (None = open)."""
    start, last = (value.start, value.end - 1) if isinstance(value, DateRange) else (value, value)
    bounds: dict[str, tuple[int | None, int | None]] = {
        "=": (start, last),
        ">": (last + 1, None),
        ">=": (start, None),
        "<": (None, start - 1),
        "<=": (None, last),
    }
    return bounds.get(op, (None, None))


def _candidates(org: Org, query: Query, include_deleted: bool) -> Iterable[Record]:
    """Records that may match, through an index where a top-level AND term allows."""
    obj = query.sobject.name
    records = org.records[obj]
    terms = _terms(query.where)
    for term in terms:
        if isinstance(term, Cmp) and term.op == "=" and term.value is not None:
            values: frozenset[Any] = frozenset([term.value])
        elif isinstance(term, InList) and not term.negate:
            values = frozenset(v for v in term.values if v is not None)
        else:
            continue
        name = term.field.name
        if name == "Id":
            return [records[v] for v in values if v in records]
        if name == "Email" and obj in ("Contact", "Lead"):
            return [r for v in values for r in org.by_email(obj, v)]
        if obj == "CampaignMember" and not include_deleted:
            if name == "CampaignId":
                return [records[m] for v in values for m in org.members_of(v).values()]
            if name in ("ContactId", "LeadId", "LeadOrContactId"):
                return [records[m] for v in values for m in org.members_of_person(v)]
    for field in STAMP_FIELDS:
        low: int | None = None
        high: int | None = None
        for term in terms:
            if isinstance(term, Cmp) and term.field.name == field and term.value is not None:
                term_low, term_high = _bounds(term.op, term.value)
                if term_low is not None:
                    low = term_low if low is None else max(low, term_low)
                if term_high is not None:
                    high = term_high if high is None else min(high, term_high)
        if low is not None or high is not None:
            return org.stamp_range(obj, field, low, high)
    return records.values()


def _sort(org: Org, query: Query, rows: list[Record]) -> None:
    obj = query.sobject.name
    for order in reversed(query.order):
        get = _reader(org, obj, order.field)
        null_rank = 0 if order.nulls_first != order.descending else 1

        def key(record: Record, get: Callable[[Record], Any] = get, rank: int = null_rank) -> Any:
            value = get(record)
            return (rank, 0) if value is None else (1 - rank, value)

        rows.sort(key=key, reverse=order.descending)


def select(org: Org, query: Query, *, include_deleted: bool = False) -> list[Record]:
    """The records ``query`` selects, in order, after OFFSET and LIMIT."""
    obj = query.sobject.name
    predicate = None if query.where is None else _compile(org, obj, query.where)
    rows = [
        r
        for r in _candidates(org, query, include_deleted)
        if (include_deleted or not r["IsDeleted"]) and (predicate is None or predicate(r))
    ]
    if query.order:
        _sort(org, query, rows)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    return rows[start:end] if start or end is not None else rows


def json_records(org: Org, query: Query, rows: Iterable[Record], version: str) -> list[Any]:
    """Records as a REST query answer lists them, with ``attributes``."""
    obj = query.sobject.name
    base = f"/services/data/v{version}/sobjects/{obj}/"
    columns = [(f.name, f.type, org.getter(obj, f.name)) for f in query.fields]
    out = []
    for record in rows:
        item: dict[str, Any] = {"attributes": {"type": obj, "url": base + record["Id"]}}
        for name, ftype, get in columns:
            item[name] = json_value(ftype, get(record))
        out.append(item)
    return out


def csv_rows(org: Org, query: Query, rows: Iterable[Record]) -> Iterable[list[str]]:
    """Records as Bulk API 2.0 result CSV cells, in the selected column order."""
    obj = query.sobject.name
    columns = [(f.type, org.getter(obj, f.name)) for f in query.fields]
    for record in rows:
        yield [csv_value(ftype, get(record)) for ftype, get in columns]
