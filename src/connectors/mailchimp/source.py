"""Reading Mailchimp: the audience's members (full or incremental) and e-commerce orders.

* **Full pull** (no cursor): ``GET /lists/{id}/members`` — every status but archived — a
  snapshot: a member no longer on the audience is gone from the store too.
* **Incremental pull** (cursor = ``<since>/<last full pull>``, ISO 8601 times): the same with
  ``since_last_changed``. Members archived since then are not listed (Mailchimp hides archived
  members unless asked for them), so once the last full pull is older than
  ``full_refresh_days`` the pull is a full one again, which drops them.
* The next cursor is when this pull began, less ``overlap_minutes``: a member changed while the
  pull was paging, or under clock skew, is read again next time rather than missed.
* Pages are read ``concurrency`` at a time: the first page (offset 0) gives ``total_items``,
  the other offsets are then fetched concurrently but yielded **in order**, with at most
  ``concurrency`` pages held in memory. ``fields=`` asks only for what is mapped.
* **Status → email-marketing consent**: ``subscribed`` grants it; ``unsubscribed`` and
  ``cleaned`` deny it; ``pending`` (double opt-in not confirmed) and ``transactional`` say
  nothing.
* **Orders** of the audience's stores (``GET /ecommerce/stores``, then each store's
  ``/orders``) become ``order`` events, read in full each time (a snapshot).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from segsync.connector import Contact, ContactBatch, Event, Page, Purpose
from segsync.errors import FatalError
from segsync.http import HttpClient
from segsync.mapping import unknown_fields
from segsync.values import parse_datetime

from .api import list_path, subscriber_hash
from .settings import MailchimpSettings

__all__ = ["MAX_COUNT", "MemberReader", "offset_pages", "parse_time"]

MAX_COUNT = 1000
"""Mailchimp's largest ``count``."""
_MEMBER_FIELDS = ("id", "email_address", "status", "merge_fields", "stats", "last_changed",
                  "timestamp_opt", "location.country_code")  # fmt: skip
_ORDER_FIELDS = ("id", "customer.email_address", "order_total", "currency_code",
                 "processed_at_foreign", "financial_status")  # fmt: skip
_ANSWER: dict[str, bool] = {"subscribed": True, "unsubscribed": False, "cleaned": False}
"""A member's status as its email-marketing answer (another status says nothing)."""


def parse_time(value: Any) -> dt.datetime | None:
    """Mailchimp's times (``2015-10-21T15:41:36+00:00``) as aware UTC; None when empty or
    unreadable (a platform's odd value is not worth failing a pull for)."""
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return None if moment is None else moment.replace(tzinfo=dt.UTC)


def format_time(value: dt.datetime) -> str:
    """The form Mailchimp's ``since_*`` filters take: ``2015-10-21T15:41:36+00:00``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _total(answer: Any) -> int:
    total = answer.get("total_items") if isinstance(answer, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


async def offset_pages(
    http: HttpClient,
    path: str,
    params: dict[str, Any],
    *,
    count: int,
    window: int,
    speculate: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Every page of an ``offset``/``count`` collection, in order.

    The first answer tells ``total_items``; with ``speculate`` the first ``window`` offsets are
    requested at once, before it is known (pages past the end come back empty, which is cheap,
    and a large pull saves a round trip), else the first page goes alone. Then the window
    slides: a new offset is requested as each page is yielded, so ``window`` requests stay in
    flight and at most ``window`` pages are held. A total that grows while paging is followed.
    """

    async def fetch(offset: int) -> dict[str, Any]:
        answer = await http.json("GET", path, params={**params, "count": count, "offset": offset})
        if not isinstance(answer, dict):
            raise FatalError(f"GET {path}: expected a JSON object, got {type(answer).__name__}")
        return answer

    pending: collections.deque[tuple[int, asyncio.Task[dict[str, Any]]]] = collections.deque()
    total: int | None = None  # unknown until the first answer
    next_offset = 0
    try:
        while True:
            while len(pending) < window and (total is None or next_offset < total):
                pending.append((next_offset, asyncio.ensure_future(fetch(next_offset))))
                next_offset += count
                if total is None and (not speculate or len(pending) >= window):
                    break
            if not pending:
                return
            offset, task = pending.popleft()
            answer = await task
            total = max(total or 0, _total(answer))
            if offset == 0 or offset < total:
                yield answer
    finally:
        for _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)


class MemberReader:
    """The source role: Mailchimp members and orders as :class:`Contact` and :class:`Event`
    pages."""

    def __init__(
        self,
        settings: MailchimpSettings,
        http: HttpClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self.list_path = list_path(settings.list_id)
        self.members_path = f"{self.list_path}/members"

    # -- members -----------------------------------------------------------------------------

    async def merge_field_problems(self) -> list[str]:
        """One line per mapped merge tag (``merge_fields``) the audience does not have, with
        the one it may mean (``FIRSTNAME`` → ``FNAME``, "First Name"): a member's answer
        simply lacks an unknown tag, so a typo would empty the attribute for everyone."""
        if not self.settings.merge_fields:
            return []
        answer = await self.http.json(
            "GET",
            f"{self.list_path}/merge-fields",
            params={"count": MAX_COUNT, "fields": "merge_fields.tag,merge_fields.name"},
        )
        defined = {
            str(f["tag"]): str(f.get("name") or "")
            for f in (answer or {}).get("merge_fields") or []
            if isinstance(f, dict) and f.get("tag")
        }
        return unknown_fields(
            self.settings.merge_fields, defined, key="merge_fields", what="merge tag"
        )

    def streams(self) -> tuple[str, ...]:
        return ("contacts", "events") if self.settings.orders else ("contacts",)

    def events(self, cursor: str | None) -> AsyncIterator[Page[Event]]:
        """The stores' orders, read in full each time (a snapshot)."""
        return self.orders()

    def contact(self, member: dict[str, Any]) -> Contact:
        """A member as a contact."""
        return self.batch([member])[0]

    def batch(self, members: list[dict[str, Any]]) -> ContactBatch:
        """A page of members as columns (staged a column at a time; see
        :class:`~segsync.connector.ContactBatch`)."""
        emails = [str(m.get("email_address") or "").strip() for m in members]
        merges: list[dict[str, Any]] = [m.get("merge_fields") or {} for m in members]
        stats: list[dict[str, Any]] = [m.get("stats") or {} for m in members]
        attributes = {
            attr: [_value(merge.get(tag)) for merge in merges]
            for attr, tag in self.settings.merge_fields.items()
        }
        # a stats attribute named like a merge field takes its place (as dict.update would)
        attributes.update(
            {attr: [s.get(key) for s in stats] for attr, key in self.settings.stats.items()}
        )
        answers = [_ANSWER.get(str(m.get("status"))) for m in members]
        changed = [parse_time(m.get("last_changed")) for m in members]
        # when the answer was given: the opt-in time of a subscription; for an unsubscribe or
        # a cleaned address Mailchimp keeps no time of its own, so the member's last change
        # (an unchanged status keeps the time segsync first saw it with)
        given: list[dt.datetime | None] = []
        for member, answer, when in zip(members, answers, changed, strict=True):
            opted_in = parse_time(member.get("timestamp_opt")) if answer else None
            given.append(None if answer is None else opted_in or when)
        phones = [merge.get("PHONE") for merge in merges]
        countries = [
            str((m.get("location") or {}).get("country_code") or "").strip() for m in members
        ]
        return ContactBatch(
            source_id=[
                str(m.get("id") or subscriber_hash(email))
                for m, email in zip(members, emails, strict=True)
            ],
            email=[email or None for email in emails],
            phone=[(p.strip() or None) if isinstance(p, str) else None for p in phones],
            attributes=attributes,
            consent={Purpose.EMAIL_MARKETING: answers},
            consent_at={Purpose.EMAIL_MARKETING: given},
            updated_at=changed,
            country=[c.upper() if len(c) == 2 and c.isalpha() else None for c in countries],
        )

    def _next_cursor(self, began: float, full_at: str) -> str:
        """``<since>/<last full pull>`` (ISO 8601 times): where the next incremental pull
        starts (this pull's start less the overlap), and when the last full pull began."""
        moment = began - self.settings.overlap_minutes * 60
        return f"{format_time(dt.datetime.fromtimestamp(moment, tz=dt.UTC))}/{full_at}"

    def _parse_cursor(self, cursor: str) -> tuple[dt.datetime, dt.datetime]:
        since_text, _, full_text = cursor.partition("/")
        since, full_at = parse_time(since_text), parse_time(full_text or since_text)
        if since is None or full_at is None:
            raise FatalError(
                f"the stored Mailchimp cursor {cursor!r} is not '<ISO 8601 time>/<ISO 8601 "
                "time>'; run `segsync pull --full` to read every member again"
            )
        return since, full_at

    async def contacts(self, cursor: str | None) -> AsyncIterator[Page[Contact]]:
        problems = await self.merge_field_problems()
        if problems:  # never pull an attribute empty for everyone
            raise FatalError("; ".join(problems))
        began = self.clock()
        fields = [f"members.{f}" for f in _MEMBER_FIELDS] + ["total_items"]
        params: dict[str, Any] = {"fields": ",".join(fields)}
        full_at = format_time(dt.datetime.fromtimestamp(began, tz=dt.UTC))
        snapshot = True
        if cursor is not None:
            since, last_full = self._parse_cursor(cursor)
            refresh = self.settings.full_refresh_days
            age_days = (began - last_full.timestamp()) / 86_400
            if refresh is None or age_days < refresh:
                params["since_last_changed"] = format_time(since)
                full_at, snapshot = format_time(last_full), False
            # else: the periodic full read, a snapshot that drops archived members
        next_cursor = self._next_cursor(began, full_at)
        async for answer in offset_pages(self.http, self.members_path, params,
                                         count=self.settings.page_size,
                                         window=self.settings.concurrency,
                                         speculate=True):  # fmt: skip
            members = [m for m in answer.get("members") or [] if isinstance(m, dict)]
            yield Page(
                self.batch(members),
                cursor=next_cursor,
                snapshot=snapshot,
                total=_total(answer) or None,
            )

    # -- orders ------------------------------------------------------------------------------

    async def _stores(self) -> list[dict[str, Any]]:
        wanted = self.settings.store_ids
        if wanted:
            return [{"id": store_id} for store_id in wanted]
        params = {"fields": "stores.id,stores.list_id,stores.currency_code,total_items"}
        stores: list[dict[str, Any]] = []
        async for answer in offset_pages(self.http, "/ecommerce/stores", params,
                                         count=MAX_COUNT, window=1):  # fmt: skip
            stores += [s for s in answer.get("stores") or [] if isinstance(s, dict)]
        list_id = self.settings.list_id
        return [s for s in stores if s.get("list_id", list_id) == list_id and s.get("id")]

    async def orders(self) -> AsyncIterator[Page[Event]]:
        fields = ",".join([*(f"orders.{f}" for f in _ORDER_FIELDS), "total_items"])
        yielded = False
        for store in await self._stores():
            store_id = str(store["id"])
            path = f"/ecommerce/stores/{quote(store_id, safe='')}/orders"
            async for answer in offset_pages(self.http, path, {"fields": fields},
                                             count=self.settings.page_size,
                                             window=self.settings.concurrency):  # fmt: skip
                events = [
                    event
                    for order in answer.get("orders") or []
                    if isinstance(order, dict)
                    and (event := self._order(store_id, store, order)) is not None
                ]
                yielded = True
                yield Page(events, snapshot=True)
        if not yielded:  # no store (any more): no orders, which is worth storing too
            yield Page([], snapshot=True)

    def _order(self, store_id: str, store: dict[str, Any], order: dict[str, Any]) -> Event | None:
        email = str((order.get("customer") or {}).get("email_address") or "").strip()
        when = parse_time(order.get("processed_at_foreign"))
        if not email or when is None or not order.get("id"):
            return None  # an order with no customer email or date says nothing about anyone
        try:
            total = order.get("order_total")
            value = None if total in (None, "") else Decimal(str(total))
        except InvalidOperation:
            value = None
        return Event(
            event_id=f"{store_id}:{order['id']}",
            type="order",
            occurred_at=when,
            email=email,
            value=value,
            currency=order.get("currency_code") or store.get("currency_code") or None,
            properties={"store_id": store_id, "financial_status": order.get("financial_status")},
        )


def _value(value: Any) -> Any:
    """A merge field's value; Mailchimp answers ``""`` for a blank field."""
    return None if value == "" else value
