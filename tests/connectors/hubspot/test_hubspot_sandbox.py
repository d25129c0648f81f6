"""config.example.toml's HubSpot section, uncommented, runs against `segsync sandbox` as the
comments in it say: the demo's people are in the sandbox's HubSpot, and the run fills a list
and the segments property there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.e2e


def uncomment_hubspot(text: str, base_url: str) -> str:
    """The example with its commented HubSpot section switched on, pointed at ``base_url``."""
    lines = text.splitlines()
    start = lines.index("# [connectors.hubspot]")
    out = lines[:start]
    for line in lines[start:]:
        out.append("" if line == "#" else line.removeprefix("# "))
    config = "\n".join(out) + "\n"
    return re.sub(r'base_url = "http://127\.0\.0\.1:\d+"', f'base_url = "{base_url}"', config)


def test_example_config_runs_against_the_sandbox(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "segsync.synth", "--out", str(tmp_path / "demo" / "data"),
         "--seed", "42", "--contacts", "300", "--orders", "900"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "segsync", "sandbox", "--platform", "hubspot",
         "--seed", "42", "--contacts", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "SEGSYNC_PLUGINS": "files,hubspot"},
    )  # fmt: skip
    try:
        assert sandbox.stdout is not None
        line = json.loads(sandbox.stdout.readline())
        assert line["platform"] == "hubspot" and line["contacts"] == 300
        token = line["credentials"]["token"]
        config = tmp_path / "segsync.toml"
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        config.write_text(uncomment_hubspot(text, line["base_url"]), encoding="utf-8")
        shutil.rmtree(tmp_path / "demo" / "audiences", ignore_errors=True)
        env = {**os.environ, "SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": token}
        env.pop("SEGSYNC_PLUGINS", None)

        def segsync(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "segsync", "-c", str(config), *args],
                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
            )  # fmt: skip

        checked = segsync("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "token accepted" in checked.stdout
        first = segsync("run", "--format", "json")
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        syncs = {s["name"]: s for s in report["syncs"]}
        listed = syncs["hubspot_newsletter_fr"]
        assert listed["status"] == "ok" and listed["adds"] > 0
        assert syncs["hubspot_big_spenders"]["status"] == "ok"
        assert token not in first.stdout + first.stderr

        headers = {"Authorization": f"Bearer {token}"}
        found = httpx.get(
            f"{line['base_url']}/crm/v3/lists/object-type-id/0-1/name/segsync: Newsletter FR",
            headers=headers, timeout=10,
        ).json()["list"]  # fmt: skip
        assert found["size"] == listed["adds"]

        second = json.loads(segsync("run", "--format", "json").stdout)
        assert all(s["adds"] == s["removes"] == 0 for s in second["syncs"])
    finally:
        sandbox.terminate()
        sandbox.communicate(timeout=30)
