"""Fixtures of the predict tests: the CDNOW data and, when it still runs, ``lifetimes``."""

from __future__ import annotations

import cdnowkit
import pytest
from lifetimeskit import Lifetimes, load


@pytest.fixture(scope="session")
def cdnow() -> cdnowkit.CdnowSummary:
    return cdnowkit.summary()


@pytest.fixture(scope="session")
def cdnow_spend() -> cdnowkit.CdnowSummary:
    return cdnowkit.summary_with_transactions()


@pytest.fixture(scope="session")
def lifetimes() -> Lifetimes:
    module = load()
    if module is None:
        pytest.skip("lifetimes does not import under the installed numpy/scipy/pandas")
    return Lifetimes(module)
