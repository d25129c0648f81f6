"""Erasing people in HubSpot: the GDPR delete, one contact a call.

``POST /crm/v3/objects/contacts/gdpr-delete`` with ``{"objectId": "<record id>"}`` deletes the
contact and everything associated with it for good (no restore; 204). segsync calls it for
every record id it knows the person by at this instance (pulled, or created by a sync); a
person known only by email (delivered nowhere by id, never pulled) is deleted by email
(``"idProperty": "email"``), which also blocklists the address when HubSpot has no such
contact. A record id HubSpot answers 404 for is already gone: ``not_found``.

Turned on per instance with ``erase_records = "delete"`` (default ``"off"``).
"""

from __future__ import annotations

from typing import Literal

from segsync.connector import ErasureResult, Person
from segsync.errors import FatalError
from segsync.http import HttpClient

from .settings import HubSpotSettings

__all__ = ["GDPR_DELETE", "HubSpotEraser"]

GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


class HubSpotEraser:
    """The eraser role of a HubSpot instance (``erase_records = "delete"``)."""

    mode: Literal["delete", "anonymise"] = "delete"
    erase_limit = 1
    """HubSpot deletes one contact a call."""

    def __init__(self, settings: HubSpotSettings, http: HttpClient) -> None:
        self.http = http
        self.max_in_flight = settings.concurrency

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        return [await self._one(person) for person in people]

    async def _one(self, person: Person) -> ErasureResult:
        deleted = False
        for record_id in person.record_ids:
            deleted |= await self._delete({"objectId": record_id})
        if not person.record_ids:
            for email in person.emails:
                deleted |= await self._delete({"objectId": email, "idProperty": "email"})
        return ErasureResult(person.key, "deleted" if deleted else "not_found")

    async def _delete(self, body: dict[str, str]) -> bool:
        """One GDPR delete; False when HubSpot has no such contact (already gone)."""
        try:
            await self.http.post(GDPR_DELETE, json=body)
        except FatalError as exc:
            if exc.status == 404:
                return False
            raise
        return True
