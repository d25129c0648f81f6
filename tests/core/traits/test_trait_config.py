"""``[traits.NAME]`` in segsync.toml: parsing, the exact error messages, where integration."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from segsync.config import load_config
from segsync.errors import ConfigError
from segsync.plugins import load_plugins


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "segsync.toml"
    path.write_text('[attributes]\ncountry = "text"\n' + textwrap.dedent(text))
    return load_config(path, load_plugins(None))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    prefix = f"{tmp_path / 'segsync.toml'}: "
    return [p.removeprefix(prefix) for p in info.value.errors]


def test_traits_become_columns_segments_can_use(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [traits.orders_90d]
        kind = "aggregate"
        event = "order"
        function = "count"
        within = "90d"

        [traits.rfm]
        kind = "rfm"
        event = "order"

        [traits.days_since_order]
        kind = "recency"
        event = "order"

        [segments.champions]
        where = "rfm = 'champions' AND orders_90d >= 2 AND days_since_order < 30"
        """,
    )
    assert list(config.traits) == ["orders_90d", "rfm", "days_since_order"]
    assert {c: config.columns[c] for c in list(config.columns)[-6:]} == {
        "orders_90d": "integer",
        "rfm": "text",
        "rfm_r": "integer",
        "rfm_f": "integer",
        "rfm_m": "integer",
        "days_since_order": "integer",
    }
    assert config.traits["rfm"].settings.buckets == 5  # type: ignore[attr-defined]


def test_errors_name_file_key_expected_and_found_all_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [traits.a]
        kind = "agregate"

        [traits.b]
        event = "order"

        [traits.c]
        kind = "aggregate"
        event = "order"
        function = "median"
        withn = "30d"

        [traits.d]
        kind = "aggregate"
        event = "order"
        function = "sum"
        within = "30 days"

        [traits.e]
        kind = "aggregate"
        event = "order"
        function = "count"
        within = "30d"
        since = 2026-01-01

        [traits.f]
        kind = "recency"
        event = "order"
        as_of = "yesterday"

        [traits.g]
        kind = "aggregate"
        event = "order"
        function = "count"
        field = "value"

        [traits.h]
        kind = "rfm"
        event = "order"
        buckets = 1

        [traits.i]
        kind = "aggregate"
        event = "order"
        function = "sum"
        since = 2026-02-01
        until = 2026-01-01

        [traits.Bad-Name]
        kind = "recency"
        event = "order"

        [traits.j]
        kind = "aggregate"
        event = "order"
        function = "sum"
        where = { "x y" = 1 }
        """,
    )
    assert found == [
        "traits.a.kind: unknown trait kind 'agregate' (did you mean 'aggregate'?); "
        "registered: aggregate, cluster, clv, distance, lifecycle, propensity, recency, rfm, "
        "score, tenure, value_tier",
        "traits.b.kind: missing; expected one of the registered trait kinds: "
        "aggregate, cluster, clv, distance, lifecycle, propensity, recency, rfm, score, tenure, "
        "value_tier",
        "traits.c.function: expected 'count', 'count_days', 'count_weeks', 'sum', 'avg', 'min', "
        "'max', 'first', 'last', 'first_at' or 'last_at'; found 'median' (str)",
        "traits.c.withn: unknown key (did you mean 'within'?); expected one of: as_of, event, "
        "field, function, since, until, where, within",
        'traits.d.within: expected a duration such as "30d", "12h" or "2w"; '
        "found '30 days' (str)",
        "traits.e.within: expected either 'within' or 'since'/'until', not both; found '30d' (str)",
        "traits.f.as_of: expected an ISO date or date-time such as 2026-01-31 or "
        "2026-01-31T09:00:00Z; found 'yesterday' (str)",
        "traits.g.field: expected no 'field' with function = 'count' (it counts events); "
        "found 'value' (str)",
        "traits.h.buckets: expected greater than or equal to 2; found 1 (int)",
        "traits.i.until: expected a moment after since (2026-02-01T00:00:00); "
        "found datetime.date(2026, 1, 1) (date)",
        "traits.Bad-Name: expected a name of lower-case letters, digits and '_', starting "
        "with a letter, found 'Bad-Name'",
        "traits.j.where: expected a property name of letters, digits and '_', not starting "
        "with a digit as each key, found 'x y'; found a table",
    ]


def test_field_must_be_a_property_name(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [traits.j]
        kind = "aggregate"
        event = "order"
        function = "sum"
        field = "a.b"
        """,
    )
    assert found == [
        "traits.j.field: expected a property name of letters, digits and '_', not starting "
        "with a digit; found 'a.b' (str)"
    ]


def test_name_clashes(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [traits.country]
        kind = "recency"
        event = "order"

        [traits.revenue]
        kind = "recency"
        event = "order"

        [traits.x]
        kind = "rfm"
        event = "order"

        [traits.x_r]
        kind = "recency"
        event = "order"
        """,
    )
    assert found == [
        "traits.country: the trait's column 'country' is already an attribute; "
        "choose another trait name",
        "traits.revenue: the trait's column 'revenue' is already a built-in profile column; "
        "choose another trait name",
        "traits.x_r: the trait's column 'x_r' is also a column of trait 'x'; "
        "choose another trait name",
    ]


def test_rfm_cells_must_cover_the_grid_once(tmp_path: Path) -> None:
    base = '[traits.r]\nkind = "rfm"\nevent = "order"\nbuckets = 2\n'
    assert problems(tmp_path, base + 'cells = { a = ["1-1", "1-2", "2-1"] }') == [
        "traits.r.cells: expected every R-F pair from 1-1 to 2-2 in a cell; missing: 2-2; "
        "found a table"
    ]
    assert problems(
        tmp_path, base + 'cells = { a = ["1-1", "1-2"], b = ["2-1", "2-2", "1-1"] }'
    ) == [
        "traits.r.cells: expected each R-F pair in one cell only; '1-1' is in both 'a' and 'b'; "
        "found a table"
    ]
    assert problems(tmp_path, base + 'cells = { a = ["1-3"] }') == [
        "traits.r.cells: expected 'R-F' pairs such as '2-2' with scores 1..2, found '1-3'; "
        "found a table"
    ]


def test_segment_conditions_know_trait_columns(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [traits.spend]
        kind = "aggregate"
        event = "order"
        function = "sum"

        [segments.big]
        where = "spend_90d > 100"
        """,
    )
    assert len(found) == 1
    assert found[0].startswith('segments.big.where: unknown column "spend_90d"')
