"""Client-side pacing: a request-rate budget and a concurrency cap per credential.

A :class:`Pacer` admits a request start when

* fewer than ``concurrency`` requests are in flight, and
* fewer than ``requests`` requests happened in the last ``window`` seconds (a rolling log,
  with a small safety margin; a finished request counts from its *end*, so network delays
  cannot squeeze ``requests + 1`` arrivals into one server-side window), and
* starts keep to an even schedule, one every ``window · (1 + margin) / requests`` seconds on
  average, so a burst of the whole budget never lands on the edge of the server's own
  window — but they may run ahead of it by a short *run* (a tenth of the budget: 10 of
  HubSpot's 100 per 10 s), and a pacer that has to wait waits until the schedule has caught
  up, so the next run can go back to back. A sequential pager then sleeps once a run rather
  than once a request: each wake-up costs a process about a millisecond of CPU (a HubSpot pull
  of 100,000 contacts spent a fifth of its CPU waking up between pages), and
* no platform signal says to hold off: :meth:`Pacer.observe` (rate-limit headers, which can
  only tighten the declared limits) and :meth:`Pacer.penalise` (after a 429).

Waiters are served first-come first-served. Every client using one credential should share one
pacer: :func:`pacer_for` keeps a process-wide registry keyed by :func:`credential_key`, a hash
of the credential (never the credential itself).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from pydantic import SecretStr

__all__ = ["Pacer", "PacerChain", "credential_key", "pacer_for", "reset_pacers"]

Clock = Callable[[], float]

_MAX_EARLY = 0.005
"""Seconds a start may come before its evenly spaced time (absorbs timer lateness)."""
Sleep = Callable[[float], Awaitable[None]]


class _Gate:
    """A first-come first-served counting gate that is not bound to one event loop."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.held = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if (self.capacity is None or self.held < self.capacity) and not self._waiters:
            self.held += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # we were handed the slot, but we are leaving
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        self.held -= 1
        while self._waiters and (self.capacity is None or self.held < self.capacity):
            future = self._waiters.popleft()
            if not future.done():
                self.held += 1
                future.set_result(None)


class Pacer:
    """Paces request starts for one credential (see the module docstring).

    ``requests``/``window``: at most ``requests`` starts in any ``window``-second span (None:
    no rate limit). ``concurrency``: at most this many requests in flight (None: no cap).
    ``margin`` is the safety fraction taken off the rate (default 1 %). ``run`` is the
    fraction of ``requests`` that may start back to back ahead of the even schedule (default
    a tenth; 0 spaces every start). ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        requests: int | None = None,
        window: float = 1.0,
        concurrency: int | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = 0.01,
        run: float = 0.1,
    ) -> None:
        if requests is not None and requests < 1:
            raise ValueError("requests must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0.0 <= run < 1.0:
            raise ValueError("run must be at least 0 and below 1")
        self.requests = requests
        self.window = window
        self.concurrency = concurrency
        self.margin = margin
        self.run = run
        self.clock = clock
        self.sleep = sleep
        self._slots = _Gate(concurrency)
        self._turn = _Gate(1)  # one task at a time waits for the rate budget
        # one [time] per request in the rolling window: its start while in flight, then its
        # end (the platform counted it at some point in between)
        self._log: list[list[float]] = []
        self._next_start: float | None = None  # when the next start is due (even spacing)
        self._blocked_until = float("-inf")
        # budget left according to the platform's headers, valid until _observed_until
        self._observed_budget: int | None = None
        self._observed_until = float("-inf")

    def __repr__(self) -> str:
        return (
            f"Pacer(requests={self.requests}, window={self.window}, concurrency={self.concurrency})"
        )

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        return self._slots.held

    @property
    def interval(self) -> float:
        """The minimum spacing between two starts right now, in seconds."""
        if self.requests is None:
            return 0.0
        return self.window * (1.0 + self.margin) / self.requests

    @property
    def run_length(self) -> int:
        """How many starts may come back to back, ahead of the even schedule."""
        if self.requests is None:
            return 1
        return max(1, int(self.requests * self.run))

    def _earliest(self, now: float) -> float:
        """The earliest time a new request may start, given everything known at ``now``."""
        earliest = max(now, self._blocked_until)
        if self._next_start is not None:
            # a start may come a little early, so that late wake-ups do not add up to drift;
            # within a run, up to run_length - 1 starts ahead of the schedule; past it, wait
            # until the schedule catches up (the whole run is free again then)
            tolerance = min(0.25 * self.interval, _MAX_EARLY)
            ahead = (self.run_length - 1) * self.interval
            if self._next_start - ahead - tolerance > now + 1e-9:  # (float sums' rounding)
                earliest = max(earliest, self._next_start - tolerance)
        if self.requests is not None:
            horizon = self.window * (1.0 + self.margin)
            # fewer entries than the budget, expired ones included, cannot fill it: the log is
            # pruned only when it might (once per request at a high limit cost a pull ~4%)
            if len(self._log) >= self.requests:
                self._log = [entry for entry in self._log if entry[0] > now - horizon]
            if len(self._log) >= self.requests:
                times = sorted(entry[0] for entry in self._log)
                earliest = max(earliest, times[len(times) - self.requests] + horizon)
        budget = self._observed_budget
        if now < self._observed_until and budget is not None and budget <= 0:
            earliest = max(earliest, self._observed_until)
        return earliest

    def _record_start(self, now: float) -> list[float]:
        due = now if self._next_start is None else max(self._next_start, now)
        self._next_start = due + self.interval
        entry = [now]
        if self.requests is not None:
            self._log.append(entry)
        if now < self._observed_until and self._observed_budget is not None:
            self._observed_budget -= 1
        return entry

    async def _wait_for_rate(self) -> list[float]:
        await self._turn.acquire()
        try:
            while True:
                now = self.clock()
                start = self._earliest(now)
                if start <= now:
                    return self._record_start(now)
                await self.sleep(start - now)
        finally:
            self._turn.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a concurrency slot and the rate budget; hold the slot for the block.

        Yields the seconds spent waiting (by this pacer's clock).
        """
        began = self.clock()
        await self._slots.acquire()
        try:
            entry = await self._wait_for_rate()
            try:
                yield entry[0] - began
            finally:
                entry[0] = max(entry[0], self.clock())
        finally:
            self._slots.release()

    def observe(self, limit: int | None, remaining: int | None, reset_in: float | None) -> None:
        """Tighten pacing from a response's rate-limit headers.

        ``limit``: the platform's request budget per declared ``window`` (a smaller one lowers
        ``requests``; the declared limits are never loosened); ``remaining``: what is left of
        it; ``reset_in``: seconds until it refills (for a rolling window, pass the window
        length). With ``remaining`` and ``reset_in``, at most ``remaining`` more starts are
        allowed before the reset; each observation replaces the previous one, so a rolling
        window that keeps refilling never blocks. ``remaining == 0`` blocks new starts until
        the reset (``reset_in``, else one declared window).
        """
        now = self.clock()
        if limit is not None and limit > 0 and self.requests is not None and limit < self.requests:
            self.requests = limit
        if remaining is None:
            return
        remaining = max(remaining, 0)
        if remaining == 0:
            wait = reset_in if reset_in is not None and reset_in > 0 else self.window
            self._blocked_until = max(self._blocked_until, now + wait)
            return
        if reset_in is None or reset_in <= 0:
            return
        self._observed_until = now + reset_in
        self._observed_budget = remaining

    def penalise(self, retry_after: float | None = None) -> None:
        """Block new starts for ``retry_after`` seconds (default: one second), e.g. after a 429.

        Requests already in flight are not affected.
        """
        wait = 1.0 if retry_after is None else max(retry_after, 0.0)
        self._blocked_until = max(self._blocked_until, self.clock() + wait)


class PacerChain:
    """Several budgets one request must fit, e.g. a search limit inside the account's burst
    limit: :meth:`slot` waits for each pacer in turn and holds them all for the request.

    The *last* pacer is the account-wide one whose limits the platform's headers describe:
    :meth:`observe` feeds it alone. :meth:`penalise` (a 429) pauses every pacer in the chain.
    """

    def __init__(self, *pacers: Pacer) -> None:
        if not pacers:
            raise ValueError("a PacerChain needs at least one pacer")
        self.pacers = pacers

    def __repr__(self) -> str:
        return f"PacerChain{self.pacers!r}"

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for every pacer's slot; yields the total seconds spent waiting."""
        async with contextlib.AsyncExitStack() as stack:
            waited = 0.0
            for pacer in self.pacers:
                waited += await stack.enter_async_context(pacer.slot())
            yield waited

    def observe(self, limit: int | None, remaining: int | None, reset_in: float | None) -> None:
        self.pacers[-1].observe(limit, remaining, reset_in)

    def penalise(self, retry_after: float | None = None) -> None:
        for pacer in self.pacers:
            pacer.penalise(retry_after)


_registry: dict[str, Pacer] = {}
_registry_lock = threading.Lock()


def credential_key(*parts: str | SecretStr | None) -> str:
    """A stable, non-reversible key for a credential (e.g. the platform name and the token)."""
    digest = hashlib.sha256()
    for part in parts:
        value = part.get_secret_value() if isinstance(part, SecretStr) else (part or "")
        digest.update(value.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def pacer_for(
    key: str, requests: int | None, window: float = 1.0, concurrency: int | None = None
) -> Pacer:
    """The process-wide pacer for ``key`` (use :func:`credential_key`), created on first use.

    Later calls with the same key return the same pacer; if they declare stricter limits, the
    pacer adopts them (limits are never loosened).
    """
    with _registry_lock:
        pacer = _registry.get(key)
        if pacer is None:
            pacer = _registry[key] = Pacer(requests, window, concurrency)
            return pacer
        if requests is not None and (
            pacer.requests is None or requests / window < pacer.requests / pacer.window
        ):
            pacer.requests, pacer.window = requests, window
        if concurrency is not None and (
            pacer.concurrency is None or concurrency < pacer.concurrency
        ):
            pacer.concurrency = pacer._slots.capacity = concurrency
        return pacer


def reset_pacers() -> None:
    """Forget every registered pacer (for tests)."""
    with _registry_lock:
        _registry.clear()
