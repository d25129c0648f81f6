"""sObject Collections: ``POST`` and ``DELETE /services/data/vXX.X/composite/sobjects``.

* ``POST`` ``{"allOrNone": false, "records": [{"attributes": {"type": "CampaignMember"}, ...}]}``
  (at most ``collection_max`` = 200 records, else 400 ``EXCEEDED_ID_LIMIT``) → 200 with one
  result per record in request order: ``{"id", "success": true, "errors": []}`` or
  ``{"success": false, "errors": [{"statusCode", "message", "fields"}]}``; records are checked
  by :class:`~.sobjects.RecordWriter`, in order (a pair added earlier in the same request is a
  duplicate too). With ``allOrNone`` true and any failure nothing is written and every other
  record answers ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
* ``PATCH`` (update) ``{"allOrNone", "records": [{"attributes": {"type"}, "id", <fields>}]}``
  (at most ``collection_max``) → one result per record, in request order: ``MISSING_ARGUMENT``
  without an id, ``MALFORMED_ID`` for a malformed one, ``missing_id_update_error``
  (``INVALID_CROSS_REFERENCE_KEY`` by default) for a well-formed id no record of that type has,
  else the checks of :meth:`~.sobjects.RecordWriter.prepare_update` (a converted Lead is
  ``CANNOT_UPDATE_CONVERTED_LEAD``, a deleted record ``ENTITY_IS_DELETED``). ``allOrNone`` as
  for ``POST``.
* ``GET /composite/sobjects/{Type}?ids=a,b&fields=X,Y`` → the records in ``ids`` order, with
  ``attributes`` and the fields asked for; ``null`` for an id no live record of that type has.
* ``DELETE ?ids=a,b&allOrNone=false`` (at most ``collection_max`` ids) → one result per id:
  ``MALFORMED_ID`` for a malformed id, ``ENTITY_IS_DELETED`` "entity is deleted" for a deleted
  one, and ``missing_id_delete_error`` (``ENTITY_IS_DELETED`` by default) for a well-formed id no
  record has. Deleting a member of a converted Lead is allowed, and so is deleting a converted
  Lead. Deleting a Contact or Lead deletes its campaign members (and a Contact's contact roles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, query_bool

from .data import Record
from .ids import to_18
from .rest import ApiError, Handler, json_response
from .schema import Field, SObjectType, json_value, object_type
from .sobjects import ItemError, duplicate_rule_header

if TYPE_CHECKING:
    from . import SalesforceSimulator

__all__ = ["CollectionsResource"]

_ROLLED_BACK = ItemError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
_LIMIT = "record limit reached. cannot submit more than {n} records into this call"
_MISSING_MESSAGES = {
    "ENTITY_IS_DELETED": "entity is deleted",
    "INVALID_CROSS_REFERENCE_KEY": "invalid cross reference id",
    "NOT_FOUND": "The requested resource does not exist",
}


def _failure(err: ItemError) -> dict[str, Any]:
    return {"success": False, "errors": [err.item()]}


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


class CollectionsResource:
    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/composite/sobjects", self.create),
            ("PATCH", "/composite/sobjects", self.update),
            ("DELETE", "/composite/sobjects", self.delete),
            ("GET", "/composite/sobjects/{sobject}", self.retrieve),
        ]

    def _over_limit(self, count: int) -> None:
        limit = self.sim.collection_max
        if count > limit:
            raise ApiError(400, "EXCEEDED_ID_LIMIT", _LIMIT.format(n=limit))

    async def create(self, request: Request, version: str) -> Response:
        body = await json_body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected an object with a 'records' array")
        self._over_limit(len(records))
        all_or_none = _flag(body.get("allOrNone", False))
        allow = duplicate_rule_header(request).get("allowsave", False)
        writer, pending = self.sim.writer, set[tuple[str, str]]()
        staged: list[tuple[int, SObjectType, dict[str, Any]]] = []
        results: list[dict[str, Any] | None] = []
        for item in records:
            try:
                obj = self._type(item)
                values = writer.prepare(obj, item, allow_save=allow, pending_pairs=pending)
            except ItemError as err:
                results.append(_failure(err))
                continue
            staged.append((len(results), obj, values))
            results.append(None)
        if all_or_none and len(staged) < len(records):
            return json_response([r or _failure(_ROLLED_BACK) for r in results])
        user = self.sim.user_id(request)
        for index, obj, values in staged:
            record = writer.insert(obj, values, user)
            results[index] = {"id": record["Id"], "success": True, "errors": []}
        return json_response(results)

    async def update(self, request: Request, version: str) -> Response:
        body = await json_body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected an object with a 'records' array")
        self._over_limit(len(records))
        all_or_none = _flag(body.get("allOrNone", False))
        writer, org = self.sim.writer, self.sim.org
        code = self.sim.missing_id_update_error
        staged: list[tuple[int, SObjectType, str, dict[str, Any]]] = []
        results: list[dict[str, Any] | None] = []
        for item in records:
            try:
                obj = self._type(item)
                record = self._target(obj, item, code)
                values = writer.prepare_update(obj, record, item)
            except ItemError as err:
                results.append(_failure(err))
                continue
            staged.append((len(results), obj, record["Id"], values))
            results.append(None)
        if all_or_none and len(staged) < len(records):
            return json_response([r or _failure(_ROLLED_BACK) for r in results])
        user = self.sim.user_id(request)
        for index, obj, rid, values in staged:
            org.update(obj.name, rid, values, user_id=user)
            results[index] = {"id": rid, "success": True, "errors": []}
        return json_response(results)

    def _target(self, obj: SObjectType, item: dict[str, Any], missing_code: str) -> Record:
        raw = item.get("id", item.get("Id"))
        if not isinstance(raw, str) or not raw:
            raise ItemError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        rid = to_18(raw)
        if rid is None:
            raise ItemError("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {raw}")
        record = self.sim.org.get(obj.name, rid) if rid[:3] == obj.prefix else None
        if record is None:
            raise ItemError(missing_code, _MISSING_MESSAGES.get(missing_code, missing_code))
        return record

    async def retrieve(self, request: Request, version: str) -> Response:
        obj = object_type(request.path_params["sobject"])
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        raw_ids, raw_fields = request.query_params.get("ids"), request.query_params.get("fields")
        if not raw_ids or not raw_fields:
            raise ApiError(400, "MISSING_ARGUMENT", "ids and fields parameters are required")
        ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
        self._over_limit(len(ids))
        fields: list[Field] = []
        for name in (n.strip() for n in raw_fields.split(",") if n.strip()):
            f = obj.field(name)
            if f is None or (obj.name, f.name) in self.sim.hidden_fields:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'."
                )
            fields.append(f)
        org = self.sim.org
        out: list[dict[str, Any] | None] = []
        base = f"/services/data/v{version}/sobjects/{obj.name}/"
        for raw in ids:
            rid = to_18(raw)
            if rid is None:
                raise ApiError(400, "MALFORMED_ID", f"malformed id {raw}")
            record = org.get(obj.name, rid) if rid[:3] == obj.prefix else None
            if record is None or record["IsDeleted"]:
                out.append(None)
                continue
            item: dict[str, Any] = {"attributes": {"type": obj.name, "url": base + rid}}
            for f in fields:
                item[f.name] = json_value(f.type, org.getter(obj.name, f.name)(record))
            out.append(item)
        return json_response(out)

    @staticmethod
    def _type(item: Any) -> SObjectType:
        attributes = item.get("attributes") if isinstance(item, dict) else None
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            raise ItemError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = object_type(name)
        if obj is None:
            raise ItemError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj

    async def delete(self, request: Request, version: str) -> Response:
        raw = request.query_params.get("ids")
        if not raw:
            raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
        ids = [i.strip() for i in raw.split(",")]
        self._over_limit(len(ids))
        all_or_none = query_bool(request, "allOrNone")
        org = self.sim.org
        code = self.sim.missing_id_delete_error
        missing = ItemError(code, _MISSING_MESSAGES.get(code, code))
        planned: list[tuple[str, str] | ItemError] = []
        doomed: set[str] = set()
        for raw_id in ids:
            rid = to_18(raw_id)
            found = None if rid is None else org.find(rid)
            if rid is None:
                planned.append(ItemError("MALFORMED_ID", f"malformed id {raw_id}"))
            elif found is None:
                planned.append(missing)
            elif found[1]["IsDeleted"] or rid in doomed:
                planned.append(ItemError("ENTITY_IS_DELETED", "entity is deleted"))
            else:
                doomed.add(rid)
                planned.append((found[0], rid))
        failed = any(isinstance(p, ItemError) for p in planned)
        if all_or_none and failed:
            return json_response(
                [_failure(p if isinstance(p, ItemError) else _ROLLED_BACK) for p in planned]
            )
        results = []
        for plan in planned:
            if isinstance(plan, ItemError):
                results.append(_failure(plan))
                continue
            obj, rid = plan
            if not org.records[obj][rid]["IsDeleted"]:  # a cascade may have got there first
                org.delete(obj, rid)
            results.append({"id": rid, "success": True, "errors": []})
        return json_response(results)
