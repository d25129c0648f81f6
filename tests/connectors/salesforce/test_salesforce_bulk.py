"""The Salesforce simulator's Bulk API 2.0 query jobs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from segsync.connectors.salesforce.simulator import SalesforceSimulator

V = "/services/data/v66.0"
JOBS = f"{V}/jobs/query"
JAN_2_MS = 1_767_312_000_000
Make = Callable[..., SalesforceSimulator]
Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
def contacts(sim: SalesforceSimulator) -> list[str]:
    return [sim.insert("Contact", LastName=f"L{i:03d}", Email=f"u{i}@example.com" if i % 4 else None,
                       HasOptedOutOfEmail=i % 3 == 0, SystemModstamp=JAN_2_MS + i)
            for i in range(250)]  # fmt: skip


async def create(c: httpx.AsyncClient, soql: str, **extra: Any) -> dict[str, Any]:
    body = {
        "operation": "query",
        "query": soql,
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
        **extra,
    }
    r = await c.post(JOBS, json=body, headers={"Accept": "text/csv; charset=UTF-8"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    job: dict[str, Any] = r.json()
    return job


async def complete(c: httpx.AsyncClient, job_id: str) -> list[str]:
    states = []
    for _ in range(10):
        state = (await c.get(f"{JOBS}/{job_id}")).json()["state"]
        states.append(state)
        if state == "JobComplete":
            break
    return states


async def test_job_lifecycle_and_shapes(
    sim: SalesforceSimulator, contacts: list[str], api: httpx.AsyncClient, clock: Any
) -> None:
    job = await create(api, "SELECT Id, Email FROM Contact")
    assert job["id"].startswith("750") and len(job["id"]) == 18
    assert {k: job[k] for k in ("operation", "object", "state", "concurrencyMode", "contentType",
                                "apiVersion", "lineEnding", "columnDelimiter")} == {
        "operation": "query", "object": "Contact", "state": "UploadComplete",
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 66.0,
        "lineEnding": "LF", "columnDelimiter": "COMMA"}  # fmt: skip
    assert job["createdById"].startswith("005") and job["createdDate"].endswith("+0000")
    assert await complete(api, job["id"]) == ["UploadComplete", "InProgress", "JobComplete"]
    info = (await api.get(f"{JOBS}/{job['id']}/")).json()
    assert info["numberRecordsProcessed"] == 250 and info["jobType"] == "V2Query"
    listed = (await api.get(JOBS)).json()
    assert [j["id"] for j in listed["records"]] == [job["id"]] and listed["done"] is True


async def test_results_page_with_max_records_and_locators(
    sim: SalesforceSimulator, contacts: list[str], api: httpx.AsyncClient
) -> None:
    job = await create(
        api,
        "SELECT Id, Email, HasOptedOutOfEmail, SystemModstamp FROM Contact ORDER BY SystemModstamp",
    )
    await complete(api, job["id"])
    rows: list[list[str]] = []
    locator, pages, sizes = None, [], []
    while True:
        params: dict[str, Any] = {"maxRecords": 100}
        if locator:
            params["locator"] = locator
        r = await api.get(f"{JOBS}/{job['id']}/results", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        text = r.text
        assert text.startswith('"Id","Email","HasOptedOutOfEmail","SystemModstamp"\n')
        page = list(csv.reader(io.StringIO(text)))[1:]
        assert int(r.headers["Sforce-NumberOfRecords"]) == len(page)
        sizes.append(len(page))
        rows += page
        locator = r.headers["Sforce-Locator"]
        pages.append(locator)
        if locator == "null":
            break
    assert sizes == [100, 100, 50]
    assert [row[0] for row in rows] == contacts
    assert rows[0] == [contacts[0], "", "true", "2026-01-02T00:00:00.000Z"]
    assert rows[1][1:3] == ["u1@example.com", "false"]
    # a locator stays valid and re-readable while the job exists
    again = await api.get(
        f"{JOBS}/{job['id']}/results", params={"maxRecords": 100, "locator": pages[0]}
    )
    assert list(csv.reader(io.StringIO(again.text)))[1][0] == contacts[100]
    bad = await api.get(f"{JOBS}/{job['id']}/results", params={"locator": "!!!"})
    assert bad.status_code == 400


async def test_results_before_completion_and_with_another_version(
    make: Make, connect: Connect
) -> None:
    sim = make(bulk_upload_polls=0, bulk_progress_polls=2, bulk_job_not_complete_status=400)
    sim.insert("Contact", LastName="Only")
    async with connect(sim) as c:
        job = await create(c, "SELECT Id FROM Contact")
        early = await c.get(f"{JOBS}/{job['id']}/results")
        assert (await c.get(f"{JOBS}/{job['id']}")).json()["state"] == "InProgress"
        running = await c.get(f"{JOBS}/{job['id']}/results")
        assert await complete(c, job["id"]) == ["InProgress", "JobComplete"]
        other = await c.get(f"/services/data/v67.0/jobs/query/{job['id']}/results")
        same = await c.get(f"{JOBS}/{job['id']}/results")
    assert early.status_code == 400
    assert early.json() == [{"message": "can only download query results of successfully completed bulk job "
                             "with status: JOB_COMPLETE. Current status: UPLOAD_COMPLETE",
                             "errorCode": "JOB_NOT_COMPLETE"}]  # fmt: skip
    assert running.json()[0]["message"].endswith("Current status: IN_PROGRESS")
    assert other.status_code == 409
    assert same.status_code == 200 and same.headers["Sforce-Locator"] == "null"


async def test_default_not_complete_status_is_412(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    job = await create(api, "SELECT Id FROM Lead")
    r = await api.get(f"{JOBS}/{job['id']}/results")
    assert r.status_code == 412 and r.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"


async def test_query_all_delimiters_line_endings_and_gzip(
    sim: SalesforceSimulator, api: httpx.AsyncClient
) -> None:
    keep = sim.insert("Contact", LastName="Keep, Jr.", Email="k@example.com")
    gone = sim.insert("Contact", LastName="Gone", Email="g@example.com")
    sim.org.delete("Contact", gone)
    job = await create(api, "SELECT Id, LastName, IsDeleted FROM Contact ORDER BY LastName",
                       operation="queryAll", columnDelimiter="PIPE", lineEnding="CRLF")  # fmt: skip
    await complete(api, job["id"])
    r = await api.get(f"{JOBS}/{job['id']}/results", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == (f'"Id"|"LastName"|"IsDeleted"\r\n"{gone}"|"Gone"|"true"\r\n'
                      f'"{keep}"|"Keep, Jr."|"false"\r\n')  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"operation": "insert", "query": "SELECT Id FROM Contact"}, 400, "INVALIDJOB"),
        (
            {"operation": "query", "query": "SELECT Id FROM Contact", "columnDelimiter": "SPACE"},
            400,
            "INVALIDJOB",
        ),
        ({"operation": "query", "query": "SELECT COUNT() FROM Contact"}, 400, "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Id FROM Contact OFFSET 5"}, 400, "INVALIDJOB"),
        ({"operation": "query", "query": "SELECT Nope FROM Contact"}, 400, "INVALID_FIELD"),
        ({"operation": "query", "query": "SELECT FROM Contact"}, 400, "MALFORMED_QUERY"),
        ({"operation": "query"}, 400, "MALFORMED_QUERY"),
    ],
)
async def test_refused_jobs(
    api: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    r = await api.post(JOBS, json=body)
    assert r.status_code == status and r.json()[0]["errorCode"] == code, r.text


async def test_abort_and_delete(sim: SalesforceSimulator, api: httpx.AsyncClient) -> None:
    job = await create(api, "SELECT Id FROM Contact")
    aborted = await api.patch(f"{JOBS}/{job['id']}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert (await api.get(f"{JOBS}/{job['id']}")).json()["state"] == "Aborted"
    results = await api.get(f"{JOBS}/{job['id']}/results")
    assert results.json()[0]["message"].endswith("Current status: ABORTED")
    again = await api.patch(f"{JOBS}/{job['id']}", json={"state": "Aborted"})
    assert again.status_code == 400
    assert (await api.delete(f"{JOBS}/{job['id']}")).status_code == 204
    missing = await api.get(f"{JOBS}/{job['id']}")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert sim.limits.snapshot()["DailyBulkV2QueryJobs"]["Remaining"] == 9_999
