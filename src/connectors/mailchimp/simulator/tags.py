"""Tags, which are static segments ("Static segments are now known as tags"), and segments.

* ``POST /lists/{id}/members/{hash}/tags`` ``{"tags": [{"name", "status"}]}`` → 204, empty
  body (an ``active`` unknown tag is created); ``GET …/members/{hash}/tags``.
* ``GET|POST /lists/{id}/segments`` (``type`` filter; a taken name → 400), ``GET|PATCH|DELETE
  /lists/{id}/segments/{segment_id}``; ``POST /lists/{id}/segments/{segment_id}`` with
  ``members_to_add``/``members_to_remove`` (emails, at most ``segment_members_max`` each) →
  ``{"members_added", "members_removed", "errors": [{"email_addresses", "error"}],
  "total_added", "total_removed", "error_count", "_links"}``; emails not on the audience are
  ignored (``report_unknown_segment_emails`` reports them instead).
* ``GET …/segments/{segment_id}/members?count≤1000&offset&include_cleaned&
  include_transactional&include_unsubscribed`` (subscribed members by default) and ``GET
  /lists/{id}/tag-search?name=<prefix>``.

A segment's ``member_count`` counts its subscribed members. With
``tag_changes_bump_last_changed`` tagging moves the member's ``last_changed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, query_bool, query_param

from .answers import links
from .errors import BLANK, INVALID, invalid, not_found
from .members import subscriber_hash, ts

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["Tags"]


def _same(base: str, item: dict[str, Any]) -> dict[str, Any]:
    return item


class Tags:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim

    # -- the store ---------------------------------------------------------------------------

    def find(self, list_id: str, name: str) -> dict[str, Any] | None:
        return next((s for s in self.sim.segments[list_id].values() if s["name"] == name), None)

    def new(self, list_id: str, name: str, options: Any = None) -> dict[str, Any]:
        """A static segment (a tag), or a saved one when ``options`` are given."""
        sim = self.sim
        now = ts(sim.wall_clock())
        segment: dict[str, Any] = {
            "id": sim.ids.unique_int(10_000, 10_000_000), "name": name,
            "type": "static" if options is None else "saved", "created_at": now,
            "updated_at": now, "list_id": list_id, "members": {},
        }  # fmt: skip
        if options is not None:
            segment["options"] = options
        sim.segments[list_id][segment["id"]] = segment
        return segment

    def tag(self, list_id: str, member: str, name: str, active: bool) -> None:
        """Add (``active``) or remove a tag; an unknown active tag is created."""
        segment = self.find(list_id, name)
        if segment is None:
            if not active:
                return
            segment = self.new(list_id, name)
        self.set_members(segment, [member] if active else [], [] if active else [member])

    def set_members(self, segment: dict[str, Any], add: list[str], remove: list[str]) -> None:
        """Tag members (hashes) and untag others; the changed ones' ``last_changed`` moves
        with ``tag_changes_bump_last_changed``."""
        sim, members = self.sim, segment["members"]
        now = ts(sim.wall_clock())
        changed = [h for h in add if h not in members]
        members.update(dict.fromkeys(changed, now))
        for h in remove:
            if h in members:
                del members[h]
                changed.append(h)
        if not changed:
            return
        segment["updated_at"] = now
        list_id = segment["list_id"]
        if sim.tag_changes_bump_last_changed:
            records = sim.members[list_id]
            for h in changed:
                records[h]["last_changed"] = now
        sim.member_api.touch(list_id)

    def records(self, segment: dict[str, Any], include: frozenset[str]) -> list[dict[str, Any]]:
        """The segment's members whose status is subscribed or in ``include``."""
        list_id = segment["list_id"]

        def build() -> list[dict[str, Any]]:
            members, shown = self.sim.members[list_id], {"subscribed", *include}
            found = [members[h] for h in segment["members"] if h in members]
            return [r for r in found if r["status"] in shown]

        key = ("segment", segment["id"], include)
        return self.sim.member_api.view(list_id, key, build)

    def to_json(self, base: str, segment: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in segment.items() if k != "members"}
        out["member_count"] = len(self.records(segment, frozenset()))
        path = f"/lists/{segment['list_id']}/segments/{segment['id']}"
        out["_links"] = links(base, path, "Lists/Segments/Instance")
        return out

    def segment(self, request: Request) -> dict[str, Any]:
        lst = self.sim.audience(request)
        try:
            found = self.sim.segments[lst["id"]].get(int(request.path_params["segment_id"]))
        except ValueError:
            found = None
        if found is None:
            raise not_found()
        return found

    def _known_emails(self, list_id: str, emails: Any, field: str) -> tuple[list[str], list[str]]:
        """(hashes of the emails on the audience, the emails that are not), at most
        ``segment_members_max`` emails."""
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise invalid(f"{field} must be an array of email addresses", field)
        limit = self.sim.segment_members_max
        if len(emails) > limit:
            raise invalid(f"{field} accepts up to {limit} emails, not {len(emails)}.", field)
        members = self.sim.members[list_id]
        known, unknown = [], []
        for email in emails:
            record = members.get(subscriber_hash(email))
            if record is None or record["status"] == "archived":
                unknown.append(email)
            else:
                known.append(record["id"])
        return known, unknown

    def _name(self, list_id: str, data: dict[str, Any], current: Any = None) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid(INVALID, "name", BLANK)
        other = self.find(list_id, name.strip())
        if other is not None and other is not current:
            raise invalid(f"A tag or segment named '{name.strip()}' already exists.", "name")
        return name.strip()

    # -- a member's tags ---------------------------------------------------------------------

    async def member_tags(self, request: Request) -> Response:
        record = self.sim.member_api.record(request)
        path = f"/lists/{record['list_id']}/members/{record['id']}/tags"
        tags = self.sim.member_api.tags_of(record)
        return self.sim.collection(request, "tags", tags, _same, path,
                                   "Lists/Members/Tags/Collection")  # fmt: skip

    async def post_member_tags(self, request: Request) -> Response:
        record = self.sim.member_api.record(request)
        tags = (await json_body(request, expect=dict, empty={})).get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise invalid(INVALID, "tags", "Schema describes array, object found instead")
        for i, tag in enumerate(tags):
            if not isinstance(tag.get("name"), str) or not tag["name"].strip():
                raise invalid(INVALID, f"tags.item:{i}.name", BLANK)
            if tag.get("status") not in ("active", "inactive"):
                message = "Value is not one of the enum values: active, inactive"
                raise invalid(INVALID, f"tags.item:{i}.status", message)
        for tag in tags:
            active = tag["status"] == "active"
            self.tag(record["list_id"], record["id"], tag["name"].strip(), active)
        return self.sim.json(request, None, 204)

    # -- segments ----------------------------------------------------------------------------

    async def list_all(self, request: Request) -> Response:
        lst = self.sim.audience(request)
        kind = query_param(request, "type")
        if kind and kind not in ("saved", "static", "fuzzy"):
            raise invalid(f"Invalid type '{kind}'", "type")
        found = [s for s in self.sim.segments[lst["id"]].values() if not kind or s["type"] == kind]
        return self.sim.collection(request, "segments", found, self.to_json,
                                   f"/lists/{lst['id']}/segments", "Lists/Segments/Collection",
                                   list_id=lst["id"])  # fmt: skip

    async def create(self, request: Request) -> Response:
        sim = self.sim
        lst = sim.audience(request)
        data = await json_body(request, expect=dict, empty={})
        name = self._name(lst["id"], data)
        if "static_segment" in data and "options" in data:
            raise invalid("static_segment cannot be combined with options", "static_segment")
        if "static_segment" in data:
            known, _ = self._known_emails(lst["id"], data["static_segment"], "static_segment")
            segment = self.new(lst["id"], name)
            self.set_members(segment, list(dict.fromkeys(known)), [])
        elif isinstance(data.get("options"), dict):
            segment = self.new(lst["id"], name, data["options"])
        else:
            raise invalid("Provide static_segment or options.", "static_segment")
        return sim.json(request, self.to_json(sim.base(request), segment))

    async def get(self, request: Request) -> Response:
        return self.sim.json(request, self.to_json(self.sim.base(request), self.segment(request)))

    async def patch(self, request: Request) -> Response:
        sim = self.sim
        segment = self.segment(request)
        data = await json_body(request, expect=dict, empty={})
        list_id = segment["list_id"]
        segment["name"] = self._name(list_id, data, segment)
        now = ts(sim.wall_clock())
        if "static_segment" in data and segment["type"] == "static":
            known, _ = self._known_emails(list_id, data["static_segment"], "static_segment")
            segment["members"] = {h: segment["members"].get(h, now) for h in known}
            sim.member_api.touch(list_id)
        if isinstance(data.get("options"), dict) and segment["type"] == "saved":
            segment["options"] = data["options"]
        segment["updated_at"] = now
        return sim.json(request, self.to_json(sim.base(request), segment))

    async def delete(self, request: Request) -> Response:
        segment = self.segment(request)
        del self.sim.segments[segment["list_id"]][segment["id"]]
        return self.sim.json(request, None, 204)

    async def batch(self, request: Request) -> Response:
        sim = self.sim
        segment = self.segment(request)
        if segment["type"] != "static":
            raise invalid("Members can only be added to or removed from static segments.")
        data = await json_body(request, expect=dict, empty={})
        list_id, members = segment["list_id"], segment["members"]
        add, add_unknown = self._known_emails(
            list_id, data.get("members_to_add", []), "members_to_add"
        )
        remove, remove_unknown = self._known_emails(
            list_id, data.get("members_to_remove", []), "members_to_remove"
        )
        added = [h for h in dict.fromkeys(add) if h not in members]
        removed = [h for h in dict.fromkeys(remove) if h in members]
        self.set_members(segment, added, removed)
        errors = []
        unknown = [*add_unknown, *remove_unknown]
        if unknown and sim.report_unknown_segment_emails:
            error = "Email addresses are not members of this list."
            errors.append({"email_addresses": unknown, "error": error})
        records, base = sim.members[list_id], sim.base(request)
        show_added = sim.member_api.renderer(request, "members_added")
        show_removed = sim.member_api.renderer(request, "members_removed")
        path = f"/lists/{list_id}/segments/{segment['id']}"
        return sim.json(request, {
            "members_added": [show_added(base, records[h]) for h in added],
            "members_removed": [show_removed(base, records[h]) for h in removed],
            "errors": errors, "total_added": len(added), "total_removed": len(removed),
            "error_count": len(errors),
            "_links": links(base, path, "Lists/Segments/BatchPOST"),
        })  # fmt: skip

    async def segment_members(self, request: Request) -> Response:
        segment = self.segment(request)
        include = frozenset(s for s in ("cleaned", "transactional", "unsubscribed")
                            if query_bool(request, f"include_{s}"))  # fmt: skip
        path = f"/lists/{segment['list_id']}/segments/{segment['id']}/members"
        return self.sim.collection(request, "members", self.records(segment, include),
                                   self.sim.member_api.renderer(request, "members"), path,
                                   "Lists/Segments/Members/Collection")  # fmt: skip

    async def search(self, request: Request) -> Response:
        lst = self.sim.audience(request)
        prefix = (query_param(request, "name") or "").lower()
        tags = [{"id": s["id"], "name": s["name"]} for s in self.sim.segments[lst["id"]].values()
                if s["type"] == "static" and s["name"].lower().startswith(prefix)]  # fmt: skip
        return self.sim.json(request, {"tags": tags, "total_items": len(tags)})
