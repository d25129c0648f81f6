"""Salesforce's HTTP dialect: OAuth, what its answers mean, and the calls segsync makes.

Everything generic (pacing, retries, classification) is :mod:`segsync.http`; this module says
what Salesforce means:

* **Auth.** An OAuth 2.0 flow of an External Client App (:func:`grant_for`: client
  credentials, JWT bearer, refresh token with rotated tokens kept in the instance's work
  folder); the token answer's ``instance_url`` is the API host. Salesforce sends no
  ``expires_in``: a session that ends mid-run answers 401 ``INVALID_SESSION_ID``, and
  :class:`~segsync.http.OAuth2Auth` fetches a new token and retries once.
* **Errors** (:func:`classify`) are JSON arrays ``[{"message", "errorCode"}]``. 403
  ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded." means the org's daily allocation
  is used up → :class:`~segsync.errors.QuotaError` (the sync is deferred); the same code for
  the long-request cap ("ConcurrentPerOrgLongTxn") is transient → retried after a pause. 400
  ``INVALID_QUERY_LOCATOR`` → :class:`LocatorExpired` (the reader resumes the query). 410 → the
  pinned API version is retired. Other 403s name the errorCode (a missing permission).
* **Usage.** Every answer's ``Sforce-Limit-Info: api-usage=N/M`` is read (:class:`ApiUsage`);
  once ``N`` reaches ``max_api_usage`` of ``M`` no further call is made: QuotaError.
* **Calls** (:class:`SalesforceApi`): SOQL pages (``query``/``nextRecordsUrl``, resumed by
  ``Id`` after an expired locator), Bulk API 2.0 query jobs (CSV pages by ``Sforce-Locator``)
  chosen by the first page's ``totalSize``, sObject Collections in 200s, and ``IN (...)`` lists
  split to keep URIs short (:func:`in_lists`).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from segsync.connector import ConnectorContext
from segsync.errors import AuthError, FatalError, QuotaError, RetryableError
from segsync.http import (
    ClientCredentialsGrant,
    FileTokenStore,
    Grant,
    HttpClient,
    JwtBearerGrant,
    OAuth2Auth,
    RefreshTokenGrant,
    RetryPolicy,
    TokenCache,
    classify_response,
    connect,
    with_retries,
)
from segsync.http.classify import describe

from .settings import SalesforceSettings

__all__ = [
    "COLLECTION_MAX",
    "ApiUsage",
    "LocatorExpired",
    "SalesforceApi",
    "classify",
    "error_code",
    "grant_for",
    "in_lists",
    "item_error",
    "parse_limit_info",
    "soql_string",
]

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
COLLECTION_MAX = 200
"""Records (or ids) per sObject Collections call."""
LONG_TXN_PAUSE = 5.0
"""Seconds to wait after the long-request concurrency cap refused a call."""
JWT_LIFETIME = 150
"""Seconds a JWT bearer assertion is valid (Salesforce refuses more than about 3 minutes)."""
_POLL_CAP = 30.0
_TOKEN_FILE = "salesforce-refresh-token.json"  # noqa: S105 - a file name


class LocatorExpired(FatalError):
    """400 ``INVALID_QUERY_LOCATOR``: a ``nextRecordsUrl`` that no longer works (expired, or
    already read once by a request whose answer was lost)."""


def error_code(response: httpx.Response) -> tuple[str, str]:
    """``(errorCode, message)`` of a Salesforce error answer (``("", "")`` when it has none)."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return "", ""
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return "", ""
    return str(first.get("errorCode") or first.get("error") or ""), str(
        first.get("message") or first.get("error_description") or ""
    )


def classify(response: httpx.Response) -> None:
    """Raise the segsync error a failed Salesforce answer means; return for a success."""
    status = response.status_code
    if status < 400:
        return
    code, message = error_code(response)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        if "ConcurrentPerOrgLongTxn" in message:
            raise RetryableError(describe(response), retry_after=LONG_TXN_PAUSE, status=status)
        raise QuotaError(
            f"{describe(response)} — the org's daily API allocation (a rolling 24 hours) is "
            "used up; the pending changes go out on a later run",
            status=status,
        )
    if code == "INVALID_QUERY_LOCATOR":
        raise LocatorExpired(describe(response), status=status)
    if status == 410:
        raise FatalError(
            f"{describe(response)} — this API version is retired: set api_version to a "
            "supported one (66.0 or later)",
            status=status,
        )
    if status == 403:
        raise AuthError(
            f"{describe(response)} (the integration user lacks a permission: {code or '?'})",
            status=status,
        )
    classify_response(response)


def parse_limit_info(value: str) -> dict[str, tuple[int, int]]:
    """``api-usage=10018/100000; api-bursts=1/750`` → ``{"api-usage": (10018, 100000), ...}``;
    unknown keys kept, unreadable parts skipped."""
    out: dict[str, tuple[int, int]] = {}
    for part in value.split(";"):
        key, _, counts = part.strip().partition("=")
        used, _, limit = counts.partition("/")
        limit = limit.split("(")[0]  # per-app-api-usage=17/250(appName=...)
        try:
            out[key.strip().lower()] = (int(used), int(limit))
        except ValueError:
            continue
    return out


class ApiUsage:
    """The org's daily API usage as the last ``Sforce-Limit-Info`` said, and the share of it
    segsync may use (``max_fraction``)."""

    def __init__(self, max_fraction: float) -> None:
        self.max_fraction = max_fraction
        self.used: int | None = None
        self.limit: int | None = None

    def read(self, response: httpx.Response) -> None:
        """A :data:`~segsync.http.LimitsReader` that records the usage (it paces nothing:
        Salesforce has no per-second limit, only the daily allocation, enforced by
        :meth:`check`)."""
        header = response.headers.get("sforce-limit-info")
        usage = parse_limit_info(header).get("api-usage") if header else None
        if usage is not None:
            self.used, self.limit = usage

    def check(self) -> None:
        """QuotaError when the usage reached ``max_fraction`` of the allocation."""
        used, limit = self.used, self.limit
        if used is None or not limit or used < limit * self.max_fraction:
            return
        raise QuotaError(
            f"the org has used {used:,} of its {limit:,} daily API requests; segsync stops at "
            f"max_api_usage = {self.max_fraction:g} of them, leaving the rest to other "
            "integrations; the pending work goes out on a later run"
        )


def soql_string(value: str) -> str:
    """``value`` as a SOQL string literal (quotes and backslashes escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{escaped}'"


def in_lists(values: Iterable[str], budget: int) -> Iterator[list[str]]:
    """``values`` in groups whose ``'a','b',…`` list, URL-encoded, fits in ``budget`` bytes."""
    group: list[str] = []
    used = 0
    for value in values:
        size = len(quote(soql_string(value), safe="")) + 3  # the encoded comma
        if group and used + size > budget:
            yield group
            group, used = [], 0
        group.append(value)
        used += size
    if group:
        yield group


def item_error(result: dict[str, Any]) -> tuple[str, str]:
    """``(statusCode, message)`` of a failed per-record result."""
    errors = result.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("statusCode") or "UNKNOWN"), str(first.get("message") or "failed")


def grant_for(settings: SalesforceSettings, context: ConnectorContext) -> Grant:
    """The OAuth grant ``settings.auth`` names (secrets checked present by the settings)."""
    secret = settings.client_secret
    if settings.auth == "client_credentials":
        assert secret is not None
        return ClientCredentialsGrant(settings.client_id, secret)
    if settings.auth == "jwt_bearer":
        assert settings.username is not None and settings.private_key is not None
        return JwtBearerGrant(
            settings.client_id,
            settings.username,
            settings.audience,
            settings.private_key,
            lifetime=JWT_LIFETIME,
        )
    assert secret is not None and settings.refresh_token is not None
    store = FileTokenStore(context.work_dir / _TOKEN_FILE, settings.refresh_token)
    return RefreshTokenGrant(settings.client_id, secret, settings.refresh_token, store=store)


def _tls_context(settings: SalesforceSettings, context: ConnectorContext) -> ConnectorContext:
    """``context`` with a transport that trusts only ``ca_bundle``, when one is set (and no
    transport is given already)."""
    if settings.ca_bundle is None or context.transport is not None:
        return context
    path = context.base_dir / settings.ca_bundle
    try:
        verify = ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise FatalError(f"ca_bundle {str(path)!r} is not a readable PEM file ({exc})") from None
    limits = httpx.Limits(
        max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
    )
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    return dataclasses.replace(context, transport=transport)


async def pause(seconds: float) -> None:
    """How the connector waits (retries, Bulk polls): :func:`asyncio.sleep`; tests replace it."""
    await asyncio.sleep(seconds)


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text``, each with its ``\n``, one at a time: ``csv.reader`` joins a quoted
    field's lines again, and a result page of 50,000 rows is never copied whole
    (``io.StringIO`` would hold it at four bytes a character)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _csv_rows(text: str, size: int) -> Iterator[list[dict[str, str | None]]]:
    """A Bulk API 2.0 result page (header line, then rows) as dicts, ``size`` at a time; an
    empty cell is null."""
    reader = csv.reader(_lines(text))
    header = next(reader, None)
    if header is None:
        return
    batch: list[dict[str, str | None]] = []
    for row in reader:
        batch.append({k: (v if v != "" else None) for k, v in zip(header, row, strict=False)})
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class SalesforceApi:
    """One connector instance's calls: two clients over one paced credential — ``http``
    (retried by segsync's policy) and ``once`` (never retried, for creations that must not
    happen twice: a lost answer is settled by looking again)."""

    def __init__(
        self,
        settings: SalesforceSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep or pause
        context = _tls_context(settings, context)
        self.auth = OAuth2Auth(
            settings.login_url + TOKEN_PATH, grant_for(settings, context), cache=TokenCache()
        )
        self.usage = ApiUsage(settings.max_api_usage)
        common: dict[str, Any] = {
            "platform": "salesforce",
            "credential": f"{settings.client_id}:{settings.username or ''}",
            "auth": self.auth,
            "requests": None,  # no per-second limit: the daily allocation (ApiUsage) is it
            "concurrency": settings.concurrency,
            "classify": classify,
            "read_limits": self.usage.read,
            "sleep": self.sleep,
        }
        name = f"salesforce:{context.instance}"
        self.http: HttpClient = connect(context, settings.login_url, name=name, **common)
        self.once: HttpClient = connect(
            context,
            settings.login_url,
            name=f"{name}:once",
            retry=RetryPolicy(max_attempts=1),
            **common,
        )

    @property
    def list_budget(self) -> int:
        """Bytes an ``IN (...)`` list may take in a query's URI (the rest is the query's own)."""
        return self.settings.max_uri_bytes - 1000

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.once.aclose()

    def stats(self) -> dict[str, Any]:
        return self.http.stats.merge(self.once.stats).as_dict()

    # -- the API's address ---------------------------------------------------------------

    async def base(self) -> str:
        """``{instance_url}/services/data/vXX.X``, logging in first if needed."""
        token = self.auth.token
        if token is None:
            token = await with_retries(
                lambda: self.auth.ensure_token(self.http.raw), self.http.retry, sleep=self.sleep
            )
        instance = str(token.extras.get("instance_url") or self.settings.login_url)
        return f"{instance.rstrip('/')}/services/data/v{self.settings.api_version}"

    async def instance(self) -> str:
        """``instance_url`` (for the ``nextRecordsUrl`` paths the API answers)."""
        base = await self.base()
        return base[: base.index("/services/data/")]

    # -- plain calls ------------------------------------------------------------------------

    async def call(self, method: str, path: str, *, once: bool = False, **kwargs: Any) -> Any:
        """A JSON call to ``{base}{path}`` (``path`` may be a full URL)."""
        self.usage.check()
        url = path if path.startswith("http") else await self.base() + path
        client = self.once if once else self.http
        return await client.json(method, url, **kwargs)

    # -- reading ------------------------------------------------------------------------------

    async def query_pages(self, soql: str) -> AsyncIterator[dict[str, Any]]:
        """Every answer of a REST query: the first, then each ``nextRecordsUrl``."""
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.page_size}"}
        answer = await self.call("GET", "/query", params={"q": soql}, headers=headers)
        yield answer
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            url = await self.instance() + str(answer["nextRecordsUrl"])
            answer = await self.call("GET", url, headers=headers)
            yield answer

    async def count(self, soql_from_where: str) -> int:
        """``SELECT COUNT() FROM …``."""
        answer = await self.call("GET", "/query", params={"q": f"SELECT COUNT() {soql_from_where}"})
        return int(answer.get("totalSize") or 0)

    async def rows(
        self, sobject: str, fields: Sequence[str], where: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every row of ``SELECT fields FROM sobject [WHERE where]``, a page at a time.

        REST pages (ordered by ``Id``; an expired or lost locator resumes after the last
        ``Id`` read). When the first page's ``totalSize`` is over ``bulk_threshold`` (and more
        pages follow), the rest — ``Id`` after that page's last — is read by a Bulk API 2.0
        query job instead. REST rows are JSON values; Bulk rows are text (null as None) —
        readers parse both (:mod:`segsync.values`)."""
        select = f"SELECT {', '.join(dict.fromkeys(['Id', *fields]))} FROM {sobject}"
        threshold = self.settings.bulk_threshold if self.settings.bulk_queries else None
        last_id: str | None = None
        failures = 0
        while True:
            conditions = [c for c in (where, last_id and f"Id > {soql_string(last_id)}") if c]
            soql = select + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
            try:
                async for answer in self.query_pages(soql + " ORDER BY Id"):
                    records = [
                        {k: v for k, v in r.items() if k != "attributes"}
                        for r in answer.get("records") or []
                    ]
                    if records:
                        last_id, failures = str(records[-1]["Id"]), 0
                        yield records
                    if threshold is None:
                        continue
                    large = int(answer.get("totalSize") or 0) > threshold
                    if large and not answer.get("done", True) and last_id is not None:
                        rest = [c for c in (where, f"Id > {soql_string(last_id)}") if c]
                        async for page in self.bulk_rows(f"{select} WHERE {' AND '.join(rest)}"):
                            yield page
                        return
                    threshold = None  # decided: REST pages
                return
            except LocatorExpired:
                failures += 1
                if failures > 3:
                    raise RetryableError(
                        f"{sobject} query: the query locator expired {failures} times in a row"
                    ) from None

    async def bulk_rows(self, soql: str) -> AsyncIterator[list[dict[str, str | None]]]:
        """Every row of a Bulk API 2.0 query job, in pages of ``page_size`` rows."""
        job = await self.call(
            "POST",
            "/jobs/query",
            json={
                "operation": "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        job_id = str(job["id"])
        wait = self.settings.bulk_poll_seconds
        while True:
            info = await self.call("GET", f"/jobs/query/{job_id}")
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                reason = info.get("errorMessage") or state.lower()
                raise FatalError(f"Bulk API 2.0 query job {job_id} ended {state}: {reason}")
            await self.sleep(wait)
            wait = min(wait * 2, _POLL_CAP)
        locator: str | None = None
        url = f"/jobs/query/{job_id}/results"
        while True:
            params: dict[str, Any] = {"maxRecords": self.settings.bulk_page_size}
            if locator:
                params["locator"] = locator
            text, locator = await with_retries(
                lambda p=params: self._result_page(url, p),  # type: ignore[misc]
                self.http.retry,
                sleep=self.sleep,
            )
            for rows in _csv_rows(text, self.settings.page_size):
                yield rows
            if not locator or locator == "null":
                return

    async def _result_page(self, path: str, params: dict[str, Any]) -> tuple[str, str | None]:
        """One results page: its CSV text and the next locator; a page whose row count is not
        what ``Sforce-NumberOfRecords`` says (cut short on the way) is retried."""
        self.usage.check()
        response = await self.http.request(
            "GET", await self.base() + path, params=params, headers={"Accept": "text/csv"}
        )
        text = response.text
        expected = response.headers.get("sforce-numberofrecords")
        rows = sum(1 for _ in csv.reader(_lines(text))) - 1 if text else 0
        if expected is not None and expected.isdigit() and rows != int(expected):
            raise RetryableError(
                f"GET {path}: a Bulk API 2.0 result page had {rows} rows, not {expected}"
            )
        return text, response.headers.get("sforce-locator")

    # -- sObject Collections ------------------------------------------------------------------

    async def insert(
        self,
        records: list[dict[str, Any]],
        *,
        once: bool = False,
        headers: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """``POST /composite/sobjects`` (allOrNone false): one result per record, in order."""
        answer = await self.call(
            "POST",
            "/composite/sobjects",
            once=once,
            json={"allOrNone": False, "records": records},
            headers=headers,
        )
        return list(answer)

    async def update(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``PATCH /composite/sobjects`` (allOrNone false): one result per record, in order."""
        answer = await self.call(
            "PATCH", "/composite/sobjects", json={"allOrNone": False, "records": records}
        )
        return list(answer)

    async def delete(self, ids: list[str]) -> list[dict[str, Any]]:
        """``DELETE /composite/sobjects?ids=…`` (allOrNone false): one result per id."""
        answer = await self.call(
            "DELETE",
            "/composite/sobjects",
            params={"ids": ",".join(ids), "allOrNone": "false"},
        )
        return list(answer)
