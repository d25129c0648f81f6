"""Seeding an org from the sandbox's synthetic audience (``contacts.csv`` rows as dicts).

Deterministic for a seed. Each row with a name becomes, by a seeded draw:

* a **Contact** (about 75%);
* an unconverted **Lead** (about 15%) with a made-up ``Company``;
* a **converted Lead** and the Contact it became (about 10%): ``IsConverted``,
  ``ConvertedContactId``, ``Status = "Closed - Converted"``.

Besides: about 4% of Contacts with an email get an unconverted Lead with the same email (the
identity rule must pick one); ``HasOptedOutOfEmail`` is true where ``email_opt_in`` is ``no``,
set by an update at ``updated_at`` so the field history holds when the answer was given;
``CreatedDate`` comes from ``signup_date`` and ``LastModifiedDate``/``SystemModstamp`` from
``updated_at``. About 6% of Contacts have a closed-won Opportunity with a primary
OpportunityContactRole (a third of those also a non-primary role for another Contact), and a
few have open or closed-lost ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .data import OPEN_STAGES, Org

__all__ = ["SeedSummary", "seed_org"]

_SUFFIXES = ("Ltd", "GmbH", "SA", "BV", "Inc", "& Co", "Group", "Partners")


@dataclass
class SeedSummary:
    contacts: int = 0
    leads: int = 0
    converted_leads: int = 0
    shared_email_leads: int = 0
    opportunities: int = 0
    contact_roles: int = 0
    ids_by_row: dict[str, str] = field(default_factory=dict)  # row id → Contact/Lead id


def _ms(text: str, fallback: int) -> int:
    text = text.strip()
    if not text:
        return fallback
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).date().isoformat()


def seed_org(org: Org, rows: list[dict[str, Any]], *, seed: int, user_id: str) -> SeedSummary:
    rng = random.Random(f"salesforce-seed-{seed}")  # noqa: S311 - demo data, not secrets
    out = SeedSummary()
    now = org.now_ms()
    contacts: list[str] = []
    for row in rows:
        last = str(row.get("last_name") or "").strip()
        if not last:
            continue
        email = str(row.get("email") or "").strip() or None
        created = _ms(str(row.get("signup_date") or ""), now)
        modified = max(_ms(str(row.get("updated_at") or ""), created), created)
        person = {
            "FirstName": str(row.get("first_name") or "").strip() or None,
            "LastName": last,
            "Email": email,
            "Phone": str(row.get("phone") or "").strip() or None,
            "HasOptedOutOfEmail": False,
        }
        opted_out = str(row.get("email_opt_in") or "").lower() == "no"
        where = {"City": row.get("city") or None, "Country": row.get("country") or None}
        company = f"{last} {rng.choice(_SUFFIXES)}"
        roll = rng.random()
        if roll < 0.15:
            lead = org.insert(
                "Lead",
                {
                    **person,
                    **where,
                    "Company": company,
                    "Status": rng.choice(("Open - Not Contacted", "Working - Contacted")),
                    "LeadSource": "Web",
                },
                user_id=user_id,
                created=created,
                modified=modified,
            )
            out.leads += 1
            out.ids_by_row[str(row.get("id"))] = lead["Id"]
            if opted_out:
                _opt_out(org, "Lead", lead["Id"], modified, user_id)
            continue
        mailing = {"MailingCity": where["City"], "MailingCountry": where["Country"]}
        if roll < 0.25:
            lead = org.insert(
                "Lead",
                {
                    **person,
                    **where,
                    "Company": company,
                    "LeadSource": "Web",
                    "Status": "Closed - Converted",
                },
                user_id=user_id,
                created=created,
                modified=created,
            )
            contact = org.insert(
                "Contact",
                {**person, **mailing, "LeadSource": "Web"},
                user_id=user_id,
                created=modified,
                modified=modified,
            )
            org.convert_lead(lead["Id"], contact["Id"], modified=modified)
            out.leads += 1
            out.converted_leads += 1
        else:
            contact = org.insert(
                "Contact",
                {**person, **mailing},
                user_id=user_id,
                created=created,
                modified=modified,
            )
        if opted_out:
            _opt_out(org, "Contact", contact["Id"], modified, user_id)
        out.contacts += 1
        contacts.append(contact["Id"])
        out.ids_by_row[str(row.get("id"))] = contact["Id"]
        if email and rng.random() < 0.04:
            org.insert(
                "Lead",
                {
                    **person,
                    **where,
                    "Company": f"{last} {rng.choice(_SUFFIXES)}",
                    "HasOptedOutOfEmail": opted_out,
                },
                user_id=user_id,
                created=modified,
                modified=modified,
            )
            out.leads += 1
            out.shared_email_leads += 1
        _opportunities(org, rng, out, contacts, created, modified, user_id)
    return out


def _opt_out(org: Org, obj: str, rid: str, when: int, user_id: str) -> None:
    org.update(obj, rid, {"HasOptedOutOfEmail": True}, modified=when, user_id=user_id)


def _opportunities(
    org: Org,
    rng: random.Random,
    out: SeedSummary,
    contacts: list[str],
    created: int,
    modified: int,
    user_id: str,
) -> None:
    roll = rng.random()
    if roll >= 0.08:
        return
    if roll < 0.06:
        stage = "Closed Won"
    elif roll < 0.07:
        stage = "Closed Lost"
    else:
        stage = rng.choice(OPEN_STAGES)
    contact = contacts[-1]
    start = date.fromisoformat(_day(created))
    span = max((date.fromisoformat(_day(modified)) - start).days, 0)
    close = start + timedelta(days=rng.randint(0, span))
    opportunity = org.insert(
        "Opportunity",
        {
            "Name": f"Deal {len(org.records['Opportunity']) + 1}",
            "StageName": stage,
            "Amount": float(rng.randrange(5_000, 500_000)) / 100,
            "CloseDate": close.isoformat(),
            "ContactId": contact,
        },
        user_id=user_id,
        created=created,
        modified=modified,
    )
    out.opportunities += 1
    roles = [(contact, True)]
    if len(contacts) > 1 and rng.random() < 1 / 3:
        other = rng.choice(contacts[:-1])
        roles.append((other, False))
    for person, primary in roles:
        org.insert(
            "OpportunityContactRole",
            {
                "OpportunityId": opportunity["Id"],
                "ContactId": person,
                "IsPrimary": primary,
                "Role": "Decision Maker" if primary else "Influencer",
            },
            user_id=user_id,
            created=created,
            modified=modified,
        )
        out.contact_roles += 1
