"""Segment conditions: a restricted SQL boolean expression, parsed and checked.

A ``where`` condition is parsed with sqlglot and every node is checked against an allowlist;
what comes back is a sqlglot expression the engine embeds in SQL it builds itself — the user's
text is never pasted into a query. Allowed:

* column names of the profile (unqualified, case-insensitive), string and number literals,
  ``TRUE``, ``FALSE``, ``NULL``;
* ``AND``, ``OR``, ``NOT``, parentheses, ``= <> != < <= > >=``, ``IN (…)``, ``BETWEEN``,
  ``LIKE``, ``ILIKE``, ``IS [NOT] NULL``, ``IS [NOT] TRUE/FALSE``;
* arithmetic ``+ - * / %``, unary minus, ``||``, ``CASE WHEN … THEN … ELSE … END``,
  ``CAST(x AS type)`` / ``x::type`` to text, integer, decimal, double, boolean, date or
  timestamp, ``INTERVAL`` literals (``INTERVAL 90 DAY``, ``INTERVAL '90 days'``),
  ``DATE '2026-01-01'``;
* the functions in :data:`ALLOWED_FUNCTIONS`.

Everything else — statements, ``;``, subqueries, ``EXISTS``, qualified names, ``*``,
parameters, aggregates, window functions, any other function — is refused with a
:class:`ConfigError` that quotes the offending text.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, TokenError

from segsync.errors import ConfigError

__all__ = ["ALLOWED_FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "compile_where", "referenced_columns"]

MAX_LENGTH = 10_000
MAX_DEPTH = 64
_DIALECT = "duckdb"

# user-facing name -> sqlglot class it parses to
_FUNCTIONS: dict[str, type[exp.Expression]] = {
    "lower": exp.Lower,
    "upper": exp.Upper,
    "trim": exp.Trim,
    "ltrim": exp.Trim,
    "rtrim": exp.Trim,
    "length": exp.Length,
    "coalesce": exp.Coalesce,
    "nullif": exp.Nullif,
    "abs": exp.Abs,
    "round": exp.Round,
    "floor": exp.Floor,
    "ceil": exp.Ceil,
    "least": exp.Least,
    "greatest": exp.Greatest,
    "substring": exp.Substring,
    "concat": exp.Concat,
    "starts_with": exp.StartsWith,
    "ends_with": exp.EndsWith,
    "contains": exp.Contains,
    "regexp_matches": exp.RegexpLike,
    "current_date": exp.CurrentDate,
    "current_timestamp": exp.CurrentTimestamp,
    "date_diff": exp.DateDiff,
    "date_trunc": exp.TimestampTrunc,
    "year": exp.Year,
    "month": exp.Month,
    "day": exp.Day,
}
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({*_FUNCTIONS, "now", "substr", "datediff"})
"""The function names a condition may call."""

_STRUCTURE: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.Is,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Interval,
)  # fmt: skip
_ALLOWED = frozenset({*_STRUCTURE, *_FUNCTIONS.values()})
_ALLOWED_TYPES = frozenset(
    {
        exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR,
        exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT,
        exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT,
        exp.DataType.Type.BOOLEAN, exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP,
    }
)  # fmt: skip
# a Var (a bare word) is only meaningful as an interval unit or a date part
_VAR_PARENTS = (exp.Interval, exp.DateDiff, exp.TimestampTrunc)
_PREDICATES = (
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In,
    exp.Between, exp.Like, exp.ILike, exp.Is, exp.Boolean, exp.StartsWith, exp.EndsWith,
    exp.Contains, exp.RegexpLike,
)  # fmt: skip


def _fail(location: str, problem: str, text: str) -> ConfigError:
    shown = text if len(text) <= 200 else text[:197] + "..."
    return ConfigError(f"{location}: {problem} in: {shown}")


def _snippet(node: exp.Expression) -> str:
    try:
        return node.sql(dialect=_DIALECT)
    except Exception:  # generation of a half-valid tree: show its class instead
        return type(node).__name__


def compile_where(text: str, columns: Mapping[str, str], *, location: str) -> exp.Expression:
    """Parse and check ``text``; return a safe expression over ``columns`` (name -> type)."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{location}: expected a condition such as \"country = 'FR'\", found ''")
    if len(text) > MAX_LENGTH:
        raise ConfigError(
            f"{location}: the condition is {len(text):,} characters; at most {MAX_LENGTH:,}"
        )
    tree, called = _parse(text, location)
    known = {name.lower(): type_ for name, type_ in columns.items()}
    _check(tree, text, known, location, called)
    if not _is_boolean(tree, known):
        raise _fail(
            location, f'expected a true/false condition, found the value "{_snippet(tree)}"', text
        )
    return tree.transform(_normalise)


def referenced_columns(expr: exp.Expression) -> set[str]:
    """The column names a compiled condition uses."""
    return {col.name for col in expr.find_all(exp.Column)}


def _parse(text: str, location: str) -> tuple[exp.Expression, list[str]]:
    """The parsed tree, and the names of the functions the text calls, as written."""
    try:
        tokens = sqlglot.tokenize(text, read=_DIALECT)
    except TokenError as exc:
        raise _fail(location, f"cannot read the condition ({_first_line(exc)})", text) from None
    called = [
        token.text.lower()
        for token, following in itertools.pairwise(tokens)
        if following.token_type == TokenType.L_PAREN and token.token_type != TokenType.L_PAREN
    ]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise _fail(location, "';' is not allowed: a condition is a single expression", text)
        if token.token_type in (TokenType.PLACEHOLDER, TokenType.PARAMETER):
            raise _fail(location, f'parameters such as "{token.text}" are not allowed', text)
    try:
        tree = sqlglot.parse_one(text, read=_DIALECT)
    except ParseError as exc:
        errors = exc.errors[0] if exc.errors else {}
        where = f" at line {errors.get('line')}, column {errors.get('col')}" if errors else ""
        reason = errors.get("description") or _first_line(exc)
        raise _fail(location, f"cannot parse the condition{where}: {reason}", text) from None
    except RecursionError:
        raise _fail(
            location, f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", text
        ) from None
    if not isinstance(tree, exp.Expression):
        raise ConfigError(f"{location}: expected a condition, found {text!r}")
    return tree, called


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check(
    tree: exp.Expression, text: str, columns: dict[str, str], location: str, called: list[str]
) -> None:
    stack: list[tuple[exp.Expression, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(
                location, f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", text
            )
        _check_node(node, text, columns, location, called)
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _check_node(
    node: exp.Expression, text: str, columns: dict[str, str], location: str, called: list[str]
) -> None:
    if isinstance(node, exp.Query | exp.Subquery | exp.Exists):
        raise _fail(location, f'subqueries are not allowed: "{_snippet(node)}"', text)
    if isinstance(node, exp.Star):
        raise _fail(location, '"*" is not allowed', text)
    if isinstance(node, exp.Placeholder | exp.Parameter):
        raise _fail(location, f'parameters such as "{_snippet(node)}" are not allowed', text)
    if isinstance(node, exp.Window):
        raise _fail(location, f'window functions are not allowed: "{_snippet(node)}"', text)
    if isinstance(node, exp.AggFunc):
        raise _fail(location, f'aggregates are not allowed: "{_snippet(node)}"', text)
    if isinstance(node, exp.Column):
        _check_column(node, text, columns, location)
    elif isinstance(node, exp.Var):
        if not isinstance(node.parent, _VAR_PARENTS):
            raise _fail(location, f'unexpected word "{node.name}"', text)
    elif isinstance(node, exp.Anonymous):
        if node.name.lower() != "now" or node.expressions:
            raise _unknown_function(node.name, text, location)
    elif isinstance(node, exp.DataType):
        if node.this not in _ALLOWED_TYPES:
            raise _fail(location, f'casting to "{_snippet(node)}" is not allowed', text)
    elif type(node) not in _ALLOWED:
        if isinstance(node, exp.Func):
            raise _unknown_function(_function_name(node, called), text, location)
        raise _fail(location, f'"{_snippet(node)}" is not allowed in a condition', text)


def _function_name(node: exp.Func, called: list[str]) -> str:
    """The name as the user wrote it (sqlglot may know the function by another name)."""
    unlisted = [name for name in called if name not in ALLOWED_FUNCTIONS]
    if unlisted:
        return unlisted[0]
    try:
        return node.sql_name().lower()
    except Exception:
        return type(node).__name__.lower()


def _unknown_function(name: str, text: str, location: str) -> ConfigError:
    allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
    return _fail(location, f'function "{name}" is not allowed (allowed: {allowed})', text)


def _check_column(node: exp.Column, text: str, columns: dict[str, str], location: str) -> None:
    if node.table or node.args.get("db") or node.args.get("catalog"):
        raise _fail(
            location,
            f'qualified names such as "{_snippet(node)}" are not allowed; '
            "write the column name alone",
            text,
        )
    if isinstance(node.this, exp.Star):
        raise _fail(location, '"*" is not allowed', text)
    name = node.name.lower()
    if name in columns:
        return
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if close:
        hint = f' (did you mean "{close[0]}"?)'
    else:
        names = sorted(columns)
        shown = ", ".join(names[:15]) + (", …" if len(names) > 15 else "")
        hint = f" (known columns: {shown})"
    raise _fail(location, f'unknown column "{node.name}"{hint}', text)


def _normalise(node: exp.Expression) -> exp.Expression:
    node.comments = None
    if isinstance(node, exp.Column):
        return exp.column(node.name.lower(), quoted=True)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "now":
        return exp.CurrentTimestamp()
    return node


def _is_boolean(node: exp.Expression, columns: dict[str, str]) -> bool:
    if isinstance(node, exp.Paren):
        return _is_boolean(node.this, columns)
    if isinstance(node, _PREDICATES):
        return True
    if isinstance(node, exp.Column):
        return columns.get(node.name.lower()) == "boolean"
    if isinstance(node, exp.Cast):
        return bool(node.to.this == exp.DataType.Type.BOOLEAN)
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs", [])]
        branches.append(node.args.get("default"))
        return all(
            b is None or isinstance(b, exp.Null) or _is_boolean(b, columns) for b in branches
        )
    if isinstance(node, exp.Coalesce):
        return _is_boolean(node.this, columns)
    return False
