"""The HTML report: one run as one self-contained static page.

``segsync report [RUN_ID] --out report.html`` and ``segsync run --report PATH`` call
:func:`write_report`. The page needs no network and runs no script: styles are inline, charts
are inline SVG drawn from the data (:mod:`.charts`), and every value is escaped by Jinja2
(``templates/report.html.j2``). It shows the run's status and the guards that fired, the
segments' sizes, entered/left and KPIs over time, the RFM grid and lifecycle funnel of the
traits that exist, the clusters' personas, and each sync's changes.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from segsync._version import __version__
from segsync.config import Config
from segsync.errors import ConfigError
from segsync.report import RunReport
from segsync.state.history import History
from segsync.state.lock import run_lock
from segsync.state.store import Store

from . import charts
from .data import ReportData, gather

__all__ = ["Written", "render", "write_report"]

_STATUS = {
    "ok": ("ok", "Succeeded"),
    "failed_records": ("warn", "Some changes failed — retried next run"),
    "blocked": ("bad", "Blocked by a guard"),
    "error": ("bad", "Failed"),
    "killed": ("bad", "Killed"),
    "running": ("warn", "Running"),
}


@dataclass(frozen=True)
class Written:
    run_id: str
    size: int
    """Bytes written."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("segsync.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["signed"] = _signed
    env.filters["pct"] = lambda v, digits=1: "–" if v is None else f"{float(v):.{digits}%}"
    env.filters["money"] = lambda v: "–" if v is None else f"{Decimal(v):,.2f}"
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    return env


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:,}"


def _signed(value: Any, sign: str = "+") -> str:
    """A count of people added (``+``) or removed (``−``): ``+24``, ``−3``, and ``0`` with no
    sign, which reads as nothing rather than as a change."""
    return _num(value) if not value else f"{sign}{value:,}"


def _when(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return (
        f"{minutes} min {rest:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _colour(i: int) -> str:
    return charts.PALETTE[i % len(charts.PALETTE)]


def _kpi_charts(data: ReportData) -> list[tuple[str, Markup]]:
    kpis = (
        ("Conversion rate", "conversion_rate", lambda v: f"{v:.0%}"),
        ("Average order value", "average_order_value", charts.compact),
        ("Revenue in the KPI window", "revenue", charts.compact),
        ("Mean historical value", "mean_value", charts.compact),
    )
    out = []
    for title, key, fmt in kpis:
        series = [
            charts.Series(
                s.name,
                [(p["at"], None if p[key] is None else float(p[key])) for p in s.points],
                _colour(i),
            )
            for i, s in enumerate(data.segments)
            if "." not in s.name
        ]
        if any(v is not None for s in series for _, v in s.points):
            out.append((title, charts.line_chart(series, height=200, fmt=fmt, label=title)))
    return out


def _changed(report: RunReport) -> bool:
    if report.command == "run":
        return any(s.applied_adds or s.applied_removes or s.failed for s in report.syncs)
    return any(s.adds or s.removes for s in report.syncs)


def _context(data: ReportData, config: Config) -> dict[str, Any]:
    report, run = data.report, data.run
    status = "killed" if run["status"] in ("killed", "running") else run["status"]
    tone, headline = _STATUS.get(status, ("warn", status))
    segments = []
    for i, trend in enumerate(data.segments):
        last = trend.points[-1]
        colour = _colour(i)
        segments.append(
            {
                "name": trend.name,
                "colour": colour,
                "last": last,
                "size_chart": charts.line_chart(
                    [
                        charts.Series(
                            trend.name, [(p["at"], float(p["size"])) for p in trend.points], colour
                        )
                    ],
                    width=520,
                    height=150,
                    area=True,
                    label=f"{trend.name}: size over time",
                ),
                "flow_chart": charts.mirrored_bars(
                    [(p["at"], float(p["entered"])) for p in trend.points],
                    [(p["at"], float(p["left"])) for p in trend.points],
                    up_label="entered",
                    down_label="left",
                    width=520,
                    height=110,
                    label=f"{trend.name}: entered and left per run",
                ),
            }
        )
    sizes = charts.line_chart(
        [
            charts.Series(t.name, [(p["at"], float(p["size"])) for p in t.points], _colour(i))
            for i, t in enumerate(data.segments)
        ],
        height=240,
        label="segment sizes over time",
    )
    syncs = []
    by_name = {t.name: t for t in data.syncs}
    for sync in report.syncs if report else []:
        history = by_name.get(sync.name)
        syncs.append(
            {
                "sync": sync,
                "chart": charts.mirrored_bars(
                    [(m, float(a)) for m, a, _, _ in history.points],
                    [(m, float(r)) for m, _, r, _ in history.points],
                    up_label="added",
                    down_label="removed",
                    width=520,
                    height=110,
                    label=f"{sync.name}: changes applied per run",
                )
                if history and len(history.points) > 1
                else None,
            }
        )
    applied = charts.bars(
        [
            (
                s.name,
                [
                    (float(s.applied_adds), charts.GREEN, "added"),
                    (float(s.applied_removes), charts.RED, "removed"),
                    (float(s.failed), charts.AMBER, "failed"),
                ]
                if report is not None and report.command == "run"
                else [
                    (float(s.adds), charts.GREEN, "to add"),
                    (float(s.removes), charts.RED, "to remove"),
                ],
            )
            for s in (report.syncs if report else [])
        ],
        label="changes per sync",
        nothing="no change",
    )
    return {
        "run": run,
        "report": report,
        "status": status,
        "tone": tone,
        "headline": headline,
        "attention": data.attention,
        "strip": charts.status_strip(data.runs, label="recent runs"),
        "runs_count": len(data.runs),
        "segments": segments,
        "sizes_chart": sizes,
        "legend": [(t.name, _colour(i)) for i, t in enumerate(data.segments)],
        "kpi_charts": _kpi_charts(data),
        "rfm": [
            {
                "grid": g,
                "chart": charts.heatmap(g.cells, g.buckets, names=g.names, label=f"{g.trait} grid"),
            }
            for g in data.rfm
        ],
        "stages": [
            {
                "trait": s.trait,
                "chart": charts.funnel(s.stages, label=f"{s.trait} stages"),
                "total": sum(c for _, c in s.stages),
            }
            for s in data.stages
        ],
        "personas": data.personas,
        "syncs": syncs,
        "applied_chart": applied if report and _changed(report) else None,
        "config": str(config.path),
        "store": str(config.store_path),
        "generated_at": dt.datetime.now(dt.UTC),
        "version": __version__,
        "palette": charts.PALETTE,
    }


def render(data: ReportData, config: Config) -> str:
    """The page for ``data``, as text."""
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(data, config))


def _pick(history: History, run_id: str | None) -> dict[str, Any]:
    if run_id is not None:
        try:
            row = history.run(run_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if row is None:
            raise ConfigError(f"no run {run_id!r} in the store; 'segsync runs' lists them")
        return row
    rows = history.runs(1, command="run")
    if not rows:
        raise ConfigError("no 'segsync run' recorded yet: run one, then ask for its report")
    return rows[0]


def write_report(config: Config, path: Path, *, run_id: str | None = None) -> Written:
    """Write the report of ``run_id`` (a prefix will do; default: the latest ``run``) to
    ``path``, atomically. Holds the store's lock as a short read-only command."""
    if config.no_store_yet:
        raise ConfigError(f"{config.store_path}: no store yet; run 'segsync run' first")
    if path.is_dir():
        raise ConfigError(_cannot_write(path, "it is a folder"))
    wait = config.settings.store.lock_wait_seconds
    with (
        run_lock(config.store_path, command="report", run_id=f"report-{os.getpid()}", wait=wait),
        Store.of(config) as store,
    ):
        row = _pick(History(store.engine), run_id)
        data = gather(store.engine, row, config.traits)
    text = render(data, config)
    try:
        _write_atomically(path, text)
    except OSError as exc:
        raise ConfigError(_cannot_write(path, exc.strerror or str(exc))) from None
    return Written(run_id=row["run_id"], size=len(text.encode("utf-8")))


def _cannot_write(path: Path, why: str) -> str:
    return (
        f"{path}: cannot write the report there ({why}); give the path of a file in a folder "
        "you can write to"
    )


def _write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
