"""Plan against the ledger: adds and removes from what was confirmed, retries, permanent
failures left out, the guards, the preview, and planning afresh."""

from __future__ import annotations

from fakes import Scene

from segsync.config import SyncConfig
from segsync.state.ledger import Outcome


def emails(n: int, start: int = 0) -> list[str]:
    return [f"p{i:04d}@example.org" for i in range(start, start + n)]


def confirm(scene: Scene, keys: list[str], *, settled: int | None = None) -> None:
    scene.ledger.remember_audience("s", "fake", "list", "s", "id-1")
    outcomes = [Outcome(key=k, profile_key=f"k-{k}", ok=True) for k in keys]
    scene.ledger.record_batch("s", "add", outcomes, "run-0")
    if settled is not None:
        scene.ledger.settle("s", settled)


def changes(scene: Scene, op: str) -> list[str]:
    plan = scene.plan(force=True)
    return [m.key for batch in plan.batches(op, 10_000) for m in batch]  # type: ignore[arg-type]


def test_adds_and_removes_come_from_what_was_confirmed() -> None:
    scene = Scene(emails(10))
    confirm(scene, [*emails(6, 4), "gone@example.org"])
    plan = scene.plan()
    report = plan.report
    assert (report.adds, report.removes, report.in_audience_before) == (4, 1, 7)
    assert report.desired == 10 and report.status == "planned"
    assert [m.key for batch in plan.batches("add", 100) for m in batch] == emails(4)
    # batches of the size asked, in key order, read a few batches at a time
    batches = list(plan.batches("add", 1, chunk=3))
    assert [[m.email for m in batch] for batch in batches] == [[e] for e in emails(4)]
    assert [m.key for batch in plan.batches("remove", 100) for m in batch] == ["gone@example.org"]


def test_failures_are_retried_and_permanent_ones_left_out() -> None:
    scene = Scene(emails(5))
    scene.ledger.record_batch(
        "s",
        "add",
        [
            Outcome(key=emails(1)[0], profile_key="k", ok=False, error="503", permanent=False),
            Outcome(key=emails(1, 1)[0], profile_key="k", ok=False, error="bad", permanent=True),
        ],
        "run-0",
    )
    report = scene.plan().report
    assert report.adds == 4 and report.retries == 1
    assert report.skipped.failed_permanently == 1
    # planning afresh (the audience changed) forgets the ledger, permanent failures too
    fresh = scene.plan(fresh=True).report
    assert fresh.adds == 5 and fresh.retries == 0 and fresh.skipped.failed_permanently == 0


def test_the_removal_guard_and_the_empty_segment_guard() -> None:
    people = emails(10)
    scene = Scene(people[:4])
    confirm(scene, people)
    blocked = scene.plan().report
    assert blocked.status == "blocked" and "would remove 6 of 10 members (60%)" in (
        blocked.blocked or ""
    )
    assert scene.plan(force=True).report.status == "planned"
    scene = Scene(people, where="country = 'DE'")
    confirm(scene, people)
    empty = scene.plan().report
    assert "computed empty while the audience holds 10 members" in (empty.blocked or "")


def test_the_add_guard_measures_from_the_last_completed_push() -> None:
    people = emails(30)
    scene = Scene(people)
    confirm(scene, people[:10])  # an interrupted first push: no baseline yet
    assert scene.plan().report.status == "planned"
    confirm(scene, people[:10], settled=10)
    report = scene.plan().report
    assert report.status == "blocked"
    assert "grow from 10 to 30 members (+200%)" in (report.blocked or "")
    wider = SyncConfig(segment="everyone", destination="fake", max_add_fraction=2.0)
    assert scene.plan(wider).report.status == "planned"


def test_the_preview_lists_who_would_change() -> None:
    scene = Scene(emails(5))
    confirm(scene, ["old@example.org"])
    report = scene.plan(preview=2).report
    assert report.preview is not None
    assert report.preview.adds == emails(2)
    assert report.preview.removes == ["old@example.org"]
