"""Ordinary mistakes, made the way a new user or an ops engineer makes them: segsync's
promises (exactly the right, consenting people; nothing pushed by accident) must hold anyway.

* two projects in one folder, run at the same time, stay apart;
* a monitoring loop of ``segsync status`` never makes a scheduled run fail;
* a header-only export is refused before anything is loaded or pushed;
* segsync's own writes to HubSpot never re-grant a consent withdrawn elsewhere;
* the sandbox quick-start settles: every run after the first applies nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from projectkit import CONTACT_COLUMNS, Project, contact, demo_data, sandbox, uncomment
from segsync.connectors.hubspot.simulator import HubSpotSimulator
from segsync.connectors.mailchimp.simulator import MailchimpSimulator

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _segsync(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "segsync", "-c", str(config), *args],
        cwd=config.parent,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _write_contacts(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, CONTACT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


PROJECT = """
[store]
path = "{name}.duckdb"

[connectors.shop]
type = "files"
page_size = 500
[connectors.shop.contacts]
path = "{name}-contacts.csv"
updated_at = "updated_at"
consent = {{ email_marketing = "email_opt_in" }}

[connectors.out]
type = "files"
output_dir = "{name}-out"

[segments.everyone]
where = "TRUE"

[syncs.everyone]
segment = "everyone"
destination = "out"
audience = "everyone"
"""


def test_two_projects_in_one_folder_run_at_once_and_stay_apart(tmp_path: Path) -> None:
    configs = {}
    for name in ("alpha", "beta"):
        rows = [contact(i, email=f"{name}{i}@{name}.example") for i in range(3000)]
        _write_contacts(tmp_path / f"{name}-contacts.csv", rows)
        configs[name] = tmp_path / f"{name}.toml"
        configs[name].write_text(PROJECT.format(name=name), encoding="utf-8")
    for _ in range(2):  # a first run and a second one, each pair at the same moment
        procs = {name: _segsync(config, "run") for name, config in configs.items()}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name}: {out}{err}"
    for name in configs:
        with (tmp_path / f"{name}-out" / "everyone.csv").open(encoding="utf-8") as fh:
            members = {row["email"] for row in csv.DictReader(fh)}
        assert len(members) == 3000
        assert all(m.endswith(f"@{name}.example") for m in members), name
        assert (tmp_path / f"{name}.duckdb.work").is_dir()
    assert not (tmp_path / ".segsync-staging").exists()


SLOW_SOURCE = """
import asyncio
from segsync import hookimpl
from segsync.connectors.files import FilesConnector, FilesSource


class SlowReader(FilesSource):
    async def contacts(self, cursor):
        async for page in super().contacts(cursor):
            yield page
            await asyncio.sleep(0.15)


class SlowSource(FilesConnector):
    name = "slowsource"

    def __init__(self, settings, context):
        super().__init__(settings, context)
        self.source = SlowReader(self.settings, context)


@hookimpl
def register_connectors(register):
    register(SlowSource)
"""


def test_a_status_loop_never_makes_a_run_fail(tmp_path: Path) -> None:
    _write_contacts(tmp_path / "p-contacts.csv", [contact(i) for i in range(400)])
    config = tmp_path / "p.toml"
    text = PROJECT.format(name="p").replace(
        'type = "files"\npage_size = 500', 'type = "slowsource"\npage_size = 25'
    )
    config.write_text(text, encoding="utf-8")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "slow.py").write_text(SLOW_SOURCE, encoding="utf-8")
    stop = threading.Event()
    seen: list[dict[str, Any]] = []
    failures: list[str] = []

    def monitor() -> None:
        while not stop.is_set():
            proc = _segsync(config, "status", "--format", "json")
            out, err = proc.communicate(timeout=60)
            if proc.returncode != 0:
                failures.append(f"status exit {proc.returncode}: {err}")
            else:
                seen.append(json.loads(out))

    watcher = threading.Thread(target=monitor)
    watcher.start()

    def saw_a_run_pulling() -> bool:
        return any(
            s["lock_holder"] and (s.get("live") or {}).get("phase") in ("pull", "load")
            for s in list(seen)
        )

    try:
        time.sleep(0.5)  # the loop is going before the runs start
        # at least 3 runs; more (up to 8) while no status has yet landed inside one, as on a
        # machine so busy that starting `segsync status` takes as long as a run
        for done in range(1, 9):
            run = _segsync(config, "run")
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, out + err
            if done >= 3 and saw_a_run_pulling():
                break
    finally:
        stop.set()
        watcher.join(timeout=120)
    assert not failures
    busy = [s for s in seen if s["lock_holder"]]
    assert busy, "status never saw a run in progress"
    # while a run held the store, status answered from what the run publishes: its phase
    assert any((s.get("live") or {}).get("phase") in ("pull", "load") for s in busy)
    assert all(s["lock_holder"]["command"] == "run" for s in busy)


def test_a_header_only_export_is_refused_before_anything_is_loaded(project: Project) -> None:
    project.contacts = [contact(i, country="FR") for i in range(200)]
    project.write()
    assert project.cli("run").code == 0
    before = project.audience("French_newsletter")
    assert len(before) == 200
    (project.root / "data" / "contacts.csv").write_text(",".join(CONTACT_COLUMNS) + "\n")
    code, report = project.json("run")
    assert code == 3
    contacts = next(s for s in report["sources"] if s["stream"] == "contacts")
    assert "max_shrink_fraction" in contacts["refused"] and not contacts["loaded"]
    assert all(s["status"] == "skipped" for s in report["syncs"]), report["syncs"]
    assert all(s["applied_adds"] == s["applied_removes"] == 0 for s in report["syncs"])
    assert project.audience("French_newsletter") == before
    con = duckdb.connect(str(project.root / "segsync.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM source_contacts").fetchone() == (200,)
    finally:
        con.close()
    # reviewed and meant: --force loads it; the sync guard still stops emptying the audience
    code, report = project.json("run", "--force")
    assert code == 0 and project.audience("French_newsletter") == set()


HUBSPOT = """
[connectors.hubspot]
type = "hubspot"
base_url = "{base_url}"
requests_per_10s = 1000

[syncs.french_hs]
segment = "french"
destination = "hubspot"
kind = "list"
audience = "segsync: French"
require_consent = ["email_marketing"]

[syncs.french_prop]
segment = "french"
destination = "hubspot"
kind = "property"
audience = "French"
"""


def test_segsyncs_own_writes_never_regrant_a_withdrawn_consent(project: Project) -> None:
    """Anna granted consent in HubSpot in January; in June she withdrew it in the shop. segsync
    writes its segments property to her HubSpot record at every run, which bumps her
    ``lastmodifieddate``: that must not make HubSpot's January answer look newer."""
    clock = {"now": dt.datetime(2026, 1, 15, tzinfo=dt.UTC).timestamp()}
    sim = HubSpotSimulator(seed=3, burst=1000, wall_clock=lambda: clock["now"])
    token = "pat-na1-misuse-0000"
    sim.add_credential(token)
    for i in (1, 2, 3):
        sim.add_contact(
            f"person{i}@example.org", hs_legal_basis="Freely given consent from contact"
        )
    clock["now"] = time.time()  # from here on, HubSpot's clock is the real one
    project.contacts = [
        contact(1, opt_in="no", updated="2026-06-01T09:00:00Z"),  # withdrawn in June
        contact(2, opt_in="", updated="2026-06-01T09:00:00Z"),  # no answer in the shop
        contact(3, opt_in="yes", updated="2026-06-01T09:00:00Z"),
    ]
    env = {"SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": token}
    with sim.serve() as served:
        project.extra_config = HUBSPOT.format(base_url=served.base_url)
        project.write()
        list_members: list[set[str]] = []
        for _ in range(3):
            result = project.cli("run", "--format", "json", env=env)
            assert result.code == 0, result.out + result.err
            list_id = sim.list_id("segsync: French")
            members = {
                sim.contact(i)["properties"]["email"] for i in sim.list_members(list_id or "")
            }
            list_members.append(members)
            report = json.loads(result.out)
            if len(list_members) > 1:  # nothing changed since: nothing to do
                assert all(s["adds"] == s["removes"] == 0 for s in report["syncs"]), report
        # segsync did write to every French contact's record (its segments property)
        assert sim.property_values("segsync_segments").keys() == {
            sim.contact_id(f"person{i}@example.org") for i in (1, 2, 3)
        }
    assert all(m == {"person2@example.org", "person3@example.org"} for m in list_members)


MAILCHIMP = """
[connectors.mailchimp]
type = "mailchimp"
base_url = "{base_url}"
list_id = "{list_id}"

[syncs.french_tag]
segment = "french"
destination = "mailchimp"
audience = "segsync: French"
require_consent = ["email_marketing"]

[syncs.buyers_tag]
segment = "french"
destination = "mailchimp"
audience = "segsync: everyone French"
"""


def test_segsyncs_own_tags_never_regrant_a_withdrawn_consent(project: Project) -> None:
    """The same with Mailchimp, where tagging a member may move its ``last_changed``: Anna
    subscribed in January, and said no in the shop in June."""
    clock = {"now": dt.datetime(2026, 1, 15, tzinfo=dt.UTC).timestamp()}
    sim = MailchimpSimulator(
        seed=3, wall_clock=lambda: clock["now"], tag_changes_bump_last_changed=True
    )
    key = "misuse0secret0key000000000000000-us1"
    sim.add_credential(key)
    list_id = sim.create_list("Newsletter")
    sim.seed_members(
        list_id, [{"email": f"person{i}@example.org", "status": "subscribed"} for i in (1, 2, 3)]
    )
    clock["now"] = time.time()
    project.contacts = [
        contact(1, opt_in="no", updated="2026-06-01T09:00:00Z"),
        contact(2, opt_in="", updated="2026-06-01T09:00:00Z"),
        contact(3, opt_in="yes", updated="2026-06-01T09:00:00Z"),
    ]
    env = {"SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": key}
    with sim.serve() as served:
        project.extra_config = MAILCHIMP.format(base_url=served.base_url, list_id=list_id)
        project.write()
        tagged = []
        for _ in range(3):
            result = project.cli("run", "--format", "json", env=env)
            assert result.code == 0, result.out + result.err
            tagged.append(sim.tag_members(list_id, "segsync: French"))
        assert sim.tag_members(list_id, "segsync: everyone French") == {
            f"person{i}@example.org" for i in (1, 2, 3)
        }
    assert all(t == {"person2@example.org", "person3@example.org"} for t in tagged), tagged


def test_the_sandbox_quick_start_settles_after_its_first_run(tmp_path: Path) -> None:
    demo_data(tmp_path, contacts=400, orders=1200)
    with sandbox(tmp_path, "hubspot", "mailchimp", contacts=400) as lines:
        hubspot, mailchimp = lines["hubspot"], lines["mailchimp"]
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        text = uncomment(uncomment(text, "[connectors.hubspot]"), "[connectors.mailchimp]")
        text = text.replace('"http://127.0.0.1:8787"', f'"{hubspot["base_url"]}"')
        text = text.replace('"http://127.0.0.1:8788"', f'"{mailchimp["base_url"]}"')
        text = re.sub(r'list_id = "\w+"', f'list_id = "{mailchimp["settings"]["list_id"]}"', text)
        config = tmp_path / "segsync.toml"
        config.write_text(text, encoding="utf-8")
        env = {
            "SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": hubspot["credentials"]["token"],
            "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": mailchimp["credentials"]["api_key"],
        }
        reports = []
        for _ in range(4):
            proc = _segsync(config, "run", "--format", "json", env=env)
            out, err = proc.communicate(timeout=300)
            assert proc.returncode in (0, 1), err
            reports.append(json.loads(out))
        first = reports[0]
        assert sum(s["applied_adds"] for s in first["syncs"]) > 0
        for later in reports[1:]:
            changes = {s["name"]: (s["adds"], s["removes"]) for s in later["syncs"]}
            assert all(c == (0, 0) for c in changes.values()), changes
        # the warnings are worth reading: a handful of lines, not one per contact
        warnings = [line for s in reports[0]["sources"] for line in s["warning_samples"]]
        assert len(warnings) < 20, warnings
        # Mailchimp's phone numbers are read in each member's own country
        mailchimp = next(s for s in first["sources"] if s["instance"] == "mailchimp")
        assert mailchimp["warnings"] <= mailchimp["records"] // 100, mailchimp
