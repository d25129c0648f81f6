"""Reading Salesforce: Contacts and Leads as people, closed-won Opportunities as orders.

* **People.** Contacts and Leads are one stream. Every record keeps its own id
  (``Contact.source_id``), and segsync merges records by normalised email into one profile —
  so a Contact and an unconverted Lead with the same email are one person with both ids. A
  campaign addresses a profile by its smallest record id of this instance: Contact ids
  (``003…``) sort before Lead ids (``00Q…``), so the Contact is preferred. A **converted Lead
  yields to its Contact**: it is read with its Contact's email and nothing else (no consent,
  no attributes: it is read-only history), so it joins the Contact's profile and is never
  addressed (its id stays known, for erasure).
* **Full pull** (first run, ``--full``, every ``full_refresh_days``): every Contact and Lead,
  a snapshot (records deleted in Salesforce leave the store). **Incremental pull** (cursor):
  records whose ``SystemModstamp`` is at or after the previous pull's start less
  ``overlap_minutes``. Queries run as REST pages, or as Bulk API 2.0 jobs above
  ``bulk_threshold`` rows (:meth:`~.api.SalesforceApi.rows`).
* **Consent.** ``HasOptedOutOfEmail = true`` denies email marketing; ``false`` says nothing
  (not being opted out is not consent). The denial is dated by when it was given: the latest
  ``ContactHistory``/``LeadHistory`` row of that field (read once per pull, since the cursor),
  else — no change recorded — the record's ``CreatedDate``. With ``consent_history = false``
  (field history not tracked) answers are left undated and segsync dates each change by the
  pull that first sees it. Never ``LastModifiedDate``: any write bumps it, segsync's own
  included.
* **Orders.** Opportunities with ``IsWon = true`` become ``order`` events (amount, close date,
  currency: ``CurrencyIsoCode`` in a multi-currency org, else ``default_currency``), for the
  contact of their primary ``OpportunityContactRole`` (else their earliest role, else the
  Opportunity's ``ContactId``). Read in full each time (a snapshot).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from segsync.connector import Contact, ContactBatch, Event, Page, Purpose
from segsync.cursors import plan_pull
from segsync.values import parse_amount, parse_bool, parse_date, parse_datetime

from .api import SalesforceApi, in_lists, soql_string
from .settings import SalesforceSettings

__all__ = ["SalesforceReader", "soql_datetime"]

OPT_OUT = "HasOptedOutOfEmail"
_CONTACT = ("Email", "Phone", "MobilePhone", "MailingCountry", OPT_OUT, "CreatedDate",
            "LastModifiedDate")  # fmt: skip
_LEAD = ("Email", "Phone", "MobilePhone", "Country", OPT_OUT, "IsConverted",
         "ConvertedContactId", "CreatedDate", "LastModifiedDate")  # fmt: skip
_HISTORY = (("ContactHistory", "ContactId"), ("LeadHistory", "LeadId"))
Row = dict[str, Any]


def soql_datetime(ms: int) -> str:
    """A SOQL datetime literal (whole seconds, rounded down)."""
    return dt.datetime.fromtimestamp(ms // 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> dt.datetime | None:
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return None if moment is None else moment.replace(tzinfo=dt.UTC)


def _flag(value: Any) -> bool:
    try:
        return parse_bool(value) is True
    except ValueError:
        return False


def _country(value: Any) -> str | None:
    text = str(value or "").strip()
    return text.upper() if len(text) == 2 and text.isalpha() else None


class SalesforceReader:
    """The source role: Contacts and Leads as :class:`Contact` pages, won Opportunities as
    :class:`Event` pages."""

    def __init__(
        self,
        settings: SalesforceSettings,
        api: SalesforceApi,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.api = api
        self.clock = clock

    def streams(self) -> tuple[str, ...]:
        return ("contacts", "events") if self.settings.opportunities else ("contacts",)

    # -- people ------------------------------------------------------------------------------

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        settings = self.settings
        read = plan_pull(
            cursor,
            began=self.clock(),
            overlap_minutes=settings.overlap_minutes,
            full_refresh_days=settings.full_refresh_days,
            platform="Salesforce",
        )
        since, next_cursor = read.since, read.next_cursor
        snapshot = since is None
        where = None if since is None else f"SystemModstamp >= {soql_datetime(since)}"
        history = await self._history(since) if self.settings.consent_history else {}
        sent = False
        async for records in self._people(where, history):
            sent = True
            yield Page(records, cursor=next_cursor, snapshot=snapshot)
        if snapshot and not sent:  # an org without people: the snapshot is empty
            yield Page([], cursor=next_cursor, snapshot=True)

    async def _history(self, since: int | None) -> dict[str, tuple[dt.datetime, bool]]:
        """Per record, the latest change of ``HasOptedOutOfEmail``: ``(when, new value)``."""
        latest: dict[str, tuple[dt.datetime, bool]] = {}
        where = f"Field = {soql_string(OPT_OUT)}"
        if since is not None:
            where += f" AND CreatedDate >= {soql_datetime(since)}"
        for sobject, parent in _HISTORY if self.settings.leads else _HISTORY[:1]:
            async for rows in self.api.rows(sobject, (parent, "NewValue", "CreatedDate"), where):
                for row in rows:
                    when, rid = _time(row.get("CreatedDate")), row.get(parent)
                    if when is None or not rid:
                        continue
                    known = latest.get(str(rid))
                    if known is None or when >= known[0]:
                        latest[str(rid)] = (when, _flag(row.get("NewValue")))
        return latest

    def batch(
        self,
        rows: list[Row],
        fields: dict[str, str],
        country: str,
        history: dict[str, tuple[dt.datetime, bool]],
    ) -> ContactBatch:
        """Contacts or unconverted Leads as a page of columns (staged a column at a time;
        see :class:`~segsync.connector.ContactBatch`)."""
        ids = [str(row["Id"]) for row in rows]
        # HasOptedOutOfEmail = true denies email marketing; false says nothing
        answers: list[bool | None] = [False if _flag(r.get(OPT_OUT)) else None for r in rows]
        given: list[dt.datetime | None] = [None] * len(rows)
        if self.settings.consent_history:
            for i, (rid, row, answer) in enumerate(zip(ids, rows, answers, strict=True)):
                if answer is None:
                    continue
                change = history.get(rid)
                given[i] = (
                    change[0] if change is not None and change[1] else _time(row.get("CreatedDate"))
                )
        return ContactBatch(
            source_id=ids,
            email=[r.get("Email") or None for r in rows],
            phone=[r.get("Phone") or r.get("MobilePhone") or None for r in rows],
            attributes={attr: [r.get(name) for r in rows] for attr, name in fields.items()},
            consent={Purpose.EMAIL_MARKETING: answers},
            consent_at={Purpose.EMAIL_MARKETING: given},
            updated_at=[_time(r.get("LastModifiedDate")) for r in rows],
            country=[_country(r.get(country)) for r in rows],
        )

    @staticmethod
    def _converted(lead: Row, email: str | None) -> Contact:
        """A converted Lead: known by its Contact's email, saying nothing else."""
        return Contact(
            source_id=str(lead["Id"]),
            email=email or None,
            updated_at=_time(lead.get("LastModifiedDate")),
        )

    async def _people(
        self, where: str | None, history: dict[str, tuple[dt.datetime, bool]]
    ) -> AsyncIterator[Sequence[Contact]]:
        s = self.settings
        waiting: dict[str, list[Row]] = {}  # Contact id → Leads converted into it
        if s.leads:
            fields = (*_LEAD, *s.lead_fields.values())
            async for rows in self.api.rows("Lead", fields, where):
                unconverted: list[Row] = []
                for row in rows:
                    target = row.get("ConvertedContactId")
                    if _flag(row.get("IsConverted")) and target:
                        waiting.setdefault(str(target), []).append(row)
                    else:
                        unconverted.append(row)
                if unconverted:
                    yield self.batch(unconverted, s.lead_fields, "Country", history)
        fields = (*_CONTACT, *s.contact_fields.values())
        async for rows in self.api.rows("Contact", fields, where):
            batch = self.batch(rows, s.contact_fields, "MailingCountry", history)
            converted = [
                self._converted(lead, row.get("Email"))
                for row in rows
                for lead in waiting.pop(str(row["Id"]), ())
            ]
            # a converted Lead says nothing but its email, which columns cannot say (their
            # attributes would read as empty values): such a page is handed over record by
            # record
            yield [*batch, *converted] if converted else batch
        if waiting:  # converted into Contacts that did not change since the cursor
            async for converted in self._converted_elsewhere(waiting):
                yield converted

    async def _converted_elsewhere(
        self, waiting: dict[str, list[Row]]
    ) -> AsyncIterator[list[Contact]]:
        emails: dict[str, str | None] = {}
        for group in in_lists(list(waiting), self.api.list_budget):
            where = f"Id IN ({', '.join(soql_string(i) for i in group)})"
            async for rows in self.api.rows("Contact", ("Email",), where):
                emails.update({str(r["Id"]): r.get("Email") for r in rows})
        yield [
            self._converted(lead, emails.get(contact))
            for contact, leads in waiting.items()
            for lead in leads
        ]

    # -- orders ------------------------------------------------------------------------------

    def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        """Won Opportunities as ``order`` events, read in full each time (a snapshot)."""
        return self.orders()

    async def orders(self) -> AsyncIterator[Page[Event]]:
        roles: dict[str, tuple[tuple[int, str], str]] = {}  # opportunity → (rank, contact)
        roles_fields = ("OpportunityId", "ContactId", "IsPrimary", "CreatedDate")
        async for rows in self.api.rows("OpportunityContactRole", roles_fields):
            for row in rows:
                opp, contact = str(row.get("OpportunityId") or ""), row.get("ContactId")
                if not opp or not contact:
                    continue
                rank = (0 if _flag(row.get("IsPrimary")) else 1, str(row.get("CreatedDate") or ""))
                if opp not in roles or rank < roles[opp][0]:
                    roles[opp] = (rank, str(contact))
        fields = ["Name", "Amount", "CloseDate", "ContactId"]
        if self.settings.multi_currency:
            fields.append("CurrencyIsoCode")
        sent = False
        async for rows in self.api.rows("Opportunity", fields, "IsWon = true"):
            events = [e for r in rows if (e := self._order(r, roles)) is not None]
            sent = True
            yield Page(events, snapshot=True)
        if not sent:
            yield Page([], snapshot=True)

    def _order(self, row: Row, roles: dict[str, tuple[tuple[int, str], str]]) -> Event | None:
        rid = str(row["Id"])
        role = roles.get(rid)
        contact = role[1] if role is not None else row.get("ContactId")
        try:
            closed = parse_date(row.get("CloseDate"))
            value = parse_amount(row.get("Amount"))
        except ValueError:
            return None
        if not contact or closed is None:
            return None  # an Opportunity with no contact says nothing about anyone
        return Event(
            event_id=f"opportunity-{rid}",
            type="order",
            occurred_at=dt.datetime(closed.year, closed.month, closed.day, tzinfo=dt.UTC),
            contact_id=str(contact),
            value=value,
            currency=row.get("CurrencyIsoCode") or self.settings.default_currency,
            properties={"opportunity_name": row.get("Name")},
        )
