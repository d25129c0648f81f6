"""The ``clv`` and ``propensity`` trait kinds end to end on a store: the per-customer summary
computed in SQL, the fits, the scores written back and joined, the diagnostics, refusals.

The CLV test loads the CDNOW sample (Lifetimes 0.11.3, see ``cdnowkit``) as events and checks
that the trait reproduces the published summary, the published BG/NBD and Gamma-Gamma
estimates (Fader, Hardie & Lee 2005; Fader & Hardie 2013) within 1 %, and, customer by
customer, the predictions of ``segsync.predict`` called on the published summary."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from cdnowkit import CALIBRATION_END, summary_with_transactions, transactions

from segsync.pipeline.traits import TraitResults, compute_traits
from segsync.plugins import load_plugins, reset_plugins
from segsync.predict import (
    BgNbdParams,
    GammaGammaParams,
    conditional_expected_average_profit,
    expected_purchases,
    p_alive,
    p_purchase,
    summarize,
)
from segsync.predict.bgnbd import discounted_expected_purchases
from segsync.predict.simulate import simulate_events
from segsync.state.store import Store
from segsync.traits import build_trait

AS_OF = CALIBRATION_END + dt.timedelta(days=1)  # events up to 1997-09-30 included
PUBLISHED_BG = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}  # alpha per day
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


class Db:
    """An in-memory store with profiles and order events."""

    def __init__(self) -> None:
        reset_plugins()
        self.store = Store.memory()
        self.kinds = load_plugins(None).trait_kinds

    def load(
        self, keys: Sequence[str], events: Sequence[tuple[str, dt.datetime, float | None]]
    ) -> None:
        con, engine = self.store.con, self.store.engine
        con.execute("CREATE OR REPLACE TABLE profiles (profile_key VARCHAR NOT NULL)")
        engine.insert_rows("profiles", ["profile_key"], [[k] for k in keys])
        con.execute("DELETE FROM profile_events")
        engine.insert_rows(
            "profile_events",
            ["profile_key", "event_id", "type", "occurred_at", "value", "properties"],
            [[k, f"e{i}", "order", at, value, "{}"] for i, (k, at, value) in enumerate(events)],
        )

    def compute(
        self, traits: Mapping[str, Mapping[str, Any]], as_of: dt.datetime
    ) -> tuple[dict[str, dict[str, Any]], TraitResults]:
        specs = {}
        for name, raw in traits.items():
            values = dict(raw)
            specs[name] = build_trait(name, self.kinds[values.pop("kind")], values)
        results = compute_traits(self.store.engine, specs, as_of=as_of)
        rows = self.store.dicts("SELECT * FROM segment_profiles ORDER BY profile_key")
        return {r.pop("profile_key"): r for r in rows}, results


@pytest.fixture(scope="module")
def cdnow_db() -> Iterator[Db]:
    db = Db()
    log = transactions()
    keys = [f"c{i + 1:04d}" for i in range(2357)]
    events = [
        (keys[c], dt.datetime.fromisoformat(str(d)), float(Decimal(v)))
        for c, d, v in zip(log.customer, log.date, log.raw_value, strict=True)
    ]
    db.load([*keys, "prospect"], events)
    yield db
    reset_plugins()


CLV = {"kind": "clv", "horizon": "39w", "discount_rate": 0.1, "margin": 0.3}


def test_clv_reproduces_the_published_cdnow_model(cdnow_db: Db) -> None:
    got, results = cdnow_db.compute({"clv": CLV}, AS_OF)
    (model,) = results.models
    assert model.status == "fitted", model.message
    assert model.rows["customers"] == 2357 and model.rows["repeat_buyers"] == 946
    for name, want in {**PUBLISHED_BG, **PUBLISHED_GG}.items():
        assert model.parameters[name] == pytest.approx(want, rel=0.01), name
    assert model.details["unit"] == "day" and model.details["horizon"] == "39w"

    # the working tables are gone once the trait is computed
    assert cdnow_db.store.rows(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_segsync_clv%'"
    ) == [(0,)]

    # customer by customer: the predictions of segsync.predict on the daily summary of the
    # transactions, which is the published summary (times in weeks to 2 decimals = days / 7)
    log = transactions()
    daily = summarize(log.customer, log.date, log.value, end=CALIBRATION_END, period="day")
    published = summary_with_transactions()
    assert np.array_equal(daily.x, published.x)
    assert np.abs(daily.t_x / 7 - published.t_x).max() <= 0.005 + 1e-9
    assert np.abs(daily.T / 7 - published.T).max() <= 0.005 + 1e-9
    assert np.abs(daily.monetary - published.zbar).max() <= 0.005 + 1e-9
    bg = BgNbdParams(**{k: model.parameters[k] for k in ("r", "alpha", "a", "b")})
    gg = GammaGammaParams(**{k: model.parameters[k] for k in ("p", "q", "v")})
    x, t_x, T = daily.x.astype(float), daily.t_x, daily.T
    horizon = 39 * 7
    want = {
        "clv_expected_purchases_39w": expected_purchases(bg, horizon, x, t_x, T),
        "clv_p_alive": p_alive(bg, x, t_x, T),
        "clv_p_purchase_39w": p_purchase(bg, horizon, x, t_x, T),
    }
    per_period = 1.1 ** (39 * 7 / 365 / 12) - 1
    discounted = discounted_expected_purchases(
        bg, x, t_x, T, horizon=horizon, periods=12, discount_rate=per_period
    )
    spend = conditional_expected_average_profit(gg, x, daily.monetary)
    want["clv_expected_value_39w"] = 0.3 * spend * discounted
    for i, customer in enumerate(daily.customer):
        row = got[f"c{customer + 1:04d}"]
        for column, values in want.items():
            assert row[column] == pytest.approx(values[i], rel=1e-9, abs=1e-12), (customer, column)
        churn = 1 - row["clv_p_purchase_39w"]
        band = "high" if churn >= 0.8 else "medium" if churn >= 0.5 else "low"
        assert row["clv_churn_risk"] == band
    assert set(got["prospect"].values()) == {None}
    assert sum(model.bands.values()) == 2357
    assert model.bands == {
        band: sum(1 for r in got.values() if r["clv_churn_risk"] == band)
        for band in ("low", "medium", "high")
    }
    stored = cdnow_db.store.dicts("SELECT * FROM trait_models WHERE trait = 'clv'")
    assert len(stored) == 1 and stored[0]["status"] == "fitted"
    assert json.loads(stored[0]["summary"])["parameters"] == pytest.approx(model.parameters)


def test_too_few_repeat_buyers_leave_the_columns_empty_and_say_why(cdnow_db: Db) -> None:
    got, results = cdnow_db.compute({"clv": {**CLV, "min_repeat_buyers": 1000}}, AS_OF)
    (model,) = results.models
    assert model.status == "failed"
    assert model.message is not None and "946 repeat buyers among 2,357 customers" in model.message
    assert {v for row in got.values() for v in row.values()} == {None}
    (warning,) = [w for w in results.warnings if w.code == "model_failed"]
    assert warning.message.startswith("traits.clv: the CLV model was not fitted: 946 repeat")


def test_churn_bands_and_column_names_follow_the_settings(cdnow_db: Db) -> None:
    trait = {**CLV, "horizon": "90d", "churn_risk": {"safe": 0.0, "gone": 0.95}}
    got, results = cdnow_db.compute({"ltv": trait}, AS_OF)
    assert results.models[0].bands.keys() == {"safe", "gone"}
    columns = set(next(iter(got.values())))
    assert columns == {
        "ltv_expected_purchases_90d", "ltv_p_alive", "ltv_p_purchase_90d",
        "ltv_expected_value_90d", "ltv_churn_risk",
    }  # fmt: skip
    bands = {r["ltv_churn_risk"] for r in got.values()} - {None}
    assert bands == {"safe", "gone"}
    assert all(
        (r["ltv_churn_risk"] == "gone") == (1 - r["ltv_p_purchase_90d"] >= 0.95)
        for r in got.values()
        if r["ltv_churn_risk"] is not None
    )


# -- propensity ----------------------------------------------------------------------------


def simulated_db(seed: int = 7) -> tuple[Db, dt.datetime, list[tuple[str, dt.datetime, float]]]:
    """2,000 customers buying as a BG/NBD process over two years: who bought lately and often
    buys again, so recency and frequency predict the next 60 days."""
    log = simulate_events(
        BgNbdParams(r=1.2, alpha=8.0, a=0.6, b=3.0),
        GammaGammaParams(p=6.0, q=4.0, v=15.0),
        customers=2000,
        start=np.datetime64("2024-01-01"),
        unit=np.timedelta64(7, "D"),
        acquisition=52,
        horizon=104,
        seed=seed,
    )
    keys = [f"s{i:04d}" for i in range(2000)]
    events = [
        (keys[c], t.astype("datetime64[us]").astype(dt.datetime), round(float(v), 2))
        for c, t, v in zip(log.customer, log.time, log.value, strict=True)
    ]
    db = Db()
    db.load([*keys, "prospect"], events)  # a profile without any event
    end = log.end.astype("datetime64[us]").astype(dt.datetime)
    return db, end, events


PROPENSITY = {
    "kind": "propensity",
    "event": "order",
    "window": "60d",
    "training_windows": 2,
    "features": {
        "orders_365d": {"event": "order", "function": "count", "within": "365d"},
        "spend": {"event": "order", "function": "sum", "transform": "log1p"},
        "days_since": {"kind": "recency", "event": "order"},
        "avg_order": {"event": "order", "function": "avg"},
    },
}


def python_features(
    events: Sequence[tuple[str, dt.datetime, float]], keys: Sequence[str], as_of: dt.datetime
) -> dict[str, list[float | None]]:
    """The four features, written out in Python from the events before ``as_of``."""
    before: dict[str, list[tuple[dt.datetime, float]]] = {k: [] for k in keys}
    for key, at, value in events:
        if at < as_of:
            before[key].append((at, value))
    year = as_of - dt.timedelta(days=365)
    out: dict[str, list[float | None]] = {}
    for key in keys:
        mine = before[key]
        spend = sum(v for _, v in mine)
        last = max((at for at, _ in mine), default=None)
        days = None if last is None else (as_of - last) // dt.timedelta(days=1)
        out[key] = [
            float(sum(1 for at, _ in mine if at >= year)),
            math.log1p(spend),
            None if days is None else float(days),
            spend / len(mine) if mine else None,
        ]
    return out


def test_propensity_scores_in_sql_what_the_fitted_model_predicts() -> None:
    db, end, events = simulated_db()
    as_of = end - dt.timedelta(days=60)  # the last 60 days are the future nobody saw
    got, results = db.compute({"buy": PROPENSITY}, as_of)
    (model,) = results.models
    assert model.status == "fitted", model.message
    assert model.metrics["auc"] is not None and model.metrics["auc"] > 0.7
    assert model.rows["holdout"] > 0 and model.rows["train"] > model.rows["holdout"]
    assert len(model.calibration) == 10
    assert sum(b.rows for b in model.calibration) == model.rows["holdout"]
    assert model.details["holdout_cut_off"] == str(as_of - dt.timedelta(days=60))
    c = model.parameters
    assert got.pop("prospect")["buy"] is None  # not the population the model learnt from
    features = python_features(events, list(got), as_of)
    for key, row in got.items():
        orders, spend, days, average = features[key]
        z = c["intercept"] + c["orders_365d"] * orders + c["spend"] * spend
        z += c["days_since"] * (days or 0.0) + c["days_since_missing"] * (days is None)
        z += c["avg_order"] * (average or 0.0) + c["avg_order_missing"] * (average is None)
        assert row["buy"] == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-9), key
    # scores rank who bought in the 60 days after as_of (events the model never saw)
    bought = {k for k, at, _ in events if as_of <= at < end}
    ranked = sorted(got, key=lambda k: -got[k]["buy"])
    top = ranked[: len(ranked) // 10]
    assert sum(k in bought for k in top) / len(top) > 2 * len(bought) / len(ranked)


def test_events_after_the_as_of_never_reach_the_model() -> None:
    db, end, events = simulated_db()
    as_of = end - dt.timedelta(days=60)
    _, first = db.compute({"buy": PROPENSITY}, as_of)
    later = [(k, as_of + dt.timedelta(hours=i + 1), v) for i, (k, _, v) in enumerate(events[::3])]
    db.load([*sorted({k for k, _, _ in events}), "prospect"], [*events, *later])
    _, again = db.compute({"buy": PROPENSITY}, as_of)
    assert again.models[0].parameters == first.models[0].parameters


def test_a_weak_model_is_refused_and_nobody_is_scored() -> None:
    db, end, _ = simulated_db()
    got, results = db.compute({"buy": {**PROPENSITY, "min_auc": 0.99}}, end)
    (model,) = results.models
    assert model.status == "refused"
    assert model.metrics["auc"] is not None and model.metrics["auc"] < 0.99
    assert {r["buy"] for r in got.values()} == {None}
    (warning,) = results.warnings
    assert warning.code == "model_refused"
    assert warning.message.startswith(
        f"traits.buy: nobody scored: holdout AUC {model.metrics['auc']:.3f} is below min_auc = 0.99"
    )


def test_without_history_the_model_fails_and_says_why() -> None:
    db, _, _ = simulated_db()
    start = dt.datetime(2024, 1, 1)
    got, results = db.compute({"buy": PROPENSITY}, start + dt.timedelta(days=100))
    (model,) = results.models
    assert model.status == "failed" and model.message
    assert {r["buy"] for r in got.values()} == {None}
    assert results.warnings[0].code == "model_failed"


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        ({"event": "order"}, "function: missing; an aggregate feature needs one"),
        ({"event": "order", "function": "last_at"}, "'last_at' is a time, not a number"),
        ({"kind": "recency", "event": "order", "within": "30d"}, "within: applies to kind"),
        ({"event": "order", "function": "count", "as_of": "2026-01-01"}, "as_of"),
    ],
)
def test_features_that_cannot_be_computed_in_the_past_are_refused(
    feature: dict[str, Any], problem: str
) -> None:
    db = Db()
    settings = {k: v for k, v in PROPENSITY.items() if k != "kind"} | {"features": {"f": feature}}
    with pytest.raises(ValueError, match="features") as info:
        build_trait("buy", db.kinds["propensity"], settings)
    assert problem in str(info.value)
