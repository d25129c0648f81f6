"""PhoneBook's fast path gives what phonenumbers gives: every region's example numbers, in
the ways people write them, mutated, read in their own region, another one, and none."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from segsync.model.identity import normalize_phone
from segsync.model.phones import PhoneBook

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


def test_the_fast_path_agrees_with_phonenumbers_everywhere() -> None:
    rng = random.Random(18)
    book = PhoneBook()
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
    wrong = [
        (text, region, got, want)
        for text, region in cases
        if (got := book.normalize(text, region)) != (want := normalize_phone(text, region))
    ]
    assert not wrong, wrong[:20]
    assert len(cases) > 40_000
    assert book.fast > 0.9 * len(cases)  # the common shape is read without the library


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
