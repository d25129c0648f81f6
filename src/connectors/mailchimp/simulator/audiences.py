"""The account and its audiences (lists).

* ``GET /3.0/`` (the account root) and ``GET /3.0/ping`` → ``{"health_status":
  "Everything's Chimpy!"}``.
* ``GET /3.0/lists`` and ``GET /3.0/lists/{list_id}``, each audience with computed ``stats``
  (member, unsubscribe and cleaned counts, ``total_contacts``, ``merge_field_count``,
  ``last_sub_date``), kept until the audience's members change.
* :meth:`Audiences.create` makes an audience with the ``default_merge_fields``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from .answers import links
from .members import ts
from .merge_fields import DEFAULT_FIELDS

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["Audiences"]


class Audiences:
    def __init__(self, sim: MailchimpSimulator) -> None:
        self.sim = sim
        self._stats: dict[str, tuple[int, dict[str, Any]]] = {}  # list id → (version, stats)

    def create(self, name: str) -> str:
        """A new audience with the ``default_merge_fields``; returns its id."""
        sim = self.sim
        list_id, now, web_id = (
            sim.ids.hex(10),
            ts(sim.wall_clock()),
            sim.ids.unique_int(10**5, 10**6),
        )
        sim.lists[list_id] = {
            "id": list_id, "web_id": web_id, "name": name,
            "contact": {"company": "segsync sandbox", "address1": "1 Example Street",
                        "address2": "", "city": "Atlanta", "state": "GA", "zip": "30308",
                        "country": "US", "phone": ""},
            "permission_reminder": "You signed up on our website.", "use_archive_bar": True,
            "campaign_defaults": {"from_name": name, "from_email": "sandbox@example.org",
                                  "subject": "", "language": "en"},
            "notify_on_subscribe": "", "notify_on_unsubscribe": "", "date_created": now,
            "list_rating": 0, "email_type_option": False,
            "subscribe_url_short": f"http://eepurl.com/{list_id[:6]}",
            "subscribe_url_long": f"https://example.us1.list-manage.com/subscribe?id={list_id}",
            "beamer_address": f"us1-{list_id}@inbound.mailchimp.com", "visibility": "prv",
            "double_optin": False, "has_welcome": False, "marketing_permissions": False,
            "modules": [],
        }  # fmt: skip
        sim.members[list_id], sim.merge_fields[list_id], sim.segments[list_id] = {}, [], {}
        for tag in sim.default_merge_fields:
            label, kind, options = DEFAULT_FIELDS[tag]
            sim.merge_field_api.add(list_id, tag, label, kind, options=options)
        return list_id

    def _member_stats(self, list_id: str) -> dict[str, Any]:
        version = self.sim.member_api.version(list_id)
        kept = self._stats.get(list_id)
        if kept is not None and kept[0] == version:
            return kept[1]
        records = self.sim.members[list_id].values()
        n = Counter(r["status"] for r in records)
        subs = [r["timestamp_opt"] for r in records if r["status"] == "subscribed"]
        stats = {
            "member_count": n["subscribed"], "unsubscribe_count": n["unsubscribed"],
            "cleaned_count": n["cleaned"], "total_contacts": len(records) - n["archived"],
            "member_count_since_send": n["subscribed"],
            "unsubscribe_count_since_send": n["unsubscribed"],
            "cleaned_count_since_send": n["cleaned"], "campaign_count": 0,
            "campaign_last_sent": "", "merge_field_count": 0,
            "avg_sub_rate": 0, "avg_unsub_rate": 0, "target_sub_rate": 0, "open_rate": 0,
            "click_rate": 0, "last_sub_date": max(subs, default=""), "last_unsub_date": "",
        }  # fmt: skip
        self._stats[list_id] = (version, stats)
        return stats

    def to_json(self, base: str, lst: dict[str, Any]) -> dict[str, Any]:
        stats = {**self._member_stats(lst["id"]),
                 "merge_field_count": len(self.sim.merge_fields[lst["id"]])}  # fmt: skip
        return {
            **lst,
            "stats": stats,
            "_links": links(base, f"/lists/{lst['id']}", "Lists/Instance"),
        }

    async def root(self, request: Request) -> Response:
        sim = self.sim
        subscribed = sum(1 for ms in sim.members.values() for r in ms.values()
                         if r["status"] == "subscribed")  # fmt: skip
        return sim.json(request, {
            "account_id": f"{sim.seed:024x}", "login_id": "1", "account_name": "segsync",
            "email": "sandbox@example.org", "first_name": "Sandbox", "last_name": "User",
            "username": "sandbox", "role": "owner", "total_subscribers": subscribed,
            "_links": links(sim.base(request), "/", "Root"),
        })  # fmt: skip

    async def ping(self, request: Request) -> Response:
        return self.sim.json(request, {"health_status": "Everything's Chimpy!"})

    async def list_all(self, request: Request) -> Response:
        sim = self.sim
        constraints = {"may_create": True, "max_instances": -1,
                       "current_total_instances": len(sim.lists)}  # fmt: skip
        return sim.collection(request, "lists", list(sim.lists.values()), self.to_json,
                              "/lists", "Lists/Collection", constraints=constraints)  # fmt: skip

    async def get(self, request: Request) -> Response:
        return self.sim.json(
            request, self.to_json(self.sim.base(request), self.sim.audience(request))
        )
