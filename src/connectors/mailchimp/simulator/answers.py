"""How Mailchimp answers: JSON with ``_links``, ``fields``/``exclude_fields``, paged collections.

* Successes are ``application/json; charset=utf-8`` with ``X-Request-Id``; resources carry
  ``_links`` ``[{"rel": "self", "href", "method", "targetSchema"}]`` on the key's data
  centre's host.
* ``fields`` and ``exclude_fields`` (comma-separated dotted paths; lists are walked through,
  e.g. ``members.email_address,total_items``) apply to every successful JSON answer.
  :func:`field_tree` compiles them once per request, so trimming a 1,000-member page costs a
  dictionary lookup per key.
* Collections page with ``count`` (default 10, at most ``count_max``) and ``offset``:
  ``{key: [...], **extra, "total_items", "_links"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .auth import key_dc, presented_key

__all__ = ["API", "JSON_CT", "FieldTree", "api_base", "drop", "field_tree", "links", "select"]

API = "/3.0"
JSON_CT = "application/json; charset=utf-8"

#: dotted paths as a tree: a key maps to its sub-paths, or to None for the whole value
FieldTree = dict[str, "FieldTree | None"]


def api_base(request: Request | None) -> str:
    """``https://<dc>.api.mailchimp.com`` for the key the request carries (``us1`` without)."""
    key = presented_key(request) if request is not None else None
    return f"https://{(key_dc(key) if key else None) or 'us1'}.api.mailchimp.com"


def links(base: str, path: str, schema: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}{API}{path}", "method": "GET",
             "targetSchema": f"{base}/schema/3.0/{schema}.json"}]  # fmt: skip


def field_tree(raw: str | None) -> FieldTree | None:
    """``a.b,c`` → ``{"a": {"b": None}, "c": None}``; None when no path is given. A path that
    names a whole value wins over longer paths below it."""
    tree: FieldTree = {}
    for text in (raw or "").split(","):
        parts = text.strip().split(".") if text.strip() else []
        node: FieldTree | None = tree
        for i, part in enumerate(parts):
            assert node is not None
            if i == len(parts) - 1:
                node[part] = None
            elif part not in node:
                child: FieldTree = {}
                node[part] = child
                node = child
            elif node[part] is None:
                break  # the whole value is already asked for
            else:
                node = node[part]
    return tree or None


def select(value: Any, tree: FieldTree | None) -> Any:
    """Keep only the paths of ``tree`` (None: all of ``value``)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [select(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in tree.items():  # the paths asked for: fewer than a record's keys
        if key in value:
            found = value[key]
            out[key] = found if sub is None else select(found, sub)
    return out


def drop(value: Any, tree: FieldTree) -> Any:
    """Remove the paths of ``tree``."""
    if isinstance(value, list):
        return [drop(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in value.items():
        if key not in tree:
            out[key] = sub
            continue
        below = tree[key]
        if below is not None:
            out[key] = drop(sub, below)
    return out
