"""Plex `media.rate` webhooks: the user's rating lands on the tracker's show or episode.

The value is the event's top-level `rating` (0-10, Plex's half stars; some servers and
relays put it in `Metadata.userRating` instead). -1, 0 or no value at all means the rating
was cleared. Anything else outside 0-10, or not a finite number, is bad input: a 400 and
nothing changes.

The Plex item is found the way watches are: the Plex show's mapping first, then the show's
own ids (a show's `Guid` list, a legacy agent's guid); a Plex show the tracker doesn't know
is not added for a rating. Season ratings have nowhere to go and are ignored with a reason.
Called by the intake before the log row is written, so the row records what happened.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from core.db import mappings, ratings, tvshows
from core.db.plex_config import PlexConfig
from core.db.pool import Conn, Pool
from core.db.tvshows import Show
from core.guid import ids_from_guid_list, parse_guid
from core.payload import PlexWebhook

log = logging.getLogger(__name__)

RATE_EVENT = "media.rate"
MAX_RATING = 10.0


@dataclass(frozen=True)
class RatingVerdict:
    status: str  # success, ignored, failed
    action: str  # rating_saved, rating_cleared, rating_unmatched, ignored_*, invalid_payload
    reason: str | None
    tvshow_id: int | None = None


class BadRating(ValueError):
    pass


def rating_value(hook: PlexWebhook, raw: dict[str, Any] | None = None) -> float | None:
    """The rating to store (None: cleared); BadRating when it can't be a rating."""
    unreadable = hook.unreadable  # what the payload parser could not read, by field
    for field in ("rating", "Metadata.userRating"):
        if field in unreadable:  # "lots", NaN, 1e999: not a rating, not a clearing either
            raise BadRating(f"{field}: {unreadable[field]}")
    # The JSON as sent, not the model's coercion of it: `true` is not a rating of 1.
    value: Any = _sent(raw.get("rating")) if raw is not None else hook.rating
    if value is None and raw is not None:
        meta = raw.get("Metadata")
        value = _sent(meta.get("userRating")) if isinstance(meta, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRating(f"rating must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise BadRating("rating must be a number") from None
    if not math.isfinite(number):
        raise BadRating("rating must be a finite number")
    if number <= 0:
        return None  # -1 (Plex's "unrated") or 0: cleared
    if number > MAX_RATING:
        raise BadRating(f"rating {number:g} is outside 0-10")
    return round(number, 1)


def _sent(value: Any) -> Any:
    """Templated relays render a missing value as "" (as the payload model reads it too)."""
    return None if isinstance(value, str) and not value.strip() else value


async def record_rating(
    pool: Pool,
    user_id: int,
    config: PlexConfig,
    hook: PlexWebhook,
    raw: dict[str, Any] | None,
    *,
    followed: bool,
) -> RatingVerdict:
    """Store the rating a media.rate webhook carries; `followed` is whether the intake
    counts this Plex account (another account's rating must not overwrite the user's)."""
    if config.server_uuid and (hook.server is None or hook.server.uuid != config.server_uuid):
        return RatingVerdict("ignored", "ignored_server", "server not followed")
    if not followed:
        return RatingVerdict("ignored", "ignored_account", "account not followed")
    try:
        value = rating_value(hook, raw)
    except BadRating as exc:
        return RatingVerdict("failed", "invalid_payload", str(exc))
    meta = hook.metadata
    kind = meta.media_type if meta else None
    if meta is None or kind not in ("show", "episode"):
        what = f"{kind} ratings are" if kind else "a rating without Metadata is"
        return RatingVerdict("ignored", "ignored_media_type", f"{what} not tracked")
    async with pool.acquire() as conn, conn.transaction():
        show = await _tracker_show(conn, user_id, hook, raw)
        if show is None:
            return RatingVerdict(
                "ignored", "rating_unmatched", "this Plex show is not in the tracker (yet)"
            )
        if kind == "show":
            await ratings.set_show_rating(conn, user_id, show.id, value)
            where = show.title
        else:
            season, number = meta.season, meta.episode
            if season is None or number is None:
                return RatingVerdict(
                    "failed", "invalid_payload", "Metadata lacks parentIndex, index"
                )
            found = await ratings.set_episode_rating(conn, user_id, show.id, season, number, value)
            where = f"{show.title} S{season:02d}E{number:02d}"
            if not found:
                return RatingVerdict(
                    "ignored", "rating_unmatched", f"{where} is not in the tracker (yet)", show.id
                )
    action = "rating_cleared" if value is None else "rating_saved"
    log.info("user %d: %s %s (%s)", user_id, action, where, value)
    return RatingVerdict("success", action, None, show.id)


async def _tracker_show(
    conn: Conn, user_id: int, hook: PlexWebhook, raw: dict[str, Any] | None
) -> Show | None:
    meta = hook.metadata
    assert meta is not None
    is_show = meta.media_type == "show"
    show_key = meta.rating_key if is_show else meta.plex_show_key
    if show_key:
        mapping = await mappings.get(conn, user_id, show_key)
        if mapping is not None:
            if not mapping.sync_enabled or mapping.tvshow_id is None:
                return None
            return await tvshows.get(conn, user_id, mapping.tvshow_id)
    # The show's own ids: a show's Guid list is its own (an episode's is the episode's, so
    # for an episode only the legacy agents' guids can say which show it is).
    if is_show:
        ids = ids_from_guid_list(_guid_list(raw))
        if not ids.has_ids:
            ids = parse_guid(meta.guid)
    else:
        ids = meta.show_guid
    if not ids.has_ids:
        return None
    return await tvshows.by_external_id(
        conn, user_id, tmdb_id=ids.tmdb_id, tvdb_id=ids.tvdb_id, imdb_id=ids.imdb_id
    )


def _guid_list(raw: dict[str, Any] | None) -> list[str]:
    """`Metadata.Guid[].id` as sent (the payload model keeps only what scrobbles need)."""
    meta = raw.get("Metadata") if raw else None
    guids = meta.get("Guid") if isinstance(meta, dict) else None
    if not isinstance(guids, list):
        return []
    return [g["id"] for g in guids[:50] if isinstance(g, dict) and isinstance(g.get("id"), str)]
