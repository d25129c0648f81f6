"""Push against a fake destination: batches of the destination's size, up to max_in_flight in
flight, every batch recorded, the one splitting rule, and what stops a sync."""

from __future__ import annotations

import asyncio

import pytest
from fakes import FakeDestination, Scene

from segsync.connector import AudienceSpec, AudienceStats
from segsync.errors import RetryableError
from segsync.pipeline.push import AudienceRecreated, PushTarget, push_sync


def emails(n: int, start: int = 0) -> list[str]:
    return [f"p{i:04d}@example.org" for i in range(start, start + n)]


def target(destination: FakeDestination) -> PushTarget:
    return PushTarget(
        destination=destination, instance="fake", spec=AudienceSpec("s", "Audience", "list")
    )


def push(scene: Scene, destination: FakeDestination, **plan: bool) -> object:
    planned = scene.plan(**plan)  # type: ignore[arg-type]
    return asyncio.run(push_sync(planned, target(destination), scene.ledger, "run-1"))


def confirmed(scene: Scene) -> set[str]:
    return {r[0] for r in scene.engine.rows(scene.ledger.confirmed("s"))}


def test_batches_are_the_destinations_size_and_run_up_to_max_in_flight() -> None:
    scene = Scene(emails(95))
    fake = FakeDestination(limit=10, max_in_flight=3, delay=0.01)
    report = push(scene, fake)
    assert report.status == "ok" and report.applied_adds == 95  # type: ignore[attr-defined]
    assert [n for _, n in fake.calls] == [10] * 9 + [5]
    assert fake.max_seen == 3
    assert fake.audiences["Audience"] == set(emails(95)) == confirmed(scene)
    assert report.batches == 10  # type: ignore[attr-defined]
    # nothing changed: nothing is sent
    fake.calls.clear()
    report = push(scene, fake)
    assert fake.calls == [] and report.adds == 0  # type: ignore[attr-defined]


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_record_stands_alone() -> None:
    people = emails(64)
    scene = Scene(people)
    bad = people[37]
    fake = FakeDestination(limit=64, max_in_flight=1, poison={bad})
    report = push(scene, fake)
    assert report.status == "failed_records" and report.failed == 1  # type: ignore[attr-defined]
    # 1 + 2·log2(64) calls: halves down to the one bad record
    assert len(fake.calls) == 1 + 2 * 6
    assert fake.audiences["Audience"] == set(people) - {bad} == confirmed(scene)
    failure = report.failures[0]  # type: ignore[attr-defined]
    assert failure.permanent and "400 Bad Request" in failure.error
    # a permanent failure is not sent again
    fake.calls.clear()
    again = push(scene, fake)
    assert fake.calls == [] and again.skipped.failed_permanently == 1  # type: ignore[attr-defined]


def test_a_transient_failure_fails_its_batch_for_the_next_run() -> None:
    people = emails(30)
    scene = Scene(people)
    fake = FakeDestination(limit=10, transient={people[12]})
    report = push(scene, fake)
    assert report.failed == 10 and report.applied_adds == 20  # type: ignore[attr-defined]
    assert not report.failures[0].permanent  # type: ignore[attr-defined]
    fake.transient.clear()
    again = push(scene, fake)
    assert again.retries == 10 and again.applied_adds == 10  # type: ignore[attr-defined]
    assert confirmed(scene) == set(people)


def test_rejected_records_fail_alone() -> None:
    people = emails(12)
    scene = Scene(people)
    fake = FakeDestination(limit=5, reject={people[3], people[9]})
    report = push(scene, fake)
    assert report.failed == 2 and report.applied_adds == 10  # type: ignore[attr-defined]
    assert len(fake.calls) == 3  # no splitting for per-record failures


def test_a_used_up_quota_defers_and_keeps_what_was_confirmed() -> None:
    people = emails(50)
    scene = Scene(people)
    fake = FakeDestination(limit=10, max_in_flight=1, quota_after=2)
    report = push(scene, fake)
    assert report.status == "deferred" and "daily limit" in report.deferred  # type: ignore[attr-defined]
    assert len(confirmed(scene)) == 20
    fake.quota_after = None
    again = push(scene, fake)
    assert again.adds == 30 and confirmed(scene) == set(people)  # type: ignore[attr-defined]


def test_bad_credentials_stop_the_sync() -> None:
    scene = Scene(emails(5))
    report = push(scene, FakeDestination(auth=True))
    assert report.status == "error" and "401" in report.error  # type: ignore[attr-defined]
    assert confirmed(scene) == set()


def test_an_audience_deleted_at_the_destination_is_reported_before_sending() -> None:
    people = emails(8)
    scene = Scene(people)
    fake = FakeDestination()
    push(scene, fake)
    del fake.audiences["Audience"]  # deleted by hand: ensure_audience creates it again
    fake.calls.clear()
    with pytest.raises(AudienceRecreated, match="is now id id-2, not id-1"):
        push(scene, fake)
    assert fake.calls == []
    scene.ledger.start_afresh("s")
    report = push(scene, fake, fresh=True)
    assert report.applied_adds == 8 and fake.audiences["Audience"] == set(people)  # type: ignore[attr-defined]


def test_removals_leave_the_ledger() -> None:
    people = emails(20)
    scene = Scene(people)
    fake = FakeDestination(limit=7)
    push(scene, fake)
    scene.load(people[:15])
    report = push(scene, fake)
    assert report.removes == 5 and report.applied_removes == 5  # type: ignore[attr-defined]
    assert confirmed(scene) == set(people[:15]) == fake.audiences["Audience"]


def test_what_the_platform_says_of_the_audience_is_read_back_after_the_push(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scene = Scene(emails(30))
    fake = FakeDestination(stats=AudienceStats(size=18, match_rate=0.6, min_size=100))
    report = push(scene, fake)
    assert (report.audience_size, report.match_rate, report.audience_min_size) == (  # type: ignore[attr-defined]
        18,
        0.6,
        100,
    )
    assert report.status == "ok"  # type: ignore[attr-defined]
    warning = report.audience_warning  # type: ignore[attr-defined]
    assert warning == "list 'Audience' holds 18 people at fake, below the 100 it needs to be served"
    assert warning in caplog.text
    # big enough: no warning; read back on a push with nothing to change too
    fake.stats = AudienceStats(size=150, match_rate=0.75, min_size=100)
    fake.calls.clear()
    again = push(scene, fake)
    assert fake.calls == [] and again.audience_size == 150  # type: ignore[attr-defined]
    assert again.audience_warning is None  # type: ignore[attr-defined]
    # a failure to read it back is only a warning
    fake.stats_error = RetryableError("503 Service Unavailable")
    third = push(scene, fake)
    assert third.status == "ok" and third.match_rate is None  # type: ignore[attr-defined]
    assert "could not read the audience's size back: 503" in caplog.text
