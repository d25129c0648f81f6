"""The segmentation cookbook's "real data" walkthrough: RFM with shared ties, lifecycle stages,
CLV and churn risk on the CDNOW retail history, through a segsync project.

Data: the CDNOW master file — every purchase of the 23,570 customers who first bought at the
online music retailer CDNOW in the first quarter of 1997, up to the end of June 1998 (69,659
purchases; Fader, Hardie & Lee 2005). The PyPI package ``Lifetimes`` (0.11.3, MIT licence;
``pip install Lifetimes``, in segsync's ``dev`` extra) ships it as
``lifetimes/datasets/CDNOW_master.txt``; this script finds it there without importing
``lifetimes``, or reads ``--data PATH``.

What it does:

1. writes ``data/customers.csv`` (one row per customer, with a made-up e-mail address so
   the files destination has something to write) and ``data/orders.jsonl`` (one line per
   purchase) into ``--out`` (default: a temporary folder);
2. writes ``segsync.toml`` there (:data:`CONFIG`): traits ``rfm`` (ties shared), ``rfm_split``
   (the old rule, for comparison), ``stage`` (lifecycle) and ``clv`` (BG/NBD + Gamma-Gamma,
   one year), with ``[segments] as_of = 1998-07-01`` — the day after the data ends;
3. runs ``segsync run`` and ``segsync segments`` on it, and also ``segsync segments --as-of``
   today, to show what the warnings say when the as-of is left at today on historical data;
4. prints the numbers the cookbook quotes (JSON): cell and stage sizes, how RFM cells and
   lifecycle stages overlap, the model's parameters and churn bands, segment sizes.

Usage (from the repository root; needs ``pip install 'segsync[predict]' Lifetimes``):

    python examples/real_data/cdnow.py [--out DIR] [--data CDNOW_master.txt]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.metadata
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

CONFIG = """\
# The CDNOW retail history (1997-01-01 .. 1998-06-30), read as of the day after it ends.
[store]
path = "cdnow.duckdb"

[connectors.cdnow]
type = "files"
output_dir = "audiences"

[connectors.cdnow.contacts]
path = "data/customers.csv"
consent = { email_marketing = "opt_in" }

[connectors.cdnow.events]
path = "data/orders.jsonl"
id = "order_id"
contact_id = "customer_id"
occurred_at = "ordered_at"
value = "amount"

[traits.rfm]
kind = "rfm"
event = "order"
ties = "share"

[traits.rfm_split]                  # the old rule, only to compare
kind = "rfm"
event = "order"
ties = "split"

[traits.stage]
kind = "lifecycle"

[traits.clv]
kind = "clv"
horizon = "365d"
discount_rate = 0.1

[segments]
as_of = 1998-07-01

[segments.champions]
where = "rfm = 'champions'"

[segments.slipping_regulars]
description = "Used to buy often, not lately"
where = "rfm IN ('slipping', 'cannot_lose')"

[segments.likely_to_buy]
description = "At least an even chance of another order within a year"
where = "clv_p_purchase_365d >= 0.5"

[segments.high_value_at_risk]
description = "Worth keeping: high expected value, but probably not buying again soon"
where = "clv_churn_risk = 'high' AND clv_expected_value_365d >= 20"

[segments.churn_high]
where = "clv_churn_risk = 'high'"

[segments.churn_medium]
where = "clv_churn_risk = 'medium'"

[segments.churn_low]
where = "clv_churn_risk = 'low'"

[syncs.win_back]
segment = "high_value_at_risk"
destination = "cdnow"
require_consent = ["email_marketing"]
"""


def find_data(given: Path | None) -> Path:
    if given is not None:
        return given
    for entry in importlib.metadata.files("Lifetimes") or []:
        if entry.name == "CDNOW_master.txt" and entry.parent.name == "datasets":
            return Path(str(entry.locate()))
    raise SystemExit("CDNOW_master.txt not found: pip install Lifetimes, or pass --data PATH")


def write_project(folder: Path, data: Path) -> dict[str, int]:
    """The data files and the config; counts of customers and orders."""
    rows = [line.split() for line in data.read_text().splitlines()[1:] if line.strip()]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    customers = sorted({r[0] for r in rows})
    with (folder / "data" / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "email", "opt_in", "updated_at"])
        for c in customers:
            writer.writerow([c, f"customer{c}@cdnow.example", "yes", "1998-06-30T00:00:00Z"])
    with (folder / "data" / "orders.jsonl").open("w", encoding="utf-8") as fh:
        for i, (customer, date, _cds, amount) in enumerate(rows):
            day = f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00Z"
            order = {"order_id": f"O{i:06d}", "customer_id": customer, "ordered_at": day}
            fh.write(json.dumps({**order, "amount": amount}) + "\n")
    (folder / "segsync.toml").write_text(CONFIG, encoding="utf-8")
    return {"customers": len(customers), "orders": len(rows)}


def segsync(folder: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "segsync", "-q", "-c", str(folder / "segsync.toml"), *args]
    proc = subprocess.run(  # noqa: S603 (segsync itself, on the project this script wrote)
        [*command, "--format", "json"], capture_output=True, text=True, check=False
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"segsync {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def store_numbers(folder: Path) -> dict[str, Any]:
    """Cell and stage sizes and their overlap, read from the store (after the run)."""
    import duckdb

    con = duckdb.connect(str(folder / "cdnow.duckdb"), read_only=True)

    def counts(sql: str) -> dict[str, int]:
        return {str(k): int(n) for k, n in con.execute(sql).fetchall()}

    cells = counts("SELECT rfm, count(*) FROM segment_profiles GROUP BY rfm ORDER BY 2 DESC")
    split = counts("SELECT rfm_split, count(*) FROM segment_profiles GROUP BY 1 ORDER BY 2 DESC")
    stages = counts("SELECT stage, count(*) FROM segment_profiles GROUP BY 1 ORDER BY 2 DESC")
    frequency = counts(
        "SELECT rfm_f || ': ' || min(orders_count) || '-' || max(orders_count) || ' orders', "
        "count(*) FROM segment_profiles GROUP BY rfm_f ORDER BY rfm_f"
    )
    overlap: dict[str, dict[str, int]] = {}
    for cell, stage, n in con.execute(
        "SELECT rfm, stage, count(*) FROM segment_profiles GROUP BY 1, 2 ORDER BY 1, 3 DESC"
    ).fetchall():
        overlap.setdefault(str(cell), {})[str(stage)] = int(n)
    # one-time buyers who bought in the same month: which cells hold them
    march = (
        "FROM segment_profiles WHERE orders_count = 1 AND last_order_at >= DATE '1997-03-01' "
        "AND last_order_at < DATE '1997-04-01'"
    )
    same_month = con.execute(
        f"SELECT count(DISTINCT rfm), count(DISTINCT rfm_split), count(*) {march}"
    ).fetchone()
    march_cells = {
        rule: counts(f"SELECT {column}, count(*) {march} GROUP BY 1 ORDER BY 2 DESC")
        for rule, column in (("share", "rfm"), ("split", "rfm_split"))
    }
    march_f = {
        rule: counts(f"SELECT 'F = ' || {column}, count(*) {march} GROUP BY 1 ORDER BY 1")
        for rule, column in (("share", "rfm_f"), ("split", "rfm_split_f"))
    }
    per_cell = {
        str(r[0]): {
            "customers": int(r[1]),
            "median_days_since_last": float(r[2]),
            "median_orders": float(r[3]),
            "median_revenue": round(float(r[4]), 2),
            "mean_expected_value": round(float(r[5]), 2),
        }
        for r in con.execute(
            "SELECT rfm, count(*), median(date_diff('day', last_order_at, DATE '1998-07-01')), "
            "median(orders_count), median(revenue), avg(clv_expected_value_365d) "
            "FROM segment_profiles GROUP BY rfm ORDER BY 2 DESC"
        ).fetchall()
    }
    con.close()
    return {
        "rfm_cells": cells,
        "rfm_cells_split": split,
        "frequency_scores": frequency,
        "lifecycle_stages": stages,
        "cells_by_stage": overlap,
        "march_1997_one_time_buyers": {
            "customers": same_month[2] if same_month else 0,
            "cells_with_share": same_month[0] if same_month else 0,
            "cells_with_split": same_month[1] if same_month else 0,
            "cells": march_cells,
            "frequency_scores": march_f,
        },
        "per_cell": per_cell,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segsync-cdnow-") as tmp:
        folder = args.out or Path(tmp)
        loaded = write_project(folder, find_data(args.data))
        run = segsync(folder, "run")
        numbers = store_numbers(folder)  # before the next command recomputes the traits
        today = segsync(folder, "segments", "--as-of", dt.date.today().isoformat())
        later = store_numbers(folder)
        (model,) = [m for m in run["models"] if m["trait"] == "clv"]
        print(
            json.dumps(
                {
                    "data": loaded,
                    "as_of": run["as_of"],
                    "run_seconds": run["duration_seconds"],
                    "segments": {s["name"]: s["size"] for s in run["segments"]},
                    "warnings": [w["message"] for w in run["warnings"]],
                    **numbers,
                    "clv": {
                        "status": model["status"],
                        "parameters": {k: round(v, 4) for k, v in model["parameters"].items()},
                        "rows": model["rows"],
                        "metrics": {
                            k: round(v, 4) if isinstance(v, float) else v
                            for k, v in model["metrics"].items()
                        },
                        "bands": model["bands"],
                    },
                    "read_as_of_today": {
                        "as_of": today["as_of"],
                        "warnings": [w["message"] for w in today["warnings"]],
                        "segments": Counter(
                            {s["name"]: s["size"] for s in today["segments"]}
                        ).most_common(),
                        "lifecycle_stages": later["lifecycle_stages"],
                        "rfm_cells": later["rfm_cells"],
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
