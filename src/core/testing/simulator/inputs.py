"""Reading a request's query parameters and JSON body, refused in the platform's own words.

The helpers raise :class:`InputError` for what they refuse; raised in a route, the simulator's
:meth:`~segsync.testing.simulator.Simulator.input_error` hook turns it into the platform's
error (its envelope, status and wording), which
:meth:`~segsync.testing.simulator.Simulator.error_envelope` renders. So a route reads::

    limit = query_int(request, "limit", default=10, low=1, high=100)
    after = query_param(request, "after")
    properties = query_csv(request, "properties")  # "a,b" and repeated parameters; or None
    body = await json_body(request, expect=dict)

(:func:`parse_json` reads a body already in hand.) The query helpers take aliases (other
spellings of the parameter, e.g. ``page_size`` beside ``pageSize``); the first present wins.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from starlette.requests import Request

__all__ = [
    "InputError",
    "InputKind",
    "json_body",
    "parse_json",
    "query_bool",
    "query_csv",
    "query_int",
    "query_param",
]

#: what an :class:`InputError` is about: a parameter that is not an integer, an integer out of
#: bounds, a parameter that is not a boolean, a body that is not JSON, or JSON of another shape
InputKind = Literal["integer", "range", "boolean", "json", "shape"]
_SHAPES: dict[type, str] = {dict: "object", list: "array", str: "string"}
_UNSET: Any = object()


class InputError(Exception):
    """A parameter or body a helper refused. ``message`` is a plain English default;
    simulators word it their platform's way from the other fields.

    ``name`` is the parameter as the request spelt it (``"body"`` for the body); ``raw`` its
    text; ``value``/``low``/``high`` for ``"range"``; ``expected`` (``"object"``,
    ``"array"``, …) for ``"shape"``; ``line``/``column``/``detail`` (the parser's own words)
    for ``"json"``."""

    def __init__(
        self,
        kind: InputKind,
        name: str,
        message: str,
        *,
        raw: str | None = None,
        value: int | None = None,
        low: int | None = None,
        high: int | None = None,
        expected: str | None = None,
        line: int = 1,
        column: int = 1,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.kind, self.name, self.message = kind, name, message
        self.raw, self.value, self.low, self.high = raw, value, low, high
        self.expected, self.line, self.column, self.detail = expected, line, column, detail


def _find(request: Request, name: str, aliases: tuple[str, ...]) -> tuple[str, str | None]:
    params = request.query_params
    for key in (name, *aliases):
        value = params.get(key)
        if value is not None:
            return key, value
    return name, None


def query_param(request: Request, name: str, *aliases: str) -> str | None:
    """The parameter's text (the first present of ``name`` and ``aliases``), or None."""
    return _find(request, name, aliases)[1]


def query_csv(request: Request, name: str, *aliases: str) -> list[str] | None:
    """A comma-separated list (``a,b``, also repeated: ``?p=a&p=b,c``), items trimmed and
    empty ones dropped; None when the parameter is absent."""
    for key in (name, *aliases):
        raw = request.query_params.getlist(key)
        if raw:
            return [p.strip() for part in raw for p in part.split(",") if p.strip()]
    return None


def query_int(
    request: Request,
    name: str,
    *aliases: str,
    default: int,
    low: int | None = None,
    high: int | None = None,
    clamp: bool = False,
    blank_is_default: bool = False,
) -> int:
    """An integer parameter within ``[low, high]``; ``default`` when absent (or empty, with
    ``blank_is_default``). Out of bounds raises an ``"range"`` :class:`InputError`, or with
    ``clamp`` answers the nearest bound."""
    key, raw = _find(request, name, aliases)
    if raw is None or (blank_is_default and not raw.strip()):
        return default
    try:
        value = int(raw)
    except ValueError:
        message = f"{key} must be an integer, got '{raw}'"
        raise InputError("integer", key, message, raw=raw) from None
    below, above = low is not None and value < low, high is not None and value > high
    if not (below or above):
        return value
    if clamp:
        return int(low if below else high)  # type: ignore[arg-type]
    if low is not None and high is not None:
        message = f"{key} must be between {low} and {high}, got {value}"
    elif below:
        message = f"{key} must be at least {low}, got {value}"
    else:
        message = f"{key} must be at most {high}, got {value}"
    raise InputError("range", key, message, raw=raw, value=value, low=low, high=high)


def query_bool(request: Request, name: str, *aliases: str, default: bool = False,
               strict: bool = False) -> bool:  # fmt: skip
    """``true`` (any case) is True; absent is ``default``. Anything else is False, or with
    ``strict`` only ``false``/``0`` are (``1`` is True) and other text raises a
    ``"boolean"`` :class:`InputError`."""
    key, raw = _find(request, name, aliases)
    if raw is None:
        return default
    text = raw.strip().lower()
    if not strict:
        return text == "true"
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InputError("boolean", key, f"{key} must be true or false, got '{raw}'", raw=raw)


async def json_body(request: Request, *, expect: type | None = None, empty: Any = _UNSET) -> Any:
    """The request's JSON body (:func:`parse_json` of it)."""
    return parse_json(await request.body(), expect=expect, empty=empty)


def parse_json(raw: bytes, *, expect: type | None = None, empty: Any = _UNSET) -> Any:
    """A JSON body. Malformed JSON raises a ``"json"`` :class:`InputError` (so does an empty
    body, unless ``empty`` is given: then an empty or blank body reads as ``empty``); with
    ``expect`` (``dict``, ``list``, …) a value of another type raises a ``"shape"`` one."""
    if empty is _UNSET or raw.strip():
        try:
            data = json.loads(raw)
        except ValueError as exc:
            detail = getattr(exc, "msg", str(exc))
            line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            message = f"the body is not valid JSON: {detail} (line {line}, column {column})"
            raise InputError(
                "json", "body", message, line=line, column=column, detail=detail
            ) from None
    else:
        data = empty
    if expect is not None and not isinstance(data, expect):
        shape = _SHAPES.get(expect, expect.__name__)
        raise InputError("shape", "body", f"the body must be a JSON {shape}", expected=shape)
    return data
