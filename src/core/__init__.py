"""segsync: an audience segment sync hub.

Public API: :data:`hookimpl` for plugins, :func:`run` for orchestrators, and the connector
contract in :mod:`segsync.connector`. Heavy modules load on first use, so ``from segsync import
hookimpl`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segsync._version import __version__
from segsync.hookspecs import hookimpl

if TYPE_CHECKING:
    from segsync.pipeline import run
    from segsync.report import RunReport

__all__ = ["RunReport", "__version__", "hookimpl", "run"]


def __getattr__(name: str) -> Any:
    if name == "run":
        from segsync.pipeline import run

        return run
    if name == "RunReport":
        from segsync.report import RunReport

        return RunReport
    raise AttributeError(f"module 'segsync' has no attribute {name!r}")
