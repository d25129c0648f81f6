"""Seeding the portal from ``segsync sandbox``'s contacts (contacts.csv rows as dicts).

One contact per row with an email (lower-cased; the first row with an email wins), ids from
101: ``email``, ``first_name`` → ``firstname``, ``last_name`` → ``lastname``, ``phone``,
``country``, ``city``, ``language`` → ``hs_language``, and ``email_opt_in`` ``no`` →
``hs_email_optout`` ``true`` (anything else ``false``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["seed_contacts"]


def seed_contacts(sim: HubSpotSimulator, rows: Iterable[Mapping[str, Any]]) -> None:
    store = sim.contact_api
    for row in rows:
        email = str(row.get("email") or "").strip().lower()
        if not email or email in store.by_email:
            continue
        props = {
            "email": email,
            "firstname": row.get("first_name", ""),
            "lastname": row.get("last_name", ""),
            "phone": row.get("phone", ""),
            "country": row.get("country", ""),
            "city": row.get("city", ""),
            "hs_language": row.get("language", ""),
            "hs_email_optout": "true" if row.get("email_opt_in") == "no" else "false",
        }
        store.write(None, props)
