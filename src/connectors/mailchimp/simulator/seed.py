"""Seeding audiences: members as a test or ``segsync sandbox`` describes them.

:func:`seed_members` adds or updates members without validation; :func:`contact_rows` turns
the sandbox's contacts.csv rows into such rows (``email_opt_in`` yes → subscribed, no →
unsubscribed, anything else → transactional; ``birth_date`` → ``BIRTHDAY`` as MM/DD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .members import LISTABLE, epoch, subscriber_hash, ts

if TYPE_CHECKING:
    from .app import MailchimpSimulator

__all__ = ["contact_rows", "seed_members"]

_STATUSES = {"yes": "subscribed", "no": "unsubscribed"}
_MERGE_KEYS = (("first_name", "FNAME"), ("last_name", "LNAME"), ("phone", "PHONE"),
               ("birthday", "BIRTHDAY"))  # fmt: skip


def seed_members(
    sim: MailchimpSimulator, list_id: str, rows: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Add or update members (no validation); returns their subscriber hashes. Each row:
    ``email`` (or ``email_address``), ``status`` (subscribed), ``merge_fields`` and/or
    ``first_name``, ``last_name``, ``phone``, ``birthday``; ``tags`` (names), ``language``,
    ``vip``, ``avg_open_rate``, ``avg_click_rate``, ``country`` (the member's
    ``location.country_code``), and ``last_changed`` / ``timestamp_opt`` (ISO 8601) to
    backdate them."""
    members = sim.member_api
    hashes = []
    for row in rows:
        email = str(row.get("email") or row.get("email_address") or "").strip()
        if not email:
            continue
        status = str(row.get("status") or "subscribed")
        if status not in LISTABLE:
            raise ValueError(f"unknown member status {status!r}")
        merge = dict(row.get("merge_fields") or {})
        for key, tag in _MERGE_KEYS:
            if row.get(key):
                merge.setdefault(tag, row[key])
        data = {"email_address": email, "merge_fields": merge}
        data.update({k: row[k] for k in ("language", "vip", "email_type") if k in row})
        existing = sim.members[list_id].get(subscriber_hash(email))
        record = members.write(list_id, data, existing, status)
        for key in ("avg_open_rate", "avg_click_rate"):
            if key in row:
                record["stats"][key] = float(row[key])
        for name in row.get("tags") or []:
            sim.tag_api.tag(list_id, record["id"], str(name), True)
        for key in ("timestamp_opt", "last_changed"):
            if row.get(key):
                record[key] = ts(epoch(str(row[key]), key))
        if row.get("country"):  # Mailchimp geolocates members; seeding says where
            record["location"]["country_code"] = str(row["country"]).upper()
        hashes.append(record["id"])
    members.touch(list_id)
    return hashes


def contact_rows(contacts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """contacts.csv rows as :func:`seed_members` rows."""
    rows = []
    for c in contacts:
        birth = str(c.get("birth_date") or "")
        rows.append({
            "email": c.get("email"), "first_name": c.get("first_name"),
            "status": _STATUSES.get(str(c.get("email_opt_in", "")).lower(), "transactional"),
            "last_name": c.get("last_name"), "phone": c.get("phone"),
            "language": c.get("language") or "",
            "birthday": f"{birth[5:7]}/{birth[8:10]}" if len(birth) >= 10 else "",
            "country": c.get("country") or "",
        })  # fmt: skip
    return rows
