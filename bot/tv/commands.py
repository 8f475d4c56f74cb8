"""The /tv command group: the tracker from Discord. Every command acknowledges at once,
answers privately unless `share: True`, and works on the caller's own tracker user only;
someone who never connected is told to `/plex connect` first."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Literal

import discord
from discord import app_commands

from bot.embeds import clip, titled
from bot.replies import defer, known_user, reply, require_user
from bot.tv import embeds
from bot.tv.views import (
    add_content,
    results_view,
    show_view,
    shows_view,
    tracker,
    upnext_view,
)
from core.clients.errors import UpstreamError
from core.db import plex_config
from core.db.tv_marks import Scope
from core.errors import InvalidInputError
from core.tracker.service import MAX_EPISODE, MAX_SEASON

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
FilterChoice = Literal["watching", "finished", "not started", "all"]
SortChoice = Literal["recent", "title", "progress", "added", "rating"]
OnOff = Literal["on", "off"]
SHOW_PREFIX = "id:"  # autocomplete values; typed text is looked up by title
TMDB_PREFIX = "tmdb:"
AUTOCOMPLETE_SECONDS = 2.5  # Discord drops autocomplete answers after 3 s
_TMDB_URL = re.compile(r"themoviedb\.org/tv/(\d+)")

SCOPES: dict[str, Scope] = {
    "this episode": "episode",
    "whole season": "season",
    "up to here": "up_to",
}
ScopeChoice = Literal["this episode", "whole season", "up to here"]
SeasonOption = app_commands.Range[int, 0, MAX_SEASON]
EpisodeOption = app_commands.Range[int, 0, MAX_EPISODE]


async def show_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    """The caller's shows matching what they typed, with progress."""
    user = await known_user(interaction)
    if user is None:
        return []
    shows = await tracker(interaction).find_shows(user.id, current)
    return [
        app_commands.Choice(
            name=clip(f"{titled(s.title, s.year)} · {s.watched}/{s.total}", 100),
            value=f"{SHOW_PREFIX}{s.id}",
        )
        for s in shows[:25]
    ]


async def tmdb_choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
    """TMDB search as the user types, with the year (and the original title when it
    differs); a slow or failing TMDB gives no suggestions rather than an error."""
    if len(current.strip()) < 2 or not interaction.client.services.tmdb.configured:
        return []
    try:
        async with asyncio.timeout(AUTOCOMPLETE_SECONDS):
            results = await tracker(interaction).search_tmdb(current, limit=25)
    except (TimeoutError, InvalidInputError, UpstreamError) as exc:
        log.info("tmdb autocomplete for %r gave nothing: %s", current[:50], exc)
        return []
    choices = []
    for r in results:
        extra = f" · {r.original_name}" if r.original_name != r.name else ""
        choices.append(
            app_commands.Choice(
                name=clip(f"{titled(r.name, r.year)}{extra}", 100), value=f"{TMDB_PREFIX}{r.id}"
            )
        )
    return choices


async def _show_id(interaction: Interaction, user_id: int, value: str) -> int:
    if value.startswith(SHOW_PREFIX) and value[len(SHOW_PREFIX) :].isdigit():
        return int(value[len(SHOW_PREFIX) :])
    return (await tracker(interaction).resolve_show(user_id, value)).id


def _tmdb_id(value: str) -> int | None:
    """An autocomplete pick or a TMDB link; None means "search by this title"."""
    text = value.strip()
    if text.startswith(TMDB_PREFIX) and text[len(TMDB_PREFIX) :].isdigit():
        return int(text[len(TMDB_PREFIX) :])
    found = _TMDB_URL.search(text)
    return int(found[1]) if found else None


def tv_group() -> app_commands.Group:
    tv = app_commands.Group(name="tv", description="Your TV tracker: shows, progress, up next")

    @tv.command(name="shows", description="Your shows with progress, page by page")
    @app_commands.describe(
        filter="Which shows (default: all)",
        sort="Order (default: last watched)",
        share="Post it for everyone in the channel to see",
    )
    async def shows(
        interaction: Interaction,
        filter: FilterChoice = "all",
        sort: SortChoice = "recent",
        share: bool = False,
    ) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        show_filter = "not_started" if filter == "not started" else filter
        page = await tracker(interaction).shows(user.id, show_filter=show_filter, sort=sort)
        await reply(
            interaction,
            embed=embeds.shows_embed(page),
            view=shows_view(user.id, page),
            ephemeral=not share,
        )

    @tv.command(name="show", description="One show: seasons, next episode, rating, Plex")
    @app_commands.describe(title="The show (type to search your tracker)", share="Post it publicly")
    @app_commands.autocomplete(title=show_choices)
    async def show(interaction: Interaction, title: str, share: bool = False) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        show_id = await _show_id(interaction, user.id, title)
        detail = await tracker(interaction).detail(user.id, show_id)
        await reply(
            interaction,
            embed=embeds.show_embed(detail),
            view=show_view(user.id, detail),
            ephemeral=not share,
        )

    @tv.command(name="add", description="Add a show from TMDB with all its episodes")
    @app_commands.describe(
        title="The show's name (type to search TMDB), or a TMDB link", share="Post it publicly"
    )
    @app_commands.autocomplete(title=tmdb_choices)
    async def add(interaction: Interaction, title: str, share: bool = False) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        service = tracker(interaction)
        tmdb_id = _tmdb_id(title)
        if tmdb_id is None:
            # Typed without picking a suggestion: let them pick from TMDB's answers.
            results = await service.search_tmdb(title, limit=5)
            tmdb = interaction.client.services.tmdb
            posters = await asyncio.gather(*(tmdb.poster_url(r.poster_path) for r in results))
            await reply(
                interaction,
                embeds=[
                    embeds.search_results_embed(title.strip(), results),
                    *(
                        embeds.search_result_embed(i, r, poster)
                        for i, (r, poster) in enumerate(zip(results, posters, strict=True))
                    ),
                ],
                view=results_view(user.id, results),
                ephemeral=not share,
            )
            return
        result = await service.add_show(user.id, tmdb_id)
        await reply(
            interaction,
            add_content(result.detail, result.created),
            embed=embeds.show_embed(result.detail),
            view=show_view(user.id, result.detail),
            ephemeral=not share,
        )

    @tv.command(name="upnext", description="The next episode of every show you're watching")
    @app_commands.describe(share="Post it publicly")
    async def upnext(interaction: Interaction, share: bool = False) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        items = await tracker(interaction).up_next(user.id, limit=embeds.UPNEXT_FETCH)
        await reply(
            interaction,
            embed=embeds.upnext_embed(items),
            view=upnext_view(user.id, items),
            ephemeral=not share,
        )

    async def _mark(
        interaction: Interaction,
        title: str,
        season: int | None,
        episode: int | None,
        scope: ScopeChoice,
        share: bool,
        *,
        watched: bool,
    ) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        show_id = await _show_id(interaction, user.id, title)
        result = await tracker(interaction).mark(
            user.id,
            show_id,
            watched=watched,
            scope=SCOPES[scope],
            season=season,
            episode=episode,
        )
        await reply(
            interaction,
            embeds.mark_content(result),
            embed=embeds.show_embed(result.detail),
            view=show_view(user.id, result.detail),
            ephemeral=not share,
        )

    @tv.command(name="mark", description="Mark episodes watched (outside Plex)")
    @app_commands.describe(
        show="The show (type to search your tracker)",
        season="Season number (leave out both for the next episode)",
        episode="Episode number",
        scope="Just this episode, the whole season, or everything up to this episode",
        share="Post it publicly",
    )
    @app_commands.autocomplete(show=show_choices)
    async def mark(
        interaction: Interaction,
        show: str,
        season: SeasonOption | None = None,
        episode: EpisodeOption | None = None,
        scope: ScopeChoice = "this episode",
        share: bool = False,
    ) -> None:
        await _mark(interaction, show, season, episode, scope, share, watched=True)

    @tv.command(name="unmark", description="Mark episodes unwatched again")
    @app_commands.describe(
        show="The show (type to search your tracker)",
        season="Season number (leave out both for the last one watched)",
        episode="Episode number",
        scope="Just this episode, the whole season, or everything up to this episode",
        share="Post it publicly",
    )
    @app_commands.autocomplete(show=show_choices)
    async def unmark(
        interaction: Interaction,
        show: str,
        season: SeasonOption | None = None,
        episode: EpisodeOption | None = None,
        scope: ScopeChoice = "this episode",
        share: bool = False,
    ) -> None:
        await _mark(interaction, show, season, episode, scope, share, watched=False)

    @tv.command(name="history", description="What you watched, newest first, and from where")
    @app_commands.describe(days="How far back (1-365, default 7)", share="Post it publicly")
    async def history(
        interaction: Interaction,
        days: app_commands.Range[int, 1, 365] = 7,
        share: bool = False,
    ) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        found = await tracker(interaction).history(user.id, days)
        await reply(interaction, embed=embeds.history_embed(found), ephemeral=not share)

    @tv.command(name="now", description="What the Plex accounts you follow are watching now")
    @app_commands.describe(share="Post it publicly")
    async def now(interaction: Interaction, share: bool = False) -> None:
        await defer(interaction, ephemeral=not share)
        user = await require_user(interaction)
        sessions = await tracker(interaction).now_watching(user.id)
        await reply(interaction, embed=embeds.now_embed(sessions), ephemeral=not share)

    @tv.command(name="notify", description="New-episode notices (all shows or one) and the recap")
    @app_commands.describe(
        state="Turn new-episode notices on or off (for `show`, or for every show)",
        show="Just this show (type to search)",
        recap="A weekly recap with a chart, on Mondays",
    )
    @app_commands.autocomplete(show=show_choices)
    async def notify(
        interaction: Interaction,
        state: OnOff | None = None,
        show: str | None = None,
        recap: OnOff | None = None,
    ) -> None:
        await defer(interaction)
        user = await require_user(interaction)
        service = tracker(interaction)
        if show is not None:
            if state is None:
                raise InvalidInputError("Say `state: on` or `state: off` for the show.")
            show_id = await _show_id(interaction, user.id, show)
            detail = await service.set_show_notify(user.id, show_id, state == "on")
            if recap is not None:
                await service.set_notify(user.id, weekly_recap=recap == "on")
            await reply(
                interaction,
                f"🔔 New-episode notices **{state}** for **{clip(detail.show.title, 100)}**.",
                embed=embeds.show_embed(detail),
                view=show_view(user.id, detail),
            )
            return
        changing = state is not None or recap is not None
        if changing:
            prefs = await service.set_notify(
                user.id,
                new_episodes=None if state is None else state == "on",
                weekly_recap=None if recap is None else recap == "on",
            )
        else:
            prefs = await service.notify_settings(user.id)
        async with interaction.client.services.pool.acquire() as conn:
            config = await plex_config.get(conn, user.id)
        muted = [s.title for s in await service.find_shows(user.id, "", limit=1000) if not s.notify]
        await reply(
            interaction,
            embed=embeds.notify_embed(
                prefs,
                channel_id=config.notify_channel_id if config else None,
                muted=muted,
                heading="Notifications saved" if changing else "Notifications",
            ),
        )

    return tv
