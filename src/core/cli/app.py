"""The command line's shared parts: the typer app, global options, consoles, and the one
place errors become messages and exit codes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from segsync._version import __version__
from segsync.config import Config, find_config_path
from segsync.errors import SegsyncError
from segsync.logs import setup_logging
from segsync.pipeline import load, plugins_dir_for
from segsync.plugins import Plugins, load_plugins
from segsync.redaction import redact
from segsync.report import EXIT_CODES, RunReport
from segsync.report.text import print_report

__all__ = [
    "FormatOpt",
    "FullOpt",
    "SyncOpt",
    "app",
    "emit",
    "err",
    "errors",
    "load_config_",
    "loaded_plugins",
    "options",
    "out",
]

log = logging.getLogger("segsync.cli")
# Pipes and files get wide tables rather than rich's 80-column default.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


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
    quiet: bool = False
    verbose: bool = False


options = Options()

# Help texts are rendered as Markdown, not Rich markup: Rich would read a config key such as
# "[privacy] retention_days" as a style tag and drop it, and would keep a docstring's line
# breaks in the command list.
_HELP_MARKUP: Literal["markdown"] = "markdown"


def command_group(help: str, **settings: Any) -> typer.Typer:
    """A group of subcommands (``segsync runs …``), its help rendered as the main app's."""
    return typer.Typer(help=help, rich_markup_mode=_HELP_MARKUP, **settings)


app = typer.Typer(
    name="segsync",
    help="Audience segment sync hub: pull contacts, compute segments, push audiences safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=_HELP_MARKUP,
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
    options.config = config
    options.plugins_dir = plugins_dir
    options.debug = debug
    options.log_format = log_format.value
    options.quiet = quiet
    options.verbose = verbose or debug
    setup_logging(log_format.value, verbose=verbose or debug, quiet=quiet)


@contextlib.contextmanager
def errors(fmt: Format | None = None) -> Iterator[None]:
    """Turn segsync errors into a message and an exit code; no traceback unless --debug.

    The message goes to stderr (one JSON log object with ``--log-format json``); with
    ``--format json`` stdout also gets a JSON document: ``status``, ``exit_code``, ``errors``.
    """
    try:
        yield
    except SegsyncError as exc:
        if options.debug:
            traceback.print_exc()
        fail(str(exc), exc.exit_code, fmt)
    except KeyboardInterrupt:
        err.print("interrupted; the store is consistent and the next run resumes")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if options.debug:
            traceback.print_exc()
        fail(
            f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback, and please "
            "report it)",
            5,
            fmt,
            label="internal error",
        )


def fail(message: str, code: int, fmt: Format | None, *, label: str = "error") -> NoReturn:
    message = redact(message)
    if options.log_format == "json":
        log.error("%s", message, extra={"exit_code": code})
    else:
        err.print(f"[red]{label}[/]: {escape(message)}")
    if fmt is Format.json:
        status = "internal_error" if code == 5 else "locked" if code == 4 else "error"
        payload = {"status": status, "exit_code": code, "errors": [message]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    raise typer.Exit(code) from None


def write_json(payload: Any) -> None:
    """``payload`` as indented JSON on stdout: times in ISO 8601 UTC with a ``Z``, as run
    reports write them (the store keeps naive UTC), anything else JSON lacks as its text."""
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_value) + "\n")


def utc_text(moment: dt.datetime) -> str:
    """A stored time (naive UTC) as tables show it: ``2026-11-28 09:52:06 UTC``."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return utc.isoformat().replace("+00:00", "Z")
    return str(value)


def loaded_plugins() -> Plugins:
    path = find_config_path(options.config)
    return load_plugins(options.plugins_dir or plugins_dir_for(path))


def load_config_() -> Config:
    return load(find_config_path(options.config), plugins_dir=options.plugins_dir)


def emit(report: RunReport, fmt: Format) -> None:
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
