"""Run history through the CLI: `runs`, `runs show` (a killed run says so), `changes` lists
exactly who the ledger recorded, `state reset` / `reset-cursor`, retention, staleness, and
`plan --detailed-exitcode`."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from projectkit import Project, contact
from segsync.model.identity import mask_identifier

pytestmark = pytest.mark.e2e

FLAKY = """
import os

from segsync import hookimpl
from segsync.connector import RecordResult
from segsync.connectors.files import FilesConnector, FilesDestination


class FlakyWriter(FilesDestination):
    async def apply_batch(self, batch):
        failing = set(filter(None, os.environ.get("SEGSYNC_TEST_FAIL", "").split(",")))
        good = [m for m in batch.adds if m.key not in failing]
        bad = [m for m in batch.adds if m.key in failing]
        results = await super().apply_batch(type(batch)(batch.audience, good, batch.removes))
        return results + [
            RecordResult.failure(m.key, "add", "rejected: mailbox unknown", permanent=True)
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
"""


def _ledger_log(project: Project, sync: str) -> set[tuple[str, str, bool]]:
    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT op, member_key, ok FROM change_log WHERE sync = ?", [sync]
        ).fetchall()
    finally:
        con.close()
    return {(op, key, ok) for op, key, ok in rows}


def test_changes_lists_exactly_who_the_ledger_recorded(project: Project) -> None:
    (project.root / "plugins").mkdir()
    (project.root / "plugins" / "flaky.py").write_text(FLAKY)
    project.destination_type = "flakyfiles"
    project.write()
    env = {"SEGSYNC_TEST_FAIL": "person4@example.org"}
    first = project.cli("run", env=env)
    assert first.code == 1, first.err
    project.contacts[3] = contact(4, country="DE")  # person4 leaves France
    project.contacts[0] = contact(1, email="alice@example.org", opt_in="no")  # Alice opts out
    project.contacts.append(contact(7, email="new@example.org"))
    project.write()
    assert project.cli("run", "--force").code == 0  # Alice is all the audience held

    code, doc = project.json("changes", "french_news", "--reveal")
    assert code == 0
    got = {(c["change"], c["who"]) for c in doc["changes"]}
    assert got == {("added", "new@example.org"), ("removed", "alice@example.org")}
    assert doc["counts"] == {"added": 1, "removed": 1, "failed": 0}
    why = {c["who"]: c["reason"] for c in doc["changes"]}
    assert all(c["logged_at"].endswith("Z") for c in doc["changes"])
    assert why["alice@example.org"] == "consent not granted: email_marketing"
    assert why["new@example.org"] == "in segment 'french'"
    # exactly what the ledger holds for that run
    recorded = _ledger_log(project, "french_news")
    assert {("add", "new@example.org", True), ("remove", "alice@example.org", True)} <= recorded

    # the first run: who was added and who failed, masked by default
    runs = json.loads(project.cli("runs", "--format", "json").out)
    first_id = runs[-1]["run_id"]
    code, doc = project.json("changes", "french_news", "--run", first_id)
    assert code == 0
    assert {(c["change"], c["who"]) for c in doc["changes"]} == {
        ("added", mask_identifier("alice@example.org")),
        ("failed", mask_identifier("person4@example.org")),
    }
    failed = next(c for c in doc["changes"] if c["change"] == "failed")
    assert failed["reason"] == "rejected: mailbox unknown" and failed["permanent"] is True
    text = project.cli("changes", "french_news", "--run", first_id[:-2]).out
    assert "a***@example.org" in text and "alice@example.org" not in text
    assert "1 added, 0 removed, 1 failed" in text


def test_runs_lists_and_shows_runs(project: Project) -> None:
    assert project.cli("run").code == 0
    assert project.cli("plan").code == 0
    code, runs = project.json("runs")
    assert code == 0
    assert [r["command"] for r in runs] == ["plan", "run"]
    run = runs[1]
    assert run["status"] == "ok" and run["exit_code"] == 0
    assert run["changes"] == "french_news +2/-0, buyers +2/-0"
    assert [(c["sync"], c["adds"], c["removes"], c["planned"]) for c in run["sync_changes"]] == [
        ("french_news", 2, 0, False),
        ("buyers", 2, 0, False),
    ]
    assert all(c["planned"] for c in runs[0]["sync_changes"])  # a plan's are planned
    assert run["duration_seconds"] is not None
    # times in ISO 8601 UTC, as run reports write them
    started, finished = (dt.datetime.fromisoformat(run[k]) for k in ("started", "finished"))
    assert run["started"].endswith("Z") and started.tzinfo is not None
    assert (finished - started).total_seconds() == pytest.approx(run["duration_seconds"], abs=0.1)
    text = project.cli("runs").out
    assert run["run_id"] in text and "french_news +2/-0" in text

    code, report = project.json("runs", "show", run["run_id"])
    assert code == 0
    assert report["run_id"] == run["run_id"]
    assert {s["name"]: s["applied_adds"] for s in report["syncs"]} == {
        "french_news": 2,
        "buyers": 2,
    }
    shown = project.cli("runs", "show", run["run_id"])
    assert shown.code == 0 and "french_news" in shown.out
    missing = project.cli("runs", "show", "19990101T")
    assert missing.code == 2 and "no run" in missing.err


def test_runs_show_of_a_killed_run_says_killed_and_its_phase(project: Project) -> None:
    from slowkit import kill_run, slow_project

    marker = slow_project(project)
    kill_run(project, marker, 3, "0.3")
    code, runs = project.json("runs")
    assert (runs[0]["status"], runs[0]["phase"]) == ("killed", "push")
    killed = runs[0]["run_id"]
    code, doc = project.json("runs", "show", killed)
    assert code == 0
    assert (doc["status"], doc["phase"], doc["report"]) == ("killed", "push", None)
    text = project.cli("runs", "show", killed).out
    assert "was killed" in text and "push" in text


def test_state_reset_makes_the_next_run_send_everyone_again(project: Project) -> None:
    assert project.cli("run").code == 0
    refused = project.cli("state", "reset", "french_news")
    assert refused.code == 2 and "--yes" in refused.err
    done = project.cli("state", "reset", "french_news", "--yes")
    assert done.code == 0, done.err
    assert "forgot 2 confirmed member(s)" in done.out
    code, report = project.json("run")
    assert code == 0
    news = next(s for s in report["syncs"] if s["name"] == "french_news")
    assert (news["adds"], news["applied_adds"]) == (2, 2)
    assert project.cli("state", "reset", "nope", "--yes").code == 2


def test_state_reset_cursor_reads_the_source_again(project: Project) -> None:
    assert project.cli("run").code == 0
    code, again = project.json("run")
    assert all(not s["loaded"] for s in again["sources"])  # unchanged files are not re-read
    done = project.cli("state", "reset-cursor", "shop", "--yes")
    assert done.code == 0 and "cursor(s) forgotten" in done.out
    code, report = project.json("run")
    assert code == 0
    assert all(s["loaded"] for s in report["sources"] if s["instance"] == "shop")
    assert project.cli("state", "reset-cursor", "nowhere", "--yes").code == 2


def test_retention_purges_old_change_log_lines_and_reports(project: Project) -> None:
    assert project.cli("run").code == 0
    store = project.root / "segsync.duckdb"
    con = duckdb.connect(str(store))
    old = dt.datetime.now() - dt.timedelta(days=120)
    con.execute("UPDATE change_log SET logged_at = ?", [old])
    con.execute("UPDATE runs SET started_at = ?", [old])
    con.close()
    project.extra_config = "\n[privacy]\nretention_days = 30\n"
    project.write()
    assert project.cli("run").code == 0
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM change_log").fetchone() == (0,)
        reports = con.execute("SELECT report IS NULL FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()
    assert reports == [(True,), (False,)]  # the old run keeps its row, not its report
    runs = json.loads(project.cli("runs", "--format", "json").out)
    assert runs[1]["status"] == "ok" and runs[1]["changes"] == ""
    assert runs[1]["sync_changes"] == []
    old_id = runs[1]["run_id"]
    assert "no longer kept" in project.cli("runs", "show", old_id).out


def test_status_max_age_exits_1_without_a_recent_success(project: Project) -> None:
    stale = project.cli("status", "--max-age", "26h")
    assert stale.code == 1 and "no successful run" in stale.out
    assert project.cli("run").code == 0
    fresh = project.cli("status", "--max-age", "26h")
    assert fresh.code == 0 and "fresh" in fresh.out
    code, doc = project.json("status", "--max-age", "26h")
    assert code == 0 and doc["freshness"]["fresh"] is True
    # a monitor reads the times as UTC: ISO 8601 with a zone, as run reports write them
    finished = doc["freshness"]["last_success"]["finished_at"]
    assert finished.endswith("Z") and dt.datetime.fromisoformat(finished).tzinfo is not None
    assert all(run["started"].endswith("Z") for run in doc["runs"])
    store = project.root / "segsync.duckdb"
    con = duckdb.connect(str(store))
    con.execute("UPDATE runs SET finished_at = finished_at - INTERVAL 2 DAY")
    con.close()
    late = project.cli("status", "--max-age", "26h")
    assert late.code == 1 and "stale" in late.out
    assert project.cli("status", "--max-age", "soon").code == 2


def test_plan_detailed_exitcode(project: Project) -> None:
    assert project.cli("plan", "--detailed-exitcode").code == 6
    assert project.cli("run").code == 0
    assert project.cli("plan", "--detailed-exitcode").code == 0
    assert project.cli("plan").code == 0
    project.contacts.append(contact(9, email="nine@example.org"))
    project.write()
    code, doc = project.json("plan", "--detailed-exitcode")
    assert code == 6 and doc["exit_code"] == 6


def test_progress_lines_on_stderr_without_a_terminal(project: Project) -> None:
    result = project.cli("-v", "run")
    assert result.code == 0
    lines = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    stages = [line["progress"]["stage"] for line in lines if line["message"].startswith("stage ")]
    assert stages[:4] == ["pull", "load", "resolve", "traits"]
    assert "push" in stages
    pulled = [x for x in lines if x["progress"].get("task") == "pull:shop:contacts"]
    assert pulled and pulled[-1]["progress"]["done"] == 6 and pulled[-1]["progress"]["finished"]
    pushed = [x for x in lines if x["progress"].get("task") == "push:french_news"]
    assert pushed[-1]["progress"]["done"] == pushed[-1]["progress"]["total"] == 1
    # -v explains each stage
    assert "comparing each sync's wanted members" in result.err
    assert project.cli("-q", "run").err.strip() == ""
    # beside text logs without -v, only the periodic lines of long tasks (none in a short run)
    assert not [line for line in project.cli("run").err.splitlines() if line.startswith("{")]
    lines = project.cli("--log-format", "json", "run").err.splitlines()
    assert any(json.loads(line).get("message") == "stage pull" for line in lines)


def test_status_lines_up_a_killed_runs_phase_with_the_other_runs(project: Project) -> None:
    """Only a killed run has a phase: the other runs' cells stay under their own headers."""
    from slowkit import kill_run, slow_project

    marker = slow_project(project)
    kill_run(project, marker, 3, "0.3")
    assert project.cli("run", env={"SEGSYNC_TEST_MARKER": str(marker)}).code == 0
    text = project.cli("status", env={"COLUMNS": "250"}).out
    lines = [line for line in text.splitlines() if "┃" in line or "│" in line]
    header = [c.strip() for c in lines[0].strip("┃").split("┃")]
    assert {"run id", "status", "phase", "started", "seconds"} <= set(header)
    cells = {
        row[2]: dict(zip(header, row, strict=True))
        for row in ([c.strip() for c in line.strip("│").split("│")] for line in lines[1:])
        if len(row) == len(header) and row[1] == "run"
    }
    assert cells["killed"]["phase"] == "push" and cells["ok"]["phase"] == ""
    assert cells["killed"]["started"].endswith("UTC") and cells["ok"]["started"].endswith("UTC")
