"""Bulk API 2.0 query jobs: ``/services/data/vXX.X/jobs/query``.

* ``POST /jobs/query`` ``{"operation": "query"|"queryAll", "query", "columnDelimiter"?,
  "lineEnding"?, "contentType"?}`` → 200 job info with ``state: "UploadComplete"`` (JSON even
  when the request says ``Accept: text/csv``). The SOQL is checked now (same errors as REST
  query); ``COUNT()`` and ``OFFSET`` are refused as Bulk API 2.0 does.
* ``GET /jobs/query/{id}`` polls: the first ``bulk_upload_polls`` polls answer
  ``UploadComplete``, the next ``bulk_progress_polls`` ``InProgress``, then ``JobComplete``
  (the rows are selected when the job completes). ``GET /jobs/query`` lists jobs.
* ``GET /jobs/query/{id}/results?maxRecords=&locator=`` → ``text/csv`` (every cell quoted,
  the job's delimiter and line ending, columns in SELECT order) with ``Sforce-NumberOfRecords``
  (rows in this page) and ``Sforce-Locator`` (an opaque string, the string ``null`` on the last
  page); a locator stays valid while the job exists. Gzip with ``Accept-Encoding: gzip``.
  Before completion: ``JOB_NOT_COMPLETE`` with status ``bulk_job_not_complete_status`` (412);
  asked with another API version than the job's: status ``bulk_version_mismatch_status``
  (409).
* ``PATCH /jobs/query/{id}`` ``{"state": "Aborted"}`` aborts an unfinished job; ``DELETE``
  removes a job (204). Unknown jobs → 404 ``NOT_FOUND``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from segsync.testing.simulator import json_body

from . import engine, soql
from .data import Record
from .rest import NOT_FOUND, ApiError, Handler, json_response
from .schema import format_datetime

if TYPE_CHECKING:
    from . import SalesforceSimulator

__all__ = ["BulkQueryResource"]

_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_STATE_WORDS = {
    "UploadComplete": "UPLOAD_COMPLETE",
    "InProgress": "IN_PROGRESS",
    "Aborted": "ABORTED",
    "Failed": "FAILED",
    "JobComplete": "JOB_COMPLETE",
}


@dataclass
class _Job:
    id: str
    operation: str
    query: soql.Query
    version: str
    created: int  # epoch ms
    user_id: str | None
    column_delimiter: str
    line_ending: str
    state: str = "UploadComplete"
    modified: int = 0
    polls: int = 0
    rows: list[Record] = field(default_factory=list)
    started: float = 0.0


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class BulkQueryResource:
    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim
        self.jobs: dict[str, _Job] = {}

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/jobs/query", self.create),
            ("GET", "/jobs/query", self.list_jobs),
            ("GET", "/jobs/query/{job_id}", self.get),
            ("PATCH", "/jobs/query/{job_id}", self.patch),
            ("DELETE", "/jobs/query/{job_id}", self.delete),
            ("GET", "/jobs/query/{job_id}/results", self.results),
        ]

    def _info(self, job: _Job, *, full: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.query.sobject.name,
            "createdById": job.user_id,
            "createdDate": format_datetime(job.created),
            "systemModstamp": format_datetime(job.modified),
            "state": job.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.version),
            "lineEnding": job.line_ending,
            "columnDelimiter": job.column_delimiter,
        }
        if full:
            done = job.state == "JobComplete"
            info.update(
                {
                    "jobType": "V2Query",
                    "numberRecordsProcessed": len(job.rows) if done else 0,
                    "retries": 0,
                    "totalProcessingTime": 0,
                    "isPkChunkingSupported": True,
                }
            )
        return info

    def _job(self, request: Request) -> _Job:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND)
        return job

    async def create(self, request: Request, version: str) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "INVALIDJOB", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise ApiError(400, "INVALIDJOB", f"Invalid job operation: {operation}")
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        line_ending = str(body.get("lineEnding") or "LF")
        if delimiter not in _DELIMITERS:
            raise ApiError(400, "INVALIDJOB", f"Invalid column delimiter: {delimiter}")
        if line_ending not in _LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", f"Invalid line ending: {line_ending}")
        if str(body.get("contentType") or "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "Only CSV content is supported")
        query = self.sim.query_resource.parse(body.get("query"))
        if query.count or query.offset is not None:
            what = "COUNT()" if query.count else "OFFSET"
            raise ApiError(400, "INVALIDJOB", f"Bulk API 2.0 query jobs do not support {what}")
        now = self.sim.now_ms()
        job = _Job(
            self.sim.ids.new("750"),
            operation,
            query,
            version,
            now,
            self.sim.user_id(request),
            delimiter,
            line_ending,
            modified=now,
        )
        self.jobs[job.id] = job
        self.sim.limits.count_bulk_query_job()
        return json_response(self._info(job, full=False))

    async def list_jobs(self, request: Request, version: str) -> Response:
        records = [self._info(job, full=False) for job in self.jobs.values()]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    def _advance(self, job: _Job) -> None:
        if job.state not in ("UploadComplete", "InProgress"):
            return
        job.polls += 1
        sim = self.sim
        if job.polls <= sim.bulk_upload_polls:
            state = "UploadComplete"
        elif job.polls <= sim.bulk_upload_polls + sim.bulk_progress_polls:
            state = "InProgress"
        else:
            include = job.operation == "queryAll"
            job.rows = engine.select(sim.org, job.query, include_deleted=include)
            state = "JobComplete"
        if state != job.state:
            job.state, job.modified = state, sim.now_ms()

    async def get(self, request: Request, version: str) -> Response:
        job = self._job(request)
        self._advance(job)
        return json_response(self._info(job))

    async def patch(self, request: Request, version: str) -> Response:
        job = self._job(request)
        body = await json_body(request)
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise ApiError(400, "INVALIDJOB", "A query job can only be set to state Aborted")
        if job.state not in ("UploadComplete", "InProgress"):
            raise ApiError(400, "INVALIDJOBSTATE", f"Job in state {job.state} can't be aborted")
        job.state, job.modified = "Aborted", self.sim.now_ms()
        return json_response(self._info(job, full=False))

    async def delete(self, request: Request, version: str) -> Response:
        del self.jobs[self._job(request).id]
        return Response(status_code=204)

    async def results(self, request: Request, version: str) -> Response:
        job = self._job(request)
        sim = self.sim
        if version != job.version:
            message = (
                f"Job {job.id} was created with API version {job.version}; request its "
                f"results with the same version"
            )
            raise ApiError(sim.bulk_version_mismatch_status, "API_VERSION_MISMATCH", message)
        if job.state != "JobComplete":
            message = (
                "can only download query results of successfully completed bulk job "
                f"with status: JOB_COMPLETE. Current status: {_STATE_WORDS[job.state]}"
            )
            raise ApiError(sim.bulk_job_not_complete_status, "JOB_NOT_COMPLETE", message)
        params = request.query_params
        raw_max = params.get("maxRecords")
        max_records = sim.bulk_default_max_records
        if raw_max is not None:
            if not raw_max.isdigit() or int(raw_max) < 1:
                raise ApiError(400, "INVALIDJOB", f"Invalid maxRecords: {raw_max}")
            max_records = int(raw_max)
        start = 0
        if params.get("locator"):
            offset = _offset(params["locator"])
            if offset is None or offset > len(job.rows):
                raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {params['locator']}")
            start = offset
        page = job.rows[start : start + max_records]
        end = start + len(page)
        out = io.StringIO()
        writer = csv.writer(
            out,
            delimiter=_DELIMITERS[job.column_delimiter],
            lineterminator=_LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow([f.name for f in job.query.fields])
        writer.writerows(engine.csv_rows(sim.org, job.query, page))
        data = out.getvalue().encode()
        headers = {
            "Sforce-NumberOfRecords": str(len(page)),
            "Sforce-Locator": _locator(end) if end < len(job.rows) else "null",
        }
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            data = gzip.compress(data, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return Response(data, 200, headers, media_type="text/csv")
