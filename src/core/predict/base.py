"""What the models of :mod:`segsync.predict` share: their errors, input checks, the grouping
of identical rows, and the multi-start maximum-likelihood driver.

**Fitting.** Each model's parameters are positive; they are estimated on the log scale
(``θ = log(parameter)``), so the optimiser is unconstrained in effect (L-BFGS-B with wide
box bounds ``|θ| ≤ 30`` only to keep ``exp`` finite). The objective is the *mean* negative
log-likelihood per customer (plus an optional L2 penalty on ``θ``), with its analytic
gradient. The optimiser runs from each of a few fixed starting points, in order; the start
reaching the lowest objective wins. On more than ``SCREEN_ROWS`` rows the starts are run on
an evenly spaced subsample of that many rows (deterministic), and the full data's optimum is
then sought from the best of them only. The fit has **converged** when that optimum is a strict
local minimum, judged on the point itself rather than on the optimiser's stopping message:

- every component of the objective's gradient (with respect to ``θ``) is at most
  ``gradient_tolerance`` in absolute value, and
- the Hessian there (central differences of the analytic gradient, step 1e-5 in ``θ``) is
  positive definite: its smallest eigenvalue is at least ``CURVATURE_TOLERANCE`` times
  ``max(1, largest)``.

The second condition catches data that do not identify the model: a parameter running off
to 0 or ∞ (say ``r → 0`` when nobody ever buys again) flattens the objective in ``θ``, so the
gradient vanishes there too, but the curvature does as well. At a converged optimum the
inverse Hessian, divided by the number of customers, estimates the covariance of ``θ``; the
fits report the parameters' standard errors from it (delta method: ``se(β) = β·se(ln β)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from segsync.errors import ModelError

__all__ = [
    "ConvergenceError",
    "FloatArray",
    "Optimum",
    "WeakModelError",
    "as_vector",
    "dot",
    "group_rows",
    "minimise",
    "screen_rows",
]

FloatArray = NDArray[np.float64]
LOG_BOUND = 30.0
"""The box on each log-parameter: parameters stay within ``[e⁻³⁰, e³⁰]``."""
CURVATURE_TOLERANCE = 1e-8
"""Smallest Hessian eigenvalue, relative to ``max(1, largest)``, of a converged optimum."""
HESSIAN_STEP = 1e-5
SCREEN_ROWS = 50_000
"""Above this many rows, the starts are compared on a subsample of this size."""


class ConvergenceError(ModelError):
    """A maximum-likelihood fit did not reach a stationary point (see :mod:`.base`)."""


class WeakModelError(ModelError):
    """A propensity model scores too poorly on its holdout to be used.

    ``auc`` is the holdout AUC, ``threshold`` the minimum that was required."""

    def __init__(self, message: str, *, auc: float, threshold: float) -> None:
        super().__init__(message)
        self.auc = auc
        self.threshold = threshold


def dot(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Σ aᵢ·bᵢ of two 1-d arrays, single-threaded. (numpy's ``@`` calls BLAS, whose threaded
    dot product stalls when the other cores are busy: the fits ran 4× slower through it on
    a loaded 2-core machine.)"""
    return float(np.einsum("i,i->", a, b))


def as_vector(name: str, values: ArrayLike, *, size: int | None = None) -> FloatArray:
    """``values`` as a 1-d float64 array of finite numbers (a copy only when needed);
    ``ValueError`` naming ``name`` otherwise, or when its length is not ``size``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, found {array.ndim} dimensions")
    if size is not None and array.size != size:
        raise ValueError(f"{name}: expected {size} values, found {array.size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite numbers, found NaN or infinity")
    return array


def screen_rows(size: int) -> NDArray[np.intp] | None:
    """``SCREEN_ROWS`` evenly spaced row indices out of ``size``, or None when ``size`` is not
    larger (then the starts run on all rows)."""
    if size <= SCREEN_ROWS:
        return None
    return np.linspace(0, size - 1, SCREEN_ROWS).astype(np.intp)


def group_rows(
    *columns: FloatArray,
) -> tuple[list[FloatArray], NDArray[np.int64], NDArray[np.intp]]:
    """Identical rows of ``columns`` (equal-length 1-d arrays) grouped:
    ``(unique columns, count of each unique row, index of each row's unique row)``.
    Unique rows come in lexicographic order of the columns (the first column first)."""
    n = columns[0].size
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0, np.int64), np.zeros(0, np.intp)
    order = np.lexsort(columns[::-1])
    ordered = [c[order] for c in columns]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in ordered:
        change[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(change) - 1
    return [c[starts] for c in ordered], counts, inverse


@dataclass(frozen=True, eq=False)
class Optimum:
    """Where one start of :func:`minimise` ended."""

    theta: FloatArray
    objective: float
    gradient: float
    """max |∂objective/∂θ| at ``theta``."""
    iterations: int
    message: str
    hessian: FloatArray
    """∂²objective/∂θ² at ``theta`` (penalty included), symmetrised."""

    def converged(self, gradient_tolerance: float) -> bool:
        """A strict local minimum: small gradient, positive definite Hessian (see above)."""
        if not self.gradient <= gradient_tolerance:
            return False
        eigenvalues = np.linalg.eigvalsh(self.hessian)
        if not np.isfinite(eigenvalues).all():
            return False
        return bool(eigenvalues[0] >= CURVATURE_TOLERANCE * max(1.0, float(eigenvalues[-1])))

    def diagnosis(self, gradient_tolerance: float) -> str:
        """Why the optimum is not converged, in words ("" when it is)."""
        if not self.gradient <= gradient_tolerance:
            return (
                f"the gradient is still {self.gradient:.2e} (> {gradient_tolerance:g}; "
                f"optimiser: {self.message}); more iterations may reach the optimum"
            )
        if self.converged(gradient_tolerance):
            return ""
        smallest = float(np.linalg.eigvalsh(self.hessian)[0])
        return (
            f"the log-likelihood is flat in some direction (smallest curvature "
            f"{smallest:.2e}): the data do not identify every parameter (too few repeat "
            f"purchases, or too short a history); a penalty > 0 keeps the parameters finite"
        )

    def standard_errors(self, customers: float) -> FloatArray:
        """Standard errors of ``θ`` from the inverse Hessian over ``customers`` rows (NaN
        where the Hessian is not positive definite)."""
        try:
            covariance = np.linalg.inv(self.hessian) / customers
        except np.linalg.LinAlgError:
            return np.full(self.theta.size, np.nan)
        variance = np.diag(covariance)
        return np.where(variance > 0, np.sqrt(np.abs(variance)), np.nan)


Objective = Callable[[FloatArray], tuple[float, FloatArray]]


def minimise(
    objective: Objective,
    starts: Sequence[Sequence[float]],
    *,
    penalty: float,
    max_iterations: int,
    screen: Objective | None = None,
) -> Optimum:
    """Minimise ``objective(θ) + penalty·Σθ²`` (``objective`` returns value and gradient)
    from each start in turn; the optimum with the lowest penalised objective.

    With ``screen`` (the same objective on a subsample of the rows), the starts are run on
    it, and the full ``objective`` is then minimised from the best of them only: on large
    data the starts cost a fraction of one full run."""
    if penalty < 0 or not np.isfinite(penalty):
        raise ValueError(f"penalty: expected a finite number >= 0, found {penalty}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations: expected at least 1, found {max_iterations}")
    full = _penalised(objective, penalty)
    first = _penalised(screen, penalty) if screen is not None else full
    best: _Run | None = None
    for start in starts:
        run = _run(first, np.log(np.asarray(start, dtype=np.float64)), max_iterations)
        if run is not None and (best is None or run.value < best.value):
            best = run
    if best is not None and screen is not None:
        best = _run(full, best.theta, max_iterations)
    if best is None:
        raise ConvergenceError(
            "the log-likelihood is not finite at any starting point: check the data "
            "(every value finite, recency within age, positive spend)"
        )
    return Optimum(
        theta=best.theta,
        objective=best.value,
        gradient=float(np.max(np.abs(best.grad))),
        iterations=best.iterations,
        message=best.message,
        hessian=_hessian(full, best.theta),
    )


def _penalised(objective: Objective, penalty: float) -> Objective:
    def penalised(theta: FloatArray) -> tuple[float, FloatArray]:
        value, grad = objective(theta)
        if not np.isfinite(value):
            return float("inf"), np.zeros_like(theta)
        return value + penalty * float(theta @ theta), grad + 2.0 * penalty * theta

    return penalised


@dataclass(frozen=True, eq=False)
class _Run:
    theta: FloatArray
    value: float
    grad: FloatArray
    iterations: int
    message: str


def _run(function: Objective, theta0: FloatArray, max_iterations: int) -> _Run | None:
    """One L-BFGS-B run from ``theta0``; None when it ends where the objective is not finite."""
    result = minimize(
        function,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * theta0.size,
        options={"maxiter": max_iterations, "gtol": 1e-12, "ftol": 1e-15, "maxls": 50},
    )
    theta = np.asarray(result.x, dtype=np.float64)
    value, grad = function(theta)
    if not np.isfinite(value):
        return None
    return _Run(theta, value, grad, int(result.nit), str(result.message))


def _hessian(function: Objective, theta: FloatArray) -> FloatArray:
    """Central differences of the gradient, symmetrised."""
    size = theta.size
    hessian = np.empty((size, size))
    for j in range(size):
        step = np.zeros(size)
        step[j] = HESSIAN_STEP
        _, up = function(theta + step)
        _, down = function(theta - step)
        hessian[:, j] = (up - down) / (2 * HESSIAN_STEP)
    return (hessian + hessian.T) / 2
