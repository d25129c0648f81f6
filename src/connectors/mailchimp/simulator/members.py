"""Audience members: the store, and ``/3.0/lists/{list_id}/members[/{hash}]``.

* ``GET …/members?count≤1000&offset&status&since_last_changed&before_last_changed&
  since_timestamp_opt&before_timestamp_opt&unique_email_id&vip_only&email_type&sort_field&
  sort_dir`` → ``{"members", "list_id", "total_items", "_links"}``; archived members are
  listed only with ``status=archived``. The filtered (and sorted) members of the last few
  queries are kept until the audience changes, so paging through them costs O(page).
* ``GET|PUT|PATCH|DELETE …/members/{hash}`` where ``hash`` is ``md5(email.lower())`` (a raw
  email is accepted too): ``PUT`` requires ``email_address`` and ``status_if_new`` and the
  hash must be the email's; ``DELETE`` archives (204); ``POST …/members`` creates (an existing
  member → 400 "Member Exists"); ``POST …/members/{hash}/actions/delete-permanent`` (204).
* Writes validate statuses, the email, and merge fields (unknown tags with
  ``reject_unknown_merge_fields``, numbers, required fields left blank);
  ``skip_merge_validation=true`` skips the merge-field checks.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, query_bool, query_param

from .answers import FieldTree, field_tree, links
from .errors import BLANK, MailchimpError, invalid, invalid_fields, not_found

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["LISTABLE", "STATUSES", "Members", "epoch", "subscriber_hash", "ts"]

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
LISTABLE = (*STATUSES, "archived")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TIME_FILTERS = (
    ("since_last_changed", "last_changed", True),
    ("before_last_changed", "last_changed", False),
    ("since_timestamp_opt", "timestamp_opt", True),
    ("before_timestamp_opt", "timestamp_opt", False),
)
_CACHED_VIEWS = 8


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased email address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def ts(epoch_s: float) -> str:
    """A time as Mailchimp writes it: ``2015-10-21T15:41:36+00:00`` (whole seconds)."""
    return datetime.fromtimestamp(int(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def epoch(text: str, field: str) -> float:
    """Epoch seconds of an ISO 8601 time; 400 naming ``field`` when it is not one."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{field} must be an ISO 8601 time, got '{text}'", field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Members:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim
        self._versions: Counter[str] = Counter()  # list id → changes to its members so far
        # list id → (version, query → members), the queries' filtered members
        self._views: dict[str, tuple[int, dict[tuple[Any, ...], list[dict[str, Any]]]]] = {}

    # -- the store ---------------------------------------------------------------------------

    def touch(self, list_id: str) -> None:
        """The audience's members (or their tags) changed: kept query results are dropped."""
        self._versions[list_id] += 1

    def version(self, list_id: str) -> int:
        """How many times the audience's members have changed."""
        return self._versions[list_id]

    def hash_param(self, request: Request) -> str:
        raw: str = request.path_params["hash"]
        return subscriber_hash(raw) if "@" in raw else raw.lower()

    def record(self, request: Request) -> dict[str, Any]:
        lst = self.sim.audience(request)
        found = self.sim.members[lst["id"]].get(self.hash_param(request))
        if found is None:
            raise not_found()
        return found

    def tags_of(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": s["id"], "name": s["name"], "date_added": s["members"][record["id"]]}
                for s in self.sim.segments[record["list_id"]].values()
                if s["type"] == "static" and record["id"] in s["members"]]  # fmt: skip

    def to_json(self, base: str, record: dict[str, Any]) -> dict[str, Any]:
        """A member as the API shows it (``base``: the API host of its links)."""
        return self._render(base, record, None)

    def _render(
        self, base: str, record: dict[str, Any], wanted: FieldTree | None
    ) -> dict[str, Any]:
        """:meth:`to_json`, leaving out the computed keys ``wanted`` (the ``fields`` a page
        asked for, below ``members``) does not name: ``fields`` trims the rest anyway."""
        list_id = record["list_id"]
        out = dict(record)
        if wanted is None or "merge_fields" in wanted:
            out["merge_fields"] = {f["tag"]: record["merge_fields"].get(f["tag"], "")
                                   for f in self.sim.merge_fields[list_id]}  # fmt: skip
        if wanted is None or "tags" in wanted or "tags_count" in wanted:
            tags = [{"id": t["id"], "name": t["name"]} for t in self.tags_of(record)]
            out.update(tags_count=len(tags), tags=tags)
        if wanted is None or "_links" in wanted:
            path = f"/lists/{list_id}/members/{record['id']}"
            out["_links"] = links(base, path, "Lists/Members/Instance")
        return out

    def renderer(
        self, request: Request, key: str
    ) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        """:meth:`to_json` for the members of a page under ``key`` (computing only what the
        request's ``fields`` keep)."""
        fields = field_tree(query_param(request, "fields"))
        if fields is None:
            return self.to_json
        if key not in fields:  # the members are trimmed away whole
            return lambda base, record: {}
        wanted = fields[key]
        if wanted is None:
            return self.to_json
        return lambda base, record: self._render(base, record, wanted)

    def validate(
        self, list_id: str, data: dict[str, Any], existing: dict[str, Any] | None, skip: bool
    ) -> list[dict[str, str]]:
        """Field errors of a member write: statuses, email, merge fields (unknown tags,
        numbers, required fields left blank); ``skip`` is ``skip_merge_validation``."""
        errors = [{"field": k, "message": f"Invalid status '{data[k]}'; one of "
                   f"{', '.join(STATUSES)}"} for k in ("status", "status_if_new")
                  if k in data and data[k] not in STATUSES]  # fmt: skip
        email = data.get("email_address")
        if email is not None and (not isinstance(email, str) or not _EMAIL.match(email.strip())):
            errors.append({"field": "email_address",
                           "message": "Please provide a valid email address."})  # fmt: skip
        values = data.get("merge_fields", {})
        if not isinstance(values, dict):
            message = "Data did not match any of the schemas described in anyOf."
            return [*errors, {"field": "merge_fields", "message": message}]
        if skip:
            return errors
        defs = {f["tag"]: f for f in self.sim.merge_fields[list_id]}
        for tag, value in values.items():
            definition = defs.get(tag)
            if definition is None:
                if self.sim.reject_unknown_merge_fields:
                    message = f"Merge field {tag} does not exist on this audience."
                    errors.append({"field": tag, "message": message})
            elif definition["type"] == "number" and value not in ("", None):
                try:
                    float(value)
                except (TypeError, ValueError):
                    errors.append({"field": tag, "message": "Please enter a number"})
        merged = {**(existing or {}).get("merge_fields", {}), **values}
        errors += [{"field": f["tag"], "message": BLANK} for f in defs.values()
                   if f["required"] and merged.get(f["tag"]) in ("", None)]  # fmt: skip
        return errors

    def write(
        self, list_id: str, data: dict[str, Any], existing: dict[str, Any] | None, status: str
    ) -> dict[str, Any]:
        """Create (``existing`` None) or update a member; ``status`` is its new status."""
        sim = self.sim
        now = ts(sim.wall_clock())
        record: dict[str, Any]
        if existing is None:
            email = str(data["email_address"]).strip()
            record = {
                "id": subscriber_hash(email), "email_address": email,
                "unique_email_id": sim.ids.hex(10), "web_id": sim.ids.unique_int(10**8, 10**9),
                "email_type": "html", "status": "", "merge_fields": {}, "interests": {},
                "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "",
                "timestamp_signup": "", "ip_opt": "", "timestamp_opt": "", "member_rating": 2,
                "last_changed": now, "language": "", "vip": False, "email_client": "",
                "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0,
                             "country_code": "", "timezone": "", "region": ""},
                "source": "API - Generic", "list_id": list_id,
            }  # fmt: skip
            sim.members[list_id][record["id"]] = record
        else:
            record = existing
        new_email = data.get("email_address")
        if isinstance(new_email, str) and subscriber_hash(new_email) != record["id"]:
            self._rehash(list_id, record, new_email.strip())
        if status in ("subscribed", "pending") and record["status"] != status:
            record["timestamp_opt"] = now
        record["status"] = status
        for key in ("language", "email_type"):
            if isinstance(data.get(key), str):
                record[key] = data[key]
        if "vip" in data:
            record["vip"] = bool(data["vip"])
        if isinstance(data.get("merge_fields"), dict):
            record["merge_fields"].update(data["merge_fields"])
        record["last_changed"] = now
        self.touch(list_id)
        return record

    def _rehash(self, list_id: str, record: dict[str, Any], email: str) -> None:
        """A member's email changed: move it (and its tags) to the new hash."""
        members, new_hash, old = self.sim.members[list_id], subscriber_hash(email), record["id"]
        if new_hash in members:
            raise MailchimpError(400, "Member Exists", f"{email} is already a list member.")
        record.update(id=new_hash, email_address=email)
        members[new_hash] = members.pop(old)
        for segment in self.sim.segments[list_id].values():
            if old in segment["members"]:
                segment["members"][new_hash] = segment["members"].pop(old)

    # -- listing -----------------------------------------------------------------------------

    def _bounds(self, bound: float, since: bool) -> tuple[str, str]:
        """The stamps (whole seconds, one format, so they compare as strings) a ``since_*``
        or ``before_*`` filter keeps, as an inclusive (low, high) range."""
        if since:
            first = math.ceil(bound) if self.sim.since_inclusive else math.floor(bound) + 1
            return ts(first), "~"
        return "", ts(math.ceil(bound) - 1)

    def view(
        self, list_id: str, key: tuple[Any, ...], build: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The members a query keeps, built once per version of the audience."""
        version = self._versions[list_id]
        kept = self._views.get(list_id)
        if kept is None or kept[0] != version:
            kept = self._views[list_id] = (version, {})
        views = kept[1]
        if key not in views:
            if len(views) >= _CACHED_VIEWS:
                del views[next(iter(views))]
            views[key] = build()
        return views[key]

    async def list_members(self, request: Request) -> Response:
        sim = self.sim
        lst = sim.audience(request)
        list_id = lst["id"]
        status = query_param(request, "status")
        if status and status not in LISTABLE:
            raise invalid(f"Invalid status '{status}'", "status")
        ranges = []
        for param, key, since in _TIME_FILTERS:
            text = query_param(request, param)
            if text:
                ranges.append((key, *self._bounds(epoch(text, param), since)))
        equal = [
            (p, v) for p in ("unique_email_id", "email_type") if (v := query_param(request, p))
        ]
        vip = query_bool(request, "vip_only")
        sort_field = query_param(request, "sort_field")
        if sort_field and sort_field not in ("timestamp_opt", "timestamp_signup", "last_changed"):
            raise invalid(f"Invalid sort_field '{sort_field}'", "sort_field")
        descending = (query_param(request, "sort_dir") or "ASC").upper() == "DESC"

        def build() -> list[dict[str, Any]]:
            records = sim.members[list_id].values()
            if status:
                kept = [r for r in records if r["status"] == status]
            else:
                kept = [r for r in records if r["status"] != "archived"]
            for key, low, high in ranges:
                kept = [r for r in kept if r[key] and low <= r[key] <= high]
            for param, value in equal:
                kept = [r for r in kept if r[param] == value]
            if vip:
                kept = [r for r in kept if r["vip"]]
            if sort_field:
                kept.sort(key=lambda r: str(r[sort_field]), reverse=descending)
            return kept

        query = (status, tuple(ranges), tuple(equal), vip, sort_field, descending)
        records = self.view(list_id, query, build)
        return sim.collection(request, "members", records, self.renderer(request, "members"),
                              f"/lists/{list_id}/members", "Lists/Members/Collection",
                              list_id=list_id)  # fmt: skip

    # -- one member --------------------------------------------------------------------------

    def _check(
        self,
        request: Request,
        list_id: str,
        data: dict[str, Any],
        existing: dict[str, Any] | None,
        required: tuple[str, ...] = (),
    ) -> None:
        """400 "Invalid Resource" for blank ``required`` fields, else for what :meth:`validate`
        finds (``skip_merge_validation=true`` skips the merge-field checks)."""
        missing = [k for k in required if not data.get(k)]
        if missing:
            raise invalid_fields([{"field": k, "message": BLANK} for k in missing])
        errors = self.validate(
            list_id, data, existing, query_bool(request, "skip_merge_validation")
        )
        if errors:
            raise invalid_fields(errors)

    async def get(self, request: Request) -> Response:
        return self.sim.json(request, self.to_json(self.sim.base(request), self.record(request)))

    async def put(self, request: Request) -> Response:
        sim = self.sim
        lst = sim.audience(request)
        data = await json_body(request, expect=dict, empty={})
        wanted = self.hash_param(request)
        existing = sim.members[lst["id"]].get(wanted)
        self._check(request, lst["id"], data, existing, ("email_address", "status_if_new"))
        if subscriber_hash(str(data["email_address"])) != wanted:
            detail = "The subscriber hash in the URL does not match the email_address."
            raise invalid(detail, "email_address")
        if existing is None or existing["status"] == "archived":
            status = str(data["status_if_new"])
        else:
            status = str(data.get("status") or existing["status"])
        record = self.write(lst["id"], data, existing, status)
        return sim.json(request, self.to_json(sim.base(request), record))

    async def patch(self, request: Request) -> Response:
        record = self.record(request)
        data = await json_body(request, expect=dict, empty={})
        self._check(request, record["list_id"], data, record)
        status = str(data.get("status") or record["status"])
        record = self.write(record["list_id"], data, record, status)
        return self.sim.json(request, self.to_json(self.sim.base(request), record))

    async def create(self, request: Request) -> Response:
        sim = self.sim
        lst = sim.audience(request)
        data = await json_body(request, expect=dict, empty={})
        self._check(request, lst["id"], data, None, ("email_address", "status"))
        email = str(data["email_address"]).strip()
        existing = sim.members[lst["id"]].get(subscriber_hash(email))
        if existing is not None and existing["status"] != "archived":
            detail = f"{email} is already a list member. Use PUT to insert or update list members."
            raise MailchimpError(400, "Member Exists", detail)
        record = self.write(lst["id"], data, existing, str(data["status"]))
        for name in data.get("tags") or []:
            sim.tag_api.tag(lst["id"], record["id"], str(name), True)
        return sim.json(request, self.to_json(sim.base(request), record))

    async def archive(self, request: Request) -> Response:
        record = self.record(request)
        if record["status"] == "archived":
            raise not_found()
        record.update(status="archived", last_changed=ts(self.sim.wall_clock()))
        self.touch(record["list_id"])
        return self.sim.json(request, None, 204)

    async def delete(self, request: Request) -> Response:
        record = self.record(request)
        del self.sim.members[record["list_id"]][record["id"]]
        for segment in self.sim.segments[record["list_id"]].values():
            segment["members"].pop(record["id"], None)
        self.touch(record["list_id"])
        return self.sim.json(request, None, 204)
