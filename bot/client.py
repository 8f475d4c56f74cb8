"""The Discord client: same event loop and same core services as the webhook daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from bot.commands import DYNAMIC_ITEMS as COMMAND_ITEMS
from bot.commands import plex_group
from bot.conflict_views import DYNAMIC_ITEMS as CONFLICT_ITEMS
from bot.first_contact import FirstContactWatcher
from bot.notifier import OutboxNotifier
from bot.replies import report_error
from bot.sync_views import DYNAMIC_ITEMS as SYNC_ITEMS
from bot.tv import DYNAMIC_ITEMS as TV_ITEMS
from bot.tv import tv_group
from core.services.container import Services
from core.services.stats import StatsService
from core.settings import Settings

log = logging.getLogger(__name__)


class PlexTree(app_commands.CommandTree["PlexBot"]):
    async def on_error(
        self, interaction: discord.Interaction[PlexBot], error: app_commands.AppCommandError
    ) -> None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        await report_error(interaction, original)


class PlexBot(discord.Client):
    """Slash commands, conflict buttons and the outbox notifier. No privileged intents:
    interactions arrive regardless, and the guild cache is enough for conflict channels."""

    def __init__(
        self,
        services: Services,
        *,
        guild_id: int | None = None,
        notify_interval: float = 5.0,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents)
        self.services = services
        self.stats = StatsService(pool=services.pool)
        self.tree = PlexTree(self)
        self.guild_id = guild_id if guild_id is not None else services.settings.discord_guild_id
        self.notifier = OutboxNotifier(self, interval=notify_interval)
        self.first_contact = FirstContactWatcher(services.pool)
        self.connected = False
        self._synced = False
        self.tree.add_command(plex_group())
        self.tree.add_command(tv_group())

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*COMMAND_ITEMS, *CONFLICT_ITEMS, *SYNC_ITEMS, *TV_ITEMS)
        if not self._synced:  # login() may be retried after a failure further on
            if self.guild_id is not None:
                # A guild's commands update at once; global ones can take an hour to show.
                guild = discord.Object(self.guild_id)
                self.tree.copy_global_to(guild=guild)
                self.tree.clear_commands(guild=None)
                await self.tree.sync(guild=guild)
            else:
                await self.tree.sync()
            self._synced = True
        self.notifier.start()

    async def on_ready(self) -> None:
        self.connected = True
        log.info("Discord: ready as %s (%s)", self.user, self.user.id if self.user else "?")
        self.notifier.wake()  # post whatever piled up while we were away

    async def on_resumed(self) -> None:
        self.connected = True
        self.notifier.wake()

    async def on_disconnect(self) -> None:
        self.connected = False

    def health_status(self) -> str:
        """For /healthz."""
        if self.is_closed():
            return "off"
        return "connected" if self.connected else "connecting"

    async def close(self) -> None:
        await self.notifier.stop()
        await self.first_contact.stop()
        self.connected = False
        await super().close()


@contextlib.contextmanager
def discord_endpoints(settings: Settings) -> Iterator[None]:
    """Apply DISCORD_API_BASE / DISCORD_GATEWAY_URL (Discord-compatible servers, tests).
    discord.py keeps them as class attributes, so they are restored on exit."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


# Gateway close codes that mean our set-up is wrong, not that Discord is away: 4004 the
# token was refused; 4010-4014 sharding, API version or intents. Nothing else ends the bot.
FATAL_CLOSE_CODES = frozenset({4004, 4010, 4011, 4012, 4013, 4014})


@dataclass(frozen=True)
class Backoff:
    """Waits between tries while Discord is unreachable: first, doubling up to ceiling."""

    first: float = 1.0
    ceiling: float = 60.0

    def after(self, delay: float) -> float:
        return min(delay * 2, self.ceiling)


async def _login_and_connect(bot: PlexBot, token: str, backoff: Backoff = Backoff()) -> None:
    """Log in (retrying while Discord is unreachable), then stay connected, retrying for as
    long as it takes. Only Discord refusing the token (or our intents) turns the bot off.
    Nothing here may end the daemon: failures are logged."""
    delay = backoff.first
    while not bot.is_closed():
        try:
            await bot.login(token)
            break
        except discord.LoginFailure:
            log.error("Discord refused DISCORD_TOKEN; the bot stays off (the daemon runs on)")
            await bot.close()
            return
        except (OSError, TimeoutError, aiohttp.ClientError, discord.HTTPException) as exc:
            log.warning("Discord login failed (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = backoff.after(delay)
    delay = backoff.first
    while not bot.is_closed():
        started = time.monotonic()
        try:
            # Returns only once the client is closed. discord.py reconnects by itself after
            # a connection it had; but when a handshake fails before any connection (a 503
            # or 404 from the gateway during an outage) its reconnect path raises on its own
            # missing state (AttributeError on `self.ws`), so the retrying is done here.
            await bot.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except discord.PrivilegedIntentsRequired as exc:
            log.error("Discord: %s; the bot is off (the daemon runs on)", exc)
            await bot.close()
            return
        except discord.ConnectionClosed as exc:
            if exc.code in FATAL_CLOSE_CODES:
                what = "refused DISCORD_TOKEN" if exc.code == 4004 else "closed the gateway"
                log.error(
                    "Discord %s (close code %s); the bot is off (the daemon runs on)",
                    what,
                    exc.code,
                )
                await bot.close()
                return
            _log_gateway_failure(exc, delay)
        except Exception as exc:  # an outage: anything else is worth another try
            _log_gateway_failure(exc, delay)
        if bot.is_closed():
            return
        if time.monotonic() - started > 10 * backoff.ceiling:
            delay = backoff.first  # it was up for a good while: this is a new outage
        await asyncio.sleep(delay)
        delay = backoff.after(delay)


def _log_gateway_failure(exc: BaseException, delay: float) -> None:
    log.warning(
        "Discord gateway unreachable (%s: %s); retrying in %.0fs",
        type(exc).__name__,
        exc,
        delay,
    )


@contextlib.asynccontextmanager
async def running_bot(
    services: Services, settings: Settings, *, backoff: Backoff = Backoff()
) -> AsyncIterator[PlexBot]:
    """Start the bot in the background for `plex-tracker run`; close it on exit."""
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    with discord_endpoints(settings):
        bot = PlexBot(services)
        async with bot:
            task = asyncio.create_task(_login_and_connect(bot, token, backoff), name="discord-bot")
            try:
                yield bot
            finally:
                await bot.close()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
