"""A condition comparing a column with a text no profile holds, where some hold it in another
case or with spaces (``country = 'fr'`` over ``'FR'``), is named in a warning: SQL compares
texts exactly, so the segment would quietly be empty (or, with ``<>``, everybody)."""

from __future__ import annotations

from pathlib import Path

from segkit import P, SegDb, make_config


def warnings_for(tmp_path: Path, where: str, countries: list[str]) -> tuple[list[str], int]:
    db = SegDb()
    db.load([P(f"k{i}", country=c) for i, c in enumerate(countries)])
    config = make_config(tmp_path, f'[segments.s]\nwhere = "{where}"\n')
    results = db.compute(config)
    assert db.membership is not None
    return [w.message for w in db.membership.warnings], results["s"].size


def test_a_text_held_in_another_case_is_named_with_the_spelling_held(tmp_path: Path) -> None:
    found, size = warnings_for(tmp_path, "country = 'fr'", ["FR", "FR", "BE"])
    assert size == 0
    assert found == [
        "segments.s: country never holds 'fr', but 2 profile(s) hold 'FR': texts compare "
        "exactly (case and spaces count); write 'FR', or compare lower(country)"
    ]


def test_spaces_count_too_and_not_equal_selects_everybody(tmp_path: Path) -> None:
    found, size = warnings_for(tmp_path, "country <> 'BE'", ["FR", " be "])
    assert size == 2
    assert found == [
        "segments.s: country never holds 'BE', but 1 profile(s) hold ' be ': texts compare "
        "exactly (case and spaces count); write ' be ', or compare lower(country)"
    ]


def test_only_the_texts_held_in_another_spelling_are_named(tmp_path: Path) -> None:
    # 'FR' is held; 'LU' in no spelling at all (absent today, says nothing); 'be' as 'BE'
    found, size = warnings_for(tmp_path, "country IN ('FR', 'be', 'LU')", ["FR", "BE", "BE"])
    assert size == 1
    assert found == [
        "segments.s: country never holds 'be', but 2 profile(s) hold 'BE': texts compare "
        "exactly (case and spaces count); write 'BE', or compare lower(country)"
    ]


def test_texts_held_as_written_say_nothing(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, "country IN ('FR', 'BE')", ["FR", "BE"]) == ([], 2)
    assert warnings_for(tmp_path, "lower(country) = 'fr'", ["FR"]) == ([], 1)
    assert warnings_for(tmp_path, "revenue > 0 OR country IS NULL", ["FR"]) == ([], 0)


def test_a_like_pattern_matched_only_in_another_case_says_use_ilike(tmp_path: Path) -> None:
    found, size = warnings_for(tmp_path, "country LIKE 'F%' OR country LIKE 'b%'", ["FR", "BE"])
    assert size == 1
    assert found == [
        "segments.s: country LIKE 'b%' matches no profile, but 1 profile(s) match it in another "
        "case (such as 'BE'): LIKE counts case; use ILIKE"
    ]
    assert warnings_for(tmp_path, "country ILIKE 'b%'", ["BE"]) == ([], 1)
    assert warnings_for(tmp_path, "country LIKE 'X%'", ["BE"]) == ([], 0)


def test_a_persons_identifier_is_never_shown(tmp_path: Path) -> None:
    """The spelling held, for ``email`` or ``phone``, is someone's address: masked."""
    db = SegDb()
    db.load([P("k1")])
    db.store.con.execute("ALTER TABLE profiles ADD COLUMN email VARCHAR")
    db.store.con.execute("UPDATE profiles SET email = 'jane.doe@gmail.com'")
    config = make_config(tmp_path, "[segments.s]\nwhere = \"email LIKE '%@GMAIL.com'\"\n")
    db.compute(config)
    assert db.membership is not None
    (found,) = [w.message for w in db.membership.warnings]
    assert "jane.doe" not in found
    assert found.startswith(
        "segments.s: email LIKE '%@GMAIL.com' matches no profile, but 1 profile(s) match it in "
        "another case (such as 'j"
    )
