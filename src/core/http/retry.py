"""The one retry policy: which failures are retried, how long to wait, when to give up.

Only :class:`~segsync.errors.RetryableError` is retried (transport failures — timeouts,
network errors, broken HTTP — are mapped to it by :func:`map_transport_error`).
:class:`~segsync.errors.FatalError` and :class:`~segsync.errors.AuthError` propagate at once.

Waits use capped exponential backoff with *full jitter* (``uniform(0, min(cap, base·2ⁿ))``),
except when the platform said how long to wait (``RetryableError.retry_after``): then the wait
is that delay plus a small jitter. No wait runs past ``max_elapsed``; when the platform asks
for longer than the time left, segsync gives up at once rather than retry too early.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from segsync.errors import ConnectorError, FatalError, RetryableError

__all__ = [
    "OnRetry",
    "RetryPolicy",
    "map_transport_error",
    "parse_retry_after",
    "with_retries",
]

T = TypeVar("T")

OnRetry = Callable[[int, RetryableError, float], None]
"""``on_retry(attempt, error, wait)``: called before sleeping; ``attempt`` is the one that
failed (1-based)."""

RETRYABLE_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` attempts within ``max_elapsed`` seconds.

    Backoff without a platform hint: attempt ``n`` (1-based) failed → wait
    ``uniform(0, min(cap, base · 2**(n-1)))``.
    """

    max_attempts: int = 6
    max_elapsed: float = 120.0
    base: float = 0.5
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_elapsed < 0 or self.base < 0 or self.cap < 0:
            raise ValueError("max_elapsed, base and cap must not be negative")

    def backoff_ceiling(self, attempt: int) -> float:
        """The upper bound of the jittered wait after failed attempt ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 60))


def parse_retry_after(value: str) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    Returns None for an unreadable value; a date in the past gives 0.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def map_transport_error(
    exc: httpx.TransportError, method: str | None = None, path: str | None = None
) -> ConnectorError:
    """Map an httpx transport failure to segsync's tree, once, at the boundary.

    Timeouts, network errors and protocol breaks become :class:`RetryableError`; anything else
    (a bad URL scheme, a proxy error, a local protocol misuse) is a :class:`FatalError`. The
    message names the exception type only: httpx texts may carry addresses.
    """
    where = f"{method} {path}: " if method and path else ""
    if isinstance(exc, RETRYABLE_TRANSPORT_ERRORS):
        return RetryableError(f"{where}{type(exc).__name__} (network)")
    return FatalError(f"{where}{type(exc).__name__}")


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


class _Schedule:
    """Tenacity ``wait`` and ``stop`` sharing one clock and one view of the budget."""

    def __init__(
        self, policy: RetryPolicy, clock: Callable[[], float], rng: random.Random, started: float
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.rng = rng
        self.started = started
        self.give_up_reason = ""

    def remaining(self) -> float:
        return self.policy.max_elapsed - (self.clock() - self.started)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        if retry_after is not None:
            delay = max(retry_after, 0.0)
            delay += self.rng.uniform(0.0, min(1.0, 0.05 + 0.1 * delay))
        else:
            delay = self.rng.uniform(0.0, self.policy.backoff_ceiling(state.attempt_number))
        return max(0.0, min(delay, self.remaining()))

    def stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            self.give_up_reason = f"gave up after {_attempts(state.attempt_number)}"
            return True
        remaining = self.remaining()
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        if remaining <= 0 or (retry_after is not None and retry_after > remaining):
            elapsed = self.clock() - self.started
            self.give_up_reason = (
                f"gave up after {_attempts(state.attempt_number)} in {elapsed:.1f}s "
                f"(retry budget {self.policy.max_elapsed:g}s)"
            )
            return True
        return False


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Await ``call()`` until it succeeds, retrying :class:`RetryableError` per ``policy``.

    httpx timeouts/network/protocol errors raised by ``call`` are mapped through
    :func:`map_transport_error`. When the attempts or the time run out, the last
    :class:`RetryableError` is re-raised, its message extended with how many attempts were made.
    """
    started = clock()

    async def attempt() -> T:
        try:
            return await call()
        except httpx.TransportError as exc:
            raise map_transport_error(exc) from exc

    # the first attempt on its own: most calls succeed, and tenacity's machinery costs more
    # than a small call; a first failure is handed to it as its own first attempt
    try:
        return await attempt()
    except RetryableError as exc:
        first: list[RetryableError] = [exc]

    async def again() -> T:
        if first:
            raise first.pop()
        return await attempt()

    schedule = _Schedule(policy, clock, rng or random.Random(), started)  # noqa: S311 - jitter

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, RetryableError):
            on_retry(state.attempt_number, exc, state.upcoming_sleep)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(RetryableError),
        wait=schedule.wait,
        stop=schedule.stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return await retrying(again)
    except RetryableError as exc:
        if schedule.give_up_reason:
            exc.message = f"{exc.message} ({schedule.give_up_reason})"
            exc.args = (exc.message,)
        raise
