"""SQL for "now watching": the latest playback event (media.play/pause/resume/stop and the
scrobble near the end) per Plex account and player, read from recent `plex_webhook_logs`
rows. Those rows are stored by the intake anyway (as `ignored`); nothing here writes, so a
playback event never becomes tracker history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db.pool import Conn

PLAYBACK_EVENTS = ("media.play", "media.pause", "media.resume", "media.stop", "media.scrobble")
SCAN_LIMIT = 500  # newest rows looked at: a flood of events can't make this slow


@dataclass(frozen=True)
class PlaybackEvent:
    log_id: int
    event: str
    at: datetime
    payload: dict[str, Any]  # the fields "now watching" needs, in Plex's shape


async def latest_per_player(conn: Conn, user_id: int, since: datetime) -> list[PlaybackEvent]:
    rows = await conn.fetch(
        """SELECT DISTINCT ON (account_key, player_key) id, event_type, created_at, slim
           FROM (SELECT l.id, l.event_type, l.created_at,
                        COALESCE(l.payload -> 'Account' ->> 'id',
                                 l.payload -> 'Account' ->> 'title', '?') AS account_key,
                        COALESCE(l.payload -> 'Player' ->> 'uuid',
                                 l.payload -> 'Player' ->> 'title', '?') AS player_key,
                        jsonb_build_object(
                            'event', l.event_type,
                            'Account', l.payload -> 'Account',
                            'Server', l.payload -> 'Server',
                            'Player', l.payload -> 'Player',
                            'Metadata', jsonb_strip_nulls(jsonb_build_object(
                                'type', l.payload -> 'Metadata' -> 'type',
                                'librarySectionType',
                                    l.payload -> 'Metadata' -> 'librarySectionType',
                                'guid', l.payload -> 'Metadata' -> 'guid',
                                'title', l.payload -> 'Metadata' -> 'title',
                                'grandparentTitle', l.payload -> 'Metadata' -> 'grandparentTitle',
                                'grandparentRatingKey',
                                    l.payload -> 'Metadata' -> 'grandparentRatingKey',
                                'parentIndex', l.payload -> 'Metadata' -> 'parentIndex',
                                'index', l.payload -> 'Metadata' -> 'index',
                                'year', l.payload -> 'Metadata' -> 'year',
                                'duration', l.payload -> 'Metadata' -> 'duration',
                                'viewOffset', l.payload -> 'Metadata' -> 'viewOffset'))) AS slim
                 FROM plex_webhook_logs l
                 WHERE l.user_id = $1 AND l.created_at >= $2 AND l.event_type = ANY($3::text[])
                   AND jsonb_typeof(l.payload) = 'object'
                 ORDER BY l.created_at DESC, l.id DESC
                 LIMIT $4) recent
           ORDER BY account_key, player_key, created_at DESC, id DESC""",
        user_id,
        since,
        list(PLAYBACK_EVENTS),
        SCAN_LIMIT,
    )
    return [PlaybackEvent(r["id"], r["event_type"], r["created_at"], r["slim"]) for r in rows]
