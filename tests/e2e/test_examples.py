"""Every examples/*/segsync.toml runs on (a small copy of) the demo data, its segments are not
all empty, and a second run applies zero changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from segsync.cli import app
from segsync.plugins import reset_plugins
from segsync.sandbox.synth import generate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/segsync.toml"))
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    generate(root / "demo" / "data", seed=42, contacts=600, orders=4000)
    return root


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    reset_plugins()
    result = CliRunner().invoke(app, ["-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_there_is_an_example_per_method() -> None:
    assert len(EXAMPLES) >= 7, EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_on_the_demo_data(demo_data: Path, name: str) -> None:
    folder = demo_data / "examples" / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / name / "segsync.toml", folder / "segsync.toml")
    config = folder / "segsync.toml"
    code, out, err = cli(config, "run", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    sizes = {s["name"]: s["size"] for s in report["segments"]}
    assert any(sizes.values()), f"every segment of {name} is empty: {sizes}"
    assert report["syncs"], f"{name} syncs nothing"
    code, out, err = cli(config, "run", "--format", "json")
    assert code == 0, err
    again = json.loads(out)
    assert all(s["adds"] == s["removes"] == 0 for s in again["syncs"])


def test_the_example_configs_commented_traits_are_valid(tmp_path: Path) -> None:
    """config.example.toml shows every trait kind commented out; switched on, they load."""
    from segsync.config import load_config
    from segsync.plugins import load_plugins

    lines = (REPO / "config.example.toml").read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith("# [traits.")))
    end = start
    while lines[end].startswith("#") and not lines[end].startswith("# ----"):
        end += 1
    block = ["" if line == "#" else line.removeprefix("# ") for line in lines[start:end]]
    config = tmp_path / "segsync.toml"
    config.write_text("\n".join(lines[:start] + block + lines[end:]) + "\n", encoding="utf-8")
    reset_plugins()
    loaded = load_config(config, load_plugins(None))
    kinds = {spec.kind for spec in loaded.traits.values()}
    assert kinds == {"rfm", "aggregate", "recency", "tenure", "lifecycle", "value_tier",
                     "score", "distance", "cluster", "clv", "propensity"}  # fmt: skip


def test_the_demographics_age_bands_are_ages(tmp_path: Path) -> None:
    """'18 to 29 years old' and '60 and over' select by age in whole years on the as-of day:
    not by the number of New Years since birth (date_diff('year'), which puts a 17-year-old
    born in December in the 18 to 29 band, and turns everyone a year older on 1 January)."""
    folder = tmp_path / "examples" / "demographics"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "demographics" / "segsync.toml", folder / "segsync.toml")
    data = tmp_path / "demo" / "data"
    data.mkdir(parents=True)
    born = {
        "turns18tomorrow": "2008-11-29",  # 17 on 2026-11-28
        "turned18today": "2008-11-28",  # 18
        "is29": "1996-12-01",  # 29 (30 on 1 December)
        "turned30today": "1996-11-28",  # 30
        "is59": "1966-12-31",  # 59
        "turned60today": "1966-11-28",  # 60
    }
    header = "id,email,phone,country,birth_date,email_opt_in,ads_opt_in,updated_at\n"
    rows = [
        f"{name},{name}@example.org,,FR,{date},yes,no,2026-01-01T00:00:00Z\n"
        for name, date in born.items()
    ]
    (data / "contacts.csv").write_text(header + "".join(rows), encoding="utf-8")
    order = {
        "order_id": "O1",
        "customer_id": "is29",
        "ordered_at": "2026-01-01T00:00:00Z",
        "amount": "10.00",
        "currency": "EUR",
    }
    (data / "orders.jsonl").write_text(json.dumps(order) + "\n", encoding="utf-8")
    signup = {"email": "is29@example.org", "signed_up_at": "2026-01-01T00:00:00Z"}
    (data / "newsletter.jsonl").write_text(json.dumps(signup) + "\n", encoding="utf-8")
    code, _, err = cli(folder / "segsync.toml", "run", "--as-of", "2026-11-28")
    assert code == 0, err
    store = duckdb.connect(str(folder / "segsync.duckdb"), read_only=True)
    try:
        members = store.execute(
            "SELECT m.segment, p.email FROM segment_members m JOIN profiles p USING (profile_key)"
        ).fetchall()
    finally:
        store.close()
    names = {(segment, email.split("@")[0]) for segment, email in members}
    assert {n for s, n in names if s == "young_adults"} == {"turned18today", "is29"}
    assert {n for s, n in names if s == "seniors"} == {"turned60today"}
