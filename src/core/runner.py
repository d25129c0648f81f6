"""One run, end to end: pull → load → resolve → traits → segments → plan → push → record →
report.

:func:`execute` is what ``segsync run`` and ``segsync plan`` call; :func:`run` is the
synchronous entry point for orchestrators (``segsync.run(...)``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import duckdb

from segsync._version import __version__
from segsync.config import Config, find_config_path, load_config
from segsync.connector import Connector, ConnectorContext
from segsync.errors import ConfigError, StoreError
from segsync.lock import run_lock
from segsync.plan import plan_sync, prepare_plan
from segsync.plugins import Plugins, load_plugins
from segsync.pull import clear_staging, pull_source
from segsync.push import audience_target_changed, push_sync, start_afresh
from segsync.report import ProfileSummary, RunReport, SegmentSummary
from segsync.resolve import resolve_profiles
from segsync.segments import compute_segments, persist_segments
from segsync.store import Store, utcnow
from segsync.traits import compute_traits
from segsync.values import to_utc

__all__ = ["execute", "load", "new_run_id", "open_connectors", "run"]

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
    work_root = config.store_path.parent / ".segsync-work"
    out: dict[str, Connector] = {}
    for name in names:
        instance = config.connectors[name]
        context = ConnectorContext(
            instance=name, base_dir=config.base_dir.resolve(), work_dir=work_root / name
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
) -> RunReport:
    """Run (or plan) under the store's lock and return the report.

    Raises :class:`segsync.errors.LockHeldError` when another run holds the lock and
    :class:`segsync.errors.ConfigError` for unknown sync names; every other problem is in the
    report (``report.exit_code``).
    """
    selected = list(config.syncs) if syncs is None else list(syncs)
    unknown = [s for s in selected if s not in config.syncs]
    if unknown:
        raise ConfigError(
            f"unknown sync(s): {', '.join(unknown)}; defined: {', '.join(config.syncs) or '(none)'}"
        )
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
    try:
        with (
            run_lock(config.store_path, command=command, run_id=run_id),
            Store.open(config.store_path, options=config.store_options) as store,
        ):
            _record_start(store, report)
            try:
                await _execute(store, config, report, command, force, pull, selected, full)
            except Exception as exc:
                report.errors.append(f"{type(exc).__name__}: {exc}")
                report.finish()
                report.status, report.exit_code = "error", 5
                _record_end(store, report)
                raise
            report.finish()
            _record_end(store, report)
    except duckdb.OutOfMemoryException as exc:
        raise _out_of_memory(config, exc) from None
    _notify(config.plugins, report)
    return report


def _out_of_memory(config: Config, exc: Exception) -> StoreError:
    limit = config.settings.store.memory_limit
    return StoreError(
        f"{config.store_path}: DuckDB ran out of memory within [store] memory_limit = "
        f"{limit!r}; raise it, or lower [store] threads (DuckDB says: "
        f"{str(exc).splitlines()[0]})"
    )


async def _execute(
    store: Store,
    config: Config,
    report: RunReport,
    command: Command,
    force: bool,
    pull: bool,
    selected: list[str],
    full: bool = False,
) -> None:
    destinations = {config.syncs[s].destination for s in selected}
    candidates = [n for n, c in config.connectors.items() if c.cls.capabilities.is_source]
    connectors = open_connectors(config, sorted({*candidates, *destinations}))
    sources = [n for n in candidates if connectors[n].source_streams()]
    try:
        if pull:
            staging = config.store_path.parent / ".segsync-staging"
            clear_staging(staging)
            results = await asyncio.gather(
                *(
                    pull_source(
                        store,
                        config,
                        connectors[n],
                        run_id=report.run_id,
                        staging_dir=staging,
                        full=full,
                    )
                    for n in sources
                )
            )
            report.sources = [r for per_source in results for r in per_source]
            clear_staging(staging)
        resolved = resolve_profiles(store, config)
        report.profiles = ProfileSummary(**vars(resolved))
        compute_traits(store, config, as_of=report.started_at)
        as_of = to_utc(report.started_at)
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
            report.syncs.append(
                plan_sync(store, config, name, force=force, fresh=previous is not None)
            )
        if command != "run":
            return
        if any(s.error for s in report.sources):
            report.errors.append("a source failed to pull; nothing was pushed")
            return
        persist_segments(store, segments, report.run_id, kpi_window=report.kpi_window)
        for sync_report in report.syncs:
            if sync_report.status != "planned":
                continue
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


def _record_start(store: Store, report: RunReport) -> None:
    store.con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, pid, host, version) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
        [
            report.run_id,
            report.command,
            utcnow(),
            os.getpid(),
            socket.gethostname(),
            report.version,
        ],
    )


def _record_end(store: Store, report: RunReport) -> None:
    store.con.execute(
        "UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, report = ? WHERE run_id = ?",
        [utcnow(), report.status, report.exit_code, report.model_dump_json(), report.run_id],
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
