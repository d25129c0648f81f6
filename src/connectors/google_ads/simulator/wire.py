"""The Data Manager API's JSON: enums, int64, Duration, Timestamp, and request-message parsing.

Google's REST front end maps JSON onto the request's protocol-buffer message before the API
sees it, and the simulator does the same with :func:`parse_message`:

* field names are accepted in their JSON (``displayName``) and proto (``display_name``) forms
  and come back under the JSON name; ``null`` means unset;
* enums are accepted as **names or integers** (the official client sends integers, with
  ``$alt=json;enum-encoding=int``) and come back as names;
* int32/int64 are accepted as numbers or decimal strings; Duration (``"46656000s"``) and
  Timestamp (RFC 3339) must be well formed;
* an unknown field, a value of the wrong type or an unknown enum value fails the request the
  front end's way (:func:`~.errors.payload_error`), with the field path in snake_case.

Answers are written by the routes: enums as names, int64 as JSON strings, Duration as ``"Ns"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, payload_error

__all__ = [
    "ENUMS",
    "MESSAGES",
    "enum_name",
    "format_duration",
    "format_timestamp",
    "parse_duration",
    "parse_message",
    "parse_timestamp",
    "snake",
]

PKG = "type.googleapis.com/google.ads.datamanager.v1."

# enum → (full name under google.ads.datamanager.v1, {name: number})
ENUMS: dict[str, tuple[str, dict[str, int]]] = {
    "AccountType": ("ProductAccount.AccountType", {
        "ACCOUNT_TYPE_UNSPECIFIED": 0, "GOOGLE_ADS": 1, "DISPLAY_VIDEO_PARTNER": 2,
        "DISPLAY_VIDEO_ADVERTISER": 3, "DATA_PARTNER": 4, "GOOGLE_ANALYTICS_PROPERTY": 5,
        "GOOGLE_AD_MANAGER_AUDIENCE_LINK": 6, "FLOODLIGHT_CONFIG": 7, "GOOGLE_AD_MANAGER": 8}),
    "Product": ("Product", {
        "PRODUCT_UNSPECIFIED": 0, "GOOGLE_ADS": 1, "DISPLAY_VIDEO_PARTNER": 2,
        "DISPLAY_VIDEO_ADVERTISER": 3, "DATA_PARTNER": 4}),
    "Encoding": ("Encoding", {"ENCODING_UNSPECIFIED": 0, "HEX": 1, "BASE64": 2}),
    "ConsentStatus": ("ConsentStatus", {
        "CONSENT_STATUS_UNSPECIFIED": 0, "CONSENT_GRANTED": 1, "CONSENT_DENIED": 2}),
    "TermsOfServiceStatus": ("TermsOfServiceStatus", {
        "TERMS_OF_SERVICE_STATUS_UNSPECIFIED": 0, "ACCEPTED": 1, "REJECTED": 2}),
    "MembershipStatus": ("UserList.MembershipStatus", {
        "MEMBERSHIP_STATUS_UNSPECIFIED": 0, "OPEN": 1, "CLOSED": 2}),
    "ClosingReason": ("UserList.ClosingReason", {"CLOSING_REASON_UNSPECIFIED": 0, "UNUSED": 1}),
    "AccessReason": ("UserList.AccessReason", {
        "ACCESS_REASON_UNSPECIFIED": 0, "OWNED": 1, "SHARED": 2, "LICENSED": 3,
        "SUBSCRIBED": 4, "AFFILIATED": 5}),
    "AccessStatus": ("UserList.AccessStatus", {
        "ACCESS_STATUS_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2}),
    "UploadKeyType": ("IngestedUserListInfo.UploadKeyType", {
        "UPLOAD_KEY_TYPE_UNSPECIFIED": 0, "CONTACT_ID": 1, "MOBILE_ID": 2, "USER_ID": 3,
        "PAIR_ID": 4, "PSEUDONYMOUS_ID": 5}),
    "DataSourceType": ("DataSourceType", {
        "DATA_SOURCE_TYPE_UNSPECIFIED": 0, "DATA_SOURCE_TYPE_FIRST_PARTY": 1,
        "DATA_SOURCE_TYPE_THIRD_PARTY_CREDIT_BUREAU": 2,
        "DATA_SOURCE_TYPE_THIRD_PARTY_VOTER_FILE": 3,
        "DATA_SOURCE_TYPE_THIRD_PARTY_PARTNER_DATA": 4}),
}  # fmt: skip
_ENUM_BY_NUMBER = {name: {v: k for k, v in values.items()} for name, (_, values) in ENUMS.items()}

# A field: (kind, repeated). kind is "string", "bool", "int32", "int64", "duration",
# "timestamp", "any" (not looked into), "raw" (left for the route to parse), "enum:<Enum>" or
# "msg:<Message>". Message → {json name: field}; oneofs are listed in _ONEOFS.
S, B, I32, I64 = ("string", False), ("bool", False), ("int32", False), ("int64", False)
MESSAGES: dict[str, dict[str, tuple[str, bool]]] = {
    "ProductAccount": {"product": ("enum:Product", False), "accountId": S,
                       "accountType": ("enum:AccountType", False)},
    "Destination": {"reference": S, "loginAccount": ("msg:ProductAccount", False),
                    "linkedAccount": ("msg:ProductAccount", False),
                    "operatingAccount": ("msg:ProductAccount", False),
                    "productDestinationId": S},
    "Consent": {"adUserData": ("enum:ConsentStatus", False),
                "adPersonalization": ("enum:ConsentStatus", False)},
    "TermsOfService": {"customerMatchTermsOfServiceStatus": ("enum:TermsOfServiceStatus", False)},
    "IngestAudienceMembersRequest": {
        "destinations": ("msg:Destination", True), "audienceMembers": ("raw", True),
        "consent": ("msg:Consent", False), "validateOnly": B,
        "encoding": ("enum:Encoding", False), "encryptionInfo": ("any", False),
        "termsOfService": ("msg:TermsOfService", False)},
    "RemoveAudienceMembersRequest": {
        "destinations": ("msg:Destination", True), "audienceMembers": ("raw", True),
        "validateOnly": B, "encoding": ("enum:Encoding", False),
        "encryptionInfo": ("any", False)},
    "RemoveAllAudienceMembersRequest": {
        "destinations": ("msg:Destination", True), "removeAsOfTime": ("timestamp", False),
        "validateOnly": B},
    "UserList": {
        "name": S, "id": I64, "readOnly": B, "displayName": S, "description": S,
        "membershipStatus": ("enum:MembershipStatus", False), "integrationCode": S,
        "membershipDuration": ("duration", False),
        "closingReason": ("enum:ClosingReason", False),
        "accessReason": ("enum:AccessReason", False),
        "accountAccessStatus": ("enum:AccessStatus", False),
        "sizeInfo": ("msg:SizeInfo", False), "targetNetworkInfo": ("msg:TargetNetworkInfo", False),
        "ingestedUserListInfo": ("msg:IngestedUserListInfo", False)},
    "SizeInfo": {"displayNetworkMembersCount": I64, "searchNetworkMembersCount": I64,
                 "youtubeMembersCount": I64, "gmailMembersCount": I64},
    "TargetNetworkInfo": {"eligibleForDisplay": B, "eligibleForSearch": B},
    "IngestedUserListInfo": {
        "uploadKeyTypes": ("enum:UploadKeyType", True),
        "contactIdInfo": ("msg:ContactIdInfo", False),
        "mobileIdInfo": ("any", False), "userIdInfo": ("any", False),
        "pairIdInfo": ("any", False), "pseudonymousIdInfo": ("any", False),
        "partnerAudienceInfo": ("any", False)},
    "ContactIdInfo": {"dataSourceType": ("enum:DataSourceType", False), "matchRatePercentage": I32},
}  # fmt: skip
_SNAKE_TO_JSON = {
    msg: {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in fields}
    for msg, fields in MESSAGES.items()
}
_SCALAR_TYPES = {"string": "TYPE_STRING", "bool": "TYPE_BOOL", "int32": "TYPE_INT32",
                 "int64": "TYPE_INT64"}  # fmt: skip
_DURATION = re.compile(r"-?\d+(?:\.\d{1,9})?s")
_INT = re.compile(r"-?\d+")


def snake(name: str) -> str:
    """``productDestinationId`` → ``product_destination_id`` (field paths are snake_case)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, default=str)


def _invalid(path: str, type_name: str, value: Any) -> ApiError:
    return payload_error(f"Invalid value at '{path}' ({type_name}), {_shown(value)}", path)


def enum_name(enum: str, raw: Any, path: str) -> str:
    """An enum value given as a name or an integer, as its name."""
    full, values = ENUMS[enum]
    if isinstance(raw, str) and raw in values:
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in _ENUM_BY_NUMBER[enum]:
        return _ENUM_BY_NUMBER[enum][raw]
    raise _invalid(path, PKG + full, raw)


def _scalar(kind: str, raw: Any, path: str) -> Any:
    if kind == "string":
        if isinstance(raw, str):
            return raw
    elif kind == "bool":
        if isinstance(raw, bool):
            return raw
    elif kind in ("int32", "int64"):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and _INT.fullmatch(raw):
            return int(raw)
    elif kind == "duration":
        if isinstance(raw, str) and _DURATION.fullmatch(raw):
            return raw
        raise _invalid(path, "type.googleapis.com/google.protobuf.Duration", raw)
    elif kind == "timestamp":
        if isinstance(raw, str):
            try:
                parse_timestamp(raw)
                return raw
            except ValueError:
                pass
        raise _invalid(path, "type.googleapis.com/google.protobuf.Timestamp", raw)
    raise _invalid(path, _SCALAR_TYPES[kind], raw)


def _value(kind: str, raw: Any, path: str) -> Any:
    if kind == "any" or kind == "raw":
        return raw
    if kind.startswith("enum:"):
        return enum_name(kind[5:], raw, path)
    if kind.startswith("msg:"):
        return parse_message(kind[4:], raw, path)
    return _scalar(kind, raw, path)


def parse_message(message: str, raw: Any, path: str = "") -> dict[str, Any]:
    """Check ``raw`` against ``message`` and return it with JSON field names and enum names.

    ``path`` is the snake_case path of ``raw`` in the request (``""`` for the body itself)."""
    if not isinstance(raw, Mapping):
        raise _invalid(path, PKG + message, raw)
    fields = MESSAGES[message]
    aliases = _SNAKE_TO_JSON[message]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if key in fields else aliases.get(key)
        if name is None:
            where = f" at '{path}'" if path else ""
            raise payload_error(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                path,
            )
        if value is None:
            continue
        kind, repeated = fields[name]
        sub = _join(path, snake(name))
        if repeated:
            if not isinstance(value, list):
                raise _invalid(sub, _type_name(kind), value)
            out[name] = value if kind == "raw" else [
                _value(kind, item, f"{sub}[{i}]") for i, item in enumerate(value)
            ]  # fmt: skip
        else:
            out[name] = _value(kind, value, sub)
    return out


def _type_name(kind: str) -> str:
    if kind.startswith("msg:"):
        return PKG + kind[4:]
    if kind.startswith("enum:"):
        return PKG + ENUMS[kind[5:]][0]
    return _SCALAR_TYPES.get(kind, "TYPE_MESSAGE")


# -- Duration and Timestamp ----------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds of a JSON Duration (``"46656000s"``, ``"1.5s"``); ValueError when malformed."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f"not a Duration: {text!r}")
    return float(text[:-1])


def format_duration(seconds: float) -> str:
    """A JSON Duration: ``"86400s"``, or with up to 9 decimals when not whole."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with a ``Z`` or offset; ValueError otherwise."""
    value = text.strip()
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    head, _, tail = value.partition(".")
    if tail:  # Python parses at most 6 fractional digits
        digits = re.match(r"\d+", tail)
        assert digits is not None
        value = f"{head}.{digits.group()[:6]}{tail[digits.end() :]}"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def format_timestamp(epoch: float) -> str:
    """RFC 3339 in UTC with a ``Z`` (``2026-01-01T00:00:00Z``; microseconds when present)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
