"""The scheduled jobs: prune old rows, retry retryable failures, refresh airing shows, and
keep the queue gauges fresh. The scheduler (app/scheduler.py) only decides *when*; this
decides *whether* (one process per tick, via job_runs and an advisory lock) and *what*."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.clients.errors import UpstreamError
from core.db import conflicts, job_runs, outbox, retention, tvshows, webhook_logs
from core.db.pool import Conn, Pool
from core.metrics import Metrics
from core.services.shows import ShowCatalog
from core.settings import Settings
from core.tracker import notices

if TYPE_CHECKING:
    from core.history.service import HistorySync

log = logging.getLogger(__name__)

PRUNE_BATCH = 1000
REFRESH_LIMIT = 50  # shows per run, least recently refreshed first
RETRY_BATCH = 500


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime
    logs: int
    conflicts: int
    notifications: int
    job_runs: int
    seen_markers: int
    batches: int
    seconds: float
    interrupted: bool = False

    def summary(self) -> str:
        text = (
            f"removed {self.logs} webhook logs, {self.conflicts} resolved conflicts, "
            f"{self.notifications} delivered notifications, {self.job_runs} job runs and "
            f"{self.seen_markers} duplicate markers older than {self.cutoff:%Y-%m-%d %H:%M} UTC "
            f"in {self.seconds:.2f}s"
        )
        return text + (" (interrupted by shutdown)" if self.interrupted else "")


@dataclass(frozen=True)
class JobResult:
    job: str
    outcome: str  # ok, partial, error, skipped (locked / tick already taken)
    detail: str
    run_id: int | None = None


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobService:
    # Jobs recorded in job_runs and run once per tick across processes. `metrics` is not
    # among them: each process refreshes its own gauges.
    SHARED = ("prune", "retry", "refresh_airing", "sync")

    def __init__(
        self,
        *,
        pool: Pool,
        metrics: Metrics,
        settings: Settings,
        catalog: ShowCatalog,
        tmdb_configured: bool,
        wake: asyncio.Event,
        history: HistorySync | None = None,
    ) -> None:
        self._pool = pool
        self._history = history
        self._metrics = metrics
        self._settings = settings
        self._catalog = catalog
        self._tmdb_configured = tmdb_configured
        self._wake = wake
        self._stopping = asyncio.Event()
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.host = process_name()

    # -- running a job once ------------------------------------------------------------------

    async def run(self, job: str, *, tick: datetime | None = None) -> JobResult:
        """Run a shared job under its advisory lock, recorded in job_runs. With a tick, a run
        another process already recorded for that tick is skipped. tick=None: a manual run."""
        body = self._bodies().get(job)
        if body is None:
            raise ValueError(f"unknown job {job!r}")
        self._running += 1
        self._idle.clear()
        try:
            return await self._run_locked(job, body, tick)
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    def _bodies(self) -> dict[str, Callable[[Conn], Awaitable[tuple[str, str]]]]:
        return {
            "prune": self._prune_job,
            "retry": self.retry,
            "sync": self._sync,
            "refresh_airing": self._refresh_then_notify,
        }

    async def _run_locked(
        self, job: str, body: Callable[[Conn], Awaitable[tuple[str, str]]], tick: datetime | None
    ) -> JobResult:
        # One dedicated connection carries the session lock for the whole run; the work runs
        # on it too, in short statements/transactions of its own.
        async with self._pool.acquire() as conn:
            if not await job_runs.try_lock(conn, job):
                self._metrics.job_runs.labels(job=job, outcome="skipped").inc()
                log.info("job %s: skipped, another process is running it", job)
                return JobResult(job, "skipped", f"another process is running {job}")
            try:
                run_id = await job_runs.start(conn, job, tick=tick, host=self.host)
                if run_id is None:
                    self._metrics.job_runs.labels(job=job, outcome="skipped").inc()
                    log.debug("job %s: tick %s already ran elsewhere", job, tick)
                    return JobResult(job, "skipped", f"tick {tick} already ran")
                started = time.monotonic()
                try:
                    outcome, detail = await body(conn)
                except Exception as exc:
                    log.exception("job %s (run %d) failed", job, run_id)
                    outcome, detail = "error", f"{type(exc).__name__}: {exc}"
                await job_runs.finish(conn, run_id, outcome=outcome, detail=detail)
                self._metrics.job_runs.labels(job=job, outcome=outcome).inc()
                log.info(
                    "job %s (run %d) %s in %.2fs: %s",
                    job,
                    run_id,
                    outcome,
                    time.monotonic() - started,
                    detail,
                )
                return JobResult(job, outcome, detail, run_id)
            finally:
                await job_runs.unlock(conn, job)

    def stop(self) -> None:
        """Long jobs end at their next batch boundary; the scheduler then shuts down."""
        self._stopping.set()

    async def wait_idle(self, grace_seconds: float) -> bool:
        try:
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    # -- prune -------------------------------------------------------------------------------

    async def _prune_job(self, conn: Conn) -> tuple[str, str]:
        result = await self.prune(conn)
        return ("partial" if result.interrupted else "ok"), result.summary()

    async def prune(
        self,
        conn: Conn,
        *,
        now: datetime | None = None,
        batch_size: int = PRUNE_BATCH,
        pause: float = 0.0,
    ) -> PruneResult:
        """Delete what is older than LOG_RETENTION_DAYS, `batch_size` rows per statement.

        Each DELETE is its own transaction (autocommit), so locks last milliseconds and the
        webhook path never waits long; `pause` yields between batches if wanted.
        """
        started = time.monotonic()
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self._settings.log_retention_days)
        counts: dict[str, int] = {}
        batches = 0
        steps = (
            ("logs", retention.delete_logs_before),
            ("conflicts", retention.delete_conflicts_before),
            ("notifications", retention.delete_outbox_before),
            ("job_runs", retention.delete_job_runs_before),
            ("seen_markers", retention.delete_seen_before),
        )
        interrupted = False
        for name, delete in steps:
            counts[name] = 0
            while not interrupted:
                if self._stopping.is_set():
                    interrupted = True
                    break
                removed = await delete(conn, cutoff, batch_size)
                batches += 1
                counts[name] += removed
                if removed < batch_size:
                    break
                await asyncio.sleep(pause)
        return PruneResult(
            cutoff=cutoff,
            batches=batches,
            seconds=time.monotonic() - started,
            interrupted=interrupted,
            **counts,
        )

    # -- retry -------------------------------------------------------------------------------

    async def retry(self, conn: Conn) -> tuple[str, str]:
        """Failed rows whose backoff has passed go back to the queue; rows out of attempts
        stay failed with the reason and the owner is told (a `failure` notification). And a
        safety net: scrobbles still held behind a resolved conflict are re-queued too, and
        history episodes held behind one are marked (TMDB was down at the resolution)."""
        max_attempts = self._settings.retry_max_attempts
        async with conn.transaction():
            exhausted = await webhook_logs.give_up_exhausted(conn, max_attempts)
            for log_id, user_id in exhausted:
                await outbox.enqueue(conn, user_id=user_id, kind="failure", ref_id=log_id)
        for log_id, user_id in exhausted:
            log.warning(
                "webhook %d user=%d: gave up after %d attempts", log_id, user_id, max_attempts
            )
        requeued = 0
        while not self._stopping.is_set():
            n = await webhook_logs.requeue_retryable(conn, max_attempts, RETRY_BATCH)
            requeued += n
            if n < RETRY_BATCH:
                break
        stranded = await webhook_logs.requeue_stranded(conn)
        for log_id, user_id, conflict_id in stranded:
            log.warning(
                "webhook %d user=%d: was still held behind resolved conflict %d; re-queued",
                log_id,
                user_id,
                conflict_id,
            )
        if requeued or stranded:
            self._wake.set()  # this process's worker picks them up now, others within a poll
        # ... and history sync's episodes held behind a resolved conflict (core/history).
        settled = await self._history.settle_stranded(conn) if self._history is not None else []
        for conflict_id, user_id, n in settled:
            log.warning(
                "conflict %d user=%d: %d history episodes were still held behind it; applied",
                conflict_id,
                user_id,
                n,
            )
        found = len(stranded) + sum(n for _, _, n in settled)
        if found:
            self._metrics.held_requeued.inc(found)
        detail = f"requeued {requeued}, gave up on {len(exhausted)}"
        if found:
            detail += f", {found} found held behind resolved conflicts"
        return "ok", detail

    # -- refresh airing shows ----------------------------------------------------------------

    async def refresh_airing(self, conn: Conn) -> tuple[str, str]:
        """Fetch the episode lists of shows still airing, so new episodes exist before they
        are watched. One show per transaction; a TMDB failure skips that show."""
        if not self._tmdb_configured:
            return "ok", "TMDB is not configured: nothing refreshed"
        refreshed = failed = added = 0
        for user_id, show_id, _tmdb_id in await tvshows.airing(conn, REFRESH_LIMIT):
            if self._stopping.is_set():
                break
            show = await tvshows.get(conn, user_id, show_id)
            if show is None:
                continue
            try:
                async with conn.transaction():
                    total = await self._catalog.refresh_show(conn, show)
            except UpstreamError as exc:
                failed += 1
                log.warning("refresh of show %d (user %d) failed: %s", show_id, user_id, exc)
                if not exc.retryable:
                    # Gone from TMDB: don't put it first in line again every run.
                    await tvshows.touch_refreshed(conn, show_id)
                continue
            refreshed += 1
            added += max(total - show.total_episodes, 0)
        detail = f"refreshed {refreshed} airing shows, {added} new episodes, {failed} failed"
        return ("partial" if failed else "ok"), detail

    # -- history sync ------------------------------------------------------------------------

    async def _sync(self, conn: Conn) -> tuple[str, str]:
        """Every connected user's Plex history since the last run (core/history)."""
        if self._history is None:
            return "ok", "history sync is not set up in this process"
        return await self._history.sync_all(self._stopping)

    async def _refresh_then_notify(self, conn: Conn) -> tuple[str, str]:
        """New episode lists first, then the tracker's notices about what aired
        (core/tracker/notices.py: new episodes, weekly recaps; once across processes)."""
        outcome, detail = await self.refresh_airing(conn)
        queued = await notices.queue_due(conn, datetime.now(UTC))
        if queued.new_episodes or queued.recaps:
            detail = f"{detail}; {queued.summary()}"
        return outcome, detail

    # -- gauges ------------------------------------------------------------------------------

    async def refresh_metrics(self) -> None:
        """Queue depth and open conflicts from the database into this process's gauges."""
        async with asyncio.timeout(2), self._pool.acquire() as conn:
            depth = await webhook_logs.queue_depth(conn)
            open_conflicts = await conflicts.count_open(conn)
        self._metrics.queue_depth.set(depth)
        self._metrics.conflicts_open.set(open_conflicts)
