"""config.example.toml's HubSpot and Mailchimp sections, uncommented, run against
`segsync sandbox` as their comments say: the demo's people are on both platforms, and the
run fills HubSpot's list and property and Mailchimp's tags. Then `segsync forget` (HubSpot's
`erase_records = "delete"`) takes one of them out of every audience and HubSpot, leaves no
byte of them in the store, and the next run, with them still in the demo's files and in
Mailchimp, does not bring them back."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from projectkit import demo_data, sandbox, uncomment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_example_config_runs_against_the_sandbox(tmp_path: Path) -> None:
    demo_data(tmp_path, contacts=300, orders=900)
    with sandbox(tmp_path, "hubspot", "mailchimp", contacts=300) as lines:
        hubspot, mailchimp = lines["hubspot"], lines["mailchimp"]
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        text = uncomment(uncomment(text, "[connectors.hubspot]"), "[connectors.mailchimp]")
        text = text.replace('erase_records = "off"                   # "delete": `segsync forget`'
                            " also GDPR", 'erase_records = "delete"  # GDPR', 1)  # fmt: skip
        assert 'erase_records = "delete"' in text
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

        _forget_one(segsync, tmp_path / "demo" / "segsync.duckdb", hubspot, mailchimp)


def _forget_one(
    segsync: Any, store: Path, hubspot: dict[str, Any], mailchimp: dict[str, Any]
) -> None:
    """Forget the person in the most audiences, HubSpot's list among them; check each
    platform over its API, the store's bytes, and a later run."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        email, phone, record_id, syncs = con.execute(
            """SELECT p.email, p.phone, h.member_key, list(s.sync ORDER BY s.sync)
               FROM profiles p
               JOIN sync_state h ON h.profile_key = p.profile_key
                   AND h.sync = 'hubspot_newsletter_fr'
               JOIN sync_state s ON s.profile_key = p.profile_key
               GROUP BY ALL ORDER BY count(*) DESC, p.email LIMIT 1"""
        ).fetchone() or (None, None, None, [])
    finally:
        con.close()
    assert email and any(s.startswith("mailchimp_") for s in syncs), syncs
    token, key = hubspot["credentials"]["token"], mailchimp["credentials"]["api_key"]
    list_id = mailchimp["settings"]["list_id"]
    hs = httpx.Client(base_url=hubspot["base_url"], headers={"Authorization": f"Bearer {token}"})
    mc = httpx.Client(base_url=f"{mailchimp['base_url']}/3.0", auth=("segsync", key))
    member = f"/lists/{list_id}/members/{hashlib.md5(email.encode()).hexdigest()}"
    with hs, mc:
        found = hs.get("/crm/v3/lists/object-type-id/0-1/name/segsync: Newsletter FR").json()
        hs_list = found["list"]["listId"]

        def listed() -> set[str]:
            ids: set[str] = set()
            params: dict[str, Any] = {"limit": 250}
            while True:
                page = hs.get(f"/crm/v3/lists/{hs_list}/memberships", params=params).json()
                ids |= {m["recordId"] for m in page["results"]}
                if "paging" not in page:
                    return ids
                params["after"] = page["paging"]["next"]["after"]

        def where() -> dict[str, Any]:
            tags = mc.get(f"{member}/tags").json().get("tags", [])
            return {
                "hubspot contact": hs.get(f"/crm/v3/objects/contacts/{record_id}").status_code,
                "hubspot list": record_id in listed(),
                "mailchimp member": mc.get(member).status_code,
                "mailchimp tags": sorted(
                    t["name"] for t in tags if t["name"].startswith("segsync")
                ),
            }

        before = where()
        assert before["hubspot contact"] == 200 and before["hubspot list"], before
        assert before["mailchimp tags"], before

        forgotten = segsync("forget", email, "--format", "json")
        assert forgotten.returncode == 0, forgotten.stdout + forgotten.stderr
        (request,) = json.loads(forgotten.stdout)["requests"]
        assert request["status"] == "complete", request
        lines = {(d["instance"], d["action"], d["sync"]): (d["status"], d["outcome"])
                 for d in request["destinations"]}  # fmt: skip
        assert lines[("hubspot", "erase", None)] == ("done", "deleted")
        removed = {sync for (_, action, sync), answer in lines.items()
                   if action == "remove" and answer == ("done", "removed")}  # fmt: skip
        assert removed == set(syncs), lines  # every audience they were delivered to
        after = {"hubspot contact": 404, "hubspot list": False, "mailchimp member": 200,
                 "mailchimp tags": []}  # fmt: skip
        assert where() == after  # Mailchimp's erase_records is off: a member, in no tag
        files = sorted((store.parent / "audiences").iterdir())
        assert files and not any(email in f.read_text(encoding="utf-8") for f in files)
        data = _bytes(store)
        assert email.encode() not in data and (not phone or phone.encode() not in data)

        # still in the demo's files and in Mailchimp: the next pull and run keep them out
        again = segsync("run", "--format", "json")
        assert again.returncode in (0, 1), again.stderr
        assert where() == after
        assert not any(email in f.read_text(encoding="utf-8") for f in files)
        data = _bytes(store)
        assert email.encode() not in data and (not phone or phone.encode() not in data)


def _bytes(store: Path) -> bytes:
    wal = store.with_name(store.name + ".wal")
    return store.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
