"""Seeded event logs drawn from the BG/NBD and Gamma-Gamma processes (tests, benchmarks).

Customer ``i`` makes a first purchase at a time ``bᵢ`` uniform in ``[0, acquisition)``
(model time units after ``start``); observation ends at ``horizon`` units, so its age is
``Tᵢ = horizon − bᵢ``. Then, as in Fader, Hardie & Lee (2005):

- ``λᵢ ~ Gamma(r, rate α)``, ``pᵢ ~ Beta(a, b)``;
- while alive, repeat purchases arrive as a Poisson process of rate ``λᵢ``; after each repeat
  purchase the customer drops out with probability ``pᵢ``: the number of repeat purchases up
  to and including the last one is ``Kᵢ ~ Geometric(pᵢ)`` on ``{1, 2, …}``;
- so the observed repeat purchases are the first ``min(Nᵢ, Kᵢ)`` arrivals of the ``Nᵢ ~
  Poisson(λᵢ Tᵢ)`` in ``(0, Tᵢ]``, drawn as uniform order statistics from exponential
  spacings (no loop over customers, no arrival beyond the ones kept).

With Gamma-Gamma parameters, each customer's ``νᵢ ~ Gamma(q, rate v)`` and every purchase
(the first included) is worth ``z ~ Gamma(p, rate νᵢ)``; otherwise values are 1.

Everything is drawn from ``numpy.random.default_rng(seed)`` in a fixed order, so a seed gives
the same log on every machine with the same numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .base import FloatArray
from .bgnbd import BgNbdParams
from .gammagamma import GammaGammaParams

__all__ = ["EventLog", "simulate_events"]


@dataclass(frozen=True, eq=False)
class EventLog:
    """Events ordered by customer, then time."""

    customer: NDArray[np.int64]
    time: NDArray[np.datetime64]
    """``datetime64[us]``."""
    value: FloatArray
    end: np.datetime64
    """The end of observation: ``start + horizon`` units."""


def simulate_events(
    bgnbd: BgNbdParams,
    gammagamma: GammaGammaParams | None = None,
    *,
    customers: int,
    start: np.datetime64,
    unit: np.timedelta64,
    acquisition: float,
    horizon: float,
    seed: int,
) -> EventLog:
    """Draw the purchases of ``customers`` customers (see the module docstring); ``unit`` is
    the model's time unit (e.g. ``np.timedelta64(7, "D")`` for weeks)."""
    if customers < 0:
        raise ValueError(f"customers: expected a number >= 0, found {customers}")
    if not (0 < acquisition <= horizon and math.isfinite(horizon)):
        raise ValueError("expected 0 < acquisition <= horizon")
    rng = np.random.default_rng(seed)
    p = bgnbd
    birth = rng.uniform(0.0, acquisition, customers)
    age = horizon - birth
    rate = rng.gamma(p.r, 1.0 / p.alpha, customers)
    dropout = rng.beta(p.a, p.b, customers)
    arrivals = rng.poisson(rate * age)
    lifetime = rng.geometric(np.maximum(dropout, 1e-300))
    repeats = np.minimum(arrivals, lifetime)

    # the first `repeats` of `arrivals` uniform order statistics on (0, age]
    total = int(repeats.sum())
    owner = np.repeat(np.arange(customers, dtype=np.int64), repeats)
    spacing = np.cumsum(rng.exponential(1.0, total))
    offsets = np.concatenate(([0], np.cumsum(repeats)[:-1])) if customers else np.zeros(0)
    base = np.concatenate(([0.0], spacing))[offsets.astype(np.int64)]
    spacing -= np.repeat(base, repeats)  # cumulative spacings restart for each customer
    last = np.zeros(customers)
    has = repeats > 0
    last[has] = spacing[np.cumsum(repeats)[has] - 1]
    rest = rng.gamma(arrivals - repeats + 1.0, 1.0)  # the spacings after the kept arrivals
    scale = age / (last + rest)
    repeat_time = birth[owner] + spacing * scale[owner]

    if gammagamma is None:
        first_value = np.ones(customers)
        repeat_value = np.ones(total)
    else:
        g = gammagamma
        nu = rng.gamma(g.q, 1.0 / g.v, customers)
        first_value = rng.gamma(g.p, 1.0 / nu)
        repeat_value = rng.gamma(g.p, 1.0 / nu[owner])

    customer = np.concatenate((np.arange(customers, dtype=np.int64), owner))
    moment = np.concatenate((birth, repeat_time))
    value = np.concatenate((first_value, repeat_value))
    order = np.lexsort((moment, customer))
    micro = float(unit / np.timedelta64(1, "us"))
    start_us = start.astype("datetime64[us]")
    times = start_us + (moment[order] * micro).astype(np.int64).astype("timedelta64[us]")
    return EventLog(
        customer=customer[order],
        time=times,
        value=value[order],
        end=start_us + np.timedelta64(int(horizon * micro), "us"),
    )
