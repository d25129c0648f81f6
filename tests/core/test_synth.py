"""The synthetic audience: deterministic, realistic, and messy on purpose."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest

from segsync.sandbox.synth import generate, main

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, seed=42, contacts=5000, orders=30000, as_of=AS_OF)
    return out


def rows(data: Path) -> tuple[list[dict[str, str]], list[dict], list[dict]]:
    with (data / "contacts.csv").open(encoding="utf-8", newline="") as fh:
        contacts = list(csv.DictReader(fh))
    news = [
        json.loads(x) for x in (data / "newsletter.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    orders = [
        json.loads(x) for x in (data / "orders.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return contacts, news, orders


def test_same_seed_same_bytes_other_seed_differs(data: Path, tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=42, contacts=5000, orders=30000, as_of=AS_OF)
    generate(tmp_path / "b", seed=43, contacts=5000, orders=30000, as_of=AS_OF)
    for name in ("contacts.csv", "newsletter.jsonl", "orders.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (data / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() != (data / name).read_bytes()


def test_counts_and_referential_integrity(data: Path) -> None:
    contacts, news, orders = rows(data)
    assert len(contacts) == 5000 and len(orders) == 30000 and len(news) == 1750
    by_id = {c["id"]: c for c in contacts}
    times = []
    for order in orders:
        customer = by_id[order["customer_id"]]
        amount = Decimal(order["amount"])
        assert amount > 0 and amount.as_tuple().exponent == -2
        moment = dt.datetime.fromisoformat(order["ordered_at"])
        assert dt.date.fromisoformat(customer["signup_date"]) <= moment.date() <= AS_OF
        times.append(moment.astimezone(dt.UTC))
    assert times == sorted(times)


def test_the_mess_is_there(data: Path) -> None:
    contacts, news, _ = rows(data)
    emails = [c["email"] for c in contacts]
    assert sum(e != e.strip().lower() for e in emails) > 50
    assert 20 < sum(not e for e in emails) < 100
    normalised = Counter(e.strip().lower() for e in emails if e)
    assert sum(n - 1 for n in normalised.values()) > 30  # registered twice
    overlap = sum(n["email"].strip().lower() in normalised for n in news) / len(news)
    assert 0.4 <= overlap <= 0.8
    assert {c["email_opt_in"] for c in contacts} == {"yes", "no", ""}
    assert {c["ads_opt_in"] for c in contacts} == {"yes", "no", ""}


def test_locales_and_valid_phones(data: Path) -> None:
    contacts, _, _ = rows(data)
    countries = Counter(c["country"] for c in contacts)
    assert countries.most_common(1)[0][0] == "FR"
    assert 0.38 < countries["FR"] / len(contacts) < 0.52
    assert set(countries) == {"FR", "DE", "ES", "IT", "GB", "US", "BE", "PL"}
    assert any(not c["first_name"].isascii() for c in contacts)
    phones = [c for c in contacts if c["phone"]]
    assert 0.7 < len(phones) / len(contacts) < 0.9
    for c in phones:
        assert phonenumbers.is_valid_number(phonenumbers.parse(c["phone"], c["country"])), c


def test_orders_are_heavy_tailed(data: Path) -> None:
    contacts, _, orders = rows(data)
    per_customer = Counter(o["customer_id"] for o in orders)
    assert max(per_customer.values()) >= 15
    never = 1 - len(per_customer) / len(contacts)
    assert 0.3 <= never <= 0.45


def test_main_writes_into_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["--out", str(tmp_path), "--contacts", "50", "--orders", "100", "--as-of", "2026-01-01"]
        )
        == 0
    )
    assert "50 contacts" in capsys.readouterr().out
    assert len((tmp_path / "orders.jsonl").read_text().splitlines()) == 100
