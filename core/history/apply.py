"""Applying a batch of watches: which tracker show each Plex show is, then marking.

The same cascade as the webhook path (core/services/matching.py and conflicts.py): an
existing mapping, an open conflict to queue behind, ids, TMDB find, auto-add, fuzzy title,
else a conflict. A show is resolved once per batch with one query for all mapped ones (so
a page of plays costs a handful of statements, not one per play), and only a show not
mapped yet goes through the rest of the cascade. Its episodes are then marked with one
`plex_mark_episodes` call for the whole batch; an uncertain show's episodes wait behind its
one conflict (`plex_history_held`) and are marked when it is resolved.

A batch is one transaction, together with the caller's bookkeeping (how far the run got),
so a crash replays a batch rather than losing or half-applying it. A dry run resolves each
show inside a savepoint it rolls back and only reads the episodes' state: the tracker is
left exactly as it was.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import asyncpg

from core.clients.errors import NotFound, Unauthorized, UpstreamError
from core.db import conflicts as conflict_rows
from core.db import history_held, history_marks, mappings, tvshows
from core.db.conflicts import Conflict
from core.db.plex_config import PlexConfig
from core.db.pool import Conn
from core.db.sync_runs import RunCounts
from core.db.tvshows import Show
from core.history.plan import (
    GONE_UNMAPPED,
    NOT_IN_TRACKER,
    SHOW_IGNORED,
    SHOW_NOT_ON_TMDB,
    SHOW_TMDB_ERROR,
    Watch,
)
from core.services.conflicts import ConflictService
from core.services.matching import IgnoredShow, Matched, Matcher, PlexShow
from core.services.shows import ShowCatalog

log = logging.getLogger(__name__)

DEADLOCK_RETRIES = 3
# Looks up a Plex show's metadata (ids, year) by rating key; None when Plex no longer has it.
ShowInfo = Callable[[str], Awaitable[PlexShow | None]]
Bookkeeping = Callable[[Conn], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    """What a Plex show's watches do in this batch."""

    kind: str  # show, held, ignored, refused (by TMDB), gone (no metadata on Plex any more)
    show_id: int | None = None  # negative: a show a dry run would add
    conflict_id: int | None = None  # None with kind held: a conflict a dry run would raise
    added: bool = False
    raised: bool = False
    why: str = ""  # refused: the skip reason


def must_wait(exc: UpstreamError) -> bool:
    """An error that later may not give (TMDB down, rate limited, or refusing our key until
    it is fixed): what needs TMDB waits for it rather than being skipped for good."""
    return exc.retryable or isinstance(exc, Unauthorized)


class _Rollback(Exception):
    """Undoes a dry run's resolution (its savepoint)."""


class BatchApplier:
    """Applies batches for one user's run; `counts` is the run's tally."""

    def __init__(
        self,
        *,
        matcher: Matcher,
        conflicts: ConflictService,
        catalog: ShowCatalog,
        user_id: int,
        config: PlexConfig,
        counts: RunCounts,
        dry_run: bool,
    ) -> None:
        self._matcher = matcher
        self._conflicts = conflicts
        self._catalog = catalog
        self._user_id = user_id
        self._config = config
        self.counts = counts
        self._dry_run = dry_run
        self._refreshed: set[tuple[int, int]] = set()  # (show, season) asked of TMDB this run
        self._dry_targets: dict[str, Target] = {}  # a dry run writes no mapping: remember
        self._dry_held: set[tuple[str, int, int]] = set()
        self._dry_titles: dict[str, int] = {}  # casefolded Plex title -> show a dry run mapped
        self._refused: dict[str, Target] = {}  # Plex shows TMDB refused, asked once per run
        self._skipped: set[tuple[str, str, int, int]] = set()
        self._next_pseudo = -1

    async def unmapped(self, conn: Conn, show_keys: Iterable[str]) -> list[str]:
        """Of these Plex shows, those without a usable mapping yet (they need metadata)."""
        keys = sorted(set(show_keys))
        if not keys:
            return []
        found = await mappings.targets(conn, self._user_id, keys)
        return [
            k
            for k in keys
            if k not in self._dry_targets
            and (k not in found or (found[k][0] is None and found[k][1]))
        ]

    async def apply(
        self,
        conn: Conn,
        watches: list[Watch],
        *,
        shows: Mapping[str, PlexShow | None],
        bookkeeping: Bookkeeping | None = None,
    ) -> None:
        """Resolve and mark one batch, with the caller's bookkeeping, in one transaction.
        `shows` holds the metadata of the batch's unmapped shows (None: gone from Plex)."""
        for attempt in range(DEADLOCK_RETRIES):
            tally = RunCounts()
            skipped, refreshed = set(self._skipped), set(self._refreshed)
            try:
                async with conn.transaction():
                    await self._apply(conn, watches, shows, tally)
                    if bookkeeping is not None and not self._dry_run:
                        await bookkeeping(conn)
            except asyncpg.DeadlockDetectedError:
                # A webhook batch marking the same show locked rows in another order; the
                # batch was rolled back whole, so doing it again is safe.
                log.warning("user %d: sync batch deadlocked, retrying", self._user_id)
                self._skipped, self._refreshed = skipped, refreshed
                if attempt + 1 == DEADLOCK_RETRIES:
                    raise
                continue
            self._add(tally)
            return

    def _skip(
        self,
        tally: RunCounts,
        reason: str,
        show: str,
        episodes: Iterable[Watch | history_marks.Marked],
    ) -> None:
        """Count each skipped episode once per run, however many plays it had."""
        for e in episodes:
            key = (reason, show, e.season, e.episode)
            if key not in self._skipped:
                self._skipped.add(key)
                tally.skip(reason)

    def _add(self, tally: RunCounts) -> None:
        c = self.counts
        c.episodes_marked += tally.episodes_marked
        c.already_watched += tally.already_watched
        c.shows_added += tally.shows_added
        c.conflicts_raised += tally.conflicts_raised
        c.episodes_held += tally.episodes_held
        for reason, n in tally.skipped.items():
            c.skip(reason, n)

    async def _apply(
        self,
        conn: Conn,
        watches: list[Watch],
        shows: Mapping[str, PlexShow | None],
        tally: RunCounts,
    ) -> None:
        by_show: dict[str, list[Watch]] = defaultdict(list)
        by_title: dict[str, list[Watch]] = defaultdict(list)
        for w in watches:
            if w.show_key is not None:
                by_show[w.show_key].append(w)
            elif w.show_title:
                by_title[w.show_title.lower()].append(w)
        targets = await self._targets(conn, sorted(by_show), shows, tally)
        for key, target in list(targets.items()):
            if target.kind == "gone":
                # Plex has no metadata for the show any more: fall back to its title.
                del targets[key]
                for w in by_show.pop(key):
                    if w.show_title:
                        by_title[w.show_title.lower()].append(w)
                    else:
                        self._skip(tally, GONE_UNMAPPED, key, [w])
        marks: list[history_marks.Mark] = []
        if by_title:
            found = await mappings.shows_by_title(conn, self._user_id, sorted(by_title))
            for title, group in by_title.items():
                show_id = found.get(title)
                if show_id is None and self._dry_run:
                    show_id = self._dry_titles.get(title)  # mapped by this dry run, unwritten
                if show_id is None:
                    self._skip(tally, GONE_UNMAPPED, title, group)
                    continue
                marks += [(show_id, w.season, w.episode, w.watched_at) for w in group]
        for key, group in by_show.items():
            target = targets[key]
            if target.kind == "ignored":
                self._skip(tally, SHOW_IGNORED, key, group)
            elif target.kind == "refused":
                self._skip(tally, target.why, key, group)
            elif target.kind == "held":
                await self._hold(conn, key, target, group, tally)
            else:
                assert target.show_id is not None
                marks += [(target.show_id, w.season, w.episode, w.watched_at) for w in group]
        await self._mark(conn, marks, tally)

    # -- which show ----------------------------------------------------------------------
    async def _targets(
        self,
        conn: Conn,
        keys: list[str],
        shows: Mapping[str, PlexShow | None],
        tally: RunCounts,
    ) -> dict[str, Target]:
        found = await mappings.targets(conn, self._user_id, keys) if keys else {}
        out: dict[str, Target] = {}
        for key in keys:
            if key in self._dry_targets:
                out[key] = self._dry_targets[key]
                continue
            show_id, enabled = found.get(key, (None, True))
            if not enabled:
                out[key] = Target("ignored")
            elif show_id is not None:
                out[key] = Target("show", show_id)
            elif key in self._refused:
                out[key] = self._refused[key]
            else:
                out[key] = await self._resolve(conn, key, shows.get(key), tally)
        return out

    async def _resolve(
        self, conn: Conn, key: str, plex: PlexShow | None, tally: RunCounts
    ) -> Target:
        """The cascade for a Plex show without a mapping, in its own savepoint."""
        held = await self._conflicts.held_behind(conn, self._user_id, key)
        if held is not None:
            return Target("held", conflict_id=held)
        if plex is None:
            return Target("gone")
        try:
            async with conn.transaction():
                target = await self._cascade(conn, plex)
                if self._dry_run:
                    self._dry_targets[key] = target
                    if target.kind == "show" and target.show_id is not None:
                        self._dry_titles[plex.title.lower()] = target.show_id
                    raise _Rollback
        except _Rollback:
            pass
        except UpstreamError as exc:
            if must_wait(exc):
                raise  # TMDB or Plex down, or our TMDB key refused: the run resumes here later
            # TMDB refused this one (an id it doesn't know): skip the show, say why.
            log.info("user %d: Plex show %r skipped: %s", self._user_id, plex.title, exc)
            why = SHOW_NOT_ON_TMDB if isinstance(exc, NotFound) else SHOW_TMDB_ERROR
            refused = self._refused[key] = Target("refused", why=why)
            return refused
        if target.added:
            tally.shows_added += 1
        if target.raised:
            tally.conflicts_raised += 1
        return target

    async def _cascade(self, conn: Conn, plex: PlexShow) -> Target:
        result = await self._matcher.match_known(conn, self._user_id, self._config, plex)
        if isinstance(result, IgnoredShow):
            return Target("ignored")
        if not isinstance(result, Matched):
            settled = await self._conflicts.handle_unmatched(conn, self._user_id, result.plex, None)
            if isinstance(settled, Matched):
                result = settled
            else:
                log.info(
                    "user %d: sync holds Plex show %r behind conflict %d",
                    self._user_id,
                    plex.title,
                    settled.conflict_id,
                )
                return Target(
                    "held",
                    conflict_id=None if self._dry_run else settled.conflict_id,
                    raised=settled.created,
                )
        show_id = result.show.id
        if self._dry_run and result.added:
            show_id, self._next_pseudo = self._next_pseudo, self._next_pseudo - 1
        return Target("show", show_id, added=result.added)

    # -- marking and holding ---------------------------------------------------------------
    async def _hold(
        self, conn: Conn, key: str, target: Target, group: list[Watch], tally: RunCounts
    ) -> None:
        if self._dry_run or target.conflict_id is None:
            fresh = {(key, w.season, w.episode) for w in group} - self._dry_held
            self._dry_held |= fresh
            tally.episodes_held += len(fresh)
            return
        tally.episodes_held += await history_held.hold(
            conn,
            user_id=self._user_id,
            conflict_id=target.conflict_id,
            show_key=key,
            episodes=[(w.season, w.episode, w.watched_at) for w in group],
        )

    async def _mark(self, conn: Conn, marks: list[history_marks.Mark], tally: RunCounts) -> None:
        if not marks:
            return
        if self._dry_run:
            self._tally(await history_marks.peek(conn, marks), tally)
            return
        # Episodes the tracker doesn't know yet: their seasons are asked of TMDB (once per
        # run) before the marks lock any show; what is still unknown is skipped and counted.
        unknown = await history_marks.unknown_seasons(conn, marks)
        if unknown:
            await self._refresh(conn, unknown)
        await history_marks.say_history(conn)
        self._tally(await history_marks.mark(conn, marks), tally)

    def _tally(self, results: list[history_marks.Marked], tally: RunCounts) -> None:
        for r in results:
            if r.was_watched is None:
                self._skip(tally, NOT_IN_TRACKER, str(r.tvshow_id), [r])
            elif not r.was_watched:
                if r.first_time or not self._dry_run:
                    tally.episodes_marked += 1
            elif r.first_time:
                tally.already_watched += 1

    async def _refresh(self, conn: Conn, seasons: set[tuple[int, int]]) -> bool:
        todo = sorted(seasons - self._refreshed)
        self._refreshed |= seasons
        changed = False
        for show_id, season in todo:
            show = await tvshows.get(conn, self._user_id, show_id)
            if show is None:
                continue
            try:
                changed = bool(await self._catalog.refresh_season(conn, show, season)) or changed
            except UpstreamError as exc:
                if must_wait(exc):
                    # TMDB down: skipping would lose the episode for good (the watermarks
                    # move past it); the run fails and the next one resumes this batch.
                    raise
                log.info(
                    "user %d: TMDB refresh of show %d season %d failed: %s",
                    self._user_id,
                    show_id,
                    season,
                    exc,
                )
        return changed


async def apply_held(
    conn: Conn, catalog: ShowCatalog, conflict: Conflict, show: Show | None
) -> tuple[int, int]:
    """A conflict was resolved: mark (or, when ignored, drop) the history episodes held
    behind it, in the resolution's transaction. Returns (held, newly marked)."""
    held, marked, _ = await settle_held(conn, catalog, conflict, show)
    return held, marked


async def settle_held(
    conn: Conn, catalog: ShowCatalog, conflict: Conflict, show: Show | None
) -> tuple[int, int, int]:
    """Mark what waits behind a resolved conflict on `show` (None: drop it). An episode of a
    season the tracker lacks and TMDB could not give now (down, rate limited) stays held
    behind the conflict for the retry job: dropping it would lose it for good, as the
    sync's watermarks have moved past its play. Returns (held, newly marked, kept)."""
    held = await history_held.take(conn, conflict.id)
    if not held or show is None:
        return len(held), 0, 0
    marks = [(show.id, h.season, h.episode, h.watched_at) for h in held]
    # Seasons the tracker lacks are asked of TMDB first, before the marks lock the show.
    waiting: set[int] = set()
    for _, season in sorted(await history_marks.unknown_seasons(conn, marks)):
        try:
            await catalog.refresh_season(conn, show, season)
        except UpstreamError as exc:
            if must_wait(exc):
                waiting.add(season)
            log.info("conflict %d: TMDB refresh of season %d failed: %s", conflict.id, season, exc)
    await history_marks.say_history(conn)  # after the webhook replays: these are history's
    results = await history_marks.mark_once(conn, marks)
    unknown = {(r.season, r.episode) for r in results if r.was_watched is None}
    keep = [h for h in held if (h.season, h.episode) in unknown and h.season in waiting]
    if keep:
        await history_held.hold(
            conn,
            user_id=conflict.user_id,
            conflict_id=conflict.id,
            show_key=conflict.plex_rating_key,
            episodes=[(h.season, h.episode, h.watched_at) for h in keep],
        )
        log.info(
            "conflict %d: %d held episodes of %r wait for TMDB (the retry job marks them)",
            conflict.id,
            len(keep),
            show.title,
        )
    missing = len(unknown) - len(keep)
    if missing:
        log.warning(
            "conflict %d: %d held episodes of %r are not in the tracker; not marked",
            conflict.id,
            missing,
            show.title,
        )
    newly = sum(1 for r in results if r.was_watched is False)
    return len(held), newly, len(keep)


async def settle_stranded(
    conn: Conn, catalog: ShowCatalog, limit: int = 100
) -> list[tuple[int, int, int]]:
    """The retry job's safety net: history episodes still held behind a resolved conflict
    are marked through the Plex show's mapping now (or dropped when it is ignored), one
    conflict per transaction. Returns (conflict id, user id, episodes settled) of each."""
    done: list[tuple[int, int, int]] = []
    for conflict_id in await history_held.behind_resolved(conn, limit):
        async with conn.transaction():
            conflict = await conflict_rows.get(conn, conflict_id, for_update=True)
            if conflict is None or not conflict.resolved:
                continue
            show = await _show_now(conn, conflict)
            held, _, kept = await settle_held(conn, catalog, conflict, show)
        if held > kept:
            done.append((conflict.id, conflict.user_id, held - kept))
    return done


async def _show_now(conn: Conn, conflict: Conflict) -> Show | None:
    """Where the conflict's Plex show goes today: its mapping (remapped or ignored since
    the resolution), else the show the resolution chose."""
    key = conflict.plex_rating_key
    show_id, enabled = (await mappings.targets(conn, conflict.user_id, [key])).get(
        key, (conflict.resolved_tvshow_id, True)
    )
    if show_id is None or not enabled:
        return None
    return await tvshows.get(conn, conflict.user_id, show_id)
