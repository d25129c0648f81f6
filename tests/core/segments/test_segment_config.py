"""Config errors for priority, split, min_size, group names and the KPI window: exact
messages, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from segkit import make_config

from segsync.errors import ConfigError

BASE = """
[connectors.out]
type = "files"
output_dir = "out"

[segments.french]
where = "country = 'FR'"

[segments.vip]
where = "revenue > 1000"

[segments.newsletter_test]
include = ["french"]
split = { a = 45, b = 45 }
holdout = 10
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, BASE + text)
    prefix = f"{tmp_path / 'segsync.toml'}: "
    assert all(e.startswith(prefix) for e in info.value.errors)
    return [e.removeprefix(prefix) for e in info.value.errors]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { a = 45, b = 45 }\nholdout = 5\n',
            "segments.t.split: expected the percentages (with the holdout) to sum to 100, "
            "found 45 + 45 + 5 = 95",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { a = 50, b = 50.5 }\n',
            "segments.t.split: expected the percentages to sum to 100, found 50 + 50.5 = 100.5",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { a = 45.555, b = 54 }\n',
            "segments.t.split.a: expected a percentage from 0 to 100 with at most 2 decimals; "
            "found 45.555 (float)",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { a = "50", b = 50 }\n',
            "segments.t.split.a: expected a percentage from 0 to 100 with at most 2 decimals; "
            "found '50' (str)",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { a = 90, holdout = 10 }\n',
            "segments.t.split.holdout: the name 'holdout' is reserved; "
            "expected holdout = <percentage> beside split",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = { A = 100 }\n',
            "segments.t.split: expected group names of lower-case letters, digits and '_', "
            "starting with a letter, found 'A'",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nsplit = {}\n',
            "segments.t.split: expected at least one group, found an empty table",
        ),
        (
            '[segments.t]\ninclude = ["french"]\nholdout = 10\n',
            "segments.t.holdout: expected a 'split' beside it, found holdout = 10 alone",
        ),
        (
            '[segments.t]\nwhere = "country = \'FR\'"\npriority = ["vip", "french"]\n',
            "segments.t: expected 'priority' without 'where', 'include' or 'split'; "
            "found 'priority' with 'where'",
        ),
        (
            '[segments.t]\npriority = ["vip", "vip"]\n',
            "segments.t.priority: 'vip' is listed twice",
        ),
        (
            '[segments.t]\npriority = ["vip", "frnch"]\n',
            "segments.t.priority: unknown segment 'frnch' (did you mean 'french'?); "
            "defined: french, newsletter_test, t, vip",
        ),
        (
            '[segments.t]\npriority = ["newsletter_test.a"]\n',
            "segments.t.priority: expected a segment, not a group, found 'newsletter_test.a' "
            "(define a segment with include = ['newsletter_test.a'] and list that)",
        ),
        (
            "[segments.t]\npriority = []\n",
            "segments.t.priority: expected at least one segment name, found []",
        ),
        (
            '[segments.t]\ninclude = ["newsletter_test.c"]\n',
            "segments.t.include: unknown group 'c' of segment 'newsletter_test'; "
            "its groups: a, b, holdout",
        ),
        (
            '[segments.t]\ninclude = ["t.a"]\nsplit = { a = 100 }\n',
            "segments.t.include: a segment cannot include its own group 't.a'",
        ),
        (
            '[segments.t]\nwhere = "TRUE"\nmin_size_action = "skip_syncs"\n',
            "segments.t.min_size_action: expected a 'min_size' beside it, "
            "found min_size_action = 'skip_syncs' alone",
        ),
        (
            '[segments.t]\nwhere = "TRUE"\nmin_size = 10\nmin_size_action = "block"\n',
            "segments.t.min_size_action: expected 'warn' or 'skip_syncs'; found 'block' (str)",
        ),
        (
            '[syncs.s]\nsegment = "newsletter_test.c"\ndestination = "out"\n',
            "syncs.s.segment: unknown group 'c' of segment 'newsletter_test'; "
            "its groups: a, b, holdout",
        ),
        (
            '[syncs.s]\nsegment = "newsletter_test.hold"\ndestination = "out"\n',
            "syncs.s.segment: unknown group 'hold' of segment 'newsletter_test' "
            "(did you mean 'holdout'?); its groups: a, b, holdout",
        ),
        (
            '[syncs.s]\nsegment = "french.a"\ndestination = "out"\n',
            "syncs.s.segment: segment 'french' has no groups (only segments with 'priority' or "
            "'split' have), found 'french.a'",
        ),
        (
            '[kpis]\nwindow = "30 days"\n',
            'kpis.window: expected a duration such as "30d", "12h" or "2w"; '
            "found '30 days' (str)",
        ),
        (
            "[kpis]\nwindow = 30\n",
            "kpis.window: expected text; found 30 (int)",
        ),
    ],
)
def test_exact_message(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_priority_cycle_is_named(tmp_path: Path) -> None:
    text = '[segments.a]\npriority = ["b"]\n[segments.b]\ninclude = ["a.b"]\n'
    assert problems(tmp_path, text) == [
        "segments: include/exclude/priority form a cycle: a -> b -> a"
    ]


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        '[segments.t]\nwhere = "TRUE"\npriority = ["vip"]\n'
        '[segments.u]\ninclude = ["french"]\nsplit = { a = 50 }\n'
        '[syncs.s]\nsegment = "u.b"\ndestination = "out"\n'
    )
    assert problems(tmp_path, text) == [
        "segments.t: expected 'priority' without 'where', 'include' or 'split'; "
        "found 'priority' with 'where'",
        "segments.u.split: expected the percentages to sum to 100, found 50 = 50",
        "syncs.s.segment: unknown group 'b' of segment 'u'; its groups: a",
    ]


def test_valid_groups_load(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        BASE
        + '[segments.tier]\npriority = ["vip", "french"]\nmin_size = 5\n'
        + 'min_size_action = "skip_syncs"\n'
        + '[segments.t]\ninclude = ["newsletter_test.holdout", "tier.vip"]\n'
        + "split = { x = 33.33, y = 33.33, z = 33.34 }\nseed = 2026\n"
        + '[syncs.s]\nsegment = "tier.french"\ndestination = "out"\n'
        + '[kpis]\nwindow = "2w"\n',
    )
    assert config.segment_names() == [
        "french",
        "vip",
        "newsletter_test",
        "newsletter_test.a",
        "newsletter_test.b",
        "newsletter_test.holdout",
        "tier",
        "tier.vip",
        "tier.french",
        "t",
        "t.x",
        "t.y",
        "t.z",
    ]
    assert config.segments["t"].seed == "2026"
    assert config.settings.kpis.window == "2w"
