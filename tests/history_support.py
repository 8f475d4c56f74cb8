"""Shared by the history sync tests: a tracker library and the same shows on the fake Plex
server, and queries that check what got marked."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.plex_server import FakeEpisode, FakePlexServer
from tests.harness import Daemon

DAY = 86_400
# Plays happened in the past, a day apart per show, so "earliest wins" is visible.
T0 = int(time.time()) - 400 * DAY


@dataclass
class PlexShowFixture:
    key: str
    title: str
    tmdb_id: int | None
    episodes: dict[tuple[int, int], FakeEpisode] = field(default_factory=dict)

    def ep(self, season: int, number: int) -> FakeEpisode:
        return self.episodes[(season, number)]


def tracker_show(
    title: str, year: int | None, tmdb_id: int | None, seasons: dict[int, int], **extra: Any
) -> dict[str, Any]:
    show: dict[str, Any] = {
        "title": title,
        "seasons": [
            {
                "season_number": s,
                "episodes": [{"episode_number": n, "runtime": 30} for n in range(1, count + 1)],
            }
            for s, count in sorted(seasons.items())
        ],
        **extra,
    }
    if year is not None:
        show["year"] = year
    if tmdb_id is not None:
        show["tmdb_id"] = tmdb_id
    return show


def plex_show(
    plex: FakePlexServer,
    key: str | int,
    title: str,
    year: int | None,
    seasons: dict[int, int],
    *,
    tmdb_id: int | None = None,
    guid: str | None = None,
    guids: list[str] | None = None,
    section_id: int = 2,
) -> PlexShowFixture:
    """A show on the fake server (the current agent: ids in its Guid list) with episodes."""
    ids = guids if guids is not None else ([f"tmdb://{tmdb_id}"] if tmdb_id else [])
    plex.add_show(key, title, year, guids=ids, guid=guid, section_id=section_id)
    fixture = PlexShowFixture(str(key), title, tmdb_id)
    for season, count in sorted(seasons.items()):
        for n in range(1, count + 1):
            fixture.episodes[(season, n)] = plex.add_episode(key, season, n)
    return fixture


async def watched(daemon: Daemon, user_id: int, title: str) -> list[tuple[int, int]]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode FROM tvshow_episodes e JOIN tvshows s ON s.id = e.tvshow_id
           WHERE s.user_id = $1 AND s.title = $2 AND e.watched ORDER BY 1, 2""",
        user_id,
        title,
    )
    return [(r["season"], r["episode"]) for r in rows]


async def watch_dates(daemon: Daemon, user_id: int, title: str) -> dict[tuple[int, int], int]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode, EXTRACT(EPOCH FROM e.date_watched)::bigint AS at
           FROM tvshow_episodes e JOIN tvshows s ON s.id = e.tvshow_id
           WHERE s.user_id = $1 AND s.title = $2 AND e.watched""",
        user_id,
        title,
    )
    return {(r["season"], r["episode"]): int(r["at"]) for r in rows}


async def totals_consistent(daemon: Daemon, user_id: int) -> list[Any]:
    """Shows whose counters disagree with their episode rows (should be none)."""
    return await daemon.fetch(
        """SELECT s.id, s.title, s.watched_episodes, s.total_minutes, agg.n, agg.minutes
           FROM tvshows s JOIN (
               SELECT tvshow_id, count(*) FILTER (WHERE watched) AS n,
                      COALESCE(sum(runtime) FILTER (WHERE watched), 0) AS minutes
               FROM tvshow_episodes GROUP BY tvshow_id) agg ON agg.tvshow_id = s.id
           WHERE s.user_id = $1
             AND (s.watched_episodes <> agg.n OR s.total_minutes <> agg.minutes)""",
        user_id,
    )


def history_requests(plex: FakePlexServer) -> list[Any]:
    return plex.requests_to("/status/sessions/history/all")


def leaves_requests(plex: FakePlexServer) -> list[Any]:
    return [r for r in plex.requests if r.path.endswith("/allLeaves")]
