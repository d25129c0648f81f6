"""``POST /crm/v3/objects/contacts/search``.

``filterGroups`` (an OR of ANDs, at most 6 groups; ``EQ NEQ GT GTE LT LTE BETWEEN IN NOT_IN
HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN``; dates compare as epoch
milliseconds or ISO times, numbers as numbers), ``sorts`` as objects ``{propertyName,
direction}`` or as the spec's strings (``"-name"``), ``query`` (a substring of email, names,
phone or company), ``properties``, ``limit`` ≤ ``search_limit_max`` and an ``after`` offset →
``{"total", "results", "paging": {"next": {"after"}}}``; 400 when after + limit passes
``search_result_cap``.

Paging through one query re-runs it per page on the real API; here the matched and sorted
contacts of the last few queries are kept until a contact changes, so each later page costs
O(page).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, offset_page

from .errors import bad
from .objects import DATE_PROPS, DEFAULT_PROPS, as_value, to_ms

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["Search"]

_TEXT_PROPS = ("email", "firstname", "lastname", "phone", "company")
_CHECKS: dict[str, Callable[[int], bool]] = {
    "EQ": lambda c: c == 0,
    "GT": lambda c: c > 0,
    "GTE": lambda c: c >= 0,
    "LT": lambda c: c < 0,
    "LTE": lambda c: c <= 0,
}
_CACHED_QUERIES = 8


def _sort_key(name: str, value: str) -> tuple[int, float, str]:
    if name in DATE_PROPS or name.endswith("date"):
        ms = to_ms(value)
        if ms is not None:
            return (0, ms, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value.lower())


def _compare(name: str, stored: str, value: Any) -> int:
    """-1, 0 or 1: the stored value against a filter value (dates and numbers numerically)."""
    a, b = _sort_key(name, stored), _sort_key(name, as_value(value))
    if a[0] == b[0] == 0:
        return (a[1] > b[1]) - (a[1] < b[1])
    x, y = stored.lower(), as_value(value).lower()
    return (x > y) - (x < y)


def _sort_spec(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, str):  # the spec types sorts as strings: "-name" or "name"
        return sort.lstrip("-"), sort.startswith("-")
    if isinstance(sort, dict) and isinstance(sort.get("propertyName"), str):
        return sort["propertyName"], str(sort.get("direction", "")).upper() == "DESCENDING"
    raise bad(f"Invalid sort: {sort!r}")


def _filter(record: dict[str, Any], flt: Any) -> bool:
    if not isinstance(flt, dict) or not isinstance(flt.get("propertyName"), str):
        raise bad(f"Invalid filter: {flt!r}")
    name, op = flt["propertyName"], str(flt.get("operator", "EQ")).upper()
    stored: str = record["properties"].get(name, "")
    if op == "HAS_PROPERTY":
        return stored != ""
    if op == "NOT_HAS_PROPERTY":
        return stored == ""
    if op in ("IN", "NOT_IN"):
        values = flt.get("values")
        if not isinstance(values, list):
            raise bad(f"operator {op} needs values[]")
        hit = any(_compare(name, stored, v) == 0 for v in values if stored != "")
        return hit if op == "IN" else not hit
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = as_value(flt.get("value")).lower().strip("*")
        hit = token in stored.lower()
        return hit if op == "CONTAINS_TOKEN" else not hit
    if "value" not in flt:
        raise bad(f"operator {op} needs a value")
    if op == "NEQ":
        return stored == "" or _compare(name, stored, flt["value"]) != 0
    if stored == "":
        return False
    cmp = _compare(name, stored, flt["value"])
    if op == "BETWEEN":
        return cmp >= 0 and _compare(name, stored, flt.get("highValue")) <= 0
    if op not in _CHECKS:
        raise bad(f"Unknown operator {op}")
    return _CHECKS[op](cmp)


def _matches(record: dict[str, Any], groups: list[Any]) -> bool:
    if not groups:
        return True
    for group in groups:
        filters = group.get("filters", []) if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise bad("each filterGroup needs a filters list")
        if all(_filter(record, f) for f in filters):
            return True
    return False


class Search:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        # query → (data version, matched contacts in order), the most recent last
        self._results: OrderedDict[str, tuple[int, list[dict[str, Any]]]] = OrderedDict()

    async def search(self, request: Request) -> Response:
        sim = self.sim
        body = await json_body(request, expect=dict, empty=None)
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= sim.search_limit_max:
            raise bad(f"limit must be between 0 and {sim.search_limit_max}, got {limit}")
        try:
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            raise bad(f"Invalid after: {body.get('after')!r}") from None
        if after + limit > sim.search_result_cap:
            raise bad(
                f"Search results are capped at {sim.search_result_cap}; "
                f"after ({after}) + limit ({limit}) is past the cap.",
                subCategory="SEARCH_RESULT_LIMIT_EXCEEDED",
            )
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 6:
            raise bad("filterGroups must be a list of at most 6 groups")
        matched = self._matched(groups, body.get("sorts") or [], body.get("query"))
        props = body.get("properties")
        if props is not None and not isinstance(props, list):
            raise bad("properties must be a list")
        page, nxt = offset_page(matched, after, limit)
        render = sim.contact_api.render
        out: dict[str, Any] = {
            "total": len(matched),
            "results": [render(r, props or None, DEFAULT_PROPS) for r in page],
        }
        if nxt is not None:
            out["paging"] = {"next": {"after": str(nxt)}}
        return sim.json(out)

    def _matched(self, groups: list[Any], sorts: Any, query: Any) -> list[dict[str, Any]]:
        """The contacts a query matches, in its order (kept while no contact changes)."""
        key = json.dumps([groups, sorts, query], sort_keys=True, default=str)
        version = self.sim.version
        cached = self._results.get(key)
        if cached is not None and cached[0] == version:
            self._results.move_to_end(key)
            return cached[1]
        matched = [r for r in self.sim.contacts.values() if _matches(r, groups)]
        text = str(query or "").strip().lower()
        if text:
            matched = [
                r
                for r in matched
                if any(text in r["properties"].get(k, "").lower() for k in _TEXT_PROPS)
            ]
        matched.sort(key=lambda r: int(r["id"]))
        for sort in reversed(sorts):
            name, descending = _sort_spec(sort)
            present = [r for r in matched if r["properties"].get(name, "") != ""]
            missing = [r for r in matched if r["properties"].get(name, "") == ""]
            present.sort(key=lambda r: _sort_key(name, r["properties"][name]), reverse=descending)
            matched = present + missing
        self._results[key] = (version, matched)
        self._results.move_to_end(key)
        while len(self._results) > _CACHED_QUERIES:
            self._results.popitem(last=False)
        return matched
