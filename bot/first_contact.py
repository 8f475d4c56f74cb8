"""After /plex connect: edit the reply once Plex's first event arrives ("Plex reached
plex-tracker: media.play from <player>"), so the owner knows the set-up works."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from core.db.pool import Pool
from core.services.first_contact import FirstContact, describe

log = logging.getLogger(__name__)

# An interaction's token (needed to edit an ephemeral reply) lasts 15 minutes.
WATCH_SECONDS = 14 * 60


class FirstContactWatcher:
    def __init__(self, pool: Pool, *, within: float = WATCH_SECONDS) -> None:
        self._first = FirstContact(pool=pool)
        self._within = within
        self._tasks: set[asyncio.Task[None]] = set()

    async def mark(self, user_id: int) -> int:
        return await self._first.mark(user_id)

    def watch(
        self, user_id: int, since: int, message: discord.WebhookMessage, content: str
    ) -> None:
        task = asyncio.create_task(self._edit_when_reached(user_id, since, message, content))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _edit_when_reached(
        self, user_id: int, since: int, message: discord.WebhookMessage, content: str
    ) -> None:
        arrival = await self._first.wait(user_id, since, within=self._within)
        if arrival is None:
            return
        try:
            await message.edit(content=f"{content}\n✅ {describe(arrival)}")
        except discord.HTTPException as exc:  # the token expired, the message is gone
            log.info("user %d: could not edit the connect reply (%s)", user_id, exc)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
