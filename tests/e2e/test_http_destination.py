"""A whole `segsync run` pushing to an HTTP platform: the Acme example simulator, served on
loopback with faults switched on, reached by the Acme connector through segsync.http."""

from __future__ import annotations

import json

import pytest

from projectkit import Project
from segsync.testing.simulator import Faults, RateLimit
from segsync_acme.simulator import AcmeSimulator

pytestmark = pytest.mark.e2e
TOKEN = "acme-e2e-secret-token"


def test_run_pushes_exact_lists_through_faults(project: Project) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir()
    (plugins / "acme.py").write_text(
        "from segsync_acme.plugin import register_connectors, register_simulators  # noqa: F401\n"
    )
    sim = AcmeSimulator(
        seed=3,
        rate_limit=RateLimit(requests=200, window=1.0, concurrency=4),
        faults=Faults(error_rate=0.2, drop_rate=0.2, malformed_rate=0.1),
    )
    sim.add_credential(TOKEN)
    with sim.serve() as served:
        project.extra_config = (
            f'\n[connectors.acme]\ntype = "acme"\nbase_url = "{served.base_url}"\n'
            '\n[syncs.buyers_acme]\nsegment = "buyers"\ndestination = "acme"\naudience = "Buyers"\n'
        )
        project.write()
        env = {"SEGSYNC_CONNECTORS__ACME__TOKEN": TOKEN}
        result = project.cli("run", "--format", "json", env=env)
        assert result.code == 0, result.err
        report = json.loads(result.out)
        (list_id,) = sim.lists
        assert sim.members(list_id) == {"alice@example.org", "person2@example.org"}
        assert report["http"]["acme"]["retries"] > 0
        again = json.loads(project.cli("run", "--format", "json", env=env).out)
        sync = next(s for s in again["syncs"] if s["name"] == "buyers_acme")
        assert (sync["adds"], sync["removes"]) == (0, 0)
    assert TOKEN not in result.out + result.err
