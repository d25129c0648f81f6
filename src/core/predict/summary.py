"""An event log → the per-customer summary the BG/NBD and Gamma-Gamma models read.

The definitions are those of the literature (Fader, Hardie & Lee 2005; their CDNOW data) and
of ``lifetimes``' ``summary_data_from_transaction_data``, computed with numpy sorts instead
of pandas group-bys:

1. Each event's time is floored to its calendar **period** (``"hour"``, ``"day"``, ``"week"``
   — weeks start on Monday, like ISO weeks and pandas' ``"W"`` periods — or ``"month"``), in
   the times' own clock (naive UTC in segsync).
2. Events in a period after the period of ``end`` are dropped (an event at any moment of
   ``end``'s own period counts).
3. A customer's events in the same period are one purchase, worth the sum of their values.
4. Per customer with at least one purchase: ``x`` = purchases − 1 (the first is not a
   *repeat* purchase); ``t_x`` = last purchase period − first purchase period; ``T`` = the
   period of ``end`` − first purchase period; both in periods divided by
   ``periods_per_unit`` (``period="day", periods_per_unit=7`` gives weeks counted in whole
   days, as the CDNOW data are); ``monetary`` = the mean value of the repeat purchases (the
   first purchase's value excluded), 0 when ``x = 0``.

Customers are integer indices ``0 ≤ i`` chosen by the caller (row numbers of its profile
table); the summary has one row per customer that bought, in ascending index order
(``Summary.customer``). Values are summed in float64 in the log's order within a period.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .base import FloatArray, as_vector

__all__ = ["PERIODS", "Period", "Summary", "period_index", "summarize"]

Period = Literal["hour", "day", "week", "month"]
PERIODS: tuple[Period, ...] = ("hour", "day", "week", "month")
_MONDAY_OFFSET = 3
"""1970-01-01 was a Thursday: day d is in the Monday-based week ``(d + 3) // 7``."""


@dataclass(frozen=True, eq=False)
class Summary:
    """Per-customer ``(x, t_x, T, monetary)`` of the customers with a purchase by ``end``."""

    customer: NDArray[np.int64]
    """The customer index of each row, ascending."""
    x: NDArray[np.int64]
    """Repeat purchases: periods with a purchase, minus 1."""
    t_x: FloatArray
    """Recency: first to last purchase, in units."""
    T: FloatArray
    """Age: first purchase to the end of observation, in units."""
    monetary: FloatArray
    """Mean value of the repeat purchases (0 when ``x = 0``)."""
    period: Period
    periods_per_unit: float

    def __len__(self) -> int:
        return int(self.customer.size)


def period_index(times: NDArray[np.datetime64], period: Period) -> NDArray[np.int64]:
    """Each time's period as an integer (periods since the one holding 1970-01-01)."""
    if period == "hour":
        return times.astype("datetime64[h]").astype(np.int64)
    if period == "day":
        return times.astype("datetime64[D]").astype(np.int64)
    if period == "week":
        days = times.astype("datetime64[D]").astype(np.int64)
        return np.floor_divide(days + _MONDAY_OFFSET, 7)
    if period == "month":
        return times.astype("datetime64[M]").astype(np.int64)
    raise ValueError(f"period: expected one of {', '.join(PERIODS)}, found {period!r}")


def _times(values: ArrayLike) -> NDArray[np.datetime64]:
    try:
        times = np.asarray(values, dtype="datetime64[us]")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"time: expected datetimes (numpy datetime64), {exc}") from None
    if times.ndim != 1:
        raise ValueError(f"time: expected a 1-d array, found {times.ndim} dimensions")
    if np.isnat(times).any():
        raise ValueError("time: expected datetimes, found NaT")
    return times


def _moment(end: dt.datetime | np.datetime64 | str) -> np.datetime64:
    """``end`` as ``datetime64[us]``: an aware datetime is converted to naive UTC."""
    moment: np.datetime64
    try:
        if isinstance(end, np.datetime64):
            moment = end.astype("datetime64[us]")
        elif isinstance(end, dt.datetime) and end.tzinfo is not None:
            moment = np.datetime64(end.astimezone(dt.UTC).replace(tzinfo=None), "us")
        else:
            moment = np.datetime64(end, "us")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"end: expected a datetime, {exc}") from None
    if np.isnat(moment):
        raise ValueError("end: expected a datetime, found NaT")
    return moment


def summarize(
    customer: ArrayLike,
    time: ArrayLike,
    value: ArrayLike | None = None,
    *,
    end: dt.datetime | np.datetime64 | str,
    period: Period = "day",
    periods_per_unit: float = 1.0,
) -> Summary:
    """Summarise an event log (see the module docstring): ``customer`` integer indices,
    ``time`` datetimes, ``value`` the events' values (optional: ``monetary`` is 0 without)."""
    if not (math.isfinite(periods_per_unit) and periods_per_unit > 0):
        raise ValueError(f"periods_per_unit: expected a number > 0, found {periods_per_unit}")
    cust = np.asarray(customer)
    if cust.ndim != 1 or not (cust.size == 0 or np.issubdtype(cust.dtype, np.integer)):
        raise ValueError("customer: expected a 1-d array of integer customer indices")
    cust = cust.astype(np.int64, copy=False)
    if cust.size and cust.min() < 0:
        raise ValueError("customer: expected indices >= 0")
    times = _times(time)
    if times.size != cust.size:
        raise ValueError(f"time: expected {cust.size} values, found {times.size}")
    values = None if value is None else as_vector("value", value, size=cust.size)
    end_period = int(period_index(np.array([_moment(end)]), period)[0])

    periods = period_index(times, period)
    kept = periods <= end_period
    if not kept.all():
        cust, periods = cust[kept], periods[kept]
        values = None if values is None else values[kept]
    if cust.size == 0:
        empty = np.zeros(0)
        return Summary(np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, empty,
                       period, float(periods_per_unit))  # fmt: skip

    # one sort by (customer, period) as a single int64 key
    first_period = int(periods.min())
    span = end_period - first_period + 1
    if int(cust.max()) >= (2**62) // span:
        raise ValueError("customer: indices too large for the span of periods")
    key = cust * span
    key += periods
    key -= first_period
    del periods
    if values is None:
        sorted_key = np.sort(key)
        sorted_values = None
    else:
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        sorted_values = values[order]
        del order
    del key

    # purchases: distinct (customer, period)
    new = np.empty(sorted_key.size, dtype=bool)
    new[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    del new
    purchase_key = sorted_key[starts]
    purchase_customer = purchase_key // span
    purchase_period = purchase_key - purchase_customer * span
    purchase_value = None if sorted_values is None else np.add.reduceat(sorted_values, starts)
    del sorted_key, sorted_values, starts, purchase_key

    # customers
    new_customer = np.empty(purchase_customer.size, dtype=bool)
    new_customer[0] = True
    np.not_equal(purchase_customer[1:], purchase_customer[:-1], out=new_customer[1:])
    first = np.flatnonzero(new_customer)
    last = np.append(first[1:], purchase_customer.size) - 1
    x = (last - first).astype(np.int64)
    first_p = purchase_period[first]
    t_x = (purchase_period[last] - first_p) / periods_per_unit
    T = (end_period - first_period - first_p) / periods_per_unit
    if purchase_value is None:
        monetary = np.zeros(x.size)
    else:
        purchase_value[first] = 0.0  # the first purchase's value is not a repeat's
        repeat_total = np.add.reduceat(purchase_value, first)
        monetary = np.divide(repeat_total, x, out=np.zeros(x.size), where=x > 0, casting="unsafe")
    return Summary(
        customer=purchase_customer[first],
        x=x,
        t_x=np.asarray(t_x, dtype=np.float64),
        T=np.asarray(T, dtype=np.float64),
        monetary=monetary,
        period=period,
        periods_per_unit=float(periods_per_unit),
    )
