"""Broken configs and hostile conditions: each exits 2 with a message naming the problem."""

from __future__ import annotations

import re

import pytest

from projectkit import Project

# (id, edit applied to the config text, extra env, fragments the error must contain)
CASES: list[tuple[str, object, dict[str, str], list[str]]] = [
    ("toml-syntax", lambda t: t + "\n[store\n", {}, ["invalid TOML", "line"]),
    (
        "unknown-top-key",
        lambda t: t + "\n[stroe]\npath = 'x'\n",
        {},
        ["stroe: unknown key", "did you mean 'store'"],
    ),
    (
        "store-path-type",
        lambda t: t.replace('path = "segsync.duckdb"', "path = 5"),
        {},
        ["store.path", "found 5"],
    ),
    (
        "unknown-connector-type",
        lambda t: t.replace(
            'type = "files"\n[connectors.shop.contacts]',
            'type = "filez"\n[connectors.shop.contacts]',
        ),
        {},
        ["connectors.shop.type", "unknown connector type 'filez'", "did you mean 'files'"],
    ),
    (
        "connector-type-missing",
        lambda t: t + "\n[connectors.extra]\noutput_dir = 'x'\n",
        {},
        ["connectors.extra.type: missing"],
    ),
    (
        "connector-unknown-setting",
        lambda t: t.replace('path = "data/contacts.csv"', 'pathh = "data/contacts.csv"'),
        {},
        ["connectors.shop.contacts.pathh: unknown key", "did you mean 'path'"],
    ),
    (
        "connector-bad-value",
        lambda t: t.replace(
            'type = "files"\n[connectors.shop.contacts]',
            'type = "files"\npage_size = 0\n[connectors.shop.contacts]',
        ),
        {},
        ["connectors.shop.page_size", "greater than or equal to 1", "found 0"],
    ),
    (
        "connector-bad-consent-purpose",
        lambda t: t.replace('email_marketing = "email_opt_in",', 'newsletter = "email_opt_in",'),
        {},
        ["connectors.shop.contacts.consent.newsletter"],
    ),
    (
        "connector-bad-name",
        lambda t: t + "\n[connectors.Shop-2]\ntype = 'files'\n",
        {},
        ["connectors.Shop-2", "lower-case"],
    ),
    (
        "attribute-bad-type",
        lambda t: t.replace('country = "text"', 'country = "string"'),
        {},
        ["attributes.country", "'text'", "found 'string'"],
    ),
    (
        "attribute-builtin-clash",
        lambda t: t.replace('country = "text"', 'country = "text"\nemail = "text"'),
        {},
        ["attributes.email", "built-in"],
    ),
    (
        "where-unknown-column",
        lambda t: t.replace("country = 'FR'", "contry = 'FR'"),
        {},
        ["segments.french.where", "contry", "country"],
    ),
    (
        "where-statement-injection",
        lambda t: t.replace("country = 'FR'", "country = 'FR'; DROP TABLE profiles"),
        {},
        ["segments.french.where"],
    ),
    (
        "where-subquery",
        lambda t: t.replace("country = 'FR'", "profile_key IN (SELECT profile_key FROM profiles)"),
        {},
        ["segments.french.where", "SELECT"],
    ),
    (
        "where-file-function",
        lambda t: t.replace("country = 'FR'", "read_csv('/etc/passwd') IS NOT NULL"),
        {},
        ["segments.french.where", "read_csv"],
    ),
    (
        "where-env-function",
        lambda t: t.replace("country = 'FR'", "getenv('HOME') = 'x'"),
        {},
        ["segments.french.where", "getenv"],
    ),
    (
        "where-qualified-column",
        lambda t: t.replace("country = 'FR'", "profiles.country = 'FR'"),
        {},
        ["segments.french.where", "profiles.country"],
    ),
    (
        "where-not-boolean",
        lambda t: t.replace("country = 'FR'", "country"),
        {},
        ["segments.french.where", "true/false"],
    ),
    (
        "where-empty",
        lambda t: t.replace("where = \"country = 'FR'\"", 'where = "  "'),
        {},
        ["segments.french.where"],
    ),
    (
        "segment-without-condition",
        lambda t: t.replace("where = \"country = 'FR'\"", 'description = "x"'),
        {},
        ["segments.french", "'where' condition or an 'include'"],
    ),
    (
        "segment-include-unknown",
        lambda t: t.replace('where = "orders_count > 0"', 'include = ["frnch"]'),
        {},
        ["segments.buyers.include", "unknown segment 'frnch'"],
    ),
    (
        "segment-cycle",
        lambda t: t.replace('where = "orders_count > 0"', 'include = ["french"]').replace(
            "where = \"country = 'FR'\"", 'where = "country = \'FR\'"\nexclude = ["buyers"]'
        ),
        {},
        ["cycle"],
    ),
    (
        "sync-unknown-segment",
        lambda t: t.replace('segment = "buyers"', 'segment = "buyer"'),
        {},
        ["syncs.buyers.segment", "unknown segment 'buyer'", "did you mean 'buyers'"],
    ),
    (
        "sync-unknown-destination",
        lambda t: t.replace(
            'segment = "buyers"\ndestination = "out"', 'segment = "buyers"\ndestination = "nowhere"'
        ),
        {},
        ["syncs.buyers.destination", "'nowhere'"],
    ),
    (
        "sync-bad-kind",
        lambda t: t.replace('segment = "buyers"\n', 'segment = "buyers"\nkind = "list"\n'),
        {},
        ["syncs.buyers.kind", "no audience kind 'list'", "csv"],
    ),
    (
        "sync-fraction-out-of-range",
        lambda t: t.replace(
            'segment = "buyers"\n', 'segment = "buyers"\nmax_remove_fraction = 1.5\n'
        ),
        {},
        ["syncs.buyers.max_remove_fraction", "less than or equal to 1", "1.5"],
    ),
    (
        "sync-bad-consent",
        lambda t: t.replace('require_consent = ["email_marketing"]', 'require_consent = ["email"]'),
        {},
        ["syncs.french_news.require_consent.0", "'email_marketing'", "found 'email'"],
    ),
    (
        "sync-missing-segment",
        lambda t: t.replace('segment = "buyers"\n', ""),
        {},
        ["syncs.buyers.segment: missing"],
    ),
    (
        "env-override-bad",
        lambda t: t,
        {"SEGSYNC_SYNCS__BUYERS__MAX_REMOVE_FRACTION": "lots"},
        [
            "syncs.buyers.max_remove_fraction",
            "SEGSYNC_SYNCS__BUYERS__MAX_REMOVE_FRACTION",
            "'lots'",
        ],
    ),
    (
        "env-override-unknown-region",
        lambda t: t,
        {"SEGSYNC_RESOLVE__DEFAULT_REGION": "France"},
        ["resolve.default_region", "two-letter"],
    ),
    (
        "region-not-a-country",
        lambda t: t.replace('default_region = "FR"', 'default_region = "XX"'),
        {},
        ["resolve.default_region", "'XX' is not a country", "'FR'"],
    ),
    (
        "phone-region-not-a-country",
        lambda t: t.replace('type = "files"\n', 'type = "files"\nphone_region = "zz"\n', 1),
        {},
        ["connectors.shop.phone_region", "'ZZ' is not a country"],
    ),
]


@pytest.mark.parametrize(
    ("edit", "env", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_config_exits_2_naming_the_problem(
    project: Project, edit: object, env: dict[str, str], fragments: list[str]
) -> None:
    text = project.config.read_text()
    project.config.write_text(edit(text))  # type: ignore[operator]
    result = project.cli("plan", env=env)
    message = result.err
    assert result.code == 2, f"exit {result.code}\n{result.out}\n{message}"
    assert str(project.config) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "Traceback" not in message
    # nothing ran: no store was created by a failed validation
    assert not (project.root / "segsync.duckdb").exists()


def test_every_problem_is_reported_at_once(project: Project) -> None:
    text = project.config.read_text()
    text = text.replace("country = 'FR'", "contry = 'FR'").replace(
        'segment = "buyers"', 'segment = "nope"'
    )
    project.config.write_text(text)
    result = project.cli("check")
    assert result.code == 2
    assert "2 problem(s)" in result.err
    assert "segments.french.where" in result.err and "syncs.buyers.segment" in result.err


def test_missing_config_file_says_how_to_fix(project: Project) -> None:
    project.config.unlink()
    result = project.cli("plan")
    assert result.code == 2
    assert "config file not found" in result.err
    assert "segsync init" in result.err


def test_secret_values_are_not_echoed(project: Project) -> None:
    text = (
        project.config.read_text()
        + '\n[connectors.extra]\ntype = "files"\napi_token = "s3cr3t-value"\n'
    )
    project.config.write_text(text)
    result = project.cli("check")
    assert result.code == 2
    assert "connectors.extra.api_token: unknown key" in result.err
    assert "s3cr3t" not in result.err + result.out


def test_case_table_has_enough_cases() -> None:
    assert len(CASES) >= 15
    assert len({c[0] for c in CASES}) == len(CASES)
    assert sum(1 for c in CASES if re.match(r"where-", c[0])) >= 6
