"""The BG/NBD model of repeat purchasing and drop-out (Fader, Hardie & Lee 2005).

P. S. Fader, B. G. S. Hardie and K. L. Lee, "'Counting Your Customers' the Easy Way: An
Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 2005, 275–284; equation
numbers below are theirs. While alive, a customer buys as a Poisson process of rate
``λ ~ Gamma(r, α)`` (shape ``r``, rate ``α``); after each *repeat* purchase she drops out for
good with probability ``p ~ Beta(a, b)``.

**Data.** One row per customer, in one time unit of the caller's choice (weeks in the paper):
``x`` repeat purchases (purchases after the first), ``t_x`` the time from the first purchase to
the last (0 when ``x = 0``), ``T`` the time from the first purchase to the end of observation
(:func:`segsync.predict.summary.summarize` builds them). ``α`` is in the same time unit; ``r``,
``a``, ``b`` have none.

**Likelihood** (eq. 6), evaluated in log space as ``ln L = A1 + logaddexp(A2, A3)``::

    A1 = ln Γ(r+x) − ln Γ(r) + r ln α
    A2 = ln B(a, b+x) − ln B(a, b) − (r+x) ln(α+T)
    A3 = ln B(a+1, b+x−1) − ln B(a, b) − (r+x) ln(α+t_x)    (−∞ when x = 0)

:func:`fit_bgnbd` maximises it (see :mod:`segsync.predict.base` for the optimiser and what
*converged* means); times are divided by their mean during the fit (``α`` scales with the
time unit, the other parameters do not) and ``α`` is scaled back.

**Predictions.**

- :func:`expected_purchases` — eq. 10, the expected purchases in ``(T, T+t]`` given the
  customer's ``(x, t_x, T)``. The hypergeometric factor is evaluated after Euler's
  transformation, ``(1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1)
  ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`` with ``z = t/(α+T+t)``, whose series stays near 1 for
  large ``x`` where the untransformed one grows like ``(1−z)^(−x)``.
- :func:`p_alive` — the probability the customer is still alive at ``T``:
  ``1 / (1 + [x > 0] a/(b+x−1) ((α+T)/(α+t_x))^(r+x))`` (Fader, Hardie & Lee 2008, "Computing
  P(alive) using the BG/NBD model"; 1 when ``x = 0``: in this model a customer can only
  drop out right after a repeat purchase).
- :func:`p_purchase` — the probability of at least one purchase in ``(T, T+t]``:
  ``P(alive) × (1 − ((α+T)/(α+T+t))^(r+x))``. A customer alive at ``T`` buys nothing in the
  next ``t`` exactly when her Poisson process has no arrival there (she can only drop out
  right after a purchase), and given alive her rate is ``Gamma(r+x, α+T)`` (the posterior of
  the "alive" branch of eq. 6), whose Laplace transform at ``t`` is that power. Unlike
  P(alive), which is 1 for every customer without a repeat purchase however long ago she
  bought, it falls as ``T`` grows.
- :func:`expected_purchases_new` — eq. 7, the expected repeat purchases in ``(0, t]`` of a
  customer who has just made a first purchase.
- :func:`discounted_expected_purchases` — the horizon cut into equal periods, each period's
  expected purchases discounted (the discounting convention of
  :func:`segsync.predict.gammagamma.customer_lifetime_value`).

``a = 1`` makes the closed forms 0/0; within 1e-7 of 1, ``a`` is evaluated at ``1 ± 1e-7``
(the expectations are continuous in ``a``; the relative error this makes is about 1e-7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from .base import (
    ConvergenceError,
    FloatArray,
    as_vector,
    dot,
    group_rows,
    minimise,
    screen_rows,
)

__all__ = [
    "BgNbdFit",
    "BgNbdParams",
    "discounted_expected_purchases",
    "expected_purchases",
    "expected_purchases_new",
    "fit_bgnbd",
    "log_likelihood",
    "p_alive",
    "p_purchase",
]

DEFAULT_STARTS: tuple[tuple[float, float, float, float], ...] = (
    (0.5, 0.5, 1.0, 3.0),
    (1.0, 1.0, 0.5, 1.0),
    (2.0, 2.0, 2.0, 10.0),
)
"""Starting points ``(r, α·λ̂, a, b)``: ``α`` is given relative to ``1/λ̂``, the observed
purchase rate ``λ̂ = Σx / ΣT`` (in the rescaled time of the fit)."""


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: ``λ ~ Gamma(r, α)``, ``p ~ Beta(a, b)``; all positive."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "a", "b"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"BG/NBD {name}: expected a finite number > 0, found {value!r}")


@dataclass(frozen=True)
class BgNbdFit:
    """A maximum-likelihood fit of :class:`BgNbdParams`."""

    params: BgNbdParams
    log_likelihood: float
    """Σ (weight × ln L) over the customers at ``params`` (eq. 6, no penalty)."""
    customers: float
    """Σ weight: the number of customers fitted."""
    iterations: int
    """L-BFGS-B iterations of the winning start."""
    converged: bool
    """A strict local maximum (see :mod:`segsync.predict.base`)."""
    gradient: float
    """max |∂(mean −ln L)/∂ ln θ| at the optimum (with the penalty's part)."""
    standard_errors: tuple[float, float, float, float]
    """Of ``(r, α, a, b)``, from the inverse Hessian (NaN when not identified)."""
    penalty: float


# -- inputs ------------------------------------------------------------------------------


def _summary(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xs = as_vector("x", x)
    txs = as_vector("t_x", t_x)
    ts = as_vector("T", T)
    xs, txs, ts = (np.ascontiguousarray(v) for v in np.broadcast_arrays(xs, txs, ts))
    if (xs < 0).any() or (xs != np.floor(xs)).any():
        raise ValueError("x: expected whole numbers of repeat purchases >= 0")
    if (txs < 0).any():
        raise ValueError("t_x: expected recencies >= 0")
    if (txs > ts * (1 + 1e-12)).any():
        raise ValueError("t_x: expected each recency to be at most the customer's age T")
    return xs, txs, ts


def _a_away_from_one(a: float) -> float:
    if abs(a - 1.0) < 1e-7:
        return 1.0 + math.copysign(1e-7, a - 1.0 if a != 1.0 else 1.0)
    return a


# -- likelihood ----------------------------------------------------------------------------


def log_likelihood(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """ln L (eq. 6) of each customer at ``params``."""
    xs, txs, ts = _summary(x, t_x, T)
    rows = _Rows.of(xs, txs, ts, np.ones(xs.size))
    values, _, _ = rows.branches(np.log([params.r, params.alpha, params.a, params.b]))
    return values


@dataclass(frozen=True)
class _Rows:
    """The data of a fit: rows with weights, and the distinct values of ``x`` (functions of
    ``x`` alone — log-gammas, digammas — are computed once per distinct ``x``)."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    w: FloatArray
    xu: FloatArray
    """The distinct values of ``x``, ascending."""
    xi: NDArray[np.intp]
    """Each row's index into ``xu``."""
    wx: FloatArray
    """Σ w per distinct ``x``."""
    total: float

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> _Rows:
        xu, xi = np.unique(x, return_inverse=True)
        wx = np.bincount(xi, weights=w, minlength=xu.size).astype(np.float64)
        return cls(x, t_x, T, w, xu, xi, wx, float(w.sum()))

    def branches(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per row ``(ln L, A3, logaddexp(A2, A3))`` in the notation of the module docstring
        (``ln L = A1 + logaddexp(A2, A3)``; ``A3 = −∞`` where ``x = 0``)."""
        r, alpha, a, b = np.exp(theta)
        xu = self.xu
        repeat = xu > 0
        base = betaln(a, b)
        a1_u = gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        b2_u = betaln(a, b + xu) - base
        b3_u = np.full(xu.size, -np.inf)
        b3_u[repeat] = betaln(a + 1.0, b + xu[repeat] - 1.0) - base
        rx = r + self.x
        a2 = b2_u[self.xi] - rx * np.log(alpha + self.T)
        a3 = b3_u[self.xi] - rx * np.log(alpha + self.t_x)  # -inf where x = 0
        # logaddexp(a2, a3) = max + log1p(exp(−|a2 − a3|)), a few times faster than numpy's
        gap = np.abs(a2 - a3)
        np.negative(gap, out=gap)
        np.exp(gap, out=gap)
        np.log1p(gap, out=gap)
        mixed = np.maximum(a2, a3)
        mixed += gap
        return a1_u[self.xi] + mixed, a3, mixed

    def objective(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """Mean −ln L over the weighted rows and its gradient in ``θ = ln(r, α, a, b)``.

        With ``π`` the posterior weight of the "dropped out after ``t_x``" branch
        (``exp(A3 − logaddexp(A2, A3))``, 0 when ``x = 0``)::

            ∂lnL/∂r = ψ(r+x) − ψ(r) + ln α − (1−π) ln(α+T) − π ln(α+t_x)
            ∂lnL/∂α = r/α − (r+x) ((1−π)/(α+T) + π/(α+t_x))
            ∂lnL/∂a = ψ(a+b) − ψ(a+b+x) + π/a
            ∂lnL/∂b = ψ(a+b) − ψ(a+b+x) + (1−π)(ψ(b+x) − ψ(b)) + π (ψ(b+x−1) − ψ(b))

        Sums of functions of ``x`` alone are taken per distinct ``x``; the per-row work is a
        few vector operations."""
        r, alpha, a, b = np.exp(theta)
        xu, w = self.xu, self.w
        repeat = xu > 0
        values, a3, mixed = self.branches(theta)
        # π; below e⁻⁶⁰ it is 0 to double precision next to 1 − π, and setting it to 0 keeps
        # subnormal numbers (exp of −708..−745), which make arithmetic ~100× slower, out
        log_dead = a3 - mixed
        dead = np.exp(log_dead, out=np.zeros(log_dead.size), where=log_dead > -60.0)
        w_dead = w * dead
        w_alive = w - w_dead
        log_aT = np.log(alpha + self.T)
        log_atx = np.log(alpha + self.t_x)
        rx = r + self.x
        psi_ab = digamma(a + b)
        d_a_u = psi_ab - digamma(a + b + xu)
        d_b2_u = digamma(b + xu) - digamma(b)
        d_b3_u = np.zeros(xu.size)
        d_b3_u[repeat] = digamma(b + xu[repeat] - 1.0) - digamma(b)
        alive_x = np.bincount(self.xi, weights=w_alive, minlength=xu.size)
        dead_x = self.wx - alive_x
        d_r = dot(digamma(r + xu) - digamma(r) + np.log(alpha), self.wx)
        d_r -= dot(w_alive, log_aT) + dot(w_dead, log_atx)
        d_alpha = r / alpha * self.total - (
            dot(w_alive * rx, 1.0 / (alpha + self.T)) + dot(w_dead * rx, 1.0 / (alpha + self.t_x))
        )
        d_a = dot(d_a_u, self.wx) + float(w_dead.sum()) / a
        d_b = dot(d_a_u, self.wx) + dot(d_b2_u, alive_x) + dot(d_b3_u, dead_x)
        grad = np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
        return -dot(w, values) / self.total, -grad / self.total


# -- fit -----------------------------------------------------------------------------------


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    penalty: float = 0.0,
    starts: Sequence[tuple[float, float, float, float]] = DEFAULT_STARTS,
    max_iterations: int = 1000,
    gradient_tolerance: float = 1e-6,
    strict: bool = True,
) -> BgNbdFit:
    """Fit BG/NBD by maximum likelihood on per-customer ``(x, t_x, T)``.

    ``weights`` counts customers per row (default 1 each: rows may be pre-grouped); identical
    rows are grouped anyway before fitting. ``penalty`` adds ``penalty × Σ (ln θ)²`` to the
    mean negative log-likelihood (an L2 pull of every parameter towards 1 on the log scale
    — ``α`` in the fit's rescaled time, see the module docstring); 0 (the default) is plain
    maximum likelihood. ``starts`` are ``(r, α·λ̂, a, b)`` (see :data:`DEFAULT_STARTS`).

    Raises :class:`~segsync.predict.base.ConvergenceError` when the best optimum is not a
    strict local maximum (its gradient exceeds ``gradient_tolerance``, or the likelihood is
    flat in some direction) — unless ``strict=False``: then the fit is returned with
    ``converged=False`` — and ``ValueError`` for invalid data.
    """
    xs, txs, ts = _summary(x, t_x, T)
    w = np.ones(xs.size) if weights is None else as_vector("weights", weights, size=xs.size)
    if (w < 0).any():
        raise ValueError("weights: expected counts >= 0")
    keep = w > 0
    if not keep.all():
        xs, txs, ts, w = xs[keep], txs[keep], ts[keep], w[keep]
    total = float(w.sum())
    if xs.size == 0 or total == 0:
        raise ValueError("BG/NBD: no customers to fit")
    exposure = dot(w, ts)
    if exposure <= 0:
        raise ValueError("BG/NBD: every customer has age T = 0; nothing to fit")
    scale = exposure / total
    (ux, utx, uT), _, inverse = group_rows(xs, txs, ts)
    uw = np.bincount(inverse, weights=w, minlength=ux.size).astype(np.float64)
    rows = _Rows.of(ux, utx / scale, uT / scale, uw)
    rate = max(dot(uw, ux) / dot(uw, rows.T), 1e-6)
    starting = [(r, ar / rate, a, b) for r, ar, a, b in starts]
    subset = screen_rows(ux.size)
    screen = None
    if subset is not None:
        screen = _Rows.of(rows.x[subset], rows.t_x[subset], rows.T[subset], uw[subset]).objective
    best = minimise(
        rows.objective, starting, penalty=penalty, max_iterations=max_iterations, screen=screen
    )
    r, alpha_scaled, a, b = (float(v) for v in np.exp(best.theta))
    params = BgNbdParams(r=r, alpha=alpha_scaled * scale, a=a, b=b)
    converged = best.converged(gradient_tolerance)
    if strict and not converged:
        raise ConvergenceError(
            f"BG/NBD fit did not converge on {total:.0f} customers after {best.iterations} "
            f"iterations at r={r:.4g}, alpha={params.alpha:.4g}, a={a:.4g}, b={b:.4g}: "
            f"{best.diagnosis(gradient_tolerance)}"
        )
    ll = dot(w, log_likelihood(params, xs, txs, ts))
    se = best.standard_errors(total) * np.exp(best.theta) * np.array([1.0, scale, 1.0, 1.0])
    return BgNbdFit(
        params=params,
        log_likelihood=ll,
        customers=total,
        iterations=best.iterations,
        converged=converged,
        gradient=best.gradient,
        standard_errors=(float(se[0]), float(se[1]), float(se[2]), float(se[3])),
        penalty=penalty,
    )


# -- predictions ---------------------------------------------------------------------------


def _hyp_term(a: float, b: float, r: float, x: FloatArray, z: FloatArray) -> FloatArray:
    """``(1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)``: Euler's form of
    ``(1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)``."""
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    return np.asarray(np.exp((a - 1.0) * np.log1p(-z)) * hyp, dtype=np.float64)


def _log_odds_dead(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """``ln(a/(b+x−1)) + (r+x) ln((α+T)/(α+t_x))`` where ``x > 0``; −∞ where ``x = 0``."""
    p = params
    out = np.full(x.size, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    out[repeat] = (
        math.log(p.a)
        - np.log(p.b + xr - 1.0)
        + (p.r + xr) * (np.log(p.alpha + T[repeat]) - np.log(p.alpha + t_x[repeat]))
    )
    return out


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T): 1 for ``x = 0``, else
    ``1 / (1 + a/(b+x−1) ((α+T)/(α+t_x))^(r+x))``."""
    xs, txs, ts = _summary(x, t_x, T)
    return np.asarray(expit(-_log_odds_dead(params, xs, txs, ts)), dtype=np.float64)


def p_purchase(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(at least one purchase in (T, T+t] | x, t_x, T), for horizons ``t >= 0`` (broadcast):
    ``P(alive) × (1 − ((α+T)/(α+T+t))^(r+x))`` (see the module docstring)."""
    horizon = as_vector("t", t)
    if (horizon < 0).any():
        raise ValueError("t: expected horizons >= 0")
    xs, txs, ts = _summary(x, t_x, T)
    horizon, xs, txs, ts = (
        np.ascontiguousarray(v) for v in np.broadcast_arrays(horizon, xs, txs, ts)
    )
    p = params
    # 1 − ((α+T)/(α+T+t))^(r+x) = −expm1((r+x) · log1p(−t/(α+T+t))), exact for small t
    quiet = -np.expm1((p.r + xs) * np.log1p(-horizon / (p.alpha + ts + horizon)))
    alive = expit(-_log_odds_dead(p, xs, txs, ts))
    return np.asarray(alive * quiet, dtype=np.float64)


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[purchases in (T, T+t] | x, t_x, T] (eq. 10), for horizons ``t >= 0`` (broadcast)."""
    horizon = as_vector("t", t)
    if (horizon < 0).any():
        raise ValueError("t: expected horizons >= 0")
    xs, txs, ts = _summary(x, t_x, T)
    horizon, xs, txs, ts = (
        np.ascontiguousarray(v) for v in np.broadcast_arrays(horizon, xs, txs, ts)
    )
    return _expected(params, horizon, xs, txs, ts)


def _expected(
    params: BgNbdParams, t: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    p = params
    a = _a_away_from_one(p.a)
    z = t / (p.alpha + T + t)
    front = (a + p.b + x - 1.0) / (a - 1.0)
    body = 1.0 - _hyp_term(a, p.b, p.r, x, z)
    alive = expit(-_log_odds_dead(p, x, t_x, T))
    return np.asarray(front * body * alive, dtype=np.float64)


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)] (eq. 7): expected repeat purchases in ``(0, t]`` of a customer whose first
    purchase was at 0."""
    horizon = as_vector("t", t)
    if (horizon < 0).any():
        raise ValueError("t: expected horizons >= 0")
    zeros = np.zeros(horizon.size)
    return _expected(params, horizon, zeros, zeros, zeros)


def discounted_expected_purchases(
    params: BgNbdParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    horizon: float,
    periods: int = 12,
    discount_rate: float = 0.0,
) -> FloatArray:
    """``Σₖ (E[Y(k·h/K)] − E[Y((k−1)·h/K)]) / (1+d)^k`` for ``k = 1..K``: the horizon ``h``
    cut into ``K = periods`` equal periods, the purchases expected in period ``k`` discounted
    by ``k`` periods at ``d = discount_rate`` per period (end-of-period discounting).

    Computed once per distinct ``(x, t_x, T)`` row."""
    if not (math.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon: expected a number > 0, found {horizon}")
    if periods < 1:
        raise ValueError(f"periods: expected at least 1, found {periods}")
    if not (math.isfinite(discount_rate) and discount_rate > -1):
        raise ValueError(f"discount_rate: expected a number > -1, found {discount_rate}")
    xs, txs, ts = _summary(x, t_x, T)
    (ux, utx, uT), _, inverse = group_rows(xs, txs, ts)
    total = np.zeros(ux.size)
    previous = np.zeros(ux.size)
    for k in range(1, periods + 1):
        cumulative = _expected(params, np.full(ux.size, horizon * k / periods), ux, utx, uT)
        total += (cumulative - previous) / (1.0 + discount_rate) ** k
        previous = cumulative
    return total[inverse]
