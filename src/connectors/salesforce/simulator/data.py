"""The in-memory org: records of the served objects, their indexes, and writes with side effects.

Records are plain dicts keyed by canonical field name (see :mod:`.schema` for value types),
plus an internal ``_seq`` (bumped on every write). Deleting a record keeps it as a tombstone with
``IsDeleted = true`` (``queryAll`` shows it; ``query`` does not).

Indexes, so a request never scans the whole org where an index is cheap:

* emails (lower-cased) → Contact / Lead ids;
* campaign → person (Contact or Lead id) → live CampaignMember id, and person → member ids;
* per object, an append-only log of ``(stamp, seq, id)`` for ``SystemModstamp`` and
  ``LastModifiedDate``, sorted lazily, for incremental ``WHERE SystemModstamp > ...`` pulls
  (entries whose ``seq`` is no longer the record's are stale and skipped);
* campaign → member status labels, and member counts per campaign.

Side effects of writes: ``Name`` of Contact/Lead, ``IsClosed``/``IsWon`` of an Opportunity
(from its stage), a CampaignMember's ``LeadOrContactId``/``HasResponded``, a new Campaign's
default CampaignMemberStatus records; deleting a Campaign, Contact or Lead deletes its members
(and a Contact's or Opportunity's contact roles). An update of a Contact or Lead that changes a
*tracked* field (field history tracking: ``tracked_fields``) writes a ``ContactHistory`` /
``LeadHistory`` row dated by the update, with the old and new values (as the API shows them).
A new Opportunity in a multi-currency org gets the org's ``corporate_currency``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .ids import IdFactory
from .schema import HISTORY_OBJECTS, OBJECTS, PREFIXES, format_datetime, json_value

__all__ = ["CLOSED_STAGES", "OPEN_STAGES", "Org"]

OPEN_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
#: closed stage → IsWon
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}
STAMP_FIELDS = ("SystemModstamp", "LastModifiedDate")
_PERSON_FIELDS = ("Email", "FirstName", "LastName", "Name", "HasOptedOutOfEmail")

Record = dict[str, Any]


class _StampIndex:
    """An append-only ``(stamp, seq, id)`` log, sorted on demand; see the module docstring."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, str]] = []
        self.sorted = True

    def add(self, stamp: int, seq: int, rid: str) -> None:
        if self.entries and stamp < self.entries[-1][0]:
            self.sorted = False
        self.entries.append((stamp, seq, rid))

    def ids(self, low: int | None, high: int | None) -> Iterator[tuple[int, str]]:
        """``(seq, id)`` of the entries with ``low ≤ stamp ≤ high`` (None = unbounded)."""
        if not self.sorted:
            self.entries.sort()
            self.sorted = True
        entries = self.entries
        start = 0 if low is None else bisect.bisect_left(entries, (low,))
        end = len(entries) if high is None else bisect.bisect_left(entries, (high + 1,))
        for i in range(start, end):
            _, seq, rid = entries[i]
            yield seq, rid


class Org:
    """One org's data. ``now_ms`` is the wall clock in epoch milliseconds."""

    def __init__(
        self,
        ids: IdFactory,
        now_ms: Callable[[], int],
        *,
        default_member_statuses: Iterable[tuple[str, bool]] = (
            ("Sent", False),
            ("Responded", True),
        ),
        tracked_fields: Iterable[str] = ("HasOptedOutOfEmail",),
        corporate_currency: str | None = None,
    ) -> None:
        self.ids = ids
        self.now_ms = now_ms
        self.tracked_fields = frozenset(tracked_fields)
        self.corporate_currency = corporate_currency
        self.default_member_statuses = tuple(default_member_statuses)
        if not self.default_member_statuses:
            raise ValueError("a campaign needs at least one member status")
        self.org_id = ids.new("00D")
        self.users: dict[str, str] = {}  # username → user id
        self.records: dict[str, dict[str, Record]] = {name: {} for name in OBJECTS}
        self._seq = 0
        self._emails: dict[str, defaultdict[str, set[str]]] = {
            "Contact": defaultdict(set),
            "Lead": defaultdict(set),
        }
        self._members: dict[str, dict[str, str]] = {}  # campaign → person → member id
        self._member_ids: defaultdict[str, set[str]] = defaultdict(set)  # person → members
        self._member_counts: dict[str, list[int]] = {}  # campaign → [contacts, leads]
        self._statuses: dict[str, dict[str, Record]] = {}  # campaign → lower label → status
        self._roles: defaultdict[str, set[str]] = defaultdict(set)  # contact/opp → role ids
        self._stamps: dict[tuple[str, str], _StampIndex] = {
            (o, f): _StampIndex() for o in OBJECTS for f in STAMP_FIELDS
        }

    # -- users -------------------------------------------------------------------------------

    def add_user(self, username: str) -> str:
        """The user id of ``username``, created if new."""
        if username not in self.users:
            self.users[username] = self.ids.new("005")
        return self.users[username]

    # -- reads -------------------------------------------------------------------------------

    def get(self, obj: str, rid: str) -> Record | None:
        """The record (tombstones included) with 18-character id ``rid``, or None."""
        return self.records[obj].get(rid)

    def find(self, rid: str) -> tuple[str, Record] | None:
        """``(object, record)`` for an 18-character id of any served object, or None."""
        obj = PREFIXES.get(rid[:3])
        record = None if obj is None else self.records[obj].get(rid)
        return None if obj is None or record is None else (obj, record)

    def by_email(self, obj: str, email: str) -> list[Record]:
        """Contacts or Leads (tombstones included) whose email is ``email``, any case."""
        found = self._emails[obj].get(email.strip().lower(), ())
        return [self.records[obj][rid] for rid in found]

    def member_id(self, campaign_id: str, person_id: str) -> str | None:
        """The live CampaignMember of the pair, or None."""
        return self._members.get(campaign_id, {}).get(person_id)

    def members_of(self, campaign_id: str) -> dict[str, str]:
        """person id → member id of a campaign's live members (do not modify)."""
        return self._members.get(campaign_id, {})

    def members_of_person(self, person_id: str) -> set[str]:
        return self._member_ids.get(person_id, set())

    def member_statuses(self, campaign_id: str) -> dict[str, Record]:
        """lower-cased label → CampaignMemberStatus of a campaign."""
        return self._statuses.get(campaign_id, {})

    def stamp_range(
        self, obj: str, field: str, low: int | None, high: int | None
    ) -> Iterator[Record]:
        """Records whose ``field`` (a stamp field) lies in ``[low, high]``, in stamp order."""
        records = self.records[obj]
        for seq, rid in self._stamps[(obj, field)].ids(low, high):
            record = records.get(rid)
            if record is not None and record["_seq"] == seq:
                yield record

    def getter(self, obj: str, field: str) -> Callable[[Record], Any]:
        """A function reading ``field`` of an ``obj`` record, derived fields included."""
        if obj == "CampaignMember" and field in _PERSON_FIELDS:
            contacts, leads = self.records["Contact"], self.records["Lead"]

            def person_field(record: Record) -> Any:
                person = contacts.get(record["ContactId"] or "") or leads.get(
                    record["LeadId"] or ""
                )
                return None if person is None else person.get(field)

            return person_field
        if obj == "Campaign" and field in ("NumberOfContacts", "NumberOfLeads"):
            slot, counts = int(field == "NumberOfLeads"), self._member_counts
            return lambda record: counts.get(record["Id"], [0, 0])[slot]

        def read(record: Record) -> Any:
            return record.get(field)

        return read

    def live_count(self, obj: str) -> int:
        return sum(1 for r in self.records[obj].values() if not r["IsDeleted"])

    # -- writes ------------------------------------------------------------------------------

    def insert(
        self,
        obj: str,
        values: dict[str, Any],
        *,
        user_id: str | None = None,
        created: int | None = None,
        modified: int | None = None,
    ) -> Record:
        """A new record from canonical ``values`` (no validation: callers validate)."""
        now = self.now_ms()
        modified = now if modified is None else modified
        created = min(modified, now) if created is None else created
        record: Record = dict.fromkeys(OBJECTS[obj].fields)
        record.update(values)
        if OBJECTS[obj].history:
            record.update(
                Id=self.ids.new(OBJECTS[obj].prefix),
                IsDeleted=False,
                CreatedDate=created,
                CreatedById=user_id,
            )
            self.records[obj][record["Id"]] = record
            self._seq += 1
            record["_seq"] = self._seq
            return record
        record.update(
            Id=self.ids.new(OBJECTS[obj].prefix),
            IsDeleted=False,
            CreatedDate=created,
            CreatedById=user_id,
            LastModifiedDate=modified,
            LastModifiedById=user_id,
            SystemModstamp=modified,
        )
        if "OwnerId" in record and record["OwnerId"] is None:
            record["OwnerId"] = user_id
        self._defaults(obj, record)
        self.records[obj][record["Id"]] = record
        self._index(obj, record, None)
        if obj == "Campaign":
            for order, (label, responded) in enumerate(self.default_member_statuses, 1):
                self.insert(
                    "CampaignMemberStatus",
                    {
                        "CampaignId": record["Id"],
                        "Label": label,
                        "SortOrder": order,
                        "IsDefault": order == 1,
                        "HasResponded": responded,
                    },
                    user_id=user_id,
                    created=created,
                    modified=modified,
                )
        return record

    def update(
        self,
        obj: str,
        rid: str,
        values: dict[str, Any],
        *,
        modified: int | None = None,
        user_id: str | None = None,
    ) -> Record:
        record = self.records[obj][rid]
        old = dict(record)
        record.update(values)
        stamp = self.now_ms() if modified is None else modified
        record.update(LastModifiedDate=stamp, SystemModstamp=stamp)
        if user_id is not None:
            record["LastModifiedById"] = user_id
        self._defaults(obj, record)
        self._unindex(obj, old)
        self._index(obj, record, old)
        self._track(obj, old, record, stamp, user_id)
        return record

    def _track(self, obj: str, old: Record, new: Record, stamp: int, user_id: str | None) -> None:
        """History rows for the tracked fields an update changed."""
        history = next((h for h, (parent, _) in HISTORY_OBJECTS.items() if parent == obj), None)
        if history is None:
            return
        parent_field = HISTORY_OBJECTS[history][1]
        fields = OBJECTS[obj].fields
        for name in sorted(self.tracked_fields):
            f = fields.get(name)
            if f is None or old.get(name) == new.get(name):
                continue
            self.insert(
                history,
                {
                    parent_field: new["Id"],
                    "Field": name,
                    "DataType": "Boolean" if f.type == "boolean" else "Text",
                    "OldValue": json_value(f.type, old.get(name)),
                    "NewValue": json_value(f.type, new.get(name)),
                },
                user_id=user_id or new.get("LastModifiedById"),
                created=stamp,
                modified=stamp,
            )

    def delete(self, obj: str, rid: str) -> None:
        """Tombstone a live record and cascade to its members and contact roles."""
        record = self.records[obj][rid]
        if record["IsDeleted"]:
            return
        cascade: list[tuple[str, str]] = []
        if obj == "Campaign":
            cascade += [("CampaignMember", m) for m in self.members_of(rid).values()]
        if obj in ("Contact", "Lead"):
            cascade += [("CampaignMember", m) for m in self.members_of_person(rid)]
        if obj in ("Contact", "Opportunity"):
            cascade += [("OpportunityContactRole", r) for r in self._roles.get(rid, ())]
        for child_obj, child in list(cascade):
            self.delete(child_obj, child)
        self.update(obj, rid, {"IsDeleted": True})

    def convert_lead(self, lead_id: str, contact_id: str, *, modified: int | None = None) -> None:
        """Mark a Lead converted into ``contact_id`` (its campaign members keep the LeadId)."""
        stamp = self.now_ms() if modified is None else modified
        self.update(
            "Lead",
            lead_id,
            {
                "IsConverted": True,
                "ConvertedContactId": contact_id,
                "ConvertedDate": format_datetime(stamp)[:10],
            },
            modified=stamp,
        )

    # -- internals ---------------------------------------------------------------------------

    def _defaults(self, obj: str, record: Record) -> None:
        if obj in ("Contact", "Lead"):
            names = (record.get("FirstName"), record.get("LastName"))
            record["Name"] = " ".join(n for n in names if n) or None
            if record["HasOptedOutOfEmail"] is None:
                record["HasOptedOutOfEmail"] = False
        if obj == "Lead":
            if record["IsConverted"] is None:
                record["IsConverted"] = False
            if record["Status"] is None:
                record["Status"] = "Open - Not Contacted"
        elif obj == "Campaign":
            if record["IsActive"] is None:
                record["IsActive"] = False
            if record["Status"] is None:
                record["Status"] = "Planned"
        elif obj == "Opportunity":
            if self.corporate_currency and not record.get("CurrencyIsoCode"):
                record["CurrencyIsoCode"] = self.corporate_currency
            stage = record["StageName"]
            record["IsClosed"] = stage in CLOSED_STAGES
            record["IsWon"] = CLOSED_STAGES.get(stage, False)
        elif obj == "CampaignMember":
            record["LeadOrContactId"] = record["ContactId"] or record["LeadId"]
            status = self.member_statuses(record["CampaignId"]).get(
                str(record["Status"] or "").lower()
            )
            record["HasResponded"] = bool(status and status["HasResponded"])
        elif obj == "OpportunityContactRole" and record["IsPrimary"] is None:
            record["IsPrimary"] = False

    def _index(self, obj: str, record: Record, old: Record | None) -> None:
        self._seq += 1
        record["_seq"] = self._seq
        rid = record["Id"]
        for field in STAMP_FIELDS:
            self._stamps[(obj, field)].add(record[field], self._seq, rid)
        if obj in self._emails and record["Email"]:
            self._emails[obj][str(record["Email"]).lower()].add(rid)
        live = not record["IsDeleted"]
        if obj == "CampaignMember" and live:
            person = record["LeadOrContactId"]
            self._members.setdefault(record["CampaignId"], {})[person] = rid
            self._member_ids[person].add(rid)
            counts = self._member_counts.setdefault(record["CampaignId"], [0, 0])
            counts[int(not record["ContactId"])] += 1
        elif obj == "CampaignMemberStatus" and live:
            by_label = self._statuses.setdefault(record["CampaignId"], {})
            by_label[str(record["Label"]).lower()] = record
        elif obj == "OpportunityContactRole" and live:
            self._roles[record["ContactId"]].add(rid)
            self._roles[record["OpportunityId"]].add(rid)

    def _unindex(self, obj: str, old: Record) -> None:
        rid = old["Id"]
        if obj in self._emails and old["Email"]:
            self._emails[obj][str(old["Email"]).lower()].discard(rid)
        if old["IsDeleted"]:
            return
        if obj == "CampaignMember":
            person = old["LeadOrContactId"]
            self._members.get(old["CampaignId"], {}).pop(person, None)
            self._member_ids[person].discard(rid)
            self._member_counts[old["CampaignId"]][int(not old["ContactId"])] -= 1
        elif obj == "CampaignMemberStatus":
            self._statuses.get(old["CampaignId"], {}).pop(str(old["Label"]).lower(), None)
        elif obj == "OpportunityContactRole":
            self._roles[old["ContactId"]].discard(rid)
            self._roles[old["OpportunityId"]].discard(rid)
