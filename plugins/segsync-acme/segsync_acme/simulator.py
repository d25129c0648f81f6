"""A simulator of the (fictional) Acme CRM API, built on segsync's simulator base.

The API, as a platform's reference would state it:

* ``Authorization: Bearer <token>``; 401 ``{"message": "invalid token"}`` otherwise.
* ``GET /v1/contacts?limit=N&after=CURSOR`` — ``limit`` ≤ 100; answers
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
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from segsync.testing.simulator import RateLimit, Simulator

__all__ = ["MAX_MEMBERS_PER_CALL", "AcmeSimulator"]

MAX_MEMBERS_PER_CALL = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AcmeSimulator(Simulator):
    name = "acme"

    def __init__(self, *, rate_limit: RateLimit | None = None, **kwargs: Any) -> None:
        super().__init__(
            rate_limit=rate_limit or RateLimit(requests=50, window=10.0, concurrency=4), **kwargs
        )
        self.contacts: list[dict[str, Any]] = []
        self.lists: dict[str, dict[str, Any]] = {}

    # -- what the base asks of a platform ---------------------------------------------------

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

    async def _contacts(self, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            return JSONResponse({"message": "limit must be a number"}, status_code=400)
        if not 1 <= limit <= 100:
            return JSONResponse({"message": "limit must be between 1 and 100"}, status_code=400)
        after = request.query_params.get("after")
        start = 0
        if after is not None:
            start = next((i + 1 for i, c in enumerate(self.contacts) if c["id"] == after), -1)
            if start < 0:
                return JSONResponse({"message": "unknown cursor"}, status_code=400)
        page = self.contacts[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(self.contacts):
            body["paging"] = {"next": {"after": page[-1]["id"]}}
        return JSONResponse(body)

    async def _find_list(self, request: Request) -> Response:
        name = request.query_params.get("name")
        found = [
            {"id": i, "name": lst["name"], "size": len(lst["members"])}
            for i, lst in self.lists.items()
            if name is None or lst["name"] == name
        ]
        return JSONResponse({"results": found})

    async def _create_list(self, request: Request) -> Response:
        body = await _json(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            return JSONResponse({"message": "name is required"}, status_code=400)
        for list_id, lst in self.lists.items():
            if lst["name"] == name:
                return JSONResponse(
                    {"message": "a list with this name exists", "id": list_id}, status_code=409
                )
        list_id = f"L{len(self.lists) + 1}"
        self.lists[list_id] = {"name": name, "members": set()}
        return JSONResponse({"id": list_id, "name": name}, status_code=201)

    async def _change_members(self, request: Request) -> Response:
        lst = self.lists.get(request.path_params["id"])
        if lst is None:
            return JSONResponse({"message": "no such list"}, status_code=404)
        body = await _json(request)
        if not isinstance(body, dict):
            return JSONResponse({"message": "expected a JSON object"}, status_code=400)
        add, remove = body.get("add", []), body.get("remove", [])
        if not isinstance(add, list) or not isinstance(remove, list):
            return JSONResponse({"message": "add and remove must be lists"}, status_code=400)
        if len(add) + len(remove) > MAX_MEMBERS_PER_CALL:
            return JSONResponse(
                {"message": f"at most {MAX_MEMBERS_PER_CALL} emails per call"}, status_code=400
            )
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
        lst = self.lists.get(request.path_params["id"])
        if lst is None:
            return JSONResponse({"message": "no such list"}, status_code=404)
        return JSONResponse({"results": sorted(lst["members"])})


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None
