"""A logistic propensity model, judged on a holdout before it may score anyone.

The caller builds the data (in segsync: features of each profile as of a past cut-off, the
label whether the chosen event happened in the window after it) and splits it by time: the
model is trained on the older cut-off and judged on a later one, as it will be used. This
module then:

1. standardises each feature (mean and standard deviation of the training rows; a constant
   feature gets scale 1) and fits an L2-regularised logistic regression (scikit-learn's
   ``LogisticRegression``, solver lbfgs, ``C`` the inverse regularisation strength;
   ``class_weight="balanced"`` optional for rare events; not converging within
   ``max_iterations`` raises :class:`~segsync.predict.base.ConvergenceError`);
2. scores the holdout: **AUC** (``sklearn.metrics.roc_auc_score``), **Brier score**, the
   holdout's base rate, and a **calibration table** — the holdout rows sorted by predicted
   probability (ties in row order), cut into ``bins`` groups as equal in size as possible
   (deciles by default), each with its predicted range, mean predicted probability and
   observed rate;
3. refuses — raises :class:`~segsync.predict.base.WeakModelError` carrying the AUC — when the
   holdout AUC is below ``min_auc``: a model no better than that must not rank anyone.

The fitted model is plain numbers: :attr:`PropensityModel.intercept` and
:attr:`PropensityModel.coefficients` on the *original* feature scale, so
``P = 1 / (1 + exp(−(intercept + Σ coefficientⱼ·featureⱼ)))`` can be written as a SQL
expression with literals; :meth:`PropensityModel.predict` computes it in numpy.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import require
from .base import ConvergenceError, FloatArray, WeakModelError

require("sklearn")

from scipy.special import expit  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

__all__ = ["CalibrationBin", "PropensityModel", "calibration_table", "fit_propensity"]


@dataclass(frozen=True)
class CalibrationBin:
    """One group of holdout rows of similar predicted probability."""

    rows: int
    lowest: float
    """The lowest predicted probability in the group."""
    highest: float
    predicted: float
    """Mean predicted probability."""
    observed: float
    """Share of the group's rows with the event."""


@dataclass(frozen=True)
class PropensityModel:
    """A fitted logistic propensity model and how it did on its holdout."""

    features: tuple[str, ...]
    intercept: float
    """On the original feature scale."""
    coefficients: tuple[float, ...]
    """On the original feature scale, one per feature."""
    standardised_coefficients: tuple[float, ...]
    """Per standard deviation of each feature: comparable with one another."""
    auc: float
    """Holdout AUC."""
    brier: float
    """Holdout Brier score: mean squared difference of predicted probability and label."""
    base_rate: float
    """Share of holdout rows with the event."""
    calibration: tuple[CalibrationBin, ...]
    train_rows: int
    holdout_rows: int
    iterations: int

    def predict(self, features: ArrayLike) -> FloatArray:
        """Probability of the event for each row of ``features`` (n × len(features))."""
        matrix = _matrix("features", features, len(self.features))
        logit = matrix @ np.asarray(self.coefficients) + self.intercept
        return np.asarray(expit(logit), dtype=np.float64)


def _matrix(name: str, values: ArrayLike, columns: int | None = None) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d matrix (rows × features)")
    if columns is not None and matrix.shape[1] != columns:
        raise ValueError(f"{name}: expected {columns} feature columns, found {matrix.shape[1]}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name}: expected finite numbers (fill missing values first)")
    return matrix


def _labels(name: str, values: ArrayLike, rows: int) -> NDArray[np.int8]:
    labels = np.asarray(values)
    if labels.ndim != 1 or labels.size != rows:
        raise ValueError(f"{name}: expected {rows} labels")
    as_float = labels.astype(np.float64)
    if not np.isin(as_float, (0.0, 1.0)).all():
        raise ValueError(f"{name}: expected labels 0/1 (or booleans)")
    out = as_float.astype(np.int8)
    if out.min() == out.max():
        raise ValueError(
            f"{name}: every label is {int(out[0])}; both outcomes are needed "
            f"(to fit, and for an AUC)"
        )
    return out


def calibration_table(
    predicted: FloatArray, labels: NDArray[np.int8], bins: int
) -> tuple[CalibrationBin, ...]:
    """``bins`` groups of rows sorted by ``predicted`` (ties in row order), sizes as equal
    as possible (the first groups one larger when they cannot all be equal)."""
    order = np.argsort(predicted, kind="stable")
    out = []
    for part in np.array_split(order, min(bins, order.size)):
        p = predicted[part]
        out.append(
            CalibrationBin(
                rows=int(part.size),
                lowest=float(p.min()),
                highest=float(p.max()),
                predicted=float(p.mean()),
                observed=float(labels[part].mean()),
            )
        )
    return tuple(out)


def fit_propensity(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    holdout_features: ArrayLike,
    holdout_labels: ArrayLike,
    *,
    features: Sequence[str] | None = None,
    min_auc: float = 0.6,
    C: float = 1.0,
    balanced: bool = False,
    bins: int = 10,
    max_iterations: int = 1000,
) -> PropensityModel:
    """Fit on the training rows, judge on the holdout rows (see the module docstring).

    Raises :class:`WeakModelError` when the holdout AUC is below ``min_auc``, and
    ``ValueError`` for invalid data (non-finite features, labels not 0/1, one outcome only).
    """
    x_train = _matrix("train_features", train_features)
    width = x_train.shape[1]
    x_hold = _matrix("holdout_features", holdout_features, width)
    y_train = _labels("train_labels", train_labels, x_train.shape[0])
    y_hold = _labels("holdout_labels", holdout_labels, x_hold.shape[0])
    names = tuple(features) if features is not None else tuple(f"x{j}" for j in range(width))
    if len(names) != width:
        raise ValueError(f"features: expected {width} names, found {len(names)}")
    if not (0.0 <= min_auc <= 1.0):
        raise ValueError(f"min_auc: expected a number in [0, 1], found {min_auc}")
    if not (math.isfinite(C) and C > 0):
        raise ValueError(f"C: expected a number > 0, found {C}")
    if bins < 1:
        raise ValueError(f"bins: expected at least 1, found {bins}")

    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[~(scale > 0)] = 1.0
    model = LogisticRegression(
        C=C,
        solver="lbfgs",
        max_iter=max_iterations,
        class_weight="balanced" if balanced else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit((x_train - mean) / scale, y_train)
        except ConvergenceWarning:
            raise ConvergenceError(
                f"propensity model did not converge in {max_iterations} iterations "
                f"({x_train.shape[0]} training rows, {width} features); raise max_iterations "
                f"or regularise more (smaller C)"
            ) from None
    standardised = np.asarray(model.coef_[0], dtype=np.float64)
    coefficients = standardised / scale
    intercept = float(model.intercept_[0]) - float(coefficients @ mean)

    predicted = np.asarray(expit(x_hold @ coefficients + intercept), dtype=np.float64)
    auc = float(roc_auc_score(y_hold, predicted))
    if auc < min_auc:
        raise WeakModelError(
            f"propensity model refused: holdout AUC {auc:.3f} is below the minimum "
            f"{min_auc:.3f} ({x_hold.shape[0]} holdout rows, base rate "
            f"{float(y_hold.mean()):.3%}); the features do not predict the event well "
            f"enough to rank anyone",
            auc=auc,
            threshold=min_auc,
        )
    return PropensityModel(
        features=names,
        intercept=intercept,
        coefficients=tuple(float(c) for c in coefficients),
        standardised_coefficients=tuple(float(c) for c in standardised),
        auc=auc,
        brier=float(np.mean((predicted - y_hold) ** 2)),
        base_rate=float(y_hold.mean()),
        calibration=calibration_table(predicted, y_hold, bins),
        train_rows=int(x_train.shape[0]),
        holdout_rows=int(x_hold.shape[0]),
        iterations=int(np.max(model.n_iter_)),
    )
