"""``POST /crm/v3/objects/contacts/batch/{read,update,upsert}``.

At most ``batch_max`` inputs (else 400 ``BATCH_TOO_LARGE``). 200 ``{"status": "COMPLETE",
"results", "requestedAt", "startedAt", "completedAt", "links"}``, or 207 with
``numErrors``/``errors[]``: unknown ids → one ``OBJECT_NOT_FOUND`` error with ``context.ids``.
Writes validate each input's properties (unknown, read-only, not an option, not a number, an
invalid or taken email): with ``strict_batch_validation`` one invalid input fails the whole
batch with 400 unless every input carries an ``objectWriteTraceId`` (then 207 per input, the
trace id in ``context.objectWriteTraceId``). ``objectWriteTraceId`` is echoed on results;
upsert results carry ``new``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body

from .errors import bad
from .objects import DEFAULT_PROPS, READ_ONLY, as_value, iso

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["Batch"]


def _not_found_error(ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def _invalid(problems: list[dict[str, Any]], trace: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": f"Property values were not valid: {json.dumps(problems)}",
        "context": {},
        "errors": [],
        "links": {},
    }
    if trace is not None:
        error["context"] = {"objectWriteTraceId": [trace]}
    return error


class Batch:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim

    def _started(self) -> str:
        return iso(int(self.sim.wall_clock() * 1000))

    async def _inputs(self, request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = await json_body(request, expect=dict, empty=None)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise bad("inputs must be a list of objects")
        if len(inputs) > self.sim.batch_max:
            raise bad(
                f"Batch input is limited to {self.sim.batch_max} inputs, got {len(inputs)}",
                subCategory="BATCH_TOO_LARGE",
            )
        return body, inputs

    def _answer(
        self, started: str, results: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> Response:
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": self._started(),
            "links": {},
        }
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        return self.sim.json(out, 207 if errors else 200)

    async def read(self, request: Request) -> Response:
        started = self._started()
        body, inputs = await self._inputs(request)
        store = self.sim.contact_api
        id_property = body.get("idProperty")
        props = body.get("properties") or None
        history = body.get("propertiesWithHistory") or None
        if history is not None and not (
            isinstance(history, list) and all(isinstance(h, str) for h in history)
        ):
            raise bad("propertiesWithHistory must be an array of property names")
        results, missing = [], []
        for item in inputs:
            found = store.lookup(item.get("id"), id_property)
            if found is None:
                missing.append(as_value(item.get("id")))
            else:
                contact = self.sim.contacts[found]
                results.append(store.render(contact, props, DEFAULT_PROPS, history))
        return self._answer(started, results, [_not_found_error(missing)] if missing else [])

    def validate(self, props: Any, record_id: str | None) -> list[dict[str, Any]]:
        """HubSpot's per-property validation results for a write (empty when valid)."""
        if not isinstance(props, dict):
            raise bad("properties must be an object")
        sim, problems = self.sim, []
        for name, raw in props.items():
            value = as_value(raw)
            definition = sim.properties.get(name)
            err: tuple[str, str] | None = None
            if definition is None:
                err = ("PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            elif name in READ_ONLY:
                msg = f'"{name}" is a read only property; its value cannot be set.'
                err = ("READ_ONLY_VALUE", msg)
            elif value == "":
                err = None
            elif (
                definition["type"] == "enumeration" or definition["fieldType"] == "booleancheckbox"
            ):
                allowed = {o["value"] for o in definition["options"]}
                parts = value.split(";") if definition["fieldType"] == "checkbox" else [value]
                wrong = [v for v in parts if v != "" and v not in allowed]
                if wrong:
                    err = ("INVALID_OPTION", f"{wrong[0]} was not one of the allowed options: "
                           f"{sorted(allowed)}")  # fmt: skip
            elif definition["type"] == "number":
                try:
                    float(value)
                except ValueError:
                    err = ("INVALID_DECIMAL", f"{value} was not a valid number")
            elif name == "email":
                owner = sim.contact_api.by_email.get(value.lower())
                if "@" not in value:
                    err = ("INVALID_EMAIL", f"Email address {value} is invalid")
                elif owner is not None and owner != record_id:
                    err = ("CONFLICT", f"Contact already exists. Existing ID: {owner}")
            if err:
                problems.append({"isValid": False, "message": err[1], "error": err[0],
                                 "name": name, "localizedErrorMessage": err[1]})  # fmt: skip
        return problems

    async def write(self, request: Request, *, upsert: bool) -> Response:
        sim = self.sim
        started = self._started()
        body, inputs = await self._inputs(request)
        store = sim.contact_api
        planned: list[tuple[dict[str, Any], str | None, bool]] = []
        errors: list[dict[str, Any]] = []
        missing: list[str] = []
        traced = all(isinstance(i.get("objectWriteTraceId"), str) for i in inputs)
        for item in inputs:
            id_property = item.get("idProperty", body.get("idProperty"))
            if upsert and id_property != "email":
                raise bad("batch upsert needs idProperty 'email' (a unique property)")
            found = store.lookup(item.get("id"), id_property)
            trace = item.get("objectWriteTraceId")
            if found is None and not upsert:
                missing.append(as_value(item.get("id")))
                continue
            props = dict(item.get("properties") or {})
            if upsert and found is None:
                props.setdefault("email", as_value(item.get("id")))
            problems = self.validate(props, found)
            if problems:
                if sim.strict_batch_validation and not traced:
                    raise bad(
                        f"Property values were not valid: {json.dumps(problems)}",
                        errors=[{"message": p["message"], "code": p["error"],
                                 "context": {"propertyName": [p["name"]]}} for p in problems],
                    )  # fmt: skip
                errors.append(_invalid(problems, trace))
                continue
            planned.append((props, found, found is None))
        results = []
        for props, found, new in planned:
            record = store.write(found, props)
            result = store.render(record, list(props), ())
            if upsert:
                result["new"] = new
            results.append(result)
        self._echo_traces(inputs, results, body)
        if missing:
            errors.append(_not_found_error(missing))
        return self._answer(started, results, errors)

    def _echo_traces(
        self, inputs: list[dict[str, Any]], results: list[dict[str, Any]], body: dict[str, Any]
    ) -> None:
        by_id: dict[str, str] = {}
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            if not isinstance(trace, str):
                continue
            id_property = item.get("idProperty", body.get("idProperty"))
            found = self.sim.contact_api.lookup(item.get("id"), id_property)
            if found is not None:
                by_id[found] = trace
        for result in results:
            if result["id"] in by_id:
                result["objectWriteTraceId"] = by_id[result["id"]]

    async def update(self, request: Request) -> Response:
        return await self.write(request, upsert=False)

    async def upsert(self, request: Request) -> Response:
        return await self.write(request, upsert=True)
