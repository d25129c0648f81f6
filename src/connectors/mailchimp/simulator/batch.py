"""Batch subscribe: ``POST /3.0/lists/{list_id}`` ``{"members": [...], "update_existing"}``.

At most ``batch_subscribe_max`` (500) members, else 400. Each member is validated on its own
(a status, a valid email, merge fields); the answer is ``{"new_members", "updated_members",
"errors": [{"email_address", "error", "error_code": "ERROR_GENERIC"|"ERROR_CONTACT_EXISTS",
"field", "field_message"}], "total_created", "total_updated", "error_count", "_links"}``. An
existing member is an ``ERROR_CONTACT_EXISTS`` error unless ``update_existing`` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, query_bool

from .answers import links
from .errors import BLANK, invalid
from .members import subscriber_hash

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["BatchSubscribe"]


class BatchSubscribe:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim

    async def subscribe(self, request: Request) -> Response:
        sim = self.sim
        api = sim.member_api
        lst = sim.audience(request)
        data = await json_body(request, expect=dict, empty={})
        rows = data.get("members")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise invalid("members must be an array of objects", "members")
        limit = sim.batch_subscribe_max
        if len(rows) > limit:
            raise invalid(
                f"You may add up to {limit} members per call, not {len(rows)}.", "members"
            )
        update, skip = (
            bool(data.get("update_existing")),
            query_bool(request, "skip_merge_validation"),
        )
        base = sim.base(request)
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for row in rows:
            email = str(row.get("email_address") or "").strip()
            existing = sim.members[lst["id"]].get(subscriber_hash(email)) if email else None
            live = existing is not None and existing["status"] != "archived"
            problems = api.validate(lst["id"], row, existing if live else None, skip)
            for key in ("email_address", "status"):
                if not row.get(key):
                    problems.insert(0, {"field": key, "message": BLANK})
            if problems:
                first = problems[0]
                error = (f"{email} looks fake or invalid, please enter a real email address."
                         if first["field"] == "email_address" else first["message"])  # fmt: skip
                errors.append({"email_address": email, "error": error, "error_code":
                               "ERROR_GENERIC", "field": first["field"],
                               "field_message": first["message"]})  # fmt: skip
            elif live and not update:
                errors.append({"email_address": email, "error": f"{email} is already a list "
                               "member. Use PUT to insert or update list members.",
                               "error_code": "ERROR_CONTACT_EXISTS", "field": "",
                               "field_message": ""})  # fmt: skip
            else:
                record = api.write(lst["id"], row, existing, str(row["status"]))
                (updated if live else created).append(api.to_json(base, record))
        return sim.json(request, {
            "new_members": created, "updated_members": updated, "errors": errors,
            "total_created": len(created), "total_updated": len(updated),
            "error_count": len(errors),
            "_links": links(base, f"/lists/{lst['id']}", "Lists/BatchPOST"),
        })  # fmt: skip
