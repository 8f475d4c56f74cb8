"""One way to answer and one error path for every interaction (commands, buttons, modals)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import discord

from core.db import users
from core.db.users import User
from core.errors import DomainError, ForbiddenError

log = logging.getLogger(__name__)

MAX_CONTENT = 2000  # Discord refuses a longer message outright
GENERIC_ERROR = "Something went wrong on our side; it has been logged. Try again in a moment."


async def defer(interaction: discord.Interaction[Any], *, ephemeral: bool = True) -> None:
    """Acknowledge at once: Discord drops answers after 3 s (Doplarr #91)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)


async def defer_update(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge a button press without a visible reply (the message is edited later)."""
    if not interaction.response.is_done():
        await interaction.response.defer()


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    ephemeral: bool = True,
    **kwargs: Any,
) -> None:
    """First answer if none was given yet, otherwise a follow-up."""
    if interaction.response.is_done():
        await interaction.followup.send(
            content or discord.utils.MISSING, ephemeral=ephemeral, **kwargs
        )
    else:
        await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)


async def report_error(interaction: discord.Interaction[Any], exc: BaseException) -> None:
    """Domain errors carry a message safe for the user who caused them; anything else is
    logged with its trace and answered generically."""
    if isinstance(exc, DomainError):
        message = str(exc)
    else:
        log.error(
            "interaction %s (%s) by discord user %s failed",
            interaction.id,
            _what(interaction),
            interaction.user.id,
            exc_info=exc,
        )
        message = GENERIC_ERROR
    text = f"⚠️ {message}"
    if len(text) > MAX_CONTENT:  # a domain message quoting long user data must still arrive
        text = text[: MAX_CONTENT - 1] + "…"
    try:
        await reply(interaction, text, ephemeral=True)
    except discord.HTTPException as send_exc:
        log.warning("interaction %s: could not send the error: %s", interaction.id, send_exc)


def _what(interaction: discord.Interaction[Any]) -> str:
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    custom_id = cast(dict[str, Any], interaction.data or {}).get("custom_id")
    return str(custom_id or interaction.type.name)


@contextlib.asynccontextmanager
async def guarded(interaction: discord.Interaction[Any]) -> AsyncIterator[None]:
    """Wrap a component or modal callback: errors answer the user instead of only being
    logged by discord.py (where nobody would see them)."""
    try:
        yield
    except Exception as exc:
        await report_error(interaction, exc)


async def known_user(interaction: discord.Interaction[Any]) -> User | None:
    """The tracker user behind this Discord account, without creating one."""
    async with interaction.client.services.pool.acquire() as conn:
        return await users.by_discord_id(conn, interaction.user.id)


async def require_user(interaction: discord.Interaction[Any]) -> User:
    user = await known_user(interaction)
    if user is None:
        raise ForbiddenError("You haven't connected Plex yet: use `/plex connect` first.")
    return user


async def tracker_user(interaction: discord.Interaction[Any]) -> User:
    """The tracker user of this Discord account, created on first use."""
    user: User = await interaction.client.services.accounts.user_for_discord(
        interaction.user.id, interaction.user.name
    )
    return user


async def refuse_unless_owner(interaction: discord.Interaction[Any], owner_id: int) -> bool:
    """custom_ids are untrusted: re-check who clicks. Answers the refusal itself."""
    user = await known_user(interaction)
    if user is not None and user.id == owner_id:
        return False
    await reply(interaction, "🚫 This isn't yours: only its owner can use these buttons.")
    return True
