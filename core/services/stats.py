"""The dashboard numbers (the seed's stats page) for /plex status and `plex-tracker status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.db import plex_config, stats, users
from core.db.pool import Pool
from core.errors import InvalidInputError, NotFoundError

STATUSES = ("success", "failed", "ignored", "duplicate", "pending")
BANDS = ("exact", "high", "medium", "low", "manual", "ignored")


@dataclass(frozen=True)
class UserStats:
    user_id: int
    user_name: str
    days: int
    connected: bool  # a Plex token is stored
    enabled: bool
    plex_username: str | None
    conflicts_channel_id: int | None  # None: DMs
    last_webhook_at: datetime | None
    counts: dict[str, int]  # every status in STATUSES, zero when absent
    episodes_marked: int
    shows_added: int
    mean_ms: float | None  # processing only
    p95_ms: float | None
    queue_wait_mean_ms: float | None  # time in the queue before processing
    queue_wait_p95_ms: float | None
    held: int  # scrobbles that waited behind a conflict, and for how long on average
    held_wait_mean_ms: float | None
    mappings: dict[str, int]  # every band in BANDS
    open_conflicts: int
    retried: int = 0  # settled after a failed attempt, and how long from arrival on average
    retried_wait_mean_ms: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def state(self) -> str:
        if not self.connected:
            return "not connected"
        return "connected" if self.enabled else "paused"


MAX_DAYS = 3650  # ten years; far more overflows PostgreSQL's timestamps


def check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInputError(f"days must be from 1 to {MAX_DAYS}")


class StatsService:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def for_user(self, user_id: int, *, days: int = 30) -> UserStats:
        check_days(days)
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            user = await users.by_id(conn, user_id)
            if user is None:
                raise NotFoundError("no such user")
            config = await plex_config.get(conn, user_id)
            window = await stats.webhook_window(conn, user_id, days)
            added = await stats.shows_added(conn, user_id, days)
            bands = await stats.mappings_by_band(conn, user_id)
            conflicts = await stats.open_conflicts(conn, user_id)
        return UserStats(
            user_id=user.id,
            user_name=user.name,
            days=days,
            connected=config is not None and config.plex_token is not None,
            enabled=config is not None and config.enabled,
            plex_username=config.plex_username if config else None,
            conflicts_channel_id=config.notify_channel_id if config else None,
            last_webhook_at=window.last_webhook_at,
            counts={s: window.counts.get(s, 0) for s in STATUSES},
            episodes_marked=window.episodes_marked,
            shows_added=added,
            mean_ms=window.mean_ms,
            p95_ms=window.p95_ms,
            queue_wait_mean_ms=window.queue_wait_mean_ms,
            queue_wait_p95_ms=window.queue_wait_p95_ms,
            held=window.held,
            held_wait_mean_ms=window.held_wait_mean_ms,
            mappings={b: bands.get(b, 0) for b in BANDS},
            open_conflicts=conflicts,
            retried=window.retried,
            retried_wait_mean_ms=window.retried_wait_mean_ms,
        )

    async def all_users(self, *, days: int = 30) -> list[UserStats]:
        check_days(days)
        async with self._pool.acquire() as conn:
            ids = await stats.user_ids(conn)
        return [await self.for_user(i, days=days) for i in ids]


def human_duration(ms: float | None) -> str:
    """120 ms, 3.4 s, 12 min, 5 h 3 min, 2 d 4 h: waits range from milliseconds to days."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def timing_lines(s: UserStats) -> list[tuple[str, str]]:
    """(label, value) for the dashboard: processing apart from waiting."""
    if s.mean_ms is None or s.p95_ms is None:
        return [("processing", "nothing processed yet")]
    lines = [
        ("processing", f"mean {human_duration(s.mean_ms)} · p95 {human_duration(s.p95_ms)}"),
        (
            "waiting in the queue",
            f"mean {human_duration(s.queue_wait_mean_ms)} · "
            f"p95 {human_duration(s.queue_wait_p95_ms)}",
        ),
    ]
    if s.held:
        lines.append(
            (
                "waiting behind conflicts",
                f"{s.held} scrobbles, mean {human_duration(s.held_wait_mean_ms)}",
            )
        )
    if s.retried:
        lines.append(
            (
                "retried after a failure",
                f"{s.retried} scrobbles, mean {human_duration(s.retried_wait_mean_ms)} "
                "from arrival",
            )
        )
    return lines
