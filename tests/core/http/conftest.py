"""Fixtures for the segsync.http tests."""

from __future__ import annotations

import pytest
from http_fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
