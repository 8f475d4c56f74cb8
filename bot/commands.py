"""The /plex command group. Each command acknowledges at once, then calls core services.
Replies are ephemeral unless the user asks to share; every lookup is by the caller's own
tracker user, so nobody sees or changes another user's data."""

from __future__ import annotations

import logging
from typing import Any, Literal

import discord
import httpx
from discord import app_commands

from bot import embeds
from bot.buttons import UserButton
from bot.conflict_views import conflict_view
from bot.replies import defer, guarded, known_user, reply, require_user, tracker_user
from bot.sync_views import add_sync_command, with_import_button
from bot.tv.charts import attach_activity
from core.db import conflicts as conflict_db
from core.db import outbox, plex_config, tvshows, webhook_logs
from core.errors import InvalidInputError
from core.services.container import Services
from core.services.doctor import Doctor
from core.webhook_address import loopback_warning

log = logging.getLogger(__name__)

# discord.py types callbacks over any client; ours is always a bot.client.PlexBot.
Interaction = discord.Interaction[Any]
LogStatus = Literal["success", "failed", "ignored", "duplicate", "pending"]


# --------------------------------------------------------------------- connect


class ConnectModal(discord.ui.Modal):
    """The token goes in a modal, never in a command option (options show in the client)."""

    token: discord.ui.TextInput[ConnectModal] = discord.ui.TextInput(
        label="Plex token",
        placeholder="X-Plex-Token (support.plex.tv → 'Finding an authentication token')",
        custom_id="plex:connect:token",
        min_length=8,
        max_length=200,
    )
    server_url: discord.ui.TextInput[ConnectModal] = discord.ui.TextInput(
        label="Plex server URL (optional)",
        placeholder="http://192.168.1.10:32400",
        custom_id="plex:connect:server",
        required=False,
        max_length=300,
    )

    def __init__(self) -> None:
        super().__init__(title="Connect Plex", custom_id="plex:connect", timeout=None)

    async def on_submit(self, interaction: Interaction) -> None:
        await defer(interaction)
        async with guarded(interaction):
            user = await tracker_user(interaction)
            watcher = interaction.client.first_contact
            since = await watcher.mark(user.id)
            result = await interaction.client.services.accounts.connect(
                user=user,
                plex_token=self.token.value,
                server_url=self.server_url.value.strip() or None,
            )
            who = f" as **{result.plex_username}**" if result.plex_username else ""
            lines = [f"✅ Plex connected{who}. Paste this URL into Plex:"]
            if result.warning:
                lines.append(f"⚠️ {result.warning}")
            if warning := loopback_warning(result.webhook_url):
                lines.append(f"⚠️ {warning}")
            services = interaction.client.services
            if await services.history.queue_first(user.id, trigger="connect"):
                lines.append("📥 Your Plex watch history is being imported: press the button.")
            content = "\n".join(lines)
            waiting = "\n⏳ Waiting for the first event from Plex: play anything in a Plex app."
            message = await interaction.followup.send(
                content + waiting,
                embed=embeds.webhook_embed(result.webhook_url),
                view=with_import_button(webhook_view(user.id), user.id),
                ephemeral=True,
                wait=True,
            )
            # Edited to say "Plex reached plex-tracker: …" when Plex's first event arrives.
            watcher.watch(user.id, since, message, content)


# --------------------------------------------------------------------- webhook


def webhook_view(user_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RotateButton(user_id))
    return view


class RotateButton(UserButton, template=r"webhook:rotate:(?P<user>[0-9]{1,18})"):
    prefix, label, style = "webhook:rotate", "Rotate secret…", discord.ButtonStyle.secondary

    async def pressed(self, interaction: Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(RotateConfirmButton(self.user_id))
        await reply(
            interaction,
            "Rotate the webhook secret? The current URL stops working at once; "
            "you will have to paste the new one into Plex.",
            view=view,
        )


class RotateConfirmButton(UserButton, template=r"webhook:rotate-confirm:(?P<user>[0-9]{1,18})"):
    prefix, label = "webhook:rotate-confirm", "Yes, rotate it"

    async def pressed(self, interaction: Interaction) -> None:
        url = await interaction.client.services.accounts.rotate_secret(self.user_id)
        await interaction.edit_original_response(
            content="🔑 Secret rotated; the old URL no longer works.",
            embed=embeds.webhook_embed(url, heading="Your new Plex webhook"),
            view=None,
        )


# ------------------------------------------------------------------ disconnect


class DisconnectButton(UserButton, template=r"account:disconnect:(?P<user>[0-9]{1,18})"):
    prefix, label = "account:disconnect", "Yes, disconnect"

    async def pressed(self, interaction: Interaction) -> None:
        await interaction.client.services.accounts.disconnect(self.user_id)
        await interaction.edit_original_response(
            content="Disconnected: your Plex token and webhook secret are deleted. "
            "Your shows and history stay; `/plex connect` to come back.",
            view=None,
        )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    RotateButton,
    RotateConfirmButton,
    DisconnectButton,
)


# -------------------------------------------------------------------- settings

# What a conflicts channel needs: the bot posts embeds with buttons there; the member has
# to see them, also when they were posted while they were away.
# Attribute names of discord.Permissions, with the names Discord's settings show.
BOT_NEEDS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
}
MEMBER_NEEDS = {"view_channel": "View Channel", "read_message_history": "Read Message History"}


def _missing(have: discord.Permissions, need: dict[str, str]) -> list[str]:
    return [label for name, label in need.items() if not getattr(have, name)]


def refuse_unusable_channel(interaction: Interaction, channel: discord.TextChannel) -> None:
    """Before saving a conflicts channel: the bot must be able to post there, and the member
    to read it. Computed from the guild cache (roles and the channel's overwrites), which
    Discord keeps current through CHANNEL_UPDATE and GUILD_ROLE_UPDATE."""
    me, member = channel.guild.me, interaction.user
    if me is None or not isinstance(member, discord.Member) or member.guild != channel.guild:
        raise InvalidInputError("Pick a channel of the server you are using this command in.")
    bot_missing = _missing(channel.permissions_for(me), BOT_NEEDS)
    if bot_missing:
        raise InvalidInputError(
            f"I can't post conflicts in {channel.mention}: I'm missing "
            f"{', '.join(bot_missing)} there. Give the bot these permissions in that "
            "channel, or pick another."
        )
    member_missing = _missing(channel.permissions_for(member), MEMBER_NEEDS)
    if member_missing:
        raise InvalidInputError(
            f"You can't read {channel.mention} ({', '.join(member_missing)}), so you would "
            "never see conflicts posted there. Pick a channel you can read."
        )


# ---------------------------------------------------------------------- status


async def needs_attention(services: Services, user_id: int) -> list[str]:
    """What the user has to fix, in their words: shown first by /plex status. Ends with
    the failed checks of `plex-tracker doctor` that are about this user."""
    async with services.pool.acquire() as conn:
        refused = await outbox.refused(conn, user_id)
        config = await plex_config.get(conn, user_id)
    problems: list[str] = []
    server = await services.servers.problem(user_id)
    if server is not None:
        problems.append(
            f"Plex server unreachable since {embeds.when(server.started_at)}: "
            f"{embeds.clip(server.message, 600)}"
        )
    if refused is not None:
        where = (
            f"in <#{config.notify_channel_id}>"
            if config is not None and config.notify_channel_id
            else "by DM"
        )
        fix = (
            "let the bot post there or pick another channel with `/plex settings channel:`"
            if config is not None and config.notify_channel_id
            else "allow DMs from this server's members (or pick a channel with "
            "`/plex settings channel:`), then `/plex settings dm: True`"
        )
        count = f"{refused.count} notification" + ("s" if refused.count != 1 else "")
        problems.append(
            f"{count} could not be delivered {where}: Discord said "
            f"“{embeds.clip(refused.last_error, 200)}”. To fix: {fix}. "
            "`/plex conflicts` lists open conflicts meanwhile."
        )
    # And the failed checks of `plex-tracker doctor` that are about this user (the server
    # problem the matcher recorded is already said above).
    async with httpx.AsyncClient() as http:
        failed = await Doctor(services, http=http).user_problems(user_id)
    problems += [
        f"{c.name}: {c.detail}" + (f" → {c.fix}" if c.fix else "")
        for c in failed
        if not (server is not None and c.name.startswith("Plex server"))
    ]
    return problems


# ------------------------------------------------------------------- the group


def plex_group() -> app_commands.Group:
    plex = app_commands.Group(name="plex", description="Plex → TV tracker sync")
    mappings = app_commands.Group(
        name="mappings", description="Which tracker show each Plex show is", parent=plex
    )

    @plex.command(name="connect", description="Connect your Plex account (opens a form)")
    async def connect(interaction: Interaction) -> None:
        await interaction.response.send_modal(ConnectModal())

    @plex.command(name="webhook", description="Show your Plex webhook URL")
    async def webhook(interaction: Interaction) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        url = await interaction.client.services.accounts.webhook_url(user.id)
        await reply(interaction, embed=embeds.webhook_embed(url), view=webhook_view(user.id))

    @plex.command(name="settings", description="Show or change your sync settings")
    @app_commands.describe(
        auto_add="Add shows the tracker doesn't have yet when TMDB knows them",
        auto_mark="Mark episodes watched when Plex says so",
        accounts="Plex accounts whose watches count, comma-separated ('-' = just yours)",
        channel="Post conflicts and notices in this channel instead of a DM",
        dm="Send conflicts and notices to your DMs again",
    )
    async def settings(
        interaction: Interaction,
        auto_add: bool | None = None,
        auto_mark: bool | None = None,
        accounts: str | None = None,
        channel: discord.TextChannel | None = None,
        dm: bool | None = None,
    ) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        services = interaction.client.services
        followed = None
        if accounts is not None:
            followed = [a.strip() for a in accounts.split(",") if a.strip() and a.strip() != "-"]
        if channel is not None and dm:
            raise InvalidInputError("Choose either a channel or DMs, not both.")
        if channel is not None:
            refuse_unusable_channel(interaction, channel)
        changes: dict[str, object] = {
            "auto_add_shows": auto_add,
            "auto_mark_watched": auto_mark,
            "followed_accounts": followed,
            "notify_channel_id": channel.id if channel else None,
            "clear_notify_channel": bool(dm),
        }
        if any(v is not None for v in (auto_add, auto_mark, accounts, channel)) or dm:
            config = await services.accounts.update_settings(user.id, **changes)
            title = "Settings saved"
            if channel is not None or dm:
                interaction.client.notifier.wake()  # re-armed notifications go out now
        else:
            config = await services.accounts.config(user.id)
            title = "Your settings"
        embed = discord.Embed(title=title, colour=embeds.BLURPLE)
        embed.add_field(name="Auto-add shows", value="on" if config.auto_add_shows else "off")
        embed.add_field(name="Auto-mark watched", value="on" if config.auto_mark_watched else "off")
        embed.add_field(
            name="Accounts that count",
            value=", ".join(config.followed_accounts) or "only the token's owner",
        )
        embed.add_field(
            name="Conflicts go to",
            value=f"<#{config.notify_channel_id}>" if config.notify_channel_id else "your DMs",
        )
        await reply(interaction, embed=embed)

    @plex.command(name="status", description="Your sync dashboard: last 30 days")
    @app_commands.describe(share="Post it for everyone in the channel to see")
    async def status(interaction: Interaction, share: bool = False) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        stats = await interaction.client.stats.for_user(user.id)
        services = interaction.client.services
        problems = await needs_attention(services, user.id)
        embed = embeds.status_embed(stats, problems)
        chart = await attach_activity(
            services.tracker,
            embed,
            user.id,
            days=stats.days,
            title=f"{stats.user_name} · last {stats.days} days",
        )
        extra: dict[str, Any] = {"file": chart} if chart else {}
        await reply(interaction, embed=embed, ephemeral=not share, **extra)

    @plex.command(name="conflicts", description="Plex shows waiting for you to say which they are")
    async def conflicts(interaction: Interaction) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        async with interaction.client.services.pool.acquire() as conn:
            items = await conflict_db.list_open(conn, user.id)
        await reply(interaction, embed=embeds.conflicts_list_embed(items))
        for conflict in items[:5]:  # with their buttons; the rest after these are settled
            await reply(
                interaction, embed=embeds.conflict_embed(conflict), view=conflict_view(conflict)
            )

    @plex.command(name="logs", description="Recent webhooks and what happened to them")
    @app_commands.describe(status="Only this outcome", limit="How many (1-25)")
    async def logs(
        interaction: Interaction,
        status: LogStatus | None = None,
        limit: app_commands.Range[int, 1, 25] = 10,
    ) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        async with interaction.client.services.pool.acquire() as conn:
            entries = await webhook_logs.recent(conn, user.id, status=status, limit=limit)
        await reply(interaction, embed=embeds.logs_embed(entries, status))

    @plex.command(name="disconnect", description="Remove your Plex token and webhook secret")
    async def disconnect(interaction: Interaction) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        view = discord.ui.View(timeout=None)
        view.add_item(DisconnectButton(user.id))
        await reply(
            interaction,
            "Disconnect Plex? Your token and webhook secret are deleted and Plex's webhooks "
            "will be refused. Your shows and history stay.",
            view=view,
        )

    @mappings.command(name="list", description="Your Plex → tracker mappings")
    async def mappings_list(interaction: Interaction) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        items = await interaction.client.services.mappings.list(user.id, limit=40)
        await reply(interaction, embed=embeds.mappings_embed(items))

    @mappings.command(name="unmap", description="Forget a mapping: the next watch is matched again")
    @app_commands.describe(mapping="The mapping's id (from /plex mappings list)")
    async def unmap(interaction: Interaction, mapping: int) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        found = await interaction.client.services.mappings.unmap(user.id, mapping)
        await reply(
            interaction,
            f"Unmapped **{found.plex_title or found.plex_rating_key}**: "
            "the next watch will be matched again.",
        )

    @mappings.command(name="remap", description="Point a Plex show at another tracker show")
    @app_commands.describe(mapping="The mapping's id", show="The tracker show (type to search)")
    async def remap(interaction: Interaction, mapping: int, show: str) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        if not show.isdigit():
            raise InvalidInputError("Pick the show from the suggestions.")
        found = await interaction.client.services.mappings.remap(user.id, mapping, int(show))
        async with interaction.client.services.pool.acquire() as conn:
            target = await tvshows.get(conn, user.id, int(show))
        name = embeds.titled(target.title, target.year) if target else f"show {show}"
        await reply(
            interaction,
            f"**{found.plex_title or found.plex_rating_key}** now marks **{name}**.",
        )

    @remap.autocomplete("show")
    async def remap_show(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        user = await known_user(interaction)
        if user is None:
            return []
        shows = await interaction.client.services.library.list_shows(user.id)
        wanted = current.casefold()
        return [
            app_commands.Choice(
                name=embeds.clip(embeds.titled(s.title, s.year), 100), value=str(s.id)
            )
            for s in shows
            if wanted in s.title.casefold()
        ][:25]

    add_sync_command(plex)  # /plex sync (bot/sync_views.py)
    return plex
