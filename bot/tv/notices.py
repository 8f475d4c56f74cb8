"""Outbox renderers for the tracker's notification kinds: what the notifier posts for a
'new_episode' or 'weekly_recap' row. None means "nothing to say any more" (the show was
deleted, the user turned notices off or already watched it, the week was empty): the row
is then marked delivered without a message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import discord

from bot.tv import embeds
from bot.tv.charts import attach_chart
from bot.tv.views import notice_view
from core.db import tv_notices, tv_prefs, tv_progress
from core.db.outbox import Notification
from core.db.pool import Conn
from core.services.container import Services

KINDS = (tv_notices.NEW_EPISODE, tv_notices.WEEKLY_RECAP)
_CODE = re.compile(r"S(\d+)E(\d+)")


@dataclass
class Rendered:
    embed: discord.Embed
    view: discord.ui.View | None = None
    files: list[discord.File] = field(default_factory=list)


async def build(
    conn: Conn, services: Services, note: Notification
) -> tuple[discord.Embed, discord.ui.View | None, str, list[discord.File]] | None:
    """What the notifier sends for a tracker notification: embed, buttons, what it is (for
    the logs) and files; None when there is nothing to say any more."""
    rendered = await render(conn, services, note)
    if rendered is None:
        return None
    return rendered.embed, rendered.view, f"{note.kind} {note.ref_id}", rendered.files


async def render(conn: Conn, services: Services, note: Notification) -> Rendered | None:
    if note.kind == tv_notices.NEW_EPISODE:
        return await _new_episode(conn, services, note.ref_id)
    if note.kind == tv_notices.WEEKLY_RECAP:
        return await _recap(conn, services, note.ref_id)
    raise ValueError(f"not a tracker notification: {note.kind}")


async def _new_episode(conn: Conn, services: Services, notice_id: int) -> Rendered | None:
    notice = await tv_notices.episode_notice(conn, notice_id)
    if notice is None:
        return None
    prefs = await tv_prefs.get(conn, notice.user_id)
    show = await tv_progress.show(conn, notice.user_id, notice.tvshow_id, datetime.now(UTC).date())
    if show is None or not prefs.new_episodes or not show.notify or show.abandoned:
        return None
    wanted = [(int(m[1]), int(m[2])) for m in map(_CODE.fullmatch, notice.episodes) if m]
    unwatched = await tv_progress.unwatched_among(conn, notice.tvshow_id, wanted)
    if not unwatched:
        return None  # watched before we could tell them
    poster = await services.tmdb.poster_url(notice.poster_path)
    embed = embeds.new_episode_embed(
        notice.show_title,
        notice.show_year,
        unwatched,
        notice.air_date,
        poster_url=poster,
        tmdb_id=notice.tmdb_id,
    )
    first = unwatched[0]
    view = notice_view(notice.user_id, notice.tvshow_id, first.season, first.episode, first.code)
    return Rendered(embed, view)


async def _recap(conn: Conn, services: Services, recap_id: int) -> Rendered | None:
    recap = await tv_notices.recap(conn, recap_id)
    if recap is None:
        return None
    prefs = await tv_prefs.get(conn, recap.user_id)
    if not prefs.weekly_recap:
        return None
    stats = await services.tracker.recap(recap.user_id, recap.week_start)
    if stats.activity.empty:
        return None  # nothing watched that week: no message rather than a sad one
    embed = embeds.recap_embed(stats)
    start = recap.week_start
    file = await attach_chart(embed, stats.activity, title=f"week of {start:%b} {start.day}")
    return Rendered(embed, files=[file] if file else [])
