"""config.example.toml's Salesforce section, uncommented, run against `segsync sandbox` as its
comments say: the sandbox serves Salesforce over HTTPS with a local CA and prints where that
CA is; the run fills the campaign; a second run changes nothing."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from projectkit import demo_data, sandbox, uncomment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_example_salesforce_section_runs_against_the_sandbox(tmp_path: Path) -> None:
    demo_data(tmp_path, contacts=300, orders=900)
    with sandbox(tmp_path, "salesforce", contacts=300) as lines:
        line = lines["salesforce"]
        assert line["base_url"].startswith("https://127.0.0.1:")
        ca_bundle = line["settings"]["ca_bundle"]
        assert Path(ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        text = uncomment(text, "[connectors.salesforce]")
        text = text.replace('"https://127.0.0.1:8789"', f'"{line["base_url"]}"')
        client_id = line["credentials"]["client_id"]
        assert f'client_id = "{client_id}"' in text
        config = tmp_path / "segsync.toml"
        config.write_text(text, encoding="utf-8")
        secret = line["credentials"]["client_secret"]
        env = {**os.environ, "SEGSYNC_CONNECTORS__SALESFORCE__CLIENT_SECRET": secret,
               "SEGSYNC_CONNECTORS__SALESFORCE__CA_BUNDLE": ca_bundle}  # fmt: skip

        def segsync(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "segsync", "-c", str(config), *args],
                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
            )  # fmt: skip

        checked = segsync("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "client_credentials login accepted" in checked.stdout
        first = segsync("run", "--format", "json")
        assert first.returncode in (0, 1), first.stderr
        assert secret not in first.stdout + first.stderr
        report = json.loads(first.stdout)
        (sync,) = [s for s in report["syncs"] if s["name"] == "salesforce_big_spenders"]
        assert sync["status"] == "ok" and sync["applied_adds"] > 0, sync
        sources = {(s["instance"], s["stream"]): s for s in report["sources"]}
        assert sources[("salesforce", "contacts")]["records"] > 250
        assert sources[("salesforce", "events")]["records"] > 0

        # the campaign holds exactly what segsync delivered, asked over HTTPS with the CA
        trust = ssl.create_default_context(cafile=ca_bundle)
        with httpx.Client(verify=trust, base_url=line["base_url"], timeout=10) as client:
            token = client.post(
                "/services/oauth2/token",
                data={"grant_type": "client_credentials", "client_id": client_id,
                      "client_secret": secret},
            ).json()["access_token"]  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"}
            q = (
                "SELECT Id, NumberOfContacts, NumberOfLeads FROM Campaign "
                "WHERE Name = 'segsync: Big spenders'"
            )
            (campaign,) = client.get(
                "/services/data/v66.0/query", params={"q": q}, headers=headers
            ).json()["records"]
        assert campaign["NumberOfContacts"] + campaign["NumberOfLeads"] == sync["applied_adds"]

        second = json.loads(segsync("run", "--format", "json").stdout)
        assert all(s["adds"] == s["removes"] == 0 for s in second["syncs"]), second["syncs"]
    assert re.search(r"segsync: Big spenders", (REPO / "config.example.toml").read_text())
