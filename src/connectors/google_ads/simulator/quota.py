"""Per-Cloud-project request quotas (reference §4.8), answered 429 ``RESOURCE_EXHAUSTED``.

Four service classes, each with a per-minute and a per-day counter per project:

==================  ================================  =======  ==========
class               calls                             per day  per minute
==================  ================================  =======  ==========
IngestionMutate     audienceMembers:ingest/remove/     100,000         300
                    removeAll
IngestionRead       requestStatus:retrieve             100,000         300
ManagementMutate    userLists create/update/delete      50,000         300
ManagementRead      userLists get/list                  50,000         300
==================  ================================  =======  ==========

Over a limit the call is refused before it runs and is not counted; the error names the quota
in ``ErrorInfo.metadata.quota_limit`` (``IngestionMutateRequestsPerMinutePerProject``, …)::

    {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded for …",
               "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                            "metadata": {"quota_limit": "…PerMinutePerProject", …}},
                           {"@type": "type.googleapis.com/google.rpc.Help", …}]}}

How the minute is counted (``window``: fixed clock minutes, or a rolling 60 s), when the day
resets (midnight in ``timezone``, Pacific time for Google's quotas) and whether a
``Retry-After`` header is sent are not documented, so they are settings (inferred defaults:
fixed minutes, America/Los_Angeles, no header).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from .errors import ApiError

__all__ = ["QUOTA_CLASSES", "QuotaClass", "QuotaCounter", "QuotaLimits"]

QuotaClass = Literal["IngestionMutate", "IngestionRead", "ManagementMutate", "ManagementRead"]
QUOTA_CLASSES: tuple[QuotaClass, ...] = (
    "IngestionMutate",
    "IngestionRead",
    "ManagementMutate",
    "ManagementRead",
)
_METRICS = {
    "IngestionMutate": ("ingestion_mutate_requests", "Ingestion mutate requests"),
    "IngestionRead": ("ingestion_read_requests", "Ingestion read requests"),
    "ManagementMutate": ("management_mutate_requests", "Management mutate requests"),
    "ManagementRead": ("management_read_requests", "Management read requests"),
}


@dataclass(frozen=True)
class QuotaLimits:
    """Limits per project; None turns one off. Defaults are the documented ones."""

    ingestion_mutate_per_minute: int | None = 300
    ingestion_mutate_per_day: int | None = 100_000
    ingestion_read_per_minute: int | None = 300
    ingestion_read_per_day: int | None = 100_000
    management_mutate_per_minute: int | None = 300
    management_mutate_per_day: int | None = 50_000
    management_read_per_minute: int | None = 300
    management_read_per_day: int | None = 50_000
    window: Literal["fixed", "rolling"] = "fixed"  # (inferred)
    timezone: str = "America/Los_Angeles"  # when per-day counters reset (inferred)
    retry_after: bool = False  # send Retry-After on per-minute 429s (inferred: Google doesn't)

    def limit(self, quota: QuotaClass, period: Literal["minute", "day"]) -> int | None:
        key = f"{_METRICS[quota][0].removesuffix('_requests')}_per_{period}"
        value: int | None = getattr(self, key)
        return value


class QuotaCounter:
    """Counts calls per (project, class) and refuses the ones over a limit."""

    def __init__(self, limits: QuotaLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._zone = ZoneInfo(limits.timezone)
        self._minute: defaultdict[tuple[str, QuotaClass], deque[float]] = defaultdict(deque)
        self._fixed: dict[tuple[str, QuotaClass], tuple[int, int]] = {}
        self._day: dict[tuple[str, QuotaClass], tuple[str, int]] = {}

    def usage(self, project: str, quota: QuotaClass) -> dict[str, int]:
        """Calls counted in the current minute and day (for tests and ``state()``)."""
        now, key = self.clock(), (project, quota)
        day = self._day.get(key)
        return {
            "minute": self._minute_count(key, now),
            "day": day[1] if day and day[0] == self._day_key(now) else 0,
        }

    def _day_key(self, now: float) -> str:
        return datetime.fromtimestamp(now, self._zone).date().isoformat()

    def _minute_count(self, key: tuple[str, QuotaClass], now: float) -> int:
        if self.limits.window == "rolling":
            window = self._minute[key]
            while window and window[0] <= now - 60.0:
                window.popleft()
            return len(window)
        fixed = self._fixed.get(key)
        return fixed[1] if fixed and fixed[0] == int(now // 60) else 0

    def charge(self, project: str, project_number: int, quota: QuotaClass) -> None:
        """Count one call, or raise the 429 of the first limit it would exceed."""
        now, key = self.clock(), (project, quota)
        per_minute = self.limits.limit(quota, "minute")
        minute = self._minute_count(key, now)
        if per_minute is not None and minute >= per_minute:
            retry = None
            if self.limits.retry_after:
                window = self._minute[key]
                ends = window[0] + 60.0 if self.limits.window == "rolling" and window else None
                ends = ends if ends is not None else (int(now // 60) + 1) * 60.0
                retry = max(1, math.ceil(ends - now))
            raise self._exceeded(quota, "Minute", per_minute, project_number, retry)
        per_day = self.limits.limit(quota, "day")
        day_key = self._day_key(now)
        day = self._day.get(key)
        used_today = day[1] if day and day[0] == day_key else 0
        if per_day is not None and used_today >= per_day:
            raise self._exceeded(quota, "Day", per_day, project_number, None)
        if self.limits.window == "rolling":
            self._minute[key].append(now)
        else:
            self._fixed[key] = (int(now // 60), minute + 1)
        self._day[key] = (day_key, used_today + 1)

    @staticmethod
    def _exceeded(
        quota: QuotaClass, period: str, value: int, project_number: int, retry: int | None
    ) -> ApiError:
        metric, title = _METRICS[quota]
        limit_name = f"{quota}RequestsPer{period}PerProject"
        message = (
            f"Quota exceeded for quota metric '{title}' and limit '{title} per {period.lower()} "
            f"per project' of service 'datamanager.googleapis.com' for consumer "
            f"'project_number:{project_number}'."
        )
        return ApiError(
            429,
            message=message,
            reason="RATE_LIMIT_EXCEEDED",
            domain="googleapis.com",
            metadata={
                "quota_limit": limit_name,
                "quota_metric": f"datamanager.googleapis.com/{metric}",
                "quota_limit_value": str(value),
                "quota_location": "global",
                "consumer": f"projects/{project_number}",
                "service": "datamanager.googleapis.com",
            },
            headers={} if retry is None else {"Retry-After": str(retry)},
            request_info=False,
            extra_details=[
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Request a higher quota limit.",
                            "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                        }
                    ],
                }
            ],
        )
