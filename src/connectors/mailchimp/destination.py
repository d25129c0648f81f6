"""Writing Mailchimp: tags (static segments) on the audience, and new members.

* ``kind = "tag"``: one tag per sync, found by exact name among the audience's segments or
  created (``POST /lists/{id}/segments`` with an empty ``static_segment``); its segment id is
  the audience id. A lost create answer is retried, meets "already exists" and finds the tag.
* Membership changes go by email through the bulk endpoint ``POST
  /lists/{id}/segments/{segment_id}`` (``members_to_add`` / ``members_to_remove``, at most 500
  each): one batch is one bulk call (plus the member lookups and creations it needs), and
  segsync keeps ``concurrency`` batches in flight, which is how Mailchimp's connection
  allowance is used.
* Members are addressed by subscriber hash (``Contact.source_id``). ``Member.email`` is used
  when its hash is the key; otherwise (a profile whose email changed, a removal whose profile
  is gone) the member's email is looked up (``GET .../members/{hash}``).
* Mailchimp silently ignores emails that are not on the audience, and does not list an email
  that already had the tag in ``members_added``: an add that is neither added nor in
  ``errors`` is checked (``GET .../members/{hash}``) — on the audience, it is tagged (a
  success); not on it (or archived), it is a permanent failure "not on the audience". A
  removal of someone not on the audience is a success.
* Per-email ``errors`` fail those emails only, permanently; a bulk call Mailchimp refuses as a
  whole raises, and segsync splits the batch to isolate the bad emails. A tag deleted in
  Mailchimp mid-run fails the adds for a later run (which creates it again); removals are
  then done.
* ``new:<email>`` members (``on_missing = "create"``): with **granted** email-marketing
  consent they are upserted ``subscribed`` (``PUT .../members/{hash}`` with
  ``status_if_new``, which never changes an existing member's status: an unsubscribed member
  is never resubscribed); without it, ``new_members = "pending"`` adds them ``pending``
  (Mailchimp asks them to confirm) and ``"skip"`` (the default) fails them permanently. The
  subscriber hash is the ``delivered_key``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from segsync.connector import (
    NEW_MEMBER_PREFIX,
    AudienceRef,
    AudienceSpec,
    Batch,
    Member,
    Purpose,
    RecordResult,
)
from segsync.errors import AuthError, ConnectorError, FatalError, QuotaError, RetryableError
from segsync.http import HttpClient

from .api import list_path, subscriber_hash
from .settings import MailchimpSettings
from .source import MAX_COUNT, offset_pages

__all__ = ["BULK_MAX", "SKIPPED_NEW_MEMBER", "MailchimpWriter"]

BULK_MAX = 500
"""Emails per ``members_to_add`` / ``members_to_remove``."""
SKIPPED_NEW_MEMBER = 'not created: no granted email-marketing consent (new_members = "skip")'
NOT_ON_AUDIENCE = "not on the audience (not a member, or archived)"

T = TypeVar("T")
R = TypeVar("R")
Op = Literal["add", "remove"]


@dataclass(frozen=True)
class _Outcome:
    """What happened to one email (or one member) in a call."""

    state: Literal["changed", "unchanged", "error", "retry"]
    error: str | None = None


class MailchimpWriter:
    """The destination role: tags on the audience, and new members."""

    def __init__(self, settings: MailchimpSettings, http: HttpClient) -> None:
        self.settings = settings
        self.http = http
        self.max_in_flight = settings.concurrency
        self.list_path = list_path(settings.list_id)

    def batch_limit(self, kind: str) -> int:
        """500: what one bulk call takes."""
        return BULK_MAX

    # -- concurrency ---------------------------------------------------------------------------

    async def _each(
        self, items: Sequence[T], work: Callable[[T], Awaitable[R]]
    ) -> list[R | ConnectorError]:
        """``work(item)`` for every item, at most ``concurrency`` at once; a call's
        :class:`ConnectorError` is returned in its place, except credential and quota errors,
        which stop everything (the other calls are cancelled) and are raised."""
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(item: T) -> R | ConnectorError:
            async with gate:
                try:
                    return await work(item)
                except (AuthError, QuotaError):
                    raise
                except ConnectorError as exc:
                    return exc

        if not items:
            return []
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(item)) for item in items]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    # -- audiences -----------------------------------------------------------------------------

    async def _segments(self) -> list[dict[str, Any]]:
        params = {"fields": "segments.id,segments.name,segments.type,total_items"}
        found: list[dict[str, Any]] = []
        async for answer in offset_pages(self.http, f"{self.list_path}/segments", params,
                                         count=MAX_COUNT,
                                         window=self.settings.concurrency):  # fmt: skip
            found += [s for s in answer.get("segments") or [] if isinstance(s, dict)]
        return found

    async def _find(self, name: str, *, any_case: bool = False) -> dict[str, Any] | None:
        segments = await self._segments()
        exact = [s for s in segments if s.get("name") == name]
        if not exact and any_case:
            exact = [s for s in segments if str(s.get("name", "")).casefold() == name.casefold()]
        return exact[0] if exact else None

    def _ref(self, found: dict[str, Any], spec: AudienceSpec, created: bool) -> AudienceRef:
        kind = found.get("type", "static")
        if kind != "static":
            raise FatalError(
                f"Mailchimp segment {found.get('name')!r} (id {found.get('id')}) is a {kind} "
                "segment: segsync manages tags (static segments) only; rename the audience or "
                "the Mailchimp segment"
            )
        return AudienceRef(id=str(found["id"]), name=spec.name, kind="tag", created=created)

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        if spec.kind != "tag":
            raise FatalError(f"Mailchimp has no audience kind {spec.kind!r} (use tag)")
        found = await self._find(spec.name)
        if found is not None:
            return self._ref(found, spec, created=False)
        try:
            answer = await self.http.json(
                "POST",
                f"{self.list_path}/segments",
                params={"fields": "id,name,type"},
                json={"name": spec.name, "static_segment": []},
            )
        except AuthError:
            raise
        except FatalError:
            # a create whose answer was lost is retried and meets "already exists": the tag
            # is there, which is what we wanted (Mailchimp may compare names ignoring case)
            found = await self._find(spec.name, any_case=True)
            if found is None:
                raise
            return self._ref(found, spec, created=True)
        return self._ref(answer, spec, created=True)

    # -- members -------------------------------------------------------------------------------

    async def _lookup(self, member_hash: str) -> str | None:
        """The email of the member with this hash, or None when it is not on the audience
        (unknown, or archived)."""
        try:
            answer = await self.http.json(
                "GET",
                f"{self.list_path}/members/{quote(member_hash, safe='')}",
                params={"fields": "email_address,status"},
            )
        except FatalError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(answer, dict) or answer.get("status") == "archived":
            return None
        email = answer.get("email_address")
        return str(email) if email else None

    async def _lookup_all(self, hashes: Sequence[str]) -> dict[str, str | ConnectorError | None]:
        found = await self._each(hashes, self._lookup)
        return dict(zip(hashes, found, strict=True))

    async def _create(self, member: Member) -> tuple[str, str] | RecordResult:
        """Upsert a ``new:`` member; ``(hash, email)``, or its failure when it is skipped."""
        email = (member.email or member.key[len(NEW_MEMBER_PREFIX) :]).strip()
        if member.consent.get(Purpose.EMAIL_MARKETING) is True:
            status = "subscribed"
        elif self.settings.new_members == "pending":
            status = "pending"
        else:
            return RecordResult.failure(member.key, "add", SKIPPED_NEW_MEMBER, permanent=True)
        member_hash = subscriber_hash(email)
        # status_if_new only: an existing member keeps its status (never resubscribed);
        # skip_merge_validation: segsync sends no merge fields, even if the audience
        # requires some
        await self.http.json(
            "PUT",
            f"{self.list_path}/members/{member_hash}",
            params={"skip_merge_validation": "true", "fields": "id,status"},
            json={"email_address": email, "status_if_new": status},
        )
        return member_hash, email

    async def create_missing(
        self, members: list[Member]
    ) -> tuple[dict[str, tuple[str, str]], list[RecordResult]]:
        """Create the ``new:`` members. Returns ``(hash, email)`` by member key, and a failure
        for each one not created."""
        unique = list({m.key: m for m in members}.values())
        created: dict[str, tuple[str, str]] = {}
        failed: list[RecordResult] = []
        for member, outcome in zip(unique, await self._each(unique, self._create), strict=True):
            if isinstance(outcome, RecordResult):
                failed.append(outcome)
            elif isinstance(outcome, ConnectorError):
                permanent = not isinstance(outcome, RetryableError)
                failed.append(
                    RecordResult.failure(
                        member.key, "add", f"create: {outcome}", permanent=permanent
                    )
                )
            else:
                created[member.key] = outcome
        return created, failed

    # -- membership ----------------------------------------------------------------------------

    async def _bulk_call(self, segment: str, op: Op, emails: list[str]) -> list[_Outcome]:
        key = "members_added" if op == "add" else "members_removed"
        try:
            answer = await self.http.json(
                "POST",
                f"{self.list_path}/segments/{quote(segment, safe='')}",
                params={"fields": f"{key}.id,{key}.email_address,errors"},
                json={"members_to_add" if op == "add" else "members_to_remove": emails},
            )
        except FatalError as exc:
            if exc.status != 404:
                raise  # segsync splits the batch to find the email Mailchimp refuses
            if op == "remove":  # no tag, so no one carries it
                return [_Outcome("unchanged")] * len(emails)
            # not a per-email problem (no bisecting): the next run creates the tag again
            raise RetryableError(
                f"the tag (segment {segment}) is gone from Mailchimp, deleted since this run "
                "found it; the next run creates it again",
                status=404,
            ) from None
        answer = answer if isinstance(answer, dict) else {}
        changed = {
            str(m.get("id") or subscriber_hash(str(m.get("email_address") or "")))
            for m in answer.get(key) or []
            if isinstance(m, dict)
        }
        errors: dict[str, str] = {}
        for error in answer.get("errors") or []:
            if not isinstance(error, dict):
                continue
            for email in error.get("email_addresses") or []:
                errors[subscriber_hash(str(email))] = str(error.get("error") or "rejected")
        out = []
        for email in emails:
            h = subscriber_hash(email)
            if h in errors:
                out.append(_Outcome("error", f"Mailchimp: {errors[h]}"))
            else:
                out.append(_Outcome("changed" if h in changed else "unchanged"))
        return out

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        segment = batch.audience.id
        news = [m for m in batch.adds if m.key.startswith(NEW_MEMBER_PREFIX)]
        created, results = await self.create_missing(news) if news else ({}, [])

        # (member, op, hash, email when known)
        targets: list[tuple[Member, Op, str, str | None]] = []
        for m in batch.adds:
            if m.key.startswith(NEW_MEMBER_PREFIX):
                if m.key in created:
                    targets.append((m, "add", *created[m.key]))
            else:
                targets.append((m, "add", m.key, _email_of(m, m.key)))
        targets += [(m, "remove", m.key, _email_of(m, m.key)) for m in batch.removes]

        # members whose email is not known: look it up (None: not on the audience)
        looked = await self._lookup_all(
            list(dict.fromkeys(h for _, _, h, e in targets if e is None))
        )
        emails: dict[str, str] = {h: e for _, _, h, e in targets if e is not None}
        emails.update({h: e for h, e in looked.items() if isinstance(e, str)})
        on_audience = {h for h, e in looked.items() if isinstance(e, str)}

        outcomes: dict[tuple[Op, str], _Outcome] = {}
        for op in ("add", "remove"):
            wanted = list(dict.fromkeys(h for _, o, h, _ in targets if o == op and h in emails))
            sent = list(dict.fromkeys(emails[h] for h in wanted))
            bulk = (
                dict(zip(sent, await self._bulk_call(segment, op, sent), strict=True))
                if sent
                else {}
            )
            outcomes.update({(op, h): bulk[emails[h]] for h in wanted})

        # adds Mailchimp neither tagged nor refused, and refused removes: on the audience?
        check = list(dict.fromkeys(
            h for (op, h), o in outcomes.items()
            if (op == "add" and o.state == "unchanged" and h not in on_audience)
            or (op == "remove" and o.state == "error")
        ))  # fmt: skip
        checked = await self._lookup_all(check)

        for m, op, h, _ in targets:
            results.append(self._result(m, op, h, looked.get(h, ""), outcomes.get((op, h)),
                                        checked.get(h, "")))  # fmt: skip
        return results

    def _result(
        self,
        member: Member,
        op: Op,
        member_hash: str,
        looked: str | ConnectorError | None,
        outcome: _Outcome | None,
        checked: str | ConnectorError | None,
    ) -> RecordResult:
        """One member's result. ``looked``/``checked``: its email lookup before / after the
        bulk call (``""`` when not looked up; None: not on the audience)."""
        delivered = member_hash if member.key.startswith(NEW_MEMBER_PREFIX) else None

        def ok() -> RecordResult:
            return RecordResult(key=member.key, op=op, ok=True, delivered_key=delivered)

        def fail(error: str, *, permanent: bool = True) -> RecordResult:
            return RecordResult.failure(member.key, op, error, permanent=permanent)

        for lookup in (looked, checked):
            if isinstance(lookup, ConnectorError):
                return fail(str(lookup), permanent=not isinstance(lookup, RetryableError))
        if looked is None:
            return ok() if op == "remove" else fail(NOT_ON_AUDIENCE)
        if outcome is None:  # cannot happen: every known email went to the bulk call
            return fail("no answer from Mailchimp for this member", permanent=False)
        if outcome.state == "retry":
            return fail(outcome.error or "transient failure", permanent=False)
        if op == "remove":
            if outcome.state == "error" and checked is not None:
                return fail(outcome.error or "Mailchimp refused the removal")
            return ok()
        if outcome.state == "error":
            return fail(outcome.error or "Mailchimp refused the add")
        if outcome.state == "unchanged" and checked is None:
            return fail(NOT_ON_AUDIENCE)
        return ok()


def _email_of(member: Member, member_hash: str) -> str | None:
    """The member's email when it is the one the hash was made from."""
    email = (member.email or "").strip()
    return email if email and subscriber_hash(email) == member_hash else None
