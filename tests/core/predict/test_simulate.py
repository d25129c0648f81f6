"""Seeded logs drawn from the BG/NBD and Gamma-Gamma processes: their shape, and the fits
recovering the parameters they were drawn with (within the fits' own standard errors)."""

from __future__ import annotations

import numpy as np
import pytest

from segsync.predict import (
    BgNbdParams,
    GammaGammaParams,
    expected_purchases_new,
    fit_bgnbd,
    fit_gammagamma,
    summarize,
)
from segsync.predict.simulate import EventLog, simulate_events

BG = BgNbdParams(r=0.8, alpha=6.0, a=0.6, b=4.0)
GG = GammaGammaParams(p=6.0, q=4.0, v=15.0)
START = np.datetime64("2024-01-01")
WEEK = np.timedelta64(7, "D")


def draw(customers: int, seed: int) -> EventLog:
    return simulate_events(
        BG, GG, customers=customers, start=START, unit=WEEK, acquisition=52, horizon=104, seed=seed
    )


def test_the_log_has_the_promised_shape() -> None:
    log = draw(2000, seed=1)
    assert log.end == np.datetime64("2025-12-29T00:00:00", "us")
    assert np.array_equal(np.unique(log.customer), np.arange(2000))  # everyone bought once
    order = np.lexsort((log.time, log.customer))
    assert np.array_equal(order, np.arange(log.customer.size))
    assert (log.time >= np.datetime64(START, "us")).all() and (log.time < log.end).all()
    first = log.time[np.flatnonzero(np.diff(log.customer, prepend=-1))]
    assert (first < np.datetime64(START, "us") + 52 * WEEK).all()
    assert (log.value > 0).all()
    again = draw(2000, seed=1)
    assert np.array_equal(again.time, log.time) and np.array_equal(again.value, log.value)
    assert not np.array_equal(draw(2000, seed=2).time[:50], log.time[:50])


def test_repeat_purchases_average_the_models_expectation() -> None:
    log = draw(20_000, seed=3)
    s = summarize(log.customer, log.time, end=log.end, period="hour", periods_per_unit=168)
    expected = expected_purchases_new(BG, s.T)
    # E[x] over customers of their own age; x is overdispersed: 4 standard errors of the mean
    assert abs(s.x.mean() - expected.mean()) < 4 * s.x.std() / np.sqrt(s.x.size)


def test_the_fits_recover_the_parameters_drawn_with() -> None:
    log = draw(20_000, seed=0)
    s = summarize(
        log.customer, log.time, log.value, end=log.end, period="hour", periods_per_unit=168
    )
    bg = fit_bgnbd(s.x, s.t_x, s.T)
    gg = fit_gammagamma(s.x, s.monetary)
    for got, want, se in zip(
        (bg.params.r, bg.params.alpha, bg.params.a, bg.params.b),
        (BG.r, BG.alpha, BG.a, BG.b),
        bg.standard_errors,
        strict=True,
    ):
        assert abs(got - want) < 4 * se, (got, want, se)
    for got, want, se in zip(
        (gg.params.p, gg.params.q, gg.params.v), (GG.p, GG.q, GG.v), gg.standard_errors, strict=True
    ):
        assert abs(got - want) < 4 * se, (got, want, se)


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="acquisition"):
        simulate_events(BG, customers=1, start=START, unit=WEEK, acquisition=10, horizon=5, seed=0)
