"""Trait kinds come from the ``register_trait_kinds`` hook: built-ins and plugins alike."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from segsync.errors import PluginError
from segsync.plugins import BUILTIN_TRAITS, load_plugins, reset_plugins

DISTINCT_DAYS = """
from typing import ClassVar

from sqlglot import exp

from segsync import hookimpl
from segsync.traits import EventSettings, TraitKind
from segsync.traits.base import EVENTS_TABLE, event_conditions, output, per_profile


class DistinctDaysSettings(EventSettings):
    pass


class DistinctDays(TraitKind[DistinctDaysSettings]):
    name: ClassVar[str] = "distinct_days"
    Settings: ClassVar[type[DistinctDaysSettings]] = DistinctDaysSettings

    def columns(self):
        return {self.trait: "integer"}

    def query(self, ctx):
        day = exp.cast(exp.column("occurred_at"), "DATE")
        per = (
            exp.select("profile_key", exp.alias_(exp.Count(this=exp.Distinct(expressions=[day])), "n"))
            .from_(EVENTS_TABLE)
            .where(event_conditions(self.settings, ctx))
            .group_by("profile_key")
        )
        n = exp.Coalesce(this=exp.column("n", table="a"), expressions=[exp.Literal.number(0)])
        return per_profile(per, output(n, self.trait, "integer"))


@hookimpl
def register_trait_kinds(register):
    register(DistinctDays)
"""


def plugin_dir(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return folder


def test_builtin_kinds_load_through_the_hook_whatever_the_allowlist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGSYNC_PLUGINS", "")
    plugins = load_plugins(None)
    assert plugins.connectors == {}
    assert sorted(plugins.trait_kinds) == [
        "aggregate", "cluster", "clv", "distance", "lifecycle", "propensity", "recency", "rfm",
        "score", "tenure", "value_tier",
    ]  # fmt: skip
    info = plugins.info[BUILTIN_TRAITS]
    assert info.trait_kinds == [
        "aggregate", "recency", "rfm", "cluster", "lifecycle", "value_tier", "score", "distance",
        "tenure", "clv", "propensity",
    ]  # fmt: skip
    assert info.hooks == ["register_trait_kinds"]


def test_a_plugin_adds_a_kind_usable_in_config(tmp_path: Path) -> None:
    from segsync.config import load_config
    from segsync.pipeline.traits import compute_traits
    from segsync.state.store import Store

    folder = plugin_dir(tmp_path, "days", DISTINCT_DAYS)
    plugins = load_plugins(folder)
    assert plugins.info["days"].trait_kinds == ["distinct_days"]
    path = tmp_path / "segsync.toml"
    path.write_text(
        '[traits.active_days]\nkind = "distinct_days"\nevent = "visit"\n'
        '[segments.regulars]\nwhere = "active_days >= 2"\n'
    )
    config = load_config(path, plugins)
    with Store.open(tmp_path / "s.duckdb") as store:
        store.con.execute(
            "CREATE OR REPLACE TABLE profiles AS SELECT 'a' AS profile_key UNION ALL SELECT 'b'"
        )
        store.con.execute(
            "INSERT INTO profile_events VALUES "
            "('a', '1', 'visit', '2026-01-01 10:00', NULL, '{}', NULL), "
            "('a', '2', 'visit', '2026-01-01 11:00', NULL, '{}', NULL), "
            "('a', '3', 'visit', '2026-01-02 10:00', NULL, '{}', NULL)"
        )
        compute_traits(store.engine, config.traits, as_of=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
        assert store.rows("SELECT * FROM profile_traits ORDER BY 1") == [("a", 2), ("b", 0)]


def test_kind_clash_and_invalid_kinds_are_plugin_errors(tmp_path: Path) -> None:
    clash = DISTINCT_DAYS.replace('"distinct_days"', '"rfm"')
    with pytest.raises(
        PluginError,
        match=r"trait kind 'rfm' is registered twice: by 'segsync\.traits' and by 'dup'",
    ):
        load_plugins(plugin_dir(tmp_path / "1", "dup", clash))
    reset_plugins()
    bad = "from segsync import hookimpl\n\n@hookimpl\ndef register_trait_kinds(register):\n    register(dict)\n"
    with pytest.raises(
        PluginError, match="registered <class 'dict'>, which is not a segsync TraitKind class"
    ):
        load_plugins(plugin_dir(tmp_path / "2", "bad", bad))
    reset_plugins()
    unnamed = DISTINCT_DAYS.replace('"distinct_days"', '"Distinct Days"')
    with pytest.raises(PluginError, match="needs a `name` of lower-case letters"):
        load_plugins(plugin_dir(tmp_path / "3", "unnamed", unnamed))
