"""A fake clock for the segsync.http tests: sleeps advance virtual time and return at once."""

from __future__ import annotations

import asyncio


class FakeClock:
    """``clock()`` reads virtual seconds; ``await sleep(d)`` advances them and yields once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)
