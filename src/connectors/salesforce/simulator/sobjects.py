"""sObject resources: single-record create/read/delete, describes, and the create rules.

* ``POST /sobjects/{Type}`` → 201 ``{"id", "success": true, "errors": []}``; a refused record
  → 400 ``[{"message", "errorCode", "fields"}]``.
* ``GET /sobjects/{Type}/{id}[?fields=a,b]`` → the record with ``attributes``; ``PATCH`` (an
  update: the body holds the fields to change) → 204; ``DELETE`` → 204.
  A malformed id → 404 "Provided external ID field does not exist or is not accessible: <id>";
  an unknown one → 404 ``NOT_FOUND``; a deleted one → 404 ``ENTITY_IS_DELETED``.
* ``GET /sobjects`` (describe global), ``GET /sobjects/{Type}`` (basic information) and
  ``GET /sobjects/{Type}/describe`` (fields with type, createable, nillable).

:class:`RecordWriter` checks a new record as the API does, for this resource and for sObject
Collections: unknown fields (``INVALID_FIELD``), ``Id`` on insert, read-only fields
(``INVALID_FIELD_FOR_INSERT_UPDATE``), value types (``JSON_PARSER_ERROR``), malformed or
mistyped references (``MALFORMED_ID``/``FIELD_INTEGRITY_EXCEPTION``), missing referenced
records (``INVALID_CROSS_REFERENCE_KEY``/``ENTITY_IS_DELETED``), required fields
(``REQUIRED_FIELD_MISSING``, e.g. Lead ``LastName`` and ``Company``). CampaignMember: a
converted Lead cannot be added (``CANNOT_UPDATE_CONVERTED_LEAD`` "cannot reference converted
lead"), an existing (campaign, person) pair is ``DUPLICATE_VALUE`` "Already a campaign member.",
``Status`` defaults to the campaign's default status and an unknown status is refused
(``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``) or replaced by the default
(``invalid_member_status``). Lead: with ``lead_duplicate_rule`` ``"alert"`` or ``"block"``, a
Lead whose email a live Lead or Contact already has is ``DUPLICATES_DETECTED`` — an alert rule
lets it through when ``Sforce-Duplicate-Rule-Header`` says ``allowSave=true``. Campaign names
are not unique (as in Salesforce).

An update (:meth:`RecordWriter.prepare_update`) is checked the same way for the fields it
sets, plus: a converted Lead is read-only (``CANNOT_UPDATE_CONVERTED_LEAD`` "cannot reference
converted lead"), a deleted record is ``ENTITY_IS_DELETED``, and a required field cannot be
emptied (``REQUIRED_FIELD_MISSING``). Fields the org does not have (``hidden_fields``, e.g.
``CurrencyIsoCode`` without multi-currency) are unknown fields.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body

from .data import Record
from .ids import to_18
from .rest import NOT_FOUND, ApiError, Handler, json_response
from .schema import OBJECTS, Field, SObjectType, json_value, object_type

if TYPE_CHECKING:
    from . import SalesforceSimulator

__all__ = ["ItemError", "RecordWriter", "SObjectResource", "duplicate_rule_header"]

_READ_ONLY = (
    "Unable to create/update fields: {names}. Please check the security settings of "
    "this field and verify that it is read/write for your profile or permission set."
)
_DUPLICATE_MESSAGE = (
    "You're creating a duplicate record. We recommend you use an existing record instead."
)
_JSON_TYPES: dict[str, tuple[type[Any], ...]] = {
    "boolean": (bool,),
    "int": (int,),
    "double": (int, float),
    "currency": (int, float),
}


class ItemError(Exception):
    """Why one record was refused: ``{"statusCode", "message", "fields"}`` in collections."""

    def __init__(
        self,
        code: str,
        message: str,
        fields: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.extra = code, message, fields or [], extra

    def item(self) -> dict[str, Any]:
        out = {"statusCode": self.code, "message": self.message, "fields": self.fields}
        return {**(self.extra or {}), **out}

    def api_error(self) -> ApiError:
        return ApiError(400, self.code, self.message, self.fields, self.extra)


def duplicate_rule_header(request: Request) -> dict[str, bool]:
    """``Sforce-Duplicate-Rule-Header: allowSave=true; ...`` as ``{"allowsave": True, ...}``."""
    out = {}
    for item in request.headers.get("sforce-duplicate-rule-header", "").split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            out[key.strip().lower()] = value.strip().lower() == "true"
    return out


def _label(f: Field) -> str:
    return f"{f.reference_to or f.name.removesuffix('Id')} ID"


class RecordWriter:
    """Checks and inserts new records (see the module docstring for the rules)."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim

    def prepare(
        self,
        obj: SObjectType,
        data: dict[str, Any],
        *,
        allow_save: bool = False,
        pending_pairs: set[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Canonical field values for a new ``obj`` record, or raise :class:`ItemError`.
        ``pending_pairs`` are (campaign, person) pairs added earlier in the same request."""
        values: dict[str, Any] = {}
        read_only = []
        for key, value in data.items():
            if key == "attributes":
                continue
            f = self._field(obj, key)
            if f.name == "Id":
                raise ItemError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            if not f.createable or obj.history:
                read_only.append(f.name)
                continue
            values[f.name] = self._coerce(f, value)
        if read_only:
            names = ", ".join(read_only)
            raise ItemError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", _READ_ONLY.format(names=names), read_only
            )
        missing = [f.name for f in obj.required if values.get(f.name) in (None, "")]
        if missing:
            raise ItemError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for f in obj.references:
            if values.get(f.name):
                self._check_reference(f, values[f.name])
        if obj.name == "CampaignMember":
            self._campaign_member(values, pending_pairs)
        elif obj.name == "Lead":
            self._duplicates(values, allow_save)
        return values

    def insert(self, obj: SObjectType, values: dict[str, Any], user_id: str | None) -> Record:
        return self.sim.org.insert(obj.name, values, user_id=user_id)

    def _field(self, obj: SObjectType, key: str) -> Field:
        f = obj.field(key)
        if f is None or (obj.name, f.name) in self.sim.hidden_fields:
            raise ItemError(
                "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
            )
        return f

    def prepare_update(
        self, obj: SObjectType, record: Record, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Canonical values to set on ``record`` (any key ``id``/``Id`` and ``attributes``
        ignored), or raise :class:`ItemError`."""
        if record["IsDeleted"]:
            raise ItemError("ENTITY_IS_DELETED", "entity is deleted")
        if obj.name == "Lead" and record.get("IsConverted"):
            raise ItemError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        values: dict[str, Any] = {}
        read_only = []
        for key, value in data.items():
            if key == "attributes" or key.lower() == "id":
                continue
            f = self._field(obj, key)
            if not f.createable or obj.history:
                read_only.append(f.name)
                continue
            values[f.name] = self._coerce(f, value)
        if read_only:
            names = ", ".join(read_only)
            raise ItemError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", _READ_ONLY.format(names=names), read_only
            )
        emptied = [
            f.name for f in obj.required if f.name in values and values[f.name] in (None, "")
        ]
        if emptied:
            raise ItemError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(emptied)}]",
                emptied,
            )
        for f in obj.references:
            if values.get(f.name):
                self._check_reference(f, values[f.name])
        return values

    def _coerce(self, f: Field, value: Any) -> Any:
        if value is None:
            return None
        expected = _JSON_TYPES.get(f.type)
        if expected is not None:
            if isinstance(value, bool) != (f.type == "boolean") or not isinstance(value, expected):
                raise ItemError(
                    "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {f.type} from value {value!r}",
                    [f.name],
                )
            if f.type in ("double", "currency"):
                return float(value)
            return value
        if not isinstance(value, str):
            raise ItemError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of string from value {value!r}",
                [f.name],
            )
        if f.type == "date":
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise ItemError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"{f.name}: value not of required type: {value}",
                    [f.name],
                ) from None
        if f.type == "reference":
            canonical = to_18(value)
            if canonical is None:
                raise ItemError(
                    "MALFORMED_ID", f"{_label(f)}: id value of incorrect type: {value}", [f.name]
                )
            return canonical
        return value

    def _check_reference(self, f: Field, rid: str) -> None:
        target = OBJECTS[str(f.reference_to)]
        if rid[:3] != target.prefix:
            raise ItemError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{_label(f)}: id value of incorrect type: {rid}",
                [f.name],
            )
        record = self.sim.org.get(target.name, rid)
        if record is None:
            raise ItemError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        if record["IsDeleted"]:
            raise ItemError("ENTITY_IS_DELETED", "entity is deleted", [f.name])

    def _campaign_member(
        self, values: dict[str, Any], pending: set[tuple[str, str]] | None
    ) -> None:
        org = self.sim.org
        contact, lead = values.get("ContactId"), values.get("LeadId")
        if not contact and not lead:
            raise ItemError(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [ContactId, LeadId]",
                ["ContactId", "LeadId"],
            )
        if lead and (org.get("Lead", lead) or {}).get("IsConverted"):
            raise ItemError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        campaign, person = str(values["CampaignId"]), str(contact or lead)
        pair = (campaign, person)
        if org.member_id(campaign, person) is not None or (pending is not None and pair in pending):
            raise ItemError("DUPLICATE_VALUE", "Already a campaign member.")
        statuses = org.member_statuses(campaign)
        status = values.get("Status")
        default = next((s["Label"] for s in statuses.values() if s["IsDefault"]), None)
        if status is None or str(status).lower() not in statuses:
            if status is not None and self.sim.invalid_member_status == "error":
                raise ItemError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"Status: bad value for restricted picklist field: {status}",
                    ["Status"],
                )
            values["Status"] = default
        else:
            values["Status"] = statuses[str(status).lower()]["Label"]
        if pending is not None:
            pending.add(pair)

    def _duplicates(self, values: dict[str, Any], allow_save: bool) -> None:
        rule = self.sim.lead_duplicate_rule
        email = values.get("Email")
        if rule == "off" or not email:
            return
        org = self.sim.org
        matches = [
            (obj, r)
            for obj in ("Lead", "Contact")
            for r in org.by_email(obj, email)
            if not r["IsDeleted"]
        ]
        if not matches or (rule == "alert" and allow_save):
            return
        results = []
        for obj in ("Lead", "Contact"):
            found = [r for o, r in matches if o == obj]
            if found:
                results.append(
                    {
                        "entityType": obj,
                        "errors": [],
                        "matchEngine": "ExactMatchEngine",
                        "matchRecords": [
                            {
                                "additionalInformation": [],
                                "fieldDiffs": [],
                                "matchConfidence": 100.0,
                                "record": {"attributes": {"type": obj}, "Id": r["Id"]},
                            }
                            for r in found
                        ],
                        "rule": f"Standard_{obj}_Match_Rule_v1_0",
                        "size": len(found),
                        "success": True,
                    }
                )
        extra = {
            "duplicateResult": {
                "allowSave": rule == "alert",
                "duplicateRule": "Standard_Lead_Duplicate_Rule",
                "duplicateRuleEntityType": "Lead",
                "errorMessage": _DUPLICATE_MESSAGE,
                "matchResults": results,
            }
        }
        raise ItemError("DUPLICATES_DETECTED", _DUPLICATE_MESSAGE, [], extra)


class SObjectResource:
    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/sobjects", self.describe_global),
            ("GET", "/sobjects/{sobject}", self.basic_info),
            ("POST", "/sobjects/{sobject}", self.create),
            ("GET", "/sobjects/{sobject}/describe", self.describe),
            ("GET", "/sobjects/{sobject}/{record_id}", self.read),
            ("PATCH", "/sobjects/{sobject}/{record_id}", self.update),
            ("DELETE", "/sobjects/{sobject}/{record_id}", self.delete),
        ]

    def _type(self, request: Request) -> SObjectType:
        obj = object_type(request.path_params["sobject"])
        if obj is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND)
        return obj

    def _summary(self, obj: SObjectType, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        return {
            "name": obj.name,
            "label": obj.label,
            "keyPrefix": obj.prefix,
            "queryable": True,
            "createable": not obj.history,
            "deletable": not obj.history,
            "updateable": not obj.history,
            "custom": False,
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    async def describe_global(self, request: Request, version: str) -> Response:
        objects = [self._summary(obj, version) for obj in OBJECTS.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    async def basic_info(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        return json_response({"objectDescribe": self._summary(obj, version), "recentItems": []})

    async def describe(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        fields = [
            {
                "name": f.name,
                "type": f.type,
                "label": f.name,
                "createable": f.createable,
                "updateable": f.createable,
                "nillable": not f.required and f.name != "Id",
                "referenceTo": [f.reference_to] if f.reference_to else [],
            }
            for f in obj.fields.values()
            if (obj.name, f.name) not in self.sim.hidden_fields
        ]
        return json_response({**self._summary(obj, version), "fields": fields})

    async def create(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        writer = self.sim.writer
        allow = duplicate_rule_header(request).get("allowsave", False)
        try:
            values = writer.prepare(obj, data, allow_save=allow)
        except ItemError as err:
            raise err.api_error() from None
        record = writer.insert(obj, values, self.sim.user_id(request))
        return json_response({"id": record["Id"], "success": True, "errors": []}, 201)

    def _record(self, request: Request, obj: SObjectType) -> Record:
        raw = request.path_params["record_id"]
        rid = to_18(raw)
        if rid is None:
            message = f"Provided external ID field does not exist or is not accessible: {raw}"
            raise ApiError(404, "NOT_FOUND", message)
        record = self.sim.org.get(obj.name, rid) if rid[:3] == obj.prefix else None
        if record is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND)
        if record["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    async def read(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        record = self._record(request, obj)
        wanted = request.query_params.get("fields")
        fields: list[Field] = list(obj.fields.values())
        if wanted:
            fields = []
            for name in (n.strip() for n in wanted.split(",") if n.strip()):
                f = obj.field(name)
                if f is None:
                    raise ApiError(
                        400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'."
                    )
                fields.append(f)
        url = f"/services/data/v{version}/sobjects/{obj.name}/{record['Id']}"
        body: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
        org = self.sim.org
        for f in fields:
            body[f.name] = json_value(f.type, org.getter(obj.name, f.name)(record))
        return json_response(body)

    async def update(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        record = self._record(request, obj)
        data = await json_body(request)
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        try:
            values = self.sim.writer.prepare_update(obj, record, data)
        except ItemError as err:
            raise err.api_error() from None
        self.sim.org.update(obj.name, record["Id"], values, user_id=self.sim.user_id(request))
        return Response(status_code=204)

    async def delete(self, request: Request, version: str) -> Response:
        obj = self._type(request)
        record = self._record(request, obj)
        if obj.history:
            raise ApiError(400, "INVALID_OPERATION", "entity type cannot be deleted")
        self.sim.org.delete(obj.name, record["Id"])
        return Response(status_code=204)
