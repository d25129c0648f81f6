"""Contact property definitions: ``GET /crm/v3/properties/contacts``, ``GET|PATCH
/crm/v3/properties/contacts/{name}`` and ``POST /crm/v3/properties/contacts`` (409 on a
duplicate name).

A definition needs ``name, label, type, fieldType, groupName`` with ``type`` and
``fieldType`` from HubSpot's enums; an option needs a ``label`` and a ``value``. PATCH replaces
the options array (inferred). The portal starts with HubSpot's usual contact properties
(:data:`DEFAULT_PROPERTIES`): email, names, phones, address, company, ``lifecyclestage`` (an
enumeration), ``hs_email_optout`` (a boolean), the read-only ``hs_object_id`` and dates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body

from .errors import HubSpotError, bad
from .objects import READ_ONLY, iso

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["DEFAULT_PROPERTIES", "Properties"]

_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
_FIELD_TYPES = {
    "booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number",
    "phonenumber", "radio", "select", "text", "textarea",
}  # fmt: skip
_LIFECYCLE = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
              "opportunity", "customer", "evangelist", "other"]  # fmt: skip
DEFAULT_PROPERTIES: list[tuple[str, str, str, str]] = [  # name, label, type, fieldType
    ("email", "Email", "string", "text"),
    ("firstname", "First Name", "string", "text"),
    ("lastname", "Last Name", "string", "text"),
    ("phone", "Phone Number", "string", "phonenumber"),
    ("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
    ("country", "Country/Region", "string", "text"),
    ("city", "City", "string", "text"),
    ("state", "State/Region", "string", "text"),
    ("zip", "Postal Code", "string", "text"),
    ("address", "Street Address", "string", "text"),
    ("company", "Company Name", "string", "text"),
    ("jobtitle", "Job Title", "string", "text"),
    ("website", "Website URL", "string", "text"),
    ("hs_language", "Preferred language", "string", "text"),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio"),
    ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox"),
    ("hs_object_id", "Record ID", "number", "number"),
    ("createdate", "Create Date", "datetime", "date"),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date"),
]


def _option(value: str, label: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "hidden": False, "displayOrder": order,
            "description": ""}  # fmt: skip


def _options(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad("options must be a list")
    out = []
    for i, opt in enumerate(raw):
        if not isinstance(opt, dict) or "label" not in opt or "value" not in opt:
            raise bad(f"Option {i} needs a label and a value")
        out.append(
            {
                "label": str(opt["label"]),
                "value": str(opt["value"]),
                "hidden": bool(opt.get("hidden", False)),
                "displayOrder": opt.get("displayOrder", i),
                "description": str(opt.get("description", "")),
            }
        )
    return out


def definition(data: dict[str, Any], now: int, *, hubspot_defined: bool = False) -> dict[str, Any]:
    """A property definition as the API shows it, from what a client sent; 400 when invalid."""
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not data.get(k)]
    if missing:
        raise bad(f"Missing required fields: {', '.join(missing)}")
    if data["type"] not in _TYPES:
        raise bad(f"Invalid type {data['type']!r}; one of {sorted(_TYPES)}")
    if data["fieldType"] not in _FIELD_TYPES:
        raise bad(f"Invalid fieldType {data['fieldType']!r}; one of {sorted(_FIELD_TYPES)}")
    return {
        "name": data["name"],
        "label": data["label"],
        "type": data["type"],
        "fieldType": data["fieldType"],
        "description": data.get("description", ""),
        "groupName": data["groupName"],
        "options": _options(data.get("options") or []),
        "displayOrder": data.get("displayOrder", -1),
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": data.get("hasUniqueValue", data["name"] == "email"),
        "hidden": bool(data.get("hidden", False)),
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": data["name"] in READ_ONLY,
        },
        "formField": bool(data.get("formField", False)),
        "createdAt": iso(now),
        "updatedAt": iso(now),
        "archived": False,
    }


def default_definitions(now: int) -> dict[str, dict[str, Any]]:
    """The portal's built-in contact properties."""
    out = {}
    for order, (pname, label, ptype, field) in enumerate(DEFAULT_PROPERTIES):
        options: list[dict[str, Any]] = []
        if pname == "lifecyclestage":
            options = [_option(v, v.title(), i) for i, v in enumerate(_LIFECYCLE)]
        elif ptype == "bool":
            options = [_option("true", "True", 0), _option("false", "False", 1)]
        out[pname] = definition(
            {"name": pname, "label": label, "type": ptype, "fieldType": field,
             "groupName": "contactinformation", "options": options, "displayOrder": order},
            now, hubspot_defined=True,
        )  # fmt: skip
    return out


class Properties:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim

    def _find(self, request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        if name not in self.sim.properties:
            raise HubSpotError(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return self.sim.properties[name]

    async def list_all(self, request: Request) -> Response:
        return self.sim.json({"results": list(self.sim.properties.values())})

    async def get(self, request: Request) -> Response:
        return self.sim.json(self._find(request))

    async def create(self, request: Request) -> Response:
        sim = self.sim
        data = await json_body(request, expect=dict, empty=None)
        created = definition(data, sim.now_ms())
        if created["name"] in sim.properties:
            raise HubSpotError(409, f"Property named '{created['name']}' already exists.",
                               "OBJECT_ALREADY_EXISTS")  # fmt: skip
        sim.properties[created["name"]] = created
        return sim.json(created, 201)

    async def patch(self, request: Request) -> Response:
        sim = self.sim
        current = self._find(request)
        data = await json_body(request, expect=dict, empty=None)
        merged = {**current, **{k: v for k, v in data.items() if k != "name"}}
        updated = definition(merged, sim.now_ms())
        for key in ("hubspotDefined", "modificationMetadata", "createdAt"):
            updated[key] = current[key]
        sim.properties[current["name"]] = updated
        return sim.json(updated)
