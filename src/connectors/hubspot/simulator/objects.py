"""CRM objects: contacts as stored and as the API shows them, and cursor-paged reads.

* ``GET /crm/v3/objects/contacts?limit≤100&after=&properties=a,b&associations=deals`` and
  ``GET /crm/v3/objects/contacts/{id}[?idProperty=email]`` — every property value a string
  (requested but unset properties answer ``null``); ``paging.next.{after,link}`` on all but the
  last page, the link built on the request's own base URL. ``after`` is the first record id of
  the next page; ids are kept in order (:class:`~segsync.testing.simulator.SortedIds`), so a
  page costs O(page) however many contacts there are.
* ``propertiesWithHistory`` adds ``propertiesWithHistory: {name: [{value, timestamp,
  sourceType, sourceId, updatedByUserId}]}``, newest first, and lowers the ``limit`` maximum
  to ``history_limit_max``.
* Writes (:meth:`Contacts.write`) store values as strings, bump ``lastmodifieddate`` and
  ``updatedAt``, and record history for each value that changes (every value written, with
  ``history_on_unchanged_write``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import SortedIds, query_csv, query_int, query_param

from .errors import HubSpotError, bad

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = [
    "ALWAYS_PROPS",
    "DATE_PROPS",
    "DEFAULT_PROPS",
    "READ_ONLY",
    "Contacts",
    "as_value",
    "iso",
    "to_ms",
]

#: the properties a contact read or search returns when none are asked for
DEFAULT_PROPS = (
    "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname",
)  # fmt: skip
ALWAYS_PROPS = ("createdate", "hs_object_id", "lastmodifieddate")
READ_ONLY = {"hs_object_id", "lastmodifieddate"}
DATE_PROPS = {"createdate", "lastmodifieddate", "closedate"}


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes times: ``2024-01-02T03:04:05.678Z``."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def to_ms(value: Any) -> float | None:
    """Epoch milliseconds of a date value (ms number/string or ISO), else None."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


def as_value(value: Any) -> str:
    """A property value as HubSpot stores it: a string (``true``/``false`` for booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Contacts:
    """The contact store (``sim.contacts``, ids from 101) and the contact reads."""

    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.by_email: dict[str, str] = {}
        self.order = SortedIds()
        self._next = 101

    # -- reads -------------------------------------------------------------------------------

    def render(
        self,
        record: dict[str, Any],
        props: list[str] | None,
        defaults: Iterable[str],
        with_history: list[str] | None = None,
    ) -> dict[str, Any]:
        """An object as the API shows it: ``props`` (None: ``defaults``) plus the ones always
        shown, and ``propertiesWithHistory`` when asked for."""
        stored: dict[str, str] = record["properties"]
        known = self.sim.properties
        shown: dict[str, str | None]
        if props is None:
            shown = {k: stored.get(k) for k in defaults if k in stored}
        else:
            names = [n for n in [*props, *ALWAYS_PROPS] if n in known or n in stored]
            shown = {n: stored.get(n) for n in names}
        out: dict[str, Any] = {
            "id": record["id"],
            "properties": shown,
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }
        if with_history:
            history: dict[str, list[dict[str, Any]]] = record.get("history", {})
            out["propertiesWithHistory"] = {
                name: list(history.get(name, ()))
                for name in with_history
                if name in known or name in history
            }
        return out

    def page(
        self,
        request: Request,
        records: dict[str, dict[str, Any]],
        order: SortedIds,
        kind: str,
        defaults: Iterable[str],
    ) -> dict[str, Any]:
        """One page of ``GET /crm/v3/objects/{kind}`` over ``records`` in id ``order``."""
        sim = self.sim
        history = query_csv(request, "propertiesWithHistory")
        high = min(sim.list_limit_max, sim.history_limit_max) if history else sim.list_limit_max
        limit = query_int(request, "limit", default=10, low=1, high=high)
        after = query_param(request, "after")
        start = None
        if after:
            try:
                start = int(after)
            except ValueError:
                raise bad(f"Invalid after cursor '{after}'") from None
        ids, more = order.page(start, limit)
        props = query_csv(request, "properties")
        assoc = query_csv(request, "associations") or []
        results = []
        for number in ids:
            record_id = str(number)
            item = self.render(records[record_id], props, defaults, history)
            links = sim.deal_api.associations(kind, record_id, assoc)
            if links:
                item["associations"] = links
            results.append(item)
        body: dict[str, Any] = {"results": results}
        if more:
            nxt = str(ids[-1] + 1)
            link = str(request.url.include_query_params(after=nxt))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return body

    async def list_contacts(self, request: Request) -> Response:
        sim = self.sim
        return sim.json(self.page(request, sim.contacts, self.order, "contacts", DEFAULT_PROPS))

    async def get_contact(self, request: Request) -> Response:
        record_id = request.path_params["id"]
        if query_param(request, "idProperty") == "email":
            record_id = self.by_email.get(record_id.lower(), "")
        record = self.sim.contacts.get(record_id)
        if record is None:
            raise HubSpotError(404, "Object not found.", "OBJECT_NOT_FOUND")
        props = query_csv(request, "properties")
        history = query_csv(request, "propertiesWithHistory")
        return self.sim.json(self.render(record, props, DEFAULT_PROPS, history))

    def lookup(self, ident: Any, id_property: str | None) -> str | None:
        """The id of the contact ``ident`` names (by id, or by email with ``idProperty``)."""
        key = as_value(ident).strip()
        if id_property == "email":
            return self.by_email.get(key.lower())
        if id_property not in (None, "", "hs_object_id"):
            raise bad(f"Unsupported idProperty {id_property!r}")
        return key if key in self.sim.contacts else None

    # -- writes ------------------------------------------------------------------------------

    def write(
        self, record_id: str | None, props: dict[str, Any], *, source: str = "API"
    ) -> dict[str, Any]:
        """Create (record_id None) or update a contact; values stored as strings. Each value
        that changes (or every value written, with ``history_on_unchanged_write``) gets a
        history entry, newest first, as ``propertiesWithHistory`` shows them."""
        sim = self.sim
        now = iso(sim.now_ms())
        if record_id is None:
            record_id = str(self._next)
            self._next += 1
            record: dict[str, Any] = {"id": record_id, "createdAt": now, "properties": {
                "hs_object_id": record_id, "createdate": now}}  # fmt: skip
            sim.contacts[record_id] = record
            self.order.add(int(record_id))
        record = sim.contacts[record_id]
        stored: dict[str, str] = record["properties"]
        for name, raw in props.items():
            value = as_value(raw)
            if name == "email":
                old = stored.get("email", "").lower()
                if self.by_email.get(old) == record_id:
                    del self.by_email[old]
                value = value.strip().lower()
                if value:
                    self.by_email[value] = record_id
            if stored.get(name, "") != value or sim.history_on_unchanged_write:
                entry = {"value": value, "timestamp": now, "sourceType": source,
                         "sourceId": "segsync-simulator", "updatedByUserId": None}  # fmt: skip
                record.setdefault("history", {}).setdefault(name, []).insert(0, entry)
            if value == "":
                stored.pop(name, None)
            else:
                stored[name] = value
        stored["lastmodifieddate"] = record["updatedAt"] = now
        sim.version += 1
        return record
