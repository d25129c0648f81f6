"""Segment conditions: a restricted SQL boolean expression, parsed and checked.

A ``where`` condition is parsed with sqlglot (DuckDB dialect) as a single expression and every
node of the tree is checked against an allowlist; what comes back is a sqlglot expression the
engine embeds in SQL it builds itself — the user's text is never pasted into a query. Allowed:

* column names of the profile (unqualified, case-insensitive, optionally ``"quoted"``), string
  and number literals, ``TRUE``, ``FALSE``, ``NULL``;
* ``AND``, ``OR``, ``NOT``, parentheses, ``= <> != < <= > >=``, ``[NOT] IN (…)``,
  ``[NOT] BETWEEN``, ``[NOT] LIKE`` / ``ILIKE`` (with ``ESCAPE``), ``IS [NOT] NULL``,
  ``IS [NOT] TRUE/FALSE``;
* arithmetic ``+ - * / %``, unary minus, ``||``, ``CASE [x] WHEN … THEN … ELSE … END``,
  ``CAST(x AS type)`` / ``x::type`` / ``DATE '2026-01-01'`` to text (``VARCHAR``), integer
  (``INTEGER``, ``BIGINT``), ``DECIMAL(p, s)``, ``DOUBLE``, ``BOOLEAN``, ``DATE`` or
  ``TIMESTAMP``, and ``INTERVAL`` literals (``INTERVAL 90 DAY``, ``INTERVAL '90 days'``);
* calls to the functions in :data:`ALLOWED_FUNCTIONS`, by those names.

A condition that is NULL for a profile selects nobody (SQL's rule): a comparison with an empty
value, and a division or modulo by zero — ``x / y`` is computed as ``x / NULLIF(y, 0)``, so it
is NULL where ``y`` is 0, never infinite or NaN. Dividing by a literal zero is refused.

Everything else is refused with a :class:`ConfigError` that quotes the offending text:
statements, ``;``, comments, subqueries, ``EXISTS``, qualified names, ``*``, parameters,
aggregates, window functions, any other function, type or operator (``~``, ``IS DISTINCT
FROM``, ``COLLATE``, ``->``…), conditions longer than :data:`MAX_LENGTH` characters or nested
deeper than :data:`MAX_DEPTH` levels, and a condition that is plainly not true/false
(``country``, ``1 + 2``). So are two forms DuckDB runs, but not as a reader means them:
``x IN 'FR'`` (whether ``x`` is part of the text) and an ``INTERVAL`` with no unit (seconds).

The expression returned has every column as a quoted lower-case name (``"country"``) and an
operator that is the operand of another wrapped in parentheses, so the SQL generated from it
reads the same to DuckDB as the tree checked here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError

from segsync.errors import ConfigError
from segsync.model.profile import ATTRIBUTE_SQL_TYPES, AttributeType

if TYPE_CHECKING:
    from segsync.traits.notes import ValueDomain

__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Compared",
    "check_values",
    "compared_texts",
    "compile_where",
    "folded",
    "pin_clock",
    "referenced_columns",
    "type_problems",
]

MAX_LENGTH = 10_000
MAX_DEPTH = 64
_DIALECT = "duckdb"

# sqlglot class -> the names a user may call it by (what sqlglot 30 parses each name into)
_FUNCTIONS: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Lower: ("lower",), exp.Upper: ("upper",), exp.Trim: ("trim", "ltrim", "rtrim"),
    exp.Length: ("length",), exp.Coalesce: ("coalesce",), exp.Nullif: ("nullif",),
    exp.Abs: ("abs",), exp.Round: ("round",), exp.Floor: ("floor",), exp.Ceil: ("ceil",),
    exp.Least: ("least",), exp.Greatest: ("greatest",), exp.Concat: ("concat",),
    exp.Substring: ("substring", "substr"), exp.StartsWith: ("starts_with",),
    exp.EndsWith: ("ends_with",), exp.Contains: ("contains",),
    exp.RegexpLike: ("regexp_matches",), exp.CurrentDate: ("current_date",),
    exp.CurrentTimestamp: ("current_timestamp",),
    exp.Anonymous: ("now",),  # sqlglot has no class for now(); it stays NOW()
    exp.DateDiff: ("date_diff", "datediff"),
    exp.TimestampTrunc: ("date_trunc",),
    exp.DateTrunc: ("date_trunc",),  # what date_trunc becomes when its argument is a DATE
    exp.Year: ("year",), exp.Month: ("month",), exp.Day: ("day",),
}  # fmt: skip
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(n for names in _FUNCTIONS.values() for n in names)
"""The function names a condition may call."""

_STRUCTURE: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape, exp.Is,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Interval, exp.Var,
)  # fmt: skip
_ALLOWED = frozenset({*_STRUCTURE, *_FUNCTIONS})
_T = exp.DataType.Type
# VARCHAR parses as TEXT, TIMESTAMP as TIMESTAMPNTZ, INTEGER as INT
_ALLOWED_TYPES = frozenset(
    {_T.TEXT, _T.INT, _T.BIGINT, _T.DECIMAL, _T.DOUBLE, _T.BOOLEAN, _T.DATE, _T.TIMESTAMPNTZ}
)
_DATE_PARTS = frozenset(
    f"{part}{plural}"
    for part in ("year", "quarter", "month", "week", "day", "hour", "minute", "second")
    for plural in ("", "s")
)
# a bare word (Var) is only meaningful as the date part of these
_VAR_PARENTS = (exp.Interval, exp.DateDiff, exp.TimestampTrunc, exp.DateTrunc)
# operators whose operands are parenthesised on the way out (see _parenthesise)
_OPERATORS = (exp.Binary, exp.Not, exp.Neg, exp.Between, exp.In)
_PREDICATES = (
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In,
    exp.Between, exp.Like, exp.ILike, exp.Escape, exp.Is, exp.Boolean, exp.StartsWith,
    exp.EndsWith, exp.Contains, exp.RegexpLike,
)  # fmt: skip
_STATEMENT_TOKENS = frozenset(
    {*DuckDB.Parser.STATEMENT_PARSERS, *DuckDB.Tokenizer.COMMANDS}
    | {TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.VALUES}
)


def compile_where(text: str, columns: Mapping[str, str], *, location: str) -> exp.Expression:
    """Parse and check ``text``; return a safe expression over ``columns`` (name -> type).

    Raises :class:`ConfigError` (``"{location}: {problem}"``) when the condition is not allowed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(
            f"{location}: expected a condition such as \"country = 'FR'\", found {text!r}"
        )
    if len(text) > MAX_LENGTH:
        raise _fail(
            location, f"the condition is {len(text):,} characters; at most {MAX_LENGTH:,}", text
        )
    tree = _parse(text, location)
    known = {name.lower(): type_ for name, type_ in columns.items()}
    _check(tree, text, known, location)
    if not _is_boolean(tree, known):
        raise _fail(
            location, f'expected a true/false condition, found the value "{_snippet(tree)}"', text
        )
    for division in tree.find_all(exp.Div, exp.Mod):
        if _is_zero(division.expression):
            shown = division.sql(dialect=_DIALECT)
            raise _fail(location, f'division by zero: "{shown}"', text)
    return _parenthesise(tree.transform(_normalise).transform(_safe_division))


def pin_clock(tree: exp.Expression, as_of: dt.datetime) -> exp.Expression:
    """``tree`` with the clock pinned to ``as_of`` (naive UTC): ``current_date`` becomes the
    literal ``DATE`` of ``as_of`` (its UTC day), ``current_timestamp`` and ``now()`` the
    ``TIMESTAMP`` ``as_of`` — so a condition reads the same moment as the traits and KPIs of
    the run, whatever the engine's clock and time zone. Returns a new tree."""
    day = exp.cast(exp.Literal.string(as_of.date().isoformat()), exp.DataType.Type.DATE)
    moment = exp.cast(
        exp.Literal.string(as_of.replace(tzinfo=None).isoformat(sep=" ")),
        exp.DataType.Type.TIMESTAMP,
    )

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentDate):
            return day.copy()
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "now"
        ):
            return moment.copy()
        return node

    return tree.copy().transform(swap)


class Compared(NamedTuple):
    """A profile column compared with a text: ``country = 'FR'`` (also ``<>`` and ``IN``), or
    matched with a pattern, ``interests LIKE '%run%'`` (``like``)."""

    column: str
    """Its lower-case name."""
    text: str
    like: bool = False


def compared_texts(tree: exp.Expression) -> list[Compared]:
    """Each text literal a column is compared with by ``=``, ``<>``, ``IN`` or ``LIKE`` (not
    ``ILIKE``, nor a ``LIKE`` with ``ESCAPE``), in the condition's order."""
    found: list[Compared] = []

    def pair(column: exp.Expression, literal: exp.Expression, like: bool = False) -> None:
        if (
            isinstance(column, exp.Column)
            and isinstance(literal, exp.Literal)
            and literal.is_string
        ):
            found.append(Compared(column.name.lower(), literal.this, like))

    for node in tree.walk():
        if isinstance(node, exp.EQ | exp.NEQ):
            pair(_bare(node.this), _bare(node.expression))
            pair(_bare(node.expression), _bare(node.this))
        elif isinstance(node, exp.In):
            for item in node.expressions:
                pair(_bare(node.this), _bare(item))
        elif isinstance(node, exp.Like) and not isinstance(node.parent, exp.Escape):
            pair(_bare(node.this), _bare(node.expression), like=True)
    return found


def folded(value: exp.Expr) -> exp.Expr:
    """``lower(trim(value))``: a text compared without case or the spaces around it, to tell
    a value spelled otherwise from one that is not there."""
    return exp.func("lower", exp.func("trim", value))


def check_values(
    tree: exp.Expression, values: Mapping[str, ValueDomain], *, location: str
) -> list[str]:
    """Problems with text literals compared (``=``, ``<>``, ``IN``) with a column whose values
    are known (a trait's cells, stages, tiers, bands): one line per unknown value, with the
    column's values, a close match, or what a renamed value is called now."""
    problems: list[str] = []
    for name, value, like in compared_texts(tree):
        domain = None if like else values.get(name)
        if domain is None or value in domain.values:
            continue
        renamed = domain.renamed.get(value)
        hint = f"; {value!r} is now called {renamed!r}" if renamed else _close(value, domain.values)
        problems.append(
            f"{location}: {name} never holds {value!r}{hint} (its values: "
            f"{', '.join(domain.values)})"
        )
    return problems


def _bare(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _close(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_problems(
    conditions: Mapping[str, exp.Expression], columns: Mapping[str, AttributeType]
) -> dict[str, str]:
    """Per condition (by its location) that cannot run on its columns' types — ``country >
    5``, ``revenue > '1,000'`` — what to say, found with no data
    (:func:`segsync.engine.duckdb.type_errors`): named when the config loads rather than
    after a run has pulled every source."""
    from segsync.engine.duckdb import type_errors

    types = {c: ATTRIBUTE_SQL_TYPES[t] for c, t in columns.items()}
    return {
        location: f"the condition cannot run on its columns' types: {reason}"
        for location, reason in type_errors(types, conditions).items()
    }


def referenced_columns(expr: exp.Expression) -> set[str]:
    """The (lower-case) column names an expression uses."""
    return {col.name.lower() for col in expr.find_all(exp.Column)}


def _fail(location: str, problem: str, text: str) -> ConfigError:
    shown = text if len(text) <= 200 else text[:197] + "..."
    return ConfigError(f"{location}: {problem} in: {shown}")


def _snippet(node: exp.Expression) -> str:
    try:
        return node.sql(dialect=_DIALECT)
    except Exception:  # a half-valid tree that cannot be generated: show its kind instead
        return type(node).__name__


def _too_deep(location: str, text: str) -> ConfigError:
    return _fail(location, f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", text)


def _parse(text: str, location: str) -> exp.Expression:
    try:
        tokens = sqlglot.tokenize(text, read=_DIALECT)
    except TokenError as exc:
        if text.count("'") % 2:
            reason = "a quote is not closed; text values take single quotes, as in 'FR'"
        else:
            reason = _first_line(exc)
        raise _fail(location, f"cannot read the condition ({reason})", text) from None
    if not tokens:  # only a comment
        raise ConfigError(
            f"{location}: expected a condition such as \"country = 'FR'\", found {text!r}"
        )
    depth = 0
    for i, token in enumerate(tokens):
        if token.comments:
            raise _fail(location, f'comments are not allowed: "{token.comments[0].strip()}"', text)
        if token.token_type == TokenType.SEMICOLON:
            raise _fail(location, '";" is not allowed: a condition is a single expression', text)
        if token.token_type in (TokenType.PLACEHOLDER, TokenType.PARAMETER):
            shown = text[token.start : tokens[i + 1].end + 1] if i + 1 < len(tokens) else token.text
            raise _fail(location, f'parameters such as "{shown}" are not allowed', text)
        if token.token_type == TokenType.TILDE:
            raise _fail(location, '"~" is not allowed (use regexp_matches(text, pattern))', text)
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth > MAX_DEPTH:
            raise _too_deep(location, text)
    try:
        tree = sqlglot.parse_one(text, read=_DIALECT, into=exp.Condition)
    except ParseError as exc:
        if tokens[0].token_type in _STATEMENT_TOKENS:
            word = tokens[0].text.upper()
            raise _fail(
                location, f'expected a condition, not an SQL statement starting with "{word}"', text
            ) from None
        error = exc.errors[0] if exc.errors else {}
        at = f" at line {error['line']}, column {error['col']}" if "line" in error else ""
        reason = _parse_problem(error) or _first_line(exc)
        raise _fail(location, f"cannot parse the condition{at}: {reason}", text) from None
    except RecursionError:
        raise _too_deep(location, text) from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # sqlglot's builders
        raise _fail(location, f"cannot parse the condition ({_first_line(exc)})", text) from None
    if not isinstance(tree, exp.Expression):  # sqlglot 30: parse_one is typed as the Expr base
        raise _fail(location, "expected a condition", text)
    return tree


# sqlglot's "Required keyword: 'expression' missing for <class '…And'>": an operator without
# one of its sides, said as the user wrote the operator
_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_WRITTEN = {
    "And": "AND", "Or": "OR", "Not": "NOT", "EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=",
    "LT": "<", "LTE": "<=", "Like": "LIKE", "ILike": "ILIKE", "In": "IN", "Is": "IS",
    "Between": "BETWEEN", "Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Mod": "%",
    "DPipe": "||", "Neg": "-", "Escape": "ESCAPE", "Cast": "CAST", "Interval": "INTERVAL",
}  # fmt: skip


def _parse_problem(error: dict[str, object]) -> str | None:
    """What went wrong, in the condition's words rather than sqlglot's (None: its text as it
    is)."""
    description = str(error.get("description") or "")
    highlight = str(error.get("highlight") or "").strip()
    missing = _MISSING.fullmatch(description)
    if missing:
        part, name = missing.groups()
        written = _WRITTEN.get(name, name.upper())
        if name == "Between":
            return '"BETWEEN" needs both bounds: "x BETWEEN low AND high"'
        if part == "this" and name not in ("Not", "Neg"):
            return f'"{written}" has nothing before it'
        return f'"{written}" has nothing after it'
    if description == "Invalid expression / Unexpected token" and highlight:
        hint = ""
        before, after = str(error.get("start_context") or ""), str(error.get("end_context") or "")
        if highlight == "," and re.search(r"\d$", before) and re.match(r"\d{3}\b", after):
            hint = " (a number takes no thousands separators: 1000, not 1,000)"
        return f'unexpected "{highlight}"{hint}'
    if description == "Expecting )":
        return 'a "(" is not closed'
    return description or None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check(tree: exp.Expression, text: str, columns: dict[str, str], location: str) -> None:
    stack: list[tuple[exp.Expression, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(location, text)
        _check_node(node, text, columns, location)
        for child in reversed(list(node.iter_expressions())):  # report left to right
            # a long chain of ANDs (or of ORs) is flat to the reader: it is one level
            chained = isinstance(child, exp.Connector) and type(child) is type(node)
            stack.append((child, depth if chained else depth + 1))


def _check_node(node: exp.Expression, text: str, columns: dict[str, str], location: str) -> None:
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
    if type(node) not in _ALLOWED:
        snippet = _snippet(node)
        call = re.match(r"(\w+)\(", snippet)  # a call by a keyword name, e.g. LEFT(x, 1)
        name = _written_name(node, text) or (call.group(1).lower() if call else None)
        if isinstance(node, exp.Func) and name:
            raise _unknown_function(name, text, location)
        raise _fail(location, f'"{snippet}" is not allowed in a condition', text)
    name = _written_name(node, text)
    if isinstance(node, exp.Anonymous):
        name = name or node.name.lower()
    if name is not None and name not in _FUNCTIONS.get(type(node), ()):
        raise _unknown_function(name, text, location)
    if isinstance(node, exp.Anonymous) and node.expressions:  # now()
        raise _fail(location, f'"{name}()" takes no arguments', text)
    if isinstance(node, exp.Var) or (
        node.arg_key == "unit" and isinstance(node.parent, _VAR_PARENTS)
    ):
        _check_unit(node, text, location)
    elif isinstance(node, exp.Column):
        _check_column(node, text, columns, location)
    elif isinstance(node, exp.Identifier) and not isinstance(node.parent, exp.Column):
        raise _fail(location, f'unexpected name "{node.name}"', text)
    elif isinstance(node, exp.If) and not isinstance(node.parent, exp.Case):
        raise _unknown_function("if", text, location)
    elif isinstance(node, exp.In) and node.args.get("field") is not None:
        # DuckDB reads "x IN 'FR'" as "x is part of the text 'FR'": 'F' and '' are too
        raise _fail(
            location,
            f"\"IN\" takes a list in parentheses, such as \"IN ('FR', 'BE')\": "
            f'"{_snippet(node)}" would ask whether the value is part of a text',
            text,
        )
    elif isinstance(node, exp.Interval) and not _has_unit(node):
        raise _fail(
            location,
            f'"{_snippet(node)}" names no unit, so it would count seconds: name one, such as '
            f'"INTERVAL {_amount(node)} DAY"',
            text,
        )
    elif isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null | exp.Boolean):
        raise _fail(location, f'"IS" takes NULL, TRUE or FALSE: "{_snippet(node)}"', text)
    elif isinstance(node, exp.Escape) and not isinstance(node.this, exp.Like | exp.ILike):
        raise _fail(location, f'"ESCAPE" belongs to LIKE: "{_snippet(node)}"', text)
    elif isinstance(node, exp.DataType) and (
        node.this not in _ALLOWED_TYPES or not isinstance(node.parent, exp.Cast)
    ):
        raise _fail(location, f'casting to "{_snippet(node)}" is not allowed', text)
    elif isinstance(node, exp.DataTypeParam) and not isinstance(node.parent, exp.DataType):
        raise _fail(location, f'"{_snippet(node)}" is not allowed in a condition', text)


def _has_unit(node: exp.Interval) -> bool:
    """An interval names its unit: ``INTERVAL 90 DAY``, ``INTERVAL '90 days'`` or ``INTERVAL
    '1 day 2 hours'`` (not ``INTERVAL 90`` or ``INTERVAL '01:00:00'``, read as seconds and
    as a time of day)."""
    if node.args.get("unit") is not None:
        return True
    value = node.this
    return (
        isinstance(value, exp.Literal) and value.is_string and any(c.isalpha() for c in value.name)
    )


def _amount(node: exp.Interval) -> str:
    """The number an interval counts, for an example (90 when it is not a plain number)."""
    value = node.this
    number = isinstance(value, exp.Literal) and value.name.strip()
    return number if number and re.fullmatch(r"\d+", number) else "90"


def _check_unit(node: exp.Expression, text: str, location: str) -> None:
    """A date part (``INTERVAL 3 DAY``, ``date_trunc('month', …)``) must be a known word."""
    word = isinstance(node, exp.Var | exp.Literal) and node.name.lower()
    if word in _DATE_PARTS and node.arg_key == "unit" and isinstance(node.parent, _VAR_PARENTS):
        return
    parts = ", ".join(sorted(p for p in _DATE_PARTS if not p.endswith("s")))
    shown = word or _snippet(node)
    raise _fail(location, f'unknown date part "{shown}" (expected {parts})', text)


def _written_name(node: exp.Expression, text: str) -> str | None:
    """The function name as the user wrote it, when sqlglot recorded where (calls by a plain
    name; keyword-named calls such as ``trim(`` or ``cast(`` carry no position)."""
    if not isinstance(node, exp.Func):
        return None
    start, end = node.meta.get("start"), node.meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    return text[start : end + 1].strip('"').lower()


def _unknown_function(name: str, text: str, location: str) -> ConfigError:
    allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
    return _fail(location, f'function "{name}" is not allowed (allowed: {allowed})', text)


def _check_column(node: exp.Column, text: str, columns: dict[str, str], location: str) -> None:
    if node.table or node.args.get("db") or node.args.get("catalog"):
        problem = f'qualified names such as "{_snippet(node)}" are not allowed'
        raise _fail(location, problem + "; write the column name alone", text)
    if not isinstance(node.this, exp.Identifier):
        raise _fail(location, f'"{_snippet(node)}" is not allowed in a condition', text)
    name = node.name.lower()
    if name in columns:
        return
    hint = ""
    odd = [c for c in node.name if not (c.isascii() and c.isprintable())]
    if odd:
        hint += " (it contains " + ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(odd)) + ")"
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if close:
        hint += f' (did you mean "{close[0]}"?)'
    else:
        names = sorted(columns)
        hint += " (known columns: " + ", ".join(names[:15]) + (", …)" if len(names) > 15 else ")")
    if node.this.quoted:
        hint += f" (text values take single quotes: '{node.name}')"
    raise _fail(location, f'unknown column "{node.name}"{hint}', text)


def _is_zero(node: exp.Expression) -> bool:
    while isinstance(node, exp.Paren | exp.Neg | exp.Cast):
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    try:
        return float(node.this) == 0
    except ValueError:
        return False


def _safe_division(node: exp.Expression) -> exp.Expression:
    """``a / b`` → ``a / NULLIF(b, 0)`` (and ``%`` likewise): NULL, not inf/NaN/an error."""
    if isinstance(node, exp.Div | exp.Mod) and not isinstance(node.expression, exp.Nullif):
        divisor = node.expression.copy()
        node.set("expression", exp.Nullif(this=divisor, expression=exp.Literal.number(0)))
    return node


def _normalise(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Column):
        return exp.column(node.name.lower(), quoted=True)
    return node


def _parenthesise(tree: exp.Expression) -> exp.Expression:
    """Wrap an operator used as the operand of another in parentheses, so DuckDB reads the
    generated SQL exactly as sqlglot's tree says (``NOT (a LIKE b)``, ``(a < b) = c``) rather
    than by its own precedence rules, which differ on odd inputs; AND/OR chains stay flat."""
    for node in list(tree.walk()):
        parent = node.parent
        if not isinstance(node, _OPERATORS) or not isinstance(parent, _OPERATORS):
            continue
        if isinstance(parent, exp.Connector) and (
            not isinstance(node, exp.Connector) or type(node) is type(parent)
        ):
            continue
        if isinstance(parent, exp.Escape) or (
            isinstance(parent, exp.In) and node.arg_key != "this"
        ):
            continue
        paren = exp.Paren()
        node.replace(paren)
        paren.set("this", node)
    return tree


def _is_boolean(node: exp.Expression, columns: dict[str, str]) -> bool:
    if isinstance(node, exp.Paren):
        return _is_boolean(node.this, columns)
    if isinstance(node, _PREDICATES):
        return True
    if isinstance(node, exp.Column):
        return columns.get(node.name.lower()) == "boolean"
    if isinstance(node, exp.Cast):
        return bool(node.to.this == _T.BOOLEAN)
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs", [])]
        branches.append(node.args.get("default"))
        return all(
            b is None or isinstance(b, exp.Null) or _is_boolean(b, columns) for b in branches
        )
    if isinstance(node, exp.Coalesce | exp.Nullif):
        return _is_boolean(node.this, columns)
    return False
