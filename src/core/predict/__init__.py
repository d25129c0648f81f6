"""Predictive customer models: the maths behind the ``clv`` and ``propensity`` trait kinds.

- :mod:`~segsync.predict.summary` — an event log (customer index, time, value) → the
  per-customer summary the models read: repeat purchases ``x``, recency ``t_x``, age ``T``
  and mean repeat value, as the literature and the ``lifetimes`` package define them.
- :mod:`~segsync.predict.bgnbd` — the BG/NBD model of purchase frequency and drop-out
  (Fader, Hardie & Lee 2005): maximum-likelihood fit, expected purchases, probability alive.
- :mod:`~segsync.predict.gammagamma` — the Gamma-Gamma model of spend per transaction
  (Fader & Hardie 2013) and the discounted customer lifetime value combining both.
- :mod:`~segsync.predict.propensity` — a logistic propensity model with a holdout AUC and a
  calibration table, refusing to score when the holdout AUC is below a threshold (imported
  on its own: it loads scikit-learn).
- :mod:`~segsync.predict.simulate` — seeded event logs drawn from those models (tests,
  benchmarks, demos).

Everything here needs the optional extra ``pip install 'segsync[predict]'`` (numpy, scipy,
scikit-learn); the core install does not. Without it, importing this package raises
:class:`~segsync.errors.MissingExtraError`, an :class:`ImportError` whose message says so.
numpy and scipy are imported only inside this package.
"""

from __future__ import annotations

import importlib

from segsync.errors import MissingExtraError


def require(module: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming the ``predict`` extra."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"segsync's predictive models need {module.split('.')[0]}, which is not "
            f"installed: pip install 'segsync[predict]'",
            extra="predict",
        ) from exc


require("numpy")
require("scipy.special")
require("scipy.optimize")

from .base import ConvergenceError, WeakModelError  # noqa: E402
from .bgnbd import (  # noqa: E402
    BgNbdFit,
    BgNbdParams,
    expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    p_alive,
    p_purchase,
)
from .gammagamma import (  # noqa: E402
    GammaGammaFit,
    GammaGammaParams,
    conditional_expected_average_profit,
    customer_lifetime_value,
    fit_gammagamma,
)
from .summary import Summary, summarize  # noqa: E402

__all__ = [
    "BgNbdFit",
    "BgNbdParams",
    "ConvergenceError",
    "GammaGammaFit",
    "GammaGammaParams",
    "Summary",
    "WeakModelError",
    "conditional_expected_average_profit",
    "customer_lifetime_value",
    "expected_purchases",
    "expected_purchases_new",
    "fit_bgnbd",
    "fit_gammagamma",
    "p_alive",
    "p_purchase",
    "require",
    "summarize",
]
