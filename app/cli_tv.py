"""`plex-tracker tv …`: the tracker from a terminal (headless users, scripts), through the
same TrackerService as /tv in Discord. Registered by app/cli.py."""

from __future__ import annotations

import argparse

from app.cli_common import Command, Subparsers
from core.db.tv_marks import Scope
from core.db.tv_progress import EpisodeRef
from core.services.container import Services
from core.tracker.service import WATCH_SOURCES, MarkResult, ShowDetail


def add_parsers(sub: Subparsers) -> None:
    tv = sub.add_parser("tv", help="the tracker: up next, mark, unmark, history, add (like /tv)")
    tv_sub = tv.add_subparsers(dest="tv_command", required=True)
    up = tv_sub.add_parser("upnext", help="the next episode of every show in progress")
    up.add_argument("--user", required=True, help="whose tracker")
    for name, help_text in (("mark", "mark watched by hand"), ("unmark", "mark unwatched")):
        m = tv_sub.add_parser(name, help=help_text)
        m.add_argument("--user", required=True, help="whose tracker")
        m.add_argument("--show", required=True, help="the show's id (shows list) or title")
        m.add_argument("--season", type=int, help="the season number")
        m.add_argument("--episode", type=int, help="the episode number within the season")
        m.add_argument(
            "--scope",
            choices=("episode", "season", "up_to"),
            default="episode",
            help="one episode, the whole season, or everything up to --season/--episode",
        )
    hist = tv_sub.add_parser("history", help="what was watched, newest first, and from where")
    hist.add_argument("--user", required=True, help="whose tracker")
    hist.add_argument("--days", type=int, default=7, help="how far back, in days (default 7)")
    add = tv_sub.add_parser("add", help="add a show from TMDB with every season's episodes")
    add.add_argument("--user", required=True, help="whose tracker")
    add.add_argument("--tmdb", type=int, required=True, help="the show's TMDB id")


def _episode(ep: EpisodeRef | None) -> str:
    if ep is None:
        return "-"
    title = f" “{ep.title}”" if ep.title else ""
    aired = f" (aired {ep.air_date})" if ep.air_date else ""
    return f"{ep.code}{title}{aired}"


def _detail(detail: ShowDetail) -> str:
    show = detail.show
    year = f" ({show.year})" if show.year else ""
    return (
        f"{show.id:>6}  {show.title}{year}: {show.watched}/{show.total} watched, "
        f"next {_episode(detail.next)}"
    )


async def _show_id(services: Services, user_id: int, value: str) -> int:
    if value.isdigit():
        return int(value)
    return (await services.tracker.resolve_show(user_id, value)).id


async def cmd_tv(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    tracker = services.tracker
    if args.tv_command == "upnext":
        items = await tracker.up_next(user.id, limit=50)
        if not items:
            print("nothing in progress")
        for item in items:
            new = " (new since your last watch)" if item.new_since_last_watch else ""
            print(f"{item.show.id:>6}  {item.show.title}: {_episode(item.next)}{new}")
    elif args.tv_command in ("mark", "unmark"):
        scope: Scope = args.scope
        result: MarkResult = await tracker.mark(
            user.id,
            await _show_id(services, user.id, args.show),
            watched=args.tv_command == "mark",
            scope=scope,
            season=args.season,
            episode=args.episode,
        )
        verb = "marked" if result.watched else "unmarked"
        print(f"{verb} {result.what}: {result.changed} of {result.targeted} episodes changed")
        print(_detail(result.detail))
    elif args.tv_command == "history":
        history = await tracker.history(user.id, args.days, limit=1000)
        for w in history.watches:
            print(
                f"{w.watched_at:%Y-%m-%d %H:%M}  {w.show_title} {w.code}  "
                f"{WATCH_SOURCES.get(w.source, w.source)}"
            )
        print(f"{history.total} episodes in the last {history.days} days")
    elif args.tv_command == "add":
        result_add = await tracker.add_show(user.id, args.tmdb)
        print(("added" if result_add.created else "already there") + ":")
        print(_detail(result_add.detail))
    return 0


COMMANDS: dict[str, Command] = {"tv": cmd_tv}
