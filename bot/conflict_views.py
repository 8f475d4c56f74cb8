"""Conflict messages: persistent buttons (DynamicItem) that keep working after a restart.

custom_id grammar (at most 100 characters, treated as untrusted: the owner is re-checked):
  conflict:pick:<conflict>:<candidate index>   one per candidate (up to 5)
  conflict:select:<conflict>                   a select instead, when there are more
  conflict:new:<conflict>                      add the Plex show to the tracker from TMDB
  conflict:search:<conflict>                   a modal: a title, a TMDB id or a TMDB URL
  conflict:tmdb:<conflict>:<tmdb id>           a search result (ephemeral follow-up)
  conflict:ignore:<conflict>                   never track this Plex show
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import discord

from bot import embeds
from bot.replies import defer_update, guarded, known_user, refuse_unless_owner, reply
from core.clients.errors import UpstreamError
from core.db import conflicts as conflict_db
from core.db.conflicts import Conflict
from core.errors import InvalidInputError, NotFoundError
from core.services.conflicts import Choice, Ignore, Pick, Resolution, UseTmdb

log = logging.getLogger(__name__)

MAX_BUTTONS = 5
_TMDB_URL = re.compile(r"themoviedb\.org/tv/(\d+)")

# discord.py types callbacks over any client; ours is always a bot.client.PlexBot.
Interaction = discord.Interaction[Any]


async def load_conflict(interaction: Interaction, conflict_id: int) -> Conflict:
    async with interaction.client.services.pool.acquire() as conn:
        conflict = await conflict_db.get(conn, conflict_id)
    if conflict is None:
        raise NotFoundError("This conflict no longer exists.")
    return conflict


def conflict_view(conflict: Conflict) -> discord.ui.View:
    """Buttons (or a select) per candidate, then Add as new / Search… / Ignore."""
    view = discord.ui.View(timeout=None)
    candidates = conflict.potential_matches
    if len(candidates) <= MAX_BUTTONS:
        for index, candidate in enumerate(candidates):
            view.add_item(PickButton(conflict.id, index, embeds.candidate_label(index, candidate)))
    else:
        view.add_item(PickSelect(conflict.id, candidates))
    view.add_item(NewShowButton(conflict.id))
    view.add_item(SearchButton(conflict.id))
    view.add_item(IgnoreButton(conflict.id))
    return view


def tmdb_results_view(conflict_id: int, results: list[tuple[int, str]]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for tmdb_id, label in results[:MAX_BUTTONS]:
        view.add_item(TmdbButton(conflict_id, tmdb_id, label))
    return view


async def resolve_and_show(
    interaction: Interaction, conflict_id: int, choice: Choice, *, edit_source: bool
) -> None:
    """Owner check, resolve through the conflicts service (held scrobbles replay there),
    then edit the conflict message to show the outcome and the episodes marked."""
    conflict = await load_conflict(interaction, conflict_id)
    if await refuse_unless_owner(interaction, conflict.user_id):
        return
    resolution = await interaction.client.services.conflicts.resolve(
        conflict_id,
        user_id=conflict.user_id,
        choice=choice,
        resolved_by=f"discord:{interaction.user.id}",
    )
    after = await load_conflict(interaction, conflict_id)
    outcome = describe(resolution)
    embed = embeds.resolved_embed(after, outcome, episodes_marked=resolution.episodes_marked)
    if edit_source:
        await interaction.edit_original_response(embed=embed, view=None)
    else:
        # Answered from the search modal or its results: say so there.
        await interaction.edit_original_response(content=outcome, view=None)
    # The notification itself may be another message (the click came from /plex conflicts
    # or the search results): edit it too, so its buttons don't linger.
    source = interaction.message.id if edit_source and interaction.message else None
    await interaction.client.notifier.edit_delivered(after, embed, skip_message_id=source)
    if resolution.already_resolved:
        await reply(interaction, "This conflict had already been resolved; nothing changed.")


def describe(resolution: Resolution) -> str:
    marked = resolution.episodes_marked
    episodes = f"{marked} episode{'s' if marked != 1 else ''} marked watched"
    if resolution.action == "ignored":
        return f"Ignored: watches of this Plex show won't be tracked ({episodes})."
    target = f"**{resolution.tvshow_title}**" if resolution.tvshow_title else "the chosen show"
    verb = "Added " if resolution.action == "added" else "Matched to "
    return f"{verb}{target}; {episodes}."


class PickButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"conflict:pick:(?P<conflict>[0-9]{1,18}):(?P<index>[0-9]{1,2})",
):
    def __init__(self, conflict_id: int, index: int, label: str = "Pick") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                style=discord.ButtonStyle.primary,
                custom_id=f"conflict:pick:{conflict_id}:{index}",
                row=0,
            )
        )
        self.conflict_id = conflict_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PickButton:
        return cls(int(match["conflict"]), int(match["index"]))

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            await resolve_and_show(
                interaction, self.conflict_id, Pick(self.index + 1), edit_source=True
            )


class PickSelect(
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"conflict:select:(?P<conflict>[0-9]{1,18})",
):
    def __init__(self, conflict_id: int, candidates: list[dict[str, Any]] | None = None) -> None:
        options = [
            discord.SelectOption(label=embeds.candidate_label(i, c)[:100], value=str(i))
            for i, c in enumerate((candidates or [])[:25])
        ] or [discord.SelectOption(label="-", value="0")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"conflict:select:{conflict_id}",
                placeholder="Which show is it?",
                options=options,
                row=0,
            )
        )
        self.conflict_id = conflict_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PickSelect:
        return cls(int(match["conflict"]))

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            data = cast(dict[str, Any], interaction.data or {})
            values = [str(v) for v in data.get("values") or []]
            if not values or not str(values[0]).isdigit():
                raise InvalidInputError("Pick one of the options.")
            await resolve_and_show(
                interaction, self.conflict_id, Pick(int(values[0]) + 1), edit_source=True
            )


class NewShowButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"conflict:new:(?P<conflict>[0-9]{1,18})",
):
    def __init__(self, conflict_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Add as new show",
                style=discord.ButtonStyle.success,
                custom_id=f"conflict:new:{conflict_id}",
                row=1,
            )
        )
        self.conflict_id = conflict_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NewShowButton:
        return cls(int(match["conflict"]))

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            conflict = await load_conflict(interaction, self.conflict_id)
            if await refuse_unless_owner(interaction, conflict.user_id):
                return
            # TMDB's best guess for this Plex show; without one, the user has to search.
            tmdb = [c for c in conflict.potential_matches if c.get("source") == "tmdb"]
            if not tmdb or tmdb[0].get("tmdb_id") is None:
                await reply(
                    interaction,
                    "TMDB has no suggestion for this show: use **Search…** with its title, "
                    "TMDB id or TMDB link.",
                )
                return
            choice = UseTmdb(int(tmdb[0]["tmdb_id"]))
            await resolve_and_show(interaction, self.conflict_id, choice, edit_source=True)


class IgnoreButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"conflict:ignore:(?P<conflict>[0-9]{1,18})",
):
    def __init__(self, conflict_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Ignore this show",
                style=discord.ButtonStyle.secondary,
                custom_id=f"conflict:ignore:{conflict_id}",
                row=1,
            )
        )
        self.conflict_id = conflict_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> IgnoreButton:
        return cls(int(match["conflict"]))

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            await resolve_and_show(interaction, self.conflict_id, Ignore(), edit_source=True)


class SearchButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"conflict:search:(?P<conflict>[0-9]{1,18})",
):
    def __init__(self, conflict_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Search…",
                style=discord.ButtonStyle.secondary,
                custom_id=f"conflict:search:{conflict_id}",
                row=1,
            )
        )
        self.conflict_id = conflict_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SearchButton:
        return cls(int(match["conflict"]))

    async def callback(self, interaction: Interaction) -> None:
        # The modal must be the first answer, so the (one-query) owner check comes before it.
        async with guarded(interaction):
            conflict = await load_conflict(interaction, self.conflict_id)
            user = await known_user(interaction)
            if user is None or user.id != conflict.user_id:
                await refuse_unless_owner(interaction, conflict.user_id)
                return
            await interaction.response.send_modal(SearchModal(conflict))


class SearchModal(discord.ui.Modal):
    query: discord.ui.TextInput[SearchModal] = discord.ui.TextInput(
        label="Title, TMDB id or TMDB link",
        placeholder="The Office · 2316 · https://www.themoviedb.org/tv/2316",
        custom_id="conflict:search:query",
        max_length=200,
    )

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(
            title=embeds.clip(f"Search: {conflict.plex_title}", 45),
            custom_id=f"conflict:searchmodal:{conflict.id}",
            timeout=None,
        )
        self.conflict_id = conflict.id

    async def on_submit(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with guarded(interaction):
            conflict = await load_conflict(interaction, self.conflict_id)
            if await refuse_unless_owner(interaction, conflict.user_id):
                return
            text = self.query.value.strip()
            tmdb_id = parse_tmdb_id(text)
            if tmdb_id is not None:
                await resolve_and_show(
                    interaction, self.conflict_id, UseTmdb(tmdb_id), edit_source=False
                )
                return
            results = await search_tmdb(interaction, text)
            if not results:
                await reply(interaction, f"TMDB found nothing for “{embeds.clip(text, 80)}”.")
                return
            await reply(
                interaction,
                "Which one is it?",
                view=tmdb_results_view(self.conflict_id, results),
            )


def parse_tmdb_id(text: str) -> int | None:
    """A bare number or a themoviedb.org/tv/<id>[-slug] link; None means "search by title"."""
    if text.isdigit():
        return int(text)
    found = _TMDB_URL.search(text)
    return int(found[1]) if found else None


async def search_tmdb(interaction: Interaction, title: str) -> list[tuple[int, str]]:
    tmdb = interaction.client.services.tmdb
    if not tmdb.configured:
        raise InvalidInputError("TMDB is not configured here: give the show's TMDB id instead.")
    try:
        results = await tmdb.search_tv(title, None)
    except UpstreamError as exc:
        raise InvalidInputError(f"TMDB search failed ({exc}); try again later.") from None
    return [(r.id, embeds.clip(embeds.titled(r.name, r.year), 70)) for r in results]


class TmdbButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"conflict:tmdb:(?P<conflict>[0-9]{1,18}):(?P<tmdb>[0-9]{1,10})",
):
    def __init__(self, conflict_id: int, tmdb_id: int, label: str = "This one") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                style=discord.ButtonStyle.primary,
                custom_id=f"conflict:tmdb:{conflict_id}:{tmdb_id}",
            )
        )
        self.conflict_id = conflict_id
        self.tmdb_id = tmdb_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TmdbButton:
        return cls(int(match["conflict"]), int(match["tmdb"]))

    async def callback(self, interaction: Interaction) -> None:
        await defer_update(interaction)
        async with guarded(interaction):
            await resolve_and_show(
                interaction, self.conflict_id, UseTmdb(self.tmdb_id), edit_source=False
            )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PickButton,
    PickSelect,
    NewShowButton,
    SearchButton,
    IgnoreButton,
    TmdbButton,
)
