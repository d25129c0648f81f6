"""The event-log summary: the shipped CDNOW summary rebuilt from the raw transactions, the
calendar-period rules on hand-made logs, and ``lifetimes``' own summary builder.

Data: ``CDNOW_sample.txt`` and ``cdnow_customers_summary_with_transactions.csv`` from PyPI
``Lifetimes`` 0.11.3 (see ``cdnowkit``); the summary is the one of Fader, Hardie & Lee
(2005): 39-week calibration period ending 1997-09-30, times in weeks counted in whole days.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import cdnowkit
import numpy as np
import pytest
from lifetimeskit import Lifetimes

from segsync.predict.bgnbd import BgNbdParams
from segsync.predict.gammagamma import GammaGammaParams
from segsync.predict.simulate import simulate_events
from segsync.predict.summary import Summary, summarize


def cdnow_summary() -> Summary:
    log = cdnowkit.transactions()
    return summarize(
        log.customer,
        log.date,
        log.value,
        end=cdnowkit.CALIBRATION_END,
        period="day",
        periods_per_unit=7,
    )


def test_cdnow_transactions_rebuild_the_shipped_summary() -> None:
    shipped = cdnowkit.summary_with_transactions()
    built = cdnow_summary()
    assert len(built) == 2357
    np.testing.assert_array_equal(built.customer, shipped.ids - 1)
    np.testing.assert_array_equal(built.x, shipped.x)
    # the file rounds weeks to 2 decimals; the builder counts whole days
    np.testing.assert_array_equal(np.round(built.t_x, 2), shipped.t_x)
    np.testing.assert_array_equal(np.round(built.T, 2), shipped.T)
    np.testing.assert_allclose(built.t_x * 7, np.round(built.t_x * 7), rtol=0, atol=1e-9)
    # zbar is to the cent, rounded half up: compare with the exact decimal mean
    log = cdnowkit.transactions()
    for i in np.flatnonzero(built.x > 0):
        rows = np.flatnonzero(log.customer == i)
        days = log.date[rows]
        per_day: dict[np.datetime64, Decimal] = {}
        for day, raw in zip(days, (log.raw_value[r] for r in rows), strict=True):
            per_day[day] = per_day.get(day, Decimal(0)) + Decimal(raw)
        repeats = [
            v
            for day, v in per_day.items()
            if day != days.min() and day <= np.datetime64("1997-09-30")
        ]
        exact = sum(repeats, Decimal(0)) / len(repeats)
        assert built.monetary[i] == pytest.approx(float(exact), rel=1e-12)
        assert exact.quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal(str(shipped.zbar[i]))


def test_cdnow_summary_matches_lifetimes(lifetimes: Lifetimes) -> None:
    log = cdnowkit.transactions()
    theirs = lifetimes.summary(
        log.customer, log.date, log.value, end="1997-09-30", freq="D", multiplier=7
    )
    ours = cdnow_summary()
    np.testing.assert_array_equal(ours.customer, theirs["customer"])
    np.testing.assert_array_equal(ours.x, theirs["x"])
    for name in ("t_x", "T", "monetary"):
        np.testing.assert_allclose(getattr(ours, name), theirs[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("period", "freq"), [("hour", "h"), ("day", "D"), ("week", "W")])
def test_simulated_log_matches_lifetimes(period: str, freq: str, lifetimes: Lifetimes) -> None:
    log = simulate_events(
        BgNbdParams(r=0.8, alpha=6.0, a=0.6, b=4.0),
        GammaGammaParams(p=6.0, q=4.0, v=15.0),
        customers=300,
        start=np.datetime64("2024-01-03"),
        unit=np.timedelta64(7, "D"),
        acquisition=20,
        horizon=40,
        seed=5,
    )
    end = "2024-07-20T13:00:00"  # before the log's end: later events are cut
    ours = summarize(log.customer, log.time, log.value, end=end, period=period)  # type: ignore[arg-type]
    theirs = lifetimes.summary(log.customer, log.time, log.value, end=end, freq=freq, multiplier=1)
    np.testing.assert_array_equal(ours.customer, theirs["customer"])
    np.testing.assert_array_equal(ours.x, theirs["x"])
    for name in ("t_x", "T", "monetary"):
        np.testing.assert_allclose(getattr(ours, name), theirs[name], rtol=1e-12, atol=1e-12)


def ts(text: str) -> np.datetime64:
    return np.datetime64(text, "us")


def test_the_period_rules_on_a_hand_made_log() -> None:
    customer = [4, 1, 1, 1, 1, 1, 4, 7]
    time = [
        ts("2026-03-01T23:00"),  # customer 4's only purchase before the end
        ts("2026-01-05T08:00"),  # customer 1: first purchase, Monday
        ts("2026-01-05T20:00"),  # … same day: the same purchase
        ts("2026-01-07T10:00"),  # repeat 1
        ts("2026-03-10T23:59"),  # repeat 2, on the end's own day: counted
        ts("2026-03-11T00:00"),  # after the end's day: dropped
        ts("2026-03-12T00:00"),  # dropped
        ts("2026-04-01T00:00"),  # customer 7 only buys after the end: absent
    ]
    value = [5.0, 10.0, 2.5, 4.0, 6.0, 100.0, 100.0, 1.0]
    s = summarize(customer, time, value, end=dt.datetime(2026, 3, 10, 9, 30), period="day")
    np.testing.assert_array_equal(s.customer, [1, 4])
    np.testing.assert_array_equal(s.x, [2, 0])
    np.testing.assert_allclose(s.t_x, [64.0, 0.0])  # 5 Jan → 10 Mar
    np.testing.assert_allclose(s.T, [64.0, 9.0])
    np.testing.assert_allclose(s.monetary, [5.0, 0.0])  # first purchase (12.5) excluded

    weeks = summarize(customer, time, value, end=dt.datetime(2026, 3, 10, 9, 30), period="week")
    # weeks start on Monday: 5 and 7 Jan are one week; the end's week (9–15 Mar) counts whole,
    # so the 11 and 12 Mar events are in; 1 Mar (a Sunday) is in the week of 23 Feb
    np.testing.assert_array_equal(weeks.x, [1, 1])
    np.testing.assert_allclose(weeks.t_x, [9.0, 2.0])
    np.testing.assert_allclose(weeks.T, [9.0, 2.0])
    np.testing.assert_allclose(weeks.monetary, [106.0, 100.0])

    months = summarize(customer, time, value, end="2026-03-31", period="month")
    np.testing.assert_array_equal(months.x, [1, 0])  # 1: January, March; 4: March only
    np.testing.assert_allclose(months.t_x, [2.0, 0.0])
    np.testing.assert_allclose(months.monetary, [106.0, 0.0])

    hours = summarize(customer, time, end="2026-01-05T20:30", period="hour", periods_per_unit=24)
    np.testing.assert_array_equal(hours.customer, [1])
    np.testing.assert_array_equal(hours.x, [1])
    np.testing.assert_allclose(hours.t_x, [0.5])
    np.testing.assert_allclose(hours.monetary, [0.0])  # no values given


def test_an_aware_end_is_taken_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    s = summarize(
        [0, 0],
        [ts("2026-01-01T10:00"), ts("2026-01-02T00:30")],
        end=dt.datetime(2026, 1, 2, 0, 45, tzinfo=paris),
    )
    # 00:45 in Paris is 23:45 UTC on 1 Jan: the 2 Jan purchase is after the end's day
    np.testing.assert_array_equal(s.x, [0])


def test_an_empty_log_has_no_customers() -> None:
    s = summarize(np.zeros(0, np.int64), np.zeros(0, "datetime64[us]"), end="2026-01-01")
    assert len(s) == 0 and s.x.dtype == np.int64


def test_invalid_logs_are_refused() -> None:
    with pytest.raises(ValueError, match="integer customer indices"):
        summarize([0.5], [ts("2026-01-01")], end="2026-02-01")
    with pytest.raises(ValueError, match=">= 0"):
        summarize([-1], [ts("2026-01-01")], end="2026-02-01")
    with pytest.raises(ValueError, match="expected 1 values"):
        summarize([0], [ts("2026-01-01"), ts("2026-01-02")], end="2026-02-01")
    with pytest.raises(ValueError, match="NaT"):
        summarize([0], np.array(["NaT"], dtype="datetime64[us]"), end="2026-02-01")
    with pytest.raises(ValueError, match="period"):
        summarize([0], [ts("2026-01-01")], end="2026-02-01", period="year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="periods_per_unit"):
        summarize([0], [ts("2026-01-01")], end="2026-02-01", periods_per_unit=0)
