"""What Spark SQL reads otherwise than DuckDB, rewritten in the domain's statements before they
are rendered in the ``spark`` dialect (:func:`for_spark`):

* a hexadecimal text cast to an integer (``CAST('0x' || h AS BIGINT)``, the split buckets)
  becomes ``CAST(conv(h, 16, 10) AS BIGINT)``;
* ``to_json(x)`` of a value that is not a struct, array or map (Spark's takes only those)
  becomes the JSON of a one-element array, its brackets cut off;
* ``json_object(k, v, …)`` (Spark has none) becomes the object's text, concatenated: a value
  already JSON (``json(x)``, ``CAST(x AS JSON)``) as it is, any other as :func:`to_json` writes
  it (NULL: ``null``);
* ``INTERVAL (expr) MINUTE`` (Spark takes only a constant there) becomes
  ``INTERVAL '1' MINUTE * (expr)``.
"""

from __future__ import annotations

import json

from sqlglot import exp

__all__ = ["for_spark"]


def for_spark(statement: exp.Expr) -> exp.Expr:
    """``statement`` with what Spark reads otherwise than DuckDB rewritten (see the module)."""
    objects: exp.Expr = statement.transform(_objects)
    transformed: exp.Expr = objects.transform(_rewrite)
    return transformed


def _objects(node: exp.Expr) -> exp.Expr:
    if not isinstance(node, exp.JSONObject):
        return node
    pairs = [p for p in node.expressions if isinstance(p, exp.JSONKeyValue)]
    if len(pairs) != len(node.expressions):
        return node
    if not pairs:
        return exp.Literal.string("{}")
    parts: list[exp.Expr] = [exp.Literal.string("{")]
    for i, pair in enumerate(pairs):
        key = pair.this
        name = key.name if isinstance(key, exp.Literal) else None
        if name is None:
            return node
        parts.append(exp.Literal.string(("," if i else "") + json.dumps(name) + ":"))
        value = pair.expression
        already = isinstance(value, exp.ParseJSON) or (
            isinstance(value, exp.Cast) and value.to.is_type(exp.DataType.Type.JSON)
        )
        text = (
            value.this.copy()
            if already
            else exp.Anonymous(this="to_json", expressions=[value.copy()])
        )
        parts.append(exp.Coalesce(this=text, expressions=[exp.Literal.string("null")]))
    parts.append(exp.Literal.string("}"))
    return exp.Concat(expressions=parts)


def _rewrite(node: exp.Expr) -> exp.Expr:
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
    if (
        isinstance(node, exp.Anonymous)
        and node.name.lower() == "to_json"
        and len(node.expressions) == 1
        and not isinstance(node.expressions[0], exp.Array)
    ):
        listed = exp.Anonymous(
            this="TO_JSON", expressions=[exp.Array(expressions=[node.expressions[0].copy()])]
        )
        size = exp.Sub(this=exp.Length(this=listed.copy()), expression=exp.Literal.number(2))
        return exp.Substring(this=listed, start=exp.Literal.number(2), length=size)
    if (
        isinstance(node, exp.Interval)
        and node.this is not None
        and not isinstance(node.this, exp.Literal)
    ):
        unit = node.args.get("unit")
        one = exp.Interval(this=exp.Literal.string("1"), unit=unit.copy() if unit else None)
        inner = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
        return exp.Mul(this=one, expression=exp.Paren(this=inner.copy()))
    return node
