"""PhoneBook's fast path gives what phonenumbers gives: every region's example numbers, in
the ways people write them, mutated, read in their own region, another one, and none."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from segsync.engine import parse
from segsync.model.identity import normalize_phone
from segsync.model.phones import PhoneBook
from segsync.pipeline.bulk_sql import LANE_PHONE
from segsync.pipeline.phones_sql import read_phones
from segsync.state.store import Store

TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int) and t >= 0]
SEPARATORS = [" ", "", "-", ".", " - "]


def _written(rng: random.Random, number: phonenumbers.PhoneNumber) -> list[str]:
    """How people write one number: E.164, international, national, digits, with an IDD,
    with the calling code but no +, in parentheses, re-spaced."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    code = str(number.country_code)
    out = [e164, international, national, digits, f"00{e164[1:]}", f"011{e164[1:]}",
           e164[1:], f"({code}) {digits}", f"+{code} (0) {digits}", f"+{code} 0{digits}"]  # fmt: skip
    sep = rng.choice(SEPARATORS)
    out.append(sep.join(digits[i : i + 2] for i in range(0, len(digits), 2)))
    return out


def _mutated(rng: random.Random, text: str) -> list[str]:
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    out = []
    for _ in range(2):
        chars = list(text)
        if digits:
            i = rng.choice(digits)
            chars[i] = rng.choice("0123456789")
        out.append("".join(chars))
    out += [text + rng.choice("0123456789"), text[:-1], f" ({text}). "]
    return out


def _cases(rng: random.Random) -> list[tuple[str, str | None]]:
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    cases: list[tuple[str, str | None]] = []
    for region in regions:
        examples = [phonenumbers.example_number_for_type(region, kind) for kind in TYPES]
        for number in [n for n in examples if n is not None][:4]:
            for text in _written(rng, number):
                for variant in [text, *_mutated(rng, text)]:
                    cases.append((variant, rng.choice([region, region, rng.choice(regions), None])))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            for text in _written(rng, number):
                cases += [(text, "FR"), (text, None)]
    for _ in range(3000):  # digits anyone could type
        text = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 18)))
        cases.append((rng.choice(["", "+", "0", "00", "(", "+0"]) + text, rng.choice(regions)))
    cases += [("", "FR"), ("+", "FR"), ("12", "FR"), ("1 2", "FR"), ("+12", "FR"), ("()", "US"),
              ("06 12 34 56 78", "XX"), ("06 12 34 56 78", "fr"), ("tel: 0612345678", "FR"),
              ("0612345678 ext. 12", "FR"), ("1-800-FLOWERS", "US"), ("+33 6 12 34 56 78", None),
              ("０６１２３４５６７８", "FR"), ("0612345678#", "FR"), ("9" * 300, "FR")]  # fmt: skip
    return cases


def test_the_fast_path_agrees_with_phonenumbers_everywhere() -> None:
    rng = random.Random(18)
    book = PhoneBook()
    cases = _cases(rng)
    wrong = [
        (text, region, got, want)
        for text, region in cases
        if (got := book.normalize(text, region)) != (want := normalize_phone(text, region))
    ]
    assert not wrong, wrong[:20]
    assert len(cases) > 40_000
    assert book.fast > 0.9 * len(cases)  # the common shape is read without the library


def test_sql_reads_phones_as_phonenumbers_does() -> None:
    """The bulk lane's SQL half (``read_phones``), and PhoneBook for what it leaves, give
    what ``normalize_phone`` gives, the region coming from each row's country."""
    rng = random.Random(19)
    cases = _cases(rng)[::3]
    store = Store.memory()
    engine = store.engine
    engine.create_empty("rows", {"status": "VARCHAR", "phone_t": "VARCHAR",
                                 "phone_k": "VARCHAR", "country_t": "VARCHAR",
                                 "country_k": "VARCHAR"})  # fmt: skip
    rows = [
        ["ok", text, "string", region or "", "string"] for text, region in cases if text.strip()
    ]
    engine.insert_rows("rows", ["status", "phone_t", "phone_k", "country_t", "country_k"], rows)
    engine.create_empty("out", LANE_PHONE)
    left = read_phones(engine, "rows", "out", "FR")
    got = {(r[0], r[2]): r[4] for r in engine.rows(parse("SELECT * FROM out"))}
    book = PhoneBook()
    for phone_t, _, country_t, _ in left:
        got[(phone_t, country_t)] = book.normalize(phone_t, country_t or "FR")
    wrong = [
        (text, region, got[(text, region or "")], want)
        for text, region in cases
        if text.strip()
        and got[(text, region or "")] != (want := normalize_phone(text, region or "FR"))
    ]
    assert not wrong, wrong[:20]
    assert len(left) < 0.4 * len(rows)  # this corpus is made of the odd cases


def test_sql_reads_the_phones_of_an_export_alone() -> None:
    from segsync.sandbox.synth import LOCALES

    rng = random.Random(20)
    store = Store.memory()
    columns = ["status", "phone_t", "phone_k", "country_t", "country_k"]
    store.engine.create_empty("rows", dict.fromkeys(columns, "VARCHAR"))
    rows = []
    for _ in range(3000):
        locale = rng.choice(LOCALES)
        rows.append(["ok", locale.phone(rng), "string", locale.country, "string"])
    store.engine.insert_rows("rows", columns, rows)
    store.engine.create_empty("out", LANE_PHONE)
    assert read_phones(store.engine, "rows", "out", "FR") == []
    got = dict(store.engine.rows(parse("SELECT phone_t, phone FROM out")))
    assert all(got[r[1]] == normalize_phone(r[1], r[3]) for r in rows)


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "DE", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("(212) 555-0123", "US", "+12125550123"),
        ("(415) 777-1234", "US", "+14157771234"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("06 12", "FR", None),
        (None, "FR", None),
    ],
)
def test_examples(text: str | None, region: str, e164: str | None) -> None:
    assert PhoneBook().normalize(text, region) == e164 == normalize_phone(text, region)
