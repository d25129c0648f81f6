"""Helpers for the ``table`` connector's tests: the demo data as a lake (typed Parquet, written
by DuckDB itself) and the rfm example configured on it, beside the same example on the demo's
own files."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]


def write_lake(data: Path, lake: Path, *, parts: int = 2) -> None:
    """The demo's contacts (CSV) and orders (JSON Lines) as Parquet, typed as a data team's
    tables are (times, booleans, doubles, dates; a customer's id as text), each table split
    into ``parts`` files of a folder."""
    for name in ("contacts", "orders"):
        (lake / name).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(
            f"""CREATE TABLE contacts AS SELECT * REPLACE (
                    CAST(updated_at AS TIMESTAMPTZ) AS updated_at,
                    CAST(email_opt_in = 'yes' AS BOOLEAN) AS email_opt_in,
                    CAST(ads_opt_in = 'yes' AS BOOLEAN) AS ads_opt_in,
                    CAST(birth_date AS DATE) AS birth_date,
                    CAST(latitude AS DOUBLE) AS latitude)
                FROM read_csv('{data / "contacts.csv"}', all_varchar = true)"""
        )
        con.execute(
            f"""CREATE TABLE orders AS SELECT * REPLACE (
                    CAST(ordered_at AS TIMESTAMPTZ) AS ordered_at,
                    CAST(amount AS DECIMAL(12, 2)) AS amount)
                FROM read_json('{data / "orders.jsonl"}', format = 'newline_delimited')"""
        )
        for name, key in (("contacts", "id"), ("orders", "order_id")):
            for part in range(parts):
                con.execute(
                    f"""COPY (SELECT * FROM {name} WHERE hash({key}) % {parts} = {part}
                        ORDER BY {key}) TO '{lake / name / f"part-{part}.parquet"}'
                        (FORMAT parquet)"""
                )
    finally:
        con.close()


TABLE_SHOP = """[connectors.shop]
type = "table"
[connectors.shop.contacts]
path = "{lake}/contacts"
phone = "phone"
country = "country"
updated_at = "updated_at"
consent = { email_marketing = "email_opt_in", ad_user_data = "ads_opt_in", ad_personalization = "ads_opt_in" }
[connectors.shop.events]
path = "{lake}/orders/*.parquet"
id = "order_id"
occurred_at = "ordered_at"
contact_id = "customer_id"
value = "amount"
currency = "currency"
"""


def rfm_config(folder: Path, data: Path, lake: Path | None = None) -> Path:
    """The rfm example in ``folder``, reading the demo's data in ``data``; with ``lake``, its
    ``shop`` is a ``table`` source on the lake instead of the files."""
    text = (REPO / "examples" / "rfm" / "segsync.toml").read_text(encoding="utf-8")
    text = text.replace("../../demo/data", str(data))
    if lake is not None:
        shop = re.search(r"\[connectors\.shop\].*?(?=\n\[connectors\.newsletter\])", text, re.S)
        assert shop is not None
        text = text.replace(shop.group(0), TABLE_SHOP.replace("{lake}", str(lake)).rstrip())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "segsync.toml").write_text(text, encoding="utf-8")
    return folder / "segsync.toml"
