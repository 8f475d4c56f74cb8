"""Now watching: the followed Plex accounts' current playback, from the latest
media.play/pause/resume/stop (and scrobble) event per account and player.

Plex sends no progress beats, only state changes, so a session is taken as over when its
last event is a stop, or when it has gone quiet for longer than what was left of the item
(plus a grace period), so a lost `media.stop` does not leave someone "watching" for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

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


def _millis(value: Any) -> int:
    """Plex's duration and viewOffset (milliseconds); anything else counts as unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 2**40:
        return 0
    return int(value)


def describe_session(
    event: str, hook: PlexWebhook, at: datetime, now: datetime, *, duration: int, offset: int
) -> NowPlaying | None:
    """What an account is doing on a player, from its latest event; None when it's over.
    `duration` and `offset` are the item's length and position in milliseconds (0: unknown)."""
    if event == "media.stop":
        return None
    meta = hook.metadata
    if meta is None:
        return None
    state: Literal["playing", "paused"] = "paused" if event == "media.pause" else "playing"
    if duration:
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
        if duration:
            position = min(position, duration)
    media_type = meta.media_type or "unknown"
    is_episode = media_type == "episode"
    code = None
    if is_episode and meta.season is not None and meta.episode is not None:
        code = f"S{meta.season:02d}E{meta.episode:02d}"
    account = hook.account
    return NowPlaying(
        account=(account.title or account.id or "?") if account else "?",
        player=hook.player.title if hook.player else None,
        state=state,
        media_type=media_type,
        title=(meta.grandparent_title if is_episode else meta.title) or meta.title or "?",
        episode_code=code,
        episode_title=meta.title if is_episode else None,
        year=meta.year,
        position_ms=position if duration or offset else None,
        duration_ms=duration or None,
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
        sent = item.payload.get("Metadata")
        meta = sent if isinstance(sent, dict) else {}
        session = describe_session(
            item.event,
            hook,
            item.at,
            now,
            duration=_millis(meta.get("duration")),
            offset=_millis(meta.get("viewOffset")),
        )
        if session is not None:
            sessions.append(session)
    sessions.sort(key=lambda s: (s.state != "playing", -s.since.timestamp(), s.account))
    return sessions
