"""The HTML report: what it holds, that it is self-contained and escaped, and — in a real
headless Chromium — that it renders its charts without a console error. The browser tests
save full-page screenshots for review and print their paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from projectkit import Project, contact, sandbox, uncomment
from segsync.sandbox.synth import generate

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TRAITS_BLOCK = "[traits.stage]                        # prospect, new, active, loyal, at_risk, lost"


def test_report_of_a_run_is_self_contained_and_escaped(project: Project) -> None:
    project.extra_config = (
        '\n[syncs.tricky]\nsegment = "buyers"\ndestination = "out"\n'
        'audience = "<script>alert(1)</script> & co"\n'
    )
    project.write()
    assert project.cli("run").code == 0
    project.contacts.append(contact(8, email="eight@example.org"))
    project.write()
    out = project.root / "r" / "report.html"
    result = project.cli("run", "--report", str(out))
    assert result.code == 0, result.err
    html = out.read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    # nothing fetched from anywhere: no external scripts, styles, fonts or images
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@import" not in html and "url(" not in html
    for section in ('id="summary"', 'id="syncs"', 'id="segments"', 'id="kpis"'):
        assert section in html
    assert "Succeeded" in html and "french_news" in html
    assert html.count("<svg") >= 6

    again = project.root / "again.html"
    runs = project.json("runs")[1]
    first = runs[-1]["run_id"]
    written = project.cli("report", first, "--out", str(again))
    assert written.code == 0 and first in written.out
    assert first in again.read_text()
    assert project.cli("report", "nope", "--out", str(again)).code == 2


def test_report_that_cannot_be_written_names_the_path(project: Project) -> None:
    """--out naming a folder, or a path under a file, is the user's error (exit 2, naming
    it), not an internal error; nothing is left behind."""
    assert project.cli("run").code == 0
    folder = project.root / "reports"
    folder.mkdir()
    (project.root / "afile").write_text("")
    for target in (folder, project.root / "afile" / "report.html"):
        result = project.cli("report", "--out", str(target))
        assert result.code == 2, result.err
        assert "internal error" not in result.err
        assert f"{target}: cannot write the report there" in " ".join(result.err.split())
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in project.root.iterdir() if p.name.endswith(".tmp")) == []


def test_report_of_a_blocked_run_names_the_guard(project: Project) -> None:
    assert project.cli("run").code == 0
    project.contacts = [c for c in project.contacts if c["country"] != "FR"]
    project.write()
    out = project.root / "blocked.html"
    assert project.cli("run", "--report", str(out)).code == 3
    html = out.read_text()
    assert "Blocked by a guard" in html
    assert re.search(r"sync french_news</span> — segment &#39;french&#39; computed empty", html)


def test_report_lists_the_warnings_about_the_data(project: Project) -> None:
    """A warning the run gave about the data (here a condition comparing a column with a
    text held only in another case) is among what needs attention, named by its key."""
    project.write()
    project.config.write_text(
        project.config.read_text().replace(
            "where = \"country = 'FR'\"", "where = \"country = 'fr'\""
        )
    )
    out = project.root / "warned.html"
    result = project.cli("run", "--report", str(out))
    assert "segments.french: country never holds 'fr'" in result.err
    html = out.read_text()
    summary = html[html.index('id="summary"') : html.index('id="syncs"')]
    assert re.search(
        r"segments\.french</span> — country never holds &#39;fr&#39;, but \d+ profile\(s\) "
        r"hold &#39;FR&#39;",
        summary,
    ), summary


# -- in a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make demo` with every trait switched on, run twice: the second time the same people
    have placed more orders, so segments move and syncs change."""
    from typer.testing import CliRunner

    from segsync.cli import app
    from segsync.plugins import reset_plugins

    root = tmp_path_factory.mktemp("demo")
    text = uncomment((REPO / "config.example.toml").read_text(), TRAITS_BLOCK)
    (root / "segsync.toml").write_text(text)
    runner = CliRunner()
    for orders in (24_000, 30_000):  # the same people; more orders the second time
        generate(root / "demo" / "data", seed=42, contacts=5000, orders=orders)
        reset_plugins()
        result = runner.invoke(app, ["-q", "-c", str(root / "segsync.toml"), "run"])
        assert result.exit_code == 0, result.output
    reset_plugins()
    result = runner.invoke(
        app, ["-c", str(root / "segsync.toml"), "report", "--out", str(root / "report.html")]
    )
    assert result.exit_code == 0, result.output
    reset_plugins()
    return root


def _load(page_path: Path, screenshot: Path) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    fetched: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            charts = page.eval_on_selector_all(
                "svg.chart",
                """svgs => svgs.map(s => ({
                    label: s.getAttribute('aria-label'),
                    marks: s.querySelectorAll('rect, polyline, polygon, circle, path').length,
                    width: s.getBoundingClientRect().width,
                    height: s.getBoundingClientRect().height,
                }))""",
            )
            status = page.inner_text("#status")
            syncs = page.eval_on_selector_all(
                "#syncs tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
            )
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"\nscreenshot of {page_path.name}: {screenshot}")
    return {
        "problems": problems,
        "fetched": fetched,
        "charts": charts,
        "status": status,
        "syncs": syncs,
        "text": text,
    }


@pytest.mark.browser
def test_demo_report_renders_in_chromium(demo: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report-demo.png"
    seen = _load(demo / "report.html", shot)
    assert seen["problems"] == []
    assert seen["fetched"] == [(demo / "report.html").as_uri()]  # nothing else was requested
    assert seen["status"] == "Succeeded"
    labels = {c["label"] for c in seen["charts"]}
    assert {"segment sizes over time", "rfm grid", "stage stages", "changes per sync"} <= labels
    assert "Conversion rate" in labels and "recent runs" in labels
    for chart in seen["charts"]:
        assert chart["marks"] > 0, chart
        assert chart["width"] > 100 and chart["height"] > 20, chart
    assert shot.stat().st_size > 50_000
    keep = Path(REPO / "build" / "screenshots")
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / shot.name)


@pytest.mark.browser
def test_blocked_report_renders_in_chromium(project: Project, tmp_path: Path) -> None:
    assert project.cli("run").code == 0
    project.contacts = [c for c in project.contacts if c["country"] != "FR"]
    project.write()
    out = tmp_path / "blocked.html"
    assert project.cli("run", "--report", str(out)).code == 3
    shot = tmp_path / "report-blocked.png"
    seen = _load(out, shot)
    assert seen["problems"] == []
    assert seen["status"] == "Blocked by a guard"
    assert all(c["marks"] > 0 for c in seen["charts"] if c["label"] != "no runs yet")
    keep = Path(REPO / "build" / "screenshots")
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / shot.name)


# -- a sandbox run with every connector -------------------------------------------------------

PLATFORMS = ("hubspot", "mailchimp", "salesforce", "google_ads")
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY", re.I)


@pytest.fixture(scope="module")
def sandbox_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """config.example.toml with every platform section uncommented, run twice against one
    `segsync sandbox` serving all four platforms (the demo's people; more orders the second
    time), and the report of the second run. Yields the folder, the env and the run's JSON."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("sandbox-all")
    with sandbox(root, *PLATFORMS, contacts=600) as lines:
        hubspot, mailchimp = lines["hubspot"], lines["mailchimp"]
        salesforce, ads = lines["salesforce"], lines["google_ads"]
        text = (REPO / "config.example.toml").read_text(encoding="utf-8")
        for name in PLATFORMS:
            text = uncomment(text, f"[connectors.{name}]")
        text = text.replace('"http://127.0.0.1:8787"', f'"{hubspot["base_url"]}"')
        text = text.replace('"http://127.0.0.1:8788"', f'"{mailchimp["base_url"]}"')
        text = re.sub(r'list_id = "\w+"', f'list_id = "{mailchimp["settings"]["list_id"]}"', text)
        text = text.replace('"https://127.0.0.1:8789"', f'"{salesforce["base_url"]}"')
        text = text.replace("http://127.0.0.1:8790", ads["base_url"])
        config = root / "segsync.toml"
        config.write_text(text, encoding="utf-8")
        secrets = {
            "SEGSYNC_CONNECTORS__HUBSPOT__TOKEN": hubspot["credentials"]["token"],
            "SEGSYNC_CONNECTORS__MAILCHIMP__API_KEY": mailchimp["credentials"]["api_key"],
            "SEGSYNC_CONNECTORS__SALESFORCE__CLIENT_SECRET": salesforce["credentials"][
                "client_secret"
            ],
            "SEGSYNC_CONNECTORS__GOOGLE_ADS__CLIENT_SECRET": ads["credentials"]["client_secret"],
            "SEGSYNC_CONNECTORS__GOOGLE_ADS__REFRESH_TOKEN": ads["credentials"]["refresh_token"],
        }
        env = {
            **os.environ,
            **secrets,
            "SEGSYNC_CONNECTORS__SALESFORCE__CA_BUNDLE": salesforce["settings"]["ca_bundle"],
        }

        def segsync(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "segsync", "-c", str(config), *args],
                capture_output=True, text=True, cwd=root, env=env, timeout=300,
            )  # fmt: skip

        run: dict[str, Any] = {}
        for orders in (3000, 3600):  # the same people; more orders the second time
            generate(root / "demo" / "data", seed=42, contacts=600, orders=orders)
            done = segsync("run", "--format", "json")
            assert done.returncode in (0, 1), done.stdout + done.stderr
            run = json.loads(done.stdout)
        written = segsync("report", "--out", str(root / "report.html"))
        assert written.returncode == 0, written.stdout + written.stderr
    return {"root": root, "env": env, "run": run}


@pytest.mark.browser
def test_sandbox_report_with_every_connector_renders_in_chromium(
    sandbox_all: dict[str, Any],
) -> None:
    keep = REPO / "build" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    page = sandbox_all["root"] / "report.html"
    seen = _load(page, keep / "report-sandbox-all.png")
    assert seen["problems"] == []
    assert seen["fetched"] == [page.as_uri()]
    run = sandbox_all["run"]
    destinations = {s["destination"] for s in run["syncs"]}
    assert destinations == {"exports", *PLATFORMS}
    rows = {row[0].splitlines()[0]: row for row in seen["syncs"]}
    assert set(rows) == {s["name"] for s in run["syncs"]}
    for sync in run["syncs"]:
        row = rows[sync["name"]]
        assert row[1].startswith(f"{sync['destination']} · {sync['kind']}"), row
        added, removed = sync["applied_adds"], sync["applied_removes"]
        assert row[3].splitlines()[0] == (f"+{added:,}" if added else "0"), (sync, row)
        assert row[4].splitlines()[0] == (f"−{removed:,}" if removed else "0"), (sync, row)
        assert row[5] == f"{sync['failed']:,}", (sync, row)
    html = page.read_text(encoding="utf-8")
    for name, value in sandbox_all["env"].items():
        if SECRET_ENV.search(name) and value:
            assert value not in html and value not in seen["text"], name
    for chart in seen["charts"]:
        assert chart["marks"] > 0, chart


@pytest.mark.browser
def test_small_rfm_grids_keep_every_text_inside_the_picture(tmp_path: Path) -> None:
    """A 2- or 3-bucket grid is narrower than its caption; the caption was cut off at the
    right edge ('frequency → (recency ↑: most recent on t')."""
    from segsync.report import charts

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    grids = [
        charts.heatmap({(r, f): r * f for r in range(1, n + 1) for f in range(1, n + 1)}, n)
        for n in (2, 3, 5)
    ]
    page_path = tmp_path / "grids.html"
    page_path.write_text(
        "<!doctype html><meta charset='utf-8'><body style='font: 14px/1.5 system-ui, "
        '-apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif\'>'
        + "".join(f"<div style='width:600px'>{g}</div>" for g in grids),
        encoding="utf-8",
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 900})
            page.goto(page_path.as_uri(), wait_until="load")
            outside = page.eval_on_selector_all(
                "svg.chart",
                """svgs => svgs.flatMap(s => {
                    const box = s.viewBox.baseVal;
                    return Array.from(s.querySelectorAll('text'), t => {
                        const b = t.getBBox();
                        return (b.x < 0 || b.x + b.width > box.width)
                            ? `${box.width}: ${t.textContent} ${b.x}..${b.x + b.width}` : null;
                    }).filter(x => x);
                })""",
            )
        finally:
            browser.close()
    assert outside == []


def _segment_rows(html: str) -> list[str]:
    section = html[html.index('<section id="segments">') :]
    table = section[: section.index("</table>")]
    return re.findall(r'<td><span class="swatch"[^>]*></span>([^<]+)</td>', table)


def test_report_segments_are_this_runs_in_the_configs_order(project: Project) -> None:
    """The table ('Sizes as of this run') and the cards list the run's segments in the
    config's order, a priority segment's groups in priority order; a segment no longer in
    the config is not shown with the size it had at an earlier run."""
    tiers = '\n[segments.tier]\npriority = ["french", "buyers"]\n'
    project.extra_config = tiers + "\n[segments.old_news]\nwhere = \"country = 'FR'\"\n"
    project.write()
    assert project.cli("run").code == 0
    project.extra_config = tiers
    project.write()
    out = project.root / "report.html"
    assert project.cli("run", "--report", str(out)).code == 0
    html = out.read_text()
    assert _segment_rows(html) == ["french", "buyers", "tier", "tier.french", "tier.buyers"]
    assert "old_news" not in html
