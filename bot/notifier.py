"""Delivers notification_outbox rows to Discord, exactly once: conflicts (with their buttons),
scrobbles that failed for good after every retry, a Plex server that stopped answering
(once per outage), and the tracker's new-episode notices and weekly recaps (built by
bot/tv/notices.py).

Each row is claimed (FOR UPDATE SKIP LOCKED) in a transaction of its own that stays open
while the message is sent and commits with the message's ids: two bots (or a restart
mid-send) never post the same message twice, and one failed send never undoes another's
"delivered". A conflict raised while Discord was down or the bot was off is posted once it
is back. Runs on READY and every few seconds after.

Failures are told apart, because they call for different things:
- Discord unreachable (network error, timeout, 5xx, 429): an outage. The row waits and the
  notifier backs off (up to OUTAGE_BACKOFF_FACTOR x the interval), for as long as it lasts;
  nothing is given up.
- Discord refuses for good (403: DMs closed, no access to the channel; 404: channel or user
  gone): the row is marked refused at once, /plex status says so, and choosing another
  destination in /plex settings re-arms it.
- Anything else Discord turns down (another 4xx): counted; given up after MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import aiohttp
import discord

from bot import embeds
from bot.conflict_views import conflict_view
from bot.sync_views import sync_failed_embed
from bot.tv import notices as tv_notices
from core.db import (
    conflicts,
    outbox,
    plex_config,
    server_problems,
    sync_runs,
    users,
    webhook_logs,
)
from core.db.conflicts import Conflict
from core.db.outbox import Notification
from core.db.pool import DATABASE_DOWN, Conn
from core.history.service import NOTICE_KIND

if TYPE_CHECKING:
    from bot.client import PlexBot

log = logging.getLogger(__name__)

KINDS = ("conflict", "failure", "server_problem", NOTICE_KIND, *tv_notices.KINDS)
# Refusals that are neither an outage nor final (a 400 for a message Discord won't take):
# one bad row must not cost forever. /plex conflicts still shows a conflict.
MAX_ATTEMPTS = 10
MISSING_PERMISSIONS = 50013  # Discord's code for a 403 over one permission, e.g. Attach Files
# During an outage the wait between tries doubles from the interval up to this many times
# it (5 s -> 100 s by default).
OUTAGE_BACKOFF_FACTOR = 20
# Errors that mean "Discord could not be reached", not "Discord said no". aiohttp's
# connection errors are OSErrors or ClientErrors depending on where they happen.
UNREACHABLE = (OSError, TimeoutError, aiohttp.ClientError, discord.RateLimited)


@dataclass(frozen=True)
class _Target:
    discord_user_id: int
    channel_id: int | None  # None: a DM


# What became of one claimed notification. "unreachable" ends the round and backs off.
Delivery = Literal["sent", "settled", "held", "unreachable"]


class OutboxNotifier:
    def __init__(self, bot: PlexBot, *, interval: float = 5.0, batch: int = 20) -> None:
        self._bot = bot
        self._interval = interval
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._outage_failures = 0
        self._resume_at = 0.0  # monotonic; no round before this during an outage
        self.delivered = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="discord-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Let a delivery in progress finish: cancelling between "sent" and "commit" would
        roll it back and post the message again on the next start."""
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

    def _backoff(self) -> float:
        """The wait after the n-th failed round in a row of an outage."""
        ceiling = self._interval * OUTAGE_BACKOFF_FACTOR
        return min(self._interval * 2.0 ** min(self._outage_failures - 1, 30), ceiling)

    async def _loop(self) -> None:
        while not self._stopping:
            wait = max(self._interval, self._resume_at - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if self._stopping or not self._bot.connected:
                continue
            if time.monotonic() < self._resume_at:
                continue  # woken during a backoff (a new conflict): Discord is still away
            try:
                await self.deliver_pending()
            except DATABASE_DOWN as exc:
                log.warning("outbox: database unavailable (%s); will retry", exc)
            except Exception:
                log.exception("outbox: delivery round failed")

    async def deliver_pending(self) -> int:
        """One round: everything deliverable now, one transaction per message. Returns how
        many messages were sent. An outage ends the round early (the rest would fail too)."""
        sent = 0
        for _ in range(self._batch):
            delivery = await self._deliver_next()
            if delivery is None:
                break
            if delivery == "unreachable":
                self._outage_failures += 1
                self._resume_at = time.monotonic() + self._backoff()
                break
            self._outage_failures = 0
            self._resume_at = 0.0
            if delivery == "sent":
                sent += 1
        self.delivered += sent
        return sent

    async def _deliver_next(self) -> Delivery | None:
        """Claim, send and mark one notification (what happened is committed, whatever it
        was); None when nothing is due."""
        async with self._bot.services.pool.acquire() as conn, conn.transaction():
            claimed = await outbox.claim_for_discord(
                conn, kinds=KINDS, max_attempts=MAX_ATTEMPTS, limit=1
            )
            if not claimed:
                return None
            return await self._deliver(conn, claimed[0])

    async def _deliver(self, conn: Conn, note: Notification) -> Delivery:
        built = await self._build(conn, note)
        if built is None:
            # Settled elsewhere (CLI, API, a replay) before we could say: nothing to say.
            await outbox.mark_delivered(conn, note.id, channel_id=None, message_id=None)
            return "settled"
        embed, view, what, files = built
        target = await self._target(conn, note.user_id)
        try:
            try:
                message = await self._send(target, embed, view, files, nonce=_nonce(note))
            except discord.Forbidden as exc:
                if not files or exc.code != MISSING_PERMISSIONS:
                    raise
                # Posting is allowed but uploading is not (no Attach Files in the channel):
                # the embed carries the chart's figures as text, so it goes without it.
                log.info(
                    "outbox %d: %s sent without its %d file(s): %s",
                    note.id,
                    what,
                    len(files),
                    exc.text,
                )
                embed.set_image(url=None)
                message = await self._send(target, embed, view, nonce=_nonce(note))
        except discord.HTTPException as exc:
            return await self._failed(conn, note, what, exc)
        except discord.InvalidData as exc:
            # Not a channel we can post in (a category, a voice channel): as final as a 404.
            log.warning("outbox %d: %s for user %d refused: %s", note.id, what, note.user_id, exc)
            await outbox.mark_refused(conn, note.id, f"not a text channel: {exc}")
            return "held"
        except UNREACHABLE as exc:
            await self._postpone(conn, note, what, f"{type(exc).__name__}: {exc}")
            return "unreachable"
        await outbox.mark_delivered(
            conn, note.id, channel_id=message.channel.id, message_id=message.id
        )
        log.info(
            "outbox %d: %s sent to user %d (channel %d, message %d)",
            note.id,
            what,
            note.user_id,
            message.channel.id,
            message.id,
        )
        return "sent"

    async def _failed(
        self, conn: Conn, note: Notification, what: str, exc: discord.HTTPException
    ) -> Delivery:
        error = f"{exc.status} {exc.text or exc.response.reason}"[:200]
        if exc.status == 429 or exc.status >= 500:
            await self._postpone(conn, note, what, error)
            return "unreachable"
        if exc.status in (403, 404):
            log.warning(
                "outbox %d: Discord refused the %s for user %d for good: %s",
                note.id,
                what,
                note.user_id,
                error,
            )
            await outbox.mark_refused(conn, note.id, error)
            return "held"
        log.warning(
            "outbox %d: %s for user %d not delivered (attempt %d of %d): %s",
            note.id,
            what,
            note.user_id,
            note.attempts + 1,
            MAX_ATTEMPTS,
            error,
        )
        retry_in = min(self._interval * 2.0 ** min(note.attempts, 30), 3600.0)
        await outbox.mark_failed(conn, note.id, error, retry_in=retry_in)
        return "held"

    async def _postpone(self, conn: Conn, note: Notification, what: str, error: str) -> None:
        retry_in = min(
            self._interval * 2.0 ** min(note.transient_failures, 30),
            self._interval * OUTAGE_BACKOFF_FACTOR,
        )
        log.warning(
            "outbox %d: Discord unreachable sending the %s for user %d (%s); retrying in %.0fs",
            note.id,
            what,
            note.user_id,
            error,
            retry_in,
        )
        await outbox.postpone(conn, note.id, error, retry_in=retry_in)

    async def _build(
        self, conn: Conn, note: Notification
    ) -> tuple[discord.Embed, discord.ui.View | None, str, list[discord.File]] | None:
        """The message for a notification (embed, buttons, what it is for the logs, files),
        or None when it no longer needs saying."""
        if note.kind in tv_notices.KINDS:
            return await tv_notices.build(conn, self._bot.services, note)
        if note.kind == "server_problem":
            problem = await server_problems.get(conn, note.ref_id)
            if problem is None or problem.resolved_at is not None:
                return None  # the server answered again before we could say
            return embeds.server_problem_embed(problem), None, f"server problem {problem.id}", []
        if note.kind == NOTICE_KIND:
            run = await sync_runs.get(conn, note.ref_id)
            if run is None:
                return None  # pruned
            return sync_failed_embed(run), None, f"sync failure notice of run {run.id}", []
        if note.kind == "failure":
            entry = await webhook_logs.get(conn, note.ref_id)
            if entry is None or entry.status != "failed":
                return None  # pruned, or replayed successfully since
            if entry.action_taken == "server_unreachable":
                return None  # the outage was told once (server_problem), not per scrobble
            return embeds.failure_embed(entry), None, f"failure notice of webhook {entry.id}", []
        conflict = await conflicts.get(conn, note.ref_id)
        if conflict is None or conflict.resolved:
            return None
        return (
            embeds.conflict_embed(conflict),
            conflict_view(conflict),
            f"conflict {conflict.id}",
            [],
        )

    @staticmethod
    async def _target(conn: Conn, user_id: int) -> _Target:
        user = await users.by_id(conn, user_id)
        config = await plex_config.get(conn, user_id)
        assert user is not None and user.discord_id is not None  # claim_for_discord's filter
        channel_id = config.notify_channel_id if config is not None else None
        return _Target(user.discord_id, channel_id)

    async def _send(
        self,
        target: _Target,
        embed: discord.Embed,
        view: discord.ui.View | None,
        files: list[discord.File] | None = None,
        *,
        nonce: str,
    ) -> discord.Message:
        """To the user's chosen channel (mentioning them), else as a DM. Network only: the
        database was read before, so its errors are never taken for Discord's. The nonce
        (discord.py sends it enforced) makes a resend after a lost answer return the message
        Discord already made instead of posting it twice."""
        if target.channel_id is not None:
            channel = await self._channel(target.channel_id)
            return await channel.send(
                f"<@{target.discord_user_id}>",
                embed=embed,
                view=view or discord.utils.MISSING,
                files=files or discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(target.discord_user_id)]
                ),
                nonce=nonce,
            )
        dm = await self._bot.create_dm(discord.Object(target.discord_user_id))
        return await dm.send(
            embed=embed,
            view=view or discord.utils.MISSING,
            files=files or discord.utils.MISSING,
            nonce=nonce,
        )

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


def _nonce(note: Notification) -> str:
    # Discord takes at most 25 characters; one outbox row is one message.
    return f"outbox-{note.id}"
