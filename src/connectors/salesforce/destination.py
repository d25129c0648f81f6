"""Writing Salesforce: one Campaign per sync, its members added and removed in 200s.

* ``kind = "campaign"``: the Campaign named after the audience, found by name (the oldest, as
  names are not unique) or created. A create is sent once, never retried blindly: when its
  answer is lost, the campaign is looked for again before another attempt, so a retry never
  makes a second campaign (find-after-failure).
* **Members** are Contacts (``003…``) and Leads (``00Q…``) by record id. Adds are one sObject
  Collections insert of ≤ 200 CampaignMembers (``allOrNone`` false); ``DUPLICATE_VALUE``
  ("Already a campaign member.") counts as delivered, so a batch sent twice is harmless. A
  converted Lead cannot be added (``CANNOT_UPDATE_CONVERTED_LEAD``): it is addressed through
  its Contact (``ConvertedContactId``) instead. Removes look the members up
  (``LeadOrContactId IN (…)``, and ``LeadId`` for a converted Lead's old membership) and
  delete them with one collection delete; a member already gone is a success.
* **Status**: ``member_status`` (or ``member_statuses`` per sync) — created on the campaign as
  a CampaignMemberStatus when missing; else the campaign's default status.
* ``new:<email>`` members (``on_missing = "create"``): the email is looked up among Contacts
  and Leads first (a crashed run's Leads are found, not made twice); the rest are created as
  Leads (``lead_last_name``, ``lead_company``, ``lead_source``; ``HasOptedOutOfEmail`` when
  the profile denied email marketing) in one call that is never retried blindly. A duplicate
  rule that blocks the Lead (``DUPLICATES_DETECTED``) names the matching record, which is
  added instead; ``allow_duplicate_save`` sends ``Sforce-Duplicate-Rule-Header:
  allowSave=true`` so *Alert* rules let the Lead through.
"""

from __future__ import annotations

from typing import Any

from segsync.connector import (
    NEW_MEMBER_PREFIX,
    AudienceRef,
    AudienceSpec,
    Batch,
    Member,
    Purpose,
    RecordResult,
)
from segsync.errors import FatalError, RetryableError

from .api import COLLECTION_MAX, SalesforceApi, in_lists, item_error, soql_string
from .settings import SalesforceSettings

__all__ = ["CampaignWriter", "person_field"]

CONTACT, LEAD = "003", "00Q"
_GONE = frozenset({"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "MALFORMED_ID",
                   "FIELD_INTEGRITY_EXCEPTION", "INVALID_ID_FIELD"})  # fmt: skip
#: per-record errors worth trying again on a later run
TRANSIENT = frozenset({"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                       "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})  # fmt: skip
_CREATE_ATTEMPTS = 3


def person_field(record_id: str) -> str | None:
    """``ContactId`` or ``LeadId`` for a record id, or None when it is neither."""
    return {CONTACT: "ContactId", LEAD: "LeadId"}.get(record_id[:3])


def _ok(key: str, created: dict[str, str]) -> RecordResult:
    if key in created:
        return RecordResult(key=key, op="add", ok=True, delivered_key=created[key])
    return RecordResult.success(key, "add")


class CampaignWriter:
    """The destination role: campaigns and their members."""

    def __init__(self, settings: SalesforceSettings, api: SalesforceApi) -> None:
        self.settings = settings
        self.api = api
        self.max_in_flight = settings.concurrency
        self._status: dict[str, str | None] = {}  # campaign id → member status to set

    def batch_limit(self, kind: str) -> int:
        """sObject Collections take 200 records a call."""
        return COLLECTION_MAX

    # -- campaigns ---------------------------------------------------------------------------

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        if spec.kind != "campaign":
            raise FatalError(f"Salesforce has no audience kind {spec.kind!r} (use campaign)")
        campaign = await self._find(spec.name)
        created = campaign is None
        if campaign is None:
            campaign = await self._create(spec)
        status = self.settings.status_for(spec.sync)
        if status is not None:
            status = await self._ensure_status(campaign, status)
        self._status[campaign] = status
        return AudienceRef(id=campaign, name=spec.name, kind="campaign", created=created)

    async def _find(self, name: str) -> str | None:
        soql = (
            f"SELECT Id FROM Campaign WHERE Name = {soql_string(name)} "
            "ORDER BY CreatedDate, Id LIMIT 1"
        )
        answer = await self.api.call("GET", "/query", params={"q": soql})
        records = answer.get("records") or []
        return str(records[0]["Id"]) if records else None

    async def _create(self, spec: AudienceSpec) -> str:
        body = {
            "Name": spec.name,
            "IsActive": self.settings.campaign_active,
            "Description": spec.description or f"Managed by segsync (sync {spec.sync})",
        }
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                answer = await self.api.call("POST", "/sobjects/Campaign", once=True, json=body)
            except RetryableError:
                # the answer was lost or the call refused for now: did the campaign get made?
                found = await self._find(spec.name)
                if found is not None:
                    return found
                if attempt == _CREATE_ATTEMPTS:
                    raise
                continue
            return str(answer["id"])
        raise AssertionError("unreachable")

    async def _ensure_status(self, campaign: str, label: str) -> str:
        soql = (
            "SELECT Id, Label, SortOrder FROM CampaignMemberStatus "
            f"WHERE CampaignId = {soql_string(campaign)}"
        )
        answer = await self.api.call("GET", "/query", params={"q": soql})
        records = answer.get("records") or []
        for record in records:
            if str(record.get("Label") or "").lower() == label.lower():
                return str(record["Label"])
        order = max((int(r.get("SortOrder") or 0) for r in records), default=0) + 1
        body = {"CampaignId": campaign, "Label": label, "SortOrder": order, "HasResponded": False}
        await self.api.call("POST", "/sobjects/CampaignMemberStatus", json=body)
        return label

    # -- people -----------------------------------------------------------------------------

    async def find_people(self, emails: list[str]) -> dict[str, str]:
        """Lower-cased email → the record to address: a Contact (the oldest id), else an
        unconverted Lead, else the Contact a Lead of that email was converted into."""
        found: dict[str, tuple[int, str]] = {}
        for group in in_lists(sorted(set(emails)), self.api.list_budget):
            listed = ", ".join(soql_string(e) for e in group)
            for sobject, fields in (
                ("Contact", ("Email",)),
                ("Lead", ("Email", "IsConverted", "ConvertedContactId")),
            ):
                async for rows in self.api.rows(sobject, fields, f"Email IN ({listed})"):
                    for row in rows:
                        email = str(row.get("Email") or "").lower()
                        target, rank = str(row["Id"]), 0 if sobject == "Contact" else 1
                        if str(row.get("IsConverted") or "").lower() == "true":
                            target, rank = str(row.get("ConvertedContactId") or ""), 2
                        best = found.get(email)
                        if target and (best is None or (rank, target) < best):
                            found[email] = (rank, target)
        return {email: target for email, (_, target) in found.items()}

    async def _create_leads(
        self, members: list[Member]
    ) -> tuple[dict[str, str], list[RecordResult]]:
        """Record ids for ``new:`` members (found or created), and failures."""
        email = {m.key: (m.email or m.key[len(NEW_MEMBER_PREFIX) :]).lower() for m in members}
        existing = await self.find_people(list(email.values()))
        ids = {m.key: existing[email[m.key]] for m in members if email[m.key] in existing}
        fresh = [m for m in members if m.key not in ids]
        if not fresh:
            return ids, []
        s = self.settings
        records = [
            {
                "attributes": {"type": "Lead"},
                "LastName": s.lead_last_name,
                "Company": s.lead_company,
                "Email": email[m.key],
                **({"Phone": m.phone} if m.phone else {}),
                **({"LeadSource": s.lead_source} if s.lead_source else {}),
                **(
                    {"HasOptedOutOfEmail": True}
                    if m.consent.get(Purpose.EMAIL_MARKETING) is False
                    else {}
                ),
            }
            for m in fresh
        ]
        headers = (
            {"Sforce-Duplicate-Rule-Header": "allowSave=true; runAsCurrentUser=true"}
            if s.allow_duplicate_save
            else None
        )
        failures: list[RecordResult] = []
        try:
            answer = await self.api.insert(records, once=True, headers=headers)
        except RetryableError:
            # the answer may be lost after Salesforce made the Leads: whoever exists now was
            # made; the others are tried again by a later run (never created twice)
            again = await self.find_people([email[m.key] for m in fresh])
            for m in fresh:
                if email[m.key] in again:
                    ids[m.key] = again[email[m.key]]
                else:
                    reason = "create Lead: Salesforce did not answer; tried again next run"
                    failures.append(RecordResult.failure(m.key, "add", reason))
            return ids, failures
        for m, result in zip(fresh, answer, strict=True):
            if result.get("success"):
                ids[m.key] = str(result["id"])
                continue
            match = _duplicate_match(result)
            if match is not None:
                ids[m.key] = match
                continue
            code, message = item_error(result)
            failures.append(
                RecordResult.failure(
                    m.key, "add", f"create Lead: {code}: {message}", permanent=code not in TRANSIENT
                )
            )
        return ids, failures

    # -- membership -------------------------------------------------------------------------

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        results: list[RecordResult] = []
        if batch.adds:
            results += await self._add(batch.audience.id, batch.adds)
        if batch.removes:
            results += await self._remove(batch.audience.id, batch.removes)
        return results

    def _member(self, campaign: str, person: str) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign}
        record[str(person_field(person))] = person
        status = self._status.get(campaign)
        if status is not None:
            record["Status"] = status
        return record

    async def _add(self, campaign: str, members: list[Member]) -> list[RecordResult]:
        news = [m for m in members if m.key.startswith(NEW_MEMBER_PREFIX)]
        created, results = await self._create_leads(news) if news else ({}, [])
        targets: list[tuple[str, str]] = []  # (member key, Contact/Lead id)
        for m in members:
            person = created.get(m.key, m.key)
            if person.startswith(NEW_MEMBER_PREFIX):
                continue  # its creation failed: reported above
            if person_field(person) is None:
                reason = f"not a Contact or Lead id: {person[:3]}…"
                results.append(RecordResult.failure(m.key, "add", reason, permanent=True))
                continue
            targets.append((m.key, person))
        converted: list[tuple[str, str]] = []
        if targets:
            answer = await self.api.insert([self._member(campaign, p) for _, p in targets])
            for (key, person), result in zip(targets, answer, strict=True):
                code, message = ("", "") if result.get("success") else item_error(result)
                if code in ("", "DUPLICATE_VALUE"):  # added now, or already a member
                    results.append(_ok(key, created))
                elif code == "CANNOT_UPDATE_CONVERTED_LEAD":
                    converted.append((key, person))
                else:
                    results.append(self._add_failure(key, person, code, message))
        if converted:
            results += await self._add_converted(campaign, converted, created)
        return results

    @staticmethod
    def _add_failure(key: str, person: str, code: str, message: str) -> RecordResult:
        if code in _GONE:
            what = "Contact" if person.startswith(CONTACT) else "Lead"
            reason = f"Salesforce has no {what} with record id {person} (deleted or merged)"
            return RecordResult.failure(key, "add", reason, permanent=True)
        return RecordResult.failure(
            key, "add", f"{code}: {message}", permanent=code not in TRANSIENT
        )

    async def _converted_contacts(self, leads: list[str]) -> dict[str, str]:
        """Converted Lead id → the Contact it became."""
        out: dict[str, str] = {}
        for group in in_lists(leads, self.api.list_budget):
            where = f"IsConverted = true AND Id IN ({', '.join(soql_string(i) for i in group)})"
            async for rows in self.api.rows("Lead", ("ConvertedContactId",), where):
                out.update({str(r["Id"]): str(r["ConvertedContactId"]) for r in rows
                            if r.get("ConvertedContactId")})  # fmt: skip
        return out

    async def _add_converted(
        self, campaign: str, converted: list[tuple[str, str]], created: dict[str, str]
    ) -> list[RecordResult]:
        """Converted Leads are read-only: add the Contacts they became."""
        contact_of = await self._converted_contacts([lead for _, lead in converted])
        results: list[RecordResult] = []
        targets = [(key, contact_of[lead]) for key, lead in converted if lead in contact_of]
        for key, lead in converted:
            if lead not in contact_of:
                reason = f"Lead {lead} is converted and names no Contact to add instead"
                results.append(RecordResult.failure(key, "add", reason, permanent=True))
        if targets:
            answer = await self.api.insert([self._member(campaign, c) for _, c in targets])
            for (key, contact), result in zip(targets, answer, strict=True):
                code, message = ("", "") if result.get("success") else item_error(result)
                if code in ("", "DUPLICATE_VALUE"):
                    results.append(_ok(key, created))
                else:
                    results.append(self._add_failure(key, contact, code, message))
        return results

    async def _remove(self, campaign: str, members: list[Member]) -> list[RecordResult]:
        keys = [m.key for m in members]
        people = [k for k in dict.fromkeys(keys) if person_field(k) is not None]
        leads = [k for k in people if k.startswith(LEAD)]
        contact_of = await self._converted_contacts(leads) if leads else {}
        owner: dict[str, set[str]] = {}  # CampaignMember id → member keys it stands for
        wanted = {p: {p} for p in people}
        for lead, contact in contact_of.items():
            wanted.setdefault(contact, set()).add(lead)
        lookups = [("LeadOrContactId", sorted(wanted)), ("LeadId", sorted(contact_of))]
        for field, values in lookups:
            for group in in_lists(values, self.api.list_budget):
                listed = ", ".join(soql_string(v) for v in group)
                where = f"{field} IN ({listed}) AND CampaignId = {soql_string(campaign)}"
                async for rows in self.api.rows("CampaignMember", (field,), where):
                    for row in rows:
                        for key in wanted.get(str(row.get(field)), ()):
                            owner.setdefault(str(row["Id"]), set()).add(key)
        failed: dict[str, str] = {}
        member_ids = sorted(owner)
        for start in range(0, len(member_ids), COLLECTION_MAX):
            part = member_ids[start : start + COLLECTION_MAX]
            answer = await self.api.delete(part)
            for member_id, result in zip(part, answer, strict=True):
                code, message = ("", "") if result.get("success") else item_error(result)
                if code not in ("", "ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"):
                    for key in owner[member_id]:
                        failed[key] = f"{code}: {message}"
        return [
            RecordResult.failure(k, "remove", failed[k], permanent=False)
            if k in failed
            else RecordResult.success(k, "remove")
            for k in keys
        ]


def _duplicate_match(result: dict[str, Any]) -> str | None:
    """The record a duplicate rule matched (a Contact before a Lead), from a
    ``DUPLICATES_DETECTED`` item's ``duplicateResult``."""
    for error in result.get("errors") or []:
        if not isinstance(error, dict) or error.get("statusCode") != "DUPLICATES_DETECTED":
            continue
        matches: list[str] = []
        for match in (error.get("duplicateResult") or {}).get("matchResults") or []:
            for found in match.get("matchRecords") or []:
                rid = str((found.get("record") or {}).get("Id") or "")
                if person_field(rid) is not None:
                    matches.append(rid)
        if matches:
            return min(matches)  # Contact ids (003…) sort before Lead ids (00Q…)
    return None
