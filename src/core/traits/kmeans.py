"""The k-means maths of the ``cluster`` trait kind that needs no store: k-means++ seeding and
the persona sentence (see :mod:`segsync.traits.cluster` for the whole fit)."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

__all__ = ["HIGH_LOW", "kmeans_plus_plus", "persona"]

HIGH_LOW = 0.5
"""Standard deviations from the mean at which a centroid's feature is "high" or "low"."""


def kmeans_plus_plus(
    points: Sequence[Sequence[float]], k: int, rng: random.Random
) -> list[tuple[float, ...]]:
    """k-means++ seeding (see the module docstring); ``points`` is non-empty."""
    n = len(points)
    columns = list(zip(*points, strict=True)) if points else []
    first = tuple(points[rng.randrange(n)])
    centroids = [first]
    nearest = [0.0] * n
    for column, c in zip(columns, first, strict=True):
        nearest = [d + (x - c) * (x - c) for d, x in zip(nearest, column, strict=True)]
    while len(centroids) < k:
        running = list(accumulate(nearest))  # left-to-right sums
        total = running[-1]
        if total <= 0.0:
            centroids.append(first)  # fewer distinct points than k: repeat, stays empty
            continue
        target = rng.random() * total
        pick = bisect_right(running, target)  # the first point whose running sum > target
        if pick >= n:  # rounding ran past the end: the last point that can be picked
            pick = max(i for i, d in enumerate(nearest) if d > 0.0)
        chosen = tuple(points[pick])
        centroids.append(chosen)
        distance = [0.0] * n
        for column, c in zip(columns, chosen, strict=True):
            distance = [d + (x - c) * (x - c) for d, x in zip(distance, column, strict=True)]
        nearest = [a if a <= b else b for a, b in zip(nearest, distance, strict=True)]
    return centroids


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{round(value, 1) + 0.0:,.1f}"


def persona(
    size: int,
    features: Sequence[str],
    standardised: Sequence[float],
    cluster: Sequence[tuple[float | None, float | None]],
    everyone: Sequence[tuple[float | None, float | None]],
) -> str:
    """``"412 people: revenue high (median 1,100, mean 1,240; all: median 120, mean 310), …"``:
    each feature's median and mean in the cluster (``cluster``: ``(median, mean)`` per feature)
    against those of all profiles (``everyone``), the most distinctive feature first;
    ``high``/``low`` by the standardised centroid (at ±:data:`HIGH_LOW`)."""
    order = sorted(range(len(features)), key=lambda j: (-abs(standardised[j]), j))
    parts = []
    for j in order:
        z = standardised[j]
        level = "high" if z >= HIGH_LOW else "low" if z <= -HIGH_LOW else "typical"
        (median, mean), (all_median, all_mean) = cluster[j], everyone[j]
        parts.append(
            f"{features[j]} {level} (median {_number(median)}, mean {_number(mean)}; "
            f"all: median {_number(all_median)}, mean {_number(all_mean)})"
        )
    who = "person" if size == 1 else "people"
    return f"{size:,} {who}: " + ", ".join(parts)
