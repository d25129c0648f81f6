"""Audience members as the ingestion calls carry them: checked, hashed identifiers decoded.

:class:`AudienceParser` reads a request's ``audienceMembers`` (reference §4.4) into
:data:`ParsedMember` tuples — identifier digests, identifier count, the processing error of the
member's effective consent (or None) and its destination references — adding every problem
to the request's :class:`~.errors.Violations` (fast-fail: the caller raises them together):

* 1–``max_members`` members (``TOO_MANY_AUDIENCE_MEMBERS``), 1–``max_identifiers`` identifiers a
  member (``TOO_MANY_USER_IDENTIFIERS``, ``NO_IDENTIFIERS_PROVIDED``), one data type a request
  (``MULTIPLE_DATA_TYPES_NOT_ALLOWED``);
* ``encoding`` present (``REQUIRED_FIELD_MISSING``); each identifier exactly one of
  ``emailAddress``/``phoneNumber``/``address``; a hash of 32 bytes in the declared encoding
  (``INVALID_HEX_ENCODING``, ``INVALID_BASE64_ENCODING``, ``INVALID_SHA256_FORMAT``); an address
  with hashed names, a two-letter ``regionCode`` (``INVALID_REGION_CODE``) and a postal code in
  clear (``INVALID_POSTAL_CODE``: a US code that is not 5 digits or ZIP+4, or one that looks
  hashed);
* consent values. Member-level consent overrides the request's, per field or as a whole object
  (``consent_override``, inferred); a member whose effective consent is denied is dropped as
  ``PROCESSING_ERROR_REASON_DENIED_CONSENT``, one with none as ``_NO_CONSENT`` and one with
  half as ``_UNKNOWN_CONSENT`` — unless ``missing_consent="accept"`` (inferred).

Field paths are snake_case; members are addressed as ``{member_path}[i]``
(``audience_members.audience_members[i]`` by default: the doubled prefix the docs show for
events, inferred for members). JSON that does not fit the message (unknown names, wrong types,
two members of a oneof) fails the front end's way at once. The common case — a one-key
identifier with 64 hex characters — takes an inlined fast path.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any, Literal

from .errors import ApiError, Violations, payload_error
from .matching import address_key
from .wire import ENUMS

__all__ = ["KEY_TYPE_OF_DATA", "AudienceParser", "ParsedMember"]

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
_BOTH_GRANTED = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
_DENIED = "PROCESSING_ERROR_REASON_DENIED_CONSENT"
_NO_CONSENT = "PROCESSING_ERROR_REASON_NO_CONSENT"
_UNKNOWN_CONSENT = "PROCESSING_ERROR_REASON_UNKNOWN_CONSENT"
KEY_TYPE_OF_DATA = {"userData": "CONTACT_ID", "compositeData": "CONTACT_ID",
                     "mobileData": "MOBILE_ID", "userIdData": "USER_ID", "pairData": "PAIR_ID",
                     "ppidData": "PSEUDONYMOUS_ID"}  # fmt: skip

# a parsed member: (identifier digests, identifier count, consent error or None, destination
# references or None)
ParsedMember = tuple[list[bytes], int, str | None, tuple[str, ...] | None]


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


class AudienceParser:
    """Checks and decodes the audience members of ingest and remove requests."""

    def __init__(
        self,
        *,
        max_members: int,
        max_identifiers: int,
        member_path: str,
        accept_uppercase_hex: bool,
        consent_override: Literal["field", "object"],
        missing_consent: Literal["drop", "accept"],
    ) -> None:
        self.max_members = max_members
        self.max_identifiers = max_identifiers
        self.member_path = member_path
        self.accept_uppercase_hex = accept_uppercase_hex
        self.consent_override = consent_override
        self.missing_consent = missing_consent

    def data_type(self, members: list[Any]) -> str | None:
        """The data type of the first member (``userData``, …), for the list-type check."""
        for member in members[:1]:
            if isinstance(member, dict):
                member = _canon(member, "")
                for key in member:
                    if key in _DATA_FIELDS:
                        return key
        return None

    def consent(
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

    def parse(
        self,
        members: list[Any],
        encoding: str | None,
        request_consent: dict[str, Any] | None,
        refs: set[str],
        v: Violations,
    ) -> list[ParsedMember]:
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
            None if request_consent is None else self.consent(None, request_consent, "consent")
        )
        decode = self._hex if encoding == "HEX" else self._base64
        fast_hex, fromhex = encoding == "HEX" and self.accept_uppercase_hex, bytes.fromhex
        max_ids = self.max_identifiers
        first_type: str | None = None
        out: list[ParsedMember] = []
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
            elif KEY_TYPE_OF_DATA.get(data_key, data_key) != KEY_TYPE_OF_DATA.get(
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
                if raw_consent == _BOTH_GRANTED:
                    consent = None  # both granted by name (the common case): granted, however
                    # the member's consent overrides the request's
                else:
                    consent = self.consent(
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


_WHY = {
    "INVALID_HEX_ENCODING": "The HEX encoded value is malformed.",
    "INVALID_BASE64_ENCODING": "The Base64 encoded value is malformed.",
    "INVALID_SHA256_FORMAT": "The value is not a SHA-256 hash.",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
