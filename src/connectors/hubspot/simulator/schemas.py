"""Custom object schemas (HubSpot's CRM schemas API), read-only.

* ``GET /crm/v3/schemas`` — and ``GET /crm-object-schemas/v3/schemas``, the path the official
  client uses — → ``{"results": [ObjectSchema]}``, no paging; with no custom objects
  ``{"results": []}`` (what singer-io's tap-hubspot asks for before it syncs).
  ``?archived=true`` lists the archived schemas instead.
* ``GET …/schemas/{objectType}`` — one schema by ``objectTypeId``, ``fullyQualifiedName`` or
  ``name``; 404 ``OBJECT_NOT_FOUND`` otherwise.

A schema carries ``id``, ``objectTypeId`` (``2-<id>``), ``name``, ``labels {singular,
plural}``, ``fullyQualifiedName`` (``p<portal_id>_<name>``), ``metaType``
(``PORTAL_SPECIFIC``), ``primaryDisplayProperty``, ``requiredProperties``,
``searchableProperties``, ``secondaryDisplayProperties``, ``properties`` (definitions as the
properties API shows them), ``associations``, ``archived``, ``createdAt``, ``updatedAt``.

What the portal holds is a constructor argument (``custom_objects``, none by default), as are
the portal id and the scope the route needs (``crm.schemas.custom.read``, inferred).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import query_bool

from .errors import not_found
from .objects import iso
from .properties import definition

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["Schemas"]

_FIRST_ID = 1_000_001


class Schemas:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.schemas: list[dict[str, Any]] = []

    def add(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A custom object schema from ``spec`` (``name`` required; ``labels``, ``properties``
        as ``{name, label, type, fieldType}``, ``primaryDisplayProperty``, …, and ``archived``
        optional), filled in as the API shows it."""
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a custom object schema needs a name")
        now = iso(self.sim.now_ms())
        schema_id = str(spec.get("id") or _FIRST_ID + len(self.schemas))
        group = f"{name}_information"
        properties = [
            definition({"groupName": group, **p}, self.sim.now_ms())
            for p in spec.get("properties", ())
        ]
        schema: dict[str, Any] = {
            "id": schema_id,
            "objectTypeId": f"2-{schema_id}",
            "name": name,
            "labels": dict(spec.get("labels") or {"singular": name, "plural": f"{name}s"}),
            "fullyQualifiedName": f"p{self.sim.portal_id}_{name}",
            "metaType": "PORTAL_SPECIFIC",
            "requiredProperties": list(spec.get("requiredProperties", ())),
            "searchableProperties": list(spec.get("searchableProperties", ())),
            "secondaryDisplayProperties": list(spec.get("secondaryDisplayProperties", ())),
            "properties": properties,
            "associations": list(spec.get("associations", ())),
            "archived": bool(spec.get("archived", False)),
            "createdAt": now,
            "updatedAt": now,
        }
        primary = spec.get("primaryDisplayProperty") or (
            properties[0]["name"] if properties else None
        )
        if primary is not None:
            schema["primaryDisplayProperty"] = primary
        self.schemas.append(schema)
        return schema

    async def list_all(self, request: Request) -> Response:
        archived = query_bool(request, "archived", strict=True)
        return self.sim.json({"results": [s for s in self.schemas if s["archived"] == archived]})

    async def get(self, request: Request) -> Response:
        wanted = request.path_params["object_type"]
        for schema in self.schemas:
            if wanted in (schema["objectTypeId"], schema["fullyQualifiedName"], schema["name"]):
                return self.sim.json(schema)
        raise not_found(f"Unable to find object type {wanted}")
