"""Memberships that expire at the destination: confirmed members last delivered longer ago
than ``refresh_days`` are planned as refreshes, sent as adds, counted apart, and their
delivery time moves on; the setting's default and its check against the destination's
membership lifetime."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fakes import FakeDestination, Scene

from segsync.config import Config, load_config
from segsync.connector import (
    AudienceSpec,
    Capabilities,
    Connector,
    ConnectorSettings,
    default_refresh_days,
)
from segsync.errors import ConfigError
from segsync.pipeline.push import PushTarget, push_sync
from segsync.plugins import Plugins, get_plugin_manager, load_plugins, reset_plugins
from segsync.report import SyncReport
from segsync.state.ledger import Outcome
from segsync.values import utcnow

NOW = dt.datetime(2027, 6, 1, 12, 0)


def emails(n: int, start: int = 0) -> list[str]:
    return [f"p{i:04d}@example.org" for i in range(start, start + n)]


def deliver(scene: Scene, keys: list[str], days_ago: float) -> None:
    """Confirm ``keys`` as delivered ``days_ago`` days before NOW."""
    scene.ledger.remember_audience("s", "fake", "list", "Audience", "id-1")
    scene.ledger.record_batch(
        "s", "add", [Outcome(key=k, profile_key=f"k-{k}", ok=True) for k in keys], "run-0"
    )
    when = NOW - dt.timedelta(days=days_ago)
    for key in keys:
        scene.store.con.execute(
            "UPDATE sync_state SET delivered_at = ? WHERE member_key = ?", [when, key]
        )


def delivered_at(scene: Scene) -> dict[str, dt.datetime]:
    rows = scene.store.con.execute("SELECT member_key, delivered_at FROM sync_state").fetchall()
    return {str(k): v for k, v in rows}


def test_members_delivered_longer_ago_than_refresh_days_are_refreshed() -> None:
    people = emails(10)
    scene = Scene(people[:8])  # p0008 and p0009 left the segment
    deliver(scene, people[:3], days_ago=45)  # due
    deliver(scene, people[3:6], days_ago=10)  # not yet
    deliver(scene, people[8:], days_ago=45)  # due, but no longer wanted: removed instead
    plan = scene.plan(refresh_days=30, now=NOW)
    report = plan.report
    assert (report.adds, report.refreshes, report.removes) == (2, 3, 2)
    assert report.refresh_days == 30
    assert [m.key for b in plan.batches("refresh", 100) for m in b] == people[:3]
    assert [m.key for b in plan.batches("add", 100) for m in b] == people[6:8]
    assert [m.key for b in plan.batches("remove", 100) for m in b] == people[8:]
    # refreshes carry what a destination needs to send them again
    (first, *_), *_ = plan.batches("refresh", 100)
    assert first.email == people[0] and first.profile_key == f"k-{people[0]}"


def test_no_refresh_without_refresh_days_or_when_planning_afresh() -> None:
    people = emails(4)
    scene = Scene(people)
    deliver(scene, people, days_ago=600)
    assert scene.plan(now=NOW).report.refreshes == 0
    assert scene.plan(refresh_days=30, now=NOW).report.refreshes == 4
    fresh = scene.plan(refresh_days=30, now=NOW, fresh=True).report
    assert (fresh.refreshes, fresh.adds) == (0, 4)  # everyone is an add to a new audience


def test_a_refresh_is_sent_as_an_add_counted_apart_and_moves_the_delivery_time() -> None:
    people = emails(25)
    scene = Scene(people)
    deliver(scene, people[:20], days_ago=100)
    fake = FakeDestination(limit=10, max_in_flight=2)
    fake.audiences["Audience"] = set(people[:20])
    fake.ids["Audience"] = "id-1"
    spec = AudienceSpec("s", "Audience", "list")
    plan = scene.plan(refresh_days=30, now=NOW)
    target = PushTarget(destination=fake, instance="fake", spec=spec)
    report: SyncReport = asyncio.run(push_sync(plan, target, scene.ledger, "run-1"))
    assert report.status == "ok"
    assert (report.applied_adds, report.applied_refreshes, report.applied_removes) == (5, 20, 0)
    # adds first, then refreshes, each in batches of the destination's size; all as adds
    assert fake.calls == [("add", 5), ("add", 10), ("add", 10)]
    assert report.batches == 3
    assert fake.audiences["Audience"] == set(people)
    before = utcnow() - dt.timedelta(minutes=1)
    assert all(at >= before for at in delivered_at(scene).values())
    # the change log says why each was sent
    changes = scene.ledger.changes("s", run_id="run-1")
    refreshed = [c for c in changes if c.member_key == people[0]]
    assert refreshed[0].op == "add" and "refreshed" in (refreshed[0].reason or "")
    # delivered again just now: nothing is due, nothing is sent
    fake.calls.clear()
    again = scene.plan(refresh_days=30, now=utcnow())
    assert again.report.refreshes == 0
    asyncio.run(push_sync(again, target, scene.ledger, "run-2"))
    assert fake.calls == []


def test_a_failed_refresh_stays_in_the_audience_and_is_retried() -> None:
    people = emails(3)
    scene = Scene(people)
    deliver(scene, people, days_ago=100)
    fake = FakeDestination(limit=10, transient={people[1]})
    fake.audiences["Audience"], fake.ids["Audience"] = set(people), "id-1"
    target = PushTarget(
        destination=fake, instance="fake", spec=AudienceSpec("s", "Audience", "list")
    )
    report = asyncio.run(
        push_sync(scene.plan(refresh_days=30, now=NOW), target, scene.ledger, "run-1")
    )
    assert report.failed == 3 and report.applied_refreshes == 0
    # still confirmed (nothing is removed), due again, and counted as a retry
    again = scene.plan(refresh_days=30, now=NOW).report
    assert (again.refreshes, again.retries, again.removes) == (3, 3, 0)


@pytest.mark.parametrize(("lifetime", "expected"), [(540, 510), (120, 90), (60, 45), (2, 1)])
def test_default_refresh_days(lifetime: int, expected: int) -> None:
    assert default_refresh_days(lifetime) == expected


# -- the setting, against a destination whose memberships expire --------------------------------


class ExpiringSettings(ConnectorSettings):
    membership_days: int = 540


class ExpiringConnector(Connector):
    name = "expiring"
    Settings = ExpiringSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        audience_kinds={"ads": frozenset(), "other": frozenset()}
    )

    @classmethod
    def membership_days(cls, settings: ConnectorSettings, kind: str) -> int | None:
        assert isinstance(settings, ExpiringSettings)
        return settings.membership_days if kind == "ads" else None


@pytest.fixture
def plugins() -> Plugins:
    reset_plugins()
    loaded = load_plugins(None)
    return Plugins(
        pm=get_plugin_manager(),
        info=loaded.info,
        connectors={**loaded.connectors, "expiring": ExpiringConnector},
    )


CONFIG = """
[connectors.ads]
type = "expiring"
membership_days = {days}

[segments.everyone]
where = "TRUE"

[syncs.s]
segment = "everyone"
destination = "ads"
kind = "{kind}"
{extra}
"""


def load(
    tmp_path: Path, plugins: Plugins, *, days: int = 540, kind: str = "ads", extra: str = ""
) -> Config:
    path = tmp_path / "segsync.toml"
    path.write_text(CONFIG.format(days=days, kind=kind, extra=extra))
    return load_config(path, plugins)


def test_refresh_days_defaults_from_the_destination(tmp_path: Path, plugins: Plugins) -> None:
    def refresh(**kwargs: Any) -> tuple[int | None, int | None]:
        config = load(tmp_path, plugins, **kwargs)
        sync = config.syncs["s"]
        return config.membership_days(sync), config.refresh_days(sync)

    assert refresh() == (540, 510)
    assert refresh(days=60) == (60, 45)
    assert refresh(extra="refresh_days = 200") == (540, 200)
    assert refresh(kind="other") == (None, None)
    # a kind whose memberships never expire may still ask for periodic re-adds
    assert refresh(kind="other", extra="refresh_days = 7000") == (None, 7000)


@pytest.mark.parametrize("days", [540, 541, 900])
def test_refresh_days_must_come_before_memberships_expire(
    tmp_path: Path, plugins: Plugins, days: int
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, plugins, extra=f"refresh_days = {days}")
    problem = "\n".join(info.value.errors)
    assert "syncs.s.refresh_days" in problem
    assert f"{days} is not below the 540 days a ads membership lasts at 'ads'" in problem
    assert "expected at most 539 (or leave it out: 510)" in problem
    load(tmp_path, plugins, extra="refresh_days = 539")  # just in time is allowed
    with pytest.raises(ConfigError):
        load(tmp_path, plugins, extra="refresh_days = 0")
