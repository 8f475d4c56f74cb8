"""History sync as a service: start runs (inline for the CLI and the job, queued for the
API, Discord and right after connecting), run them one per user at a time across every
process on the database, and report them.

A queued run is a row in `plex_sync_runs`; every `plex-tracker run` process polls for them
(`FOR UPDATE SKIP LOCKED`), and the process that queued one wakes its own poller at once.
A run whose process died (no heartbeat) is marked interrupted; the next run of that user
resumes where it stopped, from the watermarks the dead one committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.clients.errors import Unauthorized, UpstreamError
from core.clients.plex_library import PlexLibraryClient
from core.crypto import CryptoError
from core.db import history_marks, outbox, plex_config, sync_runs, sync_state
from core.db.conflicts import Conflict
from core.db.pool import DATABASE_DOWN, Conn, Pool
from core.db.sync_runs import RunCounts, SyncRun
from core.db.tvshows import Show
from core.errors import ForbiddenError, InvalidInputError, NotFoundError
from core.history.apply import BatchApplier, apply_held, settle_stranded
from core.history.run import HistoryRun, Reader, RunSpec, SyncInterrupted
from core.history.server import ServerAccess
from core.services.conflicts import ConflictService
from core.services.matching import Matcher
from core.services.shows import ShowCatalog
from core.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[RunCounts], None]

POLL_SECONDS = 5.0
STALE_SECONDS = 300.0  # a running run without a heartbeat this long: its process is gone
MAX_PARALLEL = 2  # queued runs this process executes at once
NOTICE_KIND = "sync_failed"  # notification_outbox kind: the server refused the token
DIED = "the process running it stopped (the next run resumes where it got to)"


class HistorySync:
    def __init__(
        self,
        *,
        pool: Pool,
        library: PlexLibraryClient,
        servers: ServerAccess,
        matcher: Matcher,
        conflicts: ConflictService,
        catalog: ShowCatalog,
        settings: Settings,
    ) -> None:
        self._pool = pool
        self._library = library
        self._servers = servers
        self._matcher = matcher
        self._conflicts = conflicts
        self._catalog = catalog
        self._settings = settings
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[SyncRun | None]] = set()

    # -- starting runs -----------------------------------------------------------------------
    async def queue(
        self,
        user_id: int,
        *,
        trigger: str,
        mode: str = "incremental",
        since: datetime | None = None,
        dry_run: bool = False,
    ) -> SyncRun:
        """A run for a `plex-tracker run` process to execute; the user's queued or running
        run instead when there is one (pressing "sync" twice starts one run)."""
        since = _check_mode(mode, since)
        async with self._pool.acquire() as conn:
            await self._connected(conn, user_id)
            active = await sync_runs.active_for_user(conn, user_id)
            if (
                active is not None
                and active.state == "running"
                and await sync_runs.try_lock_user(conn, user_id)
            ):
                # Nobody holds the user's sync lock: the process running it died (kill -9).
                await sync_runs.unlock_user(conn, user_id)
                await sync_runs.interrupt(conn, active.id, DIED)
                active = await sync_runs.active_for_user(conn, user_id)
            if active is not None and not dry_run:
                return active
            run = await sync_runs.create(
                conn, user_id=user_id, trigger=trigger, mode=mode, since=since, dry_run=dry_run
            )
        self._wake.set()
        log.info("user %d: history sync run %d queued (%s, %s)", user_id, run.id, trigger, mode)
        return run

    async def queue_first(self, user_id: int, *, trigger: str) -> SyncRun | None:
        """After a connect: the first sync, unless one ran already or is on its way."""
        async with self._pool.acquire() as conn:
            if await sync_runs.has_succeeded(conn, user_id):
                return None
        return await self.queue(user_id, trigger=trigger)

    async def run_now(
        self,
        user_id: int,
        *,
        trigger: str,
        mode: str = "incremental",
        since: datetime | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        waiting: Callable[[SyncRun | None], None] | None = None,
        wait: bool = True,
        stopping: asyncio.Event | None = None,
    ) -> SyncRun | None:
        """Run here and now (the CLI, the job) and return the finished run. A run `connect`
        queued for this user is taken over rather than run twice. While another process
        syncs this user, wait for it (`waiting` is told) or, with wait=False, return None."""
        since = _check_mode(mode, since)
        async with self._pool.acquire() as conn:
            await self._connected(conn, user_id)
            if not await sync_runs.try_lock_user(conn, user_id):
                if not wait:
                    return None
                if waiting is not None:
                    waiting(await sync_runs.active_for_user(conn, user_id))
                await sync_runs.lock_user(conn, user_id)
            try:
                await sync_runs.interrupt_running(conn, user_id, DIED)  # we hold the lock
                run = None
                active = await sync_runs.active_for_user(conn, user_id)
                if active is not None and active.state == "queued" and not dry_run:
                    run = await sync_runs.claim_queued(conn, self.host, active.id)
                if run is None:
                    run = await sync_runs.create(
                        conn,
                        user_id=user_id,
                        trigger=trigger,
                        mode=mode,
                        since=since,
                        dry_run=dry_run,
                        state="running",
                        host=self.host,
                    )
                return await self._execute(conn, run, progress, stopping or self._stopping)
            finally:
                await sync_runs.unlock_user(conn, user_id)

    async def _connected(self, conn: Conn, user_id: int) -> None:
        config = await plex_config.get(conn, user_id)
        if config is None or config.plex_token is None:
            raise NotFoundError("Plex is not connected for this user: connect first")

    # -- one run -------------------------------------------------------------------------------
    async def _execute(
        self, conn: Conn, run: SyncRun, progress: Progress | None, stopping: asyncio.Event
    ) -> SyncRun:
        """Run it on `conn`, which holds the user's sync lock; record how it ended."""
        spec = RunSpec(run.user_id, run.mode, run.since, run.dry_run)
        counts = run.counts()
        server_id: str | None = None
        state, error = "failed", None
        log.info("user %d: history sync run %d started (%s)", run.user_id, run.id, run.mode)

        async def report() -> None:
            await sync_runs.progress(conn, run.id, counts, server_id)
            if progress is not None:
                progress(counts)

        try:
            config = await plex_config.get(conn, run.user_id)
            if config is None or config.plex_token is None:
                raise NotFoundError("Plex is no longer connected for this user")
            target = await self._servers.reach(run.user_id, config)
            server_id = target.machine_id
            settings = await sync_state.settings(conn, run.user_id)
            applier = BatchApplier(
                matcher=self._matcher,
                conflicts=self._conflicts,
                catalog=self._catalog,
                user_id=run.user_id,
                config=config,
                counts=counts,
                dry_run=run.dry_run,
            )
            await history_marks.start_run(conn)
            try:
                await HistoryRun(
                    spec=spec,
                    conn=conn,
                    config=config,
                    reader=Reader(self._library, target),
                    applier=applier,
                    excluded_sections=settings.excluded_sections,
                    stopping=stopping,
                    report=report,
                ).execute()
            finally:
                await history_marks.end_run(conn)
            state = "succeeded"
            if not run.dry_run:
                await sync_state.clear_token_rejected(conn, run.user_id)
        except SyncInterrupted:
            state, error = "interrupted", "stopped by a shutdown; the next run resumes here"
        except UpstreamError as exc:
            error = exc.message
            if isinstance(exc, Unauthorized) and exc.service in ("plex_server", "plextv"):
                error = f"the Plex token was refused ({exc.message}): reconnect with a new one"
                if await sync_state.mark_token_rejected(conn, run.user_id):
                    # Once, until a run succeeds again: the job would otherwise say it hourly.
                    await outbox.enqueue(conn, user_id=run.user_id, kind=NOTICE_KIND, ref_id=run.id)
        except (NotFoundError, CryptoError) as exc:
            error = str(exc)
        except DATABASE_DOWN:
            # Nothing can be recorded now; the heartbeat stops and the run is marked
            # interrupted later, to resume from its last committed batch.
            log.warning("user %d: sync run %d lost the database", run.user_id, run.id)
            raise
        except Exception as exc:
            log.exception("user %d: sync run %d failed", run.user_id, run.id)
            error = f"internal error: {type(exc).__name__}"
        finished = await sync_runs.finish(
            conn, run.id, state=state, counts=counts, server_id=server_id, error=error
        )
        log.info(
            "user %d: history sync run %d %s: %s%s",
            run.user_id,
            run.id,
            state,
            summary(finished),
            f" ({error})" if error else "",
        )
        return finished

    # -- queued runs: the background poller ----------------------------------------------------
    def start(self) -> None:
        if self._poller is None or self._poller.done():
            self._stopping.clear()
            self._poller = asyncio.create_task(self._poll(), name="history-sync-poller")

    async def stop(self, grace_seconds: float = 20) -> None:
        """Running syncs stop at their next batch boundary (they resume next time)."""
        self._stopping.set()
        self._wake.set()
        if self._poller is not None:
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.claim_queued()
            except DATABASE_DOWN as exc:
                log.warning("history sync: database unavailable (%s)", type(exc).__name__)
            except Exception:
                log.exception("history sync: polling for queued runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()

    async def claim_queued(self) -> int:
        """Start queued runs this process has room for; returns how many were started."""
        started = 0
        async with self._pool.acquire() as conn:
            for stale in await sync_runs.fail_stale(conn, STALE_SECONDS):
                log.warning("user %d: sync run %d was abandoned", stale.user_id, stale.id)
            while len(self._tasks) < MAX_PARALLEL and not self._stopping.is_set():
                run = await sync_runs.claim_queued(conn, self.host)
                if run is None:
                    break
                task = asyncio.create_task(self._run_claimed(run), name=f"history-sync-{run.id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    async def _run_claimed(self, run: SyncRun) -> SyncRun | None:
        try:
            async with self._pool.acquire() as conn:
                if not await sync_runs.try_lock_user(conn, run.user_id):
                    # This user's sync runs elsewhere right now: back in the queue for later.
                    await sync_runs.requeue(conn, run.id)
                    return None
                try:
                    return await self._execute(conn, run, None, self._stopping)
                finally:
                    await sync_runs.unlock_user(conn, run.user_id)
        except Exception:
            log.exception("user %d: sync run %d could not run", run.user_id, run.id)
            return None

    async def wait_idle(self) -> None:
        """Until the runs this process started have finished (tests, the CLI)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the scheduled job -----------------------------------------------------------------------
    async def sync_all(self, stopping: asyncio.Event) -> tuple[str, str]:
        """Every connected user, incrementally: how a webhook lost in the last hour lands."""
        async with self._pool.acquire() as conn:
            users = await sync_state.users_to_sync(conn)
            cutoff = datetime.now(UTC) - timedelta(days=self._settings.log_retention_days)
            pruned = await sync_runs.delete_finished_before(conn, cutoff)
        ok = failed = busy = marked = raised = 0
        problems: list[str] = []
        for user_id in users:
            if stopping.is_set() or self._stopping.is_set():
                break
            try:
                run = await self.run_now(user_id, trigger="job", wait=False, stopping=stopping)
            except NotFoundError:
                continue  # disconnected meanwhile
            if run is None:
                busy += 1
                continue
            marked += run.episodes_marked
            raised += run.conflicts_raised
            if run.state == "succeeded":
                ok += 1
            else:
                failed += 1
                problems.append(f"user {user_id}: {run.error or run.state}")
        detail = (
            f"{len(users)} users: {ok} synced, {failed} failed, {busy} already syncing; "
            f"{marked} episodes marked, {raised} conflicts raised"
            + (f"; pruned {pruned} old runs" if pruned else "")
            + (f" ({'; '.join(problems)[:400]})" if problems else "")
        )
        return ("partial" if failed else "ok"), detail

    # -- reading -----------------------------------------------------------------------------------
    async def get_run(self, user_id: int | None, run_id: int) -> SyncRun:
        """A run of this user (None: any user's). Another user's run is ForbiddenError."""
        async with self._pool.acquire() as conn:
            run = await sync_runs.get(conn, run_id)
        if run is None:
            raise NotFoundError(f"no sync run {run_id}")
        if user_id is not None and run.user_id != user_id:
            raise ForbiddenError(f"sync run {run_id} belongs to another user")
        return run

    async def recent(self, user_id: int, limit: int = 10) -> list[SyncRun]:
        async with self._pool.acquire() as conn:
            return await sync_runs.recent(conn, user_id, limit)

    async def set_excluded_sections(self, user_id: int, sections: list[str]) -> None:
        async with self._pool.acquire() as conn:
            await sync_state.set_excluded_sections(conn, user_id, sections)

    async def excluded_sections(self, user_id: int) -> tuple[str, ...]:
        async with self._pool.acquire() as conn:
            return (await sync_state.settings(conn, user_id)).excluded_sections

    # -- conflicts ---------------------------------------------------------------------------------
    async def on_conflict_resolved(
        self, conn: Conn, conflict: Conflict, show: Show | None
    ) -> tuple[int, int]:
        """ConflictService's resolve hook: the history episodes held behind the conflict."""
        return await apply_held(conn, self._catalog, conflict, show)

    async def settle_stranded(self, conn: Conn) -> list[tuple[int, int, int]]:
        """The retry job's safety net: history episodes still held behind a resolved
        conflict; (conflict id, user id, episodes settled) of each."""
        return await settle_stranded(conn, self._catalog)


def summary(run: SyncRun) -> str:
    """One line: what a run did (CLI, logs, Discord)."""
    text = (
        f"{run.shows_seen} shows seen, {run.episodes_marked} episodes marked, "
        f"{run.already_watched} already watched, {run.shows_added} shows added, "
        f"{run.conflicts_raised} conflicts raised"
    )
    if run.episodes_held:
        text += f" ({run.episodes_held} episodes wait for them)"
    skipped = sum(run.skipped.values())
    if skipped:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(run.skipped.items()))
        text += f", {skipped} skipped ({reasons})"
    return text


# Plex keeps nothing older; and a date before it breaks on the way (asyncpg stores
# 0001-01-01 00:00 UTC as -infinity and reads it back naive, `timestamp()` refuses year 1).
_OLDEST = datetime(1970, 1, 1, tzinfo=UTC)


def _check_mode(mode: str, since: datetime | None) -> datetime | None:
    """The `since` to record: checked against the mode; a date before 1970 means all."""
    if mode not in ("incremental", "full", "since"):
        raise InvalidInputError(f"unknown sync mode {mode!r}")
    if (mode == "since") != (since is not None):
        raise InvalidInputError("a date is needed with 'since', and only with it")
    return max(since, _OLDEST) if since is not None else None
