"""`segsync new-connector`: the generated package installs (pip install -e), registers its
connector through its entry point, and passes the conformance suite as generated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from projectkit import Project

pytestmark = pytest.mark.e2e
NAME = "scaffoldtest"


def _run(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_generated_connector_installs_and_passes_the_conformance_suite(
    project: Project, tmp_path: Path
) -> None:
    made = project.cli("new-connector", NAME, "--out", str(tmp_path))
    assert made.code == 0, made.err
    root = tmp_path / f"segsync-{NAME}"
    expected = {
        "pyproject.toml",
        "README.md",
        f"segsync_{NAME}/__init__.py",
        f"segsync_{NAME}/plugin.py",
        f"segsync_{NAME}/settings.py",
        f"segsync_{NAME}/connector.py",
        f"segsync_{NAME}/simulator.py",
        f"segsync_{NAME}/py.typed",
        f"tests/test_{NAME}_conformance.py",
        f"docs/{NAME}.md",
    }
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} == expected
    assert project.cli("new-connector", NAME, "--out", str(tmp_path)).code == 2  # exists
    assert project.cli("new-connector", "Bad-Name", "--out", str(tmp_path)).code == 2

    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q"]
    installed = _run(*pip, "-e", str(root))
    assert installed.returncode == 0, installed.stderr
    try:
        listed = _run(sys.executable, "-m", "segsync", "plugins", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        plugins = json.loads(listed.stdout)
        mine = next(p for p in plugins if p["plugin"] == NAME)
        assert [c["name"] for c in mine["connectors"]] == [NAME]
        assert mine["simulators"] == [NAME]

        tested = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root)
        assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
        assert "12 passed" in tested.stdout
    finally:
        _run(sys.executable, "-m", "pip", "uninstall", "-y", "-q", f"segsync-{NAME}")
