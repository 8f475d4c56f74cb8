"""The persistent, owner-only button every feature's buttons build on (/plex, /tv, history
sync): a DynamicItem whose custom_id names the tracker user it was drawn for, so it is
rebuilt after a restart, and every click is re-checked against whoever clicks (custom_ids
are untrusted input)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from bot.replies import defer_update, guarded, refuse_unless_owner

Interaction = discord.Interaction[Any]


class OwnerButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?!)",  # a base, never matched: each subclass brings its own template
):
    """Subclasses bring a `template`, `rebuild` (the button again from a matched custom_id)
    and `pressed` (what a click by the owner does; the press is acknowledged already)."""

    def __init__(self, user_id: int, button: discord.ui.Button[discord.ui.View]) -> None:
        super().__init__(button)
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls.rebuild(match)

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        raise NotImplementedError

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            if await refuse_unless_owner(interaction, self.user_id):
                return
            await self.pressed(interaction)

    async def pressed(self, interaction: Interaction) -> None:
        raise NotImplementedError


class UserButton(OwnerButton, template=r"(?!)"):
    """A button about its user alone: custom_id `<prefix>:<user id>`, a fixed face."""

    prefix: ClassVar[str]
    label: ClassVar[str]
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.danger
    emoji: ClassVar[str | None] = None

    def __init__(self, user_id: int) -> None:
        super().__init__(
            user_id,
            discord.ui.Button(
                label=self.label,
                style=self.style,
                emoji=self.emoji,
                custom_id=f"{self.prefix}:{user_id}",
            ),
        )

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(int(match["user"]))
