"""End-to-end: the whole flow through the CLI on the files connector."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from typing import Any

import duckdb
import pytest
from slowkit import kill_run, slow_project, wait_for

from projectkit import Project, contact

pytestmark = pytest.mark.e2e

FLAKY_PLUGIN = '''
import os

from segsync import hookimpl
from segsync.connector import RecordResult
from segsync.connectors.files import FilesConnector, FilesDestination


class FlakyWriter(FilesDestination):
    """The files destination, refusing the emails listed in SEGSYNC_TEST_FAIL."""

    async def apply_batch(self, batch):
        failing = set(filter(None, os.environ.get("SEGSYNC_TEST_FAIL", "").split(",")))
        permanent = os.environ.get("SEGSYNC_TEST_PERMANENT") == "1"
        good = [m for m in batch.adds if m.key not in failing]
        bad = [m for m in batch.adds if m.key in failing]
        results = await super().apply_batch(type(batch)(batch.audience, good, batch.removes))
        return results + [
            RecordResult.failure(m.key, "add", "rejected by the platform", permanent=permanent)
            for m in bad
        ]


class FlakyFiles(FilesConnector):
    name = "flakyfiles"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.destination = FlakyWriter(self.settings, context)


@hookimpl
def register_connectors(register):
    register(FlakyFiles)
'''


def sync_of(report: dict, name: str) -> dict:
    return next(s for s in report["syncs"] if s["name"] == name)


def test_first_run_then_rerun_is_a_no_op(project: Project) -> None:
    code, report = project.json("run")
    assert code == 0, report
    news = sync_of(report, "french_news")
    # FR: 1, 3, 4, 5, 6 — 3 said no, 5 never answered, 6 has no email
    assert news["segment_size"] == 5
    assert (news["adds"], news["removes"], news["failed"]) == (2, 0, 0)
    assert news["skipped"] == {"no_consent": 2, "unmatched": 1, "failed_permanently": 0}
    assert news["applied_adds"] == 2
    assert project.audience("French_newsletter") == {"alice@example.org", "person4@example.org"}
    assert project.audience("buyers") == {"alice@example.org", "person2@example.org"}
    assert report["profiles"]["profiles"] == 6
    assert report["profiles"]["events"] == 2

    code, again = project.json("run")
    assert code == 0
    assert all((s["adds"], s["removes"]) == (0, 0) for s in again["syncs"])
    assert all(not s["loaded"] for s in again["sources"])  # unchanged files are not re-read
    code, plan = project.json("plan")
    assert code == 0
    assert all((s["adds"], s["removes"]) == (0, 0) for s in plan["syncs"])


def test_edited_input_gives_exactly_the_expected_changes(project: Project) -> None:
    project.contacts += [contact(i) for i in range(10, 14)]
    project.write()
    assert project.cli("run").code == 0
    stay = {f"person{i}@example.org" for i in range(10, 14)}
    project.contacts[3] = contact(4, country="DE")  # person4 leaves France
    project.contacts[4] = contact(5, opt_in="yes")  # person5 opts in
    project.contacts.append(contact(7, email="NEW@example.org"))  # a new French subscriber
    project.contacts[0] = contact(1, email="alice@example.org", opt_in="no")  # Alice opts out
    project.write()

    code, plan = project.json("plan")
    assert code == 0
    news = sync_of(plan, "french_news")
    assert (news["adds"], news["removes"]) == (2, 2)
    assert (
        project.audience("French_newsletter") == {"alice@example.org", "person4@example.org"} | stay
    )

    code, report = project.json("run")
    assert code == 0
    news = sync_of(report, "french_news")
    assert (news["applied_adds"], news["applied_removes"]) == (2, 2)
    assert (
        project.audience("French_newsletter") == {"person5@example.org", "new@example.org"} | stay
    )
    assert sync_of(report, "buyers")["adds"] == 0


def test_records_sharing_an_email_merge_and_denial_wins(project: Project) -> None:
    project.contacts.append(
        contact(8, email="ALICE@example.org", opt_in="no", updated="2026-01-01T10:00:00+01:00")
    )
    project.write()
    code, report = project.json("run")
    assert code == 0
    assert report["profiles"]["profiles"] == 6
    assert report["profiles"]["merged_records"] == 1
    # same update time, one yes and one no: the denial wins
    assert "alice@example.org" not in project.audience("French_newsletter")
    # her order still counts: buyers is not consent-gated
    assert "alice@example.org" in project.audience("buyers")


def test_removal_guard_blocks_then_force_applies(project: Project) -> None:
    assert project.cli("run").code == 0
    project.contacts = [c for c in project.contacts if c["id"] != "C00004"]
    project.contacts[0] = contact(1, email="alice@example.org", country="DE")
    project.write()
    result = project.cli("run")
    assert result.code == 3
    assert "would remove 2 of 2 members" in result.out
    assert "--force" in result.out
    assert project.audience("French_newsletter") == {"alice@example.org", "person4@example.org"}

    code, report = project.json("run", "--force")
    assert code == 0
    assert project.audience("French_newsletter") == set()
    assert report["forced"] is True


def test_empty_segment_guard(project: Project) -> None:
    assert project.cli("run", "--sync", "buyers").code == 0
    project.orders = []
    project.write()
    code, report = project.json("run")
    assert code == 3
    assert "computed empty" in sync_of(report, "buyers")["blocked"]
    assert project.audience("buyers") == {"alice@example.org", "person2@example.org"}


def test_consent_revocation_removes_member_and_counts(project: Project) -> None:
    project.extra_config = (
        '\n[syncs.buyers_ads]\nsegment = "buyers"\ndestination = "out"\n'
        'require_consent = ["ad_user_data", "ad_personalization"]\n'
    )
    project.contacts[1] = contact(2, country="DE", ads="no")
    project.write()
    code, report = project.json("run")
    assert code == 0
    ads = sync_of(report, "buyers_ads")
    assert ads["required_consent"] == ["ad_personalization", "ad_user_data"]
    assert ads["skipped"]["no_consent"] == 1
    assert project.audience("buyers_ads") == {"alice@example.org"}


def test_failed_records_are_kept_and_retried(project: Project) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "flaky.py").write_text(FLAKY_PLUGIN)
    project.destination_type = "flakyfiles"
    project.write()
    env = {"SEGSYNC_TEST_FAIL": "person4@example.org"}
    result = project.cli("run", "--format", "json", env=env)
    assert result.code == 1, result.err
    news = sync_of(json.loads(result.out), "french_news")
    assert news["failed"] == 1
    assert news["failures"][0]["error"] == "rejected by the platform"
    assert project.audience("French_newsletter") == {"alice@example.org"}

    # nothing changed in the data: the failed record is retried anyway
    code, report = project.json("run")
    assert code == 0
    news = sync_of(report, "french_news")
    assert (news["adds"], news["retries"], news["applied_adds"]) == (1, 1, 1)
    assert project.audience("French_newsletter") == {"alice@example.org", "person4@example.org"}


def test_permanent_failures_are_not_retried(project: Project) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "flaky.py").write_text(FLAKY_PLUGIN)
    project.destination_type = "flakyfiles"
    project.write()
    env = {"SEGSYNC_TEST_FAIL": "person4@example.org", "SEGSYNC_TEST_PERMANENT": "1"}
    assert project.cli("run", env=env).code == 1
    code, report = project.json("run")
    assert code == 0
    news = sync_of(report, "french_news")
    assert news["adds"] == 0
    assert news["skipped"]["failed_permanently"] == 1
    status = json.loads(project.cli("status", "--format", "json").out)
    row = next(s for s in status["syncs"] if s["sync"] == "french_news")
    assert row["failed_permanently"] == 1


def test_kill_9_during_push_then_next_run_converges(project: Project) -> None:
    marker = slow_project(project)
    proc = kill_run(project, marker, 5, "0.2")
    assert proc.returncode == -signal.SIGKILL
    partial = project.audience("French_newsletter")
    assert 1 <= len(partial) < 32
    # status says the run died, and where
    status = json.loads(project.cli("status", "--format", "json").out)
    assert [(r["status"], r["phase"]) for r in status["runs"]] == [("killed", "push")]

    env = {"SEGSYNC_TEST_MARKER": str(marker), "SEGSYNC_TEST_DELAY": "0"}
    result = project.cli("run", "--format", "json", env=env)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    expected = {"alice@example.org", "person4@example.org"} | {
        f"person{i}@example.org" for i in range(10, 40)
    }
    assert project.audience("French_newsletter") == expected
    # the killed run's confirmed batches were recorded: only the rest was sent again
    news = sync_of(report, "french_news")
    assert news["adds"] <= len(expected) - 1
    plan = json.loads(project.cli("plan", "--format", "json", env=env).out)
    assert all((s["adds"], s["removes"]) == (0, 0) for s in plan["syncs"])
    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        statuses = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        delivered = con.execute(
            "SELECT count(*) FROM sync_state WHERE sync = 'french_news'"
        ).fetchone()
    finally:
        con.close()
    assert statuses.get("killed") == 1  # the run that took over marked the killed one
    assert delivered == (len(expected),)


def test_ctrl_c_is_exit_130_and_leaves_the_run_killed_in_its_phase(project: Project) -> None:
    """Ctrl-C (SIGINT) mid-push is an interruption, not a bug: exit 130 and "interrupted",
    the run shown killed in the phase it was in (as a killed run is), and the next run
    finishes the push."""
    marker = slow_project(project)
    proc = project.spawn(
        "run", env={"SEGSYNC_TEST_MARKER": str(marker), "SEGSYNC_TEST_DELAY": "0.3"}
    )
    try:
        wait_for(marker, 2, proc)
        os.kill(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "internal error" not in err
    status = json.loads(project.cli("status", "--format", "json").out)
    assert [(r["status"], r.get("phase")) for r in status["runs"]] == [("killed", "push")]
    result = project.cli("run", env={"SEGSYNC_TEST_MARKER": str(marker)})
    assert result.code == 0, result.err
    plan = json.loads(
        project.cli("plan", "--format", "json", env={"SEGSYNC_TEST_MARKER": str(marker)}).out
    )
    assert all((s["adds"], s["removes"]) == (0, 0) for s in plan["syncs"])


def test_ctrl_c_while_a_worker_thread_is_inside_a_statement(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while a file is being read in bulk (on a worker thread, inside a DuckDB
    statement): the statement is interrupted and the run ends as interrupted, never with
    DuckDB's "connection is busy" as an internal error."""
    from segsync.pipeline import execute, load, pull

    project.write()
    config = load(project.config)
    started = threading.Event()
    real = pull.stage_files

    def slow_stage(engine: Any, **kwargs: Any) -> Any:
        started.set()
        timer = threading.Timer(20, engine.con.interrupt)  # never hang the suite
        timer.start()
        try:
            engine.con.execute(
                "SELECT sum(hash(a.range * b.range)) FROM range(1000000) a, range(1000000) b"
            ).fetchall()
        finally:
            timer.cancel()
        return real(engine, **kwargs)

    monkeypatch.setattr(pull, "stage_files", slow_stage)

    async def interrupted_run() -> None:
        task = asyncio.create_task(execute(config))
        await asyncio.to_thread(started.wait, 30)
        await asyncio.sleep(0.3)  # the statement is under way
        task.cancel()  # what asyncio.run does on SIGINT
        await task

    with pytest.raises(asyncio.CancelledError):  # asyncio.run makes it KeyboardInterrupt on SIGINT
        asyncio.run(interrupted_run())
    monkeypatch.undo()
    runs = json.loads(project.cli("runs", "--format", "json").out)
    assert (runs[0]["status"], runs[0]["phase"]) == ("killed", "pull")
    assert project.cli("run").code == 0


def test_concurrent_run_exits_4_and_names_the_holder(project: Project) -> None:
    marker = slow_project(project)
    proc = project.spawn(
        "run", env={"SEGSYNC_TEST_MARKER": str(marker), "SEGSYNC_TEST_DELAY": "0.5"}
    )
    try:
        wait_for(marker, 1, proc)
        second = project.spawn("run", env={"SEGSYNC_TEST_MARKER": str(marker)})
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 4, err
        assert f"pid {proc.pid}" in err
        assert "holds the lock" in err
        status = project.cli("status")
        assert f"pid {proc.pid}" in status.out
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_lock_left_by_a_dead_process_is_taken_over(project: Project) -> None:
    marker = slow_project(project)
    kill_run(project, marker, 1, "5")
    assert (
        project.root / "segsync.duckdb.lock"
    ).read_text()  # the dead holder's note is still there
    result = project.cli("run", env={"SEGSYNC_TEST_MARKER": str(marker)})
    assert result.code == 0, result.err
    assert "is gone; taking over" in result.err


def test_store_from_a_newer_segsync_is_refused(project: Project) -> None:
    assert project.cli("run").code == 0
    con = duckdb.connect(str(project.root / "segsync.duckdb"))
    con.execute("UPDATE segsync_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    result = project.cli("run")
    assert result.code == 2
    assert "newer segsync" in result.err
    assert "schema version 99" in result.err
    assert "Traceback" not in result.err + result.out


def test_bad_input_file_is_a_clear_error_and_nothing_is_lost(project: Project) -> None:
    assert project.cli("run").code == 0
    (project.root / "data" / "orders.jsonl").write_text(
        '{"order_id": "O9", "customer_id": "C00001"\n'
    )
    result = project.cli("run")
    assert result.code == 2
    assert "orders.jsonl:1: not valid JSON" in result.out + result.err
    # nothing of the source was loaded, and the syncs it feeds were not pushed
    assert "skipped buyers: source shop failed" in result.out
    assert project.audience("buyers") == {"alice@example.org", "person2@example.org"}
    (project.root / "data" / "contacts.csv").unlink()
    result = project.cli("plan")
    assert result.code == 2
    assert "file not found" in result.out + result.err


def test_python_api_returns_the_report(project: Project) -> None:
    import segsync

    report = segsync.run(project.config)
    assert report.exit_code == 0
    assert {s.name: s.applied_adds for s in report.syncs} == {"french_news": 2, "buyers": 2}
    again = segsync.run(project.config, plan_only=True)
    assert again.command == "plan"
    assert all(s.adds == s.removes == 0 for s in again.syncs)


def test_status_and_segments_commands(project: Project) -> None:
    assert project.cli("run").code == 0
    result = project.cli("segments")
    assert result.code == 0
    assert "french" in result.out and "buyers" in result.out
    _code, payload = project.json("segments")
    assert {s["name"]: s["size"] for s in payload["segments"]} == {"french": 5, "buyers": 2}
    status = json.loads(project.cli("status", "--format", "json").out)
    assert status["runs"][0]["status"] in ("ok",)
    members = {s["sync"]: s["members"] for s in status["syncs"]}
    assert members == {"french_news": 2, "buyers": 2}


def test_json_logs_are_json_lines(project: Project) -> None:
    result = project.cli("--log-format", "json", "run")
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"ts", "level", "logger", "message"} <= set(record)


SLOW_SOURCE_PLUGIN = '''
import asyncio
import os
from pathlib import Path

from segsync import hookimpl
from segsync.connectors.files import FilesConnector, FilesSource


class SlowReader(FilesSource):
    """The files source, pausing after each page it yields."""

    async def contacts(self, cursor):
        marker = Path(os.environ["SEGSYNC_TEST_MARKER"])
        async for page in super().contacts(cursor):
            yield page
            done = int(marker.read_text()) if marker.exists() else 0
            staged = marker.with_name(marker.name + ".tmp")
            staged.write_text(str(done + 1))
            os.replace(staged, marker)
            await asyncio.sleep(float(os.environ.get("SEGSYNC_TEST_DELAY", "0")))


class SlowSource(FilesConnector):
    name = "slowsource"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.source = SlowReader(self.settings, context)


@hookimpl
def register_connectors(register):
    register(SlowSource)
'''


def test_kill_9_during_pull_leaves_the_store_as_it_was(project: Project) -> None:
    assert project.cli("run").code == 0
    before = project.audience("French_newsletter")
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "slow_source.py").write_text(SLOW_SOURCE_PLUGIN)
    project.contacts += [contact(i) for i in range(100, 160)]
    project.write()
    text = project.config.read_text().replace(
        '[connectors.shop]\ntype = "files"', '[connectors.shop]\ntype = "slowsource"\npage_size = 5'
    )
    project.config.write_text(text)
    marker = project.root / "pull-marker"
    kill_run(project, marker, 3, "0.2")
    # nothing of the interrupted pull was committed: same audience, same cursor
    assert project.audience("French_newsletter") == before
    env = {
        "SEGSYNC_TEST_MARKER": str(marker),
        # 60 new people join an audience of 2: the add guard would rightly ask for review
        "SEGSYNC_SYNCS__FRENCH_NEWS__MAX_ADD_FRACTION": "100",
    }
    result = project.cli("run", "--format", "json", env=env)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    contacts = next(s for s in report["sources"] if s["stream"] == "contacts")
    assert contacts["records"] == len(project.contacts) and contacts["loaded"]
    expected = before | {f"person{i}@example.org" for i in range(100, 160)}
    assert project.audience("French_newsletter") == expected
