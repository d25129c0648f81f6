"""A simulator of the (fictional) Acme CRM API, built on segsync's simulator base.

The API, as a platform's reference would state it:

* ``Authorization: Bearer <token>``; 401 ``{"message": "invalid token"}`` otherwise.
* Every error is ``{"message": "..."}`` (a 409 adds the ``id`` it conflicts with); unknown
  paths 404, a known path with another method 405.
* ``GET /v1/contacts?limit=N&after=CURSOR`` — ``limit`` ≤ 100 (default 50); answers
  ``{"results": [{"id", "email", "first_name", "updated_at"}], "paging": {"next": {"after"}}}``,
  ``paging`` absent on the last page.
* ``GET /v1/lists?name=NAME`` → ``{"results": [{"id", "name", "size"}]}``;
  ``POST /v1/lists {"name"}`` → 201 ``{"id", "name"}`` (409 when the name is taken).
* ``POST /v1/lists/{id}/members {"add": [...emails], "remove": [...emails]}`` — at most 100
  emails in all, else 400; answers ``{"added": n, "removed": n, "errors": [{"email",
  "message"}]}`` with one error per invalid email (the others are applied).
* ``GET /v1/lists/{id}/members`` → ``{"results": [...emails]}``.
* 50 requests per 10 s and 4 at once per token; every answer carries ``X-Acme-RateLimit-Limit``,
  ``-Remaining`` and ``-Reset`` (seconds); 429 ``{"message": "slow down"}`` with Retry-After.

How it uses the base (:mod:`segsync.testing.simulator`): routes raise :class:`AcmeError`
(a :class:`~segsync.testing.simulator.PlatformError`) and :meth:`AcmeSimulator.error_envelope`
renders every error the Acme way; query parameters and bodies are read with ``query_int`` and
``json_body``, whose refusals :meth:`AcmeSimulator.input_error` words; the base answers paths
with and without a trailing slash, checks credentials, enforces the rate limit and injects
faults.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import (
    InputError,
    PlatformError,
    RateLimit,
    Simulator,
    json_body,
    query_int,
    query_param,
)

__all__ = ["MAX_MEMBERS_PER_CALL", "AcmeError", "AcmeSimulator"]

MAX_MEMBERS_PER_CALL = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AcmeError(PlatformError):
    """An Acme error: ``{"message"}`` plus any ``extra`` keys (a 409's ``id``)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.extra = extra


class AcmeSimulator(Simulator):
    name = "acme"

    def __init__(self, *, rate_limit: RateLimit | None = None, **kwargs: Any) -> None:
        super().__init__(
            rate_limit=rate_limit or RateLimit(requests=50, window=10.0, concurrency=4), **kwargs
        )
        self.contacts: list[dict[str, Any]] = []
        self._position: dict[str, int] = {}  # contact id → index, so a page is O(page)
        self.lists: dict[str, dict[str, Any]] = {}

    # -- what the base asks of a platform ---------------------------------------------------

    def error_envelope(self, request: Request, error: PlatformError) -> Response:
        extra = error.extra if isinstance(error, AcmeError) else {}
        return JSONResponse({"message": error.message, **extra}, status_code=error.status)

    def input_error(self, request: Request, error: InputError) -> PlatformError:
        if error.kind == "integer":
            return AcmeError(400, f"{error.name} must be a number")
        if error.kind == "range":
            return AcmeError(400, f"{error.name} must be between {error.low} and {error.high}")
        return AcmeError(400, "expected a JSON object")

    def unauthorized_response(self, request: Request) -> Response:
        return JSONResponse({"message": "invalid token"}, status_code=401)

    def rate_limited_response(self, request: Request, retry_after: float | None) -> Response:
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else {}
        return JSONResponse({"message": "slow down"}, status_code=429, headers=headers)

    def rate_limit_headers(
        self,
        request: Request,
        account: str,
        remaining: int | None,
        limit: int | None,
        reset_in: float | None,
    ) -> dict[str, str]:
        if limit is None or remaining is None:
            return {}
        return {
            "X-Acme-RateLimit-Limit": str(limit),
            "X-Acme-RateLimit-Remaining": str(remaining),
            "X-Acme-RateLimit-Reset": f"{reset_in or 0:.1f}",
        }

    def seed_contacts(self, contacts: list[dict[str, Any]], account: str = "default") -> None:
        self.contacts = [
            {
                "id": str(c["id"]),
                "email": c["email"],
                "first_name": c.get("first_name", ""),
                "updated_at": "2026-01-01T00:00:00Z",
            }
            for c in contacts
        ]
        self._position = {c["id"]: i for i, c in enumerate(self.contacts)}

    def state(self) -> dict[str, Any]:
        return {
            "contacts": len(self.contacts),
            "lists": {
                i: {"name": lst["name"], "size": len(lst["members"])}
                for i, lst in self.lists.items()
            },
        }

    def members(self, list_id: str) -> set[str]:
        return set(self.lists[list_id]["members"])

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/contacts", self._contacts, methods=["GET"]),
            Route("/v1/lists", self._find_list, methods=["GET"]),
            Route("/v1/lists", self._create_list, methods=["POST"]),
            Route("/v1/lists/{id}/members", self._change_members, methods=["POST"]),
            Route("/v1/lists/{id}/members", self._list_members, methods=["GET"]),
        ]

    def _list(self, request: Request) -> dict[str, Any]:
        lst = self.lists.get(request.path_params["id"])
        if lst is None:
            raise AcmeError(404, "no such list")
        return lst

    async def _contacts(self, request: Request) -> Response:
        limit = query_int(request, "limit", default=50, low=1, high=100)
        after = query_param(request, "after")
        start = 0
        if after is not None:
            if after not in self._position:
                raise AcmeError(400, "unknown cursor")
            start = self._position[after] + 1
        page = self.contacts[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(self.contacts):
            body["paging"] = {"next": {"after": page[-1]["id"]}}
        return JSONResponse(body)

    async def _find_list(self, request: Request) -> Response:
        name = query_param(request, "name")
        found = [
            {"id": i, "name": lst["name"], "size": len(lst["members"])}
            for i, lst in self.lists.items()
            if name is None or lst["name"] == name
        ]
        return JSONResponse({"results": found})

    async def _create_list(self, request: Request) -> Response:
        body = await json_body(request, expect=dict)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise AcmeError(400, "name is required")
        for list_id, lst in self.lists.items():
            if lst["name"] == name:
                raise AcmeError(409, "a list with this name exists", id=list_id)
        list_id = f"L{len(self.lists) + 1}"
        self.lists[list_id] = {"name": name, "members": set()}
        return JSONResponse({"id": list_id, "name": name}, status_code=201)

    async def _change_members(self, request: Request) -> Response:
        lst = self._list(request)
        body = await json_body(request, expect=dict)
        add, remove = body.get("add", []), body.get("remove", [])
        if not isinstance(add, list) or not isinstance(remove, list):
            raise AcmeError(400, "add and remove must be lists")
        if len(add) + len(remove) > MAX_MEMBERS_PER_CALL:
            raise AcmeError(400, f"at most {MAX_MEMBERS_PER_CALL} emails per call")
        errors, added, removed = [], 0, 0
        for email in add:
            if not isinstance(email, str) or not _EMAIL.match(email):
                errors.append({"email": email, "message": "invalid email"})
            elif email not in lst["members"]:
                lst["members"].add(email)
                added += 1
        for email in remove:
            if isinstance(email, str) and email in lst["members"]:
                lst["members"].discard(email)
                removed += 1
        return JSONResponse({"added": added, "removed": removed, "errors": errors})

    async def _list_members(self, request: Request) -> Response:
        return JSONResponse({"results": sorted(self._list(request)["members"])})
