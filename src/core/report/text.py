"""Readable text for people: the run report, plugin list and status as rich tables."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segsync.report import ModelSummary, RunReport

__all__ = ["print_report"]


def _sources(report: RunReport) -> Table | None:
    if not report.sources:
        return None
    table = Table(title="Sources", title_justify="left")
    for col in ("instance", "stream", "records", "pages", "result"):
        table.add_column(col, justify="right" if col in ("records", "pages") else "left")
    for s in report.sources:
        if s.refused:
            result = f"[red]refused[/]: {escape(s.refused)}"
        elif s.error and s.transient:
            result = f"[yellow]failed, will retry[/]: {escape(s.error)}"
        elif s.error:
            result = f"[red]failed[/]: {escape(s.error)}"
        elif not s.loaded:
            result = "unchanged"
        else:
            result = "loaded" + (" (snapshot)" if s.snapshot else "")
        if s.warnings:
            result += f" [yellow]{s.warnings:,} warning(s)[/]"
        if s.rejected:
            result += f" [yellow]{s.rejected:,} skipped[/] ({escape(s.rejects_file or '')})"
        table.add_row(s.instance, s.stream, f"{s.records:,}", str(s.pages), result)
    return table


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _segments(report: RunReport) -> Table:
    window = f", orders in the last {report.kpi_window}" if report.kpi_window else ""
    table = Table(title=f"Segments (KPIs{window})", title_justify="left")
    table.add_column("segment")
    for col in ("size", "share", "entered", "left", "conversion", "avg order", "revenue"):
        table.add_column(col, justify="right")
    table.add_column("mean value", justify="right")
    flagged = any(s.min_size is not None for s in report.segments)
    if flagged:
        table.add_column("flags")
    for s in report.segments:
        flags = [f"[yellow]too_small[/] (< {s.min_size:,})" if s.too_small else ""]
        table.add_row(
            ("  " if s.group_of else "") + s.name,
            f"{s.size:,}",
            f"{s.share:.1%}",
            f"+{s.entered:,}",
            f"-{s.left:,}",
            _rate(s.conversion_rate),
            _money(s.average_order_value),
            _money(s.revenue),
            _money(s.mean_value),
            *(flags if flagged else []),
        )
    return table


_AS_OF_SOURCES = {
    "run_start": "the run's start",
    "config": "[segments] as_of",
    "command_line": "--as-of",
}


def _as_of(report: RunReport) -> str | None:
    if report.as_of is None:
        return None
    moment = report.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"As of {moment} ({_AS_OF_SOURCES.get(report.as_of_source or '', 'the run')})"


def _model_line(model: ModelSummary) -> str:
    if model.status != "fitted":
        return f"{model.status}: {model.message or ''}"
    p, m = model.parameters, model.metrics
    if model.kind == "clv":
        bands = " / ".join(f"{n} {c:,}" for n, c in model.bands.items())
        return (
            f"BG/NBD r={p['r']:.3g} alpha={p['alpha']:.3g} a={p['a']:.3g} b={p['b']:.3g} "
            f"(per {model.details.get('unit', 'period')}), Gamma-Gamma p={p['p']:.3g} "
            f"q={p['q']:.3g} v={p['v']:.3g}; {model.rows.get('customers', 0):,} customers, "
            f"{model.rows.get('repeat_buyers', 0):,} repeat buyers; mean P(alive) "
            f"{m.get('mean_p_alive') or 0:.3f}; churn risk {bands}"
        )
    if model.kind == "propensity":
        return (
            f"holdout AUC {m.get('auc') or 0:.3f}, Brier {m.get('brier') or 0:.4f}, base rate "
            f"{m.get('base_rate') or 0:.1%}; {model.rows.get('train', 0):,} training and "
            f"{model.rows.get('holdout', 0):,} holdout rows"
        )
    shown = ", ".join(f"{k}={v:.4g}" for k, v in list(p.items())[:8])
    return shown or "fitted"


def _models(report: RunReport) -> Table:
    table = Table(title="Models", title_justify="left")
    for col in ("trait", "kind", "status", "fit"):
        table.add_column(col)
    for model in report.models:
        style = {"fitted": "green", "refused": "yellow"}.get(model.status, "red")
        table.add_row(
            model.trait, model.kind, f"[{style}]{model.status}[/]", escape(_model_line(model))
        )
    return table


def _syncs(report: RunReport) -> Table:
    applied = report.command == "run"
    table = Table(
        title="Syncs" + ("" if applied else " (plan: nothing applied)"), title_justify="left"
    )
    table.add_column("sync")
    table.add_column("audience")
    refreshing = any(s.refreshes or s.applied_refreshes for s in report.syncs)
    columns = ["before", "adds", "removes", *(["refreshes"] if refreshing else [])]
    for col in (*columns, "failed", "no consent", "unmatched"):
        table.add_column(col, justify="right")
    table.add_column("status")
    for s in report.syncs:
        adds = (
            f"+{s.applied_adds:,}/{s.adds:,}"
            if applied and s.status != "blocked"
            else f"+{s.adds:,}"
        )
        removes = (
            f"-{s.applied_removes:,}/{s.removes:,}"
            if applied and s.status != "blocked"
            else f"-{s.removes:,}"
        )
        refreshes = (
            f"~{s.applied_refreshes:,}/{s.refreshes:,}"
            if applied and s.status != "blocked"
            else f"~{s.refreshes:,}"
        )
        style = {"ok": "green", "planned": "cyan", "blocked": "red", "error": "red"}.get(
            s.status, "yellow"
        )
        shown = "skipped (source failed)" if s.status == "skipped" else s.status
        table.add_row(
            s.name,
            escape(f"{s.destination}:{s.kind} {s.audience!r}"),
            f"{s.in_audience_before:,}",
            adds,
            removes,
            *([refreshes] if refreshing else []),
            f"{s.failed:,}",
            f"{s.skipped.no_consent:,}",
            f"{s.skipped.unmatched:,}",
            f"[{style}]{shown}[/]",
        )
    return table


def _privacy(report: RunReport, console: Console) -> None:
    """One line on suppressions and erasures, when the run did something for them."""
    p = report.privacy
    if p is None:
        return
    parts = []
    if p.suppressions_added or p.suppressions_removed:
        parts.append(
            f"suppression file: +{p.suppressions_added:,}/-{p.suppressions_removed:,} entries"
        )
    if p.records_purged:
        parts.append(f"{p.records_purged:,} records of suppressed people deleted")
    if p.erasures_resumed:
        parts.append(f"{p.erasures_resumed:,} interrupted erasure(s) resumed")
    if p.erasures_completed:
        parts.append(f"{p.erasures_completed:,} erasure(s) completed")
    if p.erasures_pending:
        parts.append(f"[yellow]{p.erasures_pending:,} erasure(s) still pending[/]")
    if p.erasures_failed:
        parts.append(f"[red]{p.erasures_failed:,} erasure(s) refused by a destination[/]")
    if parts:
        console.print("Privacy: " + "; ".join(parts))


def print_report(report: RunReport, console: Console) -> None:
    sources = _sources(report)
    if sources is not None:
        console.print(sources)
    _privacy(report, console)
    p = report.profiles
    console.print(
        f"Profiles: {p.profiles:,} from {p.records:,} records ({p.merged_records:,} merged); "
        f"{p.events:,} events ({p.orphan_events:,} without a profile)"
        + (f"; {p.objected:,} objected to profiling (kept out)" if p.objected else "")
    )
    as_of = _as_of(report)
    if as_of is not None and (report.segments or report.as_of_source != "run_start"):
        console.print(escape(as_of))
    if report.models:
        console.print(_models(report))
    if report.segments:
        console.print(_segments(report))
    for seg in report.segments:
        if seg.too_small:
            console.print(
                f"[yellow]too small[/] {seg.name}: {seg.size:,} members, "
                f"below min_size {seg.min_size:,}"
            )
    if report.syncs:
        console.print(_syncs(report))
    for s in report.syncs:
        if s.blocked:
            console.print(f"[red]blocked[/] {s.name}: {escape(s.blocked)}")
        if s.error:
            console.print(f"[red]error[/] {s.name}: {escape(s.error)}")
        if s.deferred:
            console.print(f"[yellow]deferred[/] {s.name}: {escape(s.deferred)}")
        if s.skipped_reason:
            console.print(f"[yellow]skipped[/] {s.name}: {escape(s.skipped_reason)}")
        if s.audience_size is not None or s.match_rate is not None:
            figures = [
                f"{s.audience_size:,} people" if s.audience_size is not None else None,
                f"match rate {_rate(s.match_rate)}" if s.match_rate is not None else None,
            ]
            console.print(
                f"audience {s.name}: {', '.join(f for f in figures if f)} at "
                f"{escape(s.destination)} (as the platform reports it)"
            )
        if s.audience_warning:
            console.print(f"[yellow]warning[/] {s.name}: {escape(s.audience_warning)}")
        if s.refreshes:
            done = "re-sent" if report.command == "run" and s.status != "blocked" else "to re-send"
            console.print(
                f"refresh {s.name}: {s.refreshes:,} member(s) last delivered over "
                f"{s.refresh_days} days ago {done} before their membership expires at "
                f"{escape(s.destination)}"
            )
        if s.preview is not None and (s.preview.adds or s.preview.removes):
            for label, shown_keys, total in (
                ("would add", s.preview.adds, s.adds),
                ("would remove", s.preview.removes, s.removes),
            ):
                if shown_keys:
                    more = (
                        f" … and {total - len(shown_keys):,} more"
                        if total > len(shown_keys)
                        else ""
                    )
                    console.print(f"  {s.name} {label}: {escape(', '.join(shown_keys))}{more}")
        for f in s.failures:
            kind = "permanent" if f.permanent else "will retry"
            console.print(
                f"[yellow]failed[/] {s.name}: {f.count:,} × {f.op}: {escape(f.error)} ({kind})"
            )
    for name, stats in report.http.items():
        console.print(
            f"HTTP {name}: {stats.get('requests', 0):,} requests, {stats.get('retries', 0):,} "
            f"retries, {stats.get('throttled', 0):,} throttled"
        )
    for source in report.sources:
        for line in source.warning_samples:
            console.print(f"[yellow]warning[/] {escape(line)}")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/] {escape(warning.message)}")
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings):,} warning(s) about the data[/]")
    for error in report.errors:
        console.print(f"[red]error[/]: {escape(error)}")
    colour = "green" if report.exit_code == 0 else "red" if report.exit_code >= 2 else "yellow"
    console.print(
        f"[{colour}]{report.command} {report.run_id}: {report.status}[/] "
        f"in {report.duration_seconds:.1f}s (exit {report.exit_code})"
    )


def table_from_rows(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("(none)")
        return table
    # every key any row has, in order of appearance: a key only some rows hold (a killed
    # run's phase) gets its column, and each value goes under its own header
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for col in columns:
        numbers = all(_number(row.get(col)) for row in rows if row.get(col) is not None)
        table.add_column(col.replace("_", " "), justify="right" if numbers else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    """A value as a person reads it: yes/no, thousands separated, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
