"""The owner's ratings the history sync reads with the library (`userRating` on shows and
episodes), stored on the tracker's shows and episodes the Plex shows map to, in the batch's
transaction. A rating Plex doesn't list is left as it is: the library is the owner's view,
and a rating may have come from another followed account's `media.rate`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.clients.plex_library import LibraryEpisode, LibraryShow
from core.db import mappings, ratings
from core.db.pool import Conn

log = logging.getLogger(__name__)


async def store_library_ratings(
    conn: Conn,
    user_id: int,
    shows: Sequence[LibraryShow],
    episodes: Sequence[Sequence[LibraryEpisode]],
) -> None:
    """`episodes[i]` are the episodes of `shows[i]`, as the library listed them."""
    rated = [
        (show, [e for e in found if e.user_rating is not None])
        for show, found in zip(shows, episodes, strict=True)
    ]
    rated = [(show, eps) for show, eps in rated if show.user_rating is not None or eps]
    if not rated:
        return
    targets = await mappings.targets(conn, user_id, [show.rating_key for show, _ in rated])
    show_ratings: dict[int, float] = {}
    episode_ratings: dict[tuple[int, int, int], float] = {}
    for show, eps in rated:
        tvshow_id, enabled = targets.get(show.rating_key, (None, False))
        if tvshow_id is None or not enabled:
            continue  # not (yet) a tracker show: waiting behind a conflict, or ignored
        if show.user_rating is not None:
            show_ratings[tvshow_id] = show.user_rating
        for e in eps:
            if e.season is not None and e.index is not None and e.user_rating is not None:
                episode_ratings[(tvshow_id, e.season, e.index)] = e.user_rating
    changed = await ratings.set_show_ratings(conn, user_id, show_ratings)
    changed += await ratings.set_episode_ratings(conn, user_id, episode_ratings)
    if changed:
        log.info("user %d: history sync stored %d ratings from Plex", user_id, changed)
