"""The CDNOW data set as shipped by the Lifetimes package, for the predict tests.

Data: the CDNOW sample — 2,357 customers (1/10th of the cohort who first bought at the online
retailer CDNOW in the first quarter of 1997) and their purchases to the end of June 1998,
the data of Fader, Hardie & Lee (2005). The PyPI package ``Lifetimes`` 0.11.3 (Cameron
Davidson-Pilon et al., MIT licence) ships it in ``lifetimes/datasets/``:

- ``CDNOW_sample.txt`` — one line per transaction: master customer id, sample customer id
  (1..2357), date (YYYYMMDD), number of CDs, dollar value;
- ``cdnow_customers_summary.csv`` — ``ID, frequency, recency, T`` over the 39-week
  calibration period 1997-01-01 .. 1997-09-30, times in weeks to 2 decimals;
- ``cdnow_customers_summary_with_transactions.csv`` — ``ID, x, t_x, T, zbar`` (zbar the mean
  value of the repeat transactions, to the cent).

The files are found through the installed distribution's file list
(``importlib.metadata.files``), without importing ``lifetimes``.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

CALIBRATION_END = dt.datetime(1997, 9, 30)


def data_file(name: str) -> Path:
    files = importlib.metadata.files("Lifetimes") or []
    for entry in files:
        if entry.name == name and entry.parent.name == "datasets":
            return Path(str(entry.locate()))
    raise AssertionError(
        f"{name} not found in the installed Lifetimes distribution (the dev extra installs "
        f"Lifetimes==0.11.3)"
    )


@dataclass(frozen=True)
class CdnowSummary:
    ids: NDArray[np.int64]
    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    zbar: NDArray[np.float64]
    """Zero where ``x = 0`` (and unknown — all zeros — for the file without it)."""


def _columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [row[key] for row in rows] for key in rows[0]}


def summary() -> CdnowSummary:
    """``cdnow_customers_summary.csv``."""
    cols = _columns(data_file("cdnow_customers_summary.csv"))
    return CdnowSummary(
        ids=np.array(cols["ID"], dtype=np.int64),
        x=np.array(cols["frequency"], dtype=np.float64),
        t_x=np.array(cols["recency"], dtype=np.float64),
        T=np.array(cols["T"], dtype=np.float64),
        zbar=np.zeros(len(cols["ID"])),
    )


def summary_with_transactions() -> CdnowSummary:
    """``cdnow_customers_summary_with_transactions.csv``."""
    cols = _columns(data_file("cdnow_customers_summary_with_transactions.csv"))
    return CdnowSummary(
        ids=np.array(cols["ID"], dtype=np.int64),
        x=np.array(cols["x"], dtype=np.float64),
        t_x=np.array(cols["t_x"], dtype=np.float64),
        T=np.array(cols["T"], dtype=np.float64),
        zbar=np.array(cols["zbar"], dtype=np.float64),
    )


@dataclass(frozen=True)
class CdnowTransactions:
    customer: NDArray[np.int64]
    """Sample customer id − 1 (0..2356)."""
    date: NDArray[np.datetime64]
    value: NDArray[np.float64]
    raw_value: list[str]
    """The dollar values as written in the file."""


def transactions() -> CdnowTransactions:
    """``CDNOW_sample.txt``."""
    customers, dates, values, raw = [], [], [], []
    for line in data_file("CDNOW_sample.txt").read_text().splitlines():
        if not line.strip():
            continue
        _, sample_id, date, _, value = line.split()
        customers.append(int(sample_id) - 1)
        dates.append(f"{date[:4]}-{date[4:6]}-{date[6:]}")
        values.append(float(value))
        raw.append(value)
    return CdnowTransactions(
        customer=np.array(customers, dtype=np.int64),
        date=np.array(dates, dtype="datetime64[D]"),
        value=np.array(values),
        raw_value=raw,
    )
