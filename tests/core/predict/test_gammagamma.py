"""Gamma-Gamma spend and customer lifetime value on the CDNOW data.

References:

- P. S. Fader and B. G. S. Hardie, "The Gamma-Gamma Model of Monetary Value" (2013 note),
  and Fader, Hardie & Lee, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
  Journal of Marketing Research 42(4), 2005 — on the 946 CDNOW repeat buyers:
  p = 6.25, q = 3.74, γ = 15.44.
- Data: ``cdnow_customers_summary_with_transactions.csv`` shipped by PyPI ``Lifetimes``
  0.11.3 (see ``cdnowkit``): x and the mean repeat spend ``zbar`` per customer.
- Independent references: the note's closed forms with mpmath (``closedforms``), and
  ``lifetimes``' ``conditional_expected_average_profit`` and ``customer_lifetime_value`` at
  identical parameters.
"""

from __future__ import annotations

import closedforms as ref
import numpy as np
import pytest
from cdnowkit import CdnowSummary
from lifetimeskit import Lifetimes
from scipy.integrate import quad

from segsync.errors import ModelError
from segsync.predict.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd
from segsync.predict.gammagamma import (
    GammaGammaParams,
    conditional_expected_average_profit,
    customer_lifetime_value,
    fit_gammagamma,
    log_likelihood,
)

PUBLISHED = GammaGammaParams(p=6.25, q=3.74, v=15.44)
WEEKS_PER_MONTH = 4.345  # lifetimes' month when times are in weeks


@pytest.fixture(scope="module")
def models(cdnow_spend: CdnowSummary) -> tuple[BgNbdParams, GammaGammaParams]:
    c = cdnow_spend
    return fit_bgnbd(c.x, c.t_x, c.T).params, fit_gammagamma(c.x, c.zbar).params


def bg_tuple(p: BgNbdParams) -> tuple[float, float, float, float]:
    return (p.r, p.alpha, p.a, p.b)


def gg_tuple(p: GammaGammaParams) -> tuple[float, float, float]:
    return (p.p, p.q, p.v)


def test_fit_reproduces_the_published_cdnow_estimates(cdnow_spend: CdnowSummary) -> None:
    fit = fit_gammagamma(cdnow_spend.x, cdnow_spend.zbar)
    assert fit.converged
    assert fit.customers == 946 == int((cdnow_spend.x > 0).sum())
    for got, want in zip(gg_tuple(fit.params), gg_tuple(PUBLISHED), strict=True):
        assert got == pytest.approx(want, rel=0.01)
    repeat = cdnow_spend.x > 0
    assert fit.log_likelihood == pytest.approx(
        float(log_likelihood(fit.params, cdnow_spend.x[repeat], cdnow_spend.zbar[repeat]).sum()),
        rel=1e-12,
    )


def test_starts_compared_on_a_subsample_reach_the_full_maximum(
    cdnow_spend: CdnowSummary, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segsync.predict import base

    full = fit_gammagamma(cdnow_spend.x, cdnow_spend.zbar)
    monkeypatch.setattr(base, "SCREEN_ROWS", 200)
    screened = fit_gammagamma(cdnow_spend.x, cdnow_spend.zbar)
    assert screened.converged
    np.testing.assert_allclose(gg_tuple(screened.params), gg_tuple(full.params), rtol=1e-6)


def test_the_money_unit_only_rescales_v(cdnow_spend: CdnowSummary) -> None:
    dollars = fit_gammagamma(cdnow_spend.x, cdnow_spend.zbar).params
    cents = fit_gammagamma(cdnow_spend.x, cdnow_spend.zbar * 100).params
    np.testing.assert_allclose(gg_tuple(cents), (dollars.p, dollars.q, dollars.v * 100), rtol=1e-5)


def test_the_analytic_gradient_is_the_derivative_of_the_likelihood(
    cdnow_spend: CdnowSummary,
) -> None:
    from segsync.predict.gammagamma import _Rows

    repeat = cdnow_spend.x > 0
    weights = np.random.default_rng(0).uniform(0.5, 2.0, int(repeat.sum()))
    rows = _Rows.of(cdnow_spend.x[repeat], cdnow_spend.zbar[repeat] / 35.0, weights)
    theta = np.log([3.0, 2.5, 0.7])
    value, grad = rows.objective(theta)
    mean = (
        -float(
            weights
            @ log_likelihood(
                GammaGammaParams(3.0, 2.5, 0.7),
                cdnow_spend.x[repeat],
                cdnow_spend.zbar[repeat] / 35.0,
            )
        )
        / weights.sum()
    )
    assert value == pytest.approx(mean, rel=1e-12)
    step = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = step
        up, _ = rows.objective(theta + e)
        down, _ = rows.objective(theta - e)
        assert grad[j] == pytest.approx((up - down) / (2 * step), rel=1e-6)


def test_the_likelihood_is_the_density_of_the_mean_spend() -> None:
    for x in (1, 4):
        want = [float(ref.spend_density(*gg_tuple(PUBLISHED), x, m)) for m in (5.0, 30.0, 200.0)]
        got = np.exp(log_likelihood(PUBLISHED, [x] * 3, [5.0, 30.0, 200.0]))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        total, _ = quad(lambda m, x=x: float(np.exp(log_likelihood(PUBLISHED, x, m)[0])), 0, np.inf)
        assert total == pytest.approx(1.0, abs=1e-8)


def test_expected_spend_matches_the_note(
    cdnow_spend: CdnowSummary, models: tuple[BgNbdParams, GammaGammaParams]
) -> None:
    _, gg = models
    x, m = cdnow_spend.x, cdnow_spend.zbar
    want = [float(ref.expected_spend(*gg_tuple(gg), xi, mi)) for xi, mi in zip(x, m, strict=True)]
    np.testing.assert_allclose(conditional_expected_average_profit(gg, x, m), want, rtol=1e-12)
    # a customer without repeat purchases is expected to spend the population mean
    assert conditional_expected_average_profit(gg, 0, 123.0)[0] == pytest.approx(gg.mean_spend)


def test_lifetime_value_matches_the_closed_forms(
    cdnow_spend: CdnowSummary, models: tuple[BgNbdParams, GammaGammaParams]
) -> None:
    bg, gg = models
    c = cdnow_spend
    rows = np.union1d(np.arange(0, c.x.size, 25), np.flatnonzero(c.x >= 10))
    x, t_x, T, m = c.x[rows], c.t_x[rows], c.T[rows], c.zbar[rows]
    horizon = 12 * WEEKS_PER_MONTH
    got = customer_lifetime_value(
        bg, gg, x, t_x, T, m, horizon=horizon, periods=12, discount_rate=0.01, margin=0.3
    )
    want = [
        0.3
        * float(
            ref.lifetime_value(
                bg_tuple(bg),
                gg_tuple(gg),
                *row,
                horizon=horizon,
                periods=12,
                discount_rate=0.01,
            )
        )
        for row in zip(x, t_x, T, m, strict=True)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_undiscounted_value_is_spend_times_purchases(
    models: tuple[BgNbdParams, GammaGammaParams],
) -> None:
    bg, gg = models
    x, t_x, T, m = (
        np.array([0, 1, 6]),
        np.array([0, 2.0, 30.0]),
        np.full(3, 38.86),
        np.array([0, 20.0, 45.0]),
    )
    got = customer_lifetime_value(bg, gg, x, t_x, T, m, horizon=52, periods=7)
    want = conditional_expected_average_profit(gg, x, m) * expected_purchases(bg, 52, x, t_x, T)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # a higher discount rate lowers every value
    lower = customer_lifetime_value(bg, gg, x, t_x, T, m, horizon=52, periods=7, discount_rate=0.05)
    assert (lower < got).all()


def test_an_infinite_mean_spend_is_refused() -> None:
    heavy = GammaGammaParams(p=2.0, q=0.9, v=10.0)
    with pytest.raises(ModelError, match=r"q = 0\.9 <= 1"):
        conditional_expected_average_profit(heavy, [1, 2], [10.0, 20.0])


def test_invalid_spend_data_are_refused() -> None:
    with pytest.raises(ValueError, match="mean value > 0"):
        fit_gammagamma([1, 2], [10.0, 0.0])
    with pytest.raises(ValueError, match="no repeat buyers"):
        fit_gammagamma([0, 0], [0.0, 0.0])
    with pytest.raises(ValueError, match="repeat buyers"):
        log_likelihood(PUBLISHED, [0, 1], [0.0, 2.0])


def test_predictions_match_lifetimes_at_identical_parameters(
    cdnow_spend: CdnowSummary,
    models: tuple[BgNbdParams, GammaGammaParams],
    lifetimes: Lifetimes,
) -> None:
    bg, gg = models
    c = cdnow_spend
    np.testing.assert_allclose(
        conditional_expected_average_profit(gg, c.x, c.zbar),
        lifetimes.expected_spend(gg_tuple(gg), c.x, c.zbar),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        customer_lifetime_value(
            bg,
            gg,
            c.x,
            c.t_x,
            c.T,
            c.zbar,
            horizon=12 * WEEKS_PER_MONTH,
            periods=12,
            discount_rate=0.01,
        ),
        lifetimes.lifetime_value(
            bg_tuple(bg), gg_tuple(gg), c.x, c.t_x, c.T, c.zbar, months=12, monthly_rate=0.01
        ),
        rtol=1e-9,
    )
