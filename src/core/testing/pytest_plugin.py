"""segsync's pytest plugin, loaded through the ``pytest11`` entry point.

It makes the conformance suite's assertions readable (pytest's assertion rewriting must be
registered before :mod:`segsync.testing.conformance` is imported) and offers a fixture that
builds any installed connector's simulator. Subclass
:class:`segsync.testing.conformance.ConnectorConformance` in a test module to run the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.register_assert_rewrite("segsync.testing.conformance")


@pytest.fixture
def segsync_simulator() -> Callable[..., Any]:
    """``segsync_simulator("hubspot", seed=1)``: the simulator an installed plugin registered
    for that connector type."""
    from segsync.plugins import load_plugins

    def make(connector_type: str, **kwargs: Any) -> Any:
        factories = load_plugins(None).simulators
        if connector_type not in factories:
            known = ", ".join(sorted(factories)) or "none"
            pytest.fail(f"no simulator registered for {connector_type!r} (registered: {known})")
        return factories[connector_type](**kwargs)

    return make
