"""The ``lifetimes`` package (PyPI ``Lifetimes`` 0.11.3) as a second, independent reference.

It was last released in 2020: it imports and runs under today's numpy/scipy/pandas with
deprecation warnings (silenced here, around its calls only), and may one day stop working;
then :func:`load` returns None and the comparisons with it are skipped — the closed-form
references (``closedforms``) and the published numbers are checked regardless.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load() -> ModuleType | None:
    with quiet():
        try:
            import lifetimes
            import lifetimes.utils
        except Exception:
            return None
    return lifetimes


class Lifetimes:
    """Predictions of ``lifetimes`` at given parameters (no fitting of its own)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        import pandas as pd

        self.pd = pd

    def _bgf(self, r: float, alpha: float, a: float, b: float) -> Any:
        bgf = self.module.BetaGeoFitter()
        bgf.params_ = self.pd.Series({"r": r, "alpha": alpha, "a": a, "b": b})
        # (fit() would set it: customer_lifetime_value calls the model's predict)
        bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
        return bgf

    def _ggf(self, p: float, q: float, v: float) -> Any:
        ggf = self.module.GammaGammaFitter()
        ggf.params_ = self.pd.Series({"p": p, "q": q, "v": v})
        return ggf

    def expected_purchases(
        self, bg: tuple[float, ...], t: float, x: Array, t_x: Array, T: Array
    ) -> Array:
        with quiet():
            out = self._bgf(*bg).conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        return np.asarray(out, dtype=np.float64)

    def p_alive(self, bg: tuple[float, ...], x: Array, t_x: Array, T: Array) -> Array:
        with quiet():
            out = self._bgf(*bg).conditional_probability_alive(x, t_x, T)
        return np.asarray(out, dtype=np.float64)

    def expected_purchases_new(self, bg: tuple[float, ...], t: Array) -> Array:
        with quiet():
            out = self._bgf(*bg).expected_number_of_purchases_up_to_time(t)
        return np.asarray(out, dtype=np.float64)

    def expected_spend(self, gg: tuple[float, ...], x: Array, m: Array) -> Array:
        with quiet():
            out = self._ggf(*gg).conditional_expected_average_profit(
                self.pd.Series(x), self.pd.Series(m)
            )
        return np.asarray(out, dtype=np.float64)

    def lifetime_value(
        self,
        bg: tuple[float, ...],
        gg: tuple[float, ...],
        x: Array,
        t_x: Array,
        T: Array,
        m: Array,
        *,
        months: int,
        monthly_rate: float,
    ) -> Array:
        """``customer_lifetime_value`` with times in weeks (its ``freq="W"``: a month is
        4.345 weeks)."""
        s = self.pd.Series
        with quiet():
            out = self._ggf(*gg).customer_lifetime_value(
                self._bgf(*bg),
                s(x),
                s(t_x),
                s(T),
                s(m),
                time=months,
                discount_rate=monthly_rate,
                freq="W",
            )
        return np.asarray(out, dtype=np.float64)

    def summary(
        self,
        customer: NDArray[np.int64],
        time: NDArray[np.datetime64],
        value: Array,
        *,
        end: str,
        freq: str,
        multiplier: float,
    ) -> dict[str, Array]:
        frame = self.pd.DataFrame({"c": customer, "d": time, "v": value})
        with quiet():
            out = self.module.utils.summary_data_from_transaction_data(
                frame,
                "c",
                "d",
                "v",
                observation_period_end=end,
                freq=freq,
                freq_multiplier=multiplier,
            ).sort_index()
        return {
            "customer": out.index.to_numpy(dtype=np.int64),
            "x": out["frequency"].to_numpy(dtype=np.float64),
            "t_x": out["recency"].to_numpy(dtype=np.float64),
            "T": out["T"].to_numpy(dtype=np.float64),
            "monetary": out["monetary_value"].to_numpy(dtype=np.float64),
        }
