"""Commands that look without changing anything: ``status``, ``plugins``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from segsync.config import Config
from segsync.errors import ConfigError, LockHeldError
from segsync.pipeline import new_run_id
from segsync.report.text import table_from_rows
from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.state.lock import describe_holder, read_holder, run_lock
from segsync.state.store import Store
from segsync.state.workspace import StorePaths, read_status
from segsync.traits.base import parse_duration

from .app import (
    Format,
    FormatOpt,
    app,
    errors,
    load_config_,
    loaded_plugins,
    out,
    utc_text,
    write_json,
)


@app.command()
def plugins(fmt: FormatOpt = Format.text) -> None:
    """List loaded plugins: origin, version, connectors and their capabilities, simulators,
    trait kinds, hooks."""
    with errors():
        loaded = loaded_plugins()
        loaded.simulators  # noqa: B018 — registered on first use; listed per plugin below
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
                + ([f"simulators: {', '.join(r['simulators'])}"] if r["simulators"] else [])
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
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Exit 1 unless a run succeeded within this long (26h, 2d): for monitors",
        ),
    ] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Recent runs, what each sync's audience holds, and pending failures. During a run, what
    the run is doing (it never delays or fails a run). With --max-age, exit 1 when no run
    succeeded within that window."""
    with errors(fmt):
        try:
            window = parse_duration(max_age) if max_age is not None else None
        except ValueError:
            raise ConfigError(
                f"--max-age: expected a duration such as 26h, 2d or 1w, found {max_age!r}"
            ) from None
        config = load_config_()
        paths = StorePaths(config.store_path)
        payload: dict[str, Any] = {"store": str(config.store_path), "lock_holder": None}
        try:
            with run_lock(config.store_path, command="status", run_id=new_run_id()):
                payload.update(_status(config, limit))
        except LockHeldError:
            payload["lock_holder"] = read_holder(config.store_path)
            payload["live"] = read_status(paths)
            payload["last_success"] = (payload["live"] or {}).get("last_success")
        fresh = _freshness(payload, window, max_age) if window is not None else None
    if fmt is Format.json:
        write_json(payload)
        raise typer.Exit(0 if fresh in (None, True) else 1)
    if fresh is not None:
        _print_freshness(payload["freshness"])
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
        raise typer.Exit(0 if fresh in (None, True) else 1)
    runs = [{**run, "started": utc_text(run["started"])} for run in payload.get("runs", [])]
    out.print(table_from_rows("Recent runs", runs))
    out.print(table_from_rows("Syncs", payload.get("syncs", [])))
    raise typer.Exit(0 if fresh in (None, True) else 1)


def _when(value: Any) -> dt.datetime | None:
    """A stored time (naive UTC) or an ISO text, as an aware UTC datetime."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _freshness(payload: dict[str, Any], window: dt.timedelta, text: str | None) -> bool:
    """Whether a ``run`` succeeded within ``window``; recorded in ``payload["freshness"]``."""
    last = payload.get("last_success")
    finished = _when((last or {}).get("finished_at"))
    now = dt.datetime.now(dt.UTC)
    fresh = finished is not None and now - finished <= window
    payload["freshness"] = {
        "max_age": text,
        "fresh": fresh,
        "last_success": last,
        "age_seconds": None if finished is None else round((now - finished).total_seconds()),
    }
    return fresh


def _print_freshness(info: dict[str, Any]) -> None:
    last, age = info["last_success"], info["age_seconds"]
    if last is None:
        out.print(f"[red]stale[/]: no successful run recorded (--max-age {info['max_age']})")
        return
    ago = f"{age / 3600:.1f} h ago"
    if info["fresh"]:
        out.print(f"[green]fresh[/]: last successful run {last.get('run_id')} finished {ago}")
    else:
        out.print(
            f"[red]stale[/]: the last successful run ({last.get('run_id')}) finished {ago}, "
            f"more than --max-age {info['max_age']}"
        )


def _status(config: Config, limit: int) -> dict[str, Any]:
    if config.no_store_yet:
        return {"runs": [], "syncs": [], "last_success": None}
    with Store.of(config) as store:
        history = History(store.engine)
        runs = history.recent_runs(limit)
        last_success = history.last("run", status="ok")
        ledger = Ledger(store.engine).summary()
        platform = _platform_figures(history, history.recent_runs(max(limit, 20)))
    for row in runs:
        if row["status"] == "running":  # this process holds the lock: its holder is gone
            row["status"] = "killed"
        if row["status"] != "killed":  # a killed run's phase says where it died
            row.pop("phase", None)
    syncs = []
    for name in sorted(set(config.syncs) | set(ledger)):
        known = ledger.get(name, {})
        line: dict[str, Any] = {
            "sync": name,
            "configured": name in config.syncs,
            "audience": known.get("audience"),
            "members": known.get("members", 0),
            "failed_will_retry": known.get("failed_will_retry", 0),
            "failed_permanently": known.get("failed_permanently", 0),
        }
        if platform:  # the same columns on every row: the table takes them from the first
            line.update(platform.get(name, dict.fromkeys(_PLATFORM_FIGURES)))
        syncs.append(line)
    return {"runs": runs, "syncs": syncs, "last_success": last_success}


_PLATFORM_FIGURES = ("platform_size", "match_rate", "warning", "as_of_run")


def _platform_figures(history: History, runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per sync, what its destination last reported of the audience (size, match rate,
    whether it is too small to be served), from the most recent run reports that have it."""
    found: dict[str, dict[str, Any]] = {}
    for row in runs:
        if row.get("command") != "run":
            continue
        report = (history.run(row["run_id"]) or {}).get("report") or {}
        for sync in report.get("syncs") or []:
            name = sync.get("name")
            if name in found or (
                sync.get("audience_size") is None and sync.get("match_rate") is None
            ):
                continue
            rate = sync.get("match_rate")
            found[name] = {
                "platform_size": sync.get("audience_size"),
                "match_rate": None if rate is None else f"{rate:.0%}",
                "warning": sync.get("audience_warning"),
                "as_of_run": row["run_id"],
            }
    return found
