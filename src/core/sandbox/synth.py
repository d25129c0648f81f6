"""A seeded, realistic synthetic audience for the demo, the sandbox and tests.

``generate(out_dir, seed=42, contacts=5000, orders=30000)`` writes three files, byte-identical
for the same arguments, with dates relative to ``as_of`` (default: today, UTC):

``contacts.csv``
    the web shop's customers: ``id, email, first_name, last_name, phone, country, city,
    language, birth_date, signup_date, email_opt_in, ads_opt_in, updated_at, latitude,
    longitude`` (near the city centre). Locales: mostly
    French, then German, Spanish, Italian, British, American, Belgian and Polish, with accented
    names and local phone formats. On purpose it holds the mess real exports hold: emails in
    mixed case or with spaces (~3%), customers registered twice under the same address (~1.5%),
    customers with no email (~1%), unknown consent (empty opt-in cells).
``newsletter.jsonl``
    a sign-up form export (~35% of the contacts' size): ``email, first_name, subscribed,
    signed_up_at, source, interests``; about 60% are shop customers (often spelt differently),
    so merging by email matters.
``orders.jsonl``
    ``order_id, customer_id, ordered_at, amount, currency, items, channel, status``, sorted by
    time: about a third of customers never buy, order counts are heavy-tailed, baskets vary per
    customer, a group of customers has lapsed, and November–December are busier.

``python -m segsync.sandbox.synth --out DIR [--seed N] [--contacts N] [--orders N] [--as-of DATE]``
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers

__all__ = ["DATA_FILES", "SynthSummary", "generate", "main"]

DATA_FILES = ("contacts.csv", "newsletter.jsonl", "orders.jsonl")
"""The files :func:`generate` writes."""


@dataclass(frozen=True)
class Locale:
    country: str
    language: str
    weight: float
    offset: int  # hours from UTC (standard time)
    currency: str
    first: tuple[str, ...]
    last: tuple[str, ...]
    cities: tuple[str, ...]
    domains: tuple[str, ...]
    phone: Callable[[random.Random], str]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _pairs(text: str) -> str:
    return " ".join(text[i : i + 2] for i in range(0, len(text), 2))


def _fr_phone(rng: random.Random, number: str) -> str:
    """ "06 12 34 56 78", or "+33 6 12 34 56 78" as some people write it."""
    return f"+33 {number[1]} {_pairs(number[2:])}" if rng.random() < 0.3 else _pairs(number)


LOCALES: tuple[Locale, ...] = (
    Locale("FR", "fr", 45, 1, "EUR",
           ("Élodie", "Camille", "Léa", "Chloé", "Manon", "Inès", "Zoé", "Anaïs", "Hélène", "Margaux",
            "Lucas", "Hugo", "Théo", "Mathéo", "Jérôme", "François", "Raphaël", "Noël", "Gaël", "Loïc"),
           ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
            "Moreau", "Lefèvre", "Garnier", "Faure", "Rousseau", "Mercier", "Lemaître", "Bézier", "Châtelet"),
           ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes", "Nîmes", "Orléans"),
           ("gmail.com", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "hotmail.fr", "yahoo.fr", "outlook.fr"),
           lambda r: _fr_phone(r, f"0{r.choice('67')}{_digits(r, 8)}")),
    Locale("DE", "de", 12, 1, "EUR",
           ("Jürgen", "Lukas", "Maximilian", "Felix", "Jonas", "Sören", "Jörg", "Anna", "Lena", "Jülie",
            "Sophie", "Marie", "Hannah", "Käthe", "Lea", "Mia"),
           ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer",
            "Koch", "Groß", "Weiß", "Krüger", "Hoffmann"),
           ("Berlin", "München", "Hamburg", "Köln", "Frankfurt", "Düsseldorf", "Stuttgart", "Leipzig"),
           ("web.de", "gmx.de", "t-online.de", "gmail.com", "gmx.net", "outlook.de"),
           lambda r: f"01{r.choice(['51', '52', '60', '62', '70', '71', '72', '76'])} {_digits(r, 8)}"),
    Locale("ES", "es", 10, 1, "EUR",
           ("José", "Álvaro", "Sergio", "Pablo", "Íñigo", "Lucía", "María", "Sofía", "Begoña", "Núria", "Paula"),
           ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Muñoz", "Ibáñez"),
           ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga", "Zaragoza"),
           ("gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"),
           lambda r: (lambda d: f"6{d[:2]} {d[2:4]} {d[4:6]} {d[6:]}")(_digits(r, 8))),
    Locale("IT", "it", 8, 1, "EUR",
           ("Giulia", "Francesca", "Chiara", "Niccolò", "Lorenzo", "Matteo", "Andrea", "Federica", "Luca", "Gianluca"),
           ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Galli"),
           ("Roma", "Milano", "Napoli", "Torino", "Firenze", "Bologna", "Venezia"),
           ("libero.it", "gmail.com", "virgilio.it", "alice.it", "tiscali.it", "hotmail.it"),
           lambda r: f"3{r.choice(['20', '28', '33', '35', '38', '40', '47', '49'])} {_digits(r, 3)} {_digits(r, 4)}"),
    Locale("GB", "en", 10, 0, "GBP",
           ("Oliver", "George", "Harry", "Jack", "Olivia", "Amelia", "Isla", "Emily", "Siobhan", "Niamh", "Rhys"),
           ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "O'Brien", "Davies", "Hughes"),
           ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Cardiff", "Edinburgh"),
           ("gmail.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com", "outlook.com", "sky.com"),
           lambda r: f"07{r.choice(['4', '5', '7', '8', '9'])}{_digits(r, 2)} {_digits(r, 6)}"),
    Locale("US", "en", 8, -5, "USD",
           ("James", "Michael", "Emma", "Ava", "Madison", "Ethan", "Noah", "Chloe", "Zoë", "Renée"),
           ("Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Jackson"),
           ("New York", "Boston", "San Francisco", "Chicago", "Austin", "Seattle"),
           ("gmail.com", "yahoo.com", "outlook.com", "aol.com", "icloud.com", "hotmail.com"),
           lambda r: f"({r.choice(['212', '415', '617', '312', '512', '206'])}) {r.randint(2, 9)}{_digits(r, 2)}-{_digits(r, 4)}"),
    Locale("BE", "nl", 4, 1, "EUR",
           ("Lotte", "Wout", "Jens", "Elise", "Maëlle", "Thibaut", "Anouk", "Pieter", "Céline", "Arnaud"),
           ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Dupont", "Lambert"),
           ("Bruxelles", "Antwerpen", "Gent", "Liège", "Brugge", "Namur"),
           ("skynet.be", "telenet.be", "gmail.com", "proximus.be", "hotmail.be"),
           lambda r: f"04{r.choice('789')}{r.randint(0, 9)} {_pairs(_digits(r, 6))}"),
    Locale("PL", "pl", 3, 1, "PLN",
           ("Łukasz", "Paweł", "Michał", "Wojciech", "Agnieszka", "Małgorzata", "Zofia", "Katarzyna", "Jędrzej"),
           ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński"),
           ("Warszawa", "Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk"),
           ("wp.pl", "onet.pl", "interia.pl", "gmail.com", "o2.pl"),
           lambda r: f"{r.choice('5678')}{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 3)}"),
)  # fmt: skip


CITY_COORDINATES: dict[str, tuple[float, float]] = {
    "Paris": (48.8566, 2.3522), "Lyon": (45.7640, 4.8357), "Marseille": (43.2965, 5.3698),
    "Toulouse": (43.6047, 1.4442), "Nantes": (47.2184, -1.5536), "Bordeaux": (44.8378, -0.5792),
    "Lille": (50.6292, 3.0573), "Rennes": (48.1173, -1.6778), "Nîmes": (43.8367, 4.3601),
    "Orléans": (47.9030, 1.9093), "Berlin": (52.5200, 13.4050), "München": (48.1351, 11.5820),
    "Hamburg": (53.5511, 9.9937), "Köln": (50.9375, 6.9603), "Frankfurt": (50.1109, 8.6821),
    "Düsseldorf": (51.2277, 6.7735), "Stuttgart": (48.7758, 9.1829), "Leipzig": (51.3397, 12.3731),
    "Madrid": (40.4168, -3.7038), "Barcelona": (41.3874, 2.1686), "Valencia": (39.4699, -0.3763),
    "Sevilla": (37.3891, -5.9845), "Bilbao": (43.2630, -2.9350), "Málaga": (36.7213, -4.4214),
    "Zaragoza": (41.6488, -0.8891), "Roma": (41.9028, 12.4964), "Milano": (45.4642, 9.1900),
    "Napoli": (40.8518, 14.2681), "Torino": (45.0703, 7.6869), "Firenze": (43.7696, 11.2558),
    "Bologna": (44.4949, 11.3426), "Venezia": (45.4408, 12.3155), "London": (51.5072, -0.1276),
    "Manchester": (53.4808, -2.2426), "Birmingham": (52.4862, -1.8904), "Leeds": (53.8008, -1.5491),
    "Glasgow": (55.8642, -4.2518), "Bristol": (51.4545, -2.5879), "Cardiff": (51.4816, -3.1791),
    "Edinburgh": (55.9533, -3.1883), "New York": (40.7128, -74.0060), "Boston": (42.3601, -71.0589),
    "San Francisco": (37.7749, -122.4194), "Chicago": (41.8781, -87.6298),
    "Austin": (30.2672, -97.7431), "Seattle": (47.6062, -122.3321),
    "Bruxelles": (50.8503, 4.3517), "Antwerpen": (51.2194, 4.4025), "Gent": (51.0543, 3.7174),
    "Liège": (50.6326, 5.5797), "Brugge": (51.2093, 3.2247), "Namur": (50.4674, 4.8718),
    "Warszawa": (52.2297, 21.0122), "Kraków": (50.0647, 19.9450), "Łódź": (51.7592, 19.4560),
    "Wrocław": (51.1079, 17.0385), "Poznań": (52.4064, 16.9252), "Gdańsk": (54.3520, 18.6466),
}  # fmt: skip
"""Approximate city centres; a contact's coordinates are within a few km of its city's."""


_TRANSLIT = str.maketrans({"ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe", "'": "", " ": ""})


def _ascii(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLIT))
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in "-"))


def _phone(rng: random.Random, locale: Locale) -> str:
    for _ in range(50):
        text = locale.phone(rng)
        if phonenumbers.is_valid_number(phonenumbers.parse(text, locale.country)):
            return text
    raise RuntimeError(f"could not make a valid {locale.country} phone number")  # pragma: no cover


def _mess(rng: random.Random, email: str) -> str:
    """The same address as a person might type it again."""
    choice = rng.randrange(3)
    if choice == 0:
        return email.upper() if rng.random() < 0.3 else email.capitalize()
    if choice == 1:
        return f" {email} "
    return email.replace(email.split("@")[0], email.split("@")[0].title()) + " "


def _email(rng: random.Random, first: str, last: str, locale: Locale, taken: set[str]) -> str:
    f, l_ = _ascii(first), _ascii(last)
    local = rng.choice([f"{f}.{l_}", f"{f}{l_}", f"{f[0]}.{l_}", f"{f}_{l_}", f"{l_}.{f}"])
    domain = rng.choice(locale.domains)
    email = f"{local}@{domain}"
    n = 1
    while email in taken:
        n += 1
        email = f"{local}{rng.randint(2, 99) if n < 5 else n}@{domain}"
    taken.add(email)
    return email


def _moment(rng: random.Random, start: dt.date, end: dt.date, offset: int) -> dt.datetime:
    """A local time of day between ``start`` and the day before ``end``, before ``end``
    begins in UTC: generated data never lies in the future of the day it is generated for."""
    days = max((end - start).days - 1, 0)
    day = start + dt.timedelta(days=rng.randint(0, days))
    tz = dt.timezone(dt.timedelta(hours=offset))
    moment = dt.datetime(
        day.year,
        day.month,
        day.day,
        rng.randint(7, 22),
        rng.randint(0, 59),
        rng.randint(0, 59),
        tzinfo=tz,
    )
    if moment >= dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC):
        moment = moment.replace(hour=7, minute=0)  # a late hour west of UTC: the morning
    return moment


@dataclass(frozen=True)
class SynthSummary:
    contacts: int
    newsletter: int
    orders: int
    files: dict[str, Path]


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        write(handle)
    os.replace(tmp, path)


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    contacts: int = 5000,
    orders: int = 30000,
    as_of: dt.date | None = None,
) -> SynthSummary:
    """Write contacts.csv, newsletter.jsonl and orders.jsonl into ``out_dir``."""
    if contacts < 1 or orders < 0:
        raise ValueError("contacts must be at least 1 and orders not negative")
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = [loc.weight for loc in LOCALES]
    taken: set[str] = set()
    people: list[dict[str, Any]] = []
    for i in range(1, contacts + 1):
        loc = rng.choices(LOCALES, weights)[0]
        first, last = rng.choice(loc.first), rng.choice(loc.last)
        signup = as_of - dt.timedelta(days=rng.randint(1, 4 * 365))
        email = _email(rng, first, last, loc, taken)
        roll = rng.random()
        if people and roll < 0.015:  # registered twice under the same address
            email = _mess(rng, rng.choice(people)["clean_email"] or email)
        elif roll < 0.025:
            email = ""
        elif roll < 0.055:
            email = _mess(rng, email)
        age = min(85, max(18, int(rng.gauss(40, 13))))
        birth = as_of - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        person = {
            "id": f"C{i:06d}",
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": _phone(rng, loc) if rng.random() < 0.8 else "",
            "country": loc.country,
            "city": rng.choice(loc.cities),
            "language": "fr" if loc.country == "BE" and rng.random() < 0.4 else loc.language,
            "birth_date": birth.isoformat() if rng.random() < 0.9 else "",
            "signup_date": signup.isoformat(),
            "email_opt_in": rng.choices(["yes", "no", ""], [62, 28, 10])[0],
            "ads_opt_in": rng.choices(["yes", "no", ""], [45, 40, 15])[0],
            "updated_at": _moment(rng, signup, as_of, loc.offset).isoformat(),
            "clean_email": email.strip().lower(),
            "locale": loc,
            "signup": signup,
        }
        # a separate generator per person, so adding coordinates changes nothing else drawn
        geo = random.Random(f"{seed}-geo-{i}")
        lat, lon = CITY_COORDINATES[str(person["city"])]
        person["latitude"] = f"{lat + geo.uniform(-0.06, 0.06):.4f}"
        person["longitude"] = f"{lon + geo.uniform(-0.08, 0.08):.4f}"
        people.append(person)
    columns = ["id", "email", "first_name", "last_name", "phone", "country", "city", "language",
               "birth_date", "signup_date", "email_opt_in", "ads_opt_in", "updated_at",
               "latitude", "longitude"]  # fmt: skip

    def write_contacts(handle: Any) -> None:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(people)

    files = {name.partition(".")[0]: out_dir / name for name in DATA_FILES}
    _write_atomic(files["contacts"], write_contacts)
    newsletter = _newsletter(rng, people, as_of, taken)
    _write_atomic(
        files["newsletter"],
        lambda h: h.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in newsletter),
    )
    order_rows = _orders(rng, people, orders, as_of)
    _write_atomic(
        files["orders"],
        lambda h: h.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in order_rows),
    )
    return SynthSummary(
        contacts=len(people), newsletter=len(newsletter), orders=len(order_rows), files=files
    )


def _newsletter(
    rng: random.Random, people: list[dict[str, Any]], as_of: dt.date, taken: set[str]
) -> list[dict[str, Any]]:
    size = round(len(people) * 0.35)
    with_email = [p for p in people if p["clean_email"]]
    customers = rng.sample(with_email, min(len(with_email), round(size * 0.6)))
    rows: list[dict[str, Any]] = []
    interests = ("running", "yoga", "cycling", "hiking", "swimming", "fitness")
    for i in range(size):
        if i < len(customers):
            person = customers[i]
            email = (
                _mess(rng, person["clean_email"]) if rng.random() < 0.3 else person["clean_email"]
            )
            first = person["first_name"]
        else:
            loc = rng.choices(LOCALES, [x.weight for x in LOCALES])[0]
            first, last = rng.choice(loc.first), rng.choice(loc.last)
            email = _email(rng, first, last, loc, taken)
        moment = dt.datetime.combine(
            as_of - dt.timedelta(days=rng.randint(0, 3 * 365)),
            dt.time(rng.randint(0, 23), rng.randint(0, 59)),
        )
        rows.append({
            "email": email,
            "first_name": first,
            "subscribed": rng.random() >= 0.15,
            "signed_up_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": rng.choice(["footer_form", "checkout", "contest", "popup"]),
            "interests": rng.sample(interests, rng.randint(0, 3)),
        })  # fmt: skip
    rng.shuffle(rows)
    return rows


def _orders(
    rng: random.Random, people: list[dict[str, Any]], count: int, as_of: dt.date
) -> list[dict[str, Any]]:
    buyers = [p for p in people if rng.random() >= 0.35]
    if not buyers or count == 0:
        return []
    windows: list[tuple[dt.date, dt.date]] = []
    baskets: list[float] = []
    for p in buyers:
        end = as_of
        if rng.random() < 0.2:  # lapsed: last activity 6 to 24 months ago
            lapsed_end = as_of - dt.timedelta(days=rng.randint(180, 730))
            if lapsed_end > p["signup"]:
                end = lapsed_end
        windows.append((p["signup"], end))
        baskets.append(min(400.0, max(25.0, rng.lognormvariate(4.1, 0.7))))
    weights = [rng.paretovariate(1.2) for _ in buyers]
    picks = rng.choices(range(len(buyers)), weights, k=count)
    raw: list[tuple[dt.datetime, int]] = []
    for index in picks:
        start, end = windows[index]
        while True:
            moment = _moment(rng, start, end, buyers[index]["locale"].offset)
            if moment.month >= 11 or rng.random() < 0.75:  # busier in November and December
                break
        raw.append((moment, index))
    raw.sort(key=lambda item: (item[0].astimezone(dt.UTC), item[1]))
    rows = []
    for n, (moment, index) in enumerate(raw, start=1):
        person = buyers[index]
        amount = Decimal(str(round(baskets[index] * rng.uniform(0.5, 1.5), 2))).quantize(
            Decimal("0.01")
        )
        rows.append({
            "order_id": f"O{n:07d}",
            "customer_id": person["id"],
            "ordered_at": moment.isoformat(),
            "amount": str(amount),
            "currency": person["locale"].currency,
            "items": rng.randint(1, 8),
            "channel": rng.choices(["web", "app", "store"], [60, 25, 15])[0],
            "status": "refunded" if rng.random() < 0.04 else "completed",
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m segsync.sandbox.synth", description="Write a synthetic audience."
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=30000)
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
    )
    args = parser.parse_args(argv)
    summary = generate(
        args.out, seed=args.seed, contacts=args.contacts, orders=args.orders, as_of=args.as_of
    )
    print(
        f"wrote {summary.contacts:,} contacts, {summary.newsletter:,} newsletter sign-ups and "
        f"{summary.orders:,} orders into {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
