"""The ``table`` connector on DuckDB: Parquet tables read by the engine through the same SQL as
the files connector — the same contacts, events and memberships as the same data in files;
bad rows counted and skipped the same way; clear errors for a bad configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from segsync.cli import app
from segsync.plugins import reset_plugins
from segsync.sandbox.synth import generate
from segsync.state.store import Store
from tablekit import rfm_config, write_lake

AS_OF = ["--as-of", "2026-06-30"]


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    reset_plugins()
    result = CliRunner().invoke(app, ["-c", str(config), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lake")
    generate(root / "data", seed=42, contacts=300, orders=2000)
    write_lake(root / "data", root / "lake")
    return root / "data", root / "lake"


def stored(config: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(config.parent / "segsync.duckdb", read_only=True) as store:
        return {
            "members": sorted(store.rows("SELECT segment, profile_key FROM segment_members")),
            "contacts": sorted(
                store.rows(
                    """SELECT instance, source_id, email, phone, CAST(attributes AS VARCHAR),
                        consent_email_marketing, consent_ad_user_data, updated_at
                    FROM source_contacts"""
                )
            ),
            "events": sorted(
                store.rows(
                    """SELECT instance, event_id, type, occurred_at, contact_id, value, currency
                    FROM events"""
                )
            ),
        }


def test_a_parquet_lake_gives_what_the_same_data_in_files_gives(
    lake: tuple[Path, Path], tmp_path: Path
) -> None:
    data, parquet = lake
    files = rfm_config(tmp_path / "files", data)
    tables = rfm_config(tmp_path / "tables", data, lake=parquet)
    code, out, err = cli(files, "run", "--format", "json", *AS_OF)
    assert code == 0, err
    expected = json.loads(out)
    code, out, err = cli(tables, "run", "--format", "json", *AS_OF)
    assert code == 0, err
    got = json.loads(out)

    want, have = stored(files), stored(tables)
    assert len(want["contacts"]) > 300 and len(want["events"]) == 2000
    assert have == want
    assert any(n == "champions" for n, _ in have["members"])
    shop = {(s["instance"], s["stream"]): s for s in got["sources"]}
    assert shop["shop", "contacts"]["records"] == 300
    assert shop["shop", "events"]["records"] == 2000
    assert [(s["name"], s["adds"]) for s in got["syncs"]] == [
        (s["name"], s["adds"]) for s in expected["syncs"]
    ]

    # the tables' files unchanged: the next pull reads nothing of them
    code, out, err = cli(tables, "run", "--format", "json", *AS_OF)
    assert code == 0, err
    again = {(s["instance"], s["stream"]): s for s in json.loads(out)["sources"]}
    assert again["shop", "contacts"]["records"] == again["shop", "events"]["records"] == 0
    assert stored(tables)["members"] == want["members"]


def _orders_with_bad_rows(lake: Path, out: Path) -> None:
    out.mkdir()
    con = duckdb.connect()
    try:
        con.execute(
            f"""COPY (SELECT * REPLACE (
                    CASE WHEN order_id IN ('O0000010', 'O0000020') THEN NULL ELSE ordered_at END
                        AS ordered_at,
                    CASE WHEN order_id = 'O0000030' THEN 1e15 ELSE amount END AS amount)
                FROM read_parquet('{lake}/orders/*.parquet'))
            TO '{out}/orders.parquet' (FORMAT parquet)"""
        )
    finally:
        con.close()


def test_bad_rows_fail_the_source_or_are_skipped_and_counted(
    lake: tuple[Path, Path], tmp_path: Path
) -> None:
    data, parquet = lake
    bad = tmp_path / "bad"
    _orders_with_bad_rows(parquet, bad)
    config = rfm_config(tmp_path / "p", data, lake=parquet)
    text = config.read_text(encoding="utf-8").replace(f"{parquet}/orders/*.parquet", str(bad))
    config.write_text(text, encoding="utf-8")

    code, out, err = cli(config, "pull")
    assert code == 2, out + err
    assert "empty time (column 'ordered_at')" in out + err
    # where: the table, and the row — numbered as the rows come in the file
    con = duckdb.connect()
    con.execute("SET threads = 1")
    (first,) = con.execute(
        f"SELECT min(n) FROM (SELECT row_number() OVER () AS n, ordered_at "
        f"FROM read_parquet('{bad}/orders.parquet')) WHERE ordered_at IS NULL"
    ).fetchone()  # type: ignore[misc]
    con.close()
    assert f"{bad}:{first}:" in out + err

    config.write_text(
        text.replace('type = "table"', 'type = "table"\non_bad_row = "skip"'), encoding="utf-8"
    )
    code, out, err = cli(config, "run", "--format", "json", *AS_OF)
    assert code == 0, err
    shop = {(s["instance"], s["stream"]): s for s in json.loads(out)["sources"]}
    assert shop["shop", "events"]["records"] == 1997
    assert shop["shop", "events"]["rejected"] == 3
    rejects = (tmp_path / "p" / "segsync.duckdb.work" / "rejects" / "shop-events.csv").read_text()
    assert "amount out of range" in rejects and rejects.count("empty time") == 2


def test_a_table_the_engine_cannot_read_fails_the_source(
    lake: tuple[Path, Path], tmp_path: Path
) -> None:
    data, parquet = lake
    (tmp_path / "orders.parquet").write_text("order_id\nO1\n", encoding="utf-8")
    config = rfm_config(tmp_path / "p", data, lake=parquet)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f"{parquet}/orders/*.parquet", str(tmp_path / "orders.parquet")),
        encoding="utf-8",
    )
    code, out, err = cli(config, "pull")
    assert code == 2, out + err
    assert "connectors.shop.events: cannot read:" in out + err


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            ('path = "{lake}/contacts"', 'path = "{lake}/nowhere/*.parquet"'),
            "connectors.shop.contacts.path: no file matches",
        ),
        (
            ('phone = "phone"', 'phone = "mobile"'),
            "connectors.shop.contacts: phone = 'mobile': no such column in",
        ),
        (('path = "{lake}/contacts"', 'table = "x"\npath = "{lake}/contacts"'), "either path"),
        (('path = "{lake}/contacts"', 'path = "{lake}/contacts"\nformat = "orc"'), "format"),
        (('path = "{lake}/contacts"', 'path = "{lake}/contacts"\ndelimiter = ";"'), "delimiter"),
    ],
)
def test_a_bad_table_source_is_a_config_error_naming_it(
    lake: tuple[Path, Path], tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    data, parquet = lake
    config = rfm_config(tmp_path, data, lake=parquet)
    old, new = (c.format(lake=parquet) for c in change)
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")
    code, out, err = cli(config, "pull")
    assert code == 2, out + err
    assert says in out + err
    assert "connectors.shop" in out + err
