"""Reading HubSpot: contacts (full or incremental) and won deals as order events.

* **Full pull** (no cursor): ``GET /crm/v3/objects/contacts`` page by page, a snapshot — a
  contact no longer there is gone from the store too.
* **Incremental pull** (cursor = epoch ms): ``POST /crm/v3/objects/contacts/search`` for
  ``lastmodifieddate >= cursor``, sorted ascending. Search pages stop at 10,000 results, so
  the walk restarts from the last timestamp it reached (skipping contacts already read at that
  instant); when a whole window shares one timestamp it walks that instant by record id.
* The next cursor is when this pull began, less ``overlap_minutes``: a contact changed while
  the pull was paging, or under clock skew, is read again next time rather than missed.
* Search cannot see deletions, so every ``full_refresh_days`` the pull is a full one again
  (the cursor also records when the last full pull began).
* **Deals** in ``won_stages`` become ``order`` events: amount, close date, currency, and the
  first associated contact. Read in full each time (a snapshot).
* **Consent is dated by the property that gives it**, not by ``lastmodifieddate`` (which any
  write bumps, segsync's own included): the contacts with an answer are read again in batches
  of 100 with ``propertiesWithHistory``, and an answer's time is when its property last took
  its current value. Pages wait for their batch, at most 5,000 contacts' worth: memory stays
  flat however many contacts the portal holds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from segsync.connector import Contact, ContactBatch, Event, Page, Purpose
from segsync.cursors import plan_pull
from segsync.errors import AuthError, FatalError
from segsync.http import CursorPaginator, HttpClient, paginate
from segsync.mapping import unknown_fields
from segsync.values import parse_datetime

from .api import PROPERTIES
from .settings import HubSpotSettings

__all__ = ["ContactReader", "contact_properties", "parse_time"]

CONTACTS = "/crm/v3/objects/contacts"
BATCH_MAX = 100
HELD_MAX = 5000
"""The most contacts held while gathering answers to date (a batch read of their history)."""
DEALS = "/crm/v3/objects/deals"
_BUILTIN = ("email", "phone", "mobilephone", "country", "hs_email_optout", "hs_legal_basis",
            "lastmodifieddate")  # fmt: skip
_DEAL_PROPERTIES = ("amount", "closedate", "dealstage", "deal_currency_code", "pipeline",
                    "dealname")  # fmt: skip


def contact_properties(settings: HubSpotSettings) -> list[str]:
    """The contact properties a pull asks for: identity, consent, and the mapped ones."""
    return list(dict.fromkeys([*_BUILTIN, *settings.properties.values()]))


def parse_time(value: Any) -> dt.datetime | None:
    """HubSpot's datetimes: ISO 8601 (``2024-01-02T03:04:05.678Z``) or epoch milliseconds."""
    if type(value) is str and value[-1:] == "Z":  # the usual form, read at once
        try:
            return dt.datetime.fromisoformat(value)  # aware, in UTC
        except ValueError:
            pass
    text = "" if value is None else str(value)
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, tz=dt.UTC)
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    return None if moment is None else moment.replace(tzinfo=dt.UTC)


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


_CONSENT_PROPERTIES = ("hs_email_optout", "hs_legal_basis")


def _answer(props: dict[str, Any]) -> tuple[bool, str] | None:
    """Email-marketing consent from HubSpot's own fields (None: no answer), and the property
    that gave it.

    ``hs_email_optout = true`` (unsubscribed from all email) is a denial. A legal basis of
    consent (``hs_legal_basis`` naming "consent", GDPR portals) is a grant. Anything else says
    nothing: not being unsubscribed is not consent.
    """
    if str(props.get("hs_email_optout") or "").lower() == "true":
        return False, "hs_email_optout"
    if "consent" in str(props.get("hs_legal_basis") or "").lower():
        return True, "hs_legal_basis"
    return None


def _country(props: dict[str, Any]) -> str | None:
    country = str(props.get("country") or "").strip()
    return country.upper() if len(country) == 2 and country.isalpha() else None


def _answered_at(record: dict[str, Any], prop: str) -> dt.datetime | None:
    """When ``prop`` took the value it has now, from ``propertiesWithHistory`` (newest first)."""
    current = str((record.get("properties") or {}).get(prop) or "")
    entries = (record.get("propertiesWithHistory") or {}).get(prop) or []
    if not entries or str(entries[0].get("value") or "") != current:
        return None
    return parse_time(entries[0].get("timestamp"))


class ContactReader:
    """The source role: HubSpot records as :class:`Contact` and :class:`Event` pages."""

    def __init__(
        self,
        settings: HubSpotSettings,
        http: HttpClient,
        search_http: HttpClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.search_http = search_http
        self.clock = clock
        self.properties = contact_properties(settings)

    def contact(self, record: dict[str, Any], history: dict[str, Any] | None = None) -> Contact:
        """A contact from a record; ``history`` is the same record read with
        ``propertiesWithHistory`` (when its consent answer is to be dated)."""
        return self.batch([record], {str(record["id"]): history} if history else {})[0]

    def batch(
        self,
        records: list[dict[str, Any]],
        histories: dict[str, dict[str, Any]],
        answers: list[tuple[bool, str] | None] | None = None,
    ) -> ContactBatch:
        """A page of records as columns; ``histories`` holds records read with
        ``propertiesWithHistory`` by id (those whose consent answer is to be dated);
        ``answers``, each record's consent answer (:func:`_answer`) when already read."""
        props: list[dict[str, Any]] = [r.get("properties") or {} for r in records]
        ids = [str(r["id"]) for r in records]
        if answers is None:
            answers = [_answer(p) for p in props]
        given: list[dt.datetime | None] = [None] * len(records)
        if histories:
            for i, (key, answer) in enumerate(zip(ids, answers, strict=True)):
                history = histories.get(key)
                if history and answer:
                    given[i] = _answered_at(history, answer[1])
        return ContactBatch(
            source_id=ids,
            email=[p.get("email") or None for p in props],
            phone=[p.get("phone") or p.get("mobilephone") or None for p in props],
            attributes={
                attr: [p.get(prop) for p in props]
                for attr, prop in self.settings.properties.items()
            },
            consent={Purpose.EMAIL_MARKETING: [None if a is None else a[0] for a in answers]},
            consent_at={Purpose.EMAIL_MARKETING: given},
            updated_at=[
                parse_time(p.get("lastmodifieddate") or r.get("updatedAt"))
                for p, r in zip(props, records, strict=True)
            ],
            country=[_country(p) if p.get("country") else None for p in props],
        )

    async def _dated(
        self, pages: AsyncIterator[list[dict[str, Any]]]
    ) -> AsyncIterator[ContactBatch]:
        """Contacts from pages of records, their consent answers dated from the properties'
        history: pages are held until 100 contacts with an answer are gathered, whose history
        is then read in one batch call — or until :data:`HELD_MAX` records are held, so memory
        stays bounded where answers are sparse. Pages with no answer to date pass on at once."""
        held: list[tuple[list[dict[str, Any]], list[tuple[bool, str] | None]]] = []
        wanted: list[str] = []
        count = 0
        async for records in pages:
            answers = [_answer(r.get("properties") or {}) for r in records]
            held.append((records, answers))
            count += len(records)
            if self.settings.consent_history:
                wanted += [str(r["id"]) for r, a in zip(records, answers, strict=True) if a]
            if wanted and len(wanted) < BATCH_MAX and count < HELD_MAX:
                continue
            histories = await self._histories(wanted) if wanted else {}
            for page, page_answers in held:
                yield self.batch(page, histories, page_answers)
            held, wanted, count = [], [], 0
        histories = await self._histories(wanted) if wanted else {}
        for page, page_answers in held:
            yield self.batch(page, histories, page_answers)

    async def _histories(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_MAX):
            body = {
                "inputs": [{"id": i} for i in ids[start : start + BATCH_MAX]],
                "properties": list(_CONSENT_PROPERTIES),
                "propertiesWithHistory": list(_CONSENT_PROPERTIES),
            }
            answer = await self.http.json("POST", f"{CONTACTS}/batch/read", json=body)
            for result in answer.get("results") or []:  # a contact deleted meanwhile: absent
                out[str(result.get("id"))] = result
        return out

    async def property_problems(self) -> list[str] | None:
        """One line per mapped property (``properties``) that is no contact property of the
        portal, with the one it may mean: a close name, or the one whose label it spells
        (``first_name`` → ``firstname``, labelled "First Name"). HubSpot leaves a requested
        property it does not define out of its answer, without an error, so a typo would empty
        the attribute for everyone. None when the token cannot read the definitions (that
        needs the scope ``crm.schemas.contacts.read``)."""
        if not self.settings.properties:
            return []
        try:
            answer = await self.http.json("GET", PROPERTIES)
        except AuthError:
            return None
        labels = {
            str(d["name"]): str(d.get("label") or "")
            for d in (answer or {}).get("results") or []
            if isinstance(d, dict) and d.get("name")
        }
        return unknown_fields(
            self.settings.properties, labels, key="properties", what="contact property"
        )

    def streams(self) -> tuple[str, ...]:
        return ("contacts", "events") if self.settings.deals else ("contacts",)

    def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        """Won deals as ``order`` events, read in full each time (a snapshot)."""
        return self.orders()

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        settings = self.settings
        problems = await self.property_problems()
        if problems:  # never pull an attribute empty for everyone
            raise FatalError("; ".join(problems))
        read = plan_pull(
            cursor,
            began=self.clock(),
            overlap_minutes=settings.overlap_minutes,
            full_refresh_days=settings.full_refresh_days,
            platform="HubSpot",
        )
        if read.since is not None:
            async for page in self._dated(self._changed_since(read.since)):
                yield Page(page, cursor=read.next_cursor)
            return
        # first pull, --full, or the periodic full read that notices deleted contacts
        async for page in self._dated(self._full()):
            yield Page(page, cursor=read.next_cursor, snapshot=True)

    async def _full(self) -> AsyncIterator[list[dict[str, Any]]]:
        params = {"limit": self.settings.page_size, "properties": ",".join(self.properties)}
        paginator = CursorPaginator("paging.next.after", "after")
        async for response in paginate(self.http, "GET", CONTACTS, paginator, params=params):
            yield list(response.json().get("results", []))

    async def _search(self, filters: list[dict[str, Any]], sort: str, after: int) -> Any:
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.settings.search_page_size,
            "after": str(after),
        }
        return await self.search_http.json("POST", f"{CONTACTS}/search", json=body)

    async def _window(
        self, filters: list[dict[str, Any]], sort: str
    ) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Page one search until it ends (yields ``(records, False)``) or reaches the result
        cap (the last page yields ``(records, True)``)."""
        after, size, cap = 0, self.settings.search_page_size, self.settings.search_result_cap
        while True:
            answer = await self._search(filters, sort, after)
            records = answer.get("results", [])
            nxt = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not records or nxt is None:
                yield records, False
                return
            after = int(nxt)
            if after + size > cap:
                yield records, True
                return
            yield records, False

    async def _changed_since(self, since: int) -> AsyncIterator[list[dict[str, Any]]]:
        op, bound = "GTE", since
        skip: set[str] = set()  # ids already read at the instant a restarted walk begins at
        while True:
            filters = [{"propertyName": "lastmodifieddate", "operator": op, "value": str(bound)}]
            latest, at_latest = bound, set(skip)  # the latest instant reached, and its ids
            capped = False
            async for records, at_cap in self._window(filters, "lastmodifieddate"):
                capped = at_cap
                fresh = [r for r in records if str(r["id"]) not in skip]
                for r in records:
                    stamp = parse_time((r.get("properties") or {}).get("lastmodifieddate"))
                    if stamp is None:
                        continue
                    ms = _ms(stamp)
                    if ms > latest:
                        latest, at_latest = ms, set()
                    if ms == latest:
                        at_latest.add(str(r["id"]))
                if fresh:
                    yield fresh
            if not capped:
                return
            if latest == bound:
                # a whole window at one instant: walk that instant by record id, then go on
                async for page in self._instant(bound, skip):
                    yield page
                op, skip = "GT", set()
                continue
            op, bound, skip = "GTE", latest, at_latest

    async def _instant(self, stamp: int, skip: set[str]) -> AsyncIterator[list[dict[str, Any]]]:
        """Every contact modified exactly at ``stamp`` (but those in ``skip``), by record id."""
        after_id = 0
        while True:
            filters = [
                {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(stamp)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
            ]
            capped, last_id = False, after_id
            async for records, at_cap in self._window(filters, "hs_object_id"):
                capped = at_cap
                fresh = [r for r in records if str(r["id"]) not in skip]
                if fresh:
                    yield fresh
                if records:
                    last_id = max(last_id, *(int(r["id"]) for r in records))
            if not capped:
                return
            after_id = last_id

    async def orders(self) -> AsyncIterator[Page[Event]]:
        params = {
            "limit": self.settings.page_size,
            "properties": ",".join(_DEAL_PROPERTIES),
            "associations": "contacts",
        }
        won = set(self.settings.won_stages)
        paginator = CursorPaginator("paging.next.after", "after")
        async for response in paginate(self.http, "GET", DEALS, paginator, params=params):
            events = [
                event
                for record in response.json().get("results", [])
                if (record.get("properties") or {}).get("dealstage") in won
                and (event := self._order(record)) is not None
            ]
            yield Page(events, snapshot=True)

    def _order(self, record: dict[str, Any]) -> Event | None:
        props: dict[str, Any] = record.get("properties") or {}
        links = ((record.get("associations") or {}).get("contacts") or {}).get("results") or []
        if not links:
            return None  # a deal with no contact says nothing about anyone
        when = parse_time(props.get("closedate")) or parse_time(record.get("createdAt"))
        if when is None:
            return None
        try:
            value = Decimal(str(props["amount"])) if props.get("amount") else None
        except InvalidOperation:
            value = None
        return Event(
            event_id=f"deal-{record['id']}",
            type="order",
            occurred_at=when,
            contact_id=str(links[0]["id"]),
            value=value,
            currency=props.get("deal_currency_code") or self.settings.default_currency,
            properties={"deal_name": props.get("dealname"), "pipeline": props.get("pipeline")},
        )
