"""config.example.toml's Google Ads section, uncommented, run against `segsync sandbox` as its
comments say: the demo's people are Google users in the sandbox, and the run fills a Customer
Match list with the consented big spenders, hashed; the list's size and match rate come back
in the report; a second run changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from projectkit import demo_data, sandbox, uncomment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_example_google_ads_section_runs_against_the_sandbox(tmp_path: Path) -> None:
    demo_data(tmp_path, contacts=300, orders=900)
    with sandbox(tmp_path, "google_ads", contacts=300) as lines:
        line = lines["google_ads"]
        base, creds, settings = line["base_url"], line["credentials"], line["settings"]
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        text = uncomment(text, "[connectors.google_ads]")
        text = text.replace("http://127.0.0.1:8790", base)
        for key in ("operating_account_id", "login_account_id", "quota_project"):
            assert re.search(rf'^{key} = "{settings[key]}"', text, re.M), key  # as announced
        assert f'client_id = "{creds["client_id"]}"' in text
        config = tmp_path / "segsync.toml"
        config.write_text(text, encoding="utf-8")
        secret, refresh = creds["client_secret"], creds["refresh_token"]
        env = {**os.environ, "SEGSYNC_CONNECTORS__GOOGLE_ADS__CLIENT_SECRET": secret,
               "SEGSYNC_CONNECTORS__GOOGLE_ADS__REFRESH_TOKEN": refresh}  # fmt: skip

        def segsync(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "segsync", "-c", str(config), *args],
                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
            )  # fmt: skip

        checked = segsync("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "credential accepted; Google Ads account 1234567890 reachable" in checked.stdout
        first = segsync("run", "--format", "json")
        assert first.returncode in (0, 1), first.stderr
        assert secret not in first.stdout + first.stderr
        assert refresh not in first.stdout + first.stderr
        syncs = {s["name"]: s for s in json.loads(first.stdout)["syncs"]}
        ads = syncs["google_ads_big_spenders"]
        assert ads["status"] == "ok", ads
        assert ads["applied_adds"] > 0 and ads["required_consent"] == [
            "ad_personalization",
            "ad_user_data",
        ]
        assert ads["refresh_days"] == 510
        assert 0.4 <= ads["match_rate"] <= 0.8  # the sandbox's Google users: ~60% of the demo
        # the list, as Google reports it
        token = httpx.post(creds["token_uri"], data={
            "grant_type": "refresh_token", "client_id": creds["client_id"],
            "client_secret": secret, "refresh_token": refresh}, timeout=10).json()["access_token"]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}",
                   "x-goog-user-project": settings["quota_project"],
                   "login-account": f"accountTypes/GOOGLE_ADS/accounts/{settings['login_account_id']}"}  # fmt: skip
        lists = httpx.get(
            f"{base}/v1/accountTypes/GOOGLE_ADS/accounts/{settings['operating_account_id']}"
            "/userLists", headers=headers, timeout=10,
        ).json()["userLists"]  # fmt: skip
        (found,) = [x for x in lists if x["displayName"] == "segsync: Big spenders"]
        assert found["id"] == ads["audience_id"]
        assert int(found["sizeInfo"].get("displayNetworkMembersCount", 0)) == ads["audience_size"]
        second = json.loads(segsync("run", "--format", "json").stdout)
        assert all(s["adds"] == s["removes"] == s["refreshes"] == 0 for s in second["syncs"])
