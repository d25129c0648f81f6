"""The connector conformance suite: standard tests every connector must pass.

A connector's tests subclass :class:`ConnectorConformance`, naming the connector, its settings
and its simulator::

    from segsync.testing.conformance import ConnectorConformance

    class TestMailjetConformance(ConnectorConformance):
        connector = MailjetConnector
        simulator = MailjetSimulator
        credential = "test-key"

        def settings(self, credential: str) -> dict[str, Any]:
            return {"api_key": credential, "base_url": "http://simulator.test"}

        def audience_members(self, sim: MailjetSimulator, audience: AudienceRef) -> set[str]:
            return sim.list_members(audience.id)

The connector reaches the simulator in-process through ``ConnectorContext.transport``; the
suite wraps that transport to inject 429s, 5xx and bad credentials and to count requests. A
connector with no HTTP platform (like ``files``) overrides :meth:`make_platform` instead, and
the HTTP-only tests are skipped for it with the reason shown.

Each test is small and named for what it proves; all run the connector's real code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import httpx
import pytest

from segsync.connector import (
    AudienceRef,
    AudienceSpec,
    Connector,
    ConnectorContext,
    Contact,
    Destination,
    Member,
    RecordResult,
)
from segsync.errors import AuthError
from segsync.pipeline.push import apply_batch

__all__ = ["ConnectorConformance", "FaultTransport", "LoseFirstAnswer", "Platform", "SeedContact"]

T = TypeVar("T")


def _destination(connector: Connector) -> Destination:
    destination = connector.destination
    assert destination is not None, f"{connector.name} declares audience kinds but no destination"
    return destination


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass(frozen=True)
class SeedContact:
    """A contact put on the platform before a pull test."""

    id: str
    email: str
    first_name: str = ""


class FaultTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: counts requests, and answers the next requests from a script of
    statuses (``[429, 503]``) before passing through again."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.script: list[int] = []
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.script:
            status = self.script.pop(0)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return httpx.Response(status, headers=headers, json={"message": "injected"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Wraps a transport: the first ``method path`` request reaches the platform but its answer
    is lost (a ``ReadError``), as when a connection drops after the server acted. For testing
    that a create whose answer was lost finds what it created on the retry."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str, path: str) -> None:
        self.inner, self.method, self.path, self.lost = inner, method, path, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.lost and (request.method, request.url.path) == (self.method, self.path):
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Platform:
    """What the suite needs from a platform: how to reach it and how to look inside it."""

    settings: Callable[[str], dict[str, Any]]
    credential: str
    members: Callable[[AudienceRef], set[str]]
    seed: Callable[[list[SeedContact]], None]
    transport: FaultTransport | None = None
    reject_key: str | None = None
    """A member key the platform rejects on its own (per record), or None if there is none."""
    keys: Callable[[list[str]], list[str]] = field(default=lambda emails: list(emails))
    """Member keys for these people: the emails themselves for email-addressed connectors;
    for id-addressed ones, the ids of records created (or found) on the platform for them."""
    secrets: list[str] = field(default_factory=list)


class ConnectorConformance:
    """Subclass with ``connector``, ``simulator``, :meth:`settings` and
    :meth:`audience_members` (or override :meth:`make_platform`)."""

    connector: ClassVar[type[Connector]]
    simulator: ClassVar[type[Any] | None] = None
    credential: ClassVar[str] = "conformance-secret-token"
    audience_kind: ClassVar[str | None] = None
    batches_in_many_batches_test: ClassVar[int] = 3
    pull_size: ClassVar[int] = 250

    # -- what a subclass provides ----------------------------------------------------------

    def settings(self, credential: str) -> dict[str, Any]:
        raise NotImplementedError("return the connector settings that reach the simulator")

    def audience_members(self, sim: Any, audience: AudienceRef) -> set[str]:
        raise NotImplementedError("return the member keys the simulator holds for `audience`")

    def reject_key(self, sim: Any) -> str | None:
        """A member key the platform rejects per record (e.g. an invalid email), or None."""
        return None

    def member_keys(self, sim: Any, emails: list[str]) -> list[str]:
        """The member keys of these people on the platform. Default: the emails (for
        ``identifier = "email"``); id-addressed connectors create records for them in the
        simulator and return their ids, in the same order."""
        return list(emails)

    def make_platform(self, tmp_path: Path) -> Platform:
        if self.simulator is None:
            raise NotImplementedError("set `simulator` or override make_platform()")
        sim = self.simulator(seed=0)
        sim.add_credential(self.credential)
        transport = FaultTransport(sim.transport())
        return Platform(
            settings=self.settings,
            credential=self.credential,
            members=lambda audience: self.audience_members(sim, audience),
            seed=lambda contacts: sim.seed_contacts(
                [{"id": c.id, "email": c.email, "first_name": c.first_name} for c in contacts]
            ),
            transport=transport,
            reject_key=self.reject_key(sim),
            keys=lambda emails: self.member_keys(sim, emails),
            secrets=[self.credential],
        )

    # -- helpers ---------------------------------------------------------------------------

    def _connector(
        self, platform: Platform, tmp_path: Path, *, credential: str | None = None
    ) -> Connector:
        values = platform.settings(credential or platform.credential)
        settings = self.connector.Settings(**values)
        context = ConnectorContext(
            instance="conformance",
            base_dir=tmp_path,
            work_dir=tmp_path / "work",
            transport=platform.transport,
        )
        return self.connector(settings, context)

    def _kind(self) -> str:
        kinds = list(self.connector.capabilities.audience_kinds)
        if not kinds:
            pytest.skip(f"{self.connector.name} is not a destination")
        return self.audience_kind or kinds[0]

    def _needs(self, capability: Literal["contacts", "destination"]) -> None:
        caps = self.connector.capabilities
        if capability == "contacts" and not caps.contacts:
            pytest.skip(f"{self.connector.name} does not provide contacts")
        if capability == "destination" and not caps.is_destination:
            pytest.skip(f"{self.connector.name} is not a destination")

    def _http(self, platform: Platform) -> FaultTransport:
        if platform.transport is None:
            pytest.skip(f"{self.connector.name} does not talk to an HTTP platform")
        return platform.transport

    async def _with(self, connector: Connector, work: Callable[[Connector], Awaitable[T]]) -> T:
        try:
            return await work(connector)
        finally:
            await connector.aclose()

    def _push(
        self,
        platform: Platform,
        tmp_path: Path,
        name: str,
        steps: Sequence[tuple[list[str], list[str]]],
    ) -> tuple[AudienceRef, list[list[RecordResult]]]:
        """Ensure audience ``name``, then apply each (adds, removes) step as one batch."""
        kind = self._kind()
        # as a run hands them over: with the consent purposes the kind requires granted
        consent = {p: True for p in self.connector.capabilities.audience_kinds[kind]}

        async def work(connector: Connector) -> tuple[AudienceRef, list[list[RecordResult]]]:
            destination = _destination(connector)
            audience = await destination.ensure_audience(
                AudienceSpec(sync=name, name=name, kind=kind)
            )
            results = []
            for adds, removes in steps:
                # as a run sends them: one call per batch, a rejected batch split by segsync
                step: list[RecordResult] = []
                if adds:
                    members = [Member(key=k, email=k, consent=consent) for k in adds]
                    step += await apply_batch(destination, audience, "add", members)
                if removes:
                    members = [Member(key=k, email=k, consent=consent) for k in removes]
                    step += await apply_batch(destination, audience, "remove", members)
                results.append(step)
            return audience, results

        return run(self._with(self._connector(platform, tmp_path), work))

    @staticmethod
    def _all_ok(results: list[RecordResult]) -> None:
        failed = [r for r in results if not r.ok]
        assert not failed, f"unexpected failures: {failed[:5]}"

    # -- the standard tests ----------------------------------------------------------------

    def test_pulls_every_page(self, tmp_path: Path) -> None:
        self._needs("contacts")
        platform = self.make_platform(tmp_path)
        seeded = [
            SeedContact(f"c{i}", f"person{i}@example.org", f"P{i}") for i in range(self.pull_size)
        ]
        platform.seed(seeded)

        async def work(connector: Connector) -> list[Contact]:
            source = connector.source
            assert source is not None, f"{self.connector.name} declares contacts but no source"
            return [c async for page in source.contacts(None) for c in page.records]

        pulled = run(self._with(self._connector(platform, tmp_path), work))
        emails = [(c.email or "").strip().lower() for c in pulled]
        assert sorted(emails) == sorted(c.email for c in seeded), "pages missing or repeated"
        assert len({c.source_id for c in pulled}) == len(pulled)

    def test_empty_audience(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        audience, results = self._push(platform, tmp_path, "empty", [([], [])])
        assert results == [[]]
        assert platform.members(audience) == set()

    def test_adds_then_removes(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        keys = platform.keys([f"member{i}@example.org" for i in range(10)])
        audience, results = self._push(
            platform, tmp_path, "adds-removes", [(keys, []), ([], keys[:4])]
        )
        for r in results:
            self._all_ok(r)
        assert [len(r) for r in results] == [10, 4]
        assert platform.members(audience) == set(keys[4:])

    def test_same_batch_twice_is_harmless(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        keys = platform.keys([f"twice{i}@example.org" for i in range(5)])
        audience, results = self._push(
            platform, tmp_path, "twice", [(keys, []), (keys, []), ([], keys[:2]), ([], keys[:2])]
        )
        for r in results:
            self._all_ok(r)
        assert platform.members(audience) == set(keys[2:])

    def test_duplicates_unicode_and_special_characters(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        keys = platform.keys(
            [
                "élodie.dubois@exemple.fr",
                "o'brien+news@example.co.uk",
                "zoë_ü@example.org",
                "a,b@example.org",
            ]
        )
        audience, results = self._push(
            platform, tmp_path, "Spécial / ünïcode & co", [(keys + keys[:2], [])]
        )
        self._all_ok(results[0])
        assert platform.members(audience) == set(keys)

    def test_removing_a_non_member_is_harmless(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        kept, never = platform.keys(["kept@example.org", "never@example.org"])
        audience, results = self._push(
            platform, tmp_path, "non-member", [([kept], []), ([], [never])]
        )
        for r in results:
            self._all_ok(r)
        assert platform.members(audience) == {kept}

    def test_audience_spanning_many_batches_at_maximum_size(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        probe = self._connector(platform, tmp_path)
        size = _destination(probe).batch_limit(self._kind())
        run(probe.aclose())
        total = size * self.batches_in_many_batches_test + 7
        keys = platform.keys([f"m{i:07d}@example.org" for i in range(total)])
        steps: list[tuple[list[str], list[str]]] = [
            (keys[i : i + size], []) for i in range(0, total, size)
        ]
        audience, results = self._push(platform, tmp_path, "many-batches", steps)
        assert [len(r) for r in results] == [len(s[0]) for s in steps]
        for r in results:
            self._all_ok(r)
        assert platform.members(audience) == set(keys)

    def test_429_then_success(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        transport = self._http(platform)
        transport.script = [429, 429]
        keys = platform.keys(["a@example.org"])
        audience, results = self._push(platform, tmp_path, "throttled", [(keys, [])])
        self._all_ok(results[0])
        assert platform.members(audience) == set(keys)
        assert not transport.script, "the connector did not retry through the 429s"

    def test_transient_5xx_then_success(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        transport = self._http(platform)
        transport.script = [503, 502]
        keys = platform.keys(["b@example.org"])
        audience, results = self._push(platform, tmp_path, "flaky", [(keys, [])])
        self._all_ok(results[0])
        assert platform.members(audience) == set(keys)

    def test_401_is_a_clear_fatal_error_without_retry_storm(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        transport = self._http(platform)
        connector = self._connector(platform, tmp_path, credential="wrong-credential-0000")
        kind = self._kind()

        async def work(c: Connector) -> None:
            await _destination(c).ensure_audience(AudienceSpec(sync="s", name="denied", kind=kind))

        with pytest.raises(AuthError) as info:
            run(self._with(connector, work))
        assert transport.requests <= 2, f"{transport.requests} requests after a 401"
        assert "wrong-credential-0000" not in str(info.value)

    def test_per_record_failure_is_reported_for_that_record_only(self, tmp_path: Path) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        if platform.reject_key is None:
            pytest.skip(f"{self.connector.name}'s platform rejects no single record")
        good = platform.keys(["good1@example.org", "good2@example.org"])
        audience, results = self._push(
            platform, tmp_path, "partial", [([good[0], platform.reject_key, good[1]], [])]
        )
        by_key = {r.key: r for r in results[0]}
        assert set(by_key) == {*good, platform.reject_key}
        assert not by_key[platform.reject_key].ok and by_key[platform.reject_key].error
        assert by_key[good[0]].ok and by_key[good[1]].ok
        assert platform.members(audience) == set(good)

    def test_secrets_never_appear_in_logs(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        self._needs("destination")
        platform = self.make_platform(tmp_path)
        caplog.set_level(logging.DEBUG)
        if platform.transport is not None:
            platform.transport.script = [429, 503]
        keys = platform.keys(["s@example.org"])
        self._push(platform, tmp_path, "secret-check", [(keys, []), ([], keys)])
        connector = self._connector(platform, tmp_path)
        text = caplog.text + repr(connector) + repr(connector.settings) + str(connector.settings)
        for secret in platform.secrets:
            assert secret not in text, "a secret appeared in the logs or a repr"
