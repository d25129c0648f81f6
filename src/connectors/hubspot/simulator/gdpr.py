"""``POST /crm/v3/objects/contacts/gdpr-delete``: permanently delete a contact (GDPR).

From HubSpot's spec (``contacts.json``, operation ``post-/crm/v3/objects/contacts/gdpr-delete``,
scope ``crm.objects.contacts.write``): the body is ``PublicGdprDeleteInput`` —
``{"objectId": "101"}``, or ``{"objectId": "a@x.org", "idProperty": "email"}`` to name the
contact by email — and the answer is **204 No Content**. "Permanently delete a contact and all
associated content to follow GDPR … If email address is not found, the email address will be
added to a blocklist and prevent it from being used in the future."

Here: the contact goes, with its list memberships and deal associations, and cannot be read or
restored; an email with no contact is blocklisted. Inferred (constructor arguments of the
simulator): an ``objectId`` naming no contact answers ``gdpr_unknown_id_status`` (404
``OBJECT_NOT_FOUND``); the deleted contact's own email is blocklisted too
(``gdpr_blocklist_deleted``); a write that would give a contact a blocklisted email is refused
(``blocklist_blocks_create``: a ``VALIDATION_ERROR`` ``BLOCKLISTED_EMAIL`` per input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body

from .errors import HubSpotError, bad
from .objects import as_value

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["Gdpr"]


class Gdpr:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.blocklist: set[str] = set()
        """Emails that may not be given to a contact any more."""
        self.deleted: list[str] = []
        """Ids of the contacts deleted this way, in order (for inspection)."""

    async def delete(self, request: Request) -> Response:
        sim = self.sim
        data = await json_body(request, expect=dict, empty=None)
        raw = data.get("objectId")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or as_value(raw) == "":
            raise bad("Invalid input JSON: objectId is required (a string)")
        id_property = data.get("idProperty")
        if id_property not in (None, "", "email", "hs_object_id"):
            raise bad(f"Unsupported idProperty {id_property!r}; use email")
        found = sim.contact_api.lookup(raw, id_property or None)
        if found is None:
            if id_property == "email":
                self.blocklist.add(as_value(raw).strip().lower())
                return sim.json(None, 204)
            if sim.gdpr_unknown_id_status == 204:
                return sim.json(None, 204)
            raise HubSpotError(
                404, f"Object not found. objectId are usually numeric. objectId: {raw}",
                "OBJECT_NOT_FOUND",
            )  # fmt: skip
        email = sim.contacts[found]["properties"].get("email", "")
        self.purge(found)
        if email and sim.gdpr_blocklist_deleted:
            self.blocklist.add(email.lower())
        return sim.json(None, 204)

    def purge(self, record_id: str) -> None:
        """Remove a contact and everything tied to it: list memberships, deal associations."""
        sim = self.sim
        record = sim.contacts.pop(record_id)
        email = str(record["properties"].get("email", "")).lower()
        if email and sim.contact_api.by_email.get(email) == record_id:
            del sim.contact_api.by_email[email]
        sim.contact_api.order.discard(int(record_id))
        sim.list_api.drop_record(record_id)
        sim.deal_api.drop_contact(record_id)
        sim.version += 1
        self.deleted.append(record_id)

    def blocked(self, email: str) -> bool:
        """Whether a write may not give a contact this email."""
        return self.sim.blocklist_blocks_create and email.strip().lower() in self.blocklist
