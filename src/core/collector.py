"""Python's cyclic garbage collector, paused for work that makes many short-lived objects.

A push batch or a simulated request of 10,000 members makes tens of thousands of dicts,
tuples and lists that live until the batch is answered. Each automatic collection walks them
again, promotes the ones still alive, and soon full collections of the whole heap run several
times a second — a third of a push's CPU was spent so. Those objects hold no reference cycles:
reference counting frees them. :func:`paused` turns the automatic runs off for a block and
back on after it (unless something else had turned them off); whoever pauses collects the
young generation now and then (``gc.collect(0)``) if the block can leave cycles behind.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["paused"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No automatic cyclic collection inside the block."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
