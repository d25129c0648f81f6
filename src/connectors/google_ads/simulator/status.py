"""``GET /v1/requestStatus:retrieve?requestId=…``: per-destination diagnostics (reference §4.6).

Every accepted ingest, remove or removeAll call is an :class:`Upload`. Its answer lists the
request's destinations in order::

    {"requestStatusPerDestination": [{
       "destination": {...as sent, enums as names...},
       "requestStatus": "PARTIAL_SUCCESS",
       "errorInfo": {"errorCounts": [{"recordCount": "12",
                                      "reason": "PROCESSING_ERROR_REASON_DENIED_CONSENT"}]},
       "warningInfo": {"warningCounts": []},
       "audienceMembersIngestionStatus": {"userDataIngestionStatus": {
           "recordCount": "10000", "userIdentifierCount": "18000",
           "uploadMatchRateRange": "MATCH_RATE_RANGE_51_TO_60"}}}]}

* ``PROCESSING`` (no ``errorInfo``/``warningInfo``, no match rate) until the upload has been
  applied — ``processing_seconds`` after it was accepted — **and** ``processing_polls``
  retrievals have been answered; then ``SUCCESS``, ``PARTIAL_SUCCESS`` when some records were
  dropped (consent denied or unknown, list gone), or ``FAILED`` when all were
  (``all_failed_status``, inferred).
* ``uploadMatchRateRange``: matched records over the records kept, in Google's buckets;
  ``MATCH_RATE_RANGE_NOT_ELIGIBLE`` when fewer than ``match_rate_min_records`` were kept
  (inferred).
* The caller must reach every destination's operating account the way the upload did
  (same principal, or another user of the same access path), else 403. A malformed id is
  ``INVALID_REQUEST_ID``; an unknown one 404.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from .accounts import Directory
from .errors import Violations, json_response, not_found
from .oauth import Grant

__all__ = ["DestinationStats", "StatusService", "Upload", "match_rate_range"]

_BUCKETS = (
    (20, "MATCH_RATE_RANGE_LESS_THAN_20"),
    (31, "MATCH_RATE_RANGE_20_TO_30"),
    (41, "MATCH_RATE_RANGE_31_TO_40"),
    (51, "MATCH_RATE_RANGE_41_TO_50"),
    (61, "MATCH_RATE_RANGE_51_TO_60"),
    (71, "MATCH_RATE_RANGE_61_TO_70"),
    (81, "MATCH_RATE_RANGE_71_TO_80"),
    (91, "MATCH_RATE_RANGE_81_TO_90"),
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def match_rate_range(matched: int, kept: int, min_records: int) -> str:
    """Google's match-rate bucket for ``matched`` of ``kept`` records (whole percent, down)."""
    if kept < max(min_records, 1):
        return "MATCH_RATE_RANGE_NOT_ELIGIBLE"
    percent = (100 * matched) // kept
    for upper, name in _BUCKETS:
        if percent < upper:
            return name
    return "MATCH_RATE_RANGE_91_TO_100"


@dataclass
class DestinationStats:
    """What an upload did to one destination."""

    records: int = 0
    identifiers: int = 0
    matched: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Upload:
    """An accepted ingest/remove/removeAll call, its destinations and (once applied) results."""

    request_id: str
    kind: Literal["ingest", "remove", "remove_all"]
    destinations: list[dict[str, Any]]  # as sent, enums as names
    access: list[tuple[str, str | None]]  # (operating account, login account) per destination
    ready_at: float
    payload: Any = None  # what applying needs; dropped once applied
    stats: list[DestinationStats] = field(default_factory=list)
    applied: bool = False
    polls: int = 0


class StatusService:
    """Uploads by request id, and the retrieve route."""

    def __init__(
        self,
        directory: Directory,
        *,
        processing_polls: int,
        match_rate_min_records: int,
        all_failed_status: Literal["FAILED", "PARTIAL_SUCCESS"],
        emit_defaults: bool,
        enforce_access: Callable[[], bool],
    ) -> None:
        self.directory = directory
        self.processing_polls = processing_polls
        self.match_rate_min_records = match_rate_min_records
        self.all_failed_status = all_failed_status
        self.emit_defaults = emit_defaults
        self._enforce_access = enforce_access
        self.uploads: dict[str, Upload] = {}

    def add(self, upload: Upload) -> None:
        self.uploads[upload.request_id] = upload

    def _count(self, out: dict[str, Any], key: str, value: int) -> None:
        if value or self.emit_defaults:
            out[key] = str(value)

    def destination_status(self, upload: Upload, index: int, final: bool) -> dict[str, Any]:
        """One ``requestStatusPerDestination`` entry."""
        out: dict[str, Any] = {"destination": upload.destinations[index]}
        stats = upload.stats[index] if upload.applied else None
        if not final or stats is None:
            out["requestStatus"] = "PROCESSING"
        else:
            failed = sum(stats.errors.values())
            if not failed:
                out["requestStatus"] = "SUCCESS"
            elif failed >= stats.records:
                out["requestStatus"] = self.all_failed_status
            else:
                out["requestStatus"] = "PARTIAL_SUCCESS"
            if failed:
                counts = [
                    {"recordCount": str(n), "reason": reason}
                    for reason, n in sorted(stats.errors.items())
                ]
                out["errorInfo"] = {"errorCounts": counts}
            out["warningInfo"] = {"warningCounts": []}
        if upload.kind == "remove_all":
            out["removeAllAudienceMembersStatus"] = {}
            return out
        body: dict[str, Any] = {}
        if stats is not None:
            self._count(body, "recordCount", stats.records)
            self._count(body, "userIdentifierCount", stats.identifiers)
            if upload.kind == "ingest" and final:
                kept = stats.records - sum(stats.errors.values())
                body["uploadMatchRateRange"] = match_rate_range(
                    stats.matched, kept, self.match_rate_min_records
                )
        if upload.kind == "ingest":
            out["audienceMembersIngestionStatus"] = {"userDataIngestionStatus": body}
        else:
            out["audienceMembersRemovalStatus"] = {"userDataRemovalStatus": body}
        return out

    async def retrieve(self, request: Request, grant: Grant) -> Response:
        query = request.query_params
        request_id = query.get("requestId", query.get("request_id", ""))
        v = Violations()
        if not request_id:
            v.add("request_id", "REQUIRED_FIELD_MISSING", "Request id is required.")
        elif not _UUID.fullmatch(request_id):
            v.add("request_id", "INVALID_REQUEST_ID", "Request id is not valid.")
        v.raise_if_any()
        upload = self.uploads.get(str(uuid.UUID(request_id)))
        if upload is None:
            raise not_found(f"Request {request_id} was not found.")
        if self._enforce_access():
            for operating, login in upload.access:
                self.directory.check_access(grant.principal, operating, login)
        upload.polls += 1
        final = upload.applied and upload.polls > self.processing_polls
        entries = [
            self.destination_status(upload, i, final) for i in range(len(upload.destinations))
        ]
        return json_response({"requestStatusPerDestination": entries})
