"""What /tv shows: pure functions of the tracker's dataclasses, no I/O. Every embed reads
on its own: a chart, when attached, only adds a picture of what the text already says."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import discord

from bot.embeds import BLURPLE, GREEN, GREY, bar, clip, titled
from core.clients.tmdb import TmdbShowSummary
from core.db.tv_prefs import TvPrefs
from core.db.tv_progress import EpisodeRef, ShowProgress, UpNext, Watch
from core.tracker.activity import Activity, RecapStats
from core.tracker.now import NowPlaying
from core.tracker.service import (
    SOURCES,
    WATCH_SOURCES,
    History,
    MarkResult,
    ShowDetail,
    ShowPage,
)

CHART_FILE = "activity.png"
# /tv upnext lists this many shows (with their last-watched times, well inside an embed's
# 4,096 characters) and asks for up to UPNEXT_FETCH to say how many more are in progress.
UPNEXT_LINES = 15
UPNEXT_FETCH = 101
FILTER_LABELS = {
    "watching": "watching",
    "finished": "finished",
    "not_started": "not started",
    "all": "all",
}
SORT_LABELS = {
    "recent": "last watched",
    "title": "title",
    "progress": "progress",
    "added": "recently added",
    "rating": "your rating",
}
STATE_ICONS = {"watching": "▶️", "finished": "✅", "not_started": "🆕", "abandoned": "💤"}
METHOD_LABELS = {
    "existing": "existing mapping",
    "tmdb_id": "TMDB id",
    "tvdb_id": "TVDB id",
    "imdb_id": "IMDb id",
    "auto_add": "auto-added",
    "fuzzy": "title match",
    "manual": "chosen by you",
    "ignored": "ignored",
}


def ago(moment: datetime | None) -> str:
    return discord.utils.format_dt(moment, "R") if moment else "never"


def day(value: date | None, today: date | None = None) -> str:
    if value is None:
        return "no air date"
    today = today or datetime.now(UTC).date()
    delta = (value - today).days
    if delta == 0:
        return "today"
    if delta == -1:
        return "yesterday"
    if delta == 1:
        return "tomorrow"
    return value.isoformat()


def aired(value: date | None, today: date | None = None) -> str:
    return f"aired {day(value, today)}" if value is not None else "no air date"


def duration(minutes: int) -> str:
    hours, mins = divmod(max(0, minutes), 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def episode_line(ep: EpisodeRef) -> str:
    name = f" “{clip(ep.title, 60)}”" if ep.title else ""
    return f"{ep.code}{name}"


def progress_line(show: ShowProgress, width: int = 12) -> str:
    return f"`{bar(show.watched, show.total, width)}` {show.watched}/{show.total}"


def rating_text(value: float | None) -> str:
    return f"★ {value:g}/10" if value is not None else "not rated"


# -- /tv shows --------------------------------------------------------------------------------


def shows_embed(page: ShowPage) -> discord.Embed:
    heading = FILTER_LABELS[page.show_filter]
    embed = discord.Embed(title=f"Your shows · {heading}", colour=BLURPLE)
    if not page.items:
        embed.description = (
            "Nothing here yet. `/tv add` adds a show from TMDB; watching on Plex adds them too."
            if page.show_filter == "all"
            else f"No {heading} shows. Try `filter: all`."
        )
    else:
        lines = []
        for show in page.items:
            icon = STATE_ICONS.get(show.state, "•")
            lines.append(
                f"{icon} **{clip(titled(show.title, show.year), 70)}**\n"
                f"{progress_line(show)} · last watched {ago(show.last_watched_at)}"
            )
        embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(
        text=f"Page {page.page + 1}/{page.pages} · {page.total} show"
        f"{'s' if page.total != 1 else ''} · sorted by {SORT_LABELS[page.sort]}"
    )
    return embed


# -- /tv show ---------------------------------------------------------------------------------


def show_embed(detail: ShowDetail, *, today: date | None = None) -> discord.Embed:
    show = detail.show
    state = STATE_ICONS.get(show.state, "")
    # TMDB's status is a couple of words, but an imported one is whatever the file said.
    status = f" · {clip(show.status, 60)}" if show.status else ""
    embed = discord.Embed(
        title=clip(titled(show.title, show.year), 256),
        url=detail.tmdb_url,
        colour=GREEN if show.state == "finished" else GREY if show.abandoned else BLURPLE,
        description=(
            f"{progress_line(show, 16)} episodes watched · {duration(show.minutes)}\n"
            f"{state} {show.state.replace('_', ' ')}{status}"
        ),
    )
    if detail.poster_url:
        embed.set_thumbnail(url=detail.poster_url)
    seasons = [
        f"{'Specials' if s.season == 0 else f'S{s.season}'} "
        f"{'✅ ' if s.total and s.watched >= s.aired and s.aired == s.total else ''}"
        f"{s.watched}/{s.total}" + (f" ({s.aired} aired)" if s.aired < s.total else "")
        for s in detail.seasons
    ]
    embed.add_field(
        name="Seasons", value=clip("\n".join(seasons) or "no episodes known", 1024), inline=True
    )
    if detail.next is not None:
        next_text = f"**{episode_line(detail.next)}**\n{aired(detail.next.air_date, today)}"
    elif show.total and show.watched:
        next_text = "All caught up ✅"
    else:
        next_text = "nothing aired yet"
    if detail.upcoming is not None:
        next_text += (
            f"\nnext to air: {detail.upcoming.code} on {day(detail.upcoming.air_date, today)}"
        )
    embed.add_field(name="Next up", value=clip(next_text, 1024), inline=True)
    last = detail.last_watch
    embed.add_field(
        name="Last watched",
        value=(
            f"{last.code} {ago(last.watched_at)} · {WATCH_SOURCES.get(last.source, last.source)}"
            if last
            else "never"
        ),
        inline=False,
    )
    embed.add_field(name="Your rating", value=rating_text(show.user_rating), inline=True)
    embed.add_field(name="Added from", value=SOURCES.get(show.source, show.source), inline=True)
    embed.add_field(
        name="New-episode notices",
        value="off (abandoned)" if show.abandoned else "on" if show.notify else "off",
        inline=True,
    )
    plex = [
        f"“{clip(titled(link.plex_title or '?', link.plex_year), 60)}” · "
        + (
            "ignored"
            if not link.sync_enabled
            else f"{METHOD_LABELS.get(link.match_method, link.match_method)}"
            + (
                f" {round(100 * link.match_confidence)}%"
                if link.match_confidence is not None and not link.manually_confirmed
                else ""
            )
        )
        for link in detail.plex
    ]
    embed.add_field(
        name="Plex", value=clip("\n".join(plex) or "not seen from Plex yet", 1024), inline=False
    )
    tmdb = f" · TMDB {show.tmdb_id}" if show.tmdb_id else ""
    embed.set_footer(text=f"show {show.id}{tmdb}")
    return embed


def mark_content(result: MarkResult) -> str:
    show = result.detail.show
    title = clip(show.title, 100)
    verb = "Marked" if result.watched else "Unmarked"
    state = "watched" if result.watched else "unwatched"
    if result.changed == 0:
        return (
            f"**{title}** {result.what} was already {state}: nothing changed. "
            f"{show.watched}/{show.total} watched."
        )
    count = (
        ""
        if result.scope == "episode"
        else f" ({result.changed} episode{'s' if result.changed != 1 else ''})"
    )
    how = ", as a manual watch" if result.watched else ""
    return (
        f"{'✅' if result.watched else '↩️'} {verb} **{title}** {result.what} {state}"
        f"{count}{how}. {show.watched}/{show.total} watched."
    )


# -- /tv add ----------------------------------------------------------------------------------


def search_results_embed(query: str, results: Sequence[TmdbShowSummary]) -> discord.Embed:
    """The heading; each answer follows in its own embed (search_result_embed)."""
    embed = discord.Embed(title=clip(f"TMDB: “{query}”", 256), colour=BLURPLE)
    if not results:
        embed.description = "TMDB found nothing by that name."
        return embed
    count = f"{len(results)} answers" if len(results) != 1 else "1 answer"
    embed.description = f"{count}: pick one to add it with all its episodes."
    return embed


def search_result_embed(
    index: int, result: TmdbShowSummary, poster_url: str | None
) -> discord.Embed:
    """One TMDB answer with its poster: the picture autocomplete choices can't carry."""
    embed = discord.Embed(
        title=clip(f"{index + 1}. {titled(result.name, result.year)}", 256),
        url=f"https://www.themoviedb.org/tv/{result.id}",
        colour=BLURPLE,
    )
    if result.original_name != result.name:
        embed.description = clip(result.original_name, 200)
    if poster_url:
        embed.set_thumbnail(url=poster_url)
    return embed


# -- /tv upnext -------------------------------------------------------------------------------


def upnext_embed(items: Sequence[UpNext], *, today: date | None = None) -> discord.Embed:
    """`items` as the service gives them (at most UPNEXT_FETCH): the first UPNEXT_LINES
    are listed, and the footer says how many more shows are in progress."""
    embed = discord.Embed(title="Up next", colour=BLURPLE)
    if not items:
        embed.description = (
            "Nothing in progress: every show you started is caught up (or abandoned). "
            "`/tv shows filter: not started` lists what you haven't begun."
        )
        return embed
    lines = []
    for item in items[:UPNEXT_LINES]:
        new = "✨ " if item.new_since_last_watch else ""
        lines.append(
            f"{new}**{clip(item.show.title, 60)}** {episode_line(item.next)}\n"
            f"{aired(item.next.air_date, today)} · {item.show.watched}/{item.show.total}"
            f" · last watched {ago(item.show.last_watched_at)}"
        )
    embed.description = clip("\n".join(lines), 4000)
    footer = "✨ aired since you last watched · buttons mark the episode watched"
    if len(items) > UPNEXT_LINES:
        more = f"{UPNEXT_FETCH - 1}+" if len(items) >= UPNEXT_FETCH else str(len(items))
        footer = f"{UPNEXT_LINES} of {more} shows in progress · {footer}"
    embed.set_footer(text=footer)
    return embed


# -- /tv history ------------------------------------------------------------------------------


def history_embed(history: History) -> discord.Embed:
    plural = "s" if history.total != 1 else ""
    embed = discord.Embed(
        title=f"Watched in the last {history.days} day{'s' if history.days != 1 else ''} "
        f"({history.total} episode{plural})",
        colour=BLURPLE,
    )
    if not history.watches:
        embed.description = "Nothing watched in that time."
        return embed
    embed.description = clip("\n".join(_watch_line(w) for w in history.watches), 4000)
    shown = len(history.watches)
    more = f"newest {shown} of {history.total} · " if shown < history.total else ""
    embed.set_footer(
        text=f"{more}Plex = as it happened · Plex history sync = read back later · "
        "manual = /tv mark"
    )
    return embed


def _watch_line(w: Watch) -> str:
    name = f" “{clip(w.title, 40)}”" if w.title else ""
    rated = f" · ★ {w.user_rating:g}" if w.user_rating is not None else ""
    return (
        f"{ago(w.watched_at)} **{clip(w.show_title, 50)}** {w.code}{name}"
        f" · {WATCH_SOURCES.get(w.source, w.source)}{rated}"
    )


# -- /tv now ----------------------------------------------------------------------------------


def now_embed(sessions: Sequence[NowPlaying]) -> discord.Embed:
    embed = discord.Embed(title="Now watching on Plex", colour=GREEN if sessions else GREY)
    if not sessions:
        embed.description = "Nobody you follow is watching anything on Plex right now."
        return embed
    lines = []
    for s in sessions:
        icon = "▶️" if s.state == "playing" else "⏸️"
        what = clip(titled(s.title, s.year if s.media_type != "episode" else None), 60)
        if s.episode_code:
            what += f" {s.episode_code}"
            if s.episode_title:
                what += f" “{clip(s.episode_title, 40)}”"
        where = f" · {clip(s.player, 40)}" if s.player else ""
        progress = ""
        if s.position_ms is not None and s.duration_ms:
            progress = f" — {s.position_ms // 60000} of {s.duration_ms // 60000} min"
        lines.append(f"{icon} **{clip(s.account, 40)}** · {what}{progress}{where}")
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="From Plex's play/pause/stop events; never recorded as watched.")
    return embed


# -- /tv notify -------------------------------------------------------------------------------


def notify_embed(
    prefs: TvPrefs,
    *,
    channel_id: int | None,
    muted: Sequence[str] = (),
    heading: str = "Notifications",
) -> discord.Embed:
    where = f"<#{channel_id}>" if channel_id else "your DMs"
    embed = discord.Embed(title=heading, colour=BLURPLE)
    embed.add_field(
        name="New episodes",
        value=(
            f"on: one message per show per day, to {where}, for shows you have started"
            if prefs.new_episodes
            else "off"
        ),
        inline=False,
    )
    embed.add_field(
        name="Weekly recap",
        value=f"on: after each week (Mondays, UTC), to {where}" if prefs.weekly_recap else "off",
        inline=False,
    )
    if muted:
        embed.add_field(
            name="Shows without notices", value=clip(", ".join(muted), 1024), inline=False
        )
    embed.set_footer(
        text="/tv notify state:on|off [show:] · recap:on|off · /plex settings channel:"
    )
    return embed


# -- notices and charts -----------------------------------------------------------------------


def new_episode_embed(
    title: str,
    year: int | None,
    episodes: Sequence[EpisodeRef],
    air_date: date,
    *,
    poster_url: str | None,
    tmdb_id: int | None,
    today: date | None = None,
) -> discord.Embed:
    codes = _codes(episodes)
    when = day(air_date, today)
    verb = "aired" if when not in ("tomorrow",) else "airs"
    embed = discord.Embed(
        title=clip(f"{title} {codes} {verb} {when}", 256),
        url=f"https://www.themoviedb.org/tv/{tmdb_id}" if tmdb_id else None,
        colour=GREEN,
        description=clip(
            "\n".join(
                f"{episode_line(e)}" + (f" · {e.runtime} min" if e.runtime else "")
                for e in episodes
            ),
            4000,
        ),
    )
    if poster_url:
        embed.set_thumbnail(url=poster_url)
    embed.set_footer(text=f"{titled(title, year)} · /tv notify state:off show:… to stop these")
    return embed


def _codes(episodes: Sequence[EpisodeRef]) -> str:
    if len(episodes) == 1:
        return episodes[0].code
    first, last = episodes[0], episodes[-1]
    if first.season == last.season:
        return f"{first.code}–E{last.episode:02d}"
    return f"{first.code}–{last.code}"


def activity_fields(embed: discord.Embed, activity: Activity, *, days: int) -> None:
    """The chart's figures as text (the embed reads without the image)."""
    if activity.empty:
        embed.add_field(name=f"Watched, last {days} days", value="nothing yet", inline=False)
        return
    busiest = activity.busiest
    top = ", ".join(f"{clip(s.name, 30)} {sum(s.episodes)}" for s in activity.series[:3])
    text = (
        f"{activity.episodes} episodes · {activity.minutes / 60:.1f} h · {activity.shows} shows"
        f"\ntop: {top}"
    )
    if busiest:
        text += f"\nbusiest day: {busiest[0]:%a %b} {busiest[0].day} ({busiest[1]} episodes)"
    embed.add_field(name=f"Watched, last {days} days", value=clip(text, 1024), inline=False)


def recap_embed(stats: RecapStats) -> discord.Embed:
    start = stats.week_start
    end = stats.activity.days[-1]
    embed = discord.Embed(
        title=f"Your week in TV: {start:%b} {start.day} – {end:%b} {end.day}",
        colour=BLURPLE,
    )
    a = stats.activity
    embed.add_field(name="Episodes", value=str(a.episodes), inline=True)
    embed.add_field(name="Hours", value=f"{a.minutes / 60:.1f}", inline=True)
    embed.add_field(name="Shows", value=str(a.shows), inline=True)
    embed.add_field(
        name="Finished",
        value=clip(", ".join(stats.finished) or "none this week", 1024),
        inline=False,
    )
    embed.add_field(
        name="Streak",
        value=f"{stats.streak} day{'s' if stats.streak != 1 else ''} in a row"
        f" (longest this week: {stats.longest_in_week})",
        inline=True,
    )
    if stats.top_show:
        embed.add_field(name="Most watched", value=clip(stats.top_show, 256), inline=True)
    embed.set_footer(text="Weekly recap · /tv notify recap:off to stop")
    return embed
