"""``lifecycle``, ``value_tier``, ``score`` and ``distance`` in segsync.toml: the exact
messages, through the same loader as every config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from segsync.config import load_config
from segsync.errors import ConfigError
from segsync.plugins import load_plugins


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segsync.toml"
    path.write_text(
        '[attributes]\ncountry = "text"\nlatitude = "double"\nlongitude = "double"\n'
        + textwrap.dedent(text)
    )
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, load_plugins(None))
    return [p.removeprefix(f"{path}: ") for p in info.value.errors]


def test_the_four_kinds_become_columns_segments_can_use(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [traits.stage]
        kind = "lifecycle"
        names = { loyal = "vip" }

        [traits.tier]
        kind = "value_tier"
        quantiles = { bronze = 0.5, silver = 0.8, gold = 0.95, platinum = 1.0 }

        [traits.lead]
        kind = "score"
        rules = [
          { when = "country = 'FR' AND consent_email_marketing", points = 10 },
          { event = "visit", points = 1, per_event = true, within = "30d", half_life = "14d" },
        ]

        [traits.km_from_shop]
        kind = "distance"
        lat = 48.8566
        lon = 2.3522
        lat_column = "latitude"
        lon_column = "longitude"

        [segments.hot_vips_nearby]
        where = "stage = 'vip' AND tier IN ('gold', 'platinum') AND lead >= 20 AND km_from_shop < 1"
        """,
    )
    config = load_config(path, load_plugins(None))
    assert {c: config.columns[c] for c in list(config.columns)[-5:]} == {
        "stage": "text",
        "tier": "text",
        "tier_value": "decimal",
        "lead": "double",
        "km_from_shop": "double",
    }


def test_messages_name_the_key_what_was_expected_and_found(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [traits.st]
        kind = "lifecycle"
        names = { vip = "x" }
        loyal_windw = "1y"

        [traits.st2]
        kind = "lifecycle"
        new_days = 100

        [traits.vt]
        kind = "value_tier"
        measure = "aov_x_frequency"
        quantiles = { bronze = 0.5, silver = 0.9 }

        [traits.vt2]
        kind = "value_tier"

        [traits.vt3]
        kind = "value_tier"
        thresholds = { bronze = 0, silver = "abc" }

        [traits.sc]
        kind = "score"
        rules = [
          { when = "country = 'FR'", points = 1, half_life = "3d" },
          { event = "visit", points = "x" },
          { event = "v", points = 1, per_evnt = true },
          { points = 2 },
          { when = "country IN (SELECT 1)", points = 1 },
        ]

        [traits.km]
        kind = "distance"
        lat = 91
        lon = 2
        lat_column = "latitude"
        lon_column = "Longitude"
        """,
    )
    assert found == [
        "traits.st.names: expected stages (prospect, new, loyal, active, at_risk, lost) as keys, "
        "found 'vip'; found a table",
        "traits.st.loyal_windw: unknown key (did you mean 'loyal_window'?); expected one of: "
        "active_days, as_of, event, lost_days, loyal_orders, loyal_window, names, new_days, where",
        "traits.st2: expected new_days ≤ active_days < lost_days, found new_days = 100, "
        "active_days = 90, lost_days = 180; found a table",
        "traits.vt.measure: expected 'total' or 'average'; found 'aov_x_frequency' (str)",
        "traits.vt.quantiles: expected the largest bound to be 1.0 (every profile in a tier); "
        "found a table",
        "traits.vt2: expected exactly one of 'quantiles' or 'thresholds'; found a table",
        "traits.vt3.thresholds: expected a number for 'silver', found 'abc'; found a table",
        "traits.sc.rules.0: expected no 'half_life' in a 'when' rule (they belong to 'event' "
        "rules); found a table",
        "traits.sc.rules.1.points: expected a number; found 'x' (str)",
        "traits.sc.rules.2.per_evnt: unknown key (did you mean 'per_event'?); expected one of: "
        "event, half_life, per_event, points, when, where, within",
        "traits.sc.rules.3: expected exactly one of 'when' (a condition) or 'event' in a rule; "
        "found a table",
        "traits.sc.rules.4.when: expected a valid condition: subqueries are not allowed: "
        "\"(SELECT 1)\"; found 'country IN (SELECT 1)' (str)",
        "traits.km.lat: expected less than or equal to 90; found 91 (int)",
        "traits.km.lon_column: expected a profile column name of lower-case letters, digits and "
        "'_', starting with a letter; found 'Longitude' (str)",
    ]


def test_column_names_in_trait_settings_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    """`segsync check` reports them, rather than DuckDB when traits are computed."""
    found = problems(
        tmp_path,
        """
        [traits.lead]
        kind = "score"
        rules = [{ when = "contry = 'FR'", points = 10 }]

        [traits.km]
        kind = "distance"
        lat = 48.85
        lon = 2.35
        lat_column = "lat"
        lon_column = "country"

        [traits.persona]
        kind = "cluster"
        features = ["revenue", "spend_90d", "country"]
        """,
    )
    assert any(p.startswith("traits.lead.rules.0.when:") and '"contry"' in p for p in found)
    assert any(p.startswith("traits.km.lat_column: expected a profile column") for p in found)
    assert any(p.startswith("traits.km.lon_column:") for p in found)
    assert any("traits.persona.features: unknown profile column 'spend_90d'" in p for p in found)
    assert any("traits.persona.features: not numeric 'country'" in p for p in found)


def test_a_score_rule_that_cannot_run_on_its_columns_types_is_refused_when_loaded(
    tmp_path: Path,
) -> None:
    """As a segment's condition: named by `segsync check`, not after a run has pulled."""
    found = problems(
        tmp_path,
        """
        [traits.lead]
        kind = "score"
        rules = [
          { when = "orders_count > 0", points = 5 },
          { when = "country > 5", points = 10 },
          { when = "revenue > '1,000'", points = 10 },
        ]
        """,
    )
    assert found == [
        "traits.lead.rules.1.when: the condition cannot run on its columns' types: Cannot "
        "compare values of type VARCHAR and type INTEGER_LITERAL - an explicit cast is required",
        "traits.lead.rules.2.when: the condition cannot run on its columns' types: Could not "
        'convert string "1,000" to DECIMAL(38,4)',
    ]
