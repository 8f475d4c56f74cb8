"""Multi-episode files in the webhook path: after a scrobble is marked, the other episodes
of its file.

A webhook names the episode, not its file, so this needs the episode's metadata from the
Plex server (`/library/metadata/{ratingKey}`: `Media[].Part[].file`). That must never fail
or delay the scrobble itself, so it runs after the scrobble's outcome is settled, in a
background task with a bounded queue, one item at a time:

- the scrobble's own episode is already marked; this only adds its file's other episodes
  (same rules: earliest date wins, totals counted under the episode locks);
- only a play clearly longer than the episode's runtime is asked about (a multi-episode
  file's items carry the whole file's duration); a normal-length play, or one without a
  duration or runtime to compare, costs no request; answers are cached per item;
- a server that does not answer puts that user on a short cooldown and the item is
  dropped: the scheduled history sync reads the same files from the library and marks
  the range within JOB_SYNC_SECONDS. A full queue drops items the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from core.clients._cache import TtlCache
from core.clients.errors import NotFound, UpstreamError
from core.clients.plex_library import PlexLibraryClient
from core.crypto import CryptoError
from core.db import history_marks, plex_config, tvshows, webhook_logs
from core.db.pool import DATABASE_DOWN, Pool
from core.history.multi_episode import also_watched
from core.history.server import PlexServerTarget, ServerAccess

log = logging.getLogger(__name__)

COOLDOWN_SECONDS = 300.0
TARGET_TTL = 600.0
SETTLE_TRIES = 10
# A play this many times longer than the episode's runtime is probably of a multi-episode
# file (Plex gives each of its episodes the whole file's duration); shorter ones need no
# request. Without a duration (some relays) or a runtime, the scheduled sync sees to it.
LONGER = 1.5

Item = tuple[int, int, int]  # log id, user id, tracker show id


class MultiEpisodeFollowUp:
    def __init__(
        self,
        *,
        pool: Pool,
        library: PlexLibraryClient,
        servers: ServerAccess,
        max_queue: int = 1000,
    ) -> None:
        self._pool = pool
        self._library = library
        self._servers = servers
        self._queue: asyncio.Queue[Item] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._cooldown: dict[int, float] = {}  # user -> monotonic time it ends
        self._targets: dict[tuple[int, str | None], tuple[float, PlexServerTarget]] = {}
        # (user, item) -> the other episodes of its file (usually none)
        self._files: TtlCache[tuple[int, str], tuple[int, ...]] = TtlCache(
            ttl=3600, max_entries=20_000
        )
        self.marked = 0  # extra episodes marked (tests, logs)

    def submit(self, log_id: int, user_id: int, tvshow_id: int) -> None:
        """A scrobble was marked: look at its file later. Never blocks, never raises."""
        if self._cooldown.get(user_id, 0.0) > time.monotonic():
            return
        try:
            self._queue.put_nowait((log_id, user_id, tvshow_id))
        except asyncio.QueueFull:
            log.debug("multi-episode follow-up queue full; webhook %d left to the sync", log_id)
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._consume(), name="multi-episode-follow-up")

    async def drain(self) -> None:
        """Until everything submitted so far is handled (tests)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._handle(*item)
            except DATABASE_DOWN as exc:
                log.info("multi-episode follow-up of webhook %d: database down (%s)", item[0], exc)
            except Exception:
                log.exception("multi-episode follow-up of webhook %d failed", item[0])
            finally:
                self._queue.task_done()

    async def _handle(self, log_id: int, user_id: int, tvshow_id: int) -> None:
        if self._cooldown.get(user_id, 0.0) > time.monotonic():
            return
        async with self._pool.acquire() as conn:
            for attempt in range(SETTLE_TRIES):
                # Told just before the scrobble's own transaction commits: wait for it.
                item = await webhook_logs.scrobbled_item(conn, log_id)
                if item is None or item.status != "pending":
                    break
                await asyncio.sleep(0.05 * (attempt + 1))
            if item is None or item.status != "success" or item.item_key is None:
                return
            if item.season is None or item.episode is None:
                return
            runtime = await tvshows.episode_runtime(conn, tvshow_id, item.season, item.episode)
            config = await plex_config.get(conn, user_id)
        if config is None or not config.plex_token:
            return
        if not item.duration_ms or not runtime:
            return  # no length to compare (a relay, a show without runtimes): the sync's
        if item.duration_ms < LONGER * runtime * 60_000:
            return  # one episode long: a file of one episode (no request needed)
        item_key, season, episode = item.item_key, item.season, item.episode
        try:
            cached = self._files.get((user_id, item_key))
            if cached is None:
                target = await self._target(user_id, config, item.server_uuid)
                found = await self._library.episode(target.url, target.token, item_key)
                cached = (
                    also_watched(found.files, season, episode)
                    if (found.season, found.index) == (season, episode)
                    else ()
                )
                self._files.set((user_id, item_key), cached)
        except NotFound:
            return
        except (UpstreamError, CryptoError) as exc:
            self._cooldown[user_id] = time.monotonic() + COOLDOWN_SECONDS
            log.info(
                "webhook %d: the Plex server could not say whether its file holds more "
                "episodes (%s); the scheduled history sync will",
                log_id,
                exc,
            )
            return
        if not cached:
            return
        marks = [(tvshow_id, season, n, item.watched_at) for n in cached]
        async with self._pool.acquire() as conn, conn.transaction():
            results = await history_marks.mark_once(conn, marks)
        newly = sum(1 for r in results if r.was_watched is False)
        self.marked += newly
        log.info(
            "webhook %d user=%d: multi-episode file: S%02d E%s also watched (%d newly marked)",
            log_id,
            user_id,
            season,
            ",".join(f"{n:02d}" for n in cached),
            newly,
        )

    async def _target(
        self, user_id: int, config: plex_config.PlexConfig, server_uuid: str | None
    ) -> PlexServerTarget:
        key = (user_id, server_uuid)
        cached = self._targets.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        target = await self._servers.reach(user_id, config, server_uuid=server_uuid)
        self._targets[key] = (time.monotonic() + TARGET_TTL, target)
        return target
