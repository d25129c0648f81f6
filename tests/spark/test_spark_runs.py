"""The example configs run on Spark and give the memberships DuckDB gives.

Each example runs twice on the same (small) demo data: once on the DuckDB file, once with
``[store] engine = "spark"`` (set from the environment, as a deployment would), on one local
Spark. The members of every segment and group, the KPIs' sizes and the audiences written are
the same; a second Spark run plans zero changes (the plan's diff against the ledger kept in
Spark)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from segsync.cli import app
from segsync.engine.spark import SparkEngine, SparkOptions
from segsync.plugins import reset_plugins
from segsync.sandbox.synth import generate
from segsync.state.spark_store import SparkStore
from segsync.state.store import Store

REPO = Path(__file__).resolve().parents[2]
# examples covering every trait kind the engine runs without fitting a model (those run too,
# but fit on the driver: tests/spark/test_spark_engine.py checks the arrays they read)
EXAMPLES = ["rfm", "lifecycle", "ab_test", "scores"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark_examples")
    generate(root / "demo" / "data", seed=42, contacts=300, orders=2000)
    return root


def cli(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    reset_plugins()
    result = CliRunner(env=env).invoke(app, ["-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def audiences(folder: Path) -> dict[str, list[dict[str, str]]]:
    out = {}
    for path in sorted(folder.glob("**/*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            out[path.name] = sorted(csv.DictReader(fh), key=lambda r: json.dumps(r))
    return out


def project(demo: Path, name: str, engine: str) -> Path:
    folder = demo / "examples" / f"{name}_{engine}"
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / "examples" / name / "segsync.toml").read_text(encoding="utf-8")
    (folder / "segsync.toml").write_text(text, encoding="utf-8")
    return folder / "segsync.toml"


def sizes(report: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Each segment's size, entered and left, in a run's JSON report."""
    return {s["name"]: (s["size"], s["entered"], s["left"]) for s in report["segments"]}


def members(store: Any) -> list[tuple[str, str]]:
    return sorted(
        (str(s), str(k)) for s, k in store.rows("SELECT segment, profile_key FROM segment_members")
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_on_spark_gives_duckdbs_members(
    spark_session: Any, demo: Path, name: str
) -> None:
    as_of = ["--as-of", "2026-06-30"]
    duck = project(demo, name, "duckdb")
    code, out, err = cli(duck, "run", "--format", "json", *as_of)
    assert code == 0, err
    expected = json.loads(out)

    spark = project(demo, name, "spark")
    env = {"SEGSYNC_STORE__ENGINE": "spark", "SEGSYNC_STORE__SPARK__DATABASE": f"ex_{name}"}
    code, out, err = cli(spark, "run", "--format", "json", *as_of, env=env)
    assert code == 0, err
    got = json.loads(out)

    assert sizes(got) == sizes(expected)
    assert any(size for size, _, _ in sizes(got).values())
    with Store.open(duck.parent / "segsync.duckdb", read_only=True) as store:
        want = members(store)
    store = SparkStore(
        spark.parent / "segsync.duckdb",
        SparkEngine(spark_session, SparkOptions(home=spark.parent, database=f"ex_{name}")),
    )
    assert members(store) == want
    assert len(want) > 0
    assert [(s["name"], s["adds"], s["removes"]) for s in got["syncs"]] == [
        (s["name"], s["adds"], s["removes"]) for s in expected["syncs"]
    ]
    assert audiences(spark.parent) == audiences(duck.parent)

    code, out, err = cli(spark, "run", "--format", "json", *as_of, env=env)
    assert code == 0, err
    again = json.loads(out)
    assert all(s["adds"] == s["removes"] == 0 for s in again["syncs"]), again["syncs"]
    assert {k: v[0] for k, v in sizes(again).items()} == {k: v[0] for k, v in sizes(got).items()}


def test_the_commands_that_read_the_store_and_forget_work_on_spark(
    spark_session: Any, demo: Path
) -> None:
    """status, changes, runs, report, export-person and forget on a Spark store. They took
    the missing DuckDB file (a Spark store never has one) for "no store yet": status showed
    nothing (and --max-age called every run stale), the others refused, and forget and
    export-person opened the DuckDB file whatever the engine."""
    config = project(demo, "rfm", "spark_ops")
    env = {"SEGSYNC_STORE__ENGINE": "spark", "SEGSYNC_STORE__SPARK__DATABASE": "ex_ops"}
    code, out, err = cli(config, "run", "--format", "json", "--as-of", "2026-06-30", env=env)
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    assert not (config.parent / "segsync.duckdb").exists()

    code, out, err = cli(config, "status", "--format", "json", "--max-age", "1h", env=env)
    assert code == 0, err
    status = json.loads(out)
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [(run_id, "ok")]
    members = {s["sync"]: s["members"] for s in status["syncs"]}
    assert members and all(members.values()), members
    assert status["freshness"]["fresh"]

    code, out, err = cli(config, "runs", env=env)
    assert code == 0 and run_id in out, err
    sync = sorted(members)[0]
    code, out, err = cli(config, "changes", sync, "--reveal", "--format", "json", env=env)
    assert code == 0, err
    added = [c["who"] for c in json.loads(out)["changes"] if c["change"] == "added"]
    assert len(added) == members[sync]
    code, _, err = cli(config, "report", "-o", str(config.parent / "r.html"), env=env)
    assert code == 0 and (config.parent / "r.html").stat().st_size > 0, err

    person = added[0]
    code, out, err = cli(config, "export-person", person, env=env)
    assert code == 0 and json.loads(out)["found"], err
    code, out, err = cli(config, "forget", person, env=env)
    assert code == 0, err
    assert "complete" in out and "removed" in out, out
    code, out, err = cli(config, "export-person", person, env=env)
    assert code == 0, err
    after = json.loads(out)
    assert not after["found"] and after["suppressed"]
    code, out, err = cli(config, "status", "--format", "json", env=env)
    assert {s["sync"]: s["members"] for s in json.loads(out)["syncs"]}[sync] == members[sync] - 1
