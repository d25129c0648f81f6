"""Erasing people in Mailchimp: permanent deletion from the instance's audience.

``POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent`` (204) deletes the
member and their personal data for good; Mailchimp then refuses to add the address again
through the API ("Forgotten Email Not Subscribed" — the person can only re-subscribe through a
Mailchimp form). segsync calls it for each subscriber hash it knows the person by at this
instance (the ids it pulled or delivered) and for the hash of each of their emails; a hash
Mailchimp answers 404 for is not on the audience: ``not_found``. One call per member;
``concurrency`` calls at once (Mailchimp's connection allowance).

Turned on per instance with ``erase_records = "delete"`` (default ``"off"``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from segsync.connector import ErasureResult, Person
from segsync.errors import FatalError
from segsync.http import HttpClient

from .api import subscriber_hash
from .settings import MailchimpSettings

__all__ = ["MailchimpEraser"]


class MailchimpEraser:
    """The eraser role of a Mailchimp instance (``erase_records = "delete"``)."""

    mode: Literal["delete", "anonymise"] = "delete"
    erase_limit = 1
    """Mailchimp deletes one member a call."""

    def __init__(self, settings: MailchimpSettings, http: HttpClient, list_path: str) -> None:
        self.http = http
        self.list_path = list_path
        self.max_in_flight = settings.concurrency

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        return [await self._one(person) for person in people]

    async def _one(self, person: Person) -> ErasureResult:
        hashes = dict.fromkeys(
            [*(h.lower() for h in person.record_ids), *map(subscriber_hash, person.emails)]
        )
        deleted = False
        for member_hash in hashes:
            path = f"{self.list_path}/members/{quote(member_hash, safe='')}"
            try:
                await self.http.post(f"{path}/actions/delete-permanent")
            except FatalError as exc:
                if exc.status == 404:
                    continue
                raise
            deleted = True
        return ErasureResult(person.key, "deleted" if deleted else "not_found")
