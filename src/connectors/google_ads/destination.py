"""Writing Customer Match lists through the Data Manager API (reference §4.3–§4.5, §4.9).

* **One list per sync** (``kind = "customer_match"``), found by its display name
  (``userLists?filter=display_name = "…"``) or created as a first-party ``CONTACT_ID`` list
  with the instance's ``membership_days``; an existing list whose duration differs is updated
  to it. A create whose answer was lost meets ``DISPLAY_NAME_ALREADY_USED`` on the retry and
  finds the list instead.
* **Members** are sent as ``userData`` with SHA-256 hex identifiers: the email (the member's
  key, normalised by Google's rules — gmail dots and ``+suffix`` dropped) and, with
  ``send_phone``, the E.164 phone number. Nothing else leaves segsync: no raw identifier, no
  name. Each member carries its own consent for ``ad_user_data`` and ``ad_personalization``
  (``CONSENT_GRANTED``); segsync never hands over a member without both.
* **One batch is one request** (``audienceMembers:ingest`` or ``:remove``, at most
  ``members_per_request`` members). Google fails a whole request for one malformed member, so
  every member is normalised and checked here first: one whose email cannot be normalised is
  a permanent failure of that member alone and is not sent. Should Google still refuse the
  request (:class:`FatalError`), segsync splits the batch to isolate the member.
* **Read back**: after a push, the list's size (matched Google users) and match rate, and
  Google's minimum size for serving it (100).

The request body is written as JSON text directly (hex digests and fixed names need no
escaping): a push of a million members spends its time hashing, not encoding dictionaries.
It is written on a thread beside the event loop, so that the pacer starts the requests
already written on time while the next one is being written.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    AudienceStats,
    Batch,
    Member,
    Purpose,
    RecordResult,
)
from segsync.errors import FatalError
from segsync.http import HttpClient
from segsync.model.identity import HEX_ENCODING, ad_email, check_email, check_phone, sha256_hex

from .api import INGEST, REMOVE, user_lists_path
from .settings import GoogleAdsSettings

__all__ = ["KIND", "MIN_SERVING_SIZE", "CustomerMatchWriter", "display_name_filter"]

KIND = "customer_match"
MIN_SERVING_SIZE = 100
"""A Customer Match list is served once it holds this many matched users (reference §4.4)."""
DAY = 86_400
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_GRANTED = '"consent":{"adUserData":"CONSENT_GRANTED","adPersonalization":"CONSENT_GRANTED"}'
_NEEDED = (Purpose.AD_USER_DATA, Purpose.AD_PERSONALIZATION)
_PAGE = 1000


def display_name_filter(name: str) -> str:
    """The AIP-160 filter selecting the list named ``name`` (quotes and backslashes escaped)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'display_name = "{escaped}"'


class CustomerMatchWriter:
    """The destination role: Customer Match lists of one Google Ads account."""

    def __init__(
        self, settings: GoogleAdsSettings, http: HttpClient, ingest: HttpClient | None = None
    ) -> None:
        self.settings = settings
        self.http = http
        """User-list calls (Google's UserListService quotas)."""
        self.ingest = ingest or http
        """Member calls (the IngestionService quotas, paced apart from the list calls)."""
        self.max_in_flight = settings.concurrency
        self.lists_path = user_lists_path(settings.account_type, settings.operating_account_id)
        login = settings.login_path()
        self.list_headers = {"login-account": login} if login else {}
        destination: dict[str, Any] = {
            "operatingAccount": settings.product_account(settings.operating_account_id)
        }
        if settings.login_account_id is not None:
            destination["loginAccount"] = settings.product_account(settings.login_account_id)
        self._destination = destination

    def batch_limit(self, kind: str) -> int:
        """Google takes at most 10,000 members a request (``members_per_request``)."""
        return self.settings.members_per_request

    # -- the list ----------------------------------------------------------------------------

    async def ensure_audience(self, spec: AudienceSpec) -> AudienceRef:
        if spec.kind != KIND:
            raise FatalError(f"Google Ads has no audience kind {spec.kind!r} (use {KIND})")
        found = await self._find(spec.name)
        if found is not None:
            return await self._checked(found, spec, created=False)
        duration = f"{self.settings.membership_days * DAY}s"
        body: dict[str, Any] = {
            "displayName": spec.name,
            "description": spec.description or "Managed by segsync.",
            "membershipDuration": duration,
            "ingestedUserListInfo": {
                "uploadKeyTypes": ["CONTACT_ID"],
                "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
            },
        }
        try:
            created = await self.http.json(
                "POST", self.lists_path, json=body, headers=self.list_headers
            )
        except FatalError:
            # a create whose answer was lost is retried and meets DISPLAY_NAME_ALREADY_USED:
            # the list is there, which is what we wanted; anything else re-raises
            found = await self._find(spec.name)
            if found is None:
                raise
            return await self._checked(found, spec, created=True)
        return await self._checked(created, spec, created=True)

    async def _find(self, name: str) -> dict[str, Any] | None:
        params: dict[str, Any] = {"filter": display_name_filter(name), "pageSize": _PAGE}
        while True:
            answer = await self.http.json(
                "GET", self.lists_path, params=params, headers=self.list_headers
            )
            for item in answer.get("userLists") or []:
                if isinstance(item, dict) and item.get("displayName") == name:
                    return item
            token = answer.get("nextPageToken")
            if not token:
                return None
            params = {**params, "pageToken": token}

    async def _checked(
        self, found: dict[str, Any], spec: AudienceSpec, *, created: bool
    ) -> AudienceRef:
        """The list as an audience, once it is known to take contact data; its membership
        duration brought to the instance's ``membership_days``."""
        info = found.get("ingestedUserListInfo") or {}
        keys = info.get("uploadKeyTypes") or []
        if keys not in (["CONTACT_ID"], [1]) or found.get("readOnly"):
            raise FatalError(
                f"Google Ads list {spec.name!r} (id {found.get('id')}) is not a Customer Match "
                f"list of contact data segsync can write (upload key types {keys}); rename the "
                "audience or the list"
            )
        list_id = str(found["id"])
        wanted = f"{self.settings.membership_days * DAY}s"
        if found.get("membershipDuration") not in (None, wanted):
            await self.http.json(
                "PATCH",
                f"{self.lists_path}/{list_id}",
                params={"updateMask": "membershipDuration"},
                json={"membershipDuration": wanted},
                headers=self.list_headers,
            )
        return AudienceRef(id=list_id, name=spec.name, kind=KIND, created=created)

    async def audience_stats(self, audience: AudienceRef) -> AudienceStats:
        """The list's size (matched Google users, an estimate Google updates as uploads are
        processed) and match rate, as ``userLists.get`` reports them."""
        found = await self.http.json(
            "GET", f"{self.lists_path}/{audience.id}", headers=self.list_headers
        )
        sizes = found.get("sizeInfo") or {}
        contact = (found.get("ingestedUserListInfo") or {}).get("contactIdInfo") or {}
        rate = contact.get("matchRatePercentage", 0)  # proto3 JSON leaves a 0 out
        return AudienceStats(
            size=int(sizes.get("displayNetworkMembersCount", 0)),
            match_rate=int(rate) / 100,
            min_size=MIN_SERVING_SIZE,
        )

    # -- members -----------------------------------------------------------------------------

    async def apply_batch(self, batch: Batch) -> list[RecordResult]:
        adding = bool(batch.adds)
        body, results = await asyncio.to_thread(self._request, batch, adding)
        if body is None:
            return results
        await self.ingest.request(
            "POST",
            INGEST if adding else REMOVE,
            content=body,
            headers={"Content-Type": "application/json"},
            expect_json=True,
        )
        return results

    def _request(self, batch: Batch, adding: bool) -> tuple[bytes | None, list[RecordResult]]:
        """The body of the batch's request (None when no member is usable), and the results
        of the batch once the request succeeds: a success for each member sent, a failure for
        each one left out."""
        op: Literal["add", "remove"] = "add" if adding else "remove"
        encoded, failed = self._encode(batch.adds if adding else batch.removes, op)
        if not encoded:
            return None, failed
        body = self._body(batch.audience.id, encoded, adding)
        return body, [RecordResult(key, op, True) for key, _ in encoded] + failed

    def _encode(
        self, members: Sequence[Member], op: Literal["add", "remove"]
    ) -> tuple[list[tuple[str, str]], list[RecordResult]]:
        """Each usable member as ``(key, its JSON)``, and a failure for each one that is not
        (an email Google's rules cannot normalise; on an add, consent not granted)."""
        adding = op == "add"
        phones = self.settings.send_phone
        encoded: list[tuple[str, str]] = []
        failed: list[RecordResult] = []
        user_data, personalization = _NEEDED
        tail = "]}," + _GRANTED + "}" if adding else "]}}"
        for member in members:
            email = ad_email(member.key)
            if email is None:
                reason = check_email(member.key).reason
                failed.append(
                    RecordResult.failure(
                        member.key,
                        op,
                        f"not an email address Customer Match can use ({reason})",
                        permanent=True,
                    )
                )
                continue
            consent = member.consent
            if adding and (
                consent.get(user_data) is not True or consent.get(personalization) is not True
            ):
                failed.append(
                    RecordResult.failure(
                        member.key, "add", "consent for ad_user_data and ad_personalization "
                        "not granted: not sent",
                    )
                )  # fmt: skip
                continue
            ids = '{"emailAddress":"' + sha256_hex(email) + '"}'
            phone = member.phone if phones else None
            if phone:
                e164 = phone if _E164.fullmatch(phone) else check_phone(phone).value
                if e164 is not None:
                    ids += ',{"phoneNumber":"' + sha256_hex(e164) + '"}'
            encoded.append((member.key, '{"userData":{"userIdentifiers":[' + ids + tail))
        return encoded, failed

    def _body(self, list_id: str, encoded: list[tuple[str, str]], adding: bool) -> bytes:
        destination = json.dumps(
            [{**self._destination, "productDestinationId": list_id}], separators=(",", ":")
        )
        head = f'{{"destinations":{destination},"encoding":"{HEX_ENCODING}",'
        if adding:
            head += '"termsOfService":{"customerMatchTermsOfServiceStatus":"ACCEPTED"},'
        members = ",".join(text for _, text in encoded)
        return f'{head}"audienceMembers":[{members}]}}'.encode()
