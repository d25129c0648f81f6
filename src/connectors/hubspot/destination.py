"""Writing HubSpot: MANUAL lists, the multi-checkbox segments property, and new contacts.

* ``kind = "list"``: one MANUAL list per sync, found by name or created; membership changes by
  record id through ``PUT /crm/v3/lists/{id}/memberships/add-and-remove``. An id HubSpot does
  not know (``recordIdsMissing``) fails that add permanently; removing it is a success (the
  person is not in the list).
* ``kind = "property"``: the option named after the audience on the ``audience_property``
  multi-checkbox. A contact's value is read and written back as its *full* set, so segments
  sharing the property never overwrite each other, and a contact whose set is unchanged is not
  written at all.
* ``new:<email>`` members (``on_missing = "create"``) are upserted by email first
  (``batch/upsert``); the id HubSpot answers is the ``delivered_key``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from segsync.connector import (
    NEW_MEMBER_PREFIX,
    AudienceRef,
    AudienceSpec,
    Batch,
    Member,
    RecordResult,
)
from segsync.errors import FatalError
from segsync.http import HttpClient, chunks

from .api import PROPERTIES
from .settings import HubSpotSettings

__all__ = ["HubSpotWriter", "option_value"]

LISTS = "/crm/v3/lists"
BATCH = "/crm/v3/objects/contacts/batch"
CONTACTS_TYPE = "0-1"
BATCH_MAX = 100
"""Inputs per batch read/update/upsert call."""
_SLUG = re.compile(r"[^a-z0-9_-]+")


def option_value(name: str) -> str:
    """The option value for an audience name: lower-case, ``[a-z0-9_-]`` (never ``;``)."""
    value = _SLUG.sub("_", name.strip().lower()).strip("_")
    return value or "segment"


def _errors(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in answer.get("errors") or [] if isinstance(e, dict)]


def _missing_ids(answer: dict[str, Any]) -> set[str]:
    """Ids a 207 answer reports as not found (``OBJECT_NOT_FOUND`` with ``context.ids``)."""
    found: set[str] = set()
    for error in _errors(answer):
        if error.get("category") == "OBJECT_NOT_FOUND":
            found.update(str(i) for i in (error.get("context") or {}).get("ids") or [])
    return found


def _traced_errors(answer: dict[str, Any]) -> dict[str, str]:
    """Per-input errors of a 207 answer, by ``objectWriteTraceId``."""
    out: dict[str, str] = {}
    for error in _errors(answer):
        for trace in (error.get("context") or {}).get("objectWriteTraceId") or []:
            out[str(trace)] = str(error.get("message") or error.get("category") or "rejected")
    return out


def _add_results(adds: list[tuple[str, str]], missing: set[str]) -> list[RecordResult]:
    """One result per ``(member key, record id)`` added: a permanent failure for an id HubSpot
    does not have (removing such an id is a success: the person is not there)."""
    return [
        RecordResult.failure(
            key, "add", f"HubSpot has no contact with record id {rid} (deleted or merged)",
            permanent=True,
        )
        if rid in missing
        else RecordResult.success(key, "add")
        for key, rid in adds
    ]  # fmt: skip


class HubSpotWriter:
    """The destination role: MANUAL lists and the segments property."""

    def __init__(self, settings: HubSpotSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.max_in_flight = settings.concurrency
        self._options: list[dict[str, Any]] | None = None  # the property's options, cached

    def batch_limit(self, kind: str) -> int:
        """List memberships go by ``membership_chunk`` ids a call; property writes and
        contact upserts by HubSpot's batch limit of 100."""
        return self.settings.membership_chunk if kind == "list" else BATCH_MAX

    # -- audiences ---------------------------------------------------------------------------

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        if spec.kind == "list":
            return await self._ensure_list(spec)
        if spec.kind == "property":
            return await self._ensure_option(spec)
        raise FatalError(f"HubSpot has no audience kind {spec.kind!r} (use list or property)")

    async def _find_list(self, name: str) -> dict[str, Any] | None:
        if "/" in name:  # a slash cannot travel in the by-name path: search instead
            answer = await self.http.json(
                "POST", f"{LISTS}/search", json={"query": name, "count": 500}
            )
            found = [
                x for x in answer.get("lists", []) if x.get("name", "").lower() == name.lower()
            ]
            return found[0] if found else None
        try:
            answer = await self.http.json(
                "GET", f"{LISTS}/object-type-id/{CONTACTS_TYPE}/name/{quote(name, safe='')}"
            )
        except FatalError as exc:
            if exc.status == 404:
                return None
            raise
        found_list: dict[str, Any] = answer["list"]
        return found_list

    def _list_ref(self, found: dict[str, Any], spec: AudienceSpec, created: bool) -> AudienceRef:
        kind = found.get("processingType")
        if kind not in ("MANUAL", "SNAPSHOT"):
            raise FatalError(
                f"HubSpot list {spec.name!r} (id {found.get('listId')}) is {kind}: segsync "
                "manages MANUAL lists only; rename the audience or the HubSpot list"
            )
        return AudienceRef(id=str(found["listId"]), name=spec.name, kind="list", created=created)

    async def _ensure_list(self, spec: AudienceSpec) -> AudienceRef:
        found = await self._find_list(spec.name)
        if found is not None:
            return self._list_ref(found, spec, created=False)
        body = {"name": spec.name, "objectTypeId": CONTACTS_TYPE, "processingType": "MANUAL"}
        try:
            answer = await self.http.json("POST", LISTS, json=body)
        except FatalError:
            # a create whose answer was lost is retried and meets "name taken": the list is
            # there, which is what we wanted; anything else re-raises
            found = await self._find_list(spec.name)
            if found is None:
                raise
            return self._list_ref(found, spec, created=True)
        return self._list_ref(answer["list"], spec, created=True)

    async def _property(self) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = await self.http.json(
                "GET", f"{PROPERTIES}/{self.settings.audience_property}"
            )
        except FatalError as exc:
            if exc.status == 404:
                return None
            raise
        return answer

    async def _ensure_option(self, spec: AudienceSpec) -> AudienceRef:
        name, value = self.settings.audience_property, option_value(spec.name)
        option = {"label": spec.name, "value": value, "hidden": False}
        definition = await self._property()
        created = definition is None
        if definition is None:
            body = {
                "name": name,
                "label": self.settings.audience_property_label,
                "type": "enumeration",
                "fieldType": "checkbox",
                "groupName": self.settings.property_group,
                "description": "Segments segsync computed for this contact. Managed by segsync.",
                "options": [{**option, "displayOrder": 0}],
            }
            try:
                definition = await self.http.json("POST", PROPERTIES, json=body)
            except FatalError:
                definition = await self._property()  # created by a lost-answer retry
                if definition is None:
                    raise
            else:
                self._options = list(definition.get("options") or [])
                return AudienceRef(id=value, name=spec.name, kind="property", created=True)
        if definition.get("type") != "enumeration" or definition.get("fieldType") != "checkbox":
            raise FatalError(
                f"HubSpot contact property {name!r} exists but is a {definition.get('type')}/"
                f"{definition.get('fieldType')}; segsync needs a multiple checkboxes property "
                "(enumeration/checkbox): set audience_property to another name"
            )
        options = list(definition.get("options") or [])
        if any(o.get("value") == value for o in options):
            self._options = options
            return AudienceRef(id=value, name=spec.name, kind="property", created=created)
        options.append({**option, "displayOrder": len(options)})
        updated = await self.http.json("PATCH", f"{PROPERTIES}/{name}", json={"options": options})
        self._options = list(updated.get("options") or options)
        return AudienceRef(id=value, name=spec.name, kind="property", created=True)

    # -- new contacts ------------------------------------------------------------------------

    async def create_missing(
        self, members: list[Member]
    ) -> tuple[dict[str, str], list[RecordResult]]:
        """Upsert the ``new:`` members by email. Returns their ids by member key, and a failure
        for each one HubSpot refused."""
        ids: dict[str, str] = {}
        failed: list[RecordResult] = []
        for part in chunks(members, max_count=BATCH_MAX):
            inputs = [
                {
                    "id": m.email or m.key[len(NEW_MEMBER_PREFIX) :],
                    "idProperty": "email",
                    "properties": {"email": m.email or m.key[len(NEW_MEMBER_PREFIX) :]},
                    "objectWriteTraceId": str(i),
                }
                for i, m in enumerate(part)
            ]
            answer = await self.http.json("POST", f"{BATCH}/upsert", json={"inputs": inputs})
            by_email = {
                str((r.get("properties") or {}).get("email", "")).lower(): str(r["id"])
                for r in answer.get("results", [])
            }
            rejected = _traced_errors(answer)
            for i, m in enumerate(part):
                email = (m.email or m.key[len(NEW_MEMBER_PREFIX) :]).lower()
                if email in by_email:
                    ids[m.key] = by_email[email]
                else:
                    reason = rejected.get(str(i), "HubSpot did not create the contact")
                    failed.append(
                        RecordResult.failure(m.key, "add", f"create: {reason}", permanent=True)
                    )
        return ids, failed

    # -- membership --------------------------------------------------------------------------

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        news = [m for m in batch.adds if m.key.startswith(NEW_MEMBER_PREFIX)]
        created, results = await self.create_missing(news) if news else ({}, [])
        adds = [(m.key, created.get(m.key, m.key)) for m in batch.adds]
        adds = [(key, rid) for key, rid in adds if not rid.startswith(NEW_MEMBER_PREFIX)]
        removes = [m.key for m in batch.removes]
        if batch.audience.kind == "list":
            out = await self._apply_list(batch.audience, adds, removes)
        else:
            out = await self._apply_property(batch.audience, adds, removes)
        for result in out:
            if result.key in created and result.ok:
                result = RecordResult(
                    key=result.key, op="add", ok=True, delivered_key=created[result.key]
                )
            results.append(result)
        return results

    async def _apply_list(
        self, audience: AudienceRef, adds: list[tuple[str, str]], removes: list[str]
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        step = self.settings.membership_chunk
        for start in range(0, max(len(adds), len(removes)), step):
            add_part, remove_part = adds[start : start + step], removes[start : start + step]
            answer = await self.http.json(
                "PUT",
                f"{LISTS}/{audience.id}/memberships/add-and-remove",
                json={
                    "recordIdsToAdd": [rid for _, rid in add_part],
                    "recordIdsToRemove": remove_part,
                },
            )
            missing = {str(i) for i in answer.get("recordIdsMissing") or []}
            results += _add_results(add_part, missing)
            results += [RecordResult.success(key, "remove") for key in remove_part]
        return results

    async def _apply_property(
        self, audience: AudienceRef, adds: list[tuple[str, str]], removes: list[str]
    ) -> list[RecordResult]:
        wanted: dict[str, bool] = {rid: True for _, rid in adds}
        wanted.update({rid: False for rid in removes})
        missing: set[str] = set()
        for part in chunks(list(wanted), max_count=BATCH_MAX):
            missing |= await self._write_options(audience.id, {rid: wanted[rid] for rid in part})
        return _add_results(adds, missing) + [
            RecordResult.success(rid, "remove") for rid in removes
        ]

    async def _write_options(self, value: str, wanted: dict[str, bool]) -> set[str]:
        """Set (True) or clear (False) option ``value`` on each contact, writing each changed
        contact's full set. Returns the ids HubSpot does not know."""
        prop = self.settings.audience_property
        answer = await self.http.json(
            "POST",
            f"{BATCH}/read",
            json={"inputs": [{"id": rid} for rid in wanted], "properties": [prop]},
        )
        missing = _missing_ids(answer)
        updates: dict[str, set[str]] = {}
        for record in answer.get("results", []):
            rid = str(record["id"])
            raw = str((record.get("properties") or {}).get(prop) or "")
            current = {v for v in raw.split(";") if v}
            target = current | {value} if wanted.get(rid) else current - {value}
            if target != current:
                updates[rid] = target
        if updates:
            missing |= await self._update(updates)
        return missing

    async def _update(self, updates: dict[str, set[str]], *, refreshed: bool = False) -> set[str]:
        prop = self.settings.audience_property
        inputs = [
            {"id": rid, "properties": {prop: ";".join(sorted(values))}, "objectWriteTraceId": rid}
            for rid, values in updates.items()
        ]
        answer = await self.http.json("POST", f"{BATCH}/update", json={"inputs": inputs})
        invalid = _traced_errors(answer)
        if invalid and not refreshed:
            # an option was deleted in HubSpot since these values were written: keep only the
            # options that still exist and write once more
            allowed = await self._option_values()
            retry = {rid: updates[rid] & allowed for rid in invalid if rid in updates}
            if retry:
                return _missing_ids(answer) | await self._update(retry, refreshed=True)
        if invalid:
            first = next(iter(invalid.values()))
            raise FatalError(f"HubSpot refused the {prop} values: {first}")
        return _missing_ids(answer)

    async def _option_values(self) -> set[str]:
        definition = await self._property()
        self._options = list((definition or {}).get("options") or [])
        return {str(o.get("value")) for o in self._options}
