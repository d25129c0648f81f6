"""The ``filter`` of ``userLists.list``: the AIP-160 subset the Data Manager API supports.

``display_name = "segsync: VIP" AND membership_status = OPEN``; operators ``= != > >= < <=``
and ``:`` (has: an element of a repeated field, a substring of a string), conditions joined by
``AND`` only, and ``IN(field, value, …)``. Fields: ``id``, ``display_name``, ``description``,
``membership_status``, ``integration_code``, ``access_reason`` and
``ingested_user_list_info.upload_key_types`` — all in snake_case or all in camelCase, never
mixed. Values are double- or single-quoted strings (``\\"`` escapes), numbers, or bare words
(enum names). Anything else raises :class:`FilterError`, answered as ``INVALID_FILTER``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "Condition", "FilterError", "matches", "parse_filter"]

# snake_case field → its camelCase spelling
FIELDS = {
    "id": "id",
    "display_name": "displayName",
    "description": "description",
    "membership_status": "membershipStatus",
    "integration_code": "integrationCode",
    "access_reason": "accessReason",
    "ingested_user_list_info.upload_key_types": "ingestedUserListInfo.uploadKeyTypes",
}
_CAMEL = {camel: snake for snake, camel in FIELDS.items()}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>>=|<=|!=|=|>|<|:)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z0-9_.+\-]+)
    )""",
    re.VERBOSE,
)


class FilterError(ValueError):
    """The filter does not parse or names an unsupported field."""


@dataclass(frozen=True)
class Condition:
    """``field op value`` (``op`` ``in`` for ``IN(field, values…)``, ``value`` then a tuple)."""

    field: str  # snake_case
    op: str
    value: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"Unexpected character at position {pos} of the filter.")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "word":
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    raise FilterError(f"Expected a value, found '{text}'.")


def parse_filter(text: str) -> list[Condition]:
    """The conditions of a filter (all must hold); ``""`` is no condition."""
    tokens = _tokens(text)
    conditions: list[Condition] = []
    styles: set[str] = set()
    i = 0

    def field_name(word: str) -> str:
        if word in FIELDS and word in _CAMEL:  # one word, the same in both styles
            return word
        if word in FIELDS:
            styles.add("snake")
            return word
        if word in _CAMEL:
            styles.add("camel")
            return _CAMEL[word]
        raise FilterError(f"Unsupported field in filter: '{word}'.")

    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "word" and text == "IN" and i + 1 < len(tokens) and tokens[i + 1][1] == "(":
            j = i + 2
            if j >= len(tokens) or tokens[j][0] != "word":
                raise FilterError("IN expects a field as its first argument.")
            field = field_name(tokens[j][1])
            values: list[Any] = []
            j += 1
            while j < len(tokens) and tokens[j][1] == ",":
                if j + 1 >= len(tokens):
                    raise FilterError("IN is missing a value.")
                values.append(_literal(*tokens[j + 1]))
                j += 2
            if j >= len(tokens) or tokens[j][1] != ")" or not values:
                raise FilterError("IN expects a field and at least one value in parentheses.")
            conditions.append(Condition(field, "in", tuple(values)))
            i = j + 1
        elif kind == "word":
            if i + 2 >= len(tokens) or tokens[i + 1][0] != "op":
                raise FilterError(f"Expected an operator after '{text}'.")
            field = field_name(text)
            conditions.append(Condition(field, tokens[i + 1][1], _literal(*tokens[i + 2])))
            i += 3
        else:
            raise FilterError(f"Unexpected '{text}' in filter.")
        if i < len(tokens):
            if tokens[i] != ("word", "AND"):
                raise FilterError(f"Expected AND, found '{tokens[i][1]}'.")
            i += 1
            if i == len(tokens):
                raise FilterError("The filter ends with AND.")
    if len(styles) > 1:
        raise FilterError("Fields must all be in snake case or all in camel case.")
    return conditions


def _compare(actual: Any, op: str, wanted: Any, order: Callable[[Any], Any]) -> bool:
    if op == "=":
        return bool(order(actual) == order(wanted))
    if op == "!=":
        return bool(order(actual) != order(wanted))
    a, w = order(actual), order(wanted)
    if op == ">":
        return bool(a > w)
    if op == ">=":
        return bool(a >= w)
    if op == "<":
        return bool(a < w)
    if op == "<=":
        return bool(a <= w)
    raise FilterError(f"Unsupported operator {op}.")  # pragma: no cover - parse rejects it


def matches(
    conditions: list[Condition],
    values: Mapping[str, Any],
    enum_numbers: Mapping[str, Mapping[str, int]],
) -> bool:
    """Whether a list whose filterable ``values`` (snake_case field → value; enums as names,
    the repeated field as a list) meets every condition. ``enum_numbers`` orders enum fields."""
    for cond in conditions:
        actual = values.get(cond.field)
        numbers = enum_numbers.get(cond.field)

        def order(
            value: Any, numbers: Mapping[str, int] | None = numbers, cond: Condition = cond
        ) -> Any:
            if cond.field == "id":
                try:
                    return int(value)
                except (TypeError, ValueError):
                    raise FilterError(f"'{value}' is not a valid id.") from None
            if numbers is not None:
                if isinstance(value, int):
                    return value
                if value not in numbers:
                    raise FilterError(f"'{value}' is not a valid value of {cond.field}.")
                return numbers[value]
            return "" if value is None else str(value)

        if cond.op == "in":
            options = {order(v) for v in cond.value}
            items = actual if isinstance(actual, list) else [actual]
            if not any(order(item) in options for item in items):
                return False
        elif isinstance(actual, list):  # the repeated field: = and : mean "contains"
            if cond.op not in ("=", ":"):
                raise FilterError(f"Operator {cond.op} is not supported on {cond.field}.")
            if order(cond.value) not in {order(item) for item in actual}:
                return False
        elif cond.op == ":":
            if numbers is not None or cond.field == "id":
                if order(actual) != order(cond.value):
                    return False
            elif str(cond.value) not in (actual or ""):
                return False
        elif not _compare(actual, cond.op, cond.value, order):
            return False
    return True
