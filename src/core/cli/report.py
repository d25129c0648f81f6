"""``segsync report``: a past run as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, errors, load_config_, out


@app.command()
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id or its start (default: the latest run)")
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the page")] = Path(
        "report.html"
    ),
) -> None:
    """Write a run's report as one static HTML page (no network needed to view it): status,
    segments over time with their KPIs, RFM grid, lifecycle funnel, personas, every sync's
    changes and the guards that fired."""
    from segsync.report.html import write_report

    with errors():
        config = load_config_()
        written = write_report(config, out_path, run_id=run_id)
    out.print(f"wrote {out_path} (run {written.run_id}, {written.size:,} bytes)")
