"""A ``table`` source on Spark: the demo's data as Parquet (written by DuckDB), read by Spark
through the same SQL as on DuckDB — the same contacts, events and memberships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from segsync.cli import app
from segsync.engine.spark import SparkEngine, SparkOptions
from segsync.plugins import reset_plugins
from segsync.sandbox.synth import generate
from segsync.state.spark_store import SparkStore
from segsync.state.store import Store
from tablekit import rfm_config, write_lake

AS_OF = ["--as-of", "2026-06-30"]
CONTACTS = """SELECT instance, source_id, email, phone, consent_email_marketing,
    consent_ad_user_data, updated_at FROM source_contacts"""
EVENTS = "SELECT instance, event_id, type, occurred_at, contact_id, value, currency FROM events"
MEMBERS = "SELECT segment, profile_key FROM segment_members"


def cli(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    reset_plugins()
    result = CliRunner(env=env).invoke(app, ["-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(store: Any, query: str) -> list[tuple[str, ...]]:
    return sorted(tuple("" if v is None else str(v) for v in row) for row in store.rows(query))


def test_a_parquet_table_source_on_spark_gives_duckdbs_members(
    spark_session: Any, tmp_path: Path
) -> None:
    generate(tmp_path / "data", seed=7, contacts=120, orders=600)
    write_lake(tmp_path / "data", tmp_path / "lake")
    duck = rfm_config(tmp_path / "duckdb", tmp_path / "data", lake=tmp_path / "lake")
    code, _, err = cli(duck, "run", *AS_OF)
    assert code == 0, err
    with Store.open(duck.parent / "segsync.duckdb", read_only=True) as store:
        want = {q: rows(store, q) for q in (CONTACTS, EVENTS, MEMBERS)}
    assert len(want[EVENTS]) == 600 and want[MEMBERS]

    spark = rfm_config(tmp_path / "spark", tmp_path / "data", lake=tmp_path / "lake")
    env = {"SEGSYNC_STORE__ENGINE": "spark", "SEGSYNC_STORE__SPARK__DATABASE": "tables"}
    code, _, err = cli(spark, "run", *AS_OF, env=env)
    assert code == 0, err
    store = SparkStore(
        spark.parent / "segsync.duckdb",
        SparkEngine(spark_session, SparkOptions(home=spark.parent, database="tables")),
    )
    got = {q: rows(store, q) for q in (CONTACTS, EVENTS, MEMBERS)}
    assert got == want
