"""KPIs per segment: share, conversion, average order value, revenue and mean value.

Computed from a run's fresh :class:`~segsync.pipeline.segments.Membership` and the orders in
``profile_events`` within ``[kpis] window`` before the run (half-open, as traits' ``within``).
Money is exact (DECIMAL, 4 places, half-even); rates are rounded to 4 places.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from segsync.engine import Engine, parse
from segsync.pipeline.segments import Membership

__all__ = ["compute_kpis"]

_MONEY = Decimal("0.0001")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_MONEY, rounding=ROUND_HALF_EVEN)


def compute_kpis(
    engine: Engine, membership: Membership, *, start: dt.datetime, end: dt.datetime
) -> None:
    """Fill each segment's KPIs, reading orders in ``[start, end)`` (naive UTC)."""
    total = int(engine.scalar(parse("SELECT count(*) FROM profiles")))
    rows = engine.rows(
        parse(
            """WITH orders AS (
                SELECT profile_key, count(value) AS valued, sum(value) AS revenue
                FROM profile_events
                WHERE type = 'order' AND occurred_at >= :start AND occurred_at < :end
                GROUP BY profile_key)
            SELECT m.segment, count(o.profile_key) AS converted,
                   coalesce(sum(o.valued), 0) AS valued, coalesce(sum(o.revenue), 0) AS revenue,
                   coalesce(sum(p.revenue), 0) AS historical
            FROM :members AS m JOIN profiles p ON p.profile_key = m.profile_key
            LEFT JOIN orders o ON o.profile_key = m.profile_key
            GROUP BY m.segment""",
            start=start,
            end=end,
            members=membership.rows().subquery(),
        )
    )
    found: dict[str, tuple[Any, ...]] = {r[0]: r[1:] for r in rows}
    for name, result in membership.results.items():
        converted, valued, revenue, historical = found.get(name, (0, 0, 0, 0))
        result.share = round(result.size / total, 4) if total else 0.0
        result.revenue = _money(Decimal(revenue))
        if result.size:
            result.conversion_rate = round(int(converted) / result.size, 4)
            result.mean_value = _money(Decimal(historical) / result.size)
        if valued:
            result.average_order_value = _money(Decimal(revenue) / int(valued))
