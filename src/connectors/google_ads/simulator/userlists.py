"""``accountTypes/GOOGLE_ADS/accounts/{id}/userLists``: Customer Match lists (reference §4.3).

* ``POST …/userLists[?validateOnly=true]`` creates a list from a ``UserList``:
  ``displayName`` required and unique among the account's lists (``DISPLAY_NAME_ALREADY_USED``);
  ``membershipDuration`` whole days (else ``INVALID_ARGUMENT``), at most 540 days
  (``MEMBERSHIP_DURATION_TOO_LONG``), unset = the maximum; ``ingestedUserListInfo`` required with
  exactly one ``uploadKeyTypes``; ``contactIdInfo.dataSourceType`` defaults to first party.
* ``GET …/userLists?pageSize&pageToken&filter`` pages (50 by default, at most 1000, larger sizes
  coerced) in id order; the token is bound to the filter. ``GET …/userLists/{id}``,
  ``PATCH …/userLists/{id}?updateMask=…`` (``uploadKeyTypes`` and ``dataSourceType`` are
  immutable: ``IMMUTABLE_FIELD_FOR_UPDATE``) and ``DELETE …/userLists/{id}`` → ``{}``.
* Answers: enum names, ``id`` and ``sizeInfo`` counts as strings, ``membershipDuration`` as
  ``"Ns"``, ``sizeInfo`` = distinct matched users (search = ``search_share`` of it),
  ``targetNetworkInfo.eligibleFor*`` once the list reaches the minimum serving size,
  ``contactIdInfo.matchRatePercentage`` = matched members over members. Output-only fields in
  a request are ignored. Zero-valued fields without presence are left out, as Google's JSON
  does, unless ``emit_defaults``.
* The caller's principal must reach the account, directly or through the ``login-account``
  header (``accountTypes/GOOGLE_ADS/accounts/{manager id}``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body, offset_page, query_bool

from .accounts import Directory
from .errors import ApiError, Violations, json_response, not_found, payload_error
from .filters import FilterError, matches, parse_filter
from .memberships import ListMembers
from .oauth import Grant
from .wire import ENUMS, parse_duration, parse_message

__all__ = ["UserListRecord", "UserListService"]

DAY = 86400
_ACCOUNT_TYPES = ENUMS["AccountType"][1]
_ACCOUNT_ID = re.compile(r"\d+")
_LOGIN = re.compile(r"accountTypes/([A-Z_]+)/accounts/(\d+)")
_MUTABLE = {
    "display_name": "displayName",
    "description": "description",
    "membership_status": "membershipStatus",
    "integration_code": "integrationCode",
    "membership_duration": "membershipDuration",
    "account_access_status": "accountAccessStatus",
    "target_network_info.eligible_for_search": "targetNetworkInfo.eligibleForSearch",
}
_IMMUTABLE = {
    "ingested_user_list_info.upload_key_types",
    "ingested_user_list_info.contact_id_info.data_source_type",
    "ingested_user_list_info",
    "ingested_user_list_info.contact_id_info",
}
_FILTER_ENUMS = {
    "membership_status": ENUMS["MembershipStatus"][1],
    "access_reason": ENUMS["AccessReason"][1],
    "ingested_user_list_info.upload_key_types": ENUMS["UploadKeyType"][1],
}


def _snake_path(path: str) -> str:
    return ".".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in path.split("."))


@dataclass
class UserListRecord:
    """A stored Customer Match list."""

    account_id: str
    list_id: str
    display_name: str
    duration: int  # seconds, whole days
    upload_key_type: str
    data_source_type: str | None
    description: str | None = None
    membership_status: str = "OPEN"
    integration_code: str | None = None
    account_access_status: str | None = None
    eligible_for_search: bool | None = None  # None: computed from the size
    key_info: dict[str, Any] = field(default_factory=dict)  # non-contact key type info, echoed
    members: ListMembers = field(default_factory=ListMembers)

    @property
    def name(self) -> str:
        return f"accountTypes/GOOGLE_ADS/accounts/{self.account_id}/userLists/{self.list_id}"

    def filter_values(self) -> dict[str, Any]:
        return {
            "id": self.list_id,
            "display_name": self.display_name,
            "description": self.description or "",
            "membership_status": self.membership_status,
            "integration_code": self.integration_code or "",
            "access_reason": "OWNED",
            "ingested_user_list_info.upload_key_types": [self.upload_key_type],
        }


class UserListService:
    """Lists per account, and the five user-list routes."""

    def __init__(
        self,
        directory: Directory,
        *,
        rng: random.Random,
        max_membership_days: int,
        min_display_size: int,
        min_search_size: int,
        search_share: float,
        default_page_size: int,
        max_page_size: int,
        display_names_case_sensitive: bool,
        emit_defaults: bool,
        enforce_access: Callable[[], bool],
    ) -> None:
        self.directory = directory
        self._rng = rng
        self.max_membership_days = max_membership_days
        self.min_display_size = min_display_size
        self.min_search_size = min_search_size
        self.search_share = search_share
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.display_names_case_sensitive = display_names_case_sensitive
        self.emit_defaults = emit_defaults
        self._enforce_access = enforce_access
        self.lists: dict[str, dict[str, UserListRecord]] = {}  # account → id → list

    # -- lookups shared with ingestion ---------------------------------------------------------

    def find(self, account_id: str, list_id: str) -> UserListRecord | None:
        return self.lists.get(account_id, {}).get(list_id)

    def all_lists(self) -> list[UserListRecord]:
        return [rec for lists in self.lists.values() for rec in lists.values()]

    def new_id(self) -> str:
        taken = {rec.list_id for rec in self.all_lists()}
        while True:
            candidate = str(self._rng.randrange(1_000_000_000, 10_000_000_000))
            if candidate not in taken:
                return candidate

    # -- rendering -----------------------------------------------------------------------------

    def to_json(self, rec: UserListRecord, *, created: bool = True) -> dict[str, Any]:
        """The ``UserList`` resource as the API answers it."""
        emit = self.emit_defaults
        size = rec.members.size
        search = int(size * self.search_share)
        out: dict[str, Any] = {}
        if created:
            out.update(name=rec.name, id=rec.list_id)
        if emit:
            out["readOnly"] = False
        out["displayName"] = rec.display_name
        if rec.description is not None:
            out["description"] = rec.description
        out["membershipStatus"] = rec.membership_status
        if rec.integration_code is not None:
            out["integrationCode"] = rec.integration_code
        out["membershipDuration"] = f"{rec.duration}s"
        out["accessReason"] = "OWNED"
        if rec.account_access_status is not None:
            out["accountAccessStatus"] = rec.account_access_status
        sizes: dict[str, str] = {}
        if size or emit:
            sizes["displayNetworkMembersCount"] = str(size)
        if search or emit:
            sizes["searchNetworkMembersCount"] = str(search)
        out["sizeInfo"] = sizes
        network: dict[str, bool] = {}
        if size >= self.min_display_size or emit:
            network["eligibleForDisplay"] = size >= self.min_display_size
        eligible_search = rec.eligible_for_search
        network["eligibleForSearch"] = (
            search >= self.min_search_size if eligible_search is None else eligible_search
        )
        out["targetNetworkInfo"] = network
        info: dict[str, Any] = {"uploadKeyTypes": [rec.upload_key_type]}
        if rec.upload_key_type == "CONTACT_ID":
            contact: dict[str, Any] = {}
            if rec.data_source_type is not None:
                contact["dataSourceType"] = rec.data_source_type
            rate = rec.members.match_rate()
            if rate or emit:
                contact["matchRatePercentage"] = rate
            info["contactIdInfo"] = contact
        info.update(rec.key_info)
        out["ingestedUserListInfo"] = info
        return out

    # -- access --------------------------------------------------------------------------------

    def _account(self, request: Request, grant: Grant) -> str:
        """The account of the path, once the caller is known to reach it."""
        account_type = str(request.path_params["account_type"])
        account_id = str(request.path_params["account_id"])
        if account_type not in _ACCOUNT_TYPES or account_type == "ACCOUNT_TYPE_UNSPECIFIED":
            raise ApiError(
                400,
                reason="INVALID_ARGUMENT",
                violations=_one("parent", "INVALID_RESOURCE_NAME", "Invalid account type."),
            )
        if account_type != "GOOGLE_ADS":
            raise ApiError(501, message=f"{account_type} accounts are not simulated.")
        if not _ACCOUNT_ID.fullmatch(account_id):
            raise ApiError(
                400,
                reason="INVALID_ARGUMENT",
                violations=_one("parent", "INVALID_NUMBER_FORMAT", "String is not a valid number."),
            )
        login_id = None
        header = request.headers.get("login-account")
        if header:
            match = _LOGIN.fullmatch(header.strip())
            if match is None or match.group(1) not in _ACCOUNT_TYPES:
                raise ApiError(
                    400,
                    reason="INVALID_ARGUMENT",
                    violations=_one(
                        "login_account", "INVALID_RESOURCE_NAME", "Invalid login account."
                    ),
                )
            login_id = match.group(2)
        if self._enforce_access():
            self.directory.check_access(grant.principal, account_id, login_id)
        return account_id

    def _record(self, request: Request, grant: Grant) -> UserListRecord:
        account_id = self._account(request, grant)
        list_id = request.path_params["list_id"]
        if not _ACCOUNT_ID.fullmatch(list_id):
            raise ApiError(
                400,
                reason="INVALID_ARGUMENT",
                violations=_one("name", "INVALID_NUMBER_FORMAT", "String is not a valid number."),
            )
        rec = self.find(account_id, list_id)
        if rec is None:
            raise not_found()
        return rec

    # -- validation ----------------------------------------------------------------------------

    def _duration(self, raw: str | None, v: Violations) -> int | None:
        if raw is None:
            return self.max_membership_days * DAY
        seconds = parse_duration(raw)
        path = "user_list.membership_duration"
        if seconds <= 0 or not seconds.is_integer() or int(seconds) % DAY:
            v.add(path, "INVALID_ARGUMENT", "Membership duration must be a whole number of days.")
            return None
        if int(seconds) > self.max_membership_days * DAY:
            v.add(
                path,
                "MEMBERSHIP_DURATION_TOO_LONG",
                f"Membership duration cannot exceed {self.max_membership_days} days.",
            )
            return None
        return int(seconds)

    def _name_taken(self, account_id: str, name: str, other_than: str | None = None) -> bool:
        fold = (lambda s: s) if self.display_names_case_sensitive else str.casefold
        return any(
            fold(rec.display_name) == fold(name) and rec.list_id != other_than
            for rec in self.lists.get(account_id, {}).values()
        )

    # -- routes --------------------------------------------------------------------------------

    async def create(self, request: Request, grant: Grant) -> Response:
        account_id = self._account(request, grant)
        body = parse_message("UserList", await json_body(request, empty={}), "user_list")
        validate_only = query_bool(request, "validateOnly", "validate_only", strict=True)
        v = Violations()
        name = body.get("displayName", "")
        if not name.strip():
            v.add("user_list.display_name", "REQUIRED_FIELD_MISSING", "Display name is required.")
        elif self._name_taken(account_id, name):
            v.add(
                "user_list.display_name",
                "DISPLAY_NAME_ALREADY_USED",
                "A user list with this display name already exists.",
            )
        duration = self._duration(body.get("membershipDuration"), v)
        info = body.get("ingestedUserListInfo")
        key_type: str | None = None
        source: str | None = None
        key_info: dict[str, Any] = {}
        if info is None:
            v.add(
                "user_list.ingested_user_list_info",
                "REQUIRED_FIELD_MISSING",
                "Ingested user list info is required.",
            )
        else:
            key_type, source, key_info = _key_type(info, v)
        if body.get("membershipStatus") == "MEMBERSHIP_STATUS_UNSPECIFIED":
            v.add("user_list.membership_status", "INVALID_ENUM_VALUE", "Invalid membership status.")
        v.raise_if_any()
        assert duration is not None and key_type is not None
        rec = UserListRecord(
            account_id=account_id,
            list_id="",
            display_name=name,
            duration=duration,
            upload_key_type=key_type,
            data_source_type=source,
            description=body.get("description"),
            membership_status=body.get("membershipStatus", "OPEN"),
            integration_code=body.get("integrationCode"),
            account_access_status=body.get("accountAccessStatus"),
            eligible_for_search=body.get("targetNetworkInfo", {}).get("eligibleForSearch"),
            key_info=key_info,
        )
        if validate_only:
            return json_response(self.to_json(rec, created=False))
        rec.list_id = self.new_id()
        self.lists.setdefault(account_id, {})[rec.list_id] = rec
        return json_response(self.to_json(rec))

    async def get(self, request: Request, grant: Grant) -> Response:
        return json_response(self.to_json(self._record(request, grant)))

    async def list_page(self, request: Request, grant: Grant) -> Response:
        account_id = self._account(request, grant)
        query = request.query_params
        raw_size = query.get("pageSize", query.get("page_size", ""))
        size = self.default_page_size
        if raw_size:
            if not re.fullmatch(r"-?\d+", raw_size):
                raise payload_error(
                    f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\"", "page_size"
                )
            size = int(raw_size)
            if size < 0:
                raise ApiError(
                    400,
                    reason="INVALID_ARGUMENT",
                    violations=_one("page_size", "INVALID_ARGUMENT", "Page size is negative."),
                )
            size = min(size, self.max_page_size) or self.default_page_size
        text = query.get("filter", "")
        try:
            conditions = parse_filter(text)
            matches(conditions, _SAMPLE, _FILTER_ENUMS)  # checks the values' types up front
        except FilterError as exc:
            raise ApiError(
                400,
                reason="INVALID_ARGUMENT",
                violations=_one("filter", "INVALID_FILTER", str(exc)),
            ) from None
        bound = hashlib.sha256(f"{account_id}\x00{text}".encode()).hexdigest()[:16]
        offset = 0
        token = query.get("pageToken", query.get("page_token", ""))
        if token:
            offset = _decode_token(token, bound)
        records = sorted(self.lists.get(account_id, {}).values(), key=lambda r: int(r.list_id))
        kept = [r for r in records if matches(conditions, r.filter_values(), _FILTER_ENUMS)]
        page, nxt = offset_page(kept, offset, size)
        out: dict[str, Any] = {"userLists": [self.to_json(r) for r in page]}
        if nxt is not None:
            out["nextPageToken"] = _encode_token(nxt, bound)
        return json_response(out)

    async def update(self, request: Request, grant: Grant) -> Response:
        rec = self._record(request, grant)
        body = parse_message("UserList", await json_body(request, empty={}), "user_list")
        validate_only = query_bool(request, "validateOnly", "validate_only", strict=True)
        mask_text = request.query_params.get("updateMask", request.query_params.get("update_mask"))
        v = Violations()
        if mask_text is None:
            paths = [_snake_path(k) for k in body if _snake_path(k) in _MUTABLE]
            immutable = "ingestedUserListInfo" in body and _key_type(
                body["ingestedUserListInfo"], Violations()
            )[:2] != (rec.upload_key_type, rec.data_source_type)
            if immutable:
                v.add(
                    "user_list.ingested_user_list_info",
                    "IMMUTABLE_FIELD_FOR_UPDATE",
                    "The upload key type and data source type cannot be changed.",
                )
        else:
            paths = [_snake_path(p.strip()) for p in mask_text.split(",") if p.strip()]
            for path in paths:
                if path in _IMMUTABLE:
                    v.add(
                        f"update_mask.{path}",
                        "IMMUTABLE_FIELD_FOR_UPDATE",
                        f"Field {path} cannot be updated.",
                    )
                elif path not in _MUTABLE:
                    v.add(
                        "update_mask", "INVALID_UPDATE_MASK", f"Invalid update mask path: {path}."
                    )
        changes: dict[str, Any] = {}
        for path in paths:
            if path not in _MUTABLE:
                continue
            value: Any = body
            for part in _MUTABLE[path].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            changes[path] = value
        if "display_name" in changes:
            name = changes["display_name"] or ""
            if not name.strip():
                v.add(
                    "user_list.display_name", "REQUIRED_FIELD_MISSING", "Display name is required."
                )
            elif self._name_taken(rec.account_id, name, other_than=rec.list_id):
                v.add(
                    "user_list.display_name",
                    "DISPLAY_NAME_ALREADY_USED",
                    "A user list with this display name already exists.",
                )
        duration = rec.duration
        if "membership_duration" in changes:
            parsed = self._duration(changes["membership_duration"], v)
            duration = parsed if parsed is not None else duration
        v.raise_if_any()
        if validate_only:
            return json_response(self.to_json(rec))
        for path, value in changes.items():
            if path == "display_name":
                rec.display_name = value
            elif path == "description":
                rec.description = value
            elif path == "membership_status":
                rec.membership_status = value or "OPEN"
            elif path == "integration_code":
                rec.integration_code = value
            elif path == "account_access_status":
                rec.account_access_status = value
            elif path == "target_network_info.eligible_for_search":
                rec.eligible_for_search = value
        rec.duration = duration
        return json_response(self.to_json(rec))

    async def delete(self, request: Request, grant: Grant) -> Response:
        rec = self._record(request, grant)
        if not query_bool(request, "validateOnly", "validate_only", strict=True):
            del self.lists[rec.account_id][rec.list_id]
        return json_response({})


_SAMPLE = UserListRecord("0", "1", "", DAY, "CONTACT_ID", None).filter_values()


def _one(field_path: str, reason: str, description: str) -> list[Any]:
    v = Violations()
    v.add(field_path, reason, description)
    return v.items


def _key_type(info: dict[str, Any], v: Violations) -> tuple[str | None, str | None, dict[str, Any]]:
    """The upload key type, data source type and other key info of ``ingestedUserListInfo``."""
    path = "user_list.ingested_user_list_info"
    types = info.get("uploadKeyTypes", [])
    if not types:
        v.add(
            f"{path}.upload_key_types", "REQUIRED_FIELD_MISSING", "An upload key type is required."
        )
        return None, None, {}
    if len(types) > 1:
        v.add(
            f"{path}.upload_key_types",
            "UNSUPPORTED_USER_LIST_UPLOAD_KEY_TYPES",
            "Exactly one upload key type is allowed.",
        )
        return None, None, {}
    key_type = types[0]
    if key_type == "UPLOAD_KEY_TYPE_UNSPECIFIED":
        v.add(f"{path}.upload_key_types[0]", "INVALID_ENUM_VALUE", "Invalid upload key type.")
        return None, None, {}
    others = {k: val for k, val in info.items() if k not in ("uploadKeyTypes", "contactIdInfo")}
    source = None
    if key_type == "CONTACT_ID":
        source = info.get("contactIdInfo", {}).get("dataSourceType", "DATA_SOURCE_TYPE_FIRST_PARTY")
        if source == "DATA_SOURCE_TYPE_UNSPECIFIED":
            v.add(
                f"{path}.contact_id_info.data_source_type",
                "INVALID_ENUM_VALUE",
                "Invalid data source type.",
            )
    elif "contactIdInfo" in info:
        v.add(
            f"{path}.contact_id_info",
            "UNSUPPORTED_INGESTED_USER_LIST_INFO_CONFIG",
            "Contact id info is only for CONTACT_ID lists.",
        )
    return key_type, source, others


def _encode_token(offset: int, bound: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, bound]).encode()).decode().rstrip("=")


def _decode_token(token: str, bound: str) -> int:
    bad = ApiError(
        400,
        reason="INVALID_ARGUMENT",
        violations=_one("page_token", "INVALID_PAGE_TOKEN", "Invalid page token."),
    )
    try:
        offset, owner = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise bad from None
    if owner != bound or not isinstance(offset, int) or offset < 0:
        raise bad
    return offset
