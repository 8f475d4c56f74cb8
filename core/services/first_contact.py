""" "Plex reached plex-tracker": the first webhook after a connect, for `connect --wait` and the
Discord connect reply. Read from the log rows intake writes anyway; intake is not involved."""

from __future__ import annotations

import asyncio
import time

from core.db import webhook_logs
from core.db.pool import DATABASE_DOWN, Pool
from core.db.webhook_logs import Arrival


def describe(arrival: Arrival) -> str:
    player = arrival.player or arrival.account or "an unknown player"
    text = f"Plex reached plex-tracker: {arrival.event_type or 'a webhook'} from {player}"
    if arrival.status == "failed" and arrival.event_type is None:
        text += f" (but its body was refused: {arrival.error_message})"
    return text


class FirstContact:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def mark(self, user_id: int) -> int:
        """Where the log stands now; only rows after this count as the first contact."""
        async with self._pool.acquire() as conn:
            return await webhook_logs.latest_id(conn, user_id)

    async def wait(
        self, user_id: int, after_id: int, *, within: float, poll: float = 0.5
    ) -> Arrival | None:
        """The first webhook row after `after_id`, or None when `within` seconds pass first."""
        deadline = time.monotonic() + within
        while True:
            try:
                async with self._pool.acquire() as conn:
                    found = await webhook_logs.first_after(conn, user_id, after_id)
                if found is not None:
                    return found
            except DATABASE_DOWN:
                pass  # the database restarting: keep waiting
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
