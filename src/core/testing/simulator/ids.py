"""Reproducible identifiers for simulators: the same seed gives the same ids, run after run.

Each :class:`IdSource` draws from its own ``random.Random(f"{label}-{seed}")``, so ids of one
kind (say correlation ids) do not shift when another kind (say record ids) is drawn more or
less often.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["IdSource"]


class IdSource:
    """Ids drawn from ``random.Random(f"{label}-{seed}")``: not secrets, but stable."""

    def __init__(self, label: str, seed: int) -> None:
        self.rng = random.Random(f"{label}-{seed}")  # noqa: S311 - ids, not secrets
        self._used: set[int] = set()

    def uuid4(self) -> str:
        """A version-4 UUID string (correlation and request ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, digits: int) -> str:
        """``digits`` lower-case hex digits."""
        return f"{self.rng.getrandbits(4 * digits):0{digits}x}"

    def unique_int(self, low: int, high: int) -> int:
        """An integer in ``[low, high)`` this source has not given before."""
        while True:
            value = self.rng.randrange(low, high)
            if value not in self._used:
                self._used.add(value)
                return value
