"""One run, end to end: pull → load → resolve → traits → segments → plan → push → record →
report.

One module per stage, in flow order: :mod:`.pull` (stage and load, with the source guards),
:mod:`.resolve`, :mod:`.traits`, :mod:`.segments` (a :class:`~.segments.Membership`),
:mod:`.kpis`, :mod:`.plan` (a :class:`~.plan.SyncPlan` per sync), :mod:`.push` (a
:class:`~segsync.report.SyncReport`). This module runs them in order under the store's lock,
handing each stage the values the previous ones returned and its slice of the configuration.

:func:`execute` is what ``segsync run`` and ``segsync plan`` call; :func:`run` is the
synchronous entry point for orchestrators (``segsync.run(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from segsync._version import __version__
from segsync.config import Config, find_config_path, load_config
from segsync.connector import AudienceSpec, BulkSource, Connector, ConnectorContext, Source
from segsync.engine import OutOfMemory, StorageError
from segsync.errors import ConfigError, PluginError, SegsyncError, StoreError
from segsync.pipeline.kpis import compute_kpis
from segsync.pipeline.plan import (
    Destination,
    Planner,
    SyncPlan,
    sources_feeding,
    sources_loaded,
)
from segsync.pipeline.pull import StagedSource, load_sources, stage_source
from segsync.pipeline.push import AudienceRecreated, PushTarget, push_sync
from segsync.pipeline.resolve import mixed_currencies, resolve_profiles
from segsync.pipeline.segments import Membership, compute_segments
from segsync.pipeline.traits import compute_traits
from segsync.plugins import Plugins, load_plugins
from segsync.progress import Fanout, Progress, StatusFileProgress
from segsync.report import (
    PrivacySummary,
    ProfileSummary,
    RunReport,
    SegmentSummary,
    SourceSummary,
    SyncReport,
)
from segsync.state.history import History
from segsync.state.ledger import Ledger
from segsync.state.lock import run_lock
from segsync.state.retention import apply_retention
from segsync.state.store import Store
from segsync.state.workspace import RunStatus, StorePaths, os_error
from segsync.values import to_utc, utcnow

__all__ = [
    "bulk_memory_limit",
    "environment_error",
    "execute",
    "load",
    "new_run_id",
    "open_connectors",
    "run",
    "run_as_of",
]

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
    """One connector per instance name, each checked to play the roles it declares."""
    paths = StorePaths(config.store_path)
    out: dict[str, Connector] = {}
    for name in names:
        instance = config.connectors[name]
        context = ConnectorContext(
            instance=name,
            base_dir=config.base_dir.resolve(),
            work_dir=paths.connector_dir(name),
        )
        try:
            connector = instance.cls(instance.settings, context)
        except SegsyncError:
            raise
        except Exception as exc:  # a bug of the plugin's, named as one
            raise PluginError(
                f"connectors.{name}: connector {instance.type_name!r} failed to start: "
                f"{type(exc).__name__}: {exc} (a bug in the plugin providing it)"
            ) from exc
        caps = instance.cls.capabilities
        for role, declared in (("source", caps.is_source), ("destination", caps.is_destination)):
            if declared and getattr(connector, role, None) is None:
                raise PluginError(
                    f"connector {instance.type_name!r} declares the {role} role in its "
                    f"capabilities but set no {role} (see segsync.connector.Connector)"
                )
        out[name] = connector
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
    progress: Progress | None = None,
    as_of: dt.datetime | None = None,
) -> RunReport:
    """Run (or plan) under the store's lock and return the report.

    Raises :class:`segsync.errors.LockHeldError` when another run holds the lock,
    :class:`segsync.errors.ConfigError` for unknown sync names and for conditions that fail on
    the stored data, and :class:`segsync.errors.StoreError` when the store or its folder cannot
    be written; every other problem is in the report (``report.exit_code``). ``preview`` lists
    up to that many of each sync's planned adds and removes in the report. ``as_of`` (``--as-of``;
    naive UTC or aware) pins the run's as-of, over ``[segments] as_of`` and the run's start.
    ``progress`` hears of each stage and of the records pulled and batches pushed (besides
    ``status.json``, which is always kept up to date).

    After a ``run``, the ``[alerts]`` targets hear of a failure, a guard, deferred work or a
    recovery (best effort: an alert that cannot be sent is logged, never fails the run).
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
    report.as_of, report.as_of_source = run_as_of(config, as_of, report.started_at)
    paths = StorePaths(config.store_path)
    wait = config.settings.store.lock_wait_seconds
    previous: dict[str, Any] | None = None
    try:
        with (
            run_lock(config.store_path, command=command, run_id=run_id, wait=wait),
            Store.of(config) as store,
        ):
            status = RunStatus(paths, run_id=run_id, command=command)
            observers = [StatusFileProgress(status), *([progress] if progress else [])]
            run = _Run(store, config, report, status, Fanout(observers))
            run.begin()
            previous = run.previous
            try:
                await run.execute(command, force, pull, selected, full, preview)
            except BaseException as exc:
                if _interruption(exc):
                    _interrupted(store)
                    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
                        raise
                    raise asyncio.CancelledError from None  # asyncio.run: KeyboardInterrupt
                failure = environment_error(config, exc)
                report.errors.append(str(failure or f"{type(exc).__name__}: {exc}"))
                report.finish()
                report.status = "error"
                report.exit_code = failure.exit_code if failure else 5
                run.end()
                await _alert(config, report, previous)
                if failure is not None and failure is not exc:
                    raise failure from None
                raise
            report.finish()
            run.end()
    except (StorageError, OutOfMemory, OSError) as exc:
        failure = environment_error(config, exc)
        if failure is None:
            raise
        raise failure from None
    _notify(config.plugins, report)
    await _alert(config, report, previous)
    return report


def _interruption(exc: BaseException) -> bool:
    """Whether the run is ending because of Ctrl-C: the interrupt itself, or anything raised
    while this task unwinds from the cancellation asyncio turns it into (a statement refused
    because a worker thread still held the connection). A timeout's cancellation is not one:
    it is withdrawn before its error is raised."""
    task = asyncio.current_task()
    return isinstance(exc, KeyboardInterrupt) or (task is not None and task.cancelling() > 0)


def _interrupted(store: Store) -> None:
    """A run stopped by Ctrl-C (SIGINT) is left as a killed run is: its row stays
    ``running`` with the phase it was in, so ``status``, ``runs`` and the next run (which
    marks it ``killed``) say where it stopped — it is not recorded as an error of segsync's
    (exit 5). A worker thread may still be inside a statement (a bulk read, a batch being
    recorded): it is interrupted (its transaction rolls back; the next run re-sends at most
    that batch) so the store closes cleanly and the exit stays 130, "interrupted"."""
    if not store.settle():
        log.warning("the store was still busy after the interruption")


async def _alert(config: Config, report: RunReport, previous: dict[str, Any] | None) -> None:
    """Tell the ``[alerts]`` targets about a finished ``run`` (never raises)."""
    if report.command != "run" or report.finished_at is None or not config.settings.alerts.targets:
        return
    from segsync.alerts import send_alerts

    try:
        await send_alerts(config.settings.alerts, report, previous)
    except Exception:  # an alert must never change a run's outcome
        log.exception("sending alerts failed")


def run_as_of(
    config: Config, given: dt.datetime | None, started_at: dt.datetime
) -> tuple[dt.datetime, Literal["run_start", "config", "command_line"]]:
    """The run's as-of (aware UTC) and where it came from: ``given`` (``--as-of``), else
    ``[segments] as_of``, else the run's start."""
    if given is not None:
        return to_utc(given).replace(tzinfo=dt.UTC), "command_line"
    if config.run_as_of is not None:
        return config.run_as_of.replace(tzinfo=dt.UTC), "config"
    return started_at, "run_start"


def environment_error(config: Config, exc: BaseException) -> SegsyncError | None:
    """The user's or the machine's problem behind ``exc``, said in their terms (what, where,
    what to do), or None for a real bug."""
    if isinstance(exc, SegsyncError):
        return exc
    store = config.store_path
    if isinstance(exc, OutOfMemory):
        limit = config.settings.store.memory_limit
        shown = f"{limit!r} ({config.memory_limit})" if limit == "auto" else repr(limit)
        return StoreError(
            f"{store}: DuckDB ran out of memory within [store] memory_limit = {shown}; "
            f"raise it, or lower [store] threads (DuckDB says: {exc})"
        )
    if isinstance(exc, StorageError):
        return StoreError(
            f"{store}: cannot write the store ({exc}); free disk space or fix the folder's "
            "permissions, then run again — what was committed before is intact"
        )
    if isinstance(exc, OSError):
        return os_error(exc, store.parent)
    return None


def bulk_memory_limit(config: Config, sources: Iterable[Source | None]) -> str | None:
    """The engine's memory limit while ``sources`` are staged and loaded, and profiles, traits,
    segments and KPIs computed from them, when it differs from the store's: with
    ``memory_limit = "auto"``, a pull reading files (or tables) in bulk
    (:class:`~segsync.connector.BulkSource`) gets :data:`~segsync.state.memory.BULK_CAP`
    rather than the usual cap; a limit the configuration sets is kept as it is."""
    if config.settings.store.memory_limit != "auto" or not any(
        isinstance(s, BulkSource) for s in sources
    ):
        return None
    from segsync.state.memory import auto_memory_limit

    return auto_memory_limit(bulk=True)


class _Run:
    """One run's stages over an open store."""

    def __init__(
        self,
        store: Store,
        config: Config,
        report: RunReport,
        status: RunStatus,
        progress: Progress | None = None,
    ):
        self.store = store
        self.engine = store.engine
        self.config = config
        self.report = report
        self.status = status
        self.history = History(store.engine)
        self.ledger = Ledger(store.engine)
        self.planner: Planner | None = None
        self.progress = progress or Fanout([StatusFileProgress(status)])
        self.previous: dict[str, Any] | None = None
        """The last finished run of the same command before this one (alerts: recovered)."""

    def begin(self) -> None:
        for killed in self.history.mark_killed():
            log.warning(
                "run %s (segsync %s) was killed during its %s phase; this run takes over",
                killed["run_id"],
                killed["command"],
                killed["phase"] or "first",
            )
        self.previous = self.history.last(self.report.command)
        self.history.start(self.report.run_id, self.report.command, self.report.version)

    def phase(self, name: str, **progress: Any) -> None:
        self.history.phase(self.report.run_id, name)
        self.progress.stage(name, **progress)

    def end(self) -> None:
        report = self.report
        try:
            self.history.finish(report.run_id, report.status, report.exit_code, stored(report))
            if report.command == "run":
                config = self.config
                sources = [n for n, c in config.connectors.items() if c.cls.capabilities.is_source]
                apply_retention(
                    self.ledger,
                    self.history,
                    config.settings.privacy.retention_days,
                    sources=sources,
                    rejects=StorePaths(config.store_path).rejects,
                )
        except StorageError as exc:  # the store itself is what failed: keep the first error
            log.error("could not record the end of run %s: %s", report.run_id, exc)
        self.progress.close()
        self.status.finish(
            {
                "run_id": report.run_id,
                "command": report.command,
                "finished_at": str(report.finished_at),
                "status": report.status,
                "exit_code": report.exit_code,
                "syncs": {
                    s.name: {
                        "status": s.status,
                        "adds": s.applied_adds,
                        "removes": s.applied_removes,
                    }
                    for s in report.syncs
                },
            }
        )

    async def execute(
        self,
        command: Command,
        force: bool,
        pull: bool,
        selected: list[str],
        full: bool,
        preview: int,
    ) -> None:
        config, report = self.config, self.report
        destinations = {config.syncs[s].destination for s in selected}
        candidates = [n for n, c in config.connectors.items() if c.cls.capabilities.is_source]
        connectors = open_connectors(config, sorted({*candidates, *destinations}))
        try:
            if command in ("run", "pull"):  # issue 15: suppressions, pending erasures
                await self._privacy(connectors, erasures=command == "run")
            sources = {
                n: connectors[n].source
                for n in (candidates if pull else [])
                if (s := connectors[n].source) and s.streams()
            }
            # a pull that reads files in bulk keeps their memory limit through the recompute
            # after it: the read has set the run's peak already, and resolve spills less (a
            # million contacts and 6,000,000 orders: `segsync pull` in 39-40 s rather than
            # 45 s, at the same peak RSS)
            with self._bulk_memory(sources.values()):
                stopped = await self._pull(connectors, sources, force, full) if pull else {}
                membership = self._compute()
            plans = self._plan(selected, membership, stopped, command, force, preview)
            if command != "run":
                return
            membership.persist(self.history, report.run_id, kpi_window=report.kpi_window)
            pushing = [p for p in plans if p.report.status == "planned"]
            for done, plan in enumerate(pushing):
                self.phase("push", sync=plan.name, syncs_done=done, syncs=len(pushing))
                await self._push(plan, connectors, membership, force)
        finally:
            for name, connector in connectors.items():
                stats = connector.http_stats()
                if stats:
                    report.http[name] = dict(stats)
                try:
                    await connector.aclose()
                except Exception:
                    log.exception("closing connector %s failed", connector.context.instance)

    async def _privacy(self, connectors: dict[str, Connector], *, erasures: bool) -> None:
        """Read ``[privacy] suppression_file`` (purging the newly suppressed), and finish the
        erasures ``segsync forget`` left pending (``run`` only)."""
        from segsync.privacy import complete_erasures, erasures_owed
        from segsync.privacy.suppression import apply_suppression_file

        privacy = self.config.settings.privacy
        file = privacy.suppression_file
        counts = apply_suppression_file(
            self.engine,
            None if file is None else self.config.privacy_path(file),
            self.config.settings.resolve.default_region,
        )
        summary = PrivacySummary(
            suppressions_added=counts["added"],
            suppressions_removed=counts["removed"],
            records_purged=counts["records"],
        )
        if erasures and erasures_owed(self.engine):  # a stage only when there is work
            self.phase("erasures")
            done = await complete_erasures(self.store, self.config, connectors, self.report.run_id)
            if done is not None:
                summary.erasures_resumed = len(done.erased)
                summary.erasures_completed = len(done.finished)
                summary.erasures_pending = len(done.pending)
                summary.erasures_failed = len(done.failed)
        if summary != PrivacySummary():
            self.report.privacy = summary

    async def _pull(
        self,
        connectors: dict[str, Connector],
        sources: dict[str, Source | None],
        force: bool,
        full: bool,
    ) -> dict[str, str]:
        """Stage and load every one of ``sources`` (by instance); the sources that brought
        nothing, and why."""
        self.phase("pull", sources=len(sources))
        paths = StorePaths(self.config.store_path)
        paths.clear_staging()
        pulled_at = utcnow()
        staged = await self._stage(connectors, sources, paths, pulled_at, full, force)
        paths.clear_staging()
        self.report.sources = [summary for source in staged for summary in source.summaries]
        stopped = {}
        for source in staged:
            why = _stopped(source.summaries)
            if why:
                stopped[source.instance] = why
        return stopped

    def _bulk_memory(self, sources: Iterable[Source | None]) -> AbstractContextManager[None]:
        limit = bulk_memory_limit(self.config, sources)
        return contextlib.nullcontext() if limit is None else self.engine.memory_limit(limit)

    async def _stage(
        self,
        connectors: dict[str, Connector],
        sources: dict[str, Source | None],
        paths: StorePaths,
        pulled_at: dt.datetime,
        full: bool,
        force: bool,
    ) -> list[StagedSource]:
        """Stage every source (at once: the engine reads several sources' files side by side)
        and load them."""
        staged = await asyncio.gather(
            *(
                stage_source(
                    self.config,
                    connectors[name],
                    paths=paths,
                    cursors={s: self.history.cursor(name, s) for s in source.streams()},
                    pulled_at=pulled_at,
                    full=full,
                    engine=self.engine,
                    progress=self.progress,
                )
                for name, source in sources.items()
                if source is not None
            )
        )
        self.phase("load")
        load_sources(
            self.engine,
            self.history,
            staged,
            run_id=self.report.run_id,
            force=force,
            pulled_at=pulled_at,
        )
        return list(staged)

    def _compute(self) -> Membership:
        """Resolve profiles, compute traits, segments and their KPIs."""
        config, report = self.config, self.report
        self.phase("resolve")
        resolved = resolve_profiles(self.engine, config.attributes)
        report.profiles = ProfileSummary(**vars(resolved))
        self.phase("traits", traits=len(config.traits))
        as_of = to_utc(report.as_of or report.started_at)
        failed = sorted({s.instance for s in report.sources if s.stream == "events" and s.error})
        traits = compute_traits(
            self.engine,
            config.traits,
            as_of=as_of,
            location=str(config.path),
            failed_events=failed,
        )
        report.warnings, report.models = list(traits.warnings), traits.models
        mixed = mixed_currencies(resolved.order_currencies)
        if mixed is not None:
            report.warnings.insert(0, mixed)
        for warning in report.warnings:  # once per run: the report lists them too
            log.warning("%s", warning.message)
        self.phase("segments", segments=len(config.segments))
        membership = compute_segments(self.engine, config.segment_book, self.history, as_of=as_of)
        for warning in membership.warnings:
            log.warning("%s", warning.message)
        report.warnings.extend(membership.warnings)
        start, end = config.settings.kpis.bounds(as_of)
        compute_kpis(self.engine, membership, start=start, end=end)
        report.segments = [SegmentSummary(**vars(s)) for s in membership.results.values()]
        report.kpi_window = config.settings.kpis.window
        report.kpi_window_start = start.replace(tzinfo=dt.UTC)
        report.kpi_window_end = end.replace(tzinfo=dt.UTC)
        for s in membership.results.values():
            if s.too_small:
                log.warning(
                    "segment %s has %d members, below min_size %d", s.name, s.size, s.min_size
                )
        return membership

    def _destination(self, name: str) -> Destination:
        config = self.config
        sync = config.syncs[name]
        instance = config.connectors[sync.destination]
        kind = config.sync_kind(sync)
        return Destination(
            instance=sync.destination,
            kind=kind,
            identifier=instance.cls.capabilities.identifier,
            purposes=frozenset(config.required_purposes(sync)),
            create_requires=instance.cls.create_requires(instance.settings, kind),
            refresh_days=config.refresh_days(sync),
        )

    def _plan(
        self,
        selected: list[str],
        membership: Membership,
        stopped: dict[str, str],
        command: Command,
        force: bool,
        preview: int,
    ) -> list[SyncPlan]:
        self.phase("plan", syncs=len(selected))
        planner = Planner(
            self.engine,
            self.ledger,
            membership,
            self.config.segment_book,
            now=to_utc(self.report.started_at),
        )
        self.planner = planner
        # a stopped source with nothing stored may feed any sync: which ones is not known
        unknown = {n for n in stopped if not sources_loaded(self.engine, n)}
        why = {
            n: f"source {n} {reason}"
            + (" before it ever loaded (whom it feeds is not known)" if n in unknown else "")
            for n, reason in stopped.items()
        }
        plans = []
        for name in selected:
            sync = self.config.syncs[name]
            destination = self._destination(name)
            target = (destination.instance, destination.kind, sync.audience or name)
            previous = self.ledger.target_changed(name, target) if sync.enabled else None
            if previous is not None:
                log.warning(
                    "%s: the audience changed (was %s); the new audience starts empty and the "
                    "old one is left as it is",
                    name,
                    previous,
                )
                if command == "run":
                    self.ledger.start_afresh(name)
            plan = planner.plan(
                name, sync, destination, force=force, fresh=previous is not None, preview=preview
            )
            planned = plan.report
            if stopped and planned.status in ("planned", "blocked"):
                feeding = sources_feeding(
                    self.engine, membership, self.ledger, name, sync.segment, stopped
                )
                feeding = sorted({*feeding, *unknown})
                if feeding:
                    planned.skipped_reason = "; ".join(why[n] for n in feeding)
                    planned.status = "skipped"
                    log.warning("%s: not pushed this run: %s", name, planned.skipped_reason)
            self.report.syncs.append(planned)
            plans.append(plan)
        return plans

    async def _push(
        self,
        plan: SyncPlan,
        connectors: dict[str, Connector],
        membership: Membership,
        force: bool,
    ) -> SyncReport:
        sync = self.config.syncs[plan.name]
        destination = connectors[sync.destination].destination
        assert destination is not None  # checked by open_connectors
        target = PushTarget(
            destination=destination,
            instance=sync.destination,
            spec=AudienceSpec(
                sync=plan.name,
                name=plan.report.audience,
                kind=plan.report.kind,
                description=sync.description,
            ),
            batch_size=sync.batch_size,
        )
        try:
            return await push_sync(plan, target, self.ledger, self.report.run_id, self.progress)
        except AudienceRecreated as exc:
            assert self.planner is not None
            log.warning("%s: %s; sending every member again", plan.name, exc)
            self.ledger.start_afresh(plan.name)
            fresh = self.planner.plan(
                plan.name, sync, self._destination(plan.name), force=True, fresh=True
            )
            kept = plan.report
            for field in ("in_audience_before", "desired", "adds", "removes", "retries",
                          "refreshes", "skipped"):  # fmt: skip
                setattr(kept, field, getattr(fresh.report, field))
            fresh.report = kept
            return await push_sync(fresh, target, self.ledger, self.report.run_id, self.progress)


def _stopped(summaries: list[SourceSummary]) -> str | None:
    """Why a source brought nothing this run ("failed", "refused by a guard"), if it did."""
    if any(s.refused for s in summaries):
        return "refused by a guard"
    if any(s.error and s.transient for s in summaries):
        return "failed (will retry)"
    if any(s.error for s in summaries):
        return "failed"
    return None


def stored(report: RunReport) -> str:
    """The report as the store keeps it: without the plan's preview of who would change."""
    return report.model_dump_json(exclude={"syncs": {"__all__": {"preview"}}})


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
    progress: Progress | None = None,
    as_of: dt.datetime | None = None,
) -> RunReport:
    """Run segsync once, as ``segsync run`` does, and return the report.

    ``config`` is a path (default ``segsync.toml``) or a loaded :class:`Config`; ``as_of``
    pins the run's as-of as ``--as-of`` does. Raises :class:`segsync.errors.SegsyncError`
    subclasses for configuration errors and a held lock; everything else is in the report.
    ``progress`` (a :class:`segsync.progress.Progress`) hears how the run goes.
    """
    loaded = config if isinstance(config, Config) else load(config)
    command: Command = "plan" if plan_only else "run"
    return asyncio.run(
        execute(loaded, command=command, force=force, syncs=syncs, progress=progress, as_of=as_of)
    )
