"""What the HTML report shows, read from the store: one run's report, the runs before it,
segment sizes and KPIs over time, the RFM grid and lifecycle stages of the traits that
exist, the clusters' personas, each sync's changes over time and the guards that fired.

Statements are portable sqlglot expressions run through the engine, like the rest of the
domain. Trait figures (RFM, lifecycle, clusters) are as of the latest run that computed
traits, whichever run the report is about.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from segsync.engine import Engine, parse
from segsync.report import RunReport

__all__ = ["Attention", "ReportData", "gather"]

_FEATURE = re.compile(
    r"(\w+) (high|low|typical) \(median (.*?), mean (.*?); all: median (.*?), mean (.*?)\)"
)
"""One feature of a persona (:func:`segsync.traits.kmeans.persona`): name, level, the
cluster's median and mean, everyone's median and mean."""
_FEATURE_BEFORE = re.compile(r"(\w+) (high|low|typical) \(([^)]*?) vs ([^)]*)\)")
"""The same as personas were written before medians (cluster mean vs everyone's)."""
MAX_RUNS = 400
_FUNNEL = ("prospect", "new", "active", "loyal", "at_risk", "lost")
"""Lifecycle stages as a customer moves through them (they are decided in another order)."""
"""Runs read for the status strip and the per-sync history (newest first)."""


@dataclass(frozen=True)
class Attention:
    """Something the reader should look at: a guard that fired, an error, deferred work."""

    severity: str
    """``error``, ``guard`` or ``warning``."""
    where: str
    what: str


@dataclass
class SegmentTrend:
    name: str
    points: list[dict[str, Any]] = field(default_factory=list)
    """Per run, in time order: ``at``, ``size``, ``share``, ``entered``, ``left``,
    ``conversion_rate``, ``average_order_value``, ``revenue``, ``mean_value``."""


@dataclass
class RfmGrid:
    trait: str
    buckets: int
    cells: dict[tuple[int, int], int]
    names: dict[tuple[int, int], str]
    scored: int
    unscored: int


@dataclass
class Stages:
    trait: str
    stages: list[tuple[str, int]]


@dataclass
class Personas:
    trait: str
    clusters: list[dict[str, Any]]


@dataclass
class SyncTrend:
    name: str
    points: list[tuple[dt.datetime, int, int, int]] = field(default_factory=list)
    """Per run, in time order: when, applied adds, applied removes, failed."""


@dataclass
class ReportData:
    run: dict[str, Any]
    """The run's row: ``run_id``, ``command``, ``status``, ``phase``, ``exit_code``,
    ``started_at``, ``finished_at``."""
    report: RunReport | None
    runs: list[tuple[str, str, dt.datetime]]
    segments: list[SegmentTrend]
    syncs: list[SyncTrend]
    rfm: list[RfmGrid]
    stages: list[Stages]
    personas: list[Personas]
    attention: list[Attention]


def _runs(engine: Engine, until: dt.datetime) -> list[dict[str, Any]]:
    rows = engine.dicts(
        parse(
            "SELECT run_id, status, started_at, report FROM runs "
            "WHERE command = 'run' AND started_at <= :until "
            "ORDER BY started_at DESC LIMIT :limit",
            until=until,
            limit=MAX_RUNS,
        )
    )
    rows.reverse()
    return rows


def _segments(engine: Engine, until: dt.datetime) -> list[SegmentTrend]:
    rows = engine.dicts(
        parse(
            'SELECT segment, computed_at AS "at", size, share, entered, "left", '
            "conversion_rate, average_order_value, revenue, mean_value FROM segment_kpis "
            "WHERE computed_at <= :until ORDER BY computed_at, segment",
            until=until,
        )
    )
    trends: dict[str, SegmentTrend] = {}
    for row in rows:
        name = row.pop("segment")
        trends.setdefault(name, SegmentTrend(name)).points.append(row)
    return list(trends.values())


def _this_runs(trends: list[SegmentTrend], report: RunReport | None) -> list[SegmentTrend]:
    """The segments of the run's report, in its order (the config's, each segment's groups
    after it); a segment no longer configured is left out rather than shown with the size it
    had at an earlier run. Without a report (a killed run), every segment with history."""
    if report is None:
        return trends
    order = {s.name: i for i, s in enumerate(report.segments)}
    return sorted((t for t in trends if t.name in order), key=lambda t: order[t.name])


def _syncs(runs: list[dict[str, Any]]) -> list[SyncTrend]:
    trends: dict[str, SyncTrend] = {}
    for row in runs:
        report = row["report"]
        if report is None:
            continue
        data = report if isinstance(report, dict) else json.loads(report)
        for sync in data.get("syncs") or []:
            trends.setdefault(sync["name"], SyncTrend(sync["name"])).points.append(
                (
                    row["started_at"],
                    int(sync.get("applied_adds") or 0),
                    int(sync.get("applied_removes") or 0),
                    int(sync.get("failed") or 0),
                )
            )
    return list(trends.values())


def _quoted(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _trait_columns(engine: Engine) -> set[str]:
    try:
        return set(engine.columns("profile_traits"))
    except Exception:
        return set()


def _rfm(engine: Engine, traits: dict[str, Any], columns: set[str]) -> list[RfmGrid]:
    from segsync.traits.rfm import cell_map

    grids = []
    for name, spec in traits.items():
        r, f = f"{name}_r", f"{name}_f"
        if spec.kind != "rfm" or not {r, f} <= columns:
            continue
        buckets = int(spec.settings.buckets)
        rows = engine.rows(
            exp.select(exp.alias_(_quoted(r), "r"), exp.alias_(_quoted(f), "f"), "count(*)")
            .from_("profile_traits")
            .group_by(_quoted(r), _quoted(f))
        )
        cells = {(int(a), int(b)): int(n) for a, b, n in rows if a is not None and b is not None}
        unscored = sum(int(n) for a, b, n in rows if a is None or b is None)
        grids.append(
            RfmGrid(
                trait=name,
                buckets=buckets,
                cells=cells,
                names=cell_map(buckets, spec.settings.cells),
                scored=sum(cells.values()),
                unscored=unscored,
            )
        )
    return grids


def _stages(engine: Engine, traits: dict[str, Any], columns: set[str]) -> list[Stages]:
    from segsync.traits.lifecycle import STAGES

    out = []
    for name, spec in traits.items():
        if spec.kind != "lifecycle" or name not in columns:
            continue
        counts = {
            str(stage): int(n)
            for stage, n in engine.rows(
                exp.select(exp.alias_(_quoted(name), "stage"), "count(*)")
                .from_("profile_traits")
                .group_by(_quoted(name))
            )
            if stage is not None
        }
        order = [spec.settings.stage_name(s) for s in _FUNNEL if s in STAGES]
        out.append(Stages(name, [(stage, counts.get(stage, 0)) for stage in order]))
    return out


def _features(persona: str) -> list[dict[str, str]]:
    """A persona's features: ``"412 people: revenue high (median 1,100, mean 1,240; all:
    median 120, mean 310), …"`` (or, as written before, ``revenue high (1,240 vs 310)``)."""
    found = [
        {"feature": f, "level": level, "value": f"median {median}, mean {mean}",
         "overall": f"median {all_median}, mean {all_mean}"}
        for f, level, median, mean, all_median, all_mean in _FEATURE.findall(persona)
    ]  # fmt: skip
    return found or [
        {"feature": f, "level": level, "value": value, "overall": overall}
        for f, level, value, overall in _FEATURE_BEFORE.findall(persona)
    ]


def _personas(engine: Engine) -> list[Personas]:
    rows = engine.dicts(
        parse(
            "SELECT trait, cluster, label, size, persona FROM trait_clusters "
            "ORDER BY trait, cluster"
        )
    )
    by_trait: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_trait.setdefault(row.pop("trait"), []).append(row)
    personas = []
    for trait, clusters in by_trait.items():
        total = sum(int(c["size"]) for c in clusters) or 1
        for c in clusters:
            c["share"] = int(c["size"]) / total
            c["features"] = _features(str(c.get("persona") or ""))
        personas.append(Personas(trait, clusters))
    return personas


def _attention(report: RunReport | None, run: dict[str, Any]) -> list[Attention]:
    items: list[Attention] = []
    if run["status"] == "killed":
        items.append(
            Attention("error", f"run {run['run_id']}", f"killed during its {run['phase']} phase")
        )
    if report is None:
        return items
    for source in report.sources:
        where = f"source {source.instance} {source.stream}"
        if source.refused:
            items.append(Attention("guard", where, source.refused))
        elif source.error:
            severity = "warning" if source.transient else "error"
            items.append(Attention(severity, where, source.error))
        if source.rejected:
            items.append(
                Attention("warning", where, f"{source.rejected:,} unreadable record(s) skipped")
            )
    for segment in report.segments:
        if segment.too_small:
            items.append(
                Attention(
                    "guard",
                    f"segment {segment.name}",
                    f"{segment.size:,} members, below min_size {segment.min_size:,}",
                )
            )
    for sync in report.syncs:
        where = f"sync {sync.name}"
        if sync.blocked:
            items.append(Attention("guard", where, sync.blocked))
        if sync.error:
            items.append(Attention("error", where, sync.error))
        if sync.deferred:
            items.append(Attention("warning", where, f"deferred: {sync.deferred}"))
        if sync.skipped_reason:
            items.append(Attention("warning", where, f"not pushed: {sync.skipped_reason}"))
        if sync.audience_warning:
            items.append(Attention("warning", where, sync.audience_warning))
        for failure in sync.failures:
            kind = "permanent" if failure.permanent else "will retry"
            items.append(
                Attention(
                    "warning",
                    where,
                    f"{failure.count:,} × {failure.op} failed ({kind}): {failure.error}",
                )
            )
    for warning in report.warnings:  # about the data: mixed currencies, stale events, …
        label, _, rest = warning.message.partition(": ")
        if rest and " " not in label:  # the message opens with its key: "segments.vip: …"
            items.append(Attention("warning", label, rest))
        else:
            items.append(Attention("warning", warning.trait, warning.message))
    items += [Attention("error", "run", e) for e in report.errors]
    return items


def gather(engine: Engine, run: dict[str, Any], traits: dict[str, Any]) -> ReportData:
    """Everything the page shows about ``run`` (a row of
    :meth:`segsync.state.history.History.run`), given the configured trait specs."""
    report = (
        RunReport.model_validate(run["report"])
        if run.get("report") is not None and run["status"] not in ("killed", "running")
        else None
    )
    until = run["finished_at"] or run["started_at"]
    runs = _runs(engine, until)
    columns = _trait_columns(engine)
    return ReportData(
        run=run,
        report=report,
        runs=[(r["run_id"], r["status"], r["started_at"]) for r in runs],
        segments=_this_runs(_segments(engine, until), report),
        syncs=_syncs(runs),
        rfm=_rfm(engine, traits, columns),
        stages=_stages(engine, traits, columns),
        personas=_personas(engine),
        attention=_attention(report, run),
    )
