"""The standard objects the simulator serves and their fields (a subset of the object reference).

Field names are case-insensitive in SOQL and request bodies; answers use the canonical
spelling. Value types inside the org: ``datetime`` fields hold epoch milliseconds (``int``),
``date`` fields ``YYYY-MM-DD`` strings, ``boolean`` fields ``bool``, ``int``/``double``/
``currency`` fields numbers, ``anyType`` fields (a history row's ``OldValue``/``NewValue``) the
tracked field's own value, every other type ``str``; ``None`` is null.

``ContactHistory`` and ``LeadHistory`` are field history objects: one row per change of a
tracked field (``Field``, ``OldValue``, ``NewValue``, ``CreatedDate``), read-only, without
modification stamps. ``Opportunity.CurrencyIsoCode`` exists only in a multi-currency org
(:data:`OPTIONAL_FIELDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "HISTORY_OBJECTS",
    "OBJECTS",
    "OPTIONAL_FIELDS",
    "PREFIXES",
    "STRING_TYPES",
    "Field",
    "SObjectType",
    "csv_value",
    "format_datetime",
    "json_value",
    "object_type",
]

#: types compared as case-insensitive text (ids and references compare exactly)
STRING_TYPES = frozenset({"string", "email", "phone", "picklist", "textarea"})


@dataclass(frozen=True)
class Field:
    """One field: ``createable`` may be set on insert; ``required`` must be (no default)."""

    name: str
    type: str
    createable: bool = False
    required: bool = False
    reference_to: str | None = None


@dataclass
class SObjectType:
    name: str
    prefix: str
    label: str
    fields: dict[str, Field] = field(default_factory=dict)  # canonical name → field
    by_lower: dict[str, Field] = field(default_factory=dict)  # lower-cased name → field
    required: tuple[Field, ...] = ()  # required on create
    references: tuple[Field, ...] = ()  # references to served objects
    history: bool = False  # a field history object (read-only, no modification stamps)

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (any case), or None."""
        return self.by_lower.get(name.lower())


_AUDIT = (
    "Id:id IsDeleted:boolean CreatedDate:datetime CreatedById:reference>User "
    "LastModifiedDate:datetime LastModifiedById:reference>User SystemModstamp:datetime"
)
# field history rows are never modified: no LastModifiedDate or SystemModstamp
_HISTORY_AUDIT = "Id:id IsDeleted:boolean CreatedDate:datetime CreatedById:reference>User"
_HISTORY_FIELDS = "Field:picklist DataType:picklist OldValue:anyType NewValue:anyType"
#: the history object of each object whose field changes are tracked → its parent field
HISTORY_OBJECTS = {"ContactHistory": ("Contact", "ContactId"), "LeadHistory": ("Lead", "LeadId")}

# name:type[>ReferencedObject][+c createable][+r required on create]
_SPECS: dict[str, tuple[str, str, str]] = {
    "Contact": (
        "003",
        "Contact",
        """
        AccountId:reference>Account+c LastName:string+c+r FirstName:string+c Name:string
        Email:email+c Phone:phone+c MobilePhone:phone+c HomePhone:phone+c OtherPhone:phone+c
        Fax:phone+c HasOptedOutOfEmail:boolean+c MailingStreet:textarea+c MailingCity:string+c
        MailingState:string+c MailingCountry:string+c MailingPostalCode:string+c
        Birthdate:date+c Description:textarea+c LeadSource:picklist+c Title:string+c
        OwnerId:reference>User""",
    ),
    "Lead": (
        "00Q",
        "Lead",
        """
        LastName:string+c+r FirstName:string+c Name:string Company:string+c+r Email:email+c
        Phone:phone+c MobilePhone:phone+c Fax:phone+c Street:textarea+c City:string+c
        State:string+c Country:string+c PostalCode:string+c Title:string+c Description:textarea+c
        Status:picklist+c LeadSource:picklist+c HasOptedOutOfEmail:boolean+c IsConverted:boolean
        ConvertedContactId:reference>Contact ConvertedDate:date OwnerId:reference>User""",
    ),
    "Campaign": (
        "701",
        "Campaign",
        """
        Name:string+c+r Type:picklist+c Status:picklist+c IsActive:boolean+c
        Description:textarea+c StartDate:date+c EndDate:date+c NumberOfContacts:int
        NumberOfLeads:int OwnerId:reference>User""",
    ),
    "CampaignMember": (
        "00v",
        "Campaign Member",
        """
        CampaignId:reference>Campaign+c+r LeadId:reference>Lead+c ContactId:reference>Contact+c
        Status:picklist+c HasResponded:boolean LeadOrContactId:reference Email:email
        FirstName:string LastName:string Name:string HasOptedOutOfEmail:boolean""",
    ),
    "CampaignMemberStatus": (
        "01Y",
        "Campaign Member Status",
        """
        CampaignId:reference>Campaign+c+r Label:string+c+r SortOrder:int+c IsDefault:boolean+c
        HasResponded:boolean+c""",
    ),
    "Opportunity": (
        "006",
        "Opportunity",
        """
        AccountId:reference>Account+c ContactId:reference>Contact+c Name:string+c+r
        StageName:picklist+c+r Amount:currency+c CloseDate:date+c+r Type:picklist+c
        LeadSource:picklist+c IsClosed:boolean IsWon:boolean OwnerId:reference>User
        CurrencyIsoCode:picklist+c""",
    ),
    "OpportunityContactRole": (
        "00K",
        "Opportunity Contact Role",
        """
        OpportunityId:reference>Opportunity+c+r ContactId:reference>Contact+c+r
        Role:picklist+c IsPrimary:boolean+c""",
    ),
    "ContactHistory": ("017", "Contact History", "ContactId:reference>Contact " + _HISTORY_FIELDS),
    "LeadHistory": ("017", "Lead History", "LeadId:reference>Lead " + _HISTORY_FIELDS),
}
#: fields that exist only when the org enables a feature: (object, field) → the feature
OPTIONAL_FIELDS = {("Opportunity", "CurrencyIsoCode"): "multi_currency"}


def _build() -> dict[str, SObjectType]:
    objects = {}
    for name, (prefix, label, spec) in _SPECS.items():
        obj = SObjectType(name, prefix, label, history=name in HISTORY_OBJECTS)
        audit = _HISTORY_AUDIT if obj.history else _AUDIT
        for item in (audit + " " + spec).split():
            head, *flags = item.split("+")
            fname, _, ftype = head.partition(":")
            ftype, _, target = ftype.partition(">")
            f = Field(fname, ftype, "c" in flags, "r" in flags, target or None)
            obj.fields[fname] = f
            obj.by_lower[fname.lower()] = f
        objects[name] = obj
    for obj in objects.values():
        obj.required = tuple(f for f in obj.fields.values() if f.required)
        obj.references = tuple(f for f in obj.fields.values() if f.reference_to in objects)
    return objects


#: canonical object name → type
OBJECTS: dict[str, SObjectType] = _build()
_BY_LOWER = {name.lower(): obj for name, obj in OBJECTS.items()}
#: key prefix → object name (history objects share ``017`` and are never addressed by id)
PREFIXES: dict[str, str] = {obj.prefix: name for name, obj in OBJECTS.items() if not obj.history}


def object_type(name: str) -> SObjectType | None:
    """The object called ``name`` (any case), or None."""
    return _BY_LOWER.get(name.lower())


def format_datetime(ms: int, *, csv: bool = False) -> str:
    """REST JSON ``2026-01-02T17:38:59.000+0000``; Bulk CSV ``2026-01-02T17:38:59.000Z``."""
    stamp = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}{'Z' if csv else '+0000'}"


def json_value(ftype: str, value: Any) -> Any:
    """A stored value as the REST API shows it in JSON."""
    if value is not None and ftype == "datetime":
        return format_datetime(value)
    return value


def csv_value(ftype: str, value: Any) -> str:
    """A stored value as a Bulk API 2.0 result CSV cell (null is empty)."""
    if value is None:
        return ""
    if ftype == "datetime":
        return format_datetime(value, csv=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
