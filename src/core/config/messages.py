"""Configuration messages in the user's terms: each problem one line naming the file, the key
path, what was expected and what was found (never a secret's value)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from segsync.connector import _is_secret

from .schema import ENV_PREFIX

__all__ = ["clean_errors", "format_error", "show", "suggest"]

_SECRET_KEY_RE = re.compile(r"(token|secret|password|passwd|api_key|private_key)", re.I)


_KEYED_MESSAGE = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.S)


_EXPECTED = {
    "path_type": "expected a file path (text)",
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a table",
    "list_type": "expected a list",
}


def format_error(
    path: Path,
    err: Mapping[str, Any],
    model: type[BaseModel],
    prefix: tuple[str, ...] = (),
) -> str:
    loc = tuple(str(p) for p in err.get("loc", ()))
    full = prefix + loc
    key = ".".join(full) or "(top level)"
    kind = err.get("type", "")
    found = err.get("input")
    env_name = ENV_PREFIX + "__".join(p.upper() for p in full)
    origin = f" (from environment variable {env_name})" if env_name in os.environ else ""
    if kind == "missing":
        field = model.model_fields.get(loc[-1]) if len(loc) == 1 else None
        if field is not None and _is_secret(field.annotation):
            return (
                f"{path}: {key}: missing; a secret: set the environment variable {env_name}, "
                f'or {loc[-1]}_file = "/path/to/file" (keep secrets out of the config file)'
            )
        return f"{path}: {key}: missing; a value is required{origin}"
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        hint = suggest(loc[-1], known) if loc else ""
        listing = f"; expected one of: {', '.join(known)}" if known else ""
        return f"{path}: {key}: unknown key{hint}{listing}{origin}"
    if _SECRET_KEY_RE.search(key):
        found = "<hidden>"
    msg = str(err.get("msg", "invalid value"))
    msg = re.sub(r"^(Input should be|Value error,)\s*", "", msg)
    named = _KEYED_MESSAGE.match(msg) if kind == "value_error" and not loc else None
    if named:  # a model-level check about one key ("token_file: cannot read …")
        where = f"{key}.{named.group(1)}" if full else named.group(1)
        return f"{path}: {where}: {named.group(2)}{origin}"
    expected = _EXPECTED.get(kind, msg)
    if not expected.startswith("expected"):
        expected = "expected " + expected
    return f"{path}: {key}: {expected}; found {show(found)}{origin}"


_SHAPE_ERRORS = frozenset({"list_type", "model_type", "dict_type", "model_attributes_type"})


def _model_names() -> set[str]:
    names: set[str] = set()
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _is_tag(part: object, models: set[str]) -> bool:
    """pydantic adds union-member labels (``ContactsSource``, ``list[...]``, ``[key]``) to
    locations; they are not keys the user wrote."""
    return isinstance(part, str) and ("[" in part or part in models)


def clean_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Validation errors with union labels removed from their locations, and without the
    errors of union members whose shape did not match the input (a table given where a
    table or a list of tables is allowed reports only the table's problems)."""
    models = _model_names()
    raw: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    tagged: list[tuple[tuple[Any, ...], str | None, dict[str, Any]]] = []
    for err in raw:
        loc = tuple(err.get("loc", ()))
        index = next((i for i, p in enumerate(loc) if _is_tag(p, models)), None)
        prefix = loc if index is None else loc[:index]
        tag = None if index is None else str(loc[index])
        tagged.append((prefix, tag, err))
    out: list[dict[str, Any]] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    for prefix, tag, err in tagged:
        loc = tuple(p for p in err.get("loc", ()) if not _is_tag(p, models))
        shape_mismatch = (
            tag is not None and err.get("type") in _SHAPE_ERRORS and len(loc) == len(prefix)
        )
        siblings = any(t != tag and p == prefix for p, t, _ in tagged)
        if shape_mismatch and siblings:
            continue
        key = (loc, str(err.get("msg")))
        if key in seen:
            continue
        seen.add(key)
        err["loc"] = loc
        out.append(err)
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``X | list[X] | None`` gives ``X``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The keys allowed at ``loc`` (a path of field names and dict keys) in ``model``."""
    current: type[BaseModel] | None = model
    parts = list(loc)
    while parts and current is not None:
        part = parts.pop(0)
        if part.isdigit():  # an index into a list of tables
            continue
        info = current.model_fields.get(part)
        if info is None:
            return []
        annotation = info.annotation
        if getattr(annotation, "__origin__", None) is dict:
            annotation = annotation.__args__[1]  # type: ignore[union-attr]
            if not parts:
                return []
            parts.pop(0)  # the dict key, e.g. a segment's name
        current = _model_in(annotation)
    return sorted(current.model_fields) if current is not None else []


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show(value: Any) -> str:
    if value == "<hidden>":
        return "a value (hidden: it may be a secret)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
