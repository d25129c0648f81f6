"""``cluster`` traits: k-means fitted in the store, against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import random
import statistics
import textwrap
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from traitkit import TraitDb, utc

from segsync.config import load_config
from segsync.errors import ConfigError
from segsync.plugins import load_plugins, reset_plugins
from segsync.traits import TraitContext
from segsync.traits.cluster import Cluster
from segsync.traits.kmeans import persona

AS_OF = utc("2026-03-01T00:00:00")
DAY = dt.timedelta(days=1)
COLUMNS = {
    "profile_key": "VARCHAR NOT NULL",
    "email": "VARCHAR",
    "orders_count": "BIGINT",
    "revenue": "DECIMAL(18,4)",
    "last_order_at": "TIMESTAMP",
    "score": "DOUBLE",
}

Row = dict[str, Any]


@pytest.fixture(scope="module")
def db() -> Iterator[TraitDb]:
    reset_plugins()
    yield TraitDb()
    reset_plugins()


def load(db: TraitDb, rows: Sequence[Row]) -> None:
    """Replace ``profiles`` with ``rows`` (missing columns are NULL), in the order given."""
    con = db.store.con
    con.execute(
        "CREATE OR REPLACE TABLE profiles ("
        + ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
        + ")"
    )
    if rows:
        con.executemany(
            f"INSERT INTO profiles VALUES ({', '.join('?' for _ in COLUMNS)})",
            [[r.get(c) for c in COLUMNS] for r in rows],
        )
    con.execute("DELETE FROM profile_events")


def cluster(**extra: Any) -> dict[str, Any]:
    return {"kind": "cluster", **extra}


def labels(db: TraitDb, trait: Mapping[str, Any], name: str = "persona") -> dict[str, str]:
    got = db.compute({name: trait}, AS_OF)
    return {k: v[name] for k, v in got.items()}


def blobs(seed: int = 7, per: int = 40) -> tuple[list[Row], dict[str, int]]:
    """Three well-separated blobs in (orders_count, score); key → blob."""
    rng = random.Random(seed)
    centres = [(2, 10.0), (10, 80.0), (20, 30.0)]
    rows, blob = [], {}
    for b, (orders, score) in enumerate(centres):
        for i in range(per):
            key = f"b{b}-{i:03d}"
            rows.append(
                {"profile_key": key, "orders_count": orders + rng.randint(-1, 1),
                 "score": score + rng.uniform(-3, 3)}
            )  # fmt: skip
            blob[key] = b
    return rows, blob


def partition(assigned: Mapping[str, Any]) -> set[frozenset[str]]:
    groups: dict[Any, set[str]] = {}
    for key, label in assigned.items():
        groups.setdefault(label, set()).add(key)
    return {frozenset(g) for g in groups.values()}


# -- behaviour ------------------------------------------------------------------------------


def test_well_separated_blobs_are_recovered_and_labelled_in_centroid_order(db: TraitDb) -> None:
    rows, blob = blobs()
    load(db, rows)
    names = ["few orders", "some orders", "many orders"]
    got = labels(db, cluster(features=["orders_count", "score"], k=3, names=names))
    assert partition(got) == partition(blob)
    # ordered by the first feature's centroid: blob 0 has the fewest orders
    assert {got[k] for k, b in blob.items() if b == 0} == {"few orders"}
    assert {got[k] for k, b in blob.items() if b == 1} == {"some orders"}
    assert {got[k] for k, b in blob.items() if b == 2} == {"many orders"}
    default = labels(db, cluster(features=["orders_count", "score"], k=3))
    assert set(default.values()) == {"cluster 1", "cluster 2", "cluster 3"}
    assert {default[k] for k, b in blob.items() if b == 0} == {"cluster 1"}


def test_distance_is_to_the_centroid_in_standardised_units(db: TraitDb) -> None:
    rows, _ = blobs()
    load(db, rows)
    got = db.compute({"persona": cluster(features=["orders_count", "score"], k=3)}, AS_OF)
    stats = db.store.dicts(
        "SELECT avg(orders_count) AS mo, stddev_pop(orders_count) AS so, "
        "avg(score) AS ms, stddev_pop(score) AS ss FROM profiles"
    )[0]
    centroids = {
        r["label"]: json.loads(r["centroid"])
        for r in db.store.dicts("SELECT * FROM trait_clusters WHERE trait = 'persona'")
    }
    for row in rows:
        c = centroids[got[row["profile_key"]]["persona"]]
        zo = (row["orders_count"] - c["orders_count"]) / stats["so"]
        zs = (row["score"] - c["score"]) / stats["ss"]
        assert got[row["profile_key"]]["persona_distance"] == pytest.approx(
            math.hypot(zo, zs), rel=1e-5, abs=1e-6
        )


def test_same_seed_same_labels_whatever_the_row_order(db: TraitDb) -> None:
    rows, _ = blobs(seed=3)
    # overlapping data, where the initialisation matters
    rng = random.Random(5)
    rows += [
        {"profile_key": f"x{i:03d}", "orders_count": rng.randint(0, 22),
         "score": rng.uniform(0, 90)}
        for i in range(60)
    ]  # fmt: skip
    trait = cluster(features=["orders_count", "score"], k=4, seed=11)
    load(db, rows)
    first = labels(db, trait)
    assert labels(db, trait) == first
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    load(db, shuffled)
    assert labels(db, trait) == first
    load(db, list(reversed(rows)))
    assert labels(db, trait) == first


def test_a_feature_in_thousands_does_not_dominate(db: TraitDb) -> None:
    """orders_count has two tight groups (1 vs 3); revenue is uniform noise in the
    thousands. Unstandardised, k-means would split on revenue; standardised, on orders."""
    rng = random.Random(2)
    rows: list[Row] = [
        {"profile_key": f"p{i:03d}", "orders_count": 1 if i % 2 else 3,
         "revenue": Decimal(rng.randint(0, 10_000_000)) / 1000}
        for i in range(200)
    ]  # fmt: skip
    load(db, rows)
    got = labels(db, cluster(features=["revenue", "orders_count"], k=2))
    by_orders = {r["profile_key"]: r["orders_count"] for r in rows}
    assert partition(got) == partition(by_orders)


def test_null_features_count_as_the_mean(db: TraitDb) -> None:
    rows, _ = blobs(per=20)
    rows += [
        {"profile_key": "null-score", "orders_count": 2},  # blob 0's orders, no score
        {"profile_key": "null-all"},
        {"profile_key": "nan-score", "orders_count": 2, "score": math.nan},  # as NULL
    ]
    load(db, rows)
    got = db.compute({"persona": cluster(features=["orders_count", "score"], k=3)}, AS_OF)
    assert got["null-score"]["persona"] == got["b0-000"]["persona"]
    assert got["nan-score"]["persona"] == got["b0-000"]["persona"]
    assert got["nan-score"]["persona_distance"] == got["null-score"]["persona_distance"]
    assert got["null-all"]["persona"] is not None
    assert got["null-all"]["persona_distance"] is not None
    # the mean ignores NULLs: the NULLs do not pull it
    known = [r for r in rows if r.get("score") is not None and not math.isnan(r["score"])]
    centroids = db.store.dicts("SELECT * FROM trait_clusters WHERE trait = 'persona'")
    sizes = {r["label"]: r["size"] for r in centroids}
    assert sum(sizes.values()) == len(rows)
    mean_score = statistics.fmean(r["score"] for r in known)
    persona_text = " ".join(r["persona"] for r in centroids)
    assert f"all: median 30, mean {mean_score:,.0f})" in persona_text
    # null-all sits at the mean: its distance is the centroid's distance from the origin
    label = got["null-all"]["persona"]
    c = json.loads(next(r["centroid"] for r in centroids if r["label"] == label))
    values = [r["orders_count"] for r in rows if r.get("orders_count") is not None]
    mo, so = statistics.fmean(values), statistics.pstdev(values)
    ss = statistics.pstdev(r["score"] for r in known)
    expected = math.hypot((c["orders_count"] - mo) / so, (c["score"] - mean_score) / ss)
    assert got["null-all"]["persona_distance"] == pytest.approx(expected, rel=1e-6)


def test_more_clusters_than_distinct_points(db: TraitDb) -> None:
    rows = [
        {"profile_key": f"{name}{i}", "orders_count": orders, "score": score}
        for name, orders, score in (("a", 1, 5.0), ("b", 4, 5.0), ("c", 9, 1.0))
        for i in range(3)
    ]
    load(db, rows)
    got = labels(db, cluster(features=["orders_count", "score"], k=5))
    assert partition(got) == {
        frozenset(f"{n}{i}" for i in range(3)) for n in "abc"
    }  # one cluster per distinct point
    recorded = db.store.dicts("SELECT * FROM trait_clusters ORDER BY cluster")
    assert [r["cluster"] for r in recorded] == [1, 2, 3, 4, 5]
    assert sorted(r["size"] for r in recorded) == [0, 0, 3, 3, 3]
    # a single profile, k = 2
    load(db, [{"profile_key": "only", "orders_count": 3, "score": 1.0}])
    single = db.compute({"persona": cluster(features=["orders_count", "score"], k=2)}, AS_OF)
    assert single["only"]["persona"] == "cluster 1"
    assert single["only"]["persona_distance"] == 0.0


def test_no_profiles(db: TraitDb) -> None:
    load(db, [])
    assert db.compute({"persona": cluster(features=["orders_count"])}, AS_OF) == {}
    assert db.store.rows("SELECT * FROM trait_clusters WHERE trait = 'persona'") == []


def test_two_cluster_traits_keep_their_own_rows(db: TraitDb) -> None:
    rows, _ = blobs(per=10)
    load(db, rows)
    db.compute(
        {"a": cluster(features=["orders_count"], k=2), "b": cluster(features=["score"], k=3)},
        AS_OF,
    )
    counts = dict(db.store.rows("SELECT trait, count(*) FROM trait_clusters GROUP BY 1"))
    assert counts == {"a": 2, "b": 3}


def test_an_empty_cluster_is_reseeded_at_the_farthest_point(db: TraitDb) -> None:
    con = db.store.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _segsync_cluster_points AS SELECT * FROM (VALUES "
        "(0, 0.0, 0.0, 0), (1, 1.0, 0.0, 0), (2, 5.0, 0.0, 1), (3, 9.0, 0.0, 1), "
        "(4, 7.0, 0.0, 1)) t(i, z0, z1, c)"
    )
    trait = Cluster("persona", Cluster.Settings(features=["a", "b"], k=4))
    try:
        new = trait._update(
            db.store.engine, 2, [(0.0, 0.0), (6.0, 0.0), (100.0, 0.0), (-50.0, 0.0)]
        )
    finally:
        con.execute("DROP TABLE _segsync_cluster_points")
    # means 0.5 and 7; distances to them: 0.25, 0.25, 4, 4, 0 -> i=2 then i=3 (ties: first i)
    assert new == [(0.5, 0.0), (7.0, 0.0), (5.0, 0.0), (9.0, 0.0)]


def test_query_needs_the_fit() -> None:
    settings = Cluster.Settings(features=["orders_count"])
    trait = Cluster("persona", settings)
    with pytest.raises(RuntimeError, match="prepare"):
        trait.query(TraitContext(as_of=AS_OF))


# -- the persona ----------------------------------------------------------------------------


def test_persona_text_names_the_median_and_the_mean() -> None:
    text = persona(
        412,
        ["orders_count", "revenue", "days_since_last_order"],
        [1.2, 2.5, -0.8],
        [(5.0, 6.1), (1100.0, 1240.0), (14.0, 21.0)],
        [(1.0, 2.0), (120.0, 310.0), (150.0, 140.0)],
    )
    assert text == (
        "412 people: revenue high (median 1,100, mean 1,240; all: median 120, mean 310), "
        "orders_count high (median 5.0, mean 6.1; all: median 1.0, mean 2.0), "
        "days_since_last_order low (median 14, mean 21; all: median 150, mean 140)"
    )
    assert persona(1, ["x"], [0.2], [(0.04, 0.04)], [(0.0, -0.01)]) == (
        "1 person: x typical (median 0.0, mean 0.0; all: median 0.0, mean 0.0)"
    )
    assert persona(2, ["x"], [0.0], [(None, None)], [(1.0, 1.0)]) == (
        "2 people: x typical (median -, mean -; all: median 1.0, mean 1.0)"
    )


def test_personas_are_recorded_and_logged(db: TraitDb, caplog: pytest.LogCaptureFixture) -> None:
    rows, blob = blobs()
    for row in rows:
        b = blob[row["profile_key"]]
        row["revenue"] = Decimal((50, 400, 3000)[b])
        row["last_order_at"] = AS_OF - (300, 30, 5)[b] * DAY
    load(db, rows)
    features = ["orders_count", "revenue", "days_since_last_order"]
    names = ["lapsed", "regulars", "big spenders"]
    with caplog.at_level(logging.INFO, logger="segsync.traits"):
        got = labels(db, cluster(features=features, k=3, names=names))
    assert {got[k] for k, b in blob.items() if b == 2} == {"big spenders"}
    recorded = db.store.dicts("SELECT * FROM trait_clusters WHERE trait = 'persona'")
    assert [(r["cluster"], r["label"], r["size"]) for r in recorded] == [
        (1, "lapsed", 40),
        (2, "regulars", 40),
        (3, "big spenders", 40),
    ]
    big = recorded[2]
    assert json.loads(big["centroid"])["revenue"] == pytest.approx(3000)
    assert json.loads(big["centroid"])["days_since_last_order"] == pytest.approx(5)
    assert big["persona"].startswith("40 people: ")
    for feature in features:
        assert all(feature in r["persona"] for r in recorded)
    assert "revenue high (median 3,000, mean 3,000; all: median 400, mean 1,150)" in big["persona"]
    assert (
        "days_since_last_order low (median 5.0, mean 5.0; all: median 30, mean 112)"
        in big["persona"]
    )
    assert (
        "days_since_last_order high (median 300, mean 300; all: median 30, mean 112)"
        in recorded[0]["persona"]
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "segsync.traits"]
    for r in recorded:
        assert any(r["persona"] in message and r["label"] in message for message in logged)


# -- a plain-Python reference -----------------------------------------------------------------


def ref_kmeans(
    rows: Sequence[Row],
    features: Sequence[str],
    *,
    k: int,
    seed: int,
    sample: int,
    max_iterations: int,
    as_of: dt.datetime = AS_OF,
    transform: Mapping[str, str] | None = None,
) -> tuple[dict[str, int], list[list[float]]]:
    """The documented algorithm, written out naively: key → cluster number (1-based, in the
    documented order), and the centroids in the features' own units, in that order. A
    timestamp feature is days before ``as_of``; ``transform`` maps features to ``log1p``."""
    logged = {f for f, t in (transform or {}).items() if t == "log1p"}

    def raw_value(row: Row, feature: str) -> float | None:
        if feature in ("days_since_last_order", "last_order_at"):
            last = row.get("last_order_at")
            if last is None:
                return None
            return float((as_of - last) // DAY)
        raw = row.get(feature)
        return None if raw is None else float(raw)

    def value(row: Row, feature: str) -> float | None:
        v = raw_value(row, feature)
        if feature in logged and v is not None:
            return math.log1p(v) if v > -1 else None
        return v

    def h(row: Row) -> tuple[str, str]:
        key = row["profile_key"]
        return hashlib.md5(f"{seed}:{key}".encode()).hexdigest(), key

    chosen = sorted(rows, key=h)[:sample]
    means, scales = [], []
    for f in features:
        present = [v for r in chosen if (v := value(r, f)) is not None]
        mean = statistics.fmean(present) if present else 0.0
        sd = statistics.pstdev(present) if present else 0.0
        means.append(mean)
        scales.append(sd if sd > 0 else 1.0)

    def z(row: Row) -> list[float]:
        out = []
        for f, m, s in zip(features, means, scales, strict=True):
            v = value(row, f)
            out.append(((m if v is None else v) - m) / s)
        return out

    def d2(a: Sequence[float], b: Sequence[float]) -> float:
        total = 0.0
        for x, y in zip(a, b, strict=True):
            total += (x - y) * (x - y)
        return total

    def nearest(p: Sequence[float], cs: Sequence[Sequence[float]]) -> int:
        ds = [d2(p, c) for c in cs]
        return ds.index(min(ds))

    points = [z(r) for r in chosen]
    rng = random.Random(seed)
    centroids = [points[rng.randrange(len(points))]]
    while len(centroids) < k:
        ds = [min(d2(p, c) for c in centroids) for p in points]
        total = 0.0
        for d in ds:
            total += d
        if total <= 0:
            centroids.append(centroids[0])
            continue
        target = rng.random() * total
        running = 0.0
        for i, d in enumerate(ds):
            running += d
            if running > target:
                centroids.append(points[i])
                break
    assign = [nearest(p, centroids) for p in points]
    for _ in range(max_iterations):
        new = []
        for c in range(k):
            members = [p for p, a in zip(points, assign, strict=True) if a == c]
            new.append(
                [statistics.fmean(col) for col in zip(*members, strict=True)]
                if members
                else centroids[c]
            )
        empty = [c for c in range(k) if c not in assign]
        far = sorted(
            ((d2(p, new[a]), -i) for i, (p, a) in enumerate(zip(points, assign, strict=True))),
            reverse=True,
        )
        for c, (d, minus_i) in zip(empty, far, strict=False):
            if d > 0:
                new[c] = points[-minus_i]
        centroids = new
        again = [nearest(p, centroids) for p in points]
        if again == assign:
            break
        assign = again
    sizes = Counter(assign)
    order = sorted(range(k), key=lambda c: (centroids[c], -sizes[c], c))
    number = {c: n for n, c in enumerate(order, 1)}

    def own_units(f: str, v: float) -> float:
        return math.expm1(v) if f in logged else v

    return (
        {r["profile_key"]: number[nearest(z(r), centroids)] for r in rows},
        [
            [
                own_units(f, v * s + m)
                for f, v, s, m in zip(features, centroids[c], scales, means, strict=True)
            ]
            for c in order
        ],
    )


def mixed_rows(n: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        group = rng.randrange(3)
        rows.append(
            {
                "profile_key": f"k{rng.getrandbits(32):08x}{i}",
                "orders_count": None if rng.random() < 0.1 else (1, 4, 9)[group] + rng.randint(0, 4),
                "revenue": Decimal(rng.randint(0, (20_000, 90_000, 400_000)[group])) / 100,
                "last_order_at": AS_OF - rng.randint(0, (400, 90, 30)[group]) * DAY
                - dt.timedelta(hours=rng.randint(0, 23)),
            }
        )  # fmt: skip
    return rows


@pytest.mark.parametrize(
    ("seed", "k", "sample", "max_iterations"),
    [(42, 3, 1000, 50), (7, 4, 1000, 50), (1, 5, 45, 50), (3, 3, 1000, 1), (9, 6, 1000, 2)],
)
def test_matches_a_plain_python_reference(
    db: TraitDb, seed: int, k: int, sample: int, max_iterations: int
) -> None:
    rows = mixed_rows(70, seed)
    features = ["orders_count", "revenue", "days_since_last_order"]
    load(db, rows)
    trait = cluster(features=features, k=k, seed=seed, sample=sample, max_iterations=max_iterations)
    got = labels(db, trait)
    expected, centroids = ref_kmeans(
        rows, features, k=k, seed=seed, sample=sample, max_iterations=max_iterations
    )
    assert got == {key: f"cluster {n}" for key, n in expected.items()}
    recorded = db.store.dicts(
        "SELECT centroid FROM trait_clusters WHERE trait = 'persona' ORDER BY cluster"
    )
    assert [list(json.loads(r["centroid"]).values()) for r in recorded] == [
        pytest.approx(c, rel=1e-6, abs=1e-5) for c in centroids
    ]


@pytest.mark.parametrize("seed", [42, 5])
def test_a_log1p_transform_and_a_time_feature_match_the_reference(db: TraitDb, seed: int) -> None:
    rows = mixed_rows(70, seed)
    rng = random.Random(seed)
    for row in rows[::9]:
        row["revenue"] = Decimal(rng.randrange(20_000, 90_000))  # a few very big spenders
    features = ["orders_count", "revenue", "last_order_at"]
    transform = {"revenue": "log1p"}
    load(db, rows)
    trait = cluster(features=features, k=3, seed=seed, transform=transform)
    got = labels(db, trait)
    expected, centroids = ref_kmeans(
        rows, features, k=3, seed=seed, sample=1000, max_iterations=50, transform=transform
    )
    assert got == {key: f"cluster {n}" for key, n in expected.items()}
    recorded = db.store.dicts(
        "SELECT centroid, persona FROM trait_clusters WHERE trait = 'persona' ORDER BY cluster"
    )
    assert [list(json.loads(r["centroid"]).values()) for r in recorded] == [
        pytest.approx(c, rel=1e-6, abs=1e-5) for c in centroids
    ]
    # personas give each cluster's median and mean in the feature's own units
    members = [k for k, n in expected.items() if n == 1]
    revenue = sorted(float(r["revenue"]) for r in rows if r["profile_key"] in members
                     and r.get("revenue") is not None)  # fmt: skip
    if revenue:
        median = statistics.median(revenue)
        shown = f"{median:,.0f}" if abs(median) >= 10 else f"{median:,.1f}"
        assert f"median {shown}, mean" in recorded[0]["persona"]


def test_transform_names_a_feature(tmp_path: Path) -> None:
    problems = config_problems(
        tmp_path,
        """
        [traits.persona]
        kind = "cluster"
        features = ["orders_count"]
        transform = { revenue = "log1p" }
        """,
    )
    assert problems == [
        "traits.persona.transform: 'revenue' is not among the features (orders_count)"
    ]


# -- configuration ----------------------------------------------------------------------------


def config_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "segsync.toml"
    path.write_text('[attributes]\ncountry = "text"\n' + textwrap.dedent(text))
    reset_plugins()
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path, load_plugins(None))
    finally:
        reset_plugins()
    return [p.removeprefix(f"{path}: ") for p in info.value.errors]


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    found = config_problems(
        tmp_path,
        """
        [traits.a]
        kind = "cluster"
        features = ["revenue"]
        k = 1

        [traits.b]
        kind = "cluster"
        features = ["revenue"]
        k = 21

        [traits.c]
        kind = "cluster"
        features = ["revenue", "orders_count"]
        k = 3
        names = ["low", "high"]

        [traits.d]
        kind = "cluster"
        features = []

        [traits.e]
        kind = "cluster"
        features = ["revenue", "revenue"]

        [traits.f]
        kind = "cluster"
        features = ["revenue"]
        k = 2
        names = ["same", "same"]

        [traits.g]
        kind = "cluster"
        features = ["a b"]
        """,
    )
    assert found == [
        "traits.a.k: expected greater than or equal to 2; found 1 (int)",
        "traits.b.k: expected less than or equal to 20; found 21 (int)",
        "traits.c.names: expected 3 names, one per cluster (k = 3), not 2; found a list",
        "traits.d.features: expected at least one feature (a numeric profile column); found a list",
        "traits.e.features: expected each feature once, found revenue twice; found a list",
        "traits.f.names: expected distinct names, found 'same'; found a list",
        "traits.g.features: expected profile column names (letters, digits and '_'), "
        "found 'a b'; found a list",
    ]


def test_a_valid_config_adds_two_columns(tmp_path: Path) -> None:
    path = tmp_path / "segsync.toml"
    path.write_text(
        textwrap.dedent(
            """
            [attributes]
            ltv = "double"

            [traits.persona]
            kind = "cluster"
            features = ["orders_count", "revenue", "days_since_last_order", "ltv"]
            names = ["a", "b", "c", "d"]

            [segments.big]
            where = "persona = 'd' AND persona_distance < 2"
            """
        )
    )
    reset_plugins()
    try:
        config = load_config(path, load_plugins(None))
    finally:
        reset_plugins()
    assert config.columns["persona"] == "text"
    assert config.columns["persona_distance"] == "double"
    settings = config.traits["persona"].settings
    assert (settings.k, settings.seed, settings.max_iterations, settings.sample) == (  # type: ignore[attr-defined]
        4,
        42,
        50,
        200_000,
    )


def test_unknown_or_non_numeric_features_fail_when_computed(db: TraitDb) -> None:
    load(db, [{"profile_key": "p", "orders_count": 1, "email": "a@example.com"}])
    with pytest.raises(ConfigError) as info:
        db.compute({"persona": cluster(features=["orders_count", "spend_90d"])}, AS_OF)
    message = str(info.value)
    assert message.startswith("traits.persona.features: unknown profile column 'spend_90d'; ")
    assert "orders_count" in message and "days_since_last_order" in message
    assert "unknown profile column 'spend_90d'" in message
    with pytest.raises(ConfigError) as info:
        db.compute({"persona": cluster(features=["email", "nope"])}, AS_OF)
    assert info.value.errors[0].startswith(
        "traits.persona.features: 'email' is a text profile column; expected a numeric"
    )
    assert info.value.errors[1].startswith("traits.persona.features: unknown profile column 'nope'")
