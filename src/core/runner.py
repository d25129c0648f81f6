"""One run, end to end: pull → load → resolve → traits → segments → plan → push → record →
report.

:func:`execute` is what ``segsync run`` and ``segsync plan`` call; :func:`run` is the
synchronous entry point for orchestrators (``segsync.run(...)``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

from segsync._version import __version__
from segsync.config import Config, find_config_path, load_config
from segsync.connector import Connector, ConnectorContext
from segsync.errors import ConfigError, SegsyncError, StoreError
from segsync.lock import run_lock
from segsync.plan import plan_sync, prepare_plan, sources_feeding
from segsync.plugins import Plugins, load_plugins
from segsync.pull import load_sources, stage_source
from segsync.push import audience_target_changed, push_sync, start_afresh
from segsync.report import ProfileSummary, RunReport, SegmentSummary, SourceSummary
from segsync.resolve import resolve_profiles
from segsync.segments import compute_segments, persist_segments
from segsync.store import Store, utcnow
from segsync.traits import compute_traits
from segsync.values import to_utc
from segsync.workspace import RunStatus, StorePaths

__all__ = ["environment_error", "execute", "load", "new_run_id", "open_connectors", "run"]

log = logging.getLogger("segsync.run")
Command = Literal["run", "plan", "pull", "segments"]


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def load(config: Path | str | None = None, *, plugins_dir: Path | None = None) -> Config:
    """Load plugins and the configuration at ``config`` (default: ``segsync.toml``)."""
    path = find_config_path(Path(config) if config is not None else None)
    plugins = load_plugins(plugins_dir or plugins_dir_for(path))
    return load_config(path, plugins)


def plugins_dir_for(config_path: Path) -> Path | None:
    """``--plugins-dir`` wins (passed by the caller); else ``SEGSYNC_PLUGINS_DIR``; else the
    ``plugins`` folder beside the config file."""
    env = os.environ.get("SEGSYNC_PLUGINS_DIR")
    if env:
        return Path(env)
    return config_path.parent / "plugins"


def open_connectors(config: Config, names: Sequence[str]) -> dict[str, Connector]:
    paths = StorePaths(config.store_path)
    out: dict[str, Connector] = {}
    for name in names:
        instance = config.connectors[name]
        context = ConnectorContext(
            instance=name,
            base_dir=config.base_dir.resolve(),
            work_dir=paths.connector_dir(name),
        )
        out[name] = instance.cls(instance.settings, context)
    return out


async def execute(
    config: Config,
    *,
    command: Command = "run",
    force: bool = False,
    pull: bool = True,
    syncs: Sequence[str] | None = None,
    full: bool = False,
    preview: int = 0,
) -> RunReport:
    """Run (or plan) under the store's lock and return the report.

    Raises :class:`segsync.errors.LockHeldError` when another run holds the lock,
    :class:`segsync.errors.ConfigError` for unknown sync names and for conditions that fail on
    the stored data, and :class:`segsync.errors.StoreError` when the store or its folder cannot
    be written; every other problem is in the report (``report.exit_code``). ``preview`` lists
    up to that many of each sync's planned adds and removes in the report.
    """
    selected = list(config.syncs) if syncs is None else list(syncs)
    unknown = [s for s in selected if s not in config.syncs]
    if unknown:
        raise ConfigError(
            f"unknown sync(s): {', '.join(unknown)}; defined: {', '.join(config.syncs) or '(none)'}"
        )
    config.require_work()
    run_id = new_run_id()
    report = RunReport(
        run_id=run_id,
        command=command,
        config=str(config.path),
        store=str(config.store_path),
        version=__version__,
        started_at=dt.datetime.now(dt.UTC),
        forced=force,
    )
    paths = StorePaths(config.store_path)
    wait = config.settings.store.lock_wait_seconds
    try:
        with (
            run_lock(config.store_path, command=command, run_id=run_id, wait=wait),
            Store.open(config.store_path, options=config.store_options) as store,
        ):
            status = RunStatus(paths, run_id=run_id, command=command)
            _mark_killed(store, paths)
            _record_start(store, report)
            try:
                await _execute(
                    store, config, report, status, command, force, pull, selected, full, preview
                )
            except BaseException as exc:
                failure = environment_error(config, exc)
                report.errors.append(str(failure or f"{type(exc).__name__}: {exc}"))
                report.finish()
                report.status = "error"
                report.exit_code = failure.exit_code if failure else 5
                _record_end(store, report, status)
                if failure is not None and failure is not exc:
                    raise failure from None
                raise
            report.finish()
            _record_end(store, report, status)
    except (duckdb.Error, OSError) as exc:
        failure = environment_error(config, exc)
        if failure is None:
            raise
        raise failure from None
    _notify(config.plugins, report)
    return report


def environment_error(config: Config, exc: BaseException) -> SegsyncError | None:
    """The user's or the machine's problem behind ``exc``, said in their terms (what, where,
    what to do), or None for a real bug."""
    if isinstance(exc, SegsyncError):
        return exc
    store = config.store_path
    if isinstance(exc, duckdb.OutOfMemoryException):
        limit = config.settings.store.memory_limit
        return StoreError(
            f"{store}: DuckDB ran out of memory within [store] memory_limit = {limit!r}; "
            f"raise it, or lower [store] threads (DuckDB says: {_first_line(exc)})"
        )
    if isinstance(exc, duckdb.IOException) or (
        isinstance(exc, duckdb.Error) and "No space left" in str(exc)
    ):
        return StoreError(
            f"{store}: cannot write the store ({_first_line(exc)}); free disk space or fix the "
            "folder's permissions, then run again — what was committed before is intact"
        )
    if isinstance(exc, OSError) and exc.errno in _ENV_ERRNOS:
        where = exc.filename or store.parent
        advice = {
            errno.ENOSPC: "free disk space",
            errno.EDQUOT: "free disk space (quota)",
            errno.EACCES: "fix the folder's permissions or point [store] path elsewhere",
            errno.EPERM: "fix the folder's permissions or point [store] path elsewhere",
            errno.EROFS: "the file system is read-only: point [store] path at a writable folder",
            errno.EEXIST: "a file stands where a folder is needed: point [store] path elsewhere",
            errno.ENOTDIR: "a file stands where a folder is needed: point [store] path elsewhere",
        }.get(exc.errno or 0, "check the folder")
        return StoreError(f"{where}: {exc.strerror}; {advice}, then run again")
    return None


_ENV_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EEXIST,
        errno.ENOTDIR,
    }
)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _execute(
    store: Store,
    config: Config,
    report: RunReport,
    status: RunStatus,
    command: Command,
    force: bool,
    pull: bool,
    selected: list[str],
    full: bool,
    preview: int,
) -> None:
    destinations = {config.syncs[s].destination for s in selected}
    candidates = [n for n, c in config.connectors.items() if c.cls.capabilities.is_source]
    connectors = open_connectors(config, sorted({*candidates, *destinations}))
    sources = [n for n in candidates if connectors[n].source_streams()]
    stopped: dict[str, str] = {}  # source instance -> why it brought nothing this run
    phase = _Phases(store, report, status)
    try:
        if pull:
            phase("pull", sources=len(sources))
            paths = StorePaths(config.store_path)
            paths.clear_staging()
            pulled_at = utcnow()
            staged = await asyncio.gather(
                *(
                    stage_source(
                        config,
                        connectors[n],
                        paths=paths,
                        cursors={s: store.get_cursor(n, s) for s in connectors[n].source_streams()},
                        pulled_at=pulled_at,
                        full=full,
                    )
                    for n in sources
                )
            )
            phase("load")
            load_sources(store, staged, run_id=report.run_id, force=force, pulled_at=pulled_at)
            paths.clear_staging()
            report.sources = [summary for source in staged for summary in source.summaries]
            for source in staged:
                why = _stopped(source.summaries)
                if why:
                    stopped[source.instance] = why
        phase("resolve")
        resolved = resolve_profiles(store, config)
        report.profiles = ProfileSummary(**vars(resolved))
        phase("traits", traits=len(config.traits))
        compute_traits(store, config, as_of=report.started_at)
        as_of = to_utc(report.started_at)
        phase("segments", segments=len(config.segments))
        segments = compute_segments(store, config, as_of=as_of)
        report.segments = [SegmentSummary(**vars(s)) for s in segments.values()]
        report.kpi_window = config.settings.kpis.window
        start, end = config.settings.kpis.bounds(as_of)
        report.kpi_window_start = start.replace(tzinfo=dt.UTC)
        report.kpi_window_end = end.replace(tzinfo=dt.UTC)
        for s in segments.values():
            if s.too_small:
                log.warning(
                    "segment %s has %d members, below min_size %d", s.name, s.size, s.min_size
                )
        phase("plan", syncs=len(selected))
        prepare_plan(store)
        for name in selected:
            sync = config.syncs[name]
            target = (sync.destination, config.sync_kind(sync), sync.audience or name)
            previous = audience_target_changed(store, name, target) if sync.enabled else None
            if previous is not None:
                log.warning(
                    "%s: the audience changed (was %s); the new audience starts empty and the "
                    "old one is left as it is",
                    name,
                    previous,
                )
                if command == "run":
                    start_afresh(store, name)
            planned = plan_sync(
                store, config, name, force=force, fresh=previous is not None, preview=preview
            )
            if stopped and planned.status in ("planned", "blocked"):
                feeding = sources_feeding(store, config, name, stopped)
                if feeding:
                    planned.skipped_reason = "; ".join(f"source {n} {stopped[n]}" for n in feeding)
                    planned.status = "skipped"
                    log.warning("%s: not pushed this run: %s", name, planned.skipped_reason)
            report.syncs.append(planned)
        if command != "run":
            return
        persist_segments(store, segments, report.run_id, kpi_window=report.kpi_window)
        pushing = [s for s in report.syncs if s.status == "planned"]
        for done, sync_report in enumerate(pushing):
            phase("push", sync=sync_report.name, syncs_done=done, syncs=len(pushing))
            await push_sync(
                store, config, connectors[sync_report.destination], sync_report, report.run_id
            )
    finally:
        for name, connector in connectors.items():
            stats = connector.http_stats()
            if stats:
                report.http[name] = dict(stats)
            try:
                await connector.aclose()
            except Exception:
                log.exception("closing connector %s failed", connector.context.instance)


def _stopped(summaries: list[SourceSummary]) -> str | None:
    """Why a source brought nothing this run ("failed", "refused by a guard"), if it did."""
    if any(s.refused for s in summaries):
        return "refused by a guard"
    if any(s.error and s.transient for s in summaries):
        return "failed (will retry)"
    if any(s.error for s in summaries):
        return "failed"
    return None


class _Phases:
    """Marks the phase a run is in: in the store (``runs.phase``, what a killed run is shown
    to have died in) and in the published status file."""

    def __init__(self, store: Store, report: RunReport, status: RunStatus) -> None:
        self.store = store
        self.report = report
        self.status = status

    def __call__(self, name: str, **progress: Any) -> None:
        self.store.con.execute(
            "UPDATE runs SET phase = ? WHERE run_id = ?", [name, self.report.run_id]
        )
        self.status.phase(name, **progress)
        log.debug("phase %s %s", name, progress or "")


def _mark_killed(store: Store, paths: StorePaths) -> None:
    """Runs still marked ``running`` were killed: this process holds the lock they held."""
    rows = store.rows("SELECT run_id, command, phase FROM runs WHERE status = 'running'")
    if not rows:
        return
    store.con.execute(
        "UPDATE runs SET status = 'killed', finished_at = coalesce(finished_at, ?) "
        "WHERE status = 'running'",
        [utcnow()],
    )
    for run_id, command, phase in rows:
        log.warning(
            "run %s (segsync %s) was killed during its %s phase; this run takes over",
            run_id,
            command,
            phase or "first",
        )


def _record_start(store: Store, report: RunReport) -> None:
    store.con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, pid, host, version, phase) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?, 'starting')",
        [
            report.run_id,
            report.command,
            utcnow(),
            os.getpid(),
            socket.gethostname(),
            report.version,
        ],
    )


def stored_report(report: RunReport) -> str:
    """The report as the store keeps it: without the plan's preview of who would change."""
    return report.model_dump_json(exclude={"syncs": {"__all__": {"preview"}}})


def _record_end(store: Store, report: RunReport, status: RunStatus) -> None:
    try:
        store.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, report = ?, "
            "phase = 'finished' WHERE run_id = ?",
            [utcnow(), report.status, report.exit_code, stored_report(report), report.run_id],
        )
    except duckdb.Error as exc:  # the store itself is what failed: say so, keep the first error
        log.error("could not record the end of run %s: %s", report.run_id, _first_line(exc))
    status.finish(
        {
            "run_id": report.run_id,
            "command": report.command,
            "finished_at": str(report.finished_at),
            "status": report.status,
            "exit_code": report.exit_code,
            "syncs": {
                s.name: {"status": s.status, "adds": s.applied_adds, "removes": s.applied_removes}
                for s in report.syncs
            },
        }
    )


def _notify(plugins: Plugins, report: RunReport) -> None:
    for impl in plugins.pm.hook.run_finished.get_hookimpls():
        try:
            impl.function(**({"report": report} if "report" in impl.argnames else {}))
        except Exception:
            log.exception("plugin %s failed in run_finished", impl.plugin_name)


def run(
    config: Path | str | Config | None = None,
    *,
    force: bool = False,
    syncs: Sequence[str] | None = None,
    plan_only: bool = False,
) -> RunReport:
    """Run segsync once, as ``segsync run`` does, and return the report.

    ``config`` is a path (default ``segsync.toml``) or a loaded :class:`Config`. Raises
    :class:`segsync.errors.SegsyncError` subclasses for configuration errors and a held lock;
    everything else is in the report.
    """
    loaded = config if isinstance(config, Config) else load(config)
    return asyncio.run(
        execute(loaded, command="plan" if plan_only else "run", force=force, syncs=syncs)
    )
