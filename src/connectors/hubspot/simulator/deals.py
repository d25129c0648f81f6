"""Deals and their associations with contacts.

* ``GET /crm/v3/objects/deals?limit&after&properties&associations=contacts`` — paged like
  contacts (deal ids from 5001), with ``associations: {"contacts": {"results": [{"id",
  "type": "deal_to_contact"}]}}``; contacts read with ``associations=deals`` show
  ``contact_to_deal`` links the same way.
* :meth:`Deals.seed` adds deals (properties as strings; ``contacts`` are the associated ids).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import SortedIds

from .objects import as_value, iso

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["DEAL_DEFAULTS", "Deals"]

DEAL_DEFAULTS = ("amount", "closedate", "createdate", "dealname", "dealstage",
                 "hs_lastmodifieddate", "hs_object_id", "pipeline")  # fmt: skip


class Deals:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.order = SortedIds()
        self._by_contact: defaultdict[str, list[str]] = defaultdict(list)
        self._next = 5001

    async def list_deals(self, request: Request) -> Response:
        sim = self.sim
        return sim.json(
            sim.contact_api.page(request, sim.deals, self.order, "deals", DEAL_DEFAULTS)
        )

    def associations(self, kind: str, record_id: str, wanted: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if kind == "deals" and "contacts" in wanted:
            rows = [
                {"id": i, "type": "deal_to_contact"} for i in self.sim.deals[record_id]["contacts"]
            ]
            if rows:
                out["contacts"] = {"results": rows}
        if kind == "contacts" and "deals" in wanted:
            rows = [
                {"id": d, "type": "contact_to_deal"} for d in self._by_contact.get(record_id, ())
            ]
            if rows:
                out["deals"] = {"results": rows}
        return out

    def seed(self, deals: Iterable[Mapping[str, Any]]) -> list[str]:
        """Add deals: each mapping's ``contacts`` (ids) are associated, the rest are
        properties (e.g. amount, closedate, dealstage). Returns the new deal ids."""
        sim, created = self.sim, []
        for row in deals:
            now = sim.now_ms()
            deal_id = str(self._next)
            self._next += 1
            props = {k: as_value(v) for k, v in row.items() if k != "contacts"}
            props = {k: v for k, v in props.items() if v != ""}
            props.update(hs_object_id=deal_id, createdate=iso(now), hs_lastmodifieddate=iso(now))
            contacts = [str(c) for c in row.get("contacts", [])]
            sim.deals[deal_id] = {
                "id": deal_id,
                "createdAt": iso(now),
                "updatedAt": iso(now),
                "properties": props,
                "contacts": contacts,
            }
            self.order.add(int(deal_id))
            for contact in dict.fromkeys(contacts):
                self._by_contact[contact].append(deal_id)
            created.append(deal_id)
        return created
