"""Traits that read other traits' columns: a score over a window count, clusters over a count
and a recency; the config orders them after what they read and refuses cycles."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from traitkit import Ev, TraitDb, utc

from segsync.config import load_config
from segsync.errors import ConfigError
from segsync.plugins import load_plugins

AS_OF = utc("2026-06-01T00:00:00+00:00")


def test_a_score_can_use_a_window_count() -> None:
    db = TraitDb()
    events = [
        Ev("a", "1", utc("2026-05-20T10:00:00+00:00"), Decimal(5)),
        Ev("a", "2", utc("2026-05-25T10:00:00+00:00"), Decimal(5)),
        Ev("b", "3", utc("2026-05-25T10:00:00+00:00"), Decimal(5)),
        Ev("c", "4", utc("2026-01-25T10:00:00+00:00"), Decimal(5)),
    ]
    db.load(["a", "b", "c", "d"], events)
    rows = db.compute(
        {
            "orders_30d": {
                "kind": "aggregate",
                "event": "order",
                "function": "count",
                "within": "30d",
            },
            "lead": {
                "kind": "score",
                "rules": [
                    {"when": "orders_30d >= 2", "points": 10},
                    {"when": "orders_30d = 1", "points": 3},
                ],
            },
        },
        AS_OF,
    )
    assert {k: r["lead"] for k, r in rows.items()} == {"a": 10.0, "b": 3.0, "c": 0.0, "d": 0.0}


def test_clusters_can_use_other_traits() -> None:
    db = TraitDb()
    events = []
    for i in range(40):  # two groups: recent frequent buyers and old one-off buyers
        key = f"p{i:02d}"
        if i < 20:
            events += [Ev(key, f"{key}-{n}", utc(f"2026-05-{10 + n:02d}T10:00:00+00:00"),
                          Decimal(50)) for n in range(5)]  # fmt: skip
        else:
            events.append(Ev(key, f"{key}-0", utc("2025-06-01T10:00:00+00:00"), Decimal(20)))
    db.load([f"p{i:02d}" for i in range(40)], events)
    rows = db.compute(
        {
            "orders_365d": {
                "kind": "aggregate",
                "event": "order",
                "function": "count",
                "within": "365d",
            },
            "days_since": {"kind": "recency", "event": "order"},
            "persona": {
                "kind": "cluster",
                "features": ["orders_365d", "days_since"],
                "k": 2,
                "seed": 1,
            },
        },
        AS_OF,
    )
    recent = {rows[f"p{i:02d}"]["persona"] for i in range(20)}
    old = {rows[f"p{i:02d}"]["persona"] for i in range(20, 40)}
    assert len(recent) == 1 and len(old) == 1 and recent != old


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segsync.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_config_orders_traits_after_those_they_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [traits.lead]
        kind = "score"
        rules = [{ when = "orders_30d >= 2", points = 10 }]

        [traits.orders_30d]
        kind = "aggregate"
        event = "order"
        function = "count"
        within = "30d"

        [segments.hot]
        where = "lead >= 10"
        """,
    )
    config = load_config(path, load_plugins(None))
    assert list(config.traits) == ["orders_30d", "lead"]


def test_traits_reading_each_other_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [traits.a]
        kind = "score"
        rules = [{ when = "b > 1", points = 1 }]

        [traits.b]
        kind = "score"
        rules = [{ when = "a > 1", points = 1 }]
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, load_plugins(None))
    assert any("traits read each other's columns in a cycle" in p for p in info.value.errors)


def test_a_cluster_feature_must_be_numeric_even_from_a_trait(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [traits.rfm]
        kind = "rfm"
        event = "order"

        [traits.persona]
        kind = "cluster"
        features = ["rfm", "rfm_m"]
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, load_plugins(None))
    assert any("traits.persona.features: not numeric 'rfm'" in p for p in info.value.errors)
