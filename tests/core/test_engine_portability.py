"""The engine seam holds: the domain emits sqlglot expressions that every engine can take, and
nothing outside the engine speaks DuckDB.

* every statement a run hands the engine (pull, resolve, every trait kind, segments with
  groups, KPIs, plan, push, the ledger and history) transpiles to Spark SQL, Postgres,
  BigQuery and Snowflake with sqlglot, with no DuckDB-only construct in it;
* ``import duckdb`` appears only in ``engine/`` and ``state/store.py``, and no string in the
  rest of ``src/core`` holds DuckDB-only SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from projectkit import Project, contact
from segsync.engine.duckdb import DuckDBEngine

CORE = Path(__file__).resolve().parents[2] / "src" / "core"
DIALECTS = ("spark", "postgres", "bigquery", "snowflake")
# functions only DuckDB has (or that the engine owns: file readers)
DUCKDB_ONLY = frozenset(
    {"read_json", "read_csv", "read_parquet", "range", "list_value", "struct_pack", "epoch",
     "strftime", "isfinite", "unnest"}
)  # fmt: skip

TRAITS = """
[traits.orders_90d]
kind = "aggregate"
event = "order"
function = "sum"
within = "90d"

[traits.days_since]
kind = "recency"
event = "order"

[traits.rfm]
kind = "rfm"
event = "order"

[traits.stage]
kind = "lifecycle"

[traits.value]
kind = "value_tier"
quantiles = { low = 0.5, high = 1.0 }

[traits.lead]
kind = "score"
rules = [{ when = "country = 'FR'", points = 10 }, { event = "order", points = 5, per_event = true }]

[traits.km]
kind = "distance"
lat = 48.86
lon = 2.34
lat_column = "orders_count"
lon_column = "revenue"

[traits.persona]
kind = "cluster"
features = ["orders_count", "revenue", "orders_90d", "first_order_at"]
k = 2
transform = { revenue = "log1p" }

[traits.rfm_shared]
kind = "rfm"
event = "order"
ties = "share"

[traits.tier_shared]
kind = "value_tier"
quantiles = { low = 0.5, high = 1.0 }
ties = "share"

[traits.order_days]
kind = "aggregate"
event = "order"
function = "count_days"

[traits.order_weeks]
kind = "aggregate"
event = "order"
function = "count_weeks"

[traits.first_at]
kind = "aggregate"
event = "order"
function = "first_at"

[traits.age]
kind = "tenure"
event = "order"

[traits.span]
kind = "tenure"
event = "order"
end = "last_event"

[traits.clv]
kind = "clv"
horizon = "90d"
min_repeat_buyers = 2
penalty = 0.1

[traits.clv_weeks]
kind = "clv"
period = "week"
horizon = "12w"
min_repeat_buyers = 2
penalty = 0.1

[traits.buy]
kind = "propensity"
event = "order"
window = "60d"
min_auc = 0.0
[traits.buy.features.orders]
event = "order"
function = "count"
within = "365d"
[traits.buy.features.days_since]
kind = "recency"
event = "order"
transform = "log1p"

[segments.lately]
where = "last_order_at >= current_date - INTERVAL 90 DAY AND first_order_at < now()"

[segments.tiers]
priority = ["buyers", "french"]

[segments.test]
include = ["french"]
split = { a = 50 }
holdout = 50

[syncs.tiered]
segment = "tiers.buyers"
destination = "out"
"""


@pytest.fixture
def statements(project: Project, monkeypatch: pytest.MonkeyPatch) -> list[exp.Expr]:
    seen: list[exp.Expr] = []
    render = DuckDBEngine.sql

    def recording(self: DuckDBEngine, statement: exp.Expr) -> str:
        seen.append(statement.copy())
        return render(self, statement)

    monkeypatch.setattr(DuckDBEngine, "sql", recording)
    fitted: list[str] = []
    models = DuckDBEngine.insert_arrays

    def scores(self: DuckDBEngine, table: str, columns: Any) -> None:
        fitted.append(table)
        models(self, table, columns)

    monkeypatch.setattr(DuckDBEngine, "insert_arrays", scores)
    project.contacts = [contact(i, country="FR" if i % 2 else "DE") for i in range(1, 30)]
    project.orders = [
        {"order_id": f"O{i}", "customer_id": f"C{i % 20 + 1:05d}",
         "ordered_at": f"2026-0{i % 9 + 1}-01T10:00:00Z", "amount": f"{i}.50"}
        for i in range(60)
    ]  # fmt: skip
    project.extra_config = TRAITS
    project.write()
    first = project.cli("--debug", "run")
    assert first.code == 0, first.err[-3000:]
    project.contacts = project.contacts[:20]
    project.write()
    assert project.cli("run", "--force").code == 0
    assert project.cli("plan", "--limit", "3").code == 0
    assert project.cli("status").code == 0
    code, report = project.json("segments", "--as-of", "2026-09-15")
    assert code == 0, report
    assert {m["trait"]: m["status"] for m in report["models"]} == {
        "clv": "fitted",
        "clv_weeks": "fitted",
        "buy": "fitted",
    }  # fmt: skip (the scoring statements of fitted models are checked too)
    assert {"_segsync_clv_scores_clv", "_segsync_clv_scores_clv_weeks"} <= set(fitted)
    return seen


def test_every_statement_the_domain_emits_is_portable(statements: list[exp.Expr]) -> None:
    assert len(statements) > 100
    problems = []
    for statement in statements:
        for node in statement.walk():
            if isinstance(node, exp.Join) and (node.args.get("kind") or "").upper() == "POSITIONAL":
                problems.append(f"POSITIONAL JOIN in: {statement.sql('duckdb')[:200]}")
            if isinstance(node, exp.Anonymous) and node.name.lower() in DUCKDB_ONLY:
                problems.append(f"{node.name}() in: {statement.sql('duckdb')[:200]}")
        for dialect in DIALECTS:
            try:
                statement.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
            except Exception as exc:
                problems.append(f"{dialect}: {exc} in: {statement.sql('duckdb')[:200]}")
    assert not problems, "\n".join(problems[:20])


def _python_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _owns_duckdb(path: Path) -> bool:
    relative = path.relative_to(CORE).as_posix()
    return relative.startswith("engine/") or relative == "state/store.py"


def test_only_the_engine_and_the_store_import_duckdb() -> None:
    importers = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "duckdb" or n.startswith("duckdb.") for n in names):
                importers.append(path.relative_to(CORE).as_posix())
    assert sorted(set(importers)) == ["engine/duckdb.py", "state/store.py"]


_DUCKDB_SQL = re.compile(
    r"POSITIONAL\s+JOIN|\bQUALIFY\b|\bread_json\b|\bread_csv\b|\bunnest\s*\(|::\s*[A-Za-z]|"
    r"\bepoch\s*\(|\bstrftime\s*\(|INSERT\s+OR\s+REPLACE|\bDESCRIBE\s|CREATE\s+OR\s+REPLACE|"
    r"\bTEMP\s+TABLE\b|\bTEMPORARY\s+TABLE\b",
    re.IGNORECASE,
)


def test_no_duckdb_sql_outside_the_engine() -> None:
    found = []
    for path in _python_files():
        if _owns_duckdb(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {  # module, class, function and attribute docstrings: prose
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and _DUCKDB_SQL.search(node.value)
            ):
                found.append(f"{path.relative_to(CORE)}:{node.lineno}: {node.value[:80]!r}")
    assert not found, "\n".join(found)
