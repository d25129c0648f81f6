"""``segsync new-connector``: a new connector plugin package, ready to install and test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, errors, out


@app.command("new-connector")
def new_connector(
    name: Annotated[str, typer.Argument(help="The connector type, e.g. 'brevo'")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to create the package in")
    ] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing package folder")] = False,
) -> None:
    """Generate a connector plugin package: pyproject with the entry point, a connector with
    source and destination roles over segsync.http.connect, its settings, a simulator of the
    platform, the conformance test class and a docs page. It installs and passes the
    conformance suite as generated: then make it talk to the real platform."""
    from segsync.scaffold import generate

    with errors():
        created = generate(name, out_dir, force=force)
    out.print(f"created {created.root} ({len(created.files)} files):")
    for path in created.files:
        out.print(f"  {path.relative_to(created.root)}")
    out.print(
        f"next: pip install -e {created.root} && pytest {created.root / 'tests'}; then read "
        f"{created.root / 'docs' / (created.name + '.md')}"
    )
