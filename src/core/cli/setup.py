"""Commands that set things up: ``init``, ``check``, ``sandbox``."""

from __future__ import annotations

import asyncio
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from segsync.config import Config
from segsync.errors import ConfigError, SegsyncError
from segsync.pipeline import open_connectors

from .app import app, err, errors, load_config_, loaded_plugins, out


@app.command()
def check(
    test_alert: Annotated[
        bool,
        typer.Option("--test-alert", help="Also send a test alert to every [alerts] target"),
    ] = False,
) -> None:
    """Validate the config and check that each connector can reach its data, and a Spark
    store its Spark (and, with --test-alert, that every alert target can be reached)."""
    with errors():
        config = load_config_()
        config.require_work()
        out.print(
            f"[green]config ok[/]: {config.path} — {len(config.connectors)} connector(s), "
            f"{len(config.segments)} segment(s), {len(config.syncs)} sync(s)"
        )
        failed = _check_spark(config)
        connectors = open_connectors(config, list(config.connectors))

        async def probe() -> list[tuple[str, bool, str]]:
            results = []
            for name, connector in connectors.items():
                try:
                    result = await connector.check()
                    results.append((name, result.ok, result.detail))
                except SegsyncError as exc:
                    results.append((name, False, str(exc)))
                finally:
                    await connector.aclose()
            return results

        for name, ok, detail in asyncio.run(probe()):
            failed += not ok
            mark = "[green]ok[/]" if ok else "[red]FAILED[/]"
            out.print(f"{mark} {name} ({config.connectors[name].type_name}): {detail}")
        if test_alert:
            failed += _test_alerts(config)
    raise typer.Exit(2 if failed else 0)


def _check_spark(config: Config) -> int:
    """A Spark store (``[store] engine = "spark"``) can reach its Spark
    (:func:`~segsync.engine.spark_session.spark_problem`; a Spark started here is not: that
    takes seconds). 1 when not, else 0 (a DuckDB store has nothing to reach)."""
    options = config.spark_options
    if options is None:
        return 0
    from segsync.engine.spark_session import spark_place, spark_problem

    problem = spark_problem(options, java=True)
    if problem is None:
        done = (
            "the server accepts connections"
            if options.remote
            else "pyspark and Java are installed (Spark starts at the first run)"
        )
        out.print(f"[green]ok[/] store ({escape(spark_place(options))}): {done}")
        return 0
    out.print(f"[red]FAILED[/] store ({escape(spark_place(options))}): {escape(problem)}")
    return 1


def _test_alerts(config: Config) -> int:
    """Send a test alert to every target; how many could not be reached."""
    from segsync.alerts import send_test_alert

    alerts = config.settings.alerts
    if not alerts.targets:
        raise ConfigError(
            f"{config.path}: no alert targets: add [alerts.targets.NAME] tables (see "
            "config.example.toml)"
        )
    results = asyncio.run(send_test_alert(alerts))
    for name, problem in results.items():
        kind = alerts.targets[name].type
        if problem is None:
            out.print(f"[green]ok[/] alert target {name} ({kind}): test alert sent")
        else:
            out.print(f"[red]FAILED[/] alert target {name} ({kind}): {escape(problem)}")
    return sum(1 for p in results.values() if p is not None)


@app.command()
def init(
    path: Annotated[
        Path, typer.Argument(help="Where to write the config (a folder: FOLDER/segsync.toml)")
    ] = Path("segsync.toml"),
    sample_data: Annotated[
        bool, typer.Option("--sample-data", help="Also write a synthetic audience into data/")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing files")] = False,
) -> None:
    """Write a starter segsync.toml (and, with --sample-data, data to run it on)."""
    from segsync.sandbox.synth import DATA_FILES, generate

    with errors():
        if path.is_dir():
            path = path / "segsync.toml"
        data_dir = path.parent / "data"
        targets = [path, *((data_dir / f for f in DATA_FILES) if sample_data else ())]
        existing = [str(t) for t in targets if t.exists()]
        if existing and not force:
            verb = "already exists" if len(existing) == 1 else "already exist"
            raise ConfigError(
                f"{', '.join(existing)} {verb}; nothing was written. Pass --force to "
                "overwrite, or choose another folder"
            )
        text = resources.files("segsync").joinpath("templates/segsync.toml").read_text("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.print(f"wrote {path}")
        if sample_data:
            summary = generate(data_dir, seed=42)
            out.print(
                f"wrote {summary.contacts:,} contacts, {summary.newsletter:,} newsletter sign-ups "
                f"and {summary.orders:,} orders into {path.parent / 'data'}"
            )
        # plain `segsync` reads ./segsync.toml: a config written elsewhere is named
        use = "segsync" if path == Path("segsync.toml") else f"segsync -c {shlex.quote(str(path))}"
        out.print(
            escape(f"next: '{use} check', then '{use} plan', then '{use} run'"), soft_wrap=True
        )


@app.command()
def sandbox(
    seed: Annotated[int, typer.Option(help="Seed of the synthetic audience")] = 42,
    contacts: Annotated[int, typer.Option(help="How many contacts each platform holds")] = 1000,
    platform: Annotated[
        list[str] | None, typer.Option("--platform", "-p", help="Only this platform (repeatable)")
    ] = None,
    port: Annotated[
        int, typer.Option(help="First port to use (consecutive per platform); 0 picks free ports")
    ] = 0,
) -> None:
    """Serve every installed connector's simulator on 127.0.0.1, seeded with one synthetic
    audience; print one JSON line per platform (base URL, test credentials); serve until
    interrupted."""
    from segsync.sandbox.serve import serve_sandbox, wait_for_interrupt

    with errors():
        loaded = loaded_plugins()
        with serve_sandbox(
            loaded, seed=seed, contacts=contacts, only=platform, port_base=port, out=sys.stdout
        ):
            err.print("sandbox running on 127.0.0.1; press Ctrl-C to stop")
            wait_for_interrupt()
