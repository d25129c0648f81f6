"""Identifiers of privacy requests: how they are read, and the salted hashes kept instead."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from segsync.errors import InputError
from segsync.privacy.identifiers import (
    Identifier,
    digest,
    digest_sql,
    parse_identifier,
    parse_identifiers,
    read_identifier_file,
    store_salt,
)
from segsync.state.store import Store

INSTANCES = ("crm", "hubspot")


def parse(text: str, region: str | None = "FR") -> Identifier:
    return parse_identifier(text, instances=INSTANCES, region=region)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("  Ada@Example.ORG ", "email", "ada@example.org"),
        ("+33 6 12 34 56 78", "phone", "+33612345678"),
        ("06.12.34.56.78", "phone", "+33612345678"),
        ("crm:C00042", "record", "crm:C00042"),
        ("hubspot: 101 ", "record", "hubspot:101"),
    ],
)
def test_identifiers_are_normalised_as_records_are(text: str, kind: str, value: str) -> None:
    found = parse(text)
    assert (found.kind, found.value, found.given) == (kind, value, text.strip())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ada@", "not a valid email"),
        ("a@b@c.org", "not a valid email"),
        ("+33 1", "not a valid phone number"),
        ("0612345678", "set \\[resolve\\] default_region"),
        ("shop:42", "INSTANCE:ID .*crm, hubspot"),
        ("crm:", "expected crm:ID"),
        ("Ada Lovelace", "not an email, a phone number or INSTANCE:ID"),
        ("   ", "empty identifier"),
    ],
)
def test_malformed_identifiers_say_what_was_expected(text: str, message: str) -> None:
    region = None if text == "0612345678" else "FR"
    with pytest.raises(InputError, match=message):
        parse(text, region)


def test_a_list_is_refused_whole_when_one_is_malformed_and_repeats_count_once() -> None:
    found = parse_identifiers(
        ["ada@example.org", "ADA@example.org", "crm:1"], instances=INSTANCES, region=None
    )
    assert [(i.kind, i.value) for i in found] == [("email", "ada@example.org"), ("record", "crm:1")]
    with pytest.raises(InputError, match=r"'nope' is not .*\(and 1 more\); nothing was done"):
        parse_identifiers(["ada@example.org", "nope", "x@"], instances=INSTANCES, region=None)


def test_masked_identifiers_for_receipts() -> None:
    assert parse("ada.lovelace@example.org").masked() == "a***@example.org"
    assert parse("+33612345678").masked() == "+33*******78"
    assert parse("crm:C00042").masked() == "crm:C****2"


def test_request_files(tmp_path: Path) -> None:
    path = tmp_path / "requests.txt"
    path.write_text(
        "\ufeff# requests of March\nada@example.org\n\n  +33612345678 , crm:7\n", encoding="utf-8"
    )
    assert read_identifier_file(path) == ["ada@example.org", "+33612345678", "crm:7"]
    with pytest.raises(InputError, match="no such file"):
        read_identifier_file(tmp_path / "missing.txt")


_STORE: list[Store] = []


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["email", "phone", "record"]),
    value=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40),
)
def test_the_sql_hash_is_the_python_hash(kind: str, value: str) -> None:
    if not _STORE:
        _STORE.append(Store.memory())
    salt = "s4lt"
    query = exp.select(digest_sql(salt, kind, exp.Literal.string(value)))
    assert _STORE[0].engine.scalar(query) == digest(salt, kind, value)
    assert digest(salt, kind, value) == hashlib.sha256(f"s4lt:{kind}:{value}".encode()).hexdigest()


def test_the_salt_is_made_once_per_store_and_a_dry_run_makes_none() -> None:
    with Store.memory() as store:
        assert store_salt(store.engine, create=False) is None
        salt = store_salt(store.engine)
        assert salt is not None and len(salt) == 64
        assert store_salt(store.engine) == salt == store_salt(store.engine, create=False)
    with Store.memory() as other:
        assert store_salt(other.engine) != salt
