"""Honest exit codes and messages in the user's terms (issue 11): a problem of the user's or
the machine's is exit 2 naming what and where, exit 5 is kept for bugs; JSON stays JSON on
errors; secrets stay out of every output."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from projectkit import Project, contact
from segsync.engine import StorageError
from segsync.pipeline import environment_error, load


def _run(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script, so ``main()`` (plugin preloading) runs too."""
    return subprocess.run(
        [sys.executable, "-m", "segsync", "-c", str(project.config), *args],
        capture_output=True, text=True, cwd=project.root, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


# -- 13: user and environment problems are exit 2, named -------------------------------------


@pytest.mark.parametrize(
    ("where", "fragment", "when"),
    [
        # on the data: only the stored values make it fail
        (
            "CAST(country AS INTEGER) = 1",
            "INT32 when casting from source column country",
            "segments.odd: the condition fails on the stored profiles",
        ),
        # on the types or its own constants: refused when the config loads, before any pull
        (
            "orders_count * 9223372036854775807 * 10 > 1",
            "Overflow",
            "segments.odd.where: the condition cannot run on its columns' types",
        ),
        (
            "lower(orders_count) = 'x'",
            "lower",
            "segments.odd.where: the condition cannot run on its columns' types",
        ),
    ],
)
def test_a_condition_failing_on_the_data_names_its_segment(
    project: Project, where: str, fragment: str, when: str
) -> None:
    project.extra_config = f'\n[segments.odd]\nwhere = "{where}"\n'
    project.write()
    result = project.cli("run")
    assert result.code == 2, result.err
    assert when in " ".join(result.err.split())
    assert fragment.lower() in result.err.lower()
    assert "internal error" not in result.err


def test_a_store_path_that_cannot_be_a_folder_is_named(project: Project) -> None:
    (project.root / "blocker").write_text("a file, not a folder")
    text = project.config.read_text().replace(
        'path = "segsync.duckdb"', 'path = "blocker/s.duckdb"'
    )
    project.config.write_text(text)
    result = project.cli("run")
    assert result.code == 2
    assert "blocker" in result.err and "internal error" not in result.err


def test_a_truncated_store_says_what_to_do(project: Project) -> None:
    assert project.cli("run").code == 0
    store = project.root / "segsync.duckdb"
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 3])
    result = project.cli("run")
    assert result.code == 2, result.err
    assert str(store) in result.err
    assert "internal error" not in result.err


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/segsync.duckdb.work"),
            "free disk space",
        ),
        (OSError(errno.EROFS, "Read-only file system", "/ro/segsync.duckdb"), "read-only"),
        (PermissionError(errno.EACCES, "Permission denied", "/srv/x"), "permissions"),
        (StorageError("IO Error: No space left on device"), "free disk space"),
    ],
)
def test_environment_errors_are_said_in_the_users_terms(
    project: Project, error: Exception, advice: str
) -> None:
    failure = environment_error(load(project.config), error)
    assert failure is not None and failure.exit_code == 2
    assert advice in str(failure)
    assert environment_error(load(project.config), KeyError("a bug")) is None


# -- 14: machine-readable on errors ----------------------------------------------------------


def test_json_formats_stay_json_on_errors(project: Project) -> None:
    project.config.write_text(project.config.read_text() + "\n[syncs.broken]\nsegment = 1\n")
    result = _run(project, "--log-format", "json", "run", "--format", "json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["status"] == "error" and document["exit_code"] == 2
    assert "syncs.broken" in "".join(document["errors"])
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["level"] for e in logged] == ["error"]
    assert logged[0]["exit_code"] == 2 and "syncs.broken" in logged[0]["message"]


# -- 15: empty configs, broken plugins, init -------------------------------------------------


def test_an_empty_config_is_an_error(project: Project) -> None:
    project.config.write_text("")
    result = project.cli("run")
    assert result.code == 2
    assert "no connectors and no syncs configured" in result.err
    assert project.cli("check").code == 2


def test_a_broken_plugin_file_leaves_help_version_and_init_working(project: Project) -> None:
    (project.root / "plugins").mkdir(exist_ok=True)
    (project.root / "plugins" / "broken.py").write_text("import no_such_module\n")
    assert _run(project, "--version").returncode == 0
    helped = _run(project, "--help")
    assert helped.returncode == 0 and "run" in helped.stdout
    init = _run(project, "init", str(project.root / "new" / "segsync.toml"))
    assert init.returncode == 0, init.stderr
    result = _run(project, "run")
    assert result.returncode == 2 and "broken.py failed to import" in result.stderr


@pytest.mark.parametrize("options", [[], ["--log-format", "json"], ["--plugins-dir", "plugins"]])
def test_a_broken_plugin_is_reported_once_whatever_options_precede_the_command(
    project: Project, options: list[str]
) -> None:
    # the value of a global option was taken for the command, so the start-up warning was
    # printed as well as the command's error (and, with --log-format json, as a text line)
    (project.root / "plugins").mkdir(exist_ok=True)
    (project.root / "plugins" / "broken.py").write_text("import no_such_module\n")
    result = _run(project, *options, "check")
    assert result.returncode == 2
    assert result.stderr.count("broken.py failed to import") == 1, result.stderr
    if options[:1] == ["--log-format"]:
        assert all(json.loads(line) for line in result.stderr.splitlines() if line.strip())


def test_a_plugin_command_cannot_replace_a_built_in_one(project: Project) -> None:
    (project.root / "plugins").mkdir(exist_ok=True)
    (project.root / "plugins" / "hijack.py").write_text(
        "from segsync import hookimpl\n\n"
        "@hookimpl\n"
        "def register_commands(app):\n"
        "    @app.command()\n"
        "    def plugins():\n"
        "        print('hijacked')\n"
    )
    result = _run(project, "plugins", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "hijacked" not in result.stdout
    assert any(p["plugin"] == "hijack" for p in json.loads(result.stdout))
    assert "plugin 'hijack' tried to replace the built-in command 'plugins'" in result.stderr


def test_init_never_overwrites_data_without_force(tmp_path: Path) -> None:
    project = Project(root=tmp_path)
    target = tmp_path / "elsewhere.toml"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "contacts.csv").write_text("my own customers\n")
    result = project.cli("init", str(target), "--sample-data")
    assert result.code == 2 and "contacts.csv already exists" in result.err
    assert (tmp_path / "data" / "contacts.csv").read_text() == "my own customers\n"
    assert not target.exists()
    assert project.cli("init", str(target), "--sample-data", "--force").code == 0
    assert (tmp_path / "data" / "contacts.csv").read_text() != "my own customers\n"


# -- 16: secrets -----------------------------------------------------------------------------

HUBSPOT = """
[connectors.crm]
type = "hubspot"
base_url = "http://user:hunter2@127.0.0.1:9"
"""


def test_url_credentials_never_appear(project: Project) -> None:
    project.extra_config = HUBSPOT
    project.write()
    env = {
        "SEGSYNC_CONNECTORS__CRM__TOKEN": "pat-secret-0000",
        "SEGSYNC_CONNECTORS__CRM__CONCURRENCY": "1",
    }
    for args in (("check",), ("run", "--format", "json"), ("--log-format", "json", "run")):
        result = _run(project, *args, env=env)
        assert "hunter2" not in result.stdout + result.stderr, args
        assert "pat-secret-0000" not in result.stdout + result.stderr, args


def test_secrets_lose_stray_line_breaks_and_refuse_control_characters(project: Project) -> None:
    project.extra_config = HUBSPOT.replace("user:hunter2@", "")
    project.write()
    stripped = _run(project, "check", env={"SEGSYNC_CONNECTORS__CRM__TOKEN": "pat-x\r\n"})
    assert "removed white space or a line break around the secret" in stripped.stderr
    assert "SEGSYNC_CONNECTORS__CRM__TOKEN" in stripped.stderr
    refused = _run(project, "check", env={"SEGSYNC_CONNECTORS__CRM__TOKEN": "pat\x1bx"})
    assert refused.returncode == 2
    assert (
        "connectors.crm.token: the secret contains a control character (U+001B)" in refused.stderr
    )


def test_a_secret_written_in_the_config_is_warned_about(project: Project) -> None:
    project.extra_config = HUBSPOT.replace("user:hunter2@", "") + 'token = "pat-in-the-file"\n'
    project.write()
    result = _run(project, "plan", "--no-pull")
    assert "connectors.crm.token is written in the config file" in result.stderr
    assert "pat-in-the-file" not in result.stdout + result.stderr


# -- 17: messages in the user's terms --------------------------------------------------------


def test_messages_say_what_was_expected(project: Project, tmp_path: Path) -> None:
    text = project.config.read_text()
    text = text.replace('path = "segsync.duckdb"', 'path = 123\nmemory_limit = "lots"')
    project.config.write_text(
        text + HUBSPOT.replace("user:hunter2@", "") + 'token_file = "/no/such/token"\n'
    )
    result = project.cli("check")
    assert result.code == 2
    assert "store.path: expected a file path (text); found 123 (int)" in result.err
    assert "store.memory_limit: expected a size such as '1.5GB'" in result.err
    assert "connectors.crm.token_file: cannot read secret file '/no/such/token'" in result.err


# -- 8: CSV files as people make them --------------------------------------------------------


def test_csv_exports_as_spreadsheets_write_them(project: Project) -> None:
    project.contacts = [contact(1), contact(2)]
    project.write()
    path = project.root / "data" / "contacts.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())  # Excel "CSV UTF-8"
    assert project.cli("run").code == 0
    assert project.audience("French_newsletter") == {"person1@example.org", "person2@example.org"}
    header, *rows = text.splitlines()
    path.write_text("\n".join([header + ",country", *(r + ",DE" for r in rows)]) + "\n")
    result = project.cli("run")
    assert result.code == 2
    assert "contacts.csv: the header names column 'country' twice" in result.err
    path.write_text(
        "\n".join([header, rows[0], rows[1].replace("Person2", "x" * 1_000_000)]) + "\n"
    )
    result = project.cli("run")
    assert result.code == 2
    assert "contacts.csv:3: malformed CSV: a field is longer than" in result.err


@pytest.mark.parametrize(
    "command",
    [["run"], ["status"], ["runs"], ["changes", "buyers"], ["erasures"], ["suppressions", "list"]],
)
def test_a_lock_file_that_cannot_be_opened_is_named_not_a_bug(
    project: Project, command: list[str]
) -> None:
    """Every command takes the store's lock first; a lock file it cannot open (here a folder
    stands in its place) is the machine's problem: exit 2 naming it, never exit 5."""
    assert project.cli("run").code == 0
    lock = project.root / "segsync.duckdb.lock"
    lock.unlink()
    lock.mkdir()
    result = project.cli(*command)
    assert result.code == 2, result.err
    assert "internal error" not in result.err
    assert "segsync.duckdb.lock" in result.err and "a folder stands where a file" in result.err
