"""Plex watch history sync in Discord: `/plex sync`, the "Import my watch history" button on
a successful `/plex connect`, and the notice that the server refused the token.

A sync runs in the background (the daemon's sync poller, core/history/service.py); the
ephemeral reply is edited with its progress every few seconds and then with its summary.
Pressing the button (or `/plex sync`) while a sync is on its way follows that one instead
of starting another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot import embeds
from bot.buttons import UserButton
from bot.replies import defer, require_user
from core.db.sync_runs import SyncRun
from core.history.service import summary

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
# Edits the message that shows the run: (content, embed).
Show = Callable[[str | None, discord.Embed | None], Awaitable[None]]

POLL_SECONDS = 2.0
# Interaction tokens expire after 15 minutes: stop editing a little before.
FOLLOW_SECONDS = 14 * 60
IMPORT_LABEL = "Import my watch history"
PHASES = {"library": "library shows", "history": "history plays"}


def progress_text(run: SyncRun) -> str:
    if run.state == "queued":
        return "⏳ Plex history sync queued; it starts in a moment…"
    phase = PHASES.get(run.phase or "", "connecting to your Plex server")
    count = ""
    if run.phase:
        total = run.progress_total
        count = f" {run.progress_done}/{total}" if total else f" {run.progress_done}"
        if total:
            count += f" {embeds.bar(run.progress_done, total)}"
    return (
        f"⏳ Syncing your Plex watch history: {phase}{count} · "
        f"{run.episodes_marked} episodes marked so far"
    )


def summary_embed(run: SyncRun) -> discord.Embed:
    ok = run.state == "succeeded"
    title = {
        "succeeded": "Plex history synced" + (" (dry run: nothing changed)" if run.dry_run else ""),
        "interrupted": "Plex history sync interrupted",
    }.get(run.state, "Plex history sync failed")
    embed = discord.Embed(
        title=title, colour=embeds.GREEN if ok else embeds.RED, description=summary(run)
    )
    embed.add_field(name="Episodes marked", value=str(run.episodes_marked))
    embed.add_field(name="Already watched", value=str(run.already_watched))
    embed.add_field(name="Shows added", value=str(run.shows_added))
    if run.conflicts_raised:
        embed.add_field(
            name="Conflicts",
            value=f"{run.conflicts_raised} shows need you to say which they are "
            f"({run.episodes_held} episodes wait): `/plex conflicts`",
            inline=False,
        )
    if run.error:
        embed.add_field(name="Why", value=embeds.clip(run.error, 1000), inline=False)
    if run.state == "interrupted":
        embed.add_field(name="Next", value="The next sync continues where this one stopped.")
    embed.set_footer(text=f"run {run.id} · {run.mode}")
    return embed


def sync_failed_embed(run: SyncRun) -> discord.Embed:
    """The outbox notice: the Plex server (or plex.tv) refused the stored token."""
    embed = discord.Embed(
        title="Plex history sync can't read your server",
        colour=embeds.RED,
        description=(
            "Your Plex server refused the token plex-tracker has for you, so watches can no "
            "longer be read from its history. Connect again with a fresh token: "
            "`/plex connect`. (Webhooks still work meanwhile.)"
        ),
    )
    if run.error:
        embed.add_field(name="Why", value=embeds.clip(run.error, 1000), inline=False)
    embed.set_footer(text=f"run {run.id}")
    return embed


async def follow(interaction: Interaction, run: SyncRun, show: Show) -> SyncRun:
    """Edit the reply with the run's progress until it ends, then with its summary."""
    history = interaction.client.services.history
    shown: str | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_SECONDS
    while run.active and loop.time() < deadline:
        text = progress_text(run)
        if text != shown:
            await show(text, None)
            shown = text
        await asyncio.sleep(POLL_SECONDS)
        run = await history.get_run(run.user_id, run.id)
    if run.active:
        await show(f"{progress_text(run)}\nStill going: `/plex sync` shows it again later.", None)
    else:
        await show(None, summary_embed(run))
    return run


async def start_and_follow(interaction: Interaction, user_id: int, show: Show, full: bool) -> None:
    run = await interaction.client.services.history.queue(
        user_id, trigger="discord", mode="full" if full else "incremental"
    )
    await follow(interaction, run, show)


class ImportHistoryButton(UserButton, template=r"sync:start:(?P<user>[0-9]{1,18})"):
    """On the `/plex connect` reply: start (or follow) the user's history sync."""

    prefix, label, style, emoji = "sync:start", IMPORT_LABEL, discord.ButtonStyle.primary, "📥"

    async def pressed(self, interaction: Interaction) -> None:
        message = await interaction.followup.send("⏳ Starting…", ephemeral=True, wait=True)

        async def show(content: str | None, embed: discord.Embed | None) -> None:
            await message.edit(content=content, embed=embed)

        await start_and_follow(interaction, self.user_id, show, full=False)


def with_import_button(view: discord.ui.View, user_id: int) -> discord.ui.View:
    view.add_item(ImportHistoryButton(user_id))
    return view


def add_sync_command(group: app_commands.Group) -> None:
    @group.command(name="sync", description="Import what you watched from your Plex server")
    @app_commands.describe(full="Read everything again, not just what is new")
    async def sync(interaction: Interaction, full: bool = False) -> None:
        await defer(interaction)
        user = await require_user(interaction)

        async def show(content: str | None, embed: discord.Embed | None) -> None:
            await interaction.edit_original_response(content=content, embed=embed)

        await start_and_follow(interaction, user.id, show, full=full)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (ImportHistoryButton,)
