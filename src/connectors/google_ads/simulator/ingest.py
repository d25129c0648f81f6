"""``audienceMembers:ingest``, ``:remove`` and ``:removeAll`` (reference §4.4, §4.7).

**Fast-fail.** A request is checked whole before anything is applied; any problem fails it
with one 400 listing every field violation. Members are checked by :mod:`.audience`; here:

* 1–``max_destinations`` destinations (``TOO_MANY_DESTINATIONS``), each an ``operatingAccount``
  with ``accountType`` (or the deprecated ``product``, which must agree) ``GOOGLE_ADS`` and a
  numeric ``accountId`` (``INVALID_NUMBER_FORMAT``), an optional ``loginAccount`` likewise, a
  ``productDestinationId`` naming a list of the operating account (``INVALID_USER_LIST_ID``)
  that takes the members' data type (``INVALID_USER_LIST_TYPE``), unique ``reference`` values; the
  caller must reach the account (403 otherwise), which must have made the EU political-ads
  declaration (``EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED``);
* ingest only: ``termsOfService.customerMatchTermsOfServiceStatus`` ``ACCEPTED``
  (``TERMS_AND_CONDITIONS_NOT_SIGNED``). Remove has no ``consent`` or ``termsOfService`` field
  at all, so sending one fails as an unknown field;
* removeAll: ``removeAsOfTime`` not in the future (``INVALID_REMOVE_AS_OF_TIME``).

A valid call answers ``{"requestId"}`` (``{}`` with ``validateOnly``: "only errors are
returned") and is applied asynchronously, ``processing_seconds`` later
(:meth:`IngestionService.settle`): members whose effective consent is denied or unknown are
dropped and counted; the rest are matched against the seeded Google users and upserted on
each list they target (``destinationReferences``, or every destination). A ``CLOSED`` list
takes no new members (members already on it are refreshed).

Only contact data (``userData``, or ``compositeData.userData``) is simulated; other member
types answer 501, as does ``encryptionInfo`` (encrypted identifiers).
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from segsync import collector
from segsync.testing.simulator import json_body, parse_json

from .accounts import Directory
from .audience import KEY_TYPE_OF_DATA, AudienceParser, ParsedMember
from .errors import ApiError, Violations, json_response
from .matching import GoogleUsers
from .oauth import Grant
from .status import DestinationStats, StatusService, Upload
from .userlists import UserListRecord, UserListService
from .wire import parse_message, parse_timestamp

__all__ = ["IngestionService"]

_INTERNAL = "PROCESSING_ERROR_REASON_INTERNAL_ERROR"


class IngestionService:
    """The three ingestion routes, the queue of accepted uploads and their application."""

    def __init__(
        self,
        directory: Directory,
        lists: UserListService,
        users: GoogleUsers,
        statuses: StatusService,
        *,
        clock: Callable[[], float],
        rng: random.Random,
        enforce_access: Callable[[], bool],
        max_members: int,
        max_identifiers: int,
        max_destinations: int,
        member_path: str,
        accept_uppercase_hex: bool,
        consent_override: Literal["field", "object"],
        missing_consent: Literal["drop", "accept"],
        processing_seconds: float,
    ) -> None:
        self.directory = directory
        self.lists = lists
        self.users = users
        self.statuses = statuses
        self.clock = clock
        self._rng = rng
        self._enforce_access = enforce_access
        self.max_destinations = max_destinations
        self.parser = AudienceParser(
            max_members=max_members,
            max_identifiers=max_identifiers,
            member_path=member_path,
            accept_uppercase_hex=accept_uppercase_hex,
            consent_override=consent_override,
            missing_consent=missing_consent,
        )
        self.processing_seconds = processing_seconds
        self.pending: deque[Upload] = deque()

    # -- routes --------------------------------------------------------------------------------

    async def ingest(self, request: Request, grant: Grant) -> Response:
        return await self._members_call(request, grant, "ingest")

    async def remove(self, request: Request, grant: Grant) -> Response:
        return await self._members_call(request, grant, "remove")

    async def remove_all(self, request: Request, grant: Grant) -> Response:
        body = parse_message("RemoveAllAudienceMembersRequest", await json_body(request, empty={}))
        v = Violations()
        targets = self._destinations(body.get("destinations", []), grant, v, None)
        now = self.clock()
        as_of = now
        if "removeAsOfTime" in body:
            as_of = parse_timestamp(body["removeAsOfTime"])
            if as_of > now:
                v.add(
                    "remove_as_of_time",
                    "INVALID_REMOVE_AS_OF_TIME",
                    "The remove as of time must not be in the future.",
                )
        v.raise_if_any()
        if body.get("validateOnly"):
            return json_response({})
        return self._accept("remove_all", body, targets, as_of)

    async def _members_call(
        self, request: Request, grant: Grant, kind: Literal["ingest", "remove"]
    ) -> Response:
        raw = await request.body()
        # a 10,000-member request parses into ~50,000 objects living for the whole call
        # (segsync.collector); no await inside: nothing else runs on this loop meanwhile
        with collector.paused():
            return self._members_sync(raw, grant, kind)

    def _members_sync(
        self, raw: bytes, grant: Grant, kind: Literal["ingest", "remove"]
    ) -> Response:
        message = (
            "IngestAudienceMembersRequest" if kind == "ingest" else "RemoveAudienceMembersRequest"
        )
        body = parse_message(message, parse_json(raw, empty={}))
        if "encryptionInfo" in body:
            raise ApiError(501, message="Encrypted user identifiers are not simulated.")
        v = Violations()
        members = body.get("audienceMembers", [])
        data_type = self.parser.data_type(members)
        targets = self._destinations(body.get("destinations", []), grant, v, data_type)
        refs = {d.get("reference") for d in body.get("destinations", []) if d.get("reference")}
        if kind == "ingest":
            terms = body.get("termsOfService", {}).get("customerMatchTermsOfServiceStatus")
            if terms != "ACCEPTED":
                v.add(
                    "terms_of_service.customer_match_terms_of_service_status",
                    "TERMS_AND_CONDITIONS_NOT_SIGNED",
                    "The Customer Match terms of service must be accepted.",
                )
        request_consent = body.get("consent", {}) if kind == "ingest" else None
        parsed = self.parser.parse(members, body.get("encoding"), request_consent, refs, v)
        del members  # the JSON of 10,000 members can go now
        body.pop("audienceMembers", None)
        v.raise_if_any()
        if data_type not in (None, "userData", "compositeData"):
            raise ApiError(501, message=f"Audience members with {data_type} are not simulated.")
        if body.get("validateOnly"):
            return json_response({})
        return self._accept(kind, body, targets, parsed)

    # -- destinations --------------------------------------------------------------------------

    def _account(self, raw: dict[str, Any], path: str, v: Violations) -> str | None:
        """The id of a ``ProductAccount`` (Google Ads only), or None after a violation."""
        account_type = raw.get("accountType", "ACCOUNT_TYPE_UNSPECIFIED")
        product = raw.get("product", "PRODUCT_UNSPECIFIED")
        if account_type == "ACCOUNT_TYPE_UNSPECIFIED" and product == "PRODUCT_UNSPECIFIED":
            v.add(f"{path}.account_type", "REQUIRED_FIELD_MISSING", "Account type is required.")
            return None
        if product != "PRODUCT_UNSPECIFIED" and account_type not in (
            "ACCOUNT_TYPE_UNSPECIFIED",
            product,
        ):
            v.add(
                f"{path}.account_type",
                "MISMATCHED_ACCOUNT_TYPE",
                "Account type and product do not match.",
            )
            return None
        if (
            product if account_type == "ACCOUNT_TYPE_UNSPECIFIED" else account_type
        ) != "GOOGLE_ADS":
            v.add(
                f"{path}.account_type",
                "INVALID_DESTINATION",
                "Only Google Ads destinations are simulated.",
            )
            return None
        account_id = raw.get("accountId", "")
        if not account_id:
            v.add(f"{path}.account_id", "REQUIRED_FIELD_MISSING", "Account id is required.")
            return None
        if not account_id.isdigit():
            v.add(f"{path}.account_id", "INVALID_NUMBER_FORMAT", "String is not a valid number.")
            return None
        return str(account_id)

    def _destinations(
        self, dests: list[dict[str, Any]], grant: Grant, v: Violations, data_type: str | None
    ) -> list[tuple[UserListRecord | None, str, str | None]]:
        """(list, operating account, login account) per destination."""
        if not dests:
            v.add("destinations", "REQUIRED_FIELD_MISSING", "At least one destination is required.")
            return []
        if len(dests) > self.max_destinations:
            v.add(
                "destinations",
                "TOO_MANY_DESTINATIONS",
                f"At most {self.max_destinations} destinations are allowed in a request.",
            )
            return []
        seen: set[str] = set()
        out: list[tuple[UserListRecord | None, str, str | None]] = []
        for i, dest in enumerate(dests):
            path = f"destinations[{i}]"
            ref = dest.get("reference")
            if ref:
                if ref in seen:
                    v.add(
                        f"{path}.reference",
                        "DUPLICATE_DESTINATION_REFERENCE",
                        "Destination references must be unique.",
                    )
                seen.add(ref)
            if "linkedAccount" in dest:
                v.add(
                    f"{path}.linked_account",
                    "LINKED_ACCOUNT_ONLY_ALLOWED_WITH_DATA_PARTNER_LOGIN_ACCOUNT",
                    "A linked account needs a data partner login account.",
                )
            if "operatingAccount" not in dest:
                v.add(
                    f"{path}.operating_account",
                    "REQUIRED_FIELD_MISSING",
                    "Operating account is required.",
                )
                continue
            operating = self._account(dest["operatingAccount"], f"{path}.operating_account", v)
            login = None
            if "loginAccount" in dest:
                login = self._account(dest["loginAccount"], f"{path}.login_account", v)
                if login is None:
                    continue
            list_id = dest.get("productDestinationId", "")
            if not list_id:
                v.add(
                    f"{path}.product_destination_id",
                    "REQUIRED_FIELD_MISSING",
                    "Product destination id is required.",
                )
            elif not list_id.isdigit():
                v.add(
                    f"{path}.product_destination_id",
                    "INVALID_USER_LIST_ID",
                    "The user list id is not valid.",
                )
            if operating is None or not list_id or not list_id.isdigit():
                continue
            if self._enforce_access():
                self.directory.check_access(grant.principal, operating, login)
            account = self.directory.accounts.get(operating)
            if account is not None and not account.eu_political_ads_declared:
                v.add(
                    f"{path}.operating_account",
                    "EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED",
                    "The account must declare whether it runs EU political advertising.",
                )
            rec = self.lists.find(operating, list_id)
            if rec is None:
                v.add(
                    f"{path}.product_destination_id",
                    "INVALID_USER_LIST_ID",
                    "The user list does not exist in the operating account.",
                )
            elif data_type is not None and KEY_TYPE_OF_DATA.get(data_type) != rec.upload_key_type:
                v.add(
                    f"{path}.product_destination_id",
                    "INVALID_USER_LIST_TYPE",
                    f"The user list takes {rec.upload_key_type} data, not {data_type}.",
                )
            out.append((rec, operating, login))
        return out

    # -- members -------------------------------------------------------------------------------

    # -- accepting and applying ----------------------------------------------------------------

    def _accept(
        self,
        kind: Literal["ingest", "remove", "remove_all"],
        body: dict[str, Any],
        targets: list[tuple[UserListRecord | None, str, str | None]],
        payload: Any,
    ) -> Response:
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        dests = body["destinations"]
        upload = Upload(
            request_id=request_id,
            kind=kind,
            destinations=[_echo(d) for d in dests],
            access=[(operating, login) for _, operating, login in targets],
            ready_at=self.clock() + self.processing_seconds,
            payload=(payload, [rec for rec, _, _ in targets], [d.get("reference") for d in dests]),
        )
        self.statuses.add(upload)
        self.pending.append(upload)
        self.settle()
        return json_response({"requestId": request_id})

    def settle(self) -> None:
        """Apply every accepted upload whose processing time has come, in order, and expire
        memberships that ran out."""
        now = self.clock()
        while self.pending and self.pending[0].ready_at <= now:
            self._apply(self.pending.popleft())
        for rec in self.lists.all_lists():
            rec.members.expire(now)

    def _apply(self, upload: Upload) -> None:
        payload, records, references = upload.payload
        upload.payload = None
        at = upload.ready_at
        upload.stats = [DestinationStats() for _ in records]
        live = [
            rec if rec is not None and self.lists.find(rec.account_id, rec.list_id) is rec else None
            for rec in records
        ]
        if upload.kind == "remove_all":
            for rec in live:
                if rec is not None:
                    rec.members.remove_uploaded_before(payload)
            upload.applied = True
            return
        parsed: list[ParsedMember] = payload
        users = self.users
        for k, (rec, stats) in enumerate(zip(live, upload.stats, strict=True)):
            ref = references[k]
            mine = [p for p in parsed if p[3] is None or ref in p[3]]
            stats.records = len(mine)
            stats.identifiers = sum(p[1] for p in mine)
            if upload.kind == "remove":
                if rec is not None:
                    for digests, _, _, _ in mine:
                        rec.members.remove(digests)
                continue
            errors = stats.errors
            kept = []
            for entry in mine:
                if entry[2] is not None:
                    errors[entry[2]] += 1
                elif rec is None:
                    errors[_INTERNAL] += 1
                else:
                    kept.append(entry[0])
            if rec is None or not kept:
                continue
            members, expires = rec.members, at + rec.duration
            upsert, user_for, closed = (
                members.upsert,
                users.user_for,
                rec.membership_status == "CLOSED",
            )
            matched = 0
            for digests in kept:
                user = user_for(digests)
                if user is not None:
                    matched += 1
                if closed and not members.has_any(digests):
                    continue
                upsert(digests, user, at, expires)
            stats.matched = matched
        upload.applied = True


def _echo(dest: dict[str, Any]) -> dict[str, Any]:
    """A destination as diagnostics repeat it (JSON names, enums as names)."""
    return {k: v for k, v in dest.items() if k != "reference"} | (
        {"reference": dest["reference"]} if dest.get("reference") else {}
    )
