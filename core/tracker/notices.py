"""Queues the tracker's Discord notices: new episodes of followed shows (one message per
show per air date) and the opt-in weekly recap. Runs after the refresh job has fetched the
new episode lists; whichever process runs it, each notice is queued once (the unique keys
of tv_episode_notices and tv_recaps, written with their outbox rows in one statement)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.db import tv_notices
from core.db.pool import Conn

log = logging.getLogger(__name__)

# Episodes that aired today or yesterday (UTC): a refresh just after midnight, or a run
# missed while the service was down for a few hours, still announces yesterday's episode;
# older ones are history, not news.
LOOKBACK_DAYS = 1


@dataclass(frozen=True)
class Queued:
    new_episodes: int
    recaps: int

    def summary(self) -> str:
        return f"queued {self.new_episodes} new-episode notices and {self.recaps} weekly recaps"


def last_week_start(today: date) -> date:
    """Monday of the last full week (weeks run Monday to Sunday, UTC)."""
    return today - timedelta(days=today.weekday() + 7)


async def queue_due(conn: Conn, now: datetime) -> Queued:
    today = now.astimezone(UTC).date()
    async with conn.transaction():
        episodes = await tv_notices.queue_aired(conn, today - timedelta(days=LOOKBACK_DAYS), today)
        recaps = await tv_notices.queue_recaps(conn, last_week_start(today))
    queued = Queued(episodes, recaps)
    if episodes or recaps:
        log.info("tracker notices: %s", queued.summary())
    return queued
