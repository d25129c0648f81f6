"""BG/NBD on the CDNOW data: the published fit, the papers' closed forms, ``lifetimes``.

References:

- P. S. Fader, B. G. S. Hardie and K. L. Lee, "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 2005, 275–284 — on the
  2,357 CDNOW customers over 39 weeks: r = 0.243, α = 4.414, a = 0.793, b = 2.426, and a
  log-likelihood of −9582.4.
- Fader, Hardie & Lee, "Implementing the BG/NBD Model for Customer Base Analysis in Excel"
  (2005 note) and its spreadsheet: E[X(t)] of 0.0078, 0.0532, 0.1506, 1.0405, 1.0437 and
  1.8576 at t = 0.1429, 1, 3, 31.8571, 32 and 78 weeks, and 1.226 expected purchases in the
  next 39 weeks for a customer with x = 2, t_x = 30.43, T = 38.86 — as transcribed in the
  test suite of the ``lifetimes`` package (``test_expectation_returns_same_value_Hardie_
  excel_sheet`` and ``test_conditional_expectation_returns_same_value_as_Hardie_excel_sheet``).
- Data: the CDNOW sample shipped by PyPI ``Lifetimes`` 0.11.3 (see ``cdnowkit``).
- Independent references: the closed forms evaluated with mpmath at 40 digits
  (``closedforms``), and ``lifetimes``' own predictions at identical parameters.
"""

from __future__ import annotations

import math

import closedforms as ref
import mpmath
import numpy as np
import pytest
from cdnowkit import CdnowSummary
from lifetimeskit import Lifetimes

from segsync.predict import ConvergenceError
from segsync.predict.bgnbd import (
    DEFAULT_STARTS,
    BgNbdParams,
    discounted_expected_purchases,
    expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    log_likelihood,
    p_alive,
)

PUBLISHED = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PUBLISHED_LL = -9582.4


@pytest.fixture(scope="module")
def fitted(cdnow: CdnowSummary) -> BgNbdParams:
    return fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T).params


def as_tuple(p: BgNbdParams) -> tuple[float, float, float, float]:
    return (p.r, p.alpha, p.a, p.b)


def sample(cdnow: CdnowSummary) -> np.ndarray:
    """Every 12th customer and every customer with x >= 10: about 230 rows."""
    return np.union1d(np.arange(0, cdnow.x.size, 12), np.flatnonzero(cdnow.x >= 10))


# -- the fit -----------------------------------------------------------------------------


def test_fit_reproduces_the_published_cdnow_estimates(cdnow: CdnowSummary) -> None:
    fit = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    assert fit.converged and fit.customers == 2357
    for got, want in zip(as_tuple(fit.params), as_tuple(PUBLISHED), strict=True):
        assert got == pytest.approx(want, rel=0.01)
    # the paper prints the log-likelihood to one decimal
    assert abs(fit.log_likelihood - PUBLISHED_LL) < 0.05
    assert fit.log_likelihood == pytest.approx(
        float(log_likelihood(fit.params, cdnow.x, cdnow.t_x, cdnow.T).sum()), rel=1e-12
    )
    assert all(0 < se < v for se, v in zip(fit.standard_errors, as_tuple(fit.params), strict=True))


def test_every_start_reaches_the_same_maximum(cdnow: CdnowSummary) -> None:
    fits = [fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T, starts=[s]) for s in DEFAULT_STARTS]
    for fit in fits:
        assert fit.converged
        np.testing.assert_allclose(as_tuple(fit.params), as_tuple(fits[0].params), rtol=1e-5)


def test_the_fit_is_a_maximum_of_the_likelihood(cdnow: CdnowSummary) -> None:
    fit = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    best = fit.log_likelihood
    for name in ("r", "alpha", "a", "b"):
        for factor in (0.99, 1.01):
            moved = dict(zip(("r", "alpha", "a", "b"), as_tuple(fit.params), strict=True))
            moved[name] *= factor
            other = log_likelihood(BgNbdParams(**moved), cdnow.x, cdnow.t_x, cdnow.T).sum()
            assert other < best


def test_grouped_rows_with_weights_fit_like_the_rows_themselves(cdnow: CdnowSummary) -> None:
    rows = np.stack([cdnow.x, cdnow.t_x, cdnow.T], axis=1)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    grouped = fit_bgnbd(unique[:, 0], unique[:, 1], unique[:, 2], weights=counts)
    plain = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    np.testing.assert_allclose(as_tuple(grouped.params), as_tuple(plain.params), rtol=1e-6)
    assert grouped.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-10)
    assert grouped.customers == 2357


def test_starts_compared_on_a_subsample_reach_the_full_maximum(
    cdnow: CdnowSummary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large data compare the starts on SCREEN_ROWS rows, then polish on all of them."""
    from segsync.predict import base

    full = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    monkeypatch.setattr(base, "SCREEN_ROWS", 300)
    screened = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    assert screened.converged
    np.testing.assert_allclose(as_tuple(screened.params), as_tuple(full.params), rtol=1e-6)
    assert screened.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-12)


def test_the_time_unit_only_rescales_alpha(cdnow: CdnowSummary) -> None:
    weeks = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T).params
    days = fit_bgnbd(cdnow.x, cdnow.t_x * 7, cdnow.T * 7).params
    np.testing.assert_allclose(
        as_tuple(days), (weeks.r, weeks.alpha * 7, weeks.a, weeks.b), rtol=1e-5
    )


def test_the_analytic_gradient_is_the_derivative_of_the_likelihood(cdnow: CdnowSummary) -> None:
    from segsync.predict.bgnbd import _Rows

    rng = np.random.default_rng(0)
    rows = _Rows.of(cdnow.x, cdnow.t_x, cdnow.T, rng.uniform(0.5, 2.0, cdnow.x.size))
    theta = np.log([0.3, 5.0, 0.9, 2.0])
    _, grad = rows.objective(theta)
    step = 1e-6
    for j in range(4):
        e = np.zeros(4)
        e[j] = step
        up, _ = rows.objective(theta + e)
        down, _ = rows.objective(theta - e)
        assert grad[j] == pytest.approx((up - down) / (2 * step), rel=1e-6)


# -- convergence ---------------------------------------------------------------------------


def test_data_that_do_not_identify_the_model_raise() -> None:
    """Nobody ever buys again: the likelihood grows as r → 0 and says nothing about a, b."""
    x, t_x, T = np.zeros(200), np.zeros(200), np.linspace(1, 50, 200)
    with pytest.raises(ConvergenceError, match="do not identify every parameter"):
        fit_bgnbd(x, t_x, T)
    loose = fit_bgnbd(x, t_x, T, strict=False)
    assert not loose.converged
    assert all(math.isnan(se) for se in loose.standard_errors[2:])
    penalised = fit_bgnbd(x, t_x, T, penalty=0.01)
    assert penalised.converged


def test_an_optimiser_stopped_early_raises(cdnow: CdnowSummary) -> None:
    with pytest.raises(ConvergenceError, match="more iterations may reach the optimum"):
        fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T, max_iterations=3)


def test_a_penalty_shrinks_the_log_parameters(cdnow: CdnowSummary) -> None:
    plain = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T)
    shrunk = fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.T, penalty=0.1)
    assert shrunk.converged and shrunk.penalty == 0.1
    assert shrunk.log_likelihood < plain.log_likelihood
    # the log-parameters (alpha in the fit's time unit: the mean age) come closer to 0
    scale = float(cdnow.T.mean())

    def norm(p: BgNbdParams) -> float:
        return float(np.sum(np.log([p.r, p.alpha / scale, p.a, p.b]) ** 2))

    assert norm(shrunk.params) < norm(plain.params)


def test_invalid_data_are_refused() -> None:
    with pytest.raises(ValueError, match="at most the customer's age"):
        fit_bgnbd([1, 2], [5.0, 3.0], [4.0, 10.0])
    with pytest.raises(ValueError, match="whole numbers"):
        fit_bgnbd([1.5, 2], [1.0, 3.0], [4.0, 10.0])
    with pytest.raises(ValueError, match="finite"):
        fit_bgnbd([1, 2], [1.0, float("nan")], [4.0, 10.0])
    with pytest.raises(ValueError, match="no customers"):
        fit_bgnbd([], [], [])
    with pytest.raises(ValueError, match="finite number > 0"):
        BgNbdParams(r=0.2, alpha=-1.0, a=0.5, b=1.0)


# -- predictions against the closed forms --------------------------------------------------


def test_predictions_match_the_closed_forms(cdnow: CdnowSummary, fitted: BgNbdParams) -> None:
    rows = sample(cdnow)
    x, t_x, T = cdnow.x[rows], cdnow.t_x[rows], cdnow.T[rows]
    bg = as_tuple(fitted)
    want_e = [float(ref.conditional_expectation(*bg, 39, *c)) for c in zip(x, t_x, T, strict=True)]
    want_p = [float(ref.p_alive(*bg, *c)) for c in zip(x, t_x, T, strict=True)]
    want_ll = [
        float(mpmath.log(ref.bgnbd_likelihood(*bg, *c))) for c in zip(x, t_x, T, strict=True)
    ]
    np.testing.assert_allclose(expected_purchases(fitted, 39, x, t_x, T), want_e, rtol=1e-9)
    np.testing.assert_allclose(p_alive(fitted, x, t_x, T), want_p, rtol=1e-12)
    np.testing.assert_allclose(log_likelihood(fitted, x, t_x, T), want_ll, rtol=1e-12)
    horizons = np.array([0.5, 1, 13, 39, 78, 520])
    want_new = [float(ref.population_expectation(*bg, t)) for t in horizons]
    np.testing.assert_allclose(expected_purchases_new(fitted, horizons), want_new, rtol=1e-9)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "t"),
    [
        (0, 0.0, 0.0, 39.0),  # a customer who just bought for the first time
        (0, 0.0, 200.0, 39.0),
        (1, 0.5, 200.0, 1.0),
        (50, 38.0, 38.86, 39.0),
        (200, 100.0, 104.0, 52.0),  # the untransformed ₂F₁ grows like (1−z)^(−x) here
        (200, 2.0, 104.0, 52.0),  # long gone: P(alive) ≈ 1e-300
        (3, 10.0, 20.0, 5000.0),  # a horizon far beyond alpha + T: z close to 1
    ],
)
def test_extreme_customers_match_the_closed_forms(x: int, t_x: float, T: float, t: float) -> None:
    bg = as_tuple(PUBLISHED)
    want = float(ref.conditional_expectation(*bg, t, x, t_x, T))
    got = float(expected_purchases(PUBLISHED, t, x, t_x, T)[0])
    assert got == pytest.approx(want, rel=1e-9, abs=1e-300)
    assert float(p_alive(PUBLISHED, x, t_x, T)[0]) == pytest.approx(
        float(ref.p_alive(*bg, x, t_x, T)), rel=1e-12, abs=1e-300
    )


def test_a_equal_to_one_is_the_limit_of_the_closed_form() -> None:
    at_one = BgNbdParams(r=0.5, alpha=3.0, a=1.0, b=2.0)
    a = mpmath.mpf(1) + mpmath.mpf("1e-20")  # (a float cannot hold it)
    want = float(ref.conditional_expectation(0.5, 3.0, a, 2.0, 39, 3, 20.0, 30.0))
    assert float(expected_purchases(at_one, 39, 3, 20.0, 30.0)[0]) == pytest.approx(want, rel=1e-6)


def test_discounted_purchases_sum_the_periods(fitted: BgNbdParams) -> None:
    x, t_x, T = np.array([0, 2, 7]), np.array([0.0, 30.43, 35.0]), np.array([38.86] * 3)
    undiscounted = discounted_expected_purchases(fitted, x, t_x, T, horizon=52, periods=4)
    np.testing.assert_allclose(undiscounted, expected_purchases(fitted, 52, x, t_x, T), rtol=1e-12)
    discounted = discounted_expected_purchases(
        fitted, x, t_x, T, horizon=52, periods=4, discount_rate=0.1
    )
    by_hand = sum(
        (
            expected_purchases(fitted, 13 * k, x, t_x, T)
            - expected_purchases(fitted, 13 * (k - 1), x, t_x, T)
        )
        / 1.1**k
        for k in range(1, 5)
    )
    np.testing.assert_allclose(discounted, by_hand, rtol=1e-12)


# -- the published spreadsheet -------------------------------------------------------------


def test_hardie_spreadsheet_numbers(fitted: BgNbdParams) -> None:
    """The Excel implementation's E[X(t)] (4 decimals) and conditional expectation (3)."""
    times = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0])
    np.testing.assert_allclose(
        expected_purchases_new(fitted, times),
        [0.0078, 0.0532, 0.1506, 1.0405, 1.0437],
        atol=0.5e-4,
    )
    # at 78 weeks the sheet shows 1.8576 (1.8580 here): lifetimes' own test allows 1e-3
    assert float(expected_purchases_new(fitted, 78.0)[0]) == pytest.approx(1.8576, abs=5e-4)
    assert float(expected_purchases(fitted, 39, 2, 30.43, 38.86)[0]) == pytest.approx(
        1.226, abs=0.5e-3
    )
    assert float(expected_purchases(PUBLISHED, 39, 2, 30.43, 38.86)[0]) == pytest.approx(
        1.226, abs=0.5e-3
    )


# -- predictions against lifetimes ---------------------------------------------------------


def test_predictions_match_lifetimes_at_identical_parameters(
    cdnow: CdnowSummary, fitted: BgNbdParams, lifetimes: Lifetimes
) -> None:
    bg = as_tuple(fitted)
    x, t_x, T = cdnow.x, cdnow.t_x, cdnow.T
    np.testing.assert_allclose(
        expected_purchases(fitted, 39, x, t_x, T),
        lifetimes.expected_purchases(bg, 39, x, t_x, T),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        p_alive(fitted, x, t_x, T), lifetimes.p_alive(bg, x, t_x, T), rtol=1e-9
    )
    horizons = np.array([1.0, 13.0, 39.0, 78.0])
    np.testing.assert_allclose(
        expected_purchases_new(fitted, horizons),
        lifetimes.expected_purchases_new(bg, horizons),
        rtol=1e-9,
    )
