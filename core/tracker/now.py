"""Now watching: the followed Plex accounts' current playback, from the latest
media.play/pause/resume/stop (and scrobble) event per account and player.

Plex sends no progress beats, only state changes, so a session is taken as over when its
last event is a stop, or when it has gone quiet for longer than what was left of the item
(plus a grace period), so a lost `media.stop` does not leave someone "watching" for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError

from core.db import now_playing as now_db
from core.db.plex_config import PlexConfig
from core.db.pool import Conn
from core.payload import PlexWebhook
from core.services.intake import is_followed_account

WINDOW = timedelta(hours=6)  # how far back events are read: longer than any film
GRACE = timedelta(minutes=10)
PAUSED_FOR = timedelta(hours=2)  # a pause longer than this is someone who walked away
UNKNOWN_LENGTH = timedelta(hours=3)


@dataclass(frozen=True)
class NowPlaying:
    account: str
    player: str | None
    state: Literal["playing", "paused"]
    media_type: str  # episode, movie, track, ...
    title: str  # the show (episodes) or the item
    episode_code: str | None  # S02E03
    episode_title: str | None
    year: int | None
    position_ms: int | None
    duration_ms: int | None
    since: datetime  # the event that set this state


def describe_session(
    event: str, hook: PlexWebhook, at: datetime, now: datetime
) -> NowPlaying | None:
    """What an account is doing on a player, from its latest event; None when it's over."""
    if event == "media.stop":
        return None
    meta = hook.metadata
    if meta is None:
        return None
    state: Literal["playing", "paused"] = "paused" if event == "media.pause" else "playing"
    duration = meta.duration if meta.duration and meta.duration > 0 else None
    offset = meta.view_offset if meta.view_offset and meta.view_offset > 0 else 0
    if duration is not None:
        offset = min(offset, duration)
    elapsed = max(now - at, timedelta(0))
    if state == "paused":
        if elapsed > PAUSED_FOR:
            return None
        position = offset
    else:
        left = timedelta(milliseconds=duration - offset) if duration else UNKNOWN_LENGTH
        if elapsed > left + GRACE:
            return None
        position = offset + int(elapsed.total_seconds() * 1000)
        if duration is not None:
            position = min(position, duration)
    is_episode = meta.type == "episode"
    code = None
    if is_episode and meta.parent_index is not None and meta.index is not None:
        code = f"S{meta.parent_index:02d}E{meta.index:02d}"
    account = hook.account
    return NowPlaying(
        account=(account.title or account.id or "?") if account else "?",
        player=hook.player.title if hook.player else None,
        state=state,
        media_type=meta.type or "unknown",
        title=(meta.grandparent_title if is_episode else meta.title) or meta.title or "?",
        episode_code=code,
        episode_title=meta.title if is_episode else None,
        year=meta.year,
        position_ms=position if duration is not None or offset else None,
        duration_ms=duration,
        since=at,
    )


async def now_playing(
    conn: Conn, user_id: int, config: PlexConfig, now: datetime
) -> list[NowPlaying]:
    """Sessions of the accounts this user follows (as the webhook path follows them)."""
    sessions: list[NowPlaying] = []
    for item in await now_db.latest_per_player(conn, user_id, now - WINDOW):
        try:
            hook = PlexWebhook.model_validate(item.payload)
        except ValidationError:
            continue  # a row the intake kept as-is; not ours to judge here
        if config.server_uuid and (hook.server is None or hook.server.uuid != config.server_uuid):
            continue
        if not is_followed_account(hook, config):
            continue
        session = describe_session(item.event, hook, item.at, now)
        if session is not None:
            sessions.append(session)
    sessions.sort(key=lambda s: (s.state != "playing", -s.since.timestamp(), s.account))
    return sessions
