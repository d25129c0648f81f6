"""config.example.toml's HubSpot and Mailchimp sections, uncommented, run against
`segsync sandbox` as their comments say: the demo's people are on both platforms, and the
run fills HubSpot's list and property and Mailchimp's tags."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from projectkit import uncomment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_example_config_runs_against_the_sandbox(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "segsync.sandbox.synth", "--out", str(tmp_path / "demo" / "data"),
         "--seed", "42", "--contacts", "300", "--orders", "900"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "segsync", "sandbox", "--platform", "hubspot",
         "--platform", "mailchimp", "--seed", "42", "--contacts", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert sandbox.stdout is not None
        lines: dict[str, dict[str, Any]] = {}
        for _ in range(2):
            line = json.loads(sandbox.stdout.readline())
            lines[line["platform"]] = line
        hubspot, mailchimp = lines["hubspot"], lines["mailchimp"]
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        text = uncomment(uncomment(text, "[connectors.hubspot]"), "[connectors.mailchimp]")
        text = re.sub(r'"http://127\.0\.0\.1:8787"', f'"{hubspot["base_url"]}"', text)
        text = re.sub(r'"http://127\.0\.0\.1:8788"', f'"{mailchimp["base_url"]}"', text)
        list_id = mailchimp["settings"]["list_id"]
        text = re.sub(r'list_id = "\w+"', f'list_id = "{list_id}"', text)
        config = tmp_path / "segsync.toml"
        config.write_text(text, encoding="utf-8")
        token, key = hubspot["credentials"]["token"], mailchimp["credentials"]["api_key"]
        env = {**os.environ, "SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": token,
               "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": key}  # fmt: skip

        def segsync(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "segsync", "-c", str(config), *args],
                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
            )  # fmt: skip

        checked = segsync("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "token accepted" in checked.stdout and "API key accepted" in checked.stdout
        first = segsync("run", "--format", "json")
        assert first.returncode in (0, 1), first.stderr  # 1: people skipped without consent
        assert token not in first.stdout + first.stderr and key not in first.stdout + first.stderr
        syncs = {s["name"]: s for s in json.loads(first.stdout)["syncs"]}
        for name in ("hubspot_newsletter_fr", "hubspot_big_spenders", "mailchimp_winback",
                     "mailchimp_runners"):  # fmt: skip
            assert syncs[name]["status"] in ("ok", "failed_records"), syncs[name]
            assert syncs[name]["applied_adds"] > 0, syncs[name]

        found = httpx.get(
            f"{hubspot['base_url']}/crm/v3/lists/object-type-id/0-1/name/segsync: Newsletter FR",
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        ).json()["list"]  # fmt: skip
        assert found["size"] == syncs["hubspot_newsletter_fr"]["applied_adds"]
        tags = httpx.get(
            f"{mailchimp['base_url']}/3.0/lists/{list_id}/tag-search",
            params={"name": "segsync: Win-back"}, auth=("segsync", key), timeout=10,
        ).json()  # fmt: skip
        assert [t["name"] for t in tags["tags"]] == ["segsync: Win-back"]

        second = json.loads(segsync("run", "--format", "json").stdout)
        assert all(s["adds"] == s["removes"] == 0 for s in second["syncs"]), second["syncs"]
    finally:
        sandbox.terminate()
        sandbox.communicate(timeout=30)
