"""HubSpot's limits beyond the base's rolling window: scopes, the daily limit, the search limit,
and the ``X-HubSpot-RateLimit-*`` headers.

Per token: ``burst`` requests per ``window`` seconds (the base's window, 429
``TEN_SECONDLY_ROLLING``), ``daily`` requests per day (429 ``DAILY``; every routed request
counts), ``search_per_second`` searches per second (429 ``SECONDLY``). A token added with
``scopes=`` is refused (403 ``MISSING_SCOPES``) on routes needing another scope.

Headers: object, property and list answers carry ``X-HubSpot-RateLimit-{Daily,
Daily-Remaining, Interval-Milliseconds, Max, Remaining, Secondly, Secondly-Remaining}``
(``daily_headers`` False drops the two Daily ones, as OAuth calls do); search answers carry
none of them (``search_daily_headers`` True: the two Daily ones).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .errors import missing_scopes, rate_error

if TYPE_CHECKING:
    from .app import HubSpotSimulator

__all__ = ["Handler", "Limits"]

Handler = Callable[[Request], Awaitable[Response]]


class Limits:
    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.scopes: dict[str, frozenset[str] | None] = {}  # token → granted (None: all)
        self._daily_used: Counter[str] = Counter()
        self._daily_day: dict[str, int] = {}
        self._searches: defaultdict[str, deque[float]] = defaultdict(deque)

    def _day(self) -> int:
        return int(self.sim.clock() // 86_400)

    def guard(self, handler: Handler, scope: str, *, search: bool = False) -> Handler:
        """Wrap a route: its scope, then the daily limit, then (``search``) the search limit;
        the request then counts against the day."""

        async def endpoint(request: Request) -> Response:
            self.check(request, scope, search=search)
            return await handler(request)

        return endpoint

    def check(self, request: Request, scope: str, *, search: bool = False) -> None:
        sim = self.sim
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        account = sim.authenticate(request) or ""
        granted = self.scopes.get(token)
        if granted is not None and scope not in granted:
            raise missing_scopes(scope)
        day = self._day()
        if self._daily_day.get(account) != day:
            self._daily_day[account], self._daily_used[account] = day, 0
        if self._daily_used[account] >= sim.daily:
            raise rate_error("DAILY", "You have reached your daily limit.", sim.ids.uuid4())
        if search:
            now, times = sim.clock(), self._searches[account]
            while times and times[0] <= now - 1.0:
                times.popleft()
            if len(times) >= sim.search_per_second:
                message = "You have reached your secondly limit."
                raise rate_error("SECONDLY", message, sim.ids.uuid4())
            times.append(now)
        self._daily_used[account] += 1

    def headers(
        self, request: Request, account: str, remaining: int | None, limit: int | None
    ) -> dict[str, str]:
        sim = self.sim
        headers: dict[str, str] = {}
        if sim.daily_headers:
            used = self._daily_used[account] if self._daily_day.get(account) == self._day() else 0
            headers["X-HubSpot-RateLimit-Daily"] = str(sim.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(sim.daily - used, 0))
        if request.url.path.endswith("/search") or limit is None or remaining is None:
            return headers
        window = sim.rate_limit.window
        secondly = max(1, math.floor(limit / window))
        last_second = sim.recent_requests(account, 1.0)
        headers.update(
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Secondly": str(secondly),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(secondly - last_second, 0)),
            }
        )
        return headers
