"""The privacy statements keep the engine seam: everything ``forget`` (with a resumed request),
the suppression check at load, the suppression file, a dry run and ``export-person`` hand the
engine transpiles to Spark SQL, Postgres, BigQuery and Snowflake, with no DuckDB-only construct
in it (sqlglot renders ``* EXCLUDE`` as ``* EXCEPT`` for Postgres without complaint, so stars
with modifiers are looked for by hand)."""

from __future__ import annotations

import pytest
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from projectkit import Project
from segsync.engine.duckdb import DuckDBEngine
from segsync.privacy.erasure import Erasures
from segsync.privacy.identifiers import Identifier, store_salt
from segsync.state.store import Store

DIALECTS = ("spark", "postgres", "bigquery", "snowflake")


def test_every_privacy_statement_is_portable(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert project.cli("run").code == 0
    with Store.open(project.root / "segsync.duckdb") as store, store.transaction():
        salt = store_salt(store.engine)
        assert salt is not None
        person = Identifier("email", "person2@example.org", "person2@example.org")
        Erasures(store.engine).register("killed", [person], salt, ["E0"])  # resumed by forget
    (project.root / "unsubscribed.txt").write_text("person4@example.org\n")
    seen: list[exp.Expr] = []
    render = DuckDBEngine.sql

    def recording(self: DuckDBEngine, statement: exp.Expr) -> str:
        seen.append(statement.copy())
        return render(self, statement)

    monkeypatch.setattr(DuckDBEngine, "sql", recording)
    assert project.cli("forget", "--dry-run", "alice@example.org").code == 0
    assert project.cli("forget", "alice@example.org", "+33 6 12 34 56 78").code == 0
    assert project.cli("export-person", "person3@example.org").code == 0
    project.extra_config = '\n[privacy]\nsuppression_file = "unsubscribed.txt"\n'
    project.write()
    assert project.cli("run", "--force").code == 0  # a guard: the audiences are small
    assert project.cli("suppressions", "list").code == 0
    assert project.cli("erasures").code == 0
    assert len(seen) > 80
    problems = []
    for statement in seen:
        for node in statement.walk():
            if isinstance(node, exp.Star) and any(
                node.args.get(modifier) for modifier in ("except", "except_", "replace", "rename")
            ):
                problems.append(f"a star with a modifier in: {statement.sql('duckdb')[:300]}")
        for dialect in DIALECTS:
            try:
                statement.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
            except Exception as exc:
                problems.append(f"{dialect}: {exc} in: {statement.sql('duckdb')[:300]}")
    assert not problems, "\n".join(problems[:20])
