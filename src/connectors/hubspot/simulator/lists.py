"""Lists v3 (MANUAL lists, "segments" in HubSpot's UI).

* ``POST /crm/v3/lists`` (``hubspot-api-client`` sends ``POST /crm/v3/lists/``) → 200
  ``{"list"}``; ``name``, ``objectTypeId`` and ``processingType`` (MANUAL, SNAPSHOT, DYNAMIC)
  are required; a name taken case-insensitively → 400 ``ILS_NAME_TAKEN`` (inferred).
* ``POST /crm/v3/lists/search`` ``{"query", "count" ≤ 500, "offset", "processingTypes"}`` →
  ``{"lists", "offset", "hasMore", "total"}``, each list with ``additionalProperties``.
* ``GET /crm/v3/lists?listIds=…`` (repeated) → ``{"lists"}``: those that exist, in order.
* ``GET /crm/v3/lists/object-type-id/0-1/name/{name}`` (case-insensitive; 404 when missing),
  ``GET|DELETE /crm/v3/lists/{id}`` (DELETE → 204).
* ``PUT …/memberships/{add,remove,add-and-remove}`` (at most ``max_membership_ids`` ids, as
  strings or numbers; only MANUAL and SNAPSHOT lists) → ``{"recordsIdsAdded",
  "recordIdsRemoved", "recordIdsMissing"}`` — the real field is ``recordsIdsAdded``, sic;
  ids that are not contacts are missing, members already in (or not in) are ignored.
* ``GET …/memberships?limit≤250&after=`` sorted by record id, an opaque ``after`` cursor and
  ``total``; ``DELETE …/memberships`` empties the list (204).

A list's members are kept in record-id order as well (:class:`SortedIds`), so a memberships
page costs O(page) however large the list.
"""

from __future__ import annotations

import base64
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import (
    SortedIds,
    json_body,
    offset_page,
    query_csv,
    query_int,
    query_param,
)

from .errors import HubSpotError, bad, not_found
from .objects import iso

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["CONTACTS", "Lists"]

CONTACTS = "0-1"  # the object type id of contacts


def _record_id(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise bad(f"Invalid record id {raw!r}")
    return str(raw).strip()


def _record_ids(raw: list[Any]) -> list[str]:
    """Record ids as strings (numbers are accepted too); 400 for anything else."""
    try:
        return list(map(str.strip, raw))
    except TypeError:  # not all strings
        return [_record_id(r) for r in raw]


class Lists:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self._next = 1
        self._orders: dict[str, SortedIds] = {}  # list id → its members in id order

    # -- helpers -----------------------------------------------------------------------------

    def to_json(self, lst: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in lst.items() if k != "members"}
        out["size"] = len(lst["members"])
        return out

    def find(self, request: Request) -> dict[str, Any]:
        lst = self.sim.lists.get(request.path_params["id"])
        if lst is None:
            raise not_found(f"List {request.path_params['id']} does not exist.")
        return lst

    def id_of(self, name: str) -> str | None:
        wanted = name.lower()
        return next((i for i, x in self.sim.lists.items() if x["name"].lower() == wanted), None)

    def _order(self, lst: dict[str, Any]) -> SortedIds:
        """The list's members in record-id order (rebuilt for a list made outside the API)."""
        order = self._orders.get(lst["listId"])
        if order is None or len(order) != len(lst["members"]):
            order = self._orders[lst["listId"]] = SortedIds(int(i) for i in lst["members"])
        return order

    # -- lists -------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        sim = self.sim
        data = await json_body(request, expect=dict, empty=None)
        missing = [k for k in ("name", "objectTypeId", "processingType") if not data.get(k)]
        if missing:
            raise bad(f"Missing required fields: {', '.join(missing)}")
        name, kind = str(data["name"]), data["processingType"]
        if kind not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
            raise bad(f"Invalid processingType {kind!r}")
        if self.id_of(name) is not None:
            raise bad(f"A list named '{name}' already exists.", subCategory="ILS_NAME_TAKEN")
        list_id, now = str(self._next), iso(sim.now_ms())
        self._next += 1
        sim.lists[list_id] = {
            "listId": list_id,
            "listVersion": 1,
            "name": name,
            "objectTypeId": str(data["objectTypeId"]),
            "processingStatus": "COMPLETE",
            "processingType": kind,
            "createdAt": now,
            "updatedAt": now,
            "filtersUpdatedAt": now,
            "createdById": "1",
            "updatedById": "1",
            "members": {},
        }
        self._orders[list_id] = SortedIds()
        return sim.json({"list": self.to_json(sim.lists[list_id])})

    async def by_ids(self, request: Request) -> Response:
        """``GET /crm/v3/lists?listIds=1&listIds=2`` (the official client's ``get_all``): the
        lists that exist among the ids, in the order asked."""
        wanted = dict.fromkeys(query_csv(request, "listIds") or [])
        found = [self.to_json(self.sim.lists[i]) for i in wanted if i in self.sim.lists]
        return self.sim.json({"lists": found})

    async def search(self, request: Request) -> Response:
        data = await json_body(request, expect=dict, empty=None)
        query = str(data.get("query") or "").lower()
        count, offset = int(data.get("count", 20)), int(data.get("offset", 0))
        if not 1 <= count <= 500:
            raise bad("count must be between 1 and 500")
        kinds = data.get("processingTypes") or None
        found = [
            lst
            for lst in self.sim.lists.values()
            if query in lst["name"].lower() and (kinds is None or lst["processingType"] in kinds)
        ]
        page, nxt = offset_page(found, offset, count)
        lists = []
        for lst in page:
            item = self.to_json(lst)
            item["additionalProperties"] = {"hs_list_size": str(len(lst["members"]))}
            lists.append(item)
        return self.sim.json(
            {"lists": lists, "offset": offset + len(page), "hasMore": nxt is not None,
             "total": len(found)}
        )  # fmt: skip

    async def by_name(self, request: Request) -> Response:
        list_id = self.id_of(request.path_params["name"])
        if request.path_params["type"] != CONTACTS or list_id is None:
            raise not_found(f"List with name {request.path_params['name']} does not exist.")
        return self.sim.json({"list": self.to_json(self.sim.lists[list_id])})

    async def get(self, request: Request) -> Response:
        return self.sim.json({"list": self.to_json(self.find(request))})

    async def delete(self, request: Request) -> Response:
        list_id = self.find(request)["listId"]
        del self.sim.lists[list_id]
        self._orders.pop(list_id, None)
        return self.sim.json(None, 204)

    # -- memberships -------------------------------------------------------------------------

    async def clear(self, request: Request) -> Response:
        lst = self.find(request)
        lst["members"].clear()
        self._order(lst).clear()
        return self.sim.json(None, 204)

    async def memberships(self, request: Request) -> Response:
        lst = self.find(request)
        limit = query_int(request, "limit", default=100, low=1, high=self.sim.memberships_limit_max)
        after, start = query_param(request, "after"), None
        if after:
            try:
                start = int(base64.urlsafe_b64decode(after.encode()).decode())
            except ValueError:
                raise bad(f"Invalid after cursor '{after}'") from None
        ids, more = self._order(lst).page(start, limit, inclusive=False)
        members: dict[str, str] = lst["members"]
        rows = [{"recordId": str(i), "membershipTimestamp": members[str(i)]} for i in ids]
        body: dict[str, Any] = {"results": rows, "total": len(members)}
        if more:
            cursor = base64.urlsafe_b64encode(str(ids[-1]).encode()).decode()
            body["paging"] = {"next": {"after": cursor}}
        return self.sim.json(body)

    async def change(self, request: Request) -> Response:
        sim = self.sim
        lst = self.find(request)
        op = request.path_params["op"]
        if op not in ("add", "remove", "add-and-remove"):
            raise HubSpotError(404, f"Unknown membership operation {op}", "OBJECT_NOT_FOUND")
        data = await json_body(request, expect=dict if op == "add-and-remove" else list,
                               empty=None)  # fmt: skip
        if op == "add-and-remove":
            add, remove = data.get("recordIdsToAdd", []), data.get("recordIdsToRemove", [])
        else:
            add, remove = (data, []) if op == "add" else ([], data)
        if not isinstance(add, list) or not isinstance(remove, list):
            raise bad("record ids must be arrays")
        if len(add) + len(remove) > sim.max_membership_ids:
            raise bad(
                f"At most {sim.max_membership_ids} record ids per call, got "
                f"{len(add) + len(remove)}"
            )
        if lst["processingType"] not in ("MANUAL", "SNAPSHOT"):
            raise bad(f"List {lst['listId']} is {lst['processingType']}; memberships of "
                      "MANUAL and SNAPSHOT lists only can be changed.")  # fmt: skip
        members: dict[str, str] = lst["members"]
        order = self._order(lst)
        contacts = sim.contacts
        now = iso(sim.now_ms())
        # (filter and map run in C: 10,000 ids a call stay a few milliseconds)
        adding, removing = _record_ids(add), _record_ids(remove)  # 400 before any change
        known = list(filter(contacts.__contains__, adding))
        missing = [] if len(known) == len(adding) else [r for r in adding if r not in contacts]
        added = list(filterfalse(members.__contains__, dict.fromkeys(known)))
        members.update(dict.fromkeys(added, now))
        order.update(map(int, added))
        removed: list[str] = []
        for rid in removing:
            if rid not in contacts:
                missing.append(rid)
            elif rid in members:
                del members[rid]
                order.discard(int(rid))
                removed.append(rid)
        if added or removed:
            lst["updatedAt"] = now
        return sim.json(
            {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}
        )
