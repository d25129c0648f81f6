"""init, check, plugins, status and plugin hooks, through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from projectkit import Project

REPO = Path(__file__).resolve().parents[2]
AUDIT_PLUGIN = REPO / "plugins" / "segsync-audit" / "segsync_audit.py"


def test_init_writes_a_starter_config_that_runs(tmp_path: Path) -> None:
    project = Project(root=tmp_path)
    target = tmp_path / "segsync.toml"
    result = project.cli("init", str(target), "--sample-data")
    assert result.code == 0, result.err
    assert target.exists()
    assert (tmp_path / "data" / "contacts.csv").exists()
    again = project.cli("init", str(target))
    assert again.code == 2
    assert "already exists" in again.err
    check = project.cli("check")
    assert check.code == 0, check.out + check.err
    assert "config ok" in check.out
    code, report = project.json("run")
    assert code == 0, report
    assert report["profiles"]["profiles"] > 4000
    # the sample shop sells in four currencies: revenue adds them as they are, and says so
    assert set(report["profiles"]["order_currencies"]) == {"EUR", "GBP", "USD", "PLN"}
    assert "mixed_currencies" in [w["code"] for w in report["warnings"]]
    assert all(s["applied_adds"] == s["adds"] for s in report["syncs"])
    assert all(s["adds"] > 0 for s in report["syncs"])


def test_check_reports_unreachable_sources(project: Project) -> None:
    (project.root / "data" / "orders.jsonl").unlink()
    result = project.cli("check")
    assert result.code == 2
    assert "FAILED shop" in result.out
    assert "orders.jsonl" in result.out


def test_plugins_lists_origin_version_connectors_and_capabilities(project: Project) -> None:
    result = project.cli("plugins", "--format", "json")
    assert result.code == 0
    plugins = {p["plugin"]: p for p in json.loads(result.out)}
    files = plugins["files"]
    assert files["origin"].startswith(
        "entry point segsync.connectors.files.plugin (package segsync)"
    )
    assert files["version"]
    (connector,) = files["connectors"]
    assert connector["name"] == "files"
    assert connector["capabilities"] == ["contacts", "events", "audience:csv"]
    text = project.cli("plugins", env={"COLUMNS": "250"})
    assert "files (contacts, events, audience:csv)" in text.out
    assert "trait kinds: aggregate, recency, rfm" in text.out
    # what the plugin guide promises a new connector's author: its simulator is listed too
    assert "simulators: hubspot" in text.out and "simulators: google_ads" in text.out


def test_example_plugin_uses_every_hook(project: Project) -> None:
    """The example third-party plugin, loaded as a loose file: a jsonl destination, a
    run_finished audit log and an added command (run through the real entry point)."""
    plugins = project.root / "plugins"
    plugins.mkdir()
    shutil.copy(AUDIT_PLUGIN, plugins / "audit.py")
    project.destination_type = "jsonl"
    project.write()
    log = project.root / "audit.jsonl"
    env = {"SEGSYNC_AUDIT_LOG": str(log)}
    result = project.cli("run", env=env)
    assert result.code == 0, result.err
    lines = (project.root / "out" / "buyers.jsonl").read_text().splitlines()
    assert [json.loads(x)["email"] for x in lines] == ["alice@example.org", "person2@example.org"]
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["status"] == "ok"
    assert entry["syncs"]["buyers"] == {"added": 2, "removed": 0}

    listing = project.cli("plugins", "--format", "json")
    audit = next(p for p in json.loads(listing.out) if p["plugin"] == "audit")
    assert audit["hooks"] == ["register_commands", "register_connectors", "run_finished"]
    assert audit["version"] == "0.1.0"

    proc = subprocess.run(
        [sys.executable, "-m", "segsync", "-c", str(project.config), "audit-log", "--last", "1"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run_id"] == entry["run_id"]


def test_help_documents_exit_codes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "segsync", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    for code in (*range(7), 130):
        assert f"{code} " in proc.stdout


def _help(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "segsync", *args, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    return " ".join(proc.stdout.replace("│", " ").split())


def test_help_keeps_config_keys_in_brackets_and_whole_sentences() -> None:
    """Config keys in square brackets are shown (Rich markup would drop them as style tags),
    and a command's summary in the list reads as one sentence, not broken at its docstring's
    line ends."""
    main = _help()
    assert "[env SEGSYNC_CONFIG; default ./segsync.toml]" in main
    assert "kept [privacy] retention_days" in main
    assert "whose erase_records is on, every trace deleted from the store" in main
    assert "The sync, as named in [syncs.NAME]" in _help("changes")
    assert "[config: [segments] as_of]" in _help("run")
    assert "every [alerts] target" in _help("check")


def test_status_before_any_run(project: Project) -> None:
    result = project.cli("status", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["runs"] == []


def test_init_into_a_folder_or_another_file_says_how_to_run_it(tmp_path: Path) -> None:
    """`segsync init FOLDER` writes FOLDER/segsync.toml (it failed: 'FOLDER already exists',
    and with --force an internal error); a config written anywhere but ./segsync.toml is
    followed by commands naming it (plain 'segsync check' would read ./segsync.toml)."""
    project = Project(root=tmp_path)
    folder = tmp_path / "shop"
    folder.mkdir()
    result = project.cli("init", str(folder), "--sample-data")
    assert result.code == 0, result.err
    config = folder / "segsync.toml"
    assert config.is_file() and (folder / "data" / "contacts.csv").is_file()
    assert f"'segsync -c {config} check'" in " ".join(result.out.split())
    assert project.cli("init", str(folder), "--force").code == 0
    other = tmp_path / "my-project.toml"
    result = project.cli("init", str(other))
    assert result.code == 0, result.err
    assert f"'segsync -c {other} run'" in " ".join(result.out.split())
