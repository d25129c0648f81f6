"""P(at least one purchase in (T, T+t]) under BG/NBD: the closed form against a numerical
integral over the posterior rate, and against what simulated customers then do."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from segsync.predict import BgNbdParams, p_alive, p_purchase, summarize
from segsync.predict.simulate import simulate_events

PARAMS = BgNbdParams(r=0.8, alpha=5.0, a=0.8, b=3.0)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [(0, 0.0, 10.0, 5.0), (0, 0.0, 300.0, 52.0), (3, 20.0, 40.0, 13.0), (12, 30.0, 31.0, 1e-6)],
)
def test_the_closed_form_is_the_posterior_expectation(
    x: int, t_x: float, T: float, t: float
) -> None:
    p = PARAMS
    alive = float(p_alive(p, x, t_x, T)[0])
    shape, rate = p.r + x, p.alpha + T  # the rate's posterior given alive at T
    quiet = mp.quad(
        lambda lam: (
            mp.exp(-lam * t)
            * rate**shape
            * lam ** (shape - 1)
            * mp.exp(-rate * lam)
            / mp.gamma(shape)
        ),
        [0, mp.inf],
    )
    want = alive * (1 - float(quiet))
    got = float(p_purchase(p, t, x, t_x, T)[0])
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert 0 <= got <= alive


def test_p_alive_is_one_without_repeats_but_p_purchase_falls_with_age() -> None:
    ages = np.array([1.0, 10.0, 100.0, 1000.0])
    assert np.all(p_alive(PARAMS, 0, 0, ages) == 1)
    buy = p_purchase(PARAMS, 52, 0, 0, ages)
    assert np.all(np.diff(buy) < 0) and buy[-1] < 0.05


def test_simulated_customers_buy_as_often_as_predicted() -> None:
    customers = 40_000
    start = np.datetime64("2020-01-01")
    log = simulate_events(
        PARAMS, customers=customers, start=start, unit=np.timedelta64(7, "D"),
        acquisition=20, horizon=60, seed=3,
    )  # fmt: skip
    end = start + np.timedelta64(40 * 7, "D")
    seen = log.time < end
    s = summarize(
        log.customer[seen], log.time[seen], end=end - np.timedelta64(1, "us"), period="hour",
        periods_per_unit=168,
    )  # fmt: skip
    bought = np.zeros(customers, dtype=bool)
    bought[np.unique(log.customer[log.time >= end])] = True
    observed = bought[s.customer]
    predicted = p_purchase(PARAMS, 20.0, s.x, s.t_x, s.T)
    for low, high in ((0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.0)):
        group = (predicted >= low) & (predicted < high)
        n = int(group.sum())
        mean = float(predicted[group].mean())
        error = 4 * math.sqrt(mean * (1 - mean) / n)  # four standard errors
        assert abs(float(observed[group].mean()) - mean) < error, (low, high, n)
