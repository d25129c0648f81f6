"""The ``segsync`` command line (typer + rich).

Exit codes (see :data:`segsync.report.EXIT_CODES`): 0 success; 1 some records failed; 2
configuration or input error; 3 a guard stopped a sync; 4 another run holds the lock; 5 an
unexpected internal error. Results go to stdout; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from segsync._version import __version__
from segsync.config import Config, find_config_path
from segsync.errors import ConfigError, LockHeldError, SegsyncError
from segsync.lock import describe_holder, read_holder, run_lock
from segsync.logs import setup_logging
from segsync.plugins import Plugins, load_plugins
from segsync.redaction import redact
from segsync.render import print_report, table_from_rows
from segsync.report import EXIT_CODES, RunReport
from segsync.runner import execute, load, new_run_id, open_connectors, plugins_dir_for
from segsync.store import Store
from segsync.workspace import StorePaths, read_status

__all__ = ["app", "main"]

log = logging.getLogger("segsync.cli")
# Pipes and files get wide tables rather than rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    text = "text"
    json = "json"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@dataclass
class Options:
    config: Path | None = None
    plugins_dir: Path | None = None
    debug: bool = False
    log_format: str = "text"


_options = Options()

app = typer.Typer(
    name="segsync",
    help="Audience segment sync hub: pull contacts, compute segments, push audiences safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
)


def _version(value: bool) -> None:
    if value:
        out.print(f"segsync {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file [env SEGSYNC_CONFIG; default ./segsync.toml]"
        ),
    ] = None,
    plugins_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of loose *.py plugins "
            "[env SEGSYNC_PLUGINS_DIR; default: plugins/ beside the config]"
        ),
    ] = None,
    log_format: Annotated[LogFormat, typer.Option(help="Log format on stderr")] = LogFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version")
    ] = False,
) -> None:
    _options.config = config
    _options.plugins_dir = plugins_dir
    _options.debug = debug
    _options.log_format = log_format.value
    setup_logging(log_format.value, verbose=verbose or debug, quiet=quiet)


@contextlib.contextmanager
def _errors(fmt: Format = None) -> Iterator[None]:  # type: ignore[assignment]
    """Turn segsync errors into a message and an exit code; no traceback unless --debug.

    The message goes to stderr (one JSON log object with ``--log-format json``); with
    ``--format json`` stdout also gets a JSON document: ``status``, ``exit_code``, ``errors``.
    """
    try:
        yield
    except SegsyncError as exc:
        if _options.debug:
            traceback.print_exc()
        _fail(str(exc), exc.exit_code, fmt)
    except KeyboardInterrupt:
        err.print("interrupted; the store is consistent and the next run resumes")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if _options.debug:
            traceback.print_exc()
        _fail(
            f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback, and please "
            "report it)",
            5,
            fmt,
            label="internal error",
        )


def _fail(message: str, code: int, fmt: Format | None, *, label: str = "error") -> NoReturn:
    message = redact(message)
    if _options.log_format == "json":
        log.error("%s", message, extra={"exit_code": code})
    else:
        err.print(f"[red]{label}[/]: {escape(message)}")
    if fmt is Format.json:
        status = "internal_error" if code == 5 else "locked" if code == 4 else "error"
        payload = {"status": status, "exit_code": code, "errors": [message]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    raise typer.Exit(code) from None


def _plugins() -> Plugins:
    path = find_config_path(_options.config)
    return load_plugins(_options.plugins_dir or plugins_dir_for(path))


def _config() -> Config:
    return load(find_config_path(_options.config), plugins_dir=_options.plugins_dir)


def _emit(report: RunReport, fmt: Format) -> None:
    if fmt is Format.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        print_report(report, out)
    raise typer.Exit(report.exit_code)


SyncOpt = Annotated[
    list[str] | None, typer.Option("--sync", "-s", help="Only this sync (repeatable)")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format")]
FullOpt = Annotated[
    bool,
    typer.Option("--full", help="Read every source from the start, ignoring the stored cursors"),
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
    fmt: FormatOpt = Format.text,
) -> None:
    """Pull, compute segments, and push the changes to every destination."""
    with _errors(fmt):
        config = _config()
        report = asyncio.run(
            execute(config, command="run", force=force, pull=not no_pull, syncs=sync, full=full)
        )
    _emit(report, fmt)


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
    fmt: FormatOpt = Format.text,
) -> None:
    """Show the changes a run would make, and who would be added and removed. Touches neither
    destinations nor sync state."""
    with _errors(fmt):
        config = _config()
        report = asyncio.run(
            execute(
                config, command="plan", pull=not no_pull, syncs=sync, preview=limit, force=force
            )
        )
    _emit(report, fmt)


@app.command()
def pull(full: FullOpt = False, fmt: FormatOpt = Format.text) -> None:
    """Pull every source into the store and resolve profiles; push nothing."""
    with _errors(fmt):
        config = _config()
        report = asyncio.run(execute(config, command="pull", pull=True, syncs=[], full=full))
    _emit(report, fmt)


@app.command()
def segments(fmt: FormatOpt = Format.text) -> None:
    """Segments and groups over the stored profiles (no pull): size, share, changes since the
    last run, KPIs (conversion, average order value, revenue, mean value), too-small flags."""
    with _errors(fmt):
        config = _config()
        report = asyncio.run(execute(config, command="segments", pull=False, syncs=[]))
    if fmt is Format.json:
        payload = {
            "profiles": report.profiles.profiles,
            **report.model_dump(
                mode="json", include={"kpi_window", "kpi_window_start", "kpi_window_end"}
            ),
            "segments": [s.model_dump(mode="json") for s in report.segments],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        print_report(report.model_copy(update={"sources": []}), out)
    raise typer.Exit(report.exit_code)


@app.command()
def check() -> None:
    """Validate the config and check that each connector can reach its data."""
    with _errors():
        config = _config()
        config.require_work()
        out.print(
            f"[green]config ok[/]: {config.path} — {len(config.connectors)} connector(s), "
            f"{len(config.segments)} segment(s), {len(config.syncs)} sync(s)"
        )
        failed = 0
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
    raise typer.Exit(2 if failed else 0)


@app.command()
def plugins(fmt: FormatOpt = Format.text) -> None:
    """List loaded plugins: origin, version, connectors and their capabilities, trait kinds,
    hooks."""
    with _errors():
        loaded = _plugins()
    rows: list[dict[str, Any]] = []
    for info in loaded.info.values():
        connectors = [
            {
                "name": c,
                "capabilities": loaded.connectors[c].capabilities.describe(),
                "identifier": loaded.connectors[c].capabilities.identifier,
                "max_batch_size": loaded.connectors[c].capabilities.max_batch_size,
            }
            for c in info.connectors
        ]
        rows.append(
            {
                "plugin": info.name,
                "version": info.version,
                "origin": info.origin,
                "connectors": connectors,
                "simulators": info.simulators,
                "trait_kinds": info.trait_kinds,
                "hooks": info.hooks,
            }
        )
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    display = [
        {
            "plugin": r["plugin"],
            "version": r["version"],
            "provides": "; ".join(
                [f"{c['name']} ({', '.join(c['capabilities'])})" for c in r["connectors"]]
                + ([f"trait kinds: {', '.join(r['trait_kinds'])}"] if r["trait_kinds"] else [])
            )
            or "-",
            "hooks": ", ".join(r["hooks"]),
            "origin": r["origin"],
        }
        for r in rows
    ]
    out.print(table_from_rows("Plugins", display))


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="How many recent runs to show")] = 10,
    fmt: FormatOpt = Format.text,
) -> None:
    """Recent runs, what each sync's audience holds, and pending failures. During a run, what
    the run is doing (it never delays or fails a run)."""
    with _errors(fmt):
        config = _config()
        paths = StorePaths(config.store_path)
        payload: dict[str, Any] = {"store": str(config.store_path), "lock_holder": None}
        try:
            with run_lock(config.store_path, command="status", run_id=new_run_id()):
                payload.update(_status(config, limit))
        except LockHeldError:
            payload["lock_holder"] = read_holder(config.store_path)
            payload["live"] = read_status(paths)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    holder = payload["lock_holder"]
    if holder is not None:
        out.print(f"the store is busy: {escape(describe_holder(holder))}")
        live = payload.get("live") or {}
        if live.get("run_id") == holder.get("run_id") and live.get("state") == "running":
            progress = ", ".join(f"{k} {v}" for k, v in (live.get("progress") or {}).items())
            out.print(
                f"  phase: {live.get('phase')} since {live.get('phase_started_at')}"
                + (f" ({escape(progress)})" if progress else "")
            )
        last = live.get("last_finished")
        if last:
            out.print(
                f"  last finished: {last.get('command')} {last.get('run_id')}: "
                f"{last.get('status')} (exit {last.get('exit_code')})"
            )
        return
    out.print(table_from_rows("Recent runs", payload.get("runs", [])))
    out.print(table_from_rows("Syncs", payload.get("syncs", [])))


def _status(config: Config, limit: int) -> dict[str, Any]:
    if not config.store_path.exists():
        return {"runs": [], "syncs": []}
    with Store.open(config.store_path, options=config.store_options) as store:
        runs = store.dicts(
            "SELECT run_id, command, strftime(started_at, '%Y-%m-%d %H:%M:%S UTC') AS started, "
            "round(epoch(finished_at - started_at), 1) AS seconds, status, exit_code, phase "
            "FROM runs ORDER BY started_at DESC LIMIT ?",
            [limit],
        )
        state = dict(store.rows("SELECT sync, count(*) FROM sync_state GROUP BY sync"))
        pending = {
            (s, p): n
            for s, p, n in store.rows(
                "SELECT sync, permanent, count(*) FROM failures GROUP BY sync, permanent"
            )
        }
        audiences = {
            r[0]: r[1:] for r in store.rows("SELECT sync, name, audience_id FROM audiences")
        }
    for row in runs:
        if row["status"] == "running":  # this process holds the lock: its holder is gone
            row["status"] = "killed"
        if row["status"] != "killed":  # a killed run's phase says where it died
            row.pop("phase", None)
    syncs = []
    for name in sorted(set(config.syncs) | set(state)):
        syncs.append(
            {
                "sync": name,
                "configured": name in config.syncs,
                "audience": audiences.get(name, (None,))[0],
                "members": state.get(name, 0),
                "failed_will_retry": pending.get((name, False), 0),
                "failed_permanently": pending.get((name, True), 0),
            }
        )
    return {"runs": runs, "syncs": syncs}


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config")] = Path("segsync.toml"),
    sample_data: Annotated[
        bool, typer.Option("--sample-data", help="Also write a synthetic audience into data/")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing files")] = False,
) -> None:
    """Write a starter segsync.toml (and, with --sample-data, data to run it on)."""
    from segsync.synth import DATA_FILES, generate

    with _errors():
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
        out.print("next: 'segsync check', then 'segsync plan', then 'segsync run'")


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
    from segsync.sandbox import serve_sandbox, wait_for_interrupt

    with _errors():
        loaded = _plugins()
        with serve_sandbox(
            loaded, seed=seed, contacts=contacts, only=platform, port_base=port, out=sys.stdout
        ):
            err.print("sandbox running on 127.0.0.1; press Ctrl-C to stop")
            wait_for_interrupt()


def _preload_plugins() -> None:
    """Load plugins before parsing the command line so they can add commands."""
    argv = sys.argv[1:]
    config = plugins_dir = None
    for i, arg in enumerate(argv):
        for flag, setter in (
            ("--config", "config"),
            ("-c", "config"),
            ("--plugins-dir", "plugins_dir"),
        ):
            if arg == flag and i + 1 < len(argv):
                if setter == "config":
                    config = Path(argv[i + 1])
                else:
                    plugins_dir = Path(argv[i + 1])
            elif arg.startswith(flag + "="):
                value = Path(arg.split("=", 1)[1])
                if setter == "config":
                    config = value
                else:
                    plugins_dir = value
    path = find_config_path(config)
    loaded = load_plugins(plugins_dir or plugins_dir_for(path))
    builtin = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    before = len(app.registered_commands)
    loaded.call_register("register_commands", lambda name: {"app": app})
    for command in app.registered_commands[before:]:
        name = command.name or (command.callback.__name__ if command.callback else "")
        if name.replace("_", "-") in builtin or name in builtin:
            raise SegsyncError(f"a plugin tried to replace the built-in command {name!r}")


def main() -> None:
    """Console-script entry point.

    A plugin that fails to load does not stop ``--help``, ``--version`` or ``init``: only the
    commands that need plugins report it (and exit 2)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        _preload_plugins()
    except SegsyncError as exc:
        builtin = {
            c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
        }
        words = [a for a in sys.argv[1:] if not a.startswith("-")]
        needs_plugins = bool(words) and words[0] in builtin - {"init"}
        if not needs_plugins:  # the command itself reports the error otherwise
            err.print(f"[yellow]warning[/]: plugins not loaded: {escape(redact(str(exc)))}")
    app()
