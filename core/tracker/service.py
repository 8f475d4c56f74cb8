"""TrackerService: every /tv action as one call, scoped to the caller's tracker user (a show
id from a button or an autocomplete is untrusted input: another user's id is "unknown")."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import get_args

import asyncpg

from core.clients.errors import NotFound, UpstreamError
from core.clients.tmdb import TmdbClient, TmdbShowSummary
from core.db import plex_config, tv_marks, tv_prefs, tv_progress, tvshows
from core.db.pool import Pool
from core.db.tv_marks import Scope
from core.db.tv_prefs import TvPrefs
from core.db.tv_progress import (
    EpisodeRef,
    PlexLink,
    SeasonProgress,
    ShowFilter,
    ShowProgress,
    ShowSort,
    UpNext,
    Watch,
    episode_code,
)
from core.errors import InvalidInputError, NotFoundError
from core.services.shows import ShowCatalog
from core.tracker.activity import Activity, RecapStats, activity_from, recap_from
from core.tracker.now import NowPlaying, now_playing

log = logging.getLogger(__name__)

PAGE_SIZE = 10
MAX_SEASON = 1000  # Plex and TMDB number seasons by year for some shows (2019, 2020...)
MAX_EPISODE = 100_000
DEADLOCK_RETRIES = 3
SHOW_FILTERS: tuple[str, ...] = get_args(ShowFilter)
SHOW_SORTS: tuple[str, ...] = get_args(ShowSort)
TITLE_IN_MESSAGE = 100
SOURCES = {"import": "imported", "plex": "Plex (auto-added)", "tmdb": "TMDB (/tv add)"}
WATCH_SOURCES = {"webhook": "Plex", "history": "Plex history sync", "manual": "manual"}
NOT_IN_TRACKER = "That show isn't in your tracker (any more)."


@dataclass(frozen=True)
class ShowPage:
    items: list[ShowProgress]
    page: int  # 0-based, clamped to the last page
    pages: int
    total: int
    show_filter: ShowFilter
    sort: ShowSort


@dataclass(frozen=True)
class ShowDetail:
    show: ShowProgress
    seasons: list[SeasonProgress]
    next: EpisodeRef | None
    upcoming: EpisodeRef | None
    last_watch: Watch | None
    plex: list[PlexLink]
    poster_url: str | None
    tmdb_url: str | None


@dataclass(frozen=True)
class AddResult:
    detail: ShowDetail
    created: bool


@dataclass(frozen=True)
class MarkResult:
    detail: ShowDetail
    watched: bool  # marked (True) or unmarked
    scope: Scope
    season: int
    episode: int
    targeted: int
    changed: int

    @property
    def what(self) -> str:
        if self.scope == "season":
            return f"season {self.season}"
        code = episode_code(self.season, self.episode)
        return f"everything up to {code}" if self.scope == "up_to" else code


@dataclass(frozen=True)
class History:
    days: int
    watches: list[Watch]
    total: int


class TrackerService:
    def __init__(
        self,
        *,
        pool: Pool,
        tmdb: TmdbClient,
        catalog: ShowCatalog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pool = pool
        self._tmdb = tmdb
        self._catalog = catalog
        self._clock = clock

    def _today(self) -> date:
        return self._clock().astimezone(UTC).date()

    # -- browsing ----------------------------------------------------------------------------

    async def shows(
        self,
        user_id: int,
        *,
        show_filter: ShowFilter = "all",
        sort: ShowSort = "recent",
        page: int = 0,
    ) -> ShowPage:
        if show_filter not in SHOW_FILTERS or sort not in SHOW_SORTS:
            raise InvalidInputError("Unknown filter or sort.")
        page, today = max(0, page), self._today()
        async with self._pool.acquire() as conn:

            async def read(page: int) -> tuple[list[ShowProgress], int]:
                return await tv_progress.list_shows(
                    conn,
                    user_id,
                    today,
                    show_filter=show_filter,
                    sort=sort,
                    limit=PAGE_SIZE,
                    offset=page * PAGE_SIZE,
                )

            items, total = await read(page)
            pages = max(1, math.ceil(total / PAGE_SIZE))
            if page >= pages:  # the list shrank since the buttons were drawn
                page = pages - 1
                items, total = await read(page)
        return ShowPage(items, page, pages, total, show_filter, sort)

    async def find_shows(self, user_id: int, text: str, limit: int = 25) -> list[ShowProgress]:
        async with self._pool.acquire() as conn:
            return await tv_progress.find_by_title(conn, user_id, text[:100], self._today(), limit)

    async def resolve_show(self, user_id: int, title: str) -> ShowProgress:
        """A show typed by title (not picked from the suggestions): an exact title, else the
        only show whose title contains the text; several candidates are named back."""
        text = title.strip()
        matches = await self.find_shows(user_id, text, 5) if text else []
        exact = [m for m in matches if m.title.casefold() == text.casefold()]
        if len(exact) == 1 or len(matches) == 1:
            return (exact or matches)[0]
        if not matches:
            raise NotFoundError(
                f"No show called “{text[:80]}” in your tracker. `/tv add` adds one from TMDB."
            )
        names = ", ".join(
            f"“{_named(m.title)}”" + (f" ({m.year})" if m.year else "") for m in matches[:5]
        )
        raise NotFoundError(f"“{text[:80]}” could be {names}: pick one from the suggestions.")

    async def detail(self, user_id: int, show_id: int) -> ShowDetail:
        today = self._today()
        async with self._pool.acquire() as conn:
            show = await tv_progress.show(conn, user_id, show_id, today)
            if show is None:
                raise NotFoundError(NOT_IN_TRACKER)
            seasons = await tv_progress.seasons(conn, show_id, today)
            next_episode = await tv_progress.next_episode(conn, show_id, today)
            upcoming = await tv_progress.upcoming_episode(conn, show_id, today)
            last = await tv_progress.last_watch(conn, user_id, show_id)
            links = await tv_progress.plex_links(conn, user_id, show_id)
        poster = await self._tmdb.poster_url(show.poster_path)
        tmdb_url = f"https://www.themoviedb.org/tv/{show.tmdb_id}" if show.tmdb_id else None
        return ShowDetail(show, seasons, next_episode, upcoming, last, links, poster, tmdb_url)

    async def up_next(self, user_id: int, limit: int = 10) -> list[UpNext]:
        async with self._pool.acquire() as conn:
            return await tv_progress.up_next(conn, user_id, self._today(), limit)

    async def history(self, user_id: int, days: int, limit: int = 25) -> History:
        if not 1 <= days <= 3650:
            raise InvalidInputError("days must be between 1 and 3650.")
        since = self._clock() - timedelta(days=days)
        async with self._pool.acquire() as conn:
            watches, total = await tv_progress.history(conn, user_id, since, limit=limit)
        return History(days, watches, total)

    async def now_watching(self, user_id: int) -> list[NowPlaying]:
        async with self._pool.acquire() as conn:
            config = await plex_config.get(conn, user_id)
            if config is None:
                return []
            return await now_playing(conn, user_id, config, self._clock())

    # -- adding ------------------------------------------------------------------------------

    async def search_tmdb(self, query: str, limit: int = 10) -> list[TmdbShowSummary]:
        query = query.strip()[:100]
        if not query:
            return []
        if not self._tmdb.configured:
            raise InvalidInputError(
                "TMDB is not configured here (TMDB_API_KEY), so shows can't be added by name."
            )
        year = None
        words = query.rsplit(" ", 1)
        # "Doctor Who 2005" or "Doctor Who (2005)": a trailing year narrows the search.
        if len(words) == 2 and words[1].strip("()").isdigit() and len(words[1].strip("()")) == 4:
            query, year = words[0], int(words[1].strip("()"))
        try:
            results = await self._tmdb.search_tv(query, year)
        except UpstreamError as exc:
            raise InvalidInputError(
                f"TMDB search failed ({exc.message}); try again later."
            ) from None
        return results[:limit]

    async def add_show(self, user_id: int, tmdb_id: int) -> AddResult:
        if not self._tmdb.configured:
            raise InvalidInputError(
                "TMDB is not configured here (TMDB_API_KEY), so shows can't be added."
            )
        if not 0 < tmdb_id < 2**31:
            raise InvalidInputError("That isn't a TMDB id.")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                show, created = await self._catalog.add_from_tmdb(
                    conn, user_id, tmdb_id, source="tmdb"
                )
        except NotFound:
            raise NotFoundError(f"TMDB has no TV show {tmdb_id}.") from None
        except UpstreamError as exc:
            raise InvalidInputError(
                f"TMDB could not be read ({exc.message}); nothing was added."
            ) from None
        except asyncpg.UniqueViolationError:
            # Added by a double click or another process a moment ago: that one stands.
            async with self._pool.acquire() as conn:
                found = await tvshows.by_external_id(conn, user_id, tmdb_id=tmdb_id)
            if found is None:
                raise
            show, created = found, False
        log.info(
            "user %d: /tv add tmdb %d -> show %d (new: %s)", user_id, tmdb_id, show.id, created
        )
        return AddResult(await self.detail(user_id, show.id), created)

    async def refresh_from_tmdb(self, user_id: int, show_id: int) -> tuple[ShowDetail, int]:
        """Fetch the show's episodes again, bypassing the cache; returns the detail and how
        many episodes are new."""
        async with self._pool.acquire() as conn:
            show = await tvshows.get(conn, user_id, show_id)
        if show is None:
            raise NotFoundError(NOT_IN_TRACKER)
        if show.tmdb_id is None:
            raise InvalidInputError(
                f"{_named(show.title)} has no TMDB id, so it can't be refreshed."
            )
        if not self._tmdb.configured:
            raise InvalidInputError("TMDB is not configured here (TMDB_API_KEY).")
        self._tmdb.forget_show(show.tmdb_id)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                total = await self._catalog.refresh_show(conn, show)
        except UpstreamError as exc:
            raise InvalidInputError(
                f"TMDB could not be read ({exc.message}); nothing changed."
            ) from None
        return await self.detail(user_id, show_id), max(0, total - show.total_episodes)

    # -- marking -----------------------------------------------------------------------------

    async def mark(
        self,
        user_id: int,
        show_id: int,
        *,
        watched: bool = True,
        scope: Scope = "episode",
        season: int | None = None,
        episode: int | None = None,
    ) -> MarkResult:
        """Mark (or unmark) by hand, recorded as 'manual'. Without season and episode: the
        next episode to watch (marking) or the last one watched (unmarking)."""
        if scope not in ("episode", "season", "up_to"):
            raise InvalidInputError("Unknown scope.")
        for name, value, top in (("season", season, MAX_SEASON), ("episode", episode, MAX_EPISODE)):
            if value is not None and not 0 <= value <= top:
                raise InvalidInputError(f"{name} must be between 0 and {top}.")
        detail = await self.detail(user_id, show_id)
        title = _named(detail.show.title)
        if scope != "season" and (season is None) != (episode is None):
            raise InvalidInputError("Give both season and episode (or neither, for the next one).")
        if season is None:
            default = detail.next if watched else _as_ref(detail.last_watch)
            if default is None:
                what = "nothing left to watch" if watched else "nothing watched yet"
                raise InvalidInputError(f"{title}: {what}. Name a season and episode.")
            season = default.season
            episode = default.episode if episode is None and scope != "season" else episode
        if scope != "season" and episode is None:
            raise InvalidInputError("Give an episode number.")
        number = episode if episode is not None else 0
        result = await self._set(show_id, scope, season, number, watched)
        if result.targeted == 0:
            thing = f"season {season}" if scope == "season" else episode_code(season, number)
            if scope == "season" and watched:
                thing += " (aired)"
            raise NotFoundError(
                f"{title} has no {thing} in the tracker. If it aired recently, "
                "“Refresh from TMDB” on `/tv show` fetches the new episode list."
            )
        log.info(
            "user %d: %s show %d %s %s/%s (%d of %d changed)",
            user_id,
            "marked" if watched else "unmarked",
            show_id,
            scope,
            season,
            number,
            result.changed,
            result.targeted,
        )
        return MarkResult(
            await self.detail(user_id, show_id),
            watched,
            scope,
            season,
            number,
            result.targeted,
            result.changed,
        )

    async def _set(
        self, show_id: int, scope: Scope, season: int, episode: int, watched: bool
    ) -> tv_marks.SetResult:
        # Every writer locks the show row before its episodes (sql/0008), so this should
        # never deadlock; if a writer ever doesn't, PostgreSQL aborts one side: try again.
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    return await tv_marks.set_watched(
                        conn,
                        show_id,
                        scope=scope,
                        season=season,
                        episode=episode,
                        watched=watched,
                        at=self._clock(),
                    )
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_RETRIES:
                    raise
                log.warning("show %d: marking deadlocked with the webhook path; retrying", show_id)
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    # -- notifications, abandoning -----------------------------------------------------------

    async def notify_settings(self, user_id: int) -> TvPrefs:
        async with self._pool.acquire() as conn:
            return await tv_prefs.get(conn, user_id)

    async def set_notify(
        self, user_id: int, *, new_episodes: bool | None = None, weekly_recap: bool | None = None
    ) -> TvPrefs:
        async with self._pool.acquire() as conn:
            return await tv_prefs.update(
                conn, user_id, new_episodes=new_episodes, weekly_recap=weekly_recap
            )

    async def set_show_notify(self, user_id: int, show_id: int, notify: bool) -> ShowDetail:
        async with self._pool.acquire() as conn:
            found = await tv_prefs.set_show_notify(conn, user_id, show_id, notify)
        if not found:
            raise NotFoundError(NOT_IN_TRACKER)
        return await self.detail(user_id, show_id)

    async def set_abandoned(self, user_id: int, show_id: int, abandoned: bool) -> ShowDetail:
        async with self._pool.acquire() as conn:
            found = await tv_prefs.set_abandoned(conn, user_id, show_id, abandoned)
        if not found:
            raise NotFoundError(NOT_IN_TRACKER)
        return await self.detail(user_id, show_id)

    # -- activity ----------------------------------------------------------------------------

    async def activity(self, user_id: int, days: int = 30) -> Activity:
        """Episodes and hours per day over the last `days` days (today included)."""
        end_day = self._today() + timedelta(days=1)
        start_day = end_day - timedelta(days=days)
        start = datetime.combine(start_day, datetime.min.time(), UTC)
        end = datetime.combine(end_day, datetime.min.time(), UTC)
        async with self._pool.acquire() as conn:
            counts = await tv_progress.daily_counts(conn, user_id, start, end)
        return activity_from(counts, start_day, days)

    async def recap(self, user_id: int, week_start: date) -> RecapStats:
        start = datetime.combine(week_start, datetime.min.time(), UTC)
        end = start + timedelta(days=7)
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            counts = await tv_progress.daily_counts(conn, user_id, start, end)
            finished = await tv_progress.finished_between(conn, user_id, start, end, self._today())
            days = await tv_progress.watch_days(conn, user_id, end)
        return recap_from(counts, week_start, finished, days)


def _named(title: str) -> str:
    """A show's title inside a message: titles are as long as an import file made them,
    and a Discord message holds 2,000 characters."""
    return title if len(title) <= TITLE_IN_MESSAGE else title[: TITLE_IN_MESSAGE - 1] + "…"


def _as_ref(watch: Watch | None) -> EpisodeRef | None:
    if watch is None:
        return None
    return EpisodeRef(watch.season, watch.episode, watch.title, None, watch.runtime)
