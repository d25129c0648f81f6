"""A parser for the subset of SOQL segsync and common clients send.

Grammar (keywords any case)::

    SELECT COUNT() | field [, field ...]  FROM object
    [WHERE condition]  [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST] [, ...]]
    [LIMIT n]  [OFFSET n]

    condition := unary (AND unary)* | unary (OR unary)*     -- mixing needs parentheses
    unary     := NOT unary | '(' condition ')' | field op value
               | field [NOT] IN (value, ...) | field LIKE 'pattern'
    op        := = | != | <> | < | <= | > | >=
    value     := 'string' | number | true | false | null | 2024-01-01T00:00:00Z
               | 2024-01-01 | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n

Literals are checked against the field's type as Salesforce does: text and id fields take
quoted strings (an id must be a valid 15/18-character id), booleans ``true``/``false``,
datetime fields datetime literals, date fields date literals, numbers numbers. Errors are
:class:`SoqlError` with the API's code (``MALFORMED_QUERY``, ``INVALID_FIELD``,
``INVALID_TYPE``, ``INVALID_QUERY_FILTER_OPERATOR``, ``NUMBER_OUTSIDE_VALID_RANGE``) and a
message in the API's shape: the query line, a caret, ``ERROR at Row:r:Column:c`` and the detail.

``anyType`` fields (a history row's ``OldValue``/``NewValue``) can be selected but not filtered
or sorted (``INVALID_FIELD``), as in Salesforce.

Not supported (answered ``MALFORMED_QUERY`` with a message saying so): relationship paths
(``Contact.Email``), sub-queries and semi-joins, aggregate functions other than ``COUNT()``,
``GROUP BY``, ``TYPEOF``, ``FIELDS()``, ``INCLUDES``/``EXCLUDES``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .ids import to_18
from .schema import STRING_TYPES, Field, SObjectType, object_type

__all__ = [
    "BoolOp",
    "Cmp",
    "DateRange",
    "InList",
    "Like",
    "Node",
    "Not",
    "Order",
    "Query",
    "SoqlError",
    "parse",
]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>[+-]?\d+(?:\.\d+)?)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),:])
    """,
    re.X,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "'": "'",
    '"': '"',
    "\\": "\\",
    "_": "_",
    "%": "%",
}
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "like",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "offset",
    "group",
    "having",
    "includes",
    "excludes",
    "with",
    "for",
    "using",
    "typeof",
}
_DAY_MS = 86_400_000
_DATE_KEYWORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}
_N_DAYS = {"last_n_days", "next_n_days"}
_UNSUPPORTED = "is not supported by the segsync Salesforce simulator"
_NO_COLUMN = (
    "No such column '{name}' on entity '{obj}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom "
    "object, be sure to append the '__c' after the entity name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_TYPE_WORDS = {
    "boolean": "boolean",
    "datetime": "dateTime",
    "date": "date",
    "int": "double",
    "double": "double",
    "currency": "double",
    "id": "id",
    "reference": "id",
}


class SoqlError(Exception):
    """A query the API refuses: ``code`` is its errorCode, ``message`` the full message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class DateRange:
    """A date literal such as ``TODAY``: ``[start, end)`` in the field's own value type
    (epoch ms for datetime fields, ``YYYY-MM-DD`` for date fields)."""

    start: Any
    end: Any


@dataclass(frozen=True)
class Cmp:
    field: Field
    op: str  # = != < <= > >=
    value: Any  # typed as the field stores it (text lower-cased), a DateRange or None


@dataclass(frozen=True)
class InList:
    field: Field
    values: frozenset[Any]
    negate: bool


@dataclass(frozen=True)
class Like:
    field: Field
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Node, ...]


Node = Cmp | InList | Like | Not | BoolOp


@dataclass(frozen=True)
class Order:
    field: Field
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    text: str
    sobject: SObjectType
    fields: tuple[Field, ...]  # empty for COUNT()
    count: bool
    where: Node | None
    order: tuple[Order, ...]
    limit: int | None
    offset: int | None


@dataclass(frozen=True)
class _Tok:
    kind: str  # datetime date number string ident op punct end
    text: str
    pos: int

    def word(self) -> str:
        return self.text.lower() if self.kind == "ident" else ""


def _error(text: str, pos: int, detail: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row, col = text.count("\n", 0, pos) + 1, pos - line_start
    return SoqlError(code, f"\n{line}\n{' ' * col}^\nERROR at Row:{row}:Column:{col + 1}\n{detail}")


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(text, pos, f"unexpected token: '{text[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    out.append(_Tok("end", "<EOF>", len(text)))
    return out


def _unescape(raw: str) -> str:
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _like(raw: str) -> re.Pattern[str]:
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(re.escape(_ESCAPES.get(body[i + 1], body[i + 1])))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def _datetime_ms(text: str) -> int:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(parsed.timestamp() * 1000)


class _Parser:
    def __init__(self, text: str, now_ms: int, hidden: frozenset[tuple[str, str]]) -> None:
        self.text, self.now_ms, self.hidden = text, now_ms, hidden
        self.toks = _tokens(text)
        self.i = 0
        self.obj: SObjectType | None = None

    # -- token helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def fail(
        self, tok: _Tok, detail: str | None = None, code: str = "MALFORMED_QUERY"
    ) -> SoqlError:
        return _error(self.text, tok.pos, detail or f"unexpected token: '{tok.text}'", code)

    def keyword(self, *words: str) -> _Tok:
        tok = self.tok
        if tok.word() not in words:
            raise self.fail(tok)
        return self.advance()

    def accept(self, *words: str) -> bool:
        if self.tok.word() in words:
            self.advance()
            return True
        return False

    def punct(self, char: str) -> _Tok:
        if self.tok.text != char or self.tok.kind != "punct":
            raise self.fail(self.tok)
        return self.advance()

    # -- grammar ---------------------------------------------------------------------------

    def query(self) -> Query:
        self.keyword("select")
        count, names = False, []
        if self.tok.word() == "count" and self.toks[self.i + 1].text == "(":
            self.advance()
            self.punct("(")
            if self.tok.text != ")":
                raise self.fail(self.tok, f"COUNT(field) {_UNSUPPORTED}; use COUNT()")
            self.punct(")")
            count = True
        else:
            names.append(self.name_token())
            while self.tok.text == ",":
                self.advance()
                names.append(self.name_token())
        self.keyword("from")
        obj_tok = self.tok
        if obj_tok.kind != "ident" or obj_tok.word() in _KEYWORDS:
            raise self.fail(obj_tok)
        self.advance()
        obj = object_type(obj_tok.text)
        if obj is None:
            detail = _NO_TYPE.format(name=obj_tok.text)
            raise self.fail(obj_tok, detail, "INVALID_TYPE")
        self.obj = obj
        fields = tuple(self.resolve(t) for t in names)
        seen: set[str] = set()
        for tok, f in zip(names, fields, strict=True):
            if f.name in seen:
                raise self.fail(tok, f"duplicate field selected: {f.name}")
            seen.add(f.name)
        where = None
        if self.accept("where"):
            where = self.condition()
        order: list[Order] = []
        if self.tok.word() == "order":
            self.advance()
            self.keyword("by")
            order.append(self.order_item())
            while self.tok.text == ",":
                self.advance()
                order.append(self.order_item())
        limit = self.number_clause("limit")
        offset = self.number_clause("offset")
        if offset is not None and offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.tok.kind != "end":
            word = self.tok.word()
            if word in ("group", "having", "with", "for", "using", "typeof"):
                raise self.fail(self.tok, f"{word.upper()} {_UNSUPPORTED}")
            raise self.fail(self.tok)
        return Query(self.text, obj, fields, count, where, tuple(order), limit, offset)

    def name_token(self) -> _Tok:
        tok = self.tok
        if tok.kind != "ident" or tok.word() in _KEYWORDS:
            raise self.fail(tok)
        if self.toks[self.i + 1].text == "(":
            raise self.fail(tok, f"the function {tok.text}() {_UNSUPPORTED}")
        return self.advance()

    def resolve(self, tok: _Tok) -> Field:
        assert self.obj is not None
        if "." in tok.text:
            raise self.fail(tok, f"the relationship path '{tok.text}' {_UNSUPPORTED}")
        f = self.obj.field(tok.text)
        if f is None or (self.obj.name, f.name) in self.hidden:
            detail = _NO_COLUMN.format(name=tok.text, obj=self.obj.name)
            raise self.fail(tok, detail, "INVALID_FIELD")
        return f

    def number_clause(self, word: str) -> int | None:
        if not self.accept(word):
            return None
        tok = self.advance()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(tok)
        return int(tok.text)

    def order_item(self) -> Order:
        tok = self.name_token()
        f = self.resolve(tok)
        if f.type == "anyType":
            detail = f"field '{f.name}' can not be sorted in a query call"
            raise self.fail(tok, detail, "INVALID_FIELD")
        descending = False
        if self.tok.word() in ("asc", "desc"):
            descending = self.advance().word() == "desc"
        nulls_first = not descending
        if self.accept("nulls"):
            nulls_first = self.keyword("first", "last").word() == "first"
        return Order(f, descending, nulls_first)

    def condition(self) -> Node:
        first = self.unary()
        joiner = self.tok.word()
        if joiner not in ("and", "or"):
            return first
        items = [first]
        while self.tok.word() in ("and", "or"):
            if self.tok.word() != joiner:
                raise self.fail(self.tok)
            self.advance()
            items.append(self.unary())
        return BoolOp(joiner.upper(), tuple(items))

    def unary(self) -> Node:
        if self.accept("not"):
            return Not(self.unary())
        if self.tok.text == "(":
            self.advance()
            if self.tok.word() == "select":
                raise self.fail(self.tok, f"a sub-query {_UNSUPPORTED}")
            node = self.condition()
            self.punct(")")
            return node
        return self.predicate()

    def predicate(self) -> Node:
        name = self.name_token()
        f = self.resolve(name)
        if f.type == "anyType":
            detail = f"field '{f.name}' can not be filtered in a query call"
            raise self.fail(name, detail, "INVALID_FIELD")
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            value = self.value(f, op)
            if value is None and op not in ("=", "!="):
                raise self.fail(
                    tok, "invalid operator on null value", "INVALID_QUERY_FILTER_OPERATOR"
                )
            return Cmp(f, op, value)
        negate = self.accept("not")
        if self.accept("in"):
            self.punct("(")
            if self.tok.word() == "select":
                raise self.fail(self.tok, f"a semi-join sub-query {_UNSUPPORTED}")
            values = [self.value(f, "in")]
            while self.tok.text == ",":
                self.advance()
                values.append(self.value(f, "in"))
            self.punct(")")
            if any(isinstance(v, DateRange) for v in values):
                raise self.fail(tok, "date literals in IN lists " + _UNSUPPORTED)
            return InList(f, frozenset(values), negate)
        if negate:
            raise self.fail(self.tok)
        if self.accept("like"):
            pattern = self.advance()
            if pattern.kind != "string":
                raise self.fail(pattern)
            if f.type not in STRING_TYPES:
                raise self.fail(
                    pattern,
                    f"invalid operator on {f.type} field: LIKE",
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            return Like(f, _like(pattern.text))
        if tok.word() in ("includes", "excludes"):
            raise self.fail(tok, f"{tok.text.upper()} {_UNSUPPORTED}")
        raise self.fail(tok)

    def value(self, f: Field, op: str) -> Any:
        """The literal at the cursor, typed for ``f`` (text lower-cased, ids 18 chars)."""
        tok = self.advance()
        word = tok.word()
        if word == "null":
            return None
        ftype = f.type
        if ftype in STRING_TYPES or ftype in ("id", "reference"):
            if tok.kind != "string":
                raise self.type_error(tok, f, quoted=True)
            text = _unescape(tok.text)
            if ftype in STRING_TYPES:
                return text.lower()
            canonical = to_18(text)
            if canonical is None:
                raise self.fail(tok, f"invalid ID field: {text}", "INVALID_QUERY_FILTER_OPERATOR")
            return canonical
        if ftype == "boolean":
            if word not in ("true", "false"):
                raise self.type_error(tok, f, quoted=False)
            return word == "true"
        if ftype in ("int", "double", "currency"):
            if tok.kind != "number":
                raise self.type_error(tok, f, quoted=False)
            return float(tok.text)
        if word in _DATE_KEYWORDS or word in _N_DAYS:
            return self.date_keyword(tok, f)
        expected = "datetime" if ftype == "datetime" else "date"
        if tok.kind != expected:
            raise self.type_error(tok, f, quoted=False)
        try:
            return (
                _datetime_ms(tok.text)
                if ftype == "datetime"
                else date.fromisoformat(tok.text).isoformat()
            )
        except ValueError:
            raise self.fail(
                tok,
                f"value of filter criterion for field '{f.name}' must be a "
                f"valid {_TYPE_WORDS[ftype]}",
                "INVALID_FIELD",
            ) from None

    def date_keyword(self, tok: _Tok, f: Field) -> DateRange:
        word = tok.word()
        today = datetime.fromtimestamp(self.now_ms // 1000, UTC).date()
        if word in _DATE_KEYWORDS:
            start = today + timedelta(days=_DATE_KEYWORDS[word])
            end = start + timedelta(days=1)
        else:
            self.punct(":")
            n_tok = self.advance()
            if n_tok.kind != "number" or not n_tok.text.isdigit():
                raise self.fail(n_tok)
            n = int(n_tok.text)
            if word == "last_n_days":
                start, end = today - timedelta(days=n), today + timedelta(days=1)
            else:
                start, end = today + timedelta(days=1), today + timedelta(days=n + 1)
        if f.type == "date":
            return DateRange(start.isoformat(), end.isoformat())
        epoch = date(1970, 1, 1)
        return DateRange((start - epoch).days * _DAY_MS, (end - epoch).days * _DAY_MS)

    def type_error(self, tok: _Tok, f: Field, *, quoted: bool) -> SoqlError:
        word = "string" if f.type in STRING_TYPES else _TYPE_WORDS[f.type]
        how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        detail = f"value of filter criterion for field '{f.name}' must be of type {word} and {how}"
        return self.fail(tok, detail, "INVALID_FIELD")


def parse(text: str, *, now_ms: int, hidden: frozenset[tuple[str, str]] = frozenset()) -> Query:
    """Parse and type-check ``text``; ``now_ms`` anchors date literals such as ``TODAY``;
    ``hidden`` are ``(object, field)`` pairs this org does not have (feature-dependent fields
    such as ``Opportunity.CurrencyIsoCode`` without multi-currency)."""
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(text, now_ms, hidden).query()
