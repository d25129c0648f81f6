"""``audienceMembers:ingest``, ``:remove`` and ``:removeAll`` (reference §4.4, §4.7).

**Fast-fail.** A request is checked whole before anything is applied; any problem fails it
with one 400 listing every field violation (snake_case paths; audience members under
``audience_members.audience_members[i]`` — the doubled prefix the docs show for events, a
setting). Checked:

* counts: 1–``max_members`` members (``TOO_MANY_AUDIENCE_MEMBERS``), 1–``max_identifiers``
  identifiers a member (``TOO_MANY_USER_IDENTIFIERS``, ``NO_IDENTIFIERS_PROVIDED``),
  1–``max_destinations`` destinations (``TOO_MANY_DESTINATIONS``); one data type a request
  (``MULTIPLE_DATA_TYPES_NOT_ALLOWED``);
* destinations: ``operatingAccount`` with ``accountType`` (or the deprecated ``product``,
  which must agree) ``GOOGLE_ADS`` and a numeric ``accountId`` (``INVALID_NUMBER_FORMAT``),
  optional ``loginAccount`` likewise, ``productDestinationId`` an existing list of the
  operating account (``INVALID_USER_LIST_ID``) of the member's type (``INVALID_USER_LIST_TYPE``),
  unique ``reference``\\s; the caller must reach the account (403 otherwise); the account must
  have made the EU political-ads declaration;
* identifiers: ``encoding`` present (``REQUIRED_FIELD_MISSING``); each identifier exactly one of
  ``emailAddress``/``phoneNumber``/``address``; a hash of 32 bytes in the declared encoding
  (``INVALID_HEX_ENCODING``, ``INVALID_BASE64_ENCODING``, ``INVALID_SHA256_FORMAT``); an address
  with hashed names, a two-letter ``regionCode`` (``INVALID_REGION_CODE``) and a postal code in
  clear (``INVALID_POSTAL_CODE``);
* ingest only: ``termsOfService.customerMatchTermsOfServiceStatus`` ``ACCEPTED``
  (``TERMS_AND_CONDITIONS_NOT_SIGNED``); consent values. Remove has no ``consent`` or
  ``termsOfService`` field at all, so sending one fails as an unknown field.
* removeAll: ``removeAsOfTime`` not in the future (``INVALID_REMOVE_AS_OF_TIME``).

A valid call answers ``{"requestId"}`` (``{}`` with ``validateOnly``) and is applied
asynchronously, ``processing_seconds`` later (:meth:`IngestionService.settle`): consent
is resolved per member (member-level consent overrides the request's, per field or as a whole
object — a setting); members whose effective consent is denied, or unknown while
``missing_consent="drop"``, are dropped and counted (``PROCESSING_ERROR_REASON_*_CONSENT``);
the rest are matched against the seeded Google users and upserted on each target list. A
``CLOSED`` list takes no new members (members already on it are refreshed).

Only contact data (``userData``, or ``compositeData.userData``) is simulated; other member
types answer 501. ``encryptionInfo`` (encrypted identifiers) answers 501 too.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from .accounts import Directory
from .errors import ApiError, Violations, json_response, payload_error
from .matching import GoogleUsers, address_key
from .oauth import Grant
from .status import DestinationStats, StatusService, Upload
from .userlists import UserListRecord, UserListService
from .wire import ENUMS, parse_message, parse_timestamp

__all__ = ["IngestionService"]

_MEMBER_FIELDS = frozenset(
    {"destinationReferences", "userData", "pairData", "mobileData", "userIdData", "ppidData",
     "compositeData", "googleUserIdData", "partnerProvidedIdData", "consent"}
)  # fmt: skip
_DATA_FIELDS = _MEMBER_FIELDS - {"destinationReferences", "consent"}
_ALIASES = {
    "destination_references": "destinationReferences", "user_data": "userData",
    "pair_data": "pairData", "mobile_data": "mobileData", "user_id_data": "userIdData",
    "ppid_data": "ppidData", "composite_data": "compositeData",
    "google_user_id_data": "googleUserIdData",
    "partner_provided_id_data": "partnerProvidedIdData", "user_identifiers": "userIdentifiers",
    "email_address": "emailAddress", "phone_number": "phoneNumber", "given_name": "givenName",
    "family_name": "familyName", "region_code": "regionCode", "postal_code": "postalCode",
    "address_line": "addressLine", "administrative_area": "administrativeArea",
    "ad_user_data": "adUserData", "ad_personalization": "adPersonalization",
    "ip_data": "ipData",
}  # fmt: skip
_IDENTIFIER_FIELDS = frozenset({"emailAddress", "phoneNumber", "address"})
_ADDRESS_FIELDS = frozenset(
    {"givenName", "familyName", "regionCode", "postalCode", "addressLine", "city",
     "administrativeArea"}
)  # fmt: skip
_CONSENT = ENUMS["ConsentStatus"][1]
_CONSENT_NAMES = {v: k for k, v in _CONSENT.items()}
_US_POSTAL = re.compile(r"\d{5}(?:[- ]?\d{4})?")
_REGION = re.compile(r"[A-Za-z]{2}")
_HEXISH = re.compile(r"[0-9a-fA-F]{32,}")
_DENIED = "PROCESSING_ERROR_REASON_DENIED_CONSENT"
_NO_CONSENT = "PROCESSING_ERROR_REASON_NO_CONSENT"
_UNKNOWN_CONSENT = "PROCESSING_ERROR_REASON_UNKNOWN_CONSENT"
_INTERNAL = "PROCESSING_ERROR_REASON_INTERNAL_ERROR"
_KEY_TYPE_OF_DATA = {"userData": "CONTACT_ID", "compositeData": "CONTACT_ID",
                     "mobileData": "MOBILE_ID", "userIdData": "USER_ID", "pairData": "PAIR_ID",
                     "ppidData": "PSEUDONYMOUS_ID"}  # fmt: skip

# a parsed member: (identifier digests, identifier count, consent error or None, destination
# references or None)
_Parsed = tuple[list[bytes], int, str | None, tuple[str, ...] | None]


def _canon(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """Accept proto (snake_case) spellings of a member's fields."""
    if all(key not in _ALIASES for key in raw):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name in out:
            raise payload_error(
                f"Invalid JSON payload received. Field \"{key}\" is set twice at '{path}'.", path
            )
        out[name] = value
    return out


def _unknown(key: str, path: str) -> ApiError:
    return payload_error(
        f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field.",
        path,
    )


def _oneof(oneof: str, key: str, path: str) -> ApiError:
    return payload_error(
        f"Invalid JSON payload received. Oneof field '{oneof}' is already set. Cannot set '{key}'",
        path,
    )


def _not_string(path: str, value: Any) -> ApiError:
    return payload_error(f"Invalid value at '{path}' (TYPE_STRING), {json.dumps(value)}", path)


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
        self.max_members = max_members
        self.max_identifiers = max_identifiers
        self.max_destinations = max_destinations
        self.member_path = member_path
        self.accept_uppercase_hex = accept_uppercase_hex
        self.consent_override = consent_override
        self.missing_consent = missing_consent
        self.processing_seconds = processing_seconds
        self.pending: deque[Upload] = deque()

    # -- routes --------------------------------------------------------------------------------

    async def ingest(self, request: Request, grant: Grant) -> Response:
        return await self._members_call(request, grant, "ingest")

    async def remove(self, request: Request, grant: Grant) -> Response:
        return await self._members_call(request, grant, "remove")

    async def remove_all(self, request: Request, grant: Grant) -> Response:
        body = parse_message("RemoveAllAudienceMembersRequest", await _body(request))
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
        message = (
            "IngestAudienceMembersRequest" if kind == "ingest" else "RemoveAudienceMembersRequest"
        )
        body = parse_message(message, await _body(request))
        if "encryptionInfo" in body:
            raise ApiError(501, message="Encrypted user identifiers are not simulated.")
        v = Violations()
        members = body.get("audienceMembers", [])
        data_type = self._data_type(members)
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
        parsed = self._members(members, body.get("encoding"), request_consent, refs, v)
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
            elif data_type is not None and _KEY_TYPE_OF_DATA.get(data_type) != rec.upload_key_type:
                v.add(
                    f"{path}.product_destination_id",
                    "INVALID_USER_LIST_TYPE",
                    f"The user list takes {rec.upload_key_type} data, not {data_type}.",
                )
            out.append((rec, operating, login))
        return out

    # -- members -------------------------------------------------------------------------------

    def _data_type(self, members: list[Any]) -> str | None:
        """The data type of the first member (``userData``, …), for the list-type check."""
        for member in members[:1]:
            if isinstance(member, dict):
                member = _canon(member, "")
                for key in member:
                    if key in _DATA_FIELDS:
                        return key
        return None

    def _consent(
        self, member: dict[str, Any] | None, request: dict[str, Any], path: str
    ) -> str | None:
        """The processing error of a member's effective consent, or None when granted."""
        if member is None:
            ad_user, ad_pers = request.get("adUserData"), request.get("adPersonalization")
        else:
            fields = _canon(member, path)
            for key, raw in fields.items():
                if key not in ("adUserData", "adPersonalization"):
                    raise _unknown(key, path)
                if isinstance(raw, bool) or (raw not in _CONSENT and raw not in _CONSENT_NAMES):
                    raise payload_error(
                        f"Invalid value at '{path}.{_snake(key)}' "
                        f"(type.googleapis.com/google.ads.datamanager.v1.ConsentStatus), "
                        f"{json.dumps(raw)}",
                        f"{path}.{_snake(key)}",
                    )
            given = {k: _CONSENT_NAMES.get(val, val) for k, val in fields.items()}
            given = {k: val for k, val in given.items() if val != "CONSENT_STATUS_UNSPECIFIED"}
            if self.consent_override == "object":
                ad_user, ad_pers = given.get("adUserData"), given.get("adPersonalization")
            else:
                ad_user = given.get("adUserData", request.get("adUserData"))
                ad_pers = given.get("adPersonalization", request.get("adPersonalization"))
        if ad_user == "CONSENT_DENIED" or ad_pers == "CONSENT_DENIED":
            return _DENIED
        if (ad_user == ad_pers == "CONSENT_GRANTED") or self.missing_consent == "accept":
            return None
        unset = (None, "CONSENT_STATUS_UNSPECIFIED")
        if ad_user in unset and ad_pers in unset:
            return _NO_CONSENT
        return _UNKNOWN_CONSENT

    def _members(
        self,
        members: list[Any],
        encoding: str | None,
        request_consent: dict[str, Any] | None,
        refs: set[str],
        v: Violations,
    ) -> list[_Parsed]:
        """Check every member; their digests, identifier counts, consent and references."""
        prefix = self.member_path
        if not members:
            v.add("audience_members", "REQUIRED_FIELD_MISSING", "Audience members are required.")
            return []
        if len(members) > self.max_members:
            v.add(
                "audience_members",
                "TOO_MANY_AUDIENCE_MEMBERS",
                f"At most {self.max_members} audience members are allowed in a request.",
            )
            return []
        if encoding in (None, "ENCODING_UNSPECIFIED"):
            v.add("encoding", "REQUIRED_FIELD_MISSING", "Encoding is required for user data.")
            encoding = None
        default_consent = (
            None if request_consent is None else self._consent(None, request_consent, "consent")
        )
        decode = self._hex if encoding == "HEX" else self._base64
        fast_hex, fromhex = encoding == "HEX" and self.accept_uppercase_hex, bytes.fromhex
        max_ids = self.max_identifiers
        first_type: str | None = None
        out: list[_Parsed] = []
        for i, member in enumerate(members):
            if type(member) is not dict:
                raise payload_error(
                    f"Invalid value at 'audience_members[{i}]' "
                    f"(type.googleapis.com/google.ads.datamanager.v1.AudienceMember), "
                    f"{json.dumps(member)}",
                    f"audience_members[{i}]",
                )
            if not member.keys() <= _MEMBER_FIELDS:
                member = _canon(member, f"audience_members[{i}]")
            data_key = None
            for key in member:
                if key in _DATA_FIELDS:
                    if data_key is not None:
                        raise _oneof("data", key, f"audience_members[{i}]")
                    data_key = key
                elif key not in _MEMBER_FIELDS:
                    raise _unknown(key, f"audience_members[{i}]")
            if data_key is None:
                v.add(
                    f"{prefix}[{i}]", "INVALID_AUDIENCE_MEMBER", "The audience member has no data."
                )
                continue
            if first_type is None:
                first_type = data_key
            elif _KEY_TYPE_OF_DATA.get(data_key, data_key) != _KEY_TYPE_OF_DATA.get(
                first_type, first_type
            ):
                v.add(
                    f"{prefix}[{i}]",
                    "MULTIPLE_DATA_TYPES_NOT_ALLOWED",
                    "All audience members of a request must have the same data type.",
                )
                continue
            if data_key not in ("userData", "compositeData"):
                continue  # not simulated: answered 501 once the request is otherwise valid
            data = member[data_key]
            if data_key == "compositeData":
                where = f"audience_members[{i}].composite_data"
                if type(data) is not dict:
                    raise payload_error(
                        f"Invalid value at '{where}' "
                        f"(type.googleapis.com/google.ads.datamanager.v1.CompositeData), "
                        f"{json.dumps(data)}",
                        where,
                    )
                data = _canon(data, where)
                for key in data:
                    if key not in ("userData", "ipData"):
                        raise _unknown(key, where)
                data = data.get("userData") or {}
            consent = default_consent
            if request_consent is not None and "consent" in member:
                raw_consent = member["consent"]
                if type(raw_consent) is not dict:
                    raise payload_error(
                        f"Invalid value at 'audience_members[{i}].consent' "
                        f"(type.googleapis.com/google.ads.datamanager.v1.Consent), "
                        f"{json.dumps(raw_consent)}",
                        f"audience_members[{i}].consent",
                    )
                consent = self._consent(
                    raw_consent, request_consent, f"audience_members[{i}].consent"
                )
            member_refs = None
            if "destinationReferences" in member:
                raw_refs = member["destinationReferences"]
                if type(raw_refs) is not list or not all(type(r) is str for r in raw_refs):
                    raise _not_string(f"audience_members[{i}].destination_references", raw_refs)
                member_refs = tuple(raw_refs)
                unknown = [r for r in member_refs if r not in refs]
                if unknown:
                    v.add(
                        f"{prefix}[{i}].destination_references",
                        "INVALID_DESTINATION",
                        f"Unknown destination reference {unknown[0]!r}.",
                    )
            ids = data.get("userIdentifiers") if type(data) is dict else None
            if type(data) is not dict or (data.keys() - {"userIdentifiers", "user_identifiers"}):
                bad = next(iter(data)) if type(data) is dict else data
                raise _unknown(str(bad), f"audience_members[{i}].user_data")
            if ids is None:
                ids = data.get("user_identifiers")
            if not ids:
                v.add(
                    f"{prefix}[{i}].user_data.user_identifiers",
                    "NO_IDENTIFIERS_PROVIDED",
                    "At least one user identifier is required.",
                )
                continue
            if type(ids) is not list:
                raise payload_error(
                    f"Invalid value at 'audience_members[{i}].user_data.user_identifiers' "
                    f"(type.googleapis.com/google.ads.datamanager.v1.UserIdentifier), "
                    f"{json.dumps(ids)}",
                    f"audience_members[{i}].user_data.user_identifiers",
                )
            if len(ids) > max_ids:
                v.add(
                    f"{prefix}[{i}].user_data.user_identifiers",
                    "TOO_MANY_USER_IDENTIFIERS",
                    f"At most {max_ids} user identifiers are allowed per audience member.",
                )
                continue
            digests: list[bytes] = []
            for j, ident in enumerate(ids):
                if fast_hex and type(ident) is dict and len(ident) == 1:
                    value = ident.get("emailAddress") or ident.get("phoneNumber")
                    if type(value) is str and len(value) == 64:  # the common case, inline
                        try:
                            digest = fromhex(value)
                        except ValueError:
                            digest = b""  # the slow path says why
                        if len(digest) == 32:
                            digests.append(digest)
                            continue
                found = self._identifier(ident, i, j, encoding, decode, v)
                if found is not None:
                    digests.append(found)
            out.append((digests, len(ids), consent, member_refs))
        return out

    def _identifier(
        self,
        ident: Any,
        i: int,
        j: int,
        encoding: str | None,
        decode: Callable[[str], bytes | str],
        v: Violations,
    ) -> bytes | None:
        """The digest of one identifier (the address key for an address), or None."""
        if type(ident) is dict and len(ident) == 1:
            ((key, value),) = ident.items()
            if type(value) is str and key in ("emailAddress", "phoneNumber"):  # the fast path
                if encoding is None:
                    return None
                result = decode(value)
                if type(result) is bytes:
                    return result
                assert isinstance(result, str)
                v.add(
                    f"{self.member_path}[{i}].user_data.user_identifiers[{j}]", result, _WHY[result]
                )
                return None
        where = f"audience_members[{i}].user_data.user_identifiers[{j}]"
        if type(ident) is not dict:
            raise payload_error(
                f"Invalid value at '{where}' "
                f"(type.googleapis.com/google.ads.datamanager.v1.UserIdentifier), "
                f"{json.dumps(ident)}",
                where,
            )
        if not ident:
            v.add(
                f"{self.member_path}[{i}].user_data.user_identifiers[{j}]",
                "REQUIRED_FIELD_MISSING",
                "The user identifier is empty.",
            )
            return None
        keys: list[str] = [str(_ALIASES.get(k, k)) for k in ident]
        bad = next((k for k in keys if k not in _IDENTIFIER_FIELDS), None)
        if bad is not None:
            raise _unknown(bad, where)
        if len(keys) > 1:
            raise _oneof("identifier", keys[1], where)
        key, value = keys[0], next(iter(ident.values()))
        if key == "address":
            return self._address(value, i, j, encoding, decode, v)
        if type(value) is not str:
            raise _not_string(f"{where}.{_snake(key)}", value)
        if encoding is None:
            return None
        result = decode(value)
        if type(result) is str:
            v.add(f"{self.member_path}[{i}].user_data.user_identifiers[{j}]", result, _WHY[result])
            return None
        assert isinstance(result, bytes)
        return result

    def _address(
        self,
        value: Any,
        i: int,
        j: int,
        encoding: str | None,
        decode: Callable[[str], bytes | str],
        v: Violations,
    ) -> bytes | None:
        where = f"audience_members[{i}].user_data.user_identifiers[{j}].address"
        path = f"{self.member_path}[{i}].user_data.user_identifiers[{j}].address"
        if type(value) is not dict:
            raise payload_error(
                f"Invalid value at '{where}' "
                f"(type.googleapis.com/google.ads.datamanager.v1.AddressInfo), {json.dumps(value)}",
                where,
            )
        fields = _canon(value, where)
        for key, item in fields.items():
            if key not in _ADDRESS_FIELDS:
                raise _unknown(key, where)
            if type(item) is not str:
                raise _not_string(f"{where}.{_snake(key)}", item)
        ok = True
        for key in ("givenName", "familyName", "regionCode", "postalCode"):
            if not fields.get(key, "").strip():
                v.add(f"{path}.{_snake(key)}", "REQUIRED_FIELD_MISSING", f"{key} is required.")
                ok = False
        names: list[bytes] = []
        for key in ("givenName", "familyName"):
            if fields.get(key) and encoding is not None:
                result = decode(fields[key])
                if type(result) is str:
                    v.add(f"{path}.{_snake(key)}", result, _WHY[result])
                    ok = False
                else:
                    assert isinstance(result, bytes)
                    names.append(result)
        region = fields.get("regionCode", "").strip()
        if region and not _REGION.fullmatch(region):
            v.add(f"{path}.region_code", "INVALID_REGION_CODE", "Region code is not valid.")
            ok = False
        postal = fields.get("postalCode", "").strip()
        if postal and (
            _HEXISH.fullmatch(postal)
            or (region.upper() == "US" and not _US_POSTAL.fullmatch(postal))
        ):
            v.add(f"{path}.postal_code", "INVALID_POSTAL_CODE", "Postal code is not valid.")
            ok = False
        if not ok or encoding is None:
            return None
        return address_key(names[0], names[1], region, postal)

    def _hex(self, value: str) -> bytes | str:
        try:
            digest = bytes.fromhex(value)
        except ValueError:
            return "INVALID_HEX_ENCODING"
        if len(value) != 2 * len(digest):  # fromhex skips whitespace
            return "INVALID_HEX_ENCODING"
        if len(digest) != 32:
            return "INVALID_SHA256_FORMAT"
        if not self.accept_uppercase_hex and value != value.lower():
            return "INVALID_HEX_ENCODING"
        return digest

    @staticmethod
    def _base64(value: str) -> bytes | str:
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "INVALID_BASE64_ENCODING"
        if len(digest) != 32:
            return "INVALID_SHA256_FORMAT"
        return digest

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
        parsed: list[_Parsed] = payload
        user_for = self.users.user_for
        for k, (rec, stats) in enumerate(zip(live, upload.stats, strict=True)):
            ref = references[k]
            errors = stats.errors
            for digests, count, consent, refs in parsed:
                if refs is not None and ref not in refs:
                    continue
                stats.records += 1
                stats.identifiers += count
                if upload.kind == "remove":
                    if rec is not None:
                        rec.members.remove(digests)
                    continue
                if consent is not None:
                    errors[consent] += 1
                    continue
                if rec is None:
                    errors[_INTERNAL] += 1
                    continue
                user = user_for(digests)
                if user is not None:
                    stats.matched += 1
                members = rec.members
                if rec.membership_status == "CLOSED" and not any(
                    d in members.by_digest for d in digests
                ):
                    continue
                members.upsert(digests, user, at, at + rec.duration)
        upload.applied = True


_WHY = {
    "INVALID_HEX_ENCODING": "The HEX encoded value is malformed.",
    "INVALID_BASE64_ENCODING": "The Base64 encoded value is malformed.",
    "INVALID_SHA256_FORMAT": "The value is not a SHA-256 hash.",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _echo(dest: dict[str, Any]) -> dict[str, Any]:
    """A destination as diagnostics repeat it (JSON names, enums as names)."""
    return {k: v for k, v in dest.items() if k != "reference"} | (
        {"reference": dest["reference"]} if dest.get("reference") else {}
    )


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise payload_error("Invalid JSON payload received. Unexpected token.") from None
