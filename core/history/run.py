"""One history sync run for one user and server: what to read, in what order, and how far
it got.

What is read, and why (the result is the union):

1. The owner's library state, when the owner is among the followed accounts: each show
   section's shows (`viewedLeafCount`, `lastViewedAt`, and the `Guid` list, so a show's
   ids cost no extra request), then the episodes (`allLeaves`) of the shows whose
   `lastViewedAt` moved since the last run. Plex keeps `viewCount`/`lastViewedAt` for the
   owner only, but it holds what the history may not: "Mark as played", and plays from
   before the history was cleared. The file names here also reveal multi-episode files.
   Progress is kept per show (`plex_sync_shows`), in the transaction that marked it.
2. The history of every followed account, newest first, from the account's watermark
   (minus OVERLAP): the only record of shared and Home accounts' plays and of media since
   deleted, and the earliest date of each play. Progress is kept per account
   (`plex_sync_cursors`): after each page, in the same transaction, where to resume; at the
   end the watermark moves to the newest play seen. Paging is by offset; plays added
   meanwhile push rows down, so a resumed run may read a few twice (harmless: marking is
   idempotent) and never skips one.

Memory stays flat in the library's size: shows, episodes and plays are read a page at a
time and applied before the next page is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clients.errors import NotFound
from core.clients.plex_library import (
    HistoryPlay,
    LibraryEpisode,
    LibraryShow,
    Page,
    PlexLibraryClient,
    PlexSection,
    ServerAccount,
)
from core.db import sync_state
from core.db.plex_config import PlexConfig
from core.db.pool import Conn
from core.history.apply import BatchApplier
from core.history.plan import (
    Watch,
    at,
    epoch,
    history_watches,
    library_watches,
    plex_show,
    same_file,
)
from core.history.ratings import store_library_ratings
from core.history.server import PlexServerTarget
from core.payload import PlexWebhook
from core.services.intake import is_followed_account
from core.services.matching import PlexShow

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)  # re-read this much before the watermark: late-recorded plays
SHOW_PAGE = 500
EPISODE_PAGE = 1000
HISTORY_PAGE = 1000
SHOWS_PER_BATCH = 25  # shows whose episodes are marked in one transaction
FETCH_CONCURRENCY = 4  # allLeaves requests in flight at once


class SyncInterrupted(Exception):
    """The process is shutting down: the run stops between two batches."""


@dataclass(frozen=True)
class RunSpec:
    user_id: int
    mode: str  # incremental, full, since
    since: datetime | None = None
    dry_run: bool = False


def is_followed(account: ServerAccount, config: PlexConfig) -> bool:
    """Exactly the webhook path's rule (`is_followed_account`), for a server account."""
    hook = PlexWebhook.model_validate(
        {"event": "media.scrobble", "Account": {"id": account.id, "title": account.name}}
    )
    return is_followed_account(hook, config)


def section_excluded(section: PlexSection, excluded: Iterable[str]) -> bool:
    wanted = {e.strip().casefold() for e in excluded if e.strip()}
    return section.key.casefold() in wanted or section.title.casefold() in wanted


class Reader:
    """The server's library client bound to one server, counting this run's requests."""

    def __init__(self, library: PlexLibraryClient, target: PlexServerTarget) -> None:
        self._library = library
        self.target = target
        self.requests = 0

    def _count(self) -> tuple[str, str]:
        self.requests += 1
        return self.target.url, self.target.token

    async def accounts(self) -> list[ServerAccount]:
        return await self._library.accounts(*self._count())

    async def sections(self) -> list[PlexSection]:
        return await self._library.sections(*self._count())

    async def shows(self, section: str, start: int) -> tuple[list[LibraryShow], int | None, bool]:
        page = await self._library.shows(*self._count(), section, start=start, size=SHOW_PAGE)
        return page.items, page.total, page.last(start, SHOW_PAGE)

    async def episodes(self, show_key: str) -> list[LibraryEpisode]:
        found: list[LibraryEpisode] = []
        start = 0
        while True:
            page = await self._library.episodes(
                *self._count(), show_key, start=start, size=EPISODE_PAGE
            )
            found += page.items
            if page.last(start, EPISODE_PAGE):
                return found
            start += page.read

    async def show(self, key: str) -> LibraryShow | None:
        try:
            return await self._library.show(*self._count(), key)
        except NotFound:
            return None

    async def history(self, account: str, since: datetime | None, start: int) -> Page[HistoryPlay]:
        return await self._library.history(
            *self._count(),
            account_id=account,
            since=epoch(since) if since is not None else None,
            start=start,
            size=HISTORY_PAGE,
        )


class HistoryRun:
    def __init__(
        self,
        *,
        spec: RunSpec,
        conn: Conn,
        config: PlexConfig,
        reader: Reader,
        applier: BatchApplier,
        excluded_sections: tuple[str, ...],
        stopping: asyncio.Event,
        report: Callable[[], Awaitable[None]],
    ) -> None:
        self.spec = spec
        self._conn = conn
        self._config = config
        self._reader = reader
        self._applier = applier
        self.counts = applier.counts
        self._excluded = excluded_sections
        self._stopping = stopping
        self._report = report
        self._server = reader.target.machine_id
        self._shows_seen: set[str] = set()
        self._show_info: dict[str, PlexShow | None] = {}
        # Multi-episode files by episode rating key, and the shows whose files were read.
        self._same_file: dict[str, tuple[int, ...]] = {}
        self._files_read: set[str] = set()

    async def execute(self) -> None:
        accounts = [a for a in await self._reader.accounts() if a.id != "0"]
        followed = sorted(
            (a for a in accounts if is_followed(a, self._config)),
            key=lambda a: (len(a.id), a.id),
        )
        sections = await self._reader.sections()
        excluded = {s.key for s in sections if section_excluded(s, self._excluded)}
        shows = [s for s in sections if s.type == "show" and s.key not in excluded]
        log.info(
            "user %d: sync %s of server %s: %d show sections, following %d accounts",
            self.spec.user_id,
            self.spec.mode,
            self._server,
            len(shows),
            len(followed),
        )
        if any(a.id == "1" for a in followed):
            self.counts.phase, self.counts.progress_done, self.counts.progress_total = (
                "library",
                0,
                0,
            )
            for section in shows:
                await self._library_section(section)
        self.counts.phase, self.counts.progress_done, self.counts.progress_total = "history", 0, 0
        for account in followed:
            await self._history(account, excluded)
        await self._progress()

    async def _progress(self) -> None:
        self.counts.shows_seen = len(self._shows_seen)
        self.counts.plex_requests = self._reader.requests
        await self._report()

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise SyncInterrupted

    # -- 1. the owner's library state ----------------------------------------------------
    async def _library_section(self, section: PlexSection) -> None:
        spec = self.spec
        start = 0
        while True:
            self._check_stop()
            items, total, last = await self._reader.shows(section.key, start)
            if start == 0:
                self.counts.progress_total = (self.counts.progress_total or 0) + (
                    total if total is not None else len(items)
                )
            watched = [s for s in items if s.viewed_leaf_count > 0 and s.last_viewed_at]
            marks = (
                await sync_state.show_marks(
                    self._conn, spec.user_id, self._server, [s.rating_key for s in watched]
                )
                if spec.mode == "incremental"
                else {}
            )
            todo: list[LibraryShow] = []
            older: list[tuple[str, datetime]] = []
            for show in watched:
                assert show.last_viewed_at is not None
                seen_at = at(show.last_viewed_at)
                if spec.mode == "since" and spec.since is not None and seen_at < spec.since:
                    older.append((show.rating_key, seen_at))  # considered: nothing that new
                elif spec.mode != "incremental" or marks.get(show.rating_key, at(0)) < seen_at:
                    todo.append(show)
            if older and not spec.dry_run:
                await sync_state.set_show_marks(self._conn, spec.user_id, self._server, older)
            self.counts.progress_done += len(items) - len(todo)
            for i in range(0, len(todo), SHOWS_PER_BATCH):
                await self._library_batch(todo[i : i + SHOWS_PER_BATCH])
            await self._progress()
            if last or not items:
                return
            start += len(items)

    async def _library_batch(self, batch: list[LibraryShow]) -> None:
        self._check_stop()
        episodes = await self._episodes_of(batch)
        since = self.spec.since if self.spec.mode == "since" else None
        watches: list[Watch] = []
        for show, found in zip(batch, episodes, strict=True):
            self._files_read.add(show.rating_key)
            before = len(watches)
            for episode in found:
                extra = same_file(episode)
                if extra:
                    self._same_file[episode.rating_key] = extra
                watches += library_watches(show, episode, since)
            if len(watches) > before:
                self._shows_seen.add(show.rating_key)
        shows = {s.rating_key: plex_show(s) for s in batch}
        marks = [(s.rating_key, at(s.last_viewed_at or 0)) for s in batch]
        user, server = self.spec.user_id, self._server

        async def done(conn: Conn) -> None:
            await sync_state.set_show_marks(conn, user, server, marks)
            await store_library_ratings(conn, user, batch, episodes)

        await self._applier.apply(self._conn, watches, shows=shows, bookkeeping=done)
        self.counts.progress_done += len(batch)
        await self._progress()

    async def _episodes_of(self, shows: list[LibraryShow]) -> list[list[LibraryEpisode]]:
        """Each show's episodes, in order, at most FETCH_CONCURRENCY requests in flight; the
        first failure cancels the rest."""
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(show: LibraryShow) -> list[LibraryEpisode]:
            async with gate:
                return await self._reader.episodes(show.rating_key)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(s)) for s in shows]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the first failure says what went wrong
        return [t.result() for t in tasks]

    # -- 2. the history ------------------------------------------------------------------
    async def _history(self, account: ServerAccount, excluded: set[str]) -> None:
        spec, user = self.spec, self.spec.user_id
        cursor = await sync_state.cursor(self._conn, user, self._server, account.id)
        newest: datetime | None = None
        offset = 0
        if spec.mode == "full":
            since = None
        elif spec.mode == "since":
            since = spec.since
        elif cursor.resuming:
            since, offset, newest = (
                cursor.resume_since,
                cursor.resume_offset or 0,
                cursor.resume_newest,
            )
            log.info("user %d: resuming account %s's history at %d", user, account.id, offset)
        elif cursor.watermark is not None:
            since = cursor.watermark - OVERLAP
        else:
            since = None  # never synced: everything
        first = True
        while True:
            self._check_stop()
            page = await self._reader.history(account.id, since, offset)
            if first:
                self.counts.progress_total = (self.counts.progress_total or 0) + max(
                    (page.total if page.total is not None else page.read) - offset, 0
                )
                first = False
            watches: list[Watch] = []
            skipped: dict[str, int] = {}
            await self._learn_files(page.items, account)
            for play in page.items:
                newest = max(newest, at(play.viewed_at)) if newest else at(play.viewed_at)
                found = history_watches(play, excluded_sections=excluded, same_file=self._same_file)
                if isinstance(found, str):
                    skipped[found] = skipped.get(found, 0) + 1
                else:
                    watches += found
            shows = await self._infos(w.show_key for w in watches if w.show_key)
            self._shows_seen.update(w.show_key for w in watches if w.show_key)
            next_offset = offset + page.read
            done = self._resume_at(account.id, next_offset, since, newest)
            await self._applier.apply(self._conn, watches, shows=shows, bookkeeping=done)
            for reason, n in skipped.items():
                self.counts.skip(reason, n)
            self.counts.progress_done += page.read
            await self._progress()
            last = page.last(offset, HISTORY_PAGE)
            offset = next_offset
            if last or not page.read:
                break
        if not spec.dry_run:
            await sync_state.complete(self._conn, user, self._server, account.id, newest)

    def _resume_at(
        self, account_id: str, offset: int, since: datetime | None, newest: datetime | None
    ) -> Callable[[Conn], Awaitable[None]]:
        """Bookkeeping for a history page: saved in the transaction that applied it."""
        user, server = self.spec.user_id, self._server

        async def save(conn: Conn) -> None:
            await sync_state.save_resume(
                conn, user, server, account_id, offset=offset, since=since, newest=newest
            )

        return save

    async def _infos(self, keys: Iterable[str]) -> dict[str, PlexShow | None]:
        """Metadata (ids, year) of the page's Plex shows that are not mapped yet, each read
        from the server once per run."""
        unmapped = await self._applier.unmapped(self._conn, keys)
        for key in unmapped:
            if key not in self._show_info:
                found = await self._reader.show(key)
                self._show_info[key] = plex_show(found) if found is not None else None
        return {k: self._show_info[k] for k in unmapped}

    async def _learn_files(self, plays: list[HistoryPlay], account: ServerAccount) -> None:
        """Another account's plays carry no file name: read the files of their shows (once
        per run) so a multi-episode file marks all its episodes for them too. The owner's
        plays need none: the library pass has read their files."""
        if account.id == "1":
            return
        for key in sorted({p.show_key for p in plays if p.show_key and p.type == "episode"}):
            if key in self._files_read:
                continue
            self._files_read.add(key)
            try:
                episodes = await self._reader.episodes(key)
            except NotFound:
                continue
            for episode in episodes:
                extra = same_file(episode)
                if extra:
                    self._same_file[episode.rating_key] = extra
