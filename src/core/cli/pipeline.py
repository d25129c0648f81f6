"""Commands that run the pipeline: ``run``, ``plan``, ``pull``, ``segments``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from segsync.config import Config
from segsync.pipeline import execute
from segsync.report import RunReport
from segsync.report.text import print_report
from segsync.traits.base import UtcTime

from .app import (
    Format,
    FormatOpt,
    FullOpt,
    SyncOpt,
    app,
    emit,
    errors,
    load_config_,
    options,
    out,
)
from .progress import progress_display

log = logging.getLogger("segsync.cli")

PENDING_CHANGES = 6
"""``plan --detailed-exitcode``: the plan succeeded and would change something."""


def _write_report(config: Config, report: RunReport, path: Path) -> None:
    """``run --report PATH``: the HTML report of the run just finished (best effort: a report
    that cannot be written is an error message, never a changed exit code)."""
    from segsync.report.html import write_report

    try:
        write_report(config, path, run_id=report.run_id)
    except Exception as exc:
        log.error("could not write the HTML report to %s: %s", path, exc)
    else:
        log.info("HTML report written to %s", path)


def _execute(config: Config, **arguments: Any) -> RunReport:
    """The pipeline, as a command runs it: with the progress display the options ask for."""
    with progress_display(
        log_format=options.log_format, quiet=options.quiet, verbose=options.verbose
    ) as progress:
        return asyncio.run(execute(config, progress=progress, **arguments))


def _as_of(value: str | None) -> dt.datetime | None:
    """``--as-of``: an ISO date (midnight UTC) or date-time (offsets converted) → naive UTC."""
    if value is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(UtcTime).validate_python(value)
    except ValidationError:
        raise typer.BadParameter(
            f"expected an ISO date or date-time such as 2026-01-31 or 2026-01-31T09:00:00Z, "
            f"found {value!r}",
            param_hint="--as-of",
        ) from None


AsOfOpt = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        parser=_as_of,
        metavar="DATE",
        help="Compute traits, KPIs and current_date/now() in conditions as of this moment "
        "(ISO date = midnight UTC, or date-time) instead of now [config: [segments] as_of]",
    ),
]


@app.command()
def run(
    force: Annotated[
        bool, typer.Option(help="Override the guards (removal fraction, empty segment)")
    ] = False,
    sync: SyncOpt = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Use stored data; do not pull sources")
    ] = False,
    full: FullOpt = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the run's HTML report to this file afterwards"),
    ] = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Pull, compute segments, and push the changes to every destination."""
    with errors(fmt):
        config = load_config_()
        result = _execute(
            config, command="run", force=force, pull=not no_pull, syncs=sync, full=full,
            as_of=as_of,
        )  # fmt: skip
        if report is not None:
            _write_report(config, result, report)
    emit(result, fmt)


@app.command()
def plan(
    sync: SyncOpt = None,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Use stored data; do not pull sources")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="List this many of each sync's adds and removes")
    ] = 10,
    force: Annotated[
        bool, typer.Option(help="Plan as 'run --force' would: source guards and sync guards off")
    ] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0 when nothing would change, 6 when changes are pending (other codes "
            "as usual: 2 error, 3 blocked)",
        ),
    ] = False,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Show the changes a run would make, and who would be added and removed. Touches neither
    destinations nor sync state."""
    with errors(fmt):
        config = load_config_()
        report = _execute(
            config, command="plan", pull=not no_pull, syncs=sync, preview=limit, force=force,
            as_of=as_of,
        )  # fmt: skip
    if detailed_exitcode and report.exit_code == 0:
        pending = any(s.adds or s.removes for s in report.syncs if s.status == "planned")
        report.exit_code = PENDING_CHANGES if pending else 0
    emit(report, fmt)


@app.command()
def pull(full: FullOpt = False, fmt: FormatOpt = Format.text) -> None:
    """Pull every source into the store and resolve profiles; push nothing."""
    with errors(fmt):
        config = load_config_()
        report = _execute(config, command="pull", pull=True, syncs=[], full=full)
    emit(report, fmt)


@app.command()
def segments(as_of: AsOfOpt = None, fmt: FormatOpt = Format.text) -> None:
    """Segments and groups over the stored profiles (no pull): size, share, changes since the
    last run, KPIs (conversion, average order value, revenue, mean value), too-small flags;
    the as-of they were computed at, warnings about the data, fitted models."""
    with errors(fmt):
        config = load_config_()
        report = asyncio.run(execute(config, command="segments", pull=False, syncs=[], as_of=as_of))
    if fmt is Format.json:
        payload = {
            "profiles": report.profiles.profiles,
            **report.model_dump(
                mode="json",
                include={
                    "as_of",
                    "as_of_source",
                    "kpi_window",
                    "kpi_window_start",
                    "kpi_window_end",
                },
            ),
            "segments": [s.model_dump(mode="json") for s in report.segments],
            "warnings": [w.model_dump(mode="json") for w in report.warnings],
            "models": [m.model_dump(mode="json") for m in report.models],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        print_report(report.model_copy(update={"sources": []}), out)
    raise typer.Exit(report.exit_code)
