"""The run report's as-of, warnings and models: in JSON as the HTML report reads them, and in
the text people read."""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Console

from segsync.report import CalibrationBin, ModelSummary, RunReport, TraitWarning
from segsync.report.text import print_report, table_from_rows

AS_OF = dt.datetime(1998, 7, 1, tzinfo=dt.UTC)


def report() -> RunReport:
    r = RunReport(
        run_id="r1",
        command="segments",
        config="segsync.toml",
        store="segsync.duckdb",
        version="0",
        started_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        as_of=AS_OF,
        as_of_source="config",
    )
    r.warnings = [TraitWarning(trait="stage", code="stale_lifecycle", message="traits.stage: old")]
    r.models = [
        ModelSummary(
            trait="clv",
            kind="clv",
            status="fitted",
            as_of=AS_OF.replace(tzinfo=None),
            details={"unit": "day"},
            rows={"customers": 23570, "repeat_buyers": 11516},
            parameters={
                "r": 0.267,
                "alpha": 41.9,
                "a": 0.484,
                "b": 2.11,
                "p": 5.09,
                "q": 4.0,
                "v": 21.25,
            },
            standard_errors={"r": 0.01, "alpha": float("nan")},
            metrics={"mean_p_alive": 0.797},
            bands={"low": 4742, "medium": 3742, "high": 15086},
        ),
        ModelSummary(
            trait="buy",
            kind="propensity",
            status="fitted",
            as_of=AS_OF.replace(tzinfo=None),
            rows={"train": 4714, "holdout": 2357},
            metrics={"auc": 0.836, "brier": 0.0858, "base_rate": 0.1269},
            calibration=[
                CalibrationBin(rows=10, lowest=0.0, highest=0.1, predicted=0.05, observed=0.04)
            ],
        ),
        ModelSummary(
            trait="weak",
            kind="propensity",
            status="refused",
            as_of=AS_OF.replace(tzinfo=None),
            message="holdout AUC 0.512 is below the minimum 0.600",
        ),
    ]
    r.finish()
    return r


def test_json_carries_the_as_of_warnings_and_models() -> None:
    data = json.loads(report().model_dump_json())
    assert data["as_of"] == "1998-07-01T00:00:00Z" and data["as_of_source"] == "config"
    assert data["warnings"] == [
        {"trait": "stage", "code": "stale_lifecycle", "message": "traits.stage: old"}
    ]
    clv, buy, weak = data["models"]
    assert clv["standard_errors"] == {"r": 0.01, "alpha": None}  # NaN is null in JSON
    assert clv["bands"]["high"] == 15086
    assert buy["calibration"][0]["observed"] == 0.04
    assert weak["status"] == "refused" and weak["message"].startswith("holdout AUC")
    assert RunReport.model_validate(data).models[0].parameters["r"] == 0.267


def test_text_shows_the_as_of_the_models_and_counts_the_warnings() -> None:
    console = Console(record=True, width=250)
    print_report(report(), console)
    text = console.export_text()
    assert "As of 1998-07-01 00:00:00 UTC ([segments] as_of)" in text
    assert "BG/NBD r=0.267 alpha=41.9 a=0.484 b=2.11 (per day)" in text
    assert "churn risk low 4,742 / medium 3,742 / high 15,086" in text
    assert "holdout AUC 0.836, Brier 0.0858, base rate 12.7%" in text
    assert "refused: holdout AUC 0.512 is below the minimum 0.600" in text
    assert "warning traits.stage: old" in text
    assert "1 warning(s) about the data" in text


def test_a_table_of_rows_reads_as_words_and_numbers() -> None:
    """status and friends: headers without underscores, yes/no for booleans, thousands
    separated and right-aligned counts, an empty cell for nothing."""
    rows = [
        {"sync": "newsletter_fr", "configured": True, "members": 1503, "failed_will_retry": 0},
        {"sync": "old_list", "configured": False, "members": None, "failed_will_retry": 2},
    ]
    console = Console(width=120, record=True)
    console.print(table_from_rows("Syncs", rows))
    text = console.export_text()
    assert "failed will retry" in text and "failed_will_retry" not in text
    assert "│ newsletter_fr │ yes        │   1,503 │" in text
    assert "│ old_list      │ no         │         │" in text
    assert "True" not in text
