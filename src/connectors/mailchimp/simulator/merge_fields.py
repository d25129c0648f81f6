"""Merge fields: ``GET|POST /3.0/lists/{list_id}/merge-fields`` (``type``/``required`` filters).

A field is ``{"merge_id", "tag", "name", "type", "required", "default_value", "public",
"display_order", "options", "help_text", "list_id", "_links"}``; ``type`` is one of
Mailchimp's eleven. A new audience gets the ``default_merge_fields`` (FNAME, LNAME, ADDRESS,
PHONE, BIRTHDAY, inferred); a tag defaults to ``MMERGE<n>``, and a taken tag is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, query_bool, query_param

from .answers import links
from .errors import BLANK, INVALID, invalid

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["DEFAULT_FIELDS", "TYPES", "MergeFields"]

#: tag: (name, type, options) of the fields a new audience has
DEFAULT_FIELDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "FNAME": ("First Name", "text", {"size": 25}),
    "LNAME": ("Last Name", "text", {"size": 25}),
    "ADDRESS": ("Address", "address", {"default_country": 164}),
    "PHONE": ("Phone Number", "phone", {"phone_format": "none"}),
    "BIRTHDAY": ("Birthday", "birthday", {"date_format": "MM/DD"}),
}
TYPES = {"text", "number", "address", "phone", "date", "url", "imageurl", "radio",
         "dropdown", "birthday", "zip"}  # fmt: skip


class MergeFields:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim

    def add(
        self,
        list_id: str,
        tag: str | None,
        name: str,
        field_type: str = "text",
        *,
        required: bool = False,
        options: Mapping[str, Any] | None = None,
        default_value: str = "",
    ) -> dict[str, Any]:
        """Define a merge field (the tag defaults to ``MMERGE<n>``); a taken tag or an unknown
        type raises ValueError."""
        if field_type not in TYPES:
            raise ValueError(f"unknown merge field type {field_type!r}")
        fields = self.sim.merge_fields[list_id]
        merge_id = max((f["merge_id"] for f in fields), default=0) + 1
        tag = (tag or f"MMERGE{merge_id}").upper()
        if any(f["tag"] == tag for f in fields):
            raise ValueError(f'A Merge Field with the tag "{tag}" already exists for this list.')
        field = {
            "merge_id": merge_id, "tag": tag, "name": name, "type": field_type,
            "required": required, "default_value": default_value, "public": False,
            "display_order": merge_id + 1, "options": dict(options or {}), "help_text": "",
            "list_id": list_id,
        }  # fmt: skip
        fields.append(field)
        return field

    def to_json(self, base: str, field: dict[str, Any]) -> dict[str, Any]:
        path = f"/lists/{field['list_id']}/merge-fields/{field['merge_id']}"
        return {**field, "_links": links(base, path, "Lists/MergeFields/Instance")}

    async def list_all(self, request: Request) -> Response:
        lst = self.sim.audience(request)
        kind = query_param(request, "type")
        required = query_bool(request, "required")
        wanted = query_param(request, "required") is not None
        found = [f for f in self.sim.merge_fields[lst["id"]]
                 if (not kind or f["type"] == kind)
                 and (not wanted or f["required"] == required)]  # fmt: skip
        return self.sim.collection(request, "merge_fields", found, self.to_json,
                                   f"/lists/{lst['id']}/merge-fields",
                                   "Lists/MergeFields/Collection", list_id=lst["id"])  # fmt: skip

    async def create(self, request: Request) -> Response:
        lst = self.sim.audience(request)
        data = await json_body(request, expect=dict, empty={})
        name, kind, tag = data.get("name"), data.get("type"), data.get("tag")
        if not isinstance(name, str) or not name.strip():
            raise invalid(INVALID, "name", BLANK)
        if kind not in TYPES:
            message = f"Value is not one of the enum values: {', '.join(sorted(TYPES))}"
            raise invalid(INVALID, "type", message)
        options = data.get("options") if isinstance(data.get("options"), dict) else None
        try:
            field = self.add(lst["id"], str(tag) if tag else None, name.strip(), str(kind),
                             required=bool(data.get("required")), options=options)  # fmt: skip
        except ValueError as exc:
            raise invalid(str(exc), "tag") from None
        return self.sim.json(request, self.to_json(self.sim.base(request), field))
