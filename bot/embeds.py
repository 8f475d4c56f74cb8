"""Embeds: what the bot shows. Pure functions of core dataclasses, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import discord

from core.db.conflicts import Conflict
from core.db.server_problems import ServerProblem
from core.db.webhook_logs import LogEntry
from core.services.mappings import MappedShow
from core.services.stats import BANDS, STATUSES, UserStats

BLURPLE = discord.Colour.blurple()
GREEN = discord.Colour.green()
ORANGE = discord.Colour.orange()
GREY = discord.Colour.light_grey()
RED = discord.Colour.red()

CONFLICT_REASONS = {
    "no_match": "nothing in your tracker looks like it",
    "multiple_matches": "several shows in your tracker look like it",
    "low_confidence": "the best guess is not certain enough",
}
STATUS_ICONS = {
    "success": "✅",
    "failed": "❌",
    "ignored": "➖",
    "duplicate": "♻️",
    "pending": "⏳",
}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def titled(title: str, year: int | None) -> str:
    return f"{title} ({year})" if year else title


def bar(part: int, whole: int, width: int = 12) -> str:
    filled = round(width * part / whole) if whole else 0
    return "█" * filled + "░" * (width - filled)


def when(moment: datetime | None) -> str:
    return discord.utils.format_dt(moment, "R") if moment else "never"


def candidate_label(index: int, candidate: dict[str, Any]) -> str:
    """Button/select text: title, year and confidence (Discord allows 80 characters)."""
    pct = round(100 * float(candidate.get("confidence") or 0))
    source = "" if candidate.get("source") == "tracker" else " · TMDB"
    name = titled(str(candidate.get("title")), candidate.get("year"))
    return clip(f"{index + 1}. {name}", 64) + f" · {pct}%{source}"


def _poster(conflict: Conflict) -> str | None:
    # A Plex thumb is a server path that needs the owner's token: never put that in Discord.
    thumb = conflict.plex_thumb
    return thumb if thumb and thumb.startswith("https://") else None


def conflict_embed(conflict: Conflict) -> discord.Embed:
    reason = CONFLICT_REASONS.get(conflict.conflict_type, conflict.conflict_type)
    held = conflict.held_scrobbles
    embed = discord.Embed(
        title=clip(f"Which show is “{titled(conflict.plex_title, conflict.plex_year)}”?", 256),
        description=(
            f"Plex reported a watch of **{titled(conflict.plex_title, conflict.plex_year)}** "
            f"and {reason}.\n"
            f"{held} watched episode{'s' if held != 1 else ''} wait{'s' if held == 1 else ''} "
            "for your answer; pick the show and they are marked."
        ),
        colour=ORANGE,
    )
    lines = [
        f"**{candidate_label(i, c)}** — "
        + ("in your tracker" if c.get("source") == "tracker" else "from TMDB (adds it)")
        for i, c in enumerate(conflict.potential_matches)
    ]
    embed.add_field(
        name="Candidates", value=clip("\n".join(lines) or "none found", 1024), inline=False
    )
    poster = _poster(conflict)
    if poster:
        embed.set_thumbnail(url=poster)
    embed.set_footer(text=f"conflict {conflict.id}")
    return embed


def failure_embed(entry: LogEntry) -> discord.Embed:
    """A scrobble that kept failing after every retry: what, and why, so it can be fixed."""
    where = ""
    if entry.plex_season is not None and entry.plex_episode is not None:
        where = f" S{entry.plex_season:02d}E{entry.plex_episode:02d}"
    embed = discord.Embed(
        title=clip(
            f"A watch could not be recorded: {entry.plex_title or 'unknown show'}{where}", 256
        ),
        description=clip(
            f"{entry.error_message or 'unknown error'}\n\nTried {entry.attempts} times. "
            "Fix the cause, then `plex-tracker replay` (or wait for the next new episode list).",
            4000,
        ),
        colour=RED,
    )
    embed.set_footer(text=f"webhook {entry.id}")
    return embed


def server_problem_embed(problem: ServerProblem) -> discord.Embed:
    """Once per outage: the Plex server stopped answering, and what to do about it."""
    embed = discord.Embed(
        title="Your Plex server can't be reached",
        description=clip(
            f"{problem.message}\n\nScrobbles of shows that need the server (Plex's current "
            "agent, `plex://`) wait and are retried, and `/plex status` shows this until the "
            "server answers again. Shows from legacy agents are not affected.",
            4000,
        ),
        colour=ORANGE,
    )
    embed.add_field(name="Since", value=when(problem.started_at))
    embed.set_footer(text=f"server problem {problem.id}")
    return embed


def resolved_embed(
    conflict: Conflict, outcome: str, *, episodes_marked: int, by: str | None = None
) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"“{titled(conflict.plex_title, conflict.plex_year)}”: resolved", 256),
        description=outcome,
        colour=GREEN,
    )
    embed.add_field(name="Episodes marked", value=str(episodes_marked))
    if by:
        embed.add_field(name="By", value=by)
    embed.set_footer(text=f"conflict {conflict.id}")
    return embed


def status_embed(stats: UserStats, problems: Sequence[str] = ()) -> discord.Embed:
    """The dashboard; `problems` (what needs the user's attention) come first, in orange."""
    colour = GREEN if stats.state == "connected" else ORANGE if stats.connected else GREY
    embed = discord.Embed(title="Plex sync status", colour=ORANGE if problems else colour)
    if problems:
        embed.description = clip("\n".join(f"⚠️ {p}" for p in problems), 4000)
    account = f" as **{stats.plex_username}**" if stats.plex_username else ""
    embed.add_field(name="Connection", value=f"{stats.state}{account}", inline=True)
    embed.add_field(name="Last webhook", value=when(stats.last_webhook_at), inline=True)
    embed.add_field(
        name="Conflicts go to",
        value=f"<#{stats.conflicts_channel_id}>" if stats.conflicts_channel_id else "your DMs",
        inline=True,
    )
    total = stats.total
    rows = [
        f"`{bar(stats.counts[s], total)}` {STATUS_ICONS[s]} {s} **{stats.counts[s]}**"
        for s in STATUSES
    ]
    embed.add_field(
        name=f"Webhooks, last {stats.days} days ({total})", value="\n".join(rows), inline=False
    )
    embed.add_field(name="Episodes marked", value=str(stats.episodes_marked), inline=True)
    embed.add_field(name="Shows added", value=str(stats.shows_added), inline=True)
    embed.add_field(name="Open conflicts", value=str(stats.open_conflicts), inline=True)
    timing = (
        f"mean {stats.mean_ms:.0f} ms · p95 {stats.p95_ms:.0f} ms"
        if stats.mean_ms is not None and stats.p95_ms is not None
        else "no processed webhooks yet"
    )
    embed.add_field(name="Processing time", value=timing, inline=False)
    mapped = sum(stats.mappings.values())
    bands = [f"`{bar(stats.mappings[b], mapped)}` {b} **{stats.mappings[b]}**" for b in BANDS]
    embed.add_field(name=f"Mappings ({mapped})", value="\n".join(bands), inline=False)
    return embed


def mappings_embed(items: Sequence[MappedShow]) -> discord.Embed:
    embed = discord.Embed(title="Your Plex → tracker mappings", colour=BLURPLE)
    if not items:
        embed.description = "No mappings yet: they appear as Plex reports watches."
        return embed
    lines = []
    for item in items:
        m = item.mapping
        target = "ignored" if not m.sync_enabled else item.tvshow_title or "unmapped"
        conf = f"{m.match_confidence:.2f}" if m.match_confidence is not None else "-"
        manual = " ✋" if m.manually_confirmed else ""
        lines.append(
            f"`{m.id}` {clip(titled(m.plex_title or m.plex_rating_key, m.plex_year), 60)} → "
            f"**{clip(target, 60)}** ({m.match_method} {conf}{manual})"
        )
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="/plex mappings unmap <id> · /plex mappings remap <id> <show>")
    return embed


def logs_embed(entries: Sequence[LogEntry], status: str | None) -> discord.Embed:
    title = "Recent Plex activity" + (f" ({status})" if status else "")
    embed = discord.Embed(title=title, colour=BLURPLE)
    if not entries:
        embed.description = "Nothing yet."
        return embed
    lines = []
    for e in entries:
        episode = (
            f" S{e.plex_season:02d}E{e.plex_episode:02d}"
            if e.plex_season is not None and e.plex_episode is not None
            else ""
        )
        detail = f" — {clip(e.error_message, 80)}" if e.error_message else ""
        lines.append(
            f"{STATUS_ICONS.get(e.status, '•')} {when(e.created_at)} "
            f"{clip(e.plex_title or e.event_type or '?', 50)}{episode}: "
            f"{e.action_taken or e.status}{detail}"
        )
    embed.description = clip("\n".join(lines), 4000)
    return embed


def conflicts_list_embed(items: Sequence[Conflict]) -> discord.Embed:
    embed = discord.Embed(title="Open conflicts", colour=ORANGE if items else GREEN)
    if not items:
        embed.description = "None: every Plex show you watch is matched."
        return embed
    embed.description = clip(
        "\n".join(
            f"`{c.id}` **{titled(c.plex_title, c.plex_year)}** — "
            f"{CONFLICT_REASONS.get(c.conflict_type, c.conflict_type)}, "
            f"{c.held_scrobbles} waiting"
            for c in items
        ),
        4000,
    )
    return embed


WEBHOOK_STEPS = (
    "1. In Plex, open **Settings → Webhooks** (needs Plex Pass on the server owner's account).\n"
    "2. Click **Add Webhook**, paste the URL above, and **Save Changes**.\n"
    "3. Watch an episode to the end. Nothing arrives? Restart Plex Media Server and "
    "check `/plex logs`."
)


def webhook_embed(url: str, *, heading: str = "Your Plex webhook") -> discord.Embed:
    embed = discord.Embed(title=heading, colour=BLURPLE)
    embed.description = f"```\n{url}\n```\n{WEBHOOK_STEPS}"
    embed.set_footer(text="Keep this URL private: anyone with it can post watches for you.")
    return embed
