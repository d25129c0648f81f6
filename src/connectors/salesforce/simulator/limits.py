"""API limits: the daily request allocation, the long-request concurrency cap, ``/limits``.

* Every REST call but the Versions URI is counted in a rolling 24-hour window; the answer
  carries ``Sforce-Limit-Info: api-usage=N/M`` (plus ``; api-bursts=a/b`` when configured).
  A call past the allocation is refused with 403 ``REQUEST_LIMIT_EXCEEDED``
  "TotalRequests Limit exceeded." and not counted.
* Requests in flight for at least ``long_request_seconds`` (20 s) are long-running; when
  ``long_request_cap`` (25) of them are running, a new request is refused with 403
  ``REQUEST_LIMIT_EXCEEDED`` "ConcurrentPerOrgLongTxn Limit exceeded.". Shorter requests are
  never capped.
* ``GET /limits`` reports ``DailyApiRequests``, ``DailyBulkV2QueryJobs``,
  ``DailyBulkV2QueryFileStorageMB`` and ``DailyBulkApiBatches`` as ``{"Max", "Remaining"}``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .rest import ApiError

__all__ = ["ApiLimits"]

DAY = 86_400.0
TOTAL_REQUESTS = "TotalRequests Limit exceeded."
LONG_TXN = "ConcurrentPerOrgLongTxn Limit exceeded."


class ApiLimits:
    """Counters of one org. ``wall_clock`` (epoch s) drives the 24-hour windows; how long
    requests have been in flight comes from the simulator's pipeline."""

    def __init__(
        self,
        *,
        daily_api_requests: int,
        api_bursts: tuple[int, int] | None,
        long_request_seconds: float,
        long_request_cap: int | None,
        bulk_query_jobs_per_day: int,
        wall_clock: Callable[[], float],
    ) -> None:
        self.daily_api_requests = daily_api_requests
        self.api_bursts = api_bursts
        self.long_request_seconds = long_request_seconds
        self.long_request_cap = long_request_cap
        self.bulk_query_jobs_per_day = bulk_query_jobs_per_day
        self.wall_clock = wall_clock
        self._calls: deque[float] = deque()
        self._bulk_jobs: deque[float] = deque()

    # -- daily allocation ---------------------------------------------------------------------

    def _prune(self, window: deque[float]) -> None:
        horizon = self.wall_clock() - DAY
        while window and window[0] <= horizon:
            window.popleft()

    @property
    def api_usage(self) -> int:
        """Calls counted in the last 24 hours."""
        self._prune(self._calls)
        return len(self._calls)

    def use(self, calls: int = 1) -> None:
        """Count ``calls`` as made now (tests use it to approach the allocation)."""
        now = self.wall_clock()
        self._calls.extend([now] * calls)

    def count_call(self) -> None:
        """Count one call, or raise 403 ``REQUEST_LIMIT_EXCEEDED`` past the allocation."""
        if self.api_usage >= self.daily_api_requests:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", TOTAL_REQUESTS)
        self._calls.append(self.wall_clock())

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value."""
        value = f"api-usage={self.api_usage}/{self.daily_api_requests}"
        if self.api_bursts is not None:
            value += f"; api-bursts={self.api_bursts[0]}/{self.api_bursts[1]}"
        return value

    def count_bulk_query_job(self) -> None:
        self._bulk_jobs.append(self.wall_clock())

    # -- long-running requests ----------------------------------------------------------------

    def check_long_running(self, long_running: int) -> None:
        """403 ``REQUEST_LIMIT_EXCEEDED`` when ``long_running`` other requests (in flight for
        ``long_request_seconds`` or more) reach the cap."""
        cap = self.long_request_cap
        if cap is not None and long_running >= cap:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", LONG_TXN)

    # -- /limits ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        self._prune(self._bulk_jobs)
        jobs = self.bulk_query_jobs_per_day

        def pair(limit: int, used: int) -> dict[str, int]:
            return {"Max": limit, "Remaining": max(limit - used, 0)}

        return {
            "DailyApiRequests": pair(self.daily_api_requests, self.api_usage),
            "DailyBulkApiBatches": pair(15_000, 0),
            "DailyBulkV2QueryFileStorageMB": pair(976_562, 0),
            "DailyBulkV2QueryJobs": pair(jobs, len(self._bulk_jobs)),
        }
