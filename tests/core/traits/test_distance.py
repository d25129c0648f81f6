"""``distance`` traits against a plain-Python haversine."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import ValidationError
from traitkit import TraitDb, utc

from segsync.model.profile import BUILTIN_COLUMNS
from segsync.plugins import reset_plugins
from segsync.traits import build_trait
from segsync.traits.distance import Distance, DistanceSettings

AS_OF = utc("2026-03-01T00:00:00")
PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def ref_km(a: tuple[float, float], b: tuple[Any, Any]) -> float | None:
    lat, lon = b
    if lat is None or lon is None:
        return None
    lat, lon = float(lat), float(lon)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    p1, p2 = math.radians(a[0]), math.radians(lat)
    dp, dl = p2 - p1, math.radians(lon - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


def compute(
    db: TraitDb,
    points: Mapping[str, tuple[Any, Any]],
    center: tuple[float, float],
    type_: str = "DOUBLE",
) -> dict[str, Any]:
    db.load(list(points), [])
    con = db.store.con
    con.execute(
        f"CREATE OR REPLACE TABLE profiles (profile_key VARCHAR NOT NULL, la {type_}, lo {type_})"
    )
    con.executemany("INSERT INTO profiles VALUES (?, ?, ?)", [[k, *v] for k, v in points.items()])
    trait = {
        "kind": "distance",
        "lat": center[0],
        "lon": center[1],
        "lat_column": "la",
        "lon_column": "lo",
    }
    return {k: v["km"] for k, v in db.compute({"km": trait}, AS_OF).items()}


def test_paris_london(db: TraitDb) -> None:
    got = compute(db, {"london": LONDON, "paris": PARIS}, PARIS)
    assert got["paris"] == 0.0
    assert got["london"] == pytest.approx(343.5, abs=0.1)
    assert got["london"] == pytest.approx(ref_km(PARIS, LONDON), abs=1e-9)


def test_against_the_reference_at_the_edges(db: TraitDb) -> None:
    points: dict[str, tuple[Any, Any]] = {
        "antipode": (-PARIS[0], PARIS[1] - 180),  # half the circumference
        "north_pole": (90, 0),
        "south_pole": (-90, 123),
        "dateline_e": (0, 180),
        "dateline_w": (0, -180),
        "near": (PARIS[0] + 0.00001, PARIS[1]),  # about 1.1 m
        "sydney": (-33.8688, 151.2093),
        "no_lat": (None, 2.0),
        "no_lon": (48.0, None),
        "lat_range": (90.0001, 0),
        "lon_range": (0, -180.0001),
        "nan": (float("nan"), 0),
        "inf": (0, float("inf")),
    }
    got = compute(db, points, PARIS)
    for key, point in points.items():
        expected = ref_km(PARIS, point)
        if expected is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(expected, rel=1e-12, abs=1e-9), key
    assert got["antipode"] == pytest.approx(math.pi * 6371.0088)
    assert got["dateline_e"] == pytest.approx(got["dateline_w"])
    assert got["near"] == pytest.approx(0.00111, abs=1e-5)  # km


def test_decimal_and_integer_columns(db: TraitDb) -> None:
    got = compute(db, {"x": (51.5074, -0.1278)}, PARIS, "DECIMAL(18,4)")
    assert got["x"] == pytest.approx(ref_km(PARIS, LONDON), abs=1e-9)
    got = compute(db, {"x": (0, 0), "y": (91, 0)}, (0.0, 1.0), "BIGINT")
    assert got["x"] == pytest.approx(2 * math.pi * 6371.0088 / 360)
    assert got["y"] is None


def test_settings_are_checked() -> None:
    ok = {"lat": 0, "lon": 0, "lat_column": "la", "lon_column": "lo"}
    with pytest.raises(ValidationError, match="less than or equal to 90"):
        DistanceSettings(**{**ok, "lat": 90.5})
    with pytest.raises(ValidationError, match="greater than or equal to -180"):
        DistanceSettings(**{**ok, "lon": -181})
    with pytest.raises(ValidationError, match="expected a profile column name"):
        DistanceSettings(**{**ok, "lat_column": 'la"; drop table x; --'})
    with pytest.raises(ValidationError, match="expected different lat_column and lon_column"):
        DistanceSettings(**{**ok, "lon_column": "la"})
    with pytest.raises(ValidationError, match="Field required"):
        DistanceSettings(lat=0, lon=0, lat_column="la")  # type: ignore[call-arg]


def test_check_against_the_profile_columns() -> None:
    spec = build_trait(
        "km", Distance, {"lat": 0, "lon": 0, "lat_column": "latitude", "lon_column": "city"}
    )
    assert spec.trait.check({**BUILTIN_COLUMNS, "latitude": "double", "city": "text"}) == [
        "traits.km.lon_column: expected a numeric column, found 'city' of type text"
    ]
    assert spec.trait.check(dict(BUILTIN_COLUMNS)) == [
        "traits.km.lat_column: expected a profile column (declare it in [attributes]), "
        "found 'latitude'",
        "traits.km.lon_column: expected a profile column (declare it in [attributes]), "
        "found 'city'",
    ]
