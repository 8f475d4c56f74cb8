"""APScheduler 3.x on the running loop: when each job fires. Whether it runs here is decided
by JobService (one process per tick across every `plex-tracker run` on the database)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.metrics import Metrics
from core.services.jobs import JobService
from core.settings import Settings

log = logging.getLogger(__name__)

# Every process counts its ticks from the same instant, so they fire the same wall-clock
# ticks and the tick identifies a run in job_runs (and a daily prune lands at 00:00 UTC).
ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)


def tick_of(now: datetime, interval: float) -> datetime:
    """The tick a run starting at `now` belongs to (a run fires at or just after its tick;
    a little slack covers a timer waking a hair early)."""
    slack = min(0.25, interval / 10)
    elapsed = (now - ANCHOR).total_seconds() + slack
    return ANCHOR + timedelta(seconds=(elapsed // interval) * interval)


@dataclass
class Scheduler:
    jobs: JobService
    metrics: Metrics
    settings: Settings
    _scheduler: AsyncIOScheduler | None = field(default=None, init=False)

    def intervals(self) -> dict[str, int]:
        s = self.settings
        return {
            "prune": s.job_prune_seconds,
            "retry": s.job_retry_seconds,
            "refresh_airing": s.job_refresh_seconds,
            "metrics": s.job_metrics_seconds,
            "sync": s.job_sync_seconds,  # 0: off
        }

    def start(self) -> None:
        # APScheduler logs every run at INFO; our own job log lines say what matters.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = AsyncIOScheduler(timezone=UTC)
        for name, seconds in self.intervals().items():
            if seconds <= 0:
                continue
            scheduler.add_job(
                self._fire,
                IntervalTrigger(seconds=seconds, start_date=ANCHOR, timezone=UTC),
                args=(name, seconds),
                id=name,
                name=name,
                coalesce=True,  # missed ticks (a suspended laptop) run once, not N times
                max_instances=1,  # never overlaps itself in this process; the lock covers others
                misfire_grace_time=max(1, seconds // 2),
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler started: %s",
            ", ".join(f"{n} every {s}s" for n, s in self.intervals().items() if s > 0),
        )

    def status(self) -> str:
        if self._scheduler is None:
            return "stopped"
        return "ok" if self._scheduler.running else "stopped"

    async def _fire(self, name: str, interval: int) -> None:
        if name == "metrics":
            try:
                await self.jobs.refresh_metrics()
                self.metrics.job_runs.labels(job=name, outcome="ok").inc()
            except Exception as exc:  # the database may be down; next tick tries again
                self.metrics.job_runs.labels(job=name, outcome="error").inc()
                log.warning("metrics refresh failed: %s", type(exc).__name__)
            return
        try:
            await self.jobs.run(name, tick=tick_of(datetime.now(UTC), interval))
        except Exception:
            # run() records the job's own failures; this is the lock/bookkeeping failing
            # (database down). The next tick tries again.
            self.metrics.job_runs.labels(job=name, outcome="error").inc()
            log.exception("job %s could not run", name)

    async def stop(self, grace_seconds: float = 20) -> None:
        """No new runs; let running ones reach a batch boundary; then shut down."""
        if self._scheduler is None:
            return
        scheduler, self._scheduler = self._scheduler, None
        scheduler.pause()
        self.jobs.stop()
        if not await self.jobs.wait_idle(grace_seconds):
            log.warning("scheduled jobs still running after %.0fs; cancelling them", grace_seconds)
        scheduler.shutdown(wait=False)
        log.info("scheduler stopped")
