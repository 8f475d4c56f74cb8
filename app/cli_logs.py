"""`plex-tracker logs | replay | prune`: what happened to the webhooks, and retrying them."""

from __future__ import annotations

import argparse

from app.cli_common import Command, Subparsers, int_from, out, table, user_id_of
from core.db import webhook_logs
from core.db.webhook_logs import LogEntry
from core.services.container import Services

STATUSES = ("success", "failed", "ignored", "duplicate", "pending")
MARKED = frozenset({"marked_watched", "show_added"})
# Pending behind an open conflict: the scrobble that raised it, and those queued after it.
HELD = frozenset({"conflict_created", "held_for_conflict"})


def episode_label(e: LogEntry) -> str:
    title = e.plex_title or "?"
    if e.plex_season is not None and e.plex_episode is not None:
        return f"{title} S{e.plex_season:02d}E{e.plex_episode:02d}"
    return title


def outcome(e: LogEntry) -> str:
    """What happened, and for anything not marked, why."""
    if e.status == "success" and e.action_taken in MARKED:
        return "marked watched" + (" (show added)" if e.action_taken == "show_added" else "")
    if e.status == "pending":
        if e.action_taken in HELD:
            return "waiting behind a conflict: see `plex-tracker conflicts`"
        return "queued"
    reason = e.error_message or (e.action_taken or "").replace("_", " ")
    return f"{e.status}: {reason}" if reason else e.status


def not_marked(entries: list[LogEntry]) -> list[LogEntry]:
    return [e for e in entries if not (e.status == "success" and e.action_taken in MARKED)]


def print_not_marked(entries: list[LogEntry]) -> None:
    left = not_marked(entries)
    if not left:
        return
    t = table("#log", "episode", "why it was not marked")
    for e in left:
        t.add_row(str(e.id), episode_label(e), outcome(e))
    out().print(t)


async def cmd_logs(services: Services, args: argparse.Namespace) -> int:
    user_id = await user_id_of(services, args.user)
    async with services.pool.acquire() as conn:
        rows = await webhook_logs.recent_for(conn, user_id, status=args.status, limit=args.limit)
    if not rows:
        out().print("no webhooks yet" + (f" with status {args.status}" if args.status else ""))
        return 0
    t = table("#id", "when (UTC)", "user", "event", "episode", "outcome", "#ms")
    for user_name, e in rows:
        t.add_row(
            str(e.id),
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            user_name,
            e.event_type or "-",
            episode_label(e) if e.plex_title else "-",
            outcome(e),
            str(e.processing_duration_ms) if e.processing_duration_ms is not None else "",
        )
    out().print(t)
    return 0


async def cmd_replay(services: Services, args: argparse.Namespace) -> int:
    user_id = await user_id_of(services, args.user)
    async with services.pool.acquire() as conn:
        ids = await webhook_logs.requeue_failed_ids(conn, user_id)
    processed = await services.worker.drain()
    async with services.pool.acquire() as conn:
        entries = await webhook_logs.by_ids(conn, ids)
    marked = len(entries) - len(not_marked(entries))
    out().print(
        f"requeued {len(ids)} failed scrobbles: {marked} marked watched, "
        f"{len(entries) - marked} not marked; processed {processed} queued rows"
    )
    print_not_marked(entries)
    return 0


async def cmd_prune(services: Services, args: argparse.Namespace) -> int:
    # The same run as the daily job: under its lock, recorded in job_runs.
    result = await services.jobs.run("prune")
    out().print(result.detail)
    return 0 if result.outcome in ("ok", "partial") else 1


def add_parsers(sub: Subparsers) -> None:
    lg = sub.add_parser("logs", help="recent webhooks with their outcome and reason")
    lg.add_argument("--user", help="only this user's (default: everyone's)")
    lg.add_argument("--status", choices=STATUSES, help="only webhooks with this outcome")
    lg.add_argument(
        "--limit",
        type=int_from(1, 10_000),
        default=20,
        metavar="N",
        help="how many, newest first (default 20, at most 10000)",
    )
    rep = sub.add_parser(
        "replay", help="retry every failed scrobble now and say why any were not marked"
    )
    rep.add_argument("--user", help="only this user's (default: everyone's)")
    sub.add_parser("prune", help="delete old logs, resolved conflicts and job records now")


COMMANDS: dict[str, Command] = {"logs": cmd_logs, "replay": cmd_replay, "prune": cmd_prune}
