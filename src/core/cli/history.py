"""Commands about the past and its sanctioned corrections: ``runs`` (``runs show``),
``changes``, ``state reset`` and ``state reset-cursor``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from segsync.config import Config
from segsync.errors import ConfigError, SegsyncError
from segsync.model.identity import mask_identifier
from segsync.pipeline import new_run_id
from segsync.report import RunReport
from segsync.report.text import print_report, table_from_rows
from segsync.state.history import History
from segsync.state.ledger import Change, Ledger
from segsync.state.lock import run_lock
from segsync.state.store import Store

from .app import (
    Format,
    FormatOpt,
    app,
    command_group,
    err,
    errors,
    load_config_,
    out,
    utc_text,
    write_json,
)

__all__ = ["open_store", "runs_app", "state_app"]

runs_app = command_group(
    "Past runs: when, how long, how they ended, what each changed.",
    invoke_without_command=True,
    no_args_is_help=False,
)
state_app = command_group(
    "Sanctioned backfills: make segsync send a sync again, or read a source again.",
    no_args_is_help=True,
)
app.add_typer(runs_app, name="runs")
app.add_typer(state_app, name="state")


@contextlib.contextmanager
def open_store(config: Config, command: str) -> Iterator[Store]:
    """The store, under the run lock as ``command`` (a run waits for a read-only command;
    a run in progress makes this exit 4, naming it)."""
    if config.no_store_yet:
        raise ConfigError(
            f"{config.store_path}: no store yet; run 'segsync run' first (the store path is "
            "[store] path in the config)"
        )
    with (
        run_lock(config.store_path, command=command, run_id=new_run_id()),
        Store.of(config) as store,
    ):
        yield store


def _changes_of(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What each sync of a run changed (a ``run``: applied) or would change (the others:
    planned); nothing once the report is purged."""
    if not report:
        return []
    planned = report.get("command") != "run"
    return [
        {
            "sync": sync.get("name"),
            "adds": sync.get("adds" if planned else "applied_adds", 0),
            "removes": sync.get("removes" if planned else "applied_removes", 0),
            "planned": planned,
            "failed": sync.get("failed", 0),
            "status": sync.get("status"),
        }
        for sync in report.get("syncs") or []
    ]


def _changes_text(changes: list[dict[str, Any]]) -> str:
    parts = []
    for change in changes:
        text = f"{change['sync']} +{change['adds']:,}/-{change['removes']:,}"
        if change["planned"]:
            text += " planned"
        if change["failed"]:
            text += f" ({change['failed']:,} failed)"
        if change["status"] in ("blocked", "skipped", "disabled", "error", "deferred"):
            text += f" [{change['status']}]"
        parts.append(text)
    return ", ".join(parts)


def _run_row(row: dict[str, Any]) -> dict[str, Any]:
    started, finished = row["started_at"], row["finished_at"]
    status = "killed" if row["status"] == "running" else row["status"]  # we hold the lock
    changes = _changes_of(row["report"])
    return {
        "run_id": row["run_id"],
        "command": row["command"],
        "started": started,
        "finished": finished,
        "duration_seconds": round((finished - started).total_seconds(), 1) if finished else None,
        "status": status,
        "phase": row["phase"] if status == "killed" else None,
        "exit_code": row["exit_code"],
        "changes": _changes_text(changes),
        "sync_changes": changes,
    }


@runs_app.callback()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list")] = 20,
    command: Annotated[
        str | None, typer.Option(help="Only runs of this command (run, plan, pull, segments)")
    ] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """List past runs, newest first: id, start, duration, status (a killed run with the phase
    it died in), exit code, and what each sync changed. 'segsync runs show RUN_ID' shows one."""
    if ctx.invoked_subcommand is not None:
        return
    with errors(fmt):
        config = load_config_()
        with open_store(config, "runs") as store:
            rows = [_run_row(r) for r in History(store.engine).runs(limit, command=command)]
    if fmt is Format.json:
        write_json(rows)
        return
    table = Table(title="Runs (newest first)", title_justify="left")
    for col in ("run", "command", "started", "took", "status", "exit", "changes (applied +/-)"):
        table.add_column(col, justify="right" if col in ("took", "exit") else "left")
    style = {"ok": "green", "blocked": "red", "error": "red", "killed": "red"}
    for r in rows:
        shown = r["status"] + (f" in {r['phase']}" if r["phase"] else "")
        took = "-" if r["duration_seconds"] is None else f"{r['duration_seconds']:.1f}s"
        table.add_row(
            r["run_id"],
            r["command"],
            utc_text(r["started"]),
            took,
            f"[{style.get(r['status'], 'yellow')}]{escape(shown)}[/]",
            "-" if r["exit_code"] is None else str(r["exit_code"]),
            escape(r["changes"]),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, or the start of one")],
    fmt: FormatOpt = Format.text,
) -> None:
    """One past run's stored report (--format json: the report as 'run --format json' printed
    it). A killed run says 'killed' and the phase it died in."""
    with errors(fmt):
        config = load_config_()
        with open_store(config, "runs") as store:
            try:
                row = History(store.engine).run(run_id)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if row is None:
            raise ConfigError(
                f"no run {run_id!r} in {config.store_path}; 'segsync runs' lists them"
            )
    killed = row["status"] in ("killed", "running")
    report = row["report"]
    if fmt is Format.json:
        if report is not None and not killed:
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
        else:
            doc = {
                "run_id": row["run_id"],
                "command": row["command"],
                "status": "killed" if killed else row["status"],
                "phase": row["phase"] if killed else None,
                "exit_code": row["exit_code"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
                "report": None,
            }
            write_json(doc)
        return
    if killed:
        out.print(
            f"[red]run {row['run_id']} (segsync {row['command']}) was killed[/] during its "
            f"[bold]{escape(str(row['phase'] or 'first'))}[/] phase; started "
            f"{utc_text(row['started_at'])}. The run after it took over; what its "
            "batches had recorded stayed recorded."
        )
        return
    if report is None:
        out.print(
            f"run {row['run_id']} (segsync {row['command']}): {row['status']} "
            f"(exit {row['exit_code']}); its report is no longer kept ([privacy] retention_days)"
        )
        return
    print_report(RunReport.model_validate(report), out)


def _change_dict(change: Change, reveal: bool) -> dict[str, Any]:
    what = "failed" if not change.ok else "added" if change.op == "add" else "removed"
    who = change.who if reveal else mask_identifier(change.who)
    return {
        "change": what,
        "op": change.op,
        "who": who,
        "member_key": change.member_key if reveal else mask_identifier(change.member_key),
        "reason": change.reason,
        "permanent": change.permanent if not change.ok else None,
        "logged_at": change.logged_at,
    }


@app.command()
def changes(
    sync: Annotated[str, typer.Argument(help="The sync, as named in [syncs.NAME]")],
    run: Annotated[
        str | None, typer.Option("--run", help="This run (default: the latest that changed it)")
    ] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show full identifiers instead of masked ones")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many")] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Who a sync added, removed, or failed to change in one run, and why (identifiers masked
    unless --reveal; kept [privacy] retention_days)."""
    with errors(fmt):
        config = load_config_()
        with open_store(config, "changes") as store:
            history, ledger = History(store.engine), Ledger(store.engine)
            run_id = None
            if run is not None:
                try:
                    found = history.run(run)
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
                if found is None:
                    raise ConfigError(f"no run {run!r}; 'segsync runs' lists them")
                run_id = found["run_id"]
            elif sync not in config.syncs and ledger.last_changed(sync) is None:
                known = ", ".join(config.syncs) or "(none)"
                raise ConfigError(f"unknown sync {sync!r}; defined: {known}")
            run_id = run_id or ledger.last_changed(sync)
            lines = ledger.changes(sync, run_id=run_id, limit=limit) if run_id else []
            counts = ledger.change_counts(run_id).get(sync, {}) if run_id else {}
    rows = [_change_dict(c, reveal) for c in lines]
    if fmt is Format.json:
        doc = {"sync": sync, "run_id": run_id, "counts": counts, "changes": rows}
        write_json(doc)
        return
    if run_id is None:
        out.print(
            f"no change of {sync} is recorded (none yet, or older than [privacy] retention_days)"
        )
        return
    if not counts:
        out.print(f"run {run_id} changed nothing in {sync}")
        return
    out.print(
        f"{sync}, run {run_id}: {counts.get('added', 0):,} added, "
        f"{counts.get('removed', 0):,} removed, {counts.get('failed', 0):,} failed"
        + ("" if reveal else " (identifiers masked; --reveal shows them)")
    )
    display = [
        {
            "change": r["change"] + (" (permanent)" if r["permanent"] else ""),
            "who": r["who"],
            "why": r["reason"] or "",
        }
        for r in rows
    ]
    out.print(table_from_rows("Changes", display))


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} — pass --yes to confirm (no terminal to ask on)")
    if not typer.confirm(question, default=False, err=True):
        err.print("nothing changed")
        raise typer.Exit(1)


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


@state_app.command("reset")
def state_reset(
    sync: Annotated[str, typer.Argument(help="The sync whose delivery state to forget")],
    yes: YesOpt = False,
) -> None:
    """Forget what SYNC delivered (its confirmed members, failures and audience id): the next
    run sends every wanted member again, as to a new audience. Nothing is removed at the
    destination. Use it after the audience was emptied or edited by hand."""
    with errors():
        config = load_config_()
        if config.no_store_yet:
            raise ConfigError(f"{config.store_path}: no store yet; nothing to reset")
        with open_store(config, "state") as store:
            ledger = Ledger(store.engine)
            known = ledger.summary()
            if sync not in known and sync not in config.syncs:
                raise ConfigError(
                    f"unknown sync {sync!r}; defined: {', '.join(config.syncs) or '(none)'}"
                )
            info = known.get(sync, {})
            members = int(info.get("members", 0))
            failed = int(info.get("failed_will_retry", 0)) + int(info.get("failed_permanently", 0))
            _confirm(
                f"forget the {members:,} confirmed member(s) and {failed:,} failure(s) of "
                f"sync {sync}? The next run sends every wanted member again",
                yes,
            )
            try:
                ledger.start_afresh(sync)
            except Exception as exc:
                raise SegsyncError(f"could not reset {sync}: {exc}") from None
    out.print(
        f"sync {sync}: forgot {members:,} confirmed member(s) and {failed:,} failure(s); the "
        "next 'segsync run' sends every wanted member again (the add guard is not checked "
        "for it, as for a new audience)"
    )


@state_app.command("reset-cursor")
def state_reset_cursor(
    source: Annotated[str, typer.Argument(help="The source connector instance")],
    stream: Annotated[
        str | None, typer.Option(help="Only this stream (contacts or events)")
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Forget where SOURCE resumes: its next pull reads everything from the start (as
    'pull --full' would, once). Stored records stay until that pull replaces them."""
    with errors():
        config = load_config_()
        if source not in config.connectors:
            raise ConfigError(
                f"unknown connector instance {source!r}; defined: "
                f"{', '.join(config.connectors) or '(none)'}"
            )
        if config.no_store_yet:
            raise ConfigError(f"{config.store_path}: no store yet; nothing to reset")
        what = f"{source} {stream}" if stream else source
        with open_store(config, "state") as store:
            _confirm(f"forget where {what} resumes? Its next pull reads from the start", yes)
            dropped = History(store.engine).reset_cursors(source, stream)
    out.print(
        f"{what}: {dropped} cursor(s) forgotten; the next pull reads it from the start"
        if dropped
        else f"{what} had no stored cursor; its next pull reads from the start anyway"
    )
