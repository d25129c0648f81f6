from __future__ import annotations

import logging

import httpx
import pytest
from http_fakes import FakeClock

from segsync._version import __version__
from segsync.errors import FatalError, RetryableError
from segsync.http import (
    USER_AGENT,
    BasicAuth,
    BearerAuth,
    HttpClient,
    HttpStats,
    Pacer,
    RetryPolicy,
)


async def test_user_agent_and_shortcuts(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with HttpClient(
        "https://api.test/v3/", transport=httpx.MockTransport(handler), sleep=clock.sleep
    ) as client:
        await client.get("lists", params={"a": 1})
        await client.post("lists", json={"x": 1})
        await client.put("lists/1", content=b"raw")
        await client.patch("lists/1", json={})
        await client.delete("lists/1", headers={"X-Extra": "1"})
    assert f"segsync/{__version__} (+https://github.com/segsync/segsync)" == USER_AGENT
    assert {r.headers["user-agent"] for r in seen} == {USER_AGENT}
    assert [r.method for r in seen] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert str(seen[0].url) == "https://api.test/v3/lists?a=1"
    assert seen[2].content == b"raw" and seen[4].headers["x-extra"] == "1"
    assert client.stats.requests == 5 and client.stats.by_status == {200: 5}


async def test_cookies_a_platform_sets_are_sent_back(clock: FakeClock) -> None:
    """Answers without Set-Cookie skip the cookie jar; one that sets a cookie is kept and sent
    on the following calls, as httpx does."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/login":
            return httpx.Response(200, json={}, headers={"Set-Cookie": "sid=abc; Path=/"})
        return httpx.Response(200, json={})

    async with HttpClient(
        "https://api.test/", transport=httpx.MockTransport(handler), sleep=clock.sleep
    ) as client:
        await client.get("before")
        await client.get("login")
        await client.get("after")
        assert dict(client.raw.cookies) == {"sid": "abc"}
    assert "cookie" not in seen[0].headers and "cookie" not in seen[1].headers
    assert seen[2].headers["cookie"] == "sid=abc"


async def test_stats_count_everything(clock: FakeClock) -> None:
    script = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.Response(200),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        item = script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    async with HttpClient(
        "https://api.test",
        transport=httpx.MockTransport(handler),
        pacer=pacer,
        sleep=clock.sleep,
        clock=clock,
    ) as client:
        await client.get("/x")
    stats = client.stats
    assert (stats.requests, stats.retries, stats.throttled, stats.network_errors) == (4, 3, 1, 1)
    assert stats.by_status == {429: 1, 503: 1, 200: 1}
    merged = stats.merge(HttpStats(requests=1, by_status={200: 1, 404: 1}, waited_seconds=0.5))
    assert merged.requests == 5 and merged.by_status == {429: 1, 503: 1, 200: 2, 404: 1}
    data = merged.as_dict()
    assert data["by_status"] == {"200": 2, "404": 1, "429": 1, "503": 1}
    assert set(data) == {
        "requests",
        "retries",
        "by_status",
        "throttled",
        "network_errors",
        "malformed",
        "waited_seconds",
    }


async def test_429_pauses_the_shared_pacer(clock: FakeClock) -> None:
    responses = [httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(200)]

    def handler(request: httpx.Request) -> httpx.Response:
        return responses.pop(0)

    pacer = Pacer(100, 1.0, 4, clock=clock, sleep=clock.sleep)
    async with HttpClient(
        "https://api.test",
        transport=httpx.MockTransport(handler),
        pacer=pacer,
        retry=RetryPolicy(),
        sleep=clock.sleep,
        clock=clock,
    ) as client:
        t0 = clock()
        await client.get("/x")
        # another client of the same credential is held back by the pause too
        async with pacer.slot():
            assert clock() >= t0 + 5.0


async def test_read_limits_feed_the_pacer(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={
                "X-RateLimit-Max": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "4",
            },
        )

    def read_limits(response: httpx.Response) -> tuple[int | None, int | None, float | None]:
        h = response.headers
        return (
            int(h["X-RateLimit-Max"]),
            int(h["X-RateLimit-Remaining"]),
            float(h["X-RateLimit-Reset"]),
        )

    pacer = Pacer(200, 10.0, None, clock=clock, sleep=clock.sleep)
    async with HttpClient(
        "https://api.test",
        transport=httpx.MockTransport(handler),
        pacer=pacer,
        read_limits=read_limits,
        sleep=clock.sleep,
        clock=clock,
    ) as client:
        t0 = clock()
        await client.get("/x")
        assert pacer.requests == 100  # tightened from 200
        await client.get("/x")  # blocked until the reset
        assert clock() >= t0 + 4.0
        assert client.stats.waited_seconds >= 4.0


async def test_no_secret_or_personal_data_in_logs_or_errors(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token, password, email = "tok-S3CR3T-1", "pw-S3CR3T-2", "jane.doe@example.com"
    script = [
        httpx.Response(503, json={"message": "try later"}),
        httpx.ReadTimeout("timed out"),
        httpx.Response(429),
        httpx.Response(400, json={"detail": "Invalid Resource"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        item = script.pop(0) if script else httpx.Response(503)
        if isinstance(item, Exception):
            raise item
        return item

    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    for auth in (BearerAuth(token), BasicAuth("user", password)):
        async with HttpClient(
            "https://api.test",
            auth=auth,
            transport=httpx.MockTransport(handler),
            sleep=clock.sleep,
            clock=clock,
            name="mailchimp",
        ) as client:
            with pytest.raises((FatalError, RetryableError)) as info:
                await client.post(
                    f"/lists/1/members/{email}",
                    params={"email": email, "skip_merge_validation": "true"},
                    json={"email_address": email, "password": password},
                )
            errors.append(str(info.value))
            errors.append(repr(client))
            errors.append(repr(auth))
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in logs and "email=…" in logs and "ReadTimeout" in logs
    assert "POST /lists/1/members/…?email=…&skip_merge_validation=…" in logs
    for text in (logs, *errors):
        for secret in (token, password, email, "jane.doe", "example.com"):
            assert secret not in text, (secret, text)
    assert errors[0] == "POST /lists/1/members/… → 400 Bad Request: Invalid Resource"


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8000", "https://api.hubapi.com/", "http://h/sub", "https://ex.org:8443/v1/a%20b/",
     "http://[::1]:9/x", "http://user:pw@h/x", "http://h/x?k=1", "http://H.Example.ORG:80/", "http://h/é/", ""],
)  # fmt: skip
def test_a_request_goes_where_httpx_would_send_it(base: str) -> None:
    """The client joins a relative URL to its base itself (one URL parsed per request, not
    two): the URL sent is the one httpx makes of the base and the relative URL."""
    plain = httpx.Client(base_url=base)
    client = HttpClient(base)
    for url in ["/crm/v3/x?limit=100&properties=a%2Cb&after=5", "crm/v3/x", "//x/y", "/x#frag",
                "/a/../b?q=1 2", "/p?x=é", "", "/", "http://other/z", "a:b", "?only=q", "/a b/c"]:  # fmt: skip
        expected = plain.build_request("GET", url).url
        sent = plain.build_request("GET", client._absolute(url)).url
        assert (str(sent), sent.raw_path) == (str(expected), expected.raw_path), url


async def test_json_nested_too_deeply_fails_without_retrying(clock: FakeClock) -> None:
    """An answer nested deeper than Python's JSON reader goes is refused at once, by name (it
    stopped the run with an internal RecursionError); retrying would read the same."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=b"[" * 5000 + b"]" * 5000)

    async with HttpClient(
        "https://api.test/", transport=httpx.MockTransport(handler), sleep=clock.sleep
    ) as client:
        with pytest.raises(
            FatalError,
            match=r"^GET deep: the response body is JSON nested too deeply",
        ):
            await client.json("GET", "deep", params={"token": "x"})
    assert calls == [1]
