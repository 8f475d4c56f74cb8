"""Delivers notification_outbox rows to Discord, exactly once: conflicts (with their buttons)
and scrobbles that failed for good after every retry.

Rows are claimed with FOR UPDATE SKIP LOCKED inside a transaction that stays open while
the message is sent and is committed with the message's ids, so two bots (or a restart
mid-send) never post the same conflict twice and a conflict raised while Discord was down
or the bot was off is posted once it is back. Runs on READY and every few seconds after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord

from bot import embeds
from bot.conflict_views import conflict_view
from bot.sync_views import sync_failed_embed
from core.db import conflicts, outbox, plex_config, sync_runs, users, webhook_logs
from core.db.conflicts import Conflict
from core.db.outbox import Notification
from core.db.pool import Conn
from core.history.service import NOTICE_KIND

if TYPE_CHECKING:
    from bot.client import PlexBot

log = logging.getLogger(__name__)

KINDS = ("conflict", "failure", NOTICE_KIND)
# Failures while connected are mostly permanent (DMs closed, channel gone, no permission);
# stop retrying after this many so one bad row costs nothing. /plex conflicts still shows it.
MAX_ATTEMPTS = 10


class OutboxNotifier:
    def __init__(self, bot: PlexBot, *, interval: float = 5.0, batch: int = 20) -> None:
        self._bot = bot
        self._interval = interval
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.delivered = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="discord-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Let a round in progress finish: cancelling between "sent" and "commit" would
        roll the delivery back and post the message again on the next start."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping or not self._bot.connected:
                continue
            try:
                await self.deliver_pending()
            except (OSError, TimeoutError) as exc:
                log.warning("outbox: database unavailable (%s); will retry", exc)
            except Exception:
                log.exception("outbox: delivery round failed")

    async def deliver_pending(self) -> int:
        """One round: everything deliverable now. Returns how many messages were sent."""
        sent = 0
        async with self._bot.services.pool.acquire() as conn, conn.transaction():
            claimed = await outbox.claim_for_discord(
                conn, kinds=KINDS, max_attempts=MAX_ATTEMPTS, limit=self._batch
            )
            for note in claimed:
                # A savepoint per row: one failure must not undo the others' "delivered".
                async with conn.transaction():
                    sent += await self._deliver(conn, note)
        self.delivered += sent
        return sent

    async def _deliver(self, conn: Conn, note: Notification) -> int:
        if note.kind == "failure":
            return await self._deliver_failure(conn, note)
        if note.kind == NOTICE_KIND:
            return await self._deliver_sync_failed(conn, note)
        conflict = await conflicts.get(conn, note.ref_id)
        if conflict is None or conflict.resolved:
            # Settled elsewhere (CLI, API) before we could ask: nothing left to say.
            await outbox.mark_delivered(conn, note.id, channel_id=None, message_id=None)
            return 0
        try:
            message = await self._send_conflict(conn, conflict)
        except discord.HTTPException as exc:
            log.warning(
                "outbox %d: conflict %d for user %d not delivered (attempt %d): %s",
                note.id,
                conflict.id,
                conflict.user_id,
                note.attempts + 1,
                exc,
            )
            await outbox.mark_failed(conn, note.id, f"{exc.status} {exc.text}"[:200])
            return 0
        await outbox.mark_delivered(
            conn, note.id, channel_id=message.channel.id, message_id=message.id
        )
        log.info(
            "outbox %d: conflict %d posted to user %d (channel %d, message %d)",
            note.id,
            conflict.id,
            conflict.user_id,
            message.channel.id,
            message.id,
        )
        return 1

    async def _deliver_failure(self, conn: Conn, note: Notification) -> int:
        entry = await webhook_logs.get(conn, note.ref_id)
        if entry is None or entry.status != "failed":
            # Pruned, or replayed successfully since: nothing left to report.
            await outbox.mark_delivered(conn, note.id, channel_id=None, message_id=None)
            return 0
        try:
            message = await self._send(conn, note.user_id, embeds.failure_embed(entry), None)
        except discord.HTTPException as exc:
            log.warning(
                "outbox %d: failure notice for user %d not delivered: %s",
                note.id,
                note.user_id,
                exc,
            )
            await outbox.mark_failed(conn, note.id, f"{exc.status} {exc.text}"[:200])
            return 0
        await outbox.mark_delivered(
            conn, note.id, channel_id=message.channel.id, message_id=message.id
        )
        log.info(
            "outbox %d: failure of webhook %d reported to user %d", note.id, entry.id, note.user_id
        )
        return 1

    async def _deliver_sync_failed(self, conn: Conn, note: Notification) -> int:
        """The Plex server refused the token during a history sync (told once)."""
        run = await sync_runs.get(conn, note.ref_id)
        if run is None:
            await outbox.mark_delivered(conn, note.id, channel_id=None, message_id=None)
            return 0
        try:
            message = await self._send(conn, note.user_id, sync_failed_embed(run), None)
        except discord.HTTPException as exc:
            log.warning(
                "outbox %d: sync notice for user %d not delivered: %s", note.id, note.user_id, exc
            )
            await outbox.mark_failed(conn, note.id, f"{exc.status} {exc.text}"[:200])
            return 0
        await outbox.mark_delivered(
            conn, note.id, channel_id=message.channel.id, message_id=message.id
        )
        log.info(
            "outbox %d: sync failure (run %d) reported to user %d", note.id, run.id, note.user_id
        )
        return 1

    async def _send_conflict(self, conn: Conn, conflict: Conflict) -> discord.Message:
        return await self._send(
            conn, conflict.user_id, embeds.conflict_embed(conflict), conflict_view(conflict)
        )

    async def _send(
        self, conn: Conn, user_id: int, embed: discord.Embed, view: discord.ui.View | None
    ) -> discord.Message:
        """To the user's chosen channel (mentioning them), else as a DM."""
        user = await users.by_id(conn, user_id)
        config = await plex_config.get(conn, user_id)
        assert user is not None and user.discord_id is not None  # claim_for_discord's filter
        if config is not None and config.notify_channel_id is not None:
            channel = await self._channel(config.notify_channel_id)
            return await channel.send(
                f"<@{user.discord_id}>",
                embed=embed,
                view=view or discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(user.discord_id)]
                ),
            )
        dm = await self._bot.create_dm(discord.Object(user.discord_id))
        return await dm.send(embed=embed, view=view or discord.utils.MISSING)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self._bot.get_channel(channel_id) or await self._bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise discord.InvalidData(f"channel {channel_id} cannot take messages")
        return channel

    async def edit_delivered(
        self, conflict: Conflict, embed: discord.Embed, *, skip_message_id: int | None = None
    ) -> None:
        """Show the outcome on the delivered notification, if there is one (best effort)."""
        async with self._bot.services.pool.acquire() as conn:
            where = await outbox.message_for(conn, "conflict", conflict.id)
        if where is None or where[1] == skip_message_id:
            return
        channel_id, message_id = where
        try:
            channel = self._bot.get_channel(channel_id)
            if channel is None:
                fetched = await self._bot.fetch_channel(channel_id)
                channel = fetched
            if not isinstance(channel, discord.abc.Messageable):
                return
            await channel.get_partial_message(message_id).edit(embed=embed, view=None)
        except discord.HTTPException as exc:
            log.warning("conflict %d: could not edit message %d: %s", conflict.id, message_id, exc)
