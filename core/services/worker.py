"""The queue worker: claims pending webhook rows and processes them off the request path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from core.db import webhook_logs
from core.db.pool import DATABASE_DOWN, Conn, Pool
from core.db.webhook_logs import QueuedLog
from core.metrics import Metrics
from core.services.processor import Outcome, WebhookProcessor

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 6 * 3600.0


def retry_delay(attempts: int) -> float:
    """30 s, 1 min, 2 min, … capped at 6 h: TMDB or a Plex server may be down a while."""
    return min(30.0 * 2.0 ** min(attempts, 20), MAX_RETRY_DELAY)


class QueueWorker:
    def __init__(
        self,
        *,
        pool: Pool,
        processor: WebhookProcessor,
        metrics: Metrics,
        wake: asyncio.Event,
        concurrency: int = 4,
        batch_size: int = 16,
        poll_seconds: float = 0.5,
        duplicate_window_seconds: int = 600,
        after_marked: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self._pool = pool
        # (log id, user, tracker show) of each scrobble marked: the multi-episode
        # follow-up (core/history/follow_up.py), queued, never awaited here.
        self._after_marked = after_marked
        self._duplicate_window = duplicate_window_seconds
        self._processor = processor
        self._metrics = metrics
        self._wake = wake
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._idle = asyncio.Condition()
        self._pump_task: asyncio.Task[None] | None = None
        self.last_beat = 0.0

    @property
    def alive(self) -> bool:
        return bool(self._tasks) and not all(t.done() for t in self._tasks)

    def status(self) -> str:
        if not self._tasks:
            return "stopped"
        return "ok" if self.alive else "dead"

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._loop(i), name=f"webhook-worker-{i}")
            for i in range(self._concurrency)
        ]
        self._pump_task = asyncio.create_task(self._pump(), name="webhook-worker-wake")

    async def stop(self) -> None:
        """Finish the batches in hand, then stop; anything still queued waits for next start."""
        self._stopping.set()
        self._wake.set()
        async with self._idle:
            self._idle.notify_all()
        if self._pump_task is not None:
            await asyncio.gather(self._pump_task, return_exceptions=True)
            self._pump_task = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self, index: int) -> None:
        while not self._stopping.is_set():
            self.last_beat = time.monotonic()
            try:
                handled = await self.process_batch()
            except DATABASE_DOWN as exc:
                # The database went away: wait and try again; the rows are still queued.
                log.warning("worker %d: database unavailable (%s), retrying", index, exc)
                handled = 0
                await asyncio.sleep(1)
            except Exception:
                log.exception("worker %d: unexpected error", index)
                handled = 0
                await asyncio.sleep(1)
            if handled:
                await self._nudge()  # there may be more: bring one idle worker in to help
            elif not self._stopping.is_set():
                async with self._idle:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._idle.wait(), self._poll)

    async def _nudge(self) -> None:
        async with self._idle:
            self._idle.notify(1)

    async def _pump(self) -> None:
        # The intake's event wakes ONE idle worker per burst; waking all of them sent every
        # worker to claim (an empty transaction each) for every single scrobble.
        while not self._stopping.is_set():
            await self._wake.wait()
            self._wake.clear()
            await self._nudge()

    async def drain(self) -> int:
        """Process until the queue is empty (start-up catch-up, tests, the CLI's replay)."""
        total = 0
        while handled := await self.process_batch():
            total += handled
        return total

    async def process_batch(self) -> int:
        """Claim up to `batch_size` rows; settle the common ones (scrobbles of mapped shows)
        in one database call, then take the rest one at a time through the full path.

        Round trips, not Python, are what a scrobble costs on a small host, so the common case
        shares one call per batch (sql/0008_settle_in_show_order.sql: duplicate checks first,
        then marks in tracker-show order, the order every writer of a show takes, so batches
        never deadlock; and no network call while holding locks).
        """
        async with self._pool.acquire() as conn:
            try:
                rows = await webhook_logs.settle_queue(
                    conn, self._batch_size, self._duplicate_window
                )
            except DATABASE_DOWN:
                raise
            except Exception as exc:
                # Rolled back as a whole (a payload the SQL can't read, say): one at a time,
                # where a row that keeps failing is recorded as failed instead of blocking.
                log.warning("batch rolled back (%s); processing singly", type(exc).__name__)
                return await self._process_singly(conn, self._batch_size)
            for row in rows:
                if row.settled:
                    assert row.status is not None and row.action is not None
                    error = "this Plex show is ignored" if row.action == "show_ignored" else None
                    self._report(
                        row.id,
                        row.user_id,
                        row.created_at,
                        row.event,
                        row.show_title,
                        row.season,
                        row.episode,
                        Outcome(row.status, row.action, tvshow_id=row.tvshow_id, error=error),
                    )
                    continue
                async with conn.transaction():
                    claimed = await webhook_logs.claim_one(conn, row.id)
                    if claimed is not None:
                        await self.process_one(conn, claimed)
            return len(rows)

    async def _process_singly(self, conn: Conn, limit: int) -> int:
        handled = 0
        while handled < limit:
            async with conn.transaction():
                rows = await webhook_logs.claim(conn, 1)
                if not rows:
                    break
                await self.process_one(conn, rows[0])
            handled += 1
        return handled

    async def process_one(self, conn: Conn, row: QueuedLog, *, replay: bool = False) -> Outcome:
        """One row in a savepoint: a failure rolls back its own writes, not the batch."""
        try:
            async with conn.transaction():
                outcome = await self._processor.process(conn, row, replay=replay)
        except Exception as exc:
            log.exception("webhook %d: processing failed", row.id)
            outcome = Outcome(
                "failed",
                "internal_error",
                error=f"internal error: {type(exc).__name__}",
                retryable=True,
            )
        await self._record(conn, row, outcome)
        return outcome

    async def _record(self, conn: Conn, row: QueuedLog, outcome: Outcome) -> None:
        if outcome.status == "pending":
            assert outcome.conflict_id is not None
            await webhook_logs.hold(conn, row.id, outcome.conflict_id, outcome.action)
        else:
            await webhook_logs.finish(
                conn,
                row.id,
                status=outcome.status,
                action_taken=outcome.action,
                tvshow_id=outcome.tvshow_id,
                error_message=outcome.error,
                retryable=outcome.retryable,
                retry_delay_seconds=retry_delay(row.attempts) if outcome.retryable else None,
            )
        meta = row.payload.get("Metadata") or {}
        self._report(
            row.id,
            row.user_id,
            row.created_at,
            row.payload.get("event"),
            meta.get("grandparentTitle"),
            meta.get("parentIndex"),
            meta.get("index"),
            outcome,
        )

    def _report(
        self,
        log_id: int,
        user_id: int,
        created_at: datetime,
        event: object,
        show_title: object,
        season: object,
        episode: object,
        outcome: Outcome,
    ) -> None:
        """Metrics and the one log line per webhook."""
        event = str(event or "?")
        elapsed = (datetime.now(UTC) - created_at).total_seconds()
        self._metrics.webhooks.labels(status=outcome.status, event=event).inc()
        self._metrics.processing_seconds.observe(max(elapsed, 0.0))
        log.info(
            "webhook %d user=%d event=%s status=%s action=%s show=%r S%sE%s tvshow=%s in %dms%s",
            log_id,
            user_id,
            event,
            outcome.status,
            outcome.action,
            show_title,
            season,
            episode,
            outcome.tvshow_id,
            elapsed * 1000,
            f" ({outcome.error})" if outcome.error else "",
        )
        if self._after_marked is not None and outcome.status == "success" and outcome.tvshow_id:
            self._after_marked(log_id, user_id, outcome.tvshow_id)
