"""The store's memory: ``[store] memory_limit = "auto"`` and where DuckDB spills."""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.errors import ConfigError
from segsync.pipeline import load
from segsync.state import memory
from segsync.state.memory import MIB, auto_memory_limit, available_memory
from segsync.state.store import Store

GIB = 1024 * MIB


@pytest.mark.parametrize(
    ("available", "limit"),
    [
        (256 * MIB, "64MiB"),  # a tiny container: the floor
        (768 * MIB, "96MiB"),  # an eighth
        (GIB, "128MiB"),
        (2 * GIB, "128MiB"),
        (24 * GIB, "128MiB"),  # a large host: the cap
        (None, "128MiB"),  # memory unknown: the cap
    ],
)
def test_auto_is_an_eighth_of_memory_within_floor_and_cap(
    available: int | None, limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: available)
    assert auto_memory_limit() == limit
    if available is not None:
        assert auto_memory_limit(available) == limit


def test_available_memory_takes_a_lower_cgroup_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = available_memory()
    assert machine is not None and machine > 0
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    monkeypatch.setattr(memory, "_CGROUP_LIMITS", (v2, v1))
    v2.write_text("max\n")  # no limit in this cgroup
    v1.write_text(f"{machine * 2}\n")  # higher than the machine: the machine's
    assert available_memory() == machine
    v1.write_text(f"{512 * MIB}\n")
    assert available_memory() == 512 * MIB
    assert auto_memory_limit(available_memory()) == "64MiB"


def _config(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "segsync.toml"
    path.write_text(f'[store]\npath = "s.duckdb"\n{store}\n', encoding="utf-8")
    return path


def test_the_default_memory_limit_is_auto_resolved_for_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 768 * MIB)
    config = load(_config(tmp_path, ""))
    assert config.settings.store.memory_limit == "auto"
    assert config.store_options["memory_limit"] == "96MiB"
    with Store.open(config.store_path, options=config.store_options) as store:
        assert store.scalar("SELECT current_setting('memory_limit')") == "96.0 MiB"
    explicit = load(_config(tmp_path, 'memory_limit = "800MB"\nthreads = 1'))
    assert explicit.store_options == {"memory_limit": "800MB", "threads": 1}
    assert load(_config(tmp_path, 'memory_limit = "AUTO"')).settings.store.memory_limit == "auto"
    with pytest.raises(ConfigError, match="or 'auto'"):
        load(_config(tmp_path, 'memory_limit = "lots"'))


def test_duckdb_spills_into_the_stores_work_folder(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    spill = tmp_path / "s.duckdb.work" / "spill"
    with Store.open(path, options={"memory_limit": "32MB", "threads": 1}) as store:
        assert Path(store.scalar("SELECT current_setting('temp_directory')")) == spill
        # a temporary table several times the limit: it goes to the spill folder
        store.con.execute(
            "CREATE TEMP TABLE big AS SELECT range AS i, md5(CAST(range AS VARCHAR)) AS s "
            "FROM range(2000000)"
        )
        assert store.scalar("SELECT count(*) FROM big") == 2_000_000
        assert any(spill.iterdir())
        store.compact()  # a new connection, the same settings
        assert Path(store.scalar("SELECT current_setting('temp_directory')")) == spill
    assert not spill.exists()  # DuckDB removes what it spilled when the store closes
    other = tmp_path / "elsewhere"
    with Store.open(path, options={"temp_directory": str(other)}) as store:
        assert Path(store.scalar("SELECT current_setting('temp_directory')")) == other


@pytest.mark.parametrize(
    ("available", "limit"),
    [(256 * MIB, "64MiB"), (GIB, "128MiB"), (2 * GIB, "256MiB"), (24 * GIB, "256MiB")],
)
def test_a_bulk_read_of_files_gets_a_higher_cap(available: int, limit: str) -> None:
    assert auto_memory_limit(available, bulk=True) == limit


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A large host's memory, and the settings of a files source of one contact."""
    monkeypatch.setattr(memory, "available_memory", lambda: 24 * GIB)
    (tmp_path / "c.csv").write_text("id,email\n1,a@example.org\n", encoding="utf-8")
    return '[connectors.shop]\ntype = "files"\ncontacts = { path = "c.csv" }\n'


def test_a_files_pull_reads_in_bulk_at_the_bulk_limit_and_then_returns_to_the_stores(
    tmp_path: Path, files: str
) -> None:
    from segsync.pipeline import bulk_memory_limit, open_connectors

    config = load(_config(tmp_path, files))
    sources = [c.source for c in open_connectors(config, ["shop"]).values()]
    assert bulk_memory_limit(config, sources) == "256MiB"
    assert bulk_memory_limit(config, [None]) is None  # no source that reads files
    explicit = load(_config(tmp_path, 'memory_limit = "100MB"\n' + files))
    assert bulk_memory_limit(explicit, sources) is None  # the configuration's limit holds
    with Store.open(config.store_path, options=config.store_options) as store:
        with store.engine.memory_limit("256MiB"):
            assert store.scalar("SELECT current_setting('memory_limit')") == "256.0 MiB"
        assert store.scalar("SELECT current_setting('memory_limit')") == "128.0 MiB"


def test_a_files_pull_keeps_the_bulk_limit_through_its_recompute_not_its_plans(
    tmp_path: Path, files: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import segsync.pipeline as pipeline
    from segsync.engine import parse

    seen: dict[str, str] = {}

    def watched(name: str, step: object) -> object:
        def step_at_its_limit(self_or_engine: object, *args: object, **kwargs: object) -> object:
            engine = getattr(self_or_engine, "engine", self_or_engine)
            setting = parse("SELECT current_setting('memory_limit')")
            seen[name] = engine.scalar(setting)  # type: ignore[attr-defined]
            return step(self_or_engine, *args, **kwargs)  # type: ignore[operator]

        return step_at_its_limit

    monkeypatch.setattr(pipeline, "resolve_profiles", watched("resolve", pipeline.resolve_profiles))
    monkeypatch.setattr(pipeline, "compute_kpis", watched("kpis", pipeline.compute_kpis))
    monkeypatch.setattr(pipeline._Run, "_plan", watched("plan", pipeline._Run._plan))
    report = pipeline.run(load(_config(tmp_path, files)))
    assert report.profiles is not None and report.profiles.profiles == 1
    # resolve, traits, segments and KPIs at the read's limit; plans and pushes at the store's
    assert seen == {"resolve": "256.0 MiB", "kpis": "256.0 MiB", "plan": "128.0 MiB"}

    seen.clear()  # a limit the configuration sets holds for every step
    pipeline.run(load(_config(tmp_path, 'memory_limit = "100MB"\n' + files)))
    assert set(seen.values()) == {"95.3 MiB"}


def test_the_engine_tells_the_memory_it_may_use_now() -> None:
    from segsync.engine.duckdb import memory_size

    assert memory_size("256.0 MiB") == 256 * MIB
    assert memory_size("3.7 GiB") == int(3.7 * GIB)
    assert memory_size("unlimited") is None
    with Store.memory(options={"memory_limit": "100MB"}) as store:
        assert store.engine.memory_bytes() == int(95.3 * MIB)  # DuckDB shows 95.3 MiB
        with store.engine.memory_limit("256MiB"):
            assert store.engine.memory_bytes() == 256 * MIB
