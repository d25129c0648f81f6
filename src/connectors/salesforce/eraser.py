"""Erasing people in Salesforce (``erase_records = "delete" | "anonymise"``).

A person's records are every Contact and Lead id segsync knows for them (``Person.record_ids``:
the ids this instance pulled, converted Leads included) plus any Contact or Lead holding one of
their emails (made since the last pull, or never pulled).

* ``delete``: sObject Collections ``DELETE`` (≤ 200 ids a call). Records go to the Recycle Bin
  (15 days, then purged by Salesforce; an admin can empty it sooner); their campaign members
  go with them. A record already gone is ``not_found``.
* ``anonymise``: sObject Collections ``PATCH`` (≤ 200 records a call) overwriting the personal
  fields (:data:`ANONYMISED`): names, email, phones, address, birth date, title and
  description are emptied, the required ``LastName`` (and a Lead's ``Company``) become
  "Anonymised", and ``HasOptedOutOfEmail`` is set. Converted Leads are read-only in
  Salesforce, so they are deleted instead. Field history keeps old values of tracked fields:
  delete when that matters.

Per person: ``deleted``/``anonymised`` when at least one record was, ``not_found`` when none
was there, ``failed`` (with Salesforce's error codes, never ids or emails) otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from segsync.connector import ErasureResult, Person

from .api import COLLECTION_MAX, SalesforceApi, in_lists, item_error, soql_string
from .destination import CONTACT, LEAD, TRANSIENT, person_field
from .settings import SalesforceSettings

__all__ = ["ANONYMISED", "SalesforceEraser"]

PLACEHOLDER = "Anonymised"
#: what ``anonymise`` writes, per object (None empties the field)
ANONYMISED: dict[str, dict[str, Any]] = {
    "Contact": {
        "FirstName": None, "LastName": PLACEHOLDER, "Email": None, "Phone": None,
        "MobilePhone": None, "HomePhone": None, "OtherPhone": None, "Fax": None,
        "MailingStreet": None, "MailingCity": None, "MailingState": None,
        "MailingPostalCode": None, "MailingCountry": None, "Birthdate": None, "Title": None,
        "Description": None, "HasOptedOutOfEmail": True,
    },
    "Lead": {
        "FirstName": None, "LastName": PLACEHOLDER, "Company": PLACEHOLDER, "Email": None,
        "Phone": None, "MobilePhone": None, "Fax": None, "Street": None, "City": None,
        "State": None, "PostalCode": None, "Country": None, "Title": None, "Description": None,
        "HasOptedOutOfEmail": True,
    },
}  # fmt: skip
_NOT_THERE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND",
                        "MALFORMED_ID", "INVALID_ID_FIELD"})  # fmt: skip
Outcome = tuple[Literal["done", "not_found", "failed"], str | None, bool]


class SalesforceEraser:
    """The eraser role (see the module docstring)."""

    def __init__(self, settings: SalesforceSettings, api: SalesforceApi) -> None:
        self.settings = settings
        self.api = api
        self.mode: Literal["delete", "anonymise"] = (
            "anonymise" if settings.erase_records == "anonymise" else "delete"
        )
        self.erase_limit = COLLECTION_MAX
        self.max_in_flight = settings.concurrency

    async def erase(self, people: list[Person]) -> list[ErasureResult]:
        ids_of = {p.key: {i for i in p.record_ids if person_field(i) is not None} for p in people}
        emails = sorted({e.lower() for p in people for e in p.emails if e})
        if emails:
            by_email = await self._by_email(emails)
            for p in people:
                for e in p.emails:
                    ids_of[p.key] |= by_email.get(e.lower(), set())
        every = sorted({i for ids in ids_of.values() for i in ids})
        if self.mode == "delete":
            outcomes = await self._delete(every)
        else:
            outcomes = await self._anonymise(every)
        return [self._result(p.key, [outcomes[i] for i in sorted(ids_of[p.key])]) for p in people]

    def _result(self, key: str, outcomes: list[Outcome]) -> ErasureResult:
        failed = [(error, permanent) for state, error, permanent in outcomes if state == "failed"]
        if failed:
            errors = "; ".join(sorted({str(e) for e, _ in failed}))
            return ErasureResult(key, "failed", error=errors, permanent=all(p for _, p in failed))
        if any(state == "done" for state, _, _ in outcomes):
            return ErasureResult(key, "deleted" if self.mode == "delete" else "anonymised")
        return ErasureResult(key, "not_found")

    async def _by_email(self, emails: list[str]) -> dict[str, set[str]]:
        found: defaultdict[str, set[str]] = defaultdict(set)
        for group in in_lists(emails, self.api.list_budget):
            where = f"Email IN ({', '.join(soql_string(e) for e in group)})"
            for sobject in ("Contact", "Lead"):
                async for rows in self.api.rows(sobject, ("Email",), where):
                    for row in rows:
                        found[str(row.get("Email") or "").lower()].add(str(row["Id"]))
        return found

    @staticmethod
    def _outcome(result: dict[str, Any], what: str) -> Outcome:
        if result.get("success"):
            return "done", None, False
        code, _ = item_error(result)
        if code in _NOT_THERE:
            return "not_found", None, False
        return "failed", f"{what}: {code}", code not in TRANSIENT

    async def _delete(self, ids: Iterable[str]) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        every = list(ids)
        for start in range(0, len(every), COLLECTION_MAX):
            part = every[start : start + COLLECTION_MAX]
            answer = await self.api.delete(part)
            for rid, result in zip(part, answer, strict=True):
                out[rid] = self._outcome(result, "delete")
        return out

    async def _anonymise(self, ids: list[str]) -> dict[str, Outcome]:
        leads = [i for i in ids if i.startswith(LEAD)]
        converted: set[str] = set()
        for group in in_lists(leads, self.api.list_budget):
            where = f"IsConverted = true AND Id IN ({', '.join(soql_string(i) for i in group)})"
            async for rows in self.api.rows("Lead", ("IsConverted",), where):
                converted.update(str(r["Id"]) for r in rows)
        out = await self._delete([i for i in ids if i in converted])  # read-only: delete
        records = [
            {
                "attributes": {"type": "Contact" if rid.startswith(CONTACT) else "Lead"},
                "id": rid,
                **ANONYMISED["Contact" if rid.startswith(CONTACT) else "Lead"],
            }
            for rid in ids
            if rid not in converted
        ]
        for start in range(0, len(records), COLLECTION_MAX):
            part = records[start : start + COLLECTION_MAX]
            answer = await self.api.update(part)
            for record, result in zip(part, answer, strict=True):
                out[str(record["id"])] = self._outcome(result, "anonymise")
        return out
