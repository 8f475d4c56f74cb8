"""Bringing shows and episodes in from TMDB: auto-add, and refreshing a season or a show."""

from __future__ import annotations

import logging

from core.clients.tmdb import TmdbClient, TmdbShow
from core.db import tvshows
from core.db.pool import Conn
from core.db.tvshows import EpisodeInput, Show, ShowInput

log = logging.getLogger(__name__)


class ShowCatalog:
    def __init__(self, *, tmdb: TmdbClient) -> None:
        self._tmdb = tmdb

    async def add_from_tmdb(
        self, conn: Conn, user_id: int, tmdb_id: int, *, source: str = "plex"
    ) -> tuple[Show, bool]:
        """The user's show for this TMDB id, added with every season's episodes if new.

        TMDB is read before any write, so a TMDB failure leaves the database untouched.
        """
        existing = await tvshows.by_external_id(conn, user_id, tmdb_id=tmdb_id)
        if existing is not None:
            return existing, False
        details = await self._tmdb.tv(tmdb_id)
        episodes = await self._episodes(details)
        show, created = await tvshows.upsert(conn, user_id, _show_input(details, source))
        await tvshows.upsert_episodes(conn, show.id, episodes)
        await tvshows.touch_refreshed(conn, show.id)
        log.info(
            "user %d: added show %d (tmdb %d) with %d episodes",
            user_id,
            show.id,
            tmdb_id,
            len(episodes),
        )
        refreshed = await tvshows.get(conn, user_id, show.id)
        assert refreshed is not None
        return refreshed, created

    async def refresh_season(self, conn: Conn, show: Show, season: int) -> int:
        """Fetch one season's episodes again (an episode was watched that we don't know)."""
        if show.tmdb_id is None or not self._tmdb.configured:
            return 0
        data = await self._tmdb.season(show.tmdb_id, season)
        eps = [
            EpisodeInput(season, e.episode_number, e.name, e.runtime, e.air_date)
            for e in data.episodes
        ]
        await tvshows.upsert_episodes(conn, show.id, eps)
        return len(eps)

    async def refresh_show(self, conn: Conn, show: Show) -> int:
        """Fetch the show and all its seasons again; returns the episode count after."""
        if show.tmdb_id is None:
            return show.total_episodes
        details = await self._tmdb.tv(show.tmdb_id)
        episodes = await self._episodes(details)
        await tvshows.upsert(conn, show.user_id, _show_input(details, show.source))
        total = await tvshows.upsert_episodes(conn, show.id, episodes)
        await tvshows.touch_refreshed(conn, show.id)
        return total

    async def _episodes(self, details: TmdbShow) -> list[EpisodeInput]:
        default_runtime = details.episode_run_time[0] if details.episode_run_time else None
        episodes: list[EpisodeInput] = []
        for summary in details.seasons:
            season = await self._tmdb.season(details.id, summary.season_number)
            episodes.extend(
                EpisodeInput(
                    summary.season_number,
                    e.episode_number,
                    e.name,
                    e.runtime or default_runtime,
                    e.air_date,
                )
                for e in season.episodes
            )
        return episodes


def _show_input(details: TmdbShow, source: str) -> ShowInput:
    return ShowInput(
        title=details.name,
        first_air_date=details.first_air_date,
        original_title=details.original_name if details.original_name != details.name else None,
        tmdb_id=details.id,
        tvdb_id=details.tvdb_id,
        imdb_id=details.imdb_id,
        status=details.status,
        in_production=details.in_production,
        poster_path=details.poster_path,
        source=source,
    )
