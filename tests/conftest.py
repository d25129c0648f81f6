"""Shared fixtures: a small segsync project in a temporary folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from projectkit import Project, contact
from segsync.http import reset_pacers
from segsync.plugins import reset_plugins


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(root=tmp_path / "proj")
    p.contacts = [
        contact(1, email=" Alice@Example.org "),
        contact(2, country="DE"),
        contact(3, opt_in="no"),
        contact(4),
        contact(5, opt_in=""),
        contact(6, email=""),
    ]
    p.orders = [
        {
            "order_id": "O1",
            "customer_id": "C00001",
            "ordered_at": "2026-02-01T10:00:00Z",
            "amount": "10.50",
        },
        {
            "order_id": "O2",
            "customer_id": "C00002",
            "ordered_at": "2026-02-02T10:00:00Z",
            "amount": "99.99",
        },
    ]
    p.write()
    return p


@pytest.fixture(autouse=True)
def _fresh_registries() -> Iterator[None]:
    """Every test starts and ends with no plugins loaded and no pacers registered (both are
    process-wide caches: plugins by folder, pacers by credential)."""
    reset_plugins()
    reset_pacers()
    yield
    reset_plugins()
    reset_pacers()


@pytest.fixture(autouse=True)
def _restore_segsync_logging() -> Iterator[None]:
    """The CLI configures the "segsync" logger for its process; undo that after each
    in-process CLI test so later tests' log capture sees segsync's records."""
    logger = logging.getLogger("segsync")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
