"""Charts for the HTML report, drawn from the data as inline SVG (no script, no image files,
no network): lines over time, mirrored bars (entered/left, added/removed), a heatmap (the
RFM grid), a funnel (lifecycle stages), horizontal bars and a run-status strip.

Every function returns :class:`markupsafe.Markup` holding one ``<svg>`` element; every text
that comes from data (segment names, labels) is escaped. Each mark carries a ``<title>`` so
hovering shows the exact figure. Long series are thinned to at most :data:`MAX_POINTS`
points (the last of each bucket for levels, the sum for counts), so a year of runs every few
minutes still draws quickly and keeps the page small.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "MAX_BARS",
    "MAX_POINTS",
    "PALETTE",
    "Series",
    "bars",
    "compact",
    "funnel",
    "heatmap",
    "line_chart",
    "mirrored_bars",
    "status_strip",
]

MAX_POINTS = 240
MAX_BARS = 120
"""Bars are wider than points: counts are summed into at most this many per chart."""
PALETTE = (
    "#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#9333ea",
)  # fmt: skip
"""Twelve distinguishable colours, one per series in order."""
GREEN, RED, AMBER, GREY = "#059669", "#dc2626", "#d97706", "#9ca3af"
_AXIS, _GRID, _TEXT = "#9ca3af", "#e5e7eb", "#4b5563"


@dataclass(frozen=True)
class Series:
    """One line: its name and ``(moment, value)`` points in time order (None: a gap)."""

    name: str
    points: Sequence[tuple[dt.datetime, float | None]]
    colour: str = PALETTE[0]


def compact(value: float) -> str:
    """``1234`` → ``1.2k``, ``3400000`` → ``3.4M``: for axes."""
    size = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            text = f"{value / limit:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    if size and size < 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering ``[low, high]``."""
    if high <= low:
        high = low + 1
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 2.5, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg(
    width: int, height: int, body: list[str], label: str, *, max_scale: float | None = None
) -> Markup:
    """``max_scale``: draw at most this many times the natural ``width`` (a diagram alone in a
    wide card would otherwise grow, its text with it, to the card's width)."""
    style = f' style="max-width:{width * max_scale:.0f}px;margin:0 auto"' if max_scale else ""
    return Markup(  # noqa: S704 - every text from data in ``body`` is escaped
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%"{style} '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _thin(
    points: Sequence[tuple[dt.datetime, float | None]],
    keep: Callable[[list[float]], float],
    limit: int = MAX_POINTS,
) -> list[tuple[dt.datetime, float | None]]:
    if len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / limit)
    out: list[tuple[dt.datetime, float | None]] = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        values = [v for _, v in chunk if v is not None]
        out.append((chunk[-1][0], keep(values) if values else None))
    return out


def _date(moment: dt.datetime, span: dt.timedelta) -> str:
    if span <= dt.timedelta(minutes=10):  # runs minutes apart: the minute alone repeats
        return f"{moment:%H:%M:%S}"
    if span <= dt.timedelta(days=2):
        return f"{moment:%d %b %H:%M}"
    return f"{moment:%d %b %Y}" if span > dt.timedelta(days=300) else f"{moment:%d %b}"


class _Frame:
    """A plot area with a time x-axis and a numeric y-axis."""

    def __init__(
        self,
        moments: Sequence[dt.datetime],
        low: float,
        high: float,
        *,
        width: int,
        height: int,
        left: int = 52,
        bottom: int = 22,
        fmt: Callable[[float], str] = compact,
    ) -> None:
        self.width, self.height, self.left, self.top = width, height, left, 10
        self.right, self.bottom = width - 12, height - bottom
        self.t0, self.t1 = min(moments), max(moments)
        self.ticks = _ticks(low, high, max(2, (self.bottom - self.top) // 36))
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.fmt = fmt

    def x(self, moment: dt.datetime) -> float:
        span = (self.t1 - self.t0).total_seconds()
        if span <= 0:
            return (self.left + self.right) / 2
        return self.left + (moment - self.t0).total_seconds() / span * (self.right - self.left)

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low or 1)
        return self.bottom - share * (self.bottom - self.top)

    def axes(self) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{_GRID}" stroke-width="1"/>'
                f'<text x="{self.left - 6}" y="{y + 3.5:.1f}" text-anchor="end" '
                f'font-size="10" fill="{_TEXT}">{escape(self.fmt(tick))}</text>'
            )
        span = self.t1 - self.t0
        labels = [self.t0] if span.total_seconds() <= 0 else [
            self.t0 + span * i / 4 for i in range(5)
        ]  # fmt: skip
        shown: set[str] = set()
        for i, moment in enumerate(labels):
            text = _date(moment, span)
            if text in shown:  # moments closer than the format's precision: label once
                continue
            shown.add(text)
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            parts.append(
                f'<text x="{self.x(moment):.1f}" y="{self.height - 6}" text-anchor="{anchor}" '
                f'font-size="10" fill="{_TEXT}">{escape(text)}</text>'
            )
        parts.append(
            f'<line x1="{self.left}" x2="{self.right}" y1="{self.bottom}" y2="{self.bottom}" '
            f'stroke="{_AXIS}" stroke-width="1"/>'
        )
        return parts


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 220,
    fmt: Callable[[float], str] = compact,
    area: bool = False,
    label: str = "line chart",
) -> Markup:
    """Lines over time, one per series, with a dot at each series' last value; ``area``
    fills under a single line."""
    thinned = [Series(s.name, _thin(s.points, lambda v: v[-1]), s.colour) for s in series]
    values = [v for s in thinned for _, v in s.points if v is not None]
    moments = [m for s in thinned for m, _ in s.points]
    if not values:
        return _empty(width, height, "no data yet")
    low = min(0.0, min(values))
    frame = _Frame(moments, low, max(values) or 1.0, width=width, height=height, fmt=fmt)
    body = frame.axes()
    for s in thinned:
        runs: list[list[tuple[float, float]]] = [[]]
        for moment, value in s.points:
            if value is None:
                runs.append([])
            else:
                runs[-1].append((frame.x(moment), frame.y(value)))
        for run in (r for r in runs if r):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            if area and len(thinned) == 1:
                body.append(
                    f'<polygon points="{run[0][0]:.1f},{frame.bottom} {path} '
                    f'{run[-1][0]:.1f},{frame.bottom}" fill="{s.colour}" fill-opacity="0.12"/>'
                )
            if len(run) == 1:
                x, y = run[0]
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}"/>')
            else:
                body.append(
                    f'<polyline points="{path}" fill="none" stroke="{s.colour}" '
                    f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>'
                )
        last = next(((m, v) for m, v in reversed(s.points) if v is not None), None)
        if last is not None:
            body.append(
                f'<circle cx="{frame.x(last[0]):.1f}" cy="{frame.y(last[1]):.1f}" r="3.5" '
                f'fill="{s.colour}"><title>{escape(s.name)}: {escape(fmt(last[1]))} '
                f"({last[0]:%Y-%m-%d %H:%M})</title></circle>"
            )
    return _svg(width, height, body, label)


def mirrored_bars(
    up: Sequence[tuple[dt.datetime, float]],
    down: Sequence[tuple[dt.datetime, float]],
    *,
    up_label: str,
    down_label: str,
    width: int = 720,
    height: int = 140,
    label: str = "bars",
) -> Markup:
    """Counts over time: ``up`` above the axis (green), ``down`` below (red)."""
    ups = _thin(up, sum, MAX_BARS)
    downs = _thin(down, sum, MAX_BARS)
    moments = [m for m, _ in ups] + [m for m, _ in downs]
    if not moments:
        return _empty(width, height, "no runs yet")
    top = max([v or 0 for _, v in ups] + [v or 0 for _, v in downs] + [1])
    frame = _Frame(moments, -top, top, width=width, height=height, fmt=lambda v: compact(abs(v)))
    count = max(len(ups), len(downs), 1)
    bar = max(1.0, min(14.0, (frame.right - frame.left) / count * 0.7))
    body = frame.axes()
    zero = frame.y(0)
    for points, colour, sign, name in ((ups, GREEN, 1, up_label), (downs, RED, -1, down_label)):
        for moment, value in points:
            if not value:
                continue
            x = frame.x(moment) - bar / 2
            y = frame.y(sign * value)
            top_y, size = (y, zero - y) if sign > 0 else (zero, y - zero)
            body.append(
                f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{bar:.1f}" '
                f'height="{max(size, 0.5):.1f}" '
                f'fill="{colour}" rx="1"><title>{escape(name)}: {value:,.0f} '
                f"({moment:%Y-%m-%d %H:%M})</title></rect>"
            )
    body.append(
        f'<line x1="{frame.left}" x2="{frame.right}" y1="{zero:.1f}" y2="{zero:.1f}" '
        f'stroke="{_AXIS}" stroke-width="1"/>'
    )
    return _svg(width, height, body, label)


_CAPTION_HALF = 140  # half the width the heat map's caption needs, with a margin


def heatmap(
    cells: dict[tuple[int, int], int],
    size: int,
    *,
    names: dict[tuple[int, int], str] | None = None,
    label: str = "RFM grid",
) -> Markup:
    """The R×F grid: recency down the side (most recent on top), frequency along the bottom;
    each cell's shade is its share of the busiest cell, with the count and the cell's name."""
    cell, left, top = 64, 70, 10
    # the caption (about 250 px of text) is centred under the grid, but a grid of 2 or 3
    # buckets is narrower than it: room is made on both sides of its centre
    middle = max(left + size * cell / 2, _CAPTION_HALF)
    width, height = (
        max(left + size * cell + 12, round(middle + _CAPTION_HALF)),
        top + size * cell + 46,
    )
    peak = max(cells.values(), default=0) or 1
    total = sum(cells.values()) or 1
    body: list[str] = []
    for r in range(size, 0, -1):
        for f in range(1, size + 1):
            count = cells.get((r, f), 0)
            x, y = left + (f - 1) * cell, top + (size - r) * cell
            strength = count / peak
            colour = f"rgba(37,99,235,{0.06 + 0.84 * strength:.3f})"
            ink = "#ffffff" if strength > 0.55 else "#1f2937"
            name = (names or {}).get((r, f), "").replace("_", " ")
            words = name.split(" ", 1) if len(name) > 12 else [name]
            caption = "".join(
                f'<tspan x="{x + (cell - 3) / 2}" dy="{0 if i == 0 else 10}">'
                f"{escape(w[:14])}</tspan>"
                for i, w in enumerate(words)
            )
            body.append(
                f'<g><rect x="{x}" y="{y}" width="{cell - 3}" height="{cell - 3}" rx="4" '
                f'fill="{colour}"/><title>R{r} F{f} {escape(name)}: {count:,} '
                f"({count / total:.1%})</title>"
                f'<text x="{x + (cell - 3) / 2}" y="{y + (24 if len(words) > 1 else 27)}" '
                'text-anchor="middle" '
                f'font-size="13" font-weight="600" fill="{ink}">{escape(compact(count))}</text>'
                f'<text x="{x + (cell - 3) / 2}" y="{y + (41 if len(words) > 1 else 44)}" '
                f'text-anchor="middle" font-size="8.5" fill="{ink}">{caption}</text></g>'
            )
        body.append(
            f'<text x="{left - 8}" y="{top + (size - r) * cell + cell / 2 + 2}" '
            f'text-anchor="end" font-size="11" fill="{_TEXT}">R {r}</text>'
        )
    for f in range(1, size + 1):
        body.append(
            f'<text x="{left + (f - 1) * cell + (cell - 3) / 2}" y="{top + size * cell + 14}" '
            f'text-anchor="middle" font-size="11" fill="{_TEXT}">F {f}</text>'
        )
    body.append(
        f'<text x="{middle:g}" y="{height - 8}" text-anchor="middle" '
        f'font-size="11" fill="{_TEXT}">frequency → (recency ↑: most recent on top)</text>'
    )
    return _svg(width, height, body, label, max_scale=1.5)


def funnel(stages: Sequence[tuple[str, int]], *, width: int = 560, label: str = "funnel") -> Markup:
    """Stages as centred bars, widths by count, with count and share."""
    row, top = 34, 6
    height = top + row * len(stages) + 6
    peak = max((c for _, c in stages), default=0) or 1
    total = sum(c for _, c in stages) or 1
    left, span = 120, width - 120 - 90
    body: list[str] = []
    for i, (name, count) in enumerate(stages):
        y = top + i * row
        w = max(2.0, span * count / peak)
        x = left + (span - w) / 2
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<text x="{left - 10}" y="{y + 19}" text-anchor="end" font-size="12" '
            f'fill="#1f2937">{escape(name.replace("_", " "))}</text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" rx="4" '
            f'fill="{colour}" fill-opacity="0.85"><title>{escape(name)}: {count:,} '
            f"({count / total:.1%})</title></rect>"
            f'<text x="{left + span + 10}" y="{y + 19}" font-size="12" fill="{_TEXT}">'
            f"{count:,} · {count / total:.0%}</text>"
        )
    return _svg(width, height, body, label, max_scale=1.5)


def bars(
    rows: Sequence[tuple[str, Sequence[tuple[float, str, str]]]],
    *,
    width: int = 720,
    label: str = "bars",
    nothing: str = "0",
) -> Markup:
    """Horizontal stacked bars: per row, a name and ``(value, colour, what)`` parts, captioned
    with each non-zero part ("24 added · 3 removed"; ``nothing`` when every part is zero), never
    their sum, which adds up figures of different meaning."""
    row, left = 28, 170
    height = 8 + row * max(len(rows), 1)
    peak = max((sum(v for v, _, _ in parts) for _, parts in rows), default=0) or 1
    span = width - left - 200
    body: list[str] = []
    for i, (name, parts) in enumerate(rows):
        y = 4 + i * row
        body.append(
            f'<text x="{left - 10}" y="{y + 17}" text-anchor="end" font-size="12" '
            f'fill="#1f2937">{escape(name[:26])}</text>'
        )
        x = float(left)
        for value, colour, what in parts:
            if value <= 0:
                continue
            w = max(1.5, span * value / peak)
            body.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 10}" '
                f'fill="{colour}" rx="2"><title>{escape(name)}: {value:,.0f} '
                f"{escape(what)}</title></rect>"
            )
            x += w
        caption = " · ".join(f"{v:,.0f} {what}" for v, _, what in parts if v > 0) or nothing
        body.append(
            f'<text x="{x + 6:.1f}" y="{y + 17}" font-size="11" fill="{_TEXT}">'
            f"{escape(caption)}</text>"
        )
    # a few rows in a wide section would otherwise grow, their text with them, to its width
    return _svg(width, height, body, label, max_scale=1.25)


def status_strip(
    runs: Sequence[tuple[str, str, dt.datetime]], *, width: int = 720, label: str = "runs"
) -> Markup:
    """The latest runs as coloured ticks, oldest first: green ok, amber retry later, red
    blocked or error, grey killed."""
    colours = {"ok": GREEN, "failed_records": AMBER, "blocked": RED, "error": "#7f1d1d"}
    shown = list(runs)[-MAX_POINTS:]
    if not shown:
        return _empty(width, 28, "no runs yet")
    step = (width - 4) / len(shown)
    body = [
        f'<rect x="{2 + i * step:.1f}" y="4" width="{max(step - 1.5, 1):.1f}" height="20" '
        f'rx="2" fill="{colours.get(status, GREY)}"><title>{escape(run_id)}: '
        f"{escape(status)} ({moment:%Y-%m-%d %H:%M})</title></rect>"
        for i, (run_id, status, moment) in enumerate(shown)
    ]
    return _svg(width, 28, body, label)


def _empty(width: int, height: int, text: str) -> Markup:
    return _svg(
        width,
        height,
        [
            f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="12" '
            f'fill="{_TEXT}">{escape(text)}</text>'
        ],
        text,
    )
