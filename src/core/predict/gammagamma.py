"""The Gamma-Gamma model of spend per transaction, and customer lifetime value.

P. S. Fader and B. G. S. Hardie, "The Gamma-Gamma Model of Monetary Value", 2013 (a note
at brucehardie.com), after Fader, Hardie & Lee, "RFM and CLV: Using Iso-Value Curves for
Customer Base Analysis", *Journal of Marketing Research* 42(4), 2005, 415–430. A customer's
transactions are worth ``zⱼ ~ Gamma(p, ν)`` (shape ``p``, rate ``ν``), with ``ν ~ Gamma(q, γ)``
across customers (``γ``, written ``v`` here as in ``lifetimes``, is in money). Spend is
assumed independent of the purchase process (check it: the correlation of ``x`` and ``m``
over repeat buyers should be small).

**Data.** Repeat buyers only: ``x ≥ 1`` repeat purchases and ``m > 0`` their mean value (the
first purchase excluded, as :func:`segsync.predict.summary.summarize` does). Rows with
``x = 0`` carry no spend information and are left out of the fit.

**Likelihood** of ``m`` (its density, so the Jacobian ``x`` is included)::

    ln f(m | x) = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln(x·m) + ln x
                  − (px+q) ln(v + x·m)

:func:`fit_gammagamma` maximises it (optimiser and convergence as in
:mod:`segsync.predict.base`; money is divided by its mean during the fit and ``v`` scaled
back).

**Predictions.** :func:`conditional_expected_average_profit` is
``E[M | x, m] = p (v + x·m) / (p·x + q − 1)`` — a weighted mean of the population mean
``p·v/(q−1)`` and the customer's own ``m`` (for ``x = 0``, the population mean). It needs
``q > 1`` (otherwise the population mean spend is infinite): :class:`ModelError` else.

**Customer lifetime value** (:func:`customer_lifetime_value`) over a horizon ``h`` cut into
``K`` equal periods, at a discount rate ``d`` *per period*, with an optional margin::

    CLV = margin × E[M | x, m] × Σₖ₌₁..K (E[Y(k·h/K)] − E[Y((k−1)·h/K)]) / (1+d)^k

— the BG/NBD purchases expected in each period (:func:`segsync.predict.bgnbd.expected_purchases`)
valued at the expected spend and discounted by the whole number of periods from now to the
*end* of the period. This is the convention of ``lifetimes``' ``customer_lifetime_value``
(there with months, ``time`` periods of 30 days / 4.345 weeks, and a monthly rate); ``d = 0``
gives undiscounted expected revenue ``E[M|x,m] × E[Y(h)]``. Horizon, periods and rate are
the caller's: e.g. one year in weeks as ``horizon=52, periods=12, discount_rate=0.01`` for
1 % a month (≈ 12.7 % a year).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from segsync.errors import ModelError

from .base import ConvergenceError, FloatArray, as_vector, dot, minimise, screen_rows
from .bgnbd import BgNbdParams, discounted_expected_purchases

__all__ = [
    "GammaGammaFit",
    "GammaGammaParams",
    "conditional_expected_average_profit",
    "customer_lifetime_value",
    "fit_gammagamma",
    "log_likelihood",
]

DEFAULT_STARTS: tuple[tuple[float, float, float], ...] = (
    (1.0, 2.0, 1.0),
    (5.0, 4.0, 0.6),
    (0.5, 1.5, 1.0),
)
"""Starting points ``(p, q, v/m̄)``: ``v`` relative to the mean spend ``m̄`` of the data."""


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters ``p``, ``q`` (no unit) and ``v`` (money); all positive."""

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        for name in ("p", "q", "v"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"Gamma-Gamma {name}: expected a finite number > 0, found {value!r}"
                )

    @property
    def mean_spend(self) -> float:
        """The population's mean spend per transaction, ``p·v/(q−1)`` (``q > 1``)."""
        if self.q <= 1:
            raise ModelError(
                f"Gamma-Gamma q = {self.q:.4g} <= 1: the mean spend per transaction is "
                f"infinite, so expected spend cannot be computed"
            )
        return self.p * self.v / (self.q - 1.0)


@dataclass(frozen=True)
class GammaGammaFit:
    """A maximum-likelihood fit of :class:`GammaGammaParams`."""

    params: GammaGammaParams
    log_likelihood: float
    """Σ (weight × ln f(m | x)) over the repeat buyers at ``params``."""
    customers: float
    """Σ weight over the repeat buyers fitted (rows with ``x = 0`` are not counted)."""
    iterations: int
    converged: bool
    gradient: float
    standard_errors: tuple[float, float, float]
    """Of ``(p, q, v)``, from the inverse Hessian (NaN when not identified)."""
    penalty: float


def _spend(x: ArrayLike, monetary: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xs = as_vector("x", x)
    ms = as_vector("monetary", monetary)
    xs, ms = (np.ascontiguousarray(v) for v in np.broadcast_arrays(xs, ms))
    if (xs < 0).any() or (xs != np.floor(xs)).any():
        raise ValueError("x: expected whole numbers of repeat purchases >= 0")
    if ((xs > 0) & (ms <= 0)).any():
        raise ValueError("monetary: expected a mean value > 0 for every customer with x > 0")
    return xs, ms


def log_likelihood(params: GammaGammaParams, x: ArrayLike, monetary: ArrayLike) -> FloatArray:
    """ln f(m | x) of each customer with ``x ≥ 1`` at ``params`` (see the module docstring)."""
    xs, ms = _spend(x, monetary)
    if (xs == 0).any():
        raise ValueError("x: the spend likelihood is defined for repeat buyers (x >= 1) only")
    p, q, v = params.p, params.q, params.v
    px = p * xs
    xm = xs * ms
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * math.log(v)
        + (px - 1.0) * np.log(xm)
        + np.log(xs)
        - (px + q) * np.log(v + xm),
        dtype=np.float64,
    )


@dataclass(frozen=True)
class _Rows:
    """The repeat buyers of a fit, with the sums that do not depend on the parameters."""

    x: FloatArray
    xm: FloatArray
    """x·m: the customer's total repeat spend."""
    w: FloatArray
    wx: FloatArray
    """w·x per row."""
    xu: FloatArray
    """Distinct values of x."""
    w_u: FloatArray
    """Σ w per distinct x."""
    total: float
    sum_wx_log_xm: float
    sum_w_log_xm: float
    sum_w_log_x: float

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _Rows:
        xu, xi = np.unique(x, return_inverse=True)
        xm = x * m
        log_xm = np.log(xm)
        return cls(
            x=x,
            xm=xm,
            w=w,
            wx=w * x,
            xu=xu,
            w_u=np.bincount(xi, weights=w, minlength=xu.size).astype(np.float64),
            total=float(w.sum()),
            sum_wx_log_xm=dot(w * x, log_xm),
            sum_w_log_xm=dot(w, log_xm),
            sum_w_log_x=dot(w, np.log(x)),
        )

    def objective(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """Mean −ln f over the weighted rows and its gradient in ``θ = ln(p, q, v)``::

        ∂/∂p = x (ψ(px+q) − ψ(px) + ln(x·m) − ln(v + x·m))
        ∂/∂q = ψ(px+q) − ψ(q) + ln v − ln(v + x·m)
        ∂/∂v = q/v − (px+q)/(v + x·m)
        """
        p, q, v = np.exp(theta)
        xu, w_u, total = self.xu, self.w_u, self.total
        log_v = math.log(v)
        log_vxm = np.log(v + self.xm)
        sum_wx_log_vxm = dot(self.wx, log_vxm)
        sum_w_log_vxm = dot(self.w, log_vxm)
        pxu = p * xu
        value = (
            dot(gammaln(pxu + q) - gammaln(pxu), w_u)
            - total * (gammaln(q) - q * log_v)
            + p * self.sum_wx_log_xm
            - self.sum_w_log_xm
            + self.sum_w_log_x
            - p * sum_wx_log_vxm
            - q * sum_w_log_vxm
        )
        psi_u = digamma(pxu + q)
        d_p = dot(xu * (psi_u - digamma(pxu)), w_u) + self.sum_wx_log_xm - sum_wx_log_vxm
        d_q = dot(psi_u, w_u) - total * (digamma(q) - log_v) - sum_w_log_vxm
        d_v = q / v * total - dot(p * self.wx + q * self.w, 1.0 / (v + self.xm))
        grad = np.array([p * d_p, q * d_q, v * d_v])
        return -float(value) / total, -grad / total


def fit_gammagamma(
    x: ArrayLike,
    monetary: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    penalty: float = 0.0,
    starts: Sequence[tuple[float, float, float]] = DEFAULT_STARTS,
    max_iterations: int = 1000,
    gradient_tolerance: float = 1e-6,
    strict: bool = True,
) -> GammaGammaFit:
    """Fit Gamma-Gamma by maximum likelihood on the repeat buyers among ``(x, monetary)``.

    ``weights``, ``penalty`` (on ``ln p``, ``ln q`` and ``ln v`` with money rescaled by its
    mean), ``strict`` and the errors are as in :func:`segsync.predict.bgnbd.fit_bgnbd`.
    """
    xs, ms = _spend(x, monetary)
    w = np.ones(xs.size) if weights is None else as_vector("weights", weights, size=xs.size)
    if (w < 0).any():
        raise ValueError("weights: expected counts >= 0")
    keep = (xs > 0) & (w > 0)
    xs, ms, w = xs[keep], ms[keep], w[keep]
    total = float(w.sum())
    if xs.size == 0 or total == 0:
        raise ValueError("Gamma-Gamma: no repeat buyers (x >= 1) to fit")
    scale = dot(w, ms) / total
    rows = _Rows.of(xs, ms / scale, w)
    subset = screen_rows(xs.size)
    screen = None if subset is None else _Rows.of(xs[subset], ms[subset] / scale, w[subset])
    best = minimise(
        rows.objective,
        starts,
        penalty=penalty,
        max_iterations=max_iterations,
        screen=None if screen is None else screen.objective,
    )
    p, q, v_scaled = (float(t) for t in np.exp(best.theta))
    params = GammaGammaParams(p=p, q=q, v=v_scaled * scale)
    converged = best.converged(gradient_tolerance)
    if strict and not converged:
        raise ConvergenceError(
            f"Gamma-Gamma fit did not converge on {total:.0f} repeat buyers after "
            f"{best.iterations} iterations at p={p:.4g}, q={q:.4g}, v={params.v:.4g}: "
            f"{best.diagnosis(gradient_tolerance)}"
        )
    ll = dot(w, log_likelihood(params, xs, ms))
    se = best.standard_errors(total) * np.exp(best.theta) * np.array([1.0, 1.0, scale])
    return GammaGammaFit(
        params=params,
        log_likelihood=ll,
        customers=total,
        iterations=best.iterations,
        converged=converged,
        gradient=best.gradient,
        standard_errors=(float(se[0]), float(se[1]), float(se[2])),
        penalty=penalty,
    )


def conditional_expected_average_profit(
    params: GammaGammaParams, x: ArrayLike, monetary: ArrayLike
) -> FloatArray:
    """E[M | x, m] = p (v + x·m) / (p·x + q − 1): the expected value of each of the customer's
    future transactions (the population mean ``p·v/(q−1)`` when ``x = 0``, whatever ``m``)."""
    xs, ms = _spend(x, monetary)
    params.mean_spend  # noqa: B018 (raises ModelError when q <= 1)
    p, q, v = params.p, params.q, params.v
    xm = np.where(xs > 0, xs * ms, 0.0)
    return np.asarray(p * (v + xm) / (p * xs + q - 1.0), dtype=np.float64)


def customer_lifetime_value(
    bgnbd: BgNbdParams,
    gammagamma: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon: float,
    periods: int = 12,
    discount_rate: float = 0.0,
    margin: float = 1.0,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over ``horizon`` (in the
    BG/NBD time unit): see the module docstring for the convention."""
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin: expected a number >= 0, found {margin}")
    spend = conditional_expected_average_profit(gammagamma, x, monetary)
    purchases = discounted_expected_purchases(
        bgnbd, x, t_x, T, horizon=horizon, periods=periods, discount_rate=discount_rate
    )
    if spend.size != purchases.size:
        spend, purchases = np.broadcast_arrays(spend, purchases)
    return np.asarray(margin * spend * purchases, dtype=np.float64)
