"""``segsync sandbox``: every installed connector's simulator, served on loopback.

Each simulator is seeded with one synthetic audience (the same people on every platform, as
:mod:`segsync.sandbox.synth` makes them), served by uvicorn on 127.0.0.1, and announced as one JSON
line on stdout: ``{"platform", "base_url", "credentials", "contacts"}``. It serves until
interrupted. This is how a newcomer, an ops person trying a config, or a plugin author sees
segsync work with no account anywhere.
"""

from __future__ import annotations

import csv
import json
import logging
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from segsync.errors import ConfigError
from segsync.plugins import Plugins

__all__ = ["DEFAULT_TOKEN", "sandbox_audience", "serve_sandbox"]

log = logging.getLogger("segsync.sandbox")
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - a public test credential for local simulators


def sandbox_audience(*, seed: int, contacts: int) -> list[dict[str, Any]]:
    """The synthetic contacts every simulator is seeded with (contacts.csv rows, as dicts)."""
    from segsync.sandbox.synth import generate

    with tempfile.TemporaryDirectory(prefix="segsync-sandbox-") as folder:
        summary = generate(Path(folder), seed=seed, contacts=contacts, orders=0)
        with summary.files["contacts"].open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))


@contextmanager
def serve_sandbox(
    plugins: Plugins,
    *,
    seed: int,
    contacts: int,
    only: list[str] | None = None,
    port_base: int = 0,
    out: TextIO,
) -> Iterator[list[dict[str, Any]]]:
    """Start the simulators and print one JSON line each; stop them when the block ends."""
    factories: dict[str, Callable[..., Any]] = dict(sorted(plugins.simulators.items()))
    if only:
        unknown = [name for name in only if name not in factories]
        if unknown:
            raise ConfigError(
                f"no simulator for {', '.join(unknown)}; "
                f"installed: {', '.join(factories) or 'none'}"
            )
        factories = {name: factories[name] for name in only}
    if not factories:
        raise ConfigError(
            "no installed connector ships a simulator (see 'segsync plugins'); "
            "install a connector plugin that registers one"
        )
    audience = sandbox_audience(seed=seed, contacts=contacts)
    announced: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for offset, (name, factory) in enumerate(factories.items()):
            sim = factory(seed=seed)
            if not _has_credentials(sim):
                sim.add_credential(DEFAULT_TOKEN)
            sim.seed_contacts(audience)
            port = port_base + offset if port_base else 0
            served = stack.enter_context(sim.serve(port=port))
            line = {
                "platform": name,
                "base_url": served.base_url,
                "credentials": sim.credentials_for_sandbox(),
                "contacts": len(audience),
            }
            extra: dict[str, str] = getattr(sim, "sandbox_settings", dict)()
            if extra:
                line["settings"] = extra
            announced.append(line)
            out.write(json.dumps(line) + "\n")
            out.flush()
        yield announced


def _has_credentials(sim: Any) -> bool:
    """Whether the simulator set up its own test credentials (some platforms need a
    particular shape, e.g. an API key naming a data centre)."""
    try:
        return bool(sim.credentials_for_sandbox())
    except (LookupError, NotImplementedError):
        return False


def wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
