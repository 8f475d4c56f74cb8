"""The activity chart as a Discord attachment, drawn off the event loop."""

from __future__ import annotations

import asyncio
import io
import logging
import time

import discord

from bot.tv.embeds import CHART_FILE, activity_fields
from core.tracker.activity import Activity
from core.tracker.chart import render_activity_png
from core.tracker.service import TrackerService

log = logging.getLogger(__name__)


async def attach_chart(
    embed: discord.Embed, activity: Activity, *, title: str
) -> discord.File | None:
    """The PNG as a file to send with `embed`, which then shows it; or None (nothing
    watched, or drawing failed: the embed carries the same figures as text, so it is
    complete without the picture)."""
    if activity.empty:
        return None
    started = time.perf_counter()
    try:
        png = await asyncio.to_thread(render_activity_png, activity, title=title)
    except Exception:
        log.exception("activity chart could not be drawn")
        return None
    log.debug(
        "activity chart: %d bytes in %.0f ms", len(png), (time.perf_counter() - started) * 1000
    )
    embed.set_image(url=f"attachment://{CHART_FILE}")
    return discord.File(
        io.BytesIO(png),
        filename=CHART_FILE,
        description=f"Episodes per day and hours watched, {title}",
    )


async def attach_activity(
    tracker: TrackerService, embed: discord.Embed, user_id: int, *, days: int, title: str
) -> discord.File | None:
    """Add the period's figures to `embed` and return the chart to send with it."""
    activity = await tracker.activity(user_id, days)
    activity_fields(embed, activity, days=days)
    return await attach_chart(embed, activity, title=title)
