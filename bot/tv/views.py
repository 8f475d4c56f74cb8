"""/tv buttons: persistent (DynamicItem), so they keep working after a restart, and
owner-only, like the conflict buttons: the custom_id names the tracker user it was drawn
for and every click is re-checked against the clicker; the show id in it is looked up
within that user's tracker only.

custom_id grammar (at most 100 characters, untrusted):
  tv:shows:<user>:<filter>:<sort>:<page>:<p|n>   /tv shows paging (target page)
  tv:next:<user>:<show>                          mark the next episode watched
  tv:refresh:<user>:<show>                       refresh the show from TMDB
  tv:notify:<user>:<show>:<0|1>                  new-episode notices for the show off/on
  tv:drop:<user>:<show>:<0|1>                    resume / abandon the show
  tv:watch:<user>:<show>:<season>:<episode>:<u|n>  mark one episode (up next, a notice)
  tv:add:<user>:<tmdb id>                        add a TMDB search result
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import discord

from bot.buttons import OwnerButton
from bot.embeds import clip, titled
from bot.tv import embeds
from core.clients.tmdb import TmdbShowSummary
from core.db.tv_progress import ShowFilter, ShowSort, UpNext
from core.tracker.service import ShowDetail, ShowPage, TrackerService

Interaction = discord.Interaction[Any]

FILTER_CODES: dict[str, ShowFilter] = {
    "w": "watching",
    "f": "finished",
    "n": "not_started",
    "a": "all",
}
SORT_CODES: dict[str, ShowSort] = {
    "r": "recent",
    "t": "title",
    "p": "progress",
    "d": "added",
    "s": "rating",
}
_FILTER_CODE = {v: k for k, v in FILTER_CODES.items()}
_SORT_CODE = {v: k for k, v in SORT_CODES.items()}
MAX_WATCH_BUTTONS = 5
_ID = "[0-9]{1,18}"


def tracker(interaction: Interaction) -> TrackerService:
    service: TrackerService = interaction.client.services.tracker
    return service


class TvButton(OwnerButton, template=r"(?!)"):
    """A /tv button of one tracker user: `tv:<action>:<user>[:<arg>...]`."""

    action: ClassVar[str]

    def __init__(
        self,
        user_id: int,
        *args: int | str,
        label: str = "…",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
        row: int | None = None,
    ) -> None:
        custom_id = ":".join(["tv", self.action, str(user_id), *(str(a) for a in args)])
        super().__init__(
            user_id,
            discord.ui.Button(
                label=clip(label, 80),
                style=style,
                custom_id=custom_id,
                disabled=disabled,
                row=row,
            ),
        )


# -- /tv shows paging -------------------------------------------------------------------------


class PageButton(
    TvButton,
    template=rf"tv:shows:(?P<user>{_ID}):(?P<f>[wfna]):(?P<s>[rtpds]):(?P<page>[0-9]{{1,5}}):(?P<d>[pn])",
):
    action = "shows"

    def __init__(
        self,
        user_id: int,
        show_filter: ShowFilter,
        sort: ShowSort,
        page: int,
        direction: str,
        *,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            user_id,
            _FILTER_CODE[show_filter],
            _SORT_CODE[sort],
            max(0, page),
            direction,
            label="◀ Previous" if direction == "p" else "Next ▶",
            disabled=disabled,
        )
        self.show_filter, self.sort, self.page = show_filter, sort, max(0, page)

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(
            int(match["user"]),
            FILTER_CODES[match["f"]],
            SORT_CODES[match["s"]],
            int(match["page"]),
            match["d"],
        )

    async def pressed(self, interaction: Interaction) -> None:
        page = await tracker(interaction).shows(
            self.user_id, show_filter=self.show_filter, sort=self.sort, page=self.page
        )
        await interaction.edit_original_response(
            embed=embeds.shows_embed(page), view=shows_view(self.user_id, page)
        )


def shows_view(user_id: int, page: ShowPage) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        PageButton(
            user_id, page.show_filter, page.sort, page.page - 1, "p", disabled=page.page == 0
        )
    )
    view.add_item(
        PageButton(
            user_id,
            page.show_filter,
            page.sort,
            page.page + 1,
            "n",
            disabled=page.page >= page.pages - 1,
        )
    )
    return view


# -- /tv show ---------------------------------------------------------------------------------


class ShowButton(TvButton, template=r"(?!)"):
    """A button on a show's card: acts on the show, then redraws the card. Its custom_id
    is `tv:<action>:<user>:<show>`."""

    def __init__(self, user_id: int, show_id: int, *args: int | str, **kwargs: Any) -> None:
        super().__init__(user_id, show_id, *args, **kwargs)
        self.show_id = show_id

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(int(match["user"]), int(match["show"]))

    async def redraw(self, interaction: Interaction, detail: ShowDetail, content: str) -> None:
        await interaction.edit_original_response(
            content=content, embed=embeds.show_embed(detail), view=show_view(self.user_id, detail)
        )


class MarkNextButton(ShowButton, template=rf"tv:next:(?P<user>{_ID}):(?P<show>{_ID})"):
    action = "next"

    async def pressed(self, interaction: Interaction) -> None:
        result = await tracker(interaction).mark(self.user_id, self.show_id)
        await self.redraw(interaction, result.detail, embeds.mark_content(result))


class RefreshButton(ShowButton, template=rf"tv:refresh:(?P<user>{_ID}):(?P<show>{_ID})"):
    action = "refresh"

    async def pressed(self, interaction: Interaction) -> None:
        detail, added = await tracker(interaction).refresh_from_tmdb(self.user_id, self.show_id)
        news = f"{added} new episode{'s' if added != 1 else ''}" if added else "no new episodes"
        await self.redraw(interaction, detail, f"🔄 Refreshed from TMDB: {news}.")


class SwitchButton(ShowButton, template=r"(?!)"):
    """Turns a setting of the show on or off: `tv:<action>:<user>:<show>:<0|1>`."""

    def __init__(self, user_id: int, show_id: int, on: int, **kwargs: Any) -> None:
        super().__init__(user_id, show_id, on, **kwargs)
        self.on = bool(on)

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(int(match["user"]), int(match["show"]), int(match["on"]))


class NotifyButton(
    SwitchButton, template=rf"tv:notify:(?P<user>{_ID}):(?P<show>{_ID}):(?P<on>[01])"
):
    action = "notify"

    async def pressed(self, interaction: Interaction) -> None:
        detail = await tracker(interaction).set_show_notify(self.user_id, self.show_id, self.on)
        state = "on" if self.on else "off"
        await self.redraw(interaction, detail, f"🔔 New-episode notices {state} for this show.")


class AbandonButton(
    SwitchButton, template=rf"tv:drop:(?P<user>{_ID}):(?P<show>{_ID}):(?P<on>[01])"
):
    action = "drop"

    async def pressed(self, interaction: Interaction) -> None:
        detail = await tracker(interaction).set_abandoned(self.user_id, self.show_id, self.on)
        text = (
            "💤 Abandoned: it leaves up next and its new episodes won't be announced."
            if self.on
            else "▶️ Back in progress."
        )
        await self.redraw(interaction, detail, text)


def show_view(user_id: int, detail: ShowDetail) -> discord.ui.View:
    show = detail.show
    view = discord.ui.View(timeout=None)
    nxt = detail.next
    view.add_item(
        MarkNextButton(
            user_id,
            show.id,
            label=f"Mark {nxt.code} watched" if nxt else "Mark next watched",
            style=discord.ButtonStyle.success,
            disabled=nxt is None,
        )
    )
    view.add_item(
        RefreshButton(user_id, show.id, label="Refresh from TMDB", disabled=show.tmdb_id is None)
    )
    view.add_item(
        NotifyButton(
            user_id,
            show.id,
            0 if show.notify else 1,
            label="Notices off" if show.notify else "Notices on",
        )
    )
    view.add_item(
        AbandonButton(
            user_id,
            show.id,
            0 if show.abandoned else 1,
            label="Resume" if show.abandoned else "Abandon",
            style=discord.ButtonStyle.secondary if show.abandoned else discord.ButtonStyle.danger,
        )
    )
    return view


# -- marking one episode (up next, new-episode notices) ---------------------------------------


class WatchButton(
    TvButton,
    template=(
        rf"tv:watch:(?P<user>{_ID}):(?P<show>{_ID}):(?P<season>[0-9]{{1,4}}):"
        r"(?P<episode>[0-9]{1,6}):(?P<ctx>[un])"
    ),
):
    action = "watch"

    def __init__(
        self, user_id: int, show_id: int, season: int, episode: int, ctx: str, **kwargs: Any
    ) -> None:
        super().__init__(user_id, show_id, season, episode, ctx, **kwargs)
        self.show_id, self.season, self.episode, self.ctx = show_id, season, episode, ctx

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(
            int(match["user"]),
            int(match["show"]),
            int(match["season"]),
            int(match["episode"]),
            match["ctx"],
        )

    async def pressed(self, interaction: Interaction) -> None:
        service = tracker(interaction)
        result = await service.mark(
            self.user_id, self.show_id, season=self.season, episode=self.episode
        )
        content = embeds.mark_content(result)
        if self.ctx == "u":  # the up-next list: redraw it without this episode
            items = await service.up_next(self.user_id, limit=embeds.UPNEXT_FETCH)
            await interaction.edit_original_response(
                content=content,
                embed=embeds.upnext_embed(items),
                view=upnext_view(self.user_id, items),
            )
        else:  # a notice: keep it, say it's done, drop the button
            await interaction.edit_original_response(content=content, view=None)


def upnext_view(user_id: int, items: Sequence[UpNext]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items[:MAX_WATCH_BUTTONS]:
        view.add_item(
            WatchButton(
                user_id,
                item.show.id,
                item.next.season,
                item.next.episode,
                "u",
                label=f"✓ {clip(item.show.title, 60)} {item.next.code}",
                style=discord.ButtonStyle.success,
            )
        )
    return view


def notice_view(
    user_id: int, show_id: int, season: int, episode: int, code: str
) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        WatchButton(
            user_id,
            show_id,
            season,
            episode,
            "n",
            label=f"Mark {code} watched",
            style=discord.ButtonStyle.success,
        )
    )
    return view


# -- /tv add ----------------------------------------------------------------------------------


class AddButton(TvButton, template=rf"tv:add:(?P<user>{_ID}):(?P<tmdb>[0-9]{{1,10}})"):
    action = "add"

    def __init__(self, user_id: int, tmdb_id: int, **kwargs: Any) -> None:
        super().__init__(user_id, tmdb_id, **kwargs)
        self.tmdb_id = tmdb_id

    @classmethod
    def rebuild(cls, match: re.Match[str]) -> Self:
        return cls(int(match["user"]), int(match["tmdb"]))

    async def pressed(self, interaction: Interaction) -> None:
        result = await tracker(interaction).add_show(self.user_id, self.tmdb_id)
        await interaction.edit_original_response(
            content=add_content(result.detail, result.created),
            embed=embeds.show_embed(result.detail),
            view=show_view(self.user_id, result.detail),
        )


def add_content(detail: ShowDetail, created: bool) -> str:
    show = detail.show
    name = titled(clip(show.title, 100), show.year)
    if created:
        return f"➕ Added **{name}** with {show.total} episodes."
    return f"**{name}** is already in your tracker."


def results_view(user_id: int, results: Sequence[TmdbShowSummary]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for index, result in enumerate(results[:5]):
        view.add_item(
            AddButton(
                user_id,
                result.id,
                label=f"{index + 1}. {clip(titled(result.name, result.year), 70)}",
                style=discord.ButtonStyle.primary,
            )
        )
    return view


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PageButton,
    MarkNextButton,
    RefreshButton,
    NotifyButton,
    AbandonButton,
    WatchButton,
    AddButton,
)
