"""The logistic propensity model on seeded synthetic data with a known signal, and on noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from segsync.predict import WeakModelError
from segsync.predict.propensity import fit_propensity

TRUE_COEFFICIENTS = np.array([1.2, 0.08, 0.0, -0.5])
TRUE_INTERCEPT = -6.0


def customers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Four features on different scales (the third irrelevant); the event drawn from the
    logistic model with TRUE_COEFFICIENTS."""
    features = rng.normal(size=(n, 4)) * [1.0, 10.0, 0.1, 2.0] + [0.0, 50.0, 3.0, 1.0]
    logit = TRUE_INTERCEPT + features @ TRUE_COEFFICIENTS
    events = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return features, events


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260301)
    train = customers(rng, 20_000)
    holdout = customers(rng, 10_000)
    return (*train, *holdout)


def test_a_known_signal_is_found(split: tuple[np.ndarray, ...]) -> None:
    model = fit_propensity(*split, features=["recency", "visits", "noise", "tenure"])
    assert model.auc > 0.8  # well above the default threshold of 0.6
    assert model.features == ("recency", "visits", "noise", "tenure")
    assert model.train_rows == 20_000 and model.holdout_rows == 10_000
    np.testing.assert_allclose(model.coefficients, TRUE_COEFFICIENTS, atol=0.1)
    assert model.intercept == pytest.approx(TRUE_INTERCEPT, abs=0.5)
    assert abs(model.standardised_coefficients[2]) < 0.05
    assert 0 < model.brier < model.base_rate * (1 - model.base_rate)  # beats the base rate


def test_the_calibration_table_is_deciles_of_the_holdout(split: tuple[np.ndarray, ...]) -> None:
    model = fit_propensity(*split)
    table = model.calibration
    assert [b.rows for b in table] == [1000] * 10
    predicted = model.predict(split[2])
    for b in table:
        assert b.lowest <= b.predicted <= b.highest
    for low, high in itertools.pairwise(table):
        assert low.highest <= high.lowest and low.predicted < high.predicted
    assert sum(b.predicted * b.rows for b in table) / 10_000 == pytest.approx(predicted.mean())
    assert sum(b.observed * b.rows for b in table) / 10_000 == pytest.approx(model.base_rate)
    # a well-specified model is calibrated: each decile's rate within 4 standard errors
    for b in table:
        se = max(np.sqrt(b.predicted * (1 - b.predicted) / b.rows), 0.005)
        assert abs(b.observed - b.predicted) < 4 * se


def test_coefficients_on_the_original_scale_reproduce_the_fitted_pipeline(
    split: tuple[np.ndarray, ...],
) -> None:
    model = fit_propensity(*split, C=0.5)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000))
    pipeline.fit(split[0], split[1])
    np.testing.assert_allclose(
        model.predict(split[2]), pipeline.predict_proba(split[2])[:, 1], rtol=1e-6, atol=1e-9
    )


def test_noise_is_refused() -> None:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(30_000, 4))
    events = rng.random(30_000) < 0.2
    with pytest.raises(WeakModelError, match=r"below the minimum 0\.600") as caught:
        fit_propensity(features[:20_000], events[:20_000], features[20_000:], events[20_000:])
    assert caught.value.auc == pytest.approx(0.5, abs=0.03)
    assert caught.value.threshold == 0.6


def test_the_threshold_is_the_callers(split: tuple[np.ndarray, ...]) -> None:
    auc = fit_propensity(*split).auc
    with pytest.raises(WeakModelError):
        fit_propensity(*split, min_auc=min(1.0, auc + 0.01))


def test_invalid_data_are_refused(split: tuple[np.ndarray, ...]) -> None:
    x_train, y_train, x_hold, y_hold = split
    with pytest.raises(ValueError, match="both outcomes"):
        fit_propensity(x_train, y_train, x_hold, np.zeros(len(x_hold)))
    with pytest.raises(ValueError, match="labels 0/1"):
        fit_propensity(x_train, y_train * 2, x_hold, y_hold)
    with pytest.raises(ValueError, match="feature columns"):
        fit_propensity(x_train, y_train, x_hold[:, :3], y_hold)
    with pytest.raises(ValueError, match="finite"):
        bad = x_train.copy()
        bad[0, 0] = np.nan
        fit_propensity(bad, y_train, x_hold, y_hold)
    with pytest.raises(ValueError, match="names"):
        fit_propensity(*split, features=["a"])
