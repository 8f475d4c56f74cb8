"""`plex-tracker conflicts | resolve | mappings | remap`: deciding uncertain matches by hand.

Kept beside app/cli.py, which registers these parsers and commands; every decision goes
through the same core services the JSON API and Discord call.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli_common import Command, Subparsers, out, table, user_id_of
from app.cli_logs import print_not_marked
from core.db import users, webhook_logs
from core.db.conflicts import Conflict
from core.errors import ForbiddenError, NotFoundError
from core.services.conflicts import Choice, Ignore, Pick, Resolution, UseShow, UseTmdb
from core.services.container import Services


async def _user_names(services: Services, ids: set[int]) -> dict[int, str]:
    names = {}
    async with services.pool.acquire() as conn:
        for user_id in ids:
            found = await users.by_id(conn, user_id)
            names[user_id] = found.name if found else f"#{user_id}"
    return names


def _year(year: int | None) -> str:
    return str(year) if year else "year ?"


def _where(c: dict[str, Any]) -> str:
    if c.get("tvshow_id") is not None:
        return f"tracker show {c['tvshow_id']}"
    return f"TMDB {c.get('tmdb_id')}, add as new show"


def print_conflict(conflict: Conflict, user_name: str) -> None:
    o = out()
    o.print(
        f"conflict {conflict.id}: {conflict.plex_title!r} ({_year(conflict.plex_year)})  "
        f"{conflict.conflict_type}  held scrobbles: {conflict.held_scrobbles}  user {user_name}"
    )
    if not conflict.potential_matches:
        o.print("  no candidates: choose with --tmdb ID or --show ID")
        return
    t = table("#pick", "candidate", "#confidence", "where", "why")
    for number, c in enumerate(conflict.potential_matches, start=1):
        t.add_row(
            str(number),
            f"{c.get('title')} ({_year(c.get('year'))})",
            f"{float(c.get('confidence') or 0.0):.2f}",
            _where(c),
            str(c.get("why") or ""),
        )
    o.print(t)


async def cmd_conflicts(services: Services, args: argparse.Namespace) -> int:
    user_id = await user_id_of(services, args.user)
    found = await services.conflicts.list_open(user_id)
    if not found:
        out().print("no open conflicts")
        return 0
    names = await _user_names(services, {c.user_id for c in found})
    for conflict in found:
        print_conflict(conflict, names[conflict.user_id])
        out().print()
    out().print(
        f"{len(found)} open. Resolve with: plex-tracker resolve ID "
        "(--pick N | --tmdb TMDB_ID | --show SHOW_ID | --ignore)"
    )
    return 0


def _choice(args: argparse.Namespace) -> Choice:
    if args.ignore:
        return Ignore()
    if args.pick is not None:
        return Pick(args.pick)
    if args.tmdb is not None:
        return UseTmdb(args.tmdb)
    return UseShow(args.show)


def describe(result: Resolution) -> list[str]:
    target = (
        "ignored: its scrobbles will not be synced"
        if result.action == "ignored"
        else f"-> {result.tvshow_title or '(show deleted)'} [show {result.tvshow_id}]"
    )
    first = f"conflict {result.conflict_id} {result.plex_title!r} {target} ({result.action})"
    if result.already_resolved:
        when = result.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if result.resolved_at else "?"
        first = f"already resolved by {result.resolved_by} at {when}: " + first
    return [
        first,
        f"replayed {result.held} held scrobbles, {result.episodes_marked} episodes marked watched",
    ]


async def cmd_resolve(services: Services, args: argparse.Namespace) -> int:
    user_id = await user_id_of(services, args.user)
    try:
        conflict = await services.conflicts.get(user_id, args.id)
    except NotFoundError:
        owner = await _owner_of(services, args.id)
        if owner is not None:
            raise ForbiddenError(
                f"conflict {args.id} belongs to {owner}, not {args.user}: "
                "leave out --user to resolve it as the operator"
            ) from None
        raise
    async with services.pool.acquire() as conn:
        held = await webhook_logs.held_ids(conn, conflict.id)
    result = await services.conflicts.resolve(
        args.id, user_id=user_id, choice=_choice(args), resolved_by="cli"
    )
    for line in describe(result):
        out().print(line)
    if held and not result.already_resolved:
        async with services.pool.acquire() as conn:
            print_not_marked(await webhook_logs.by_ids(conn, held))
    return 0


async def _owner_of(services: Services, conflict_id: int) -> str | None:
    try:
        found = await services.conflicts.get(None, conflict_id)
    except NotFoundError:
        return None
    return (await _user_names(services, {found.user_id}))[found.user_id]


async def cmd_mappings(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    rows = await services.mappings.list(user.id, limit=args.limit, offset=args.offset)
    if not rows:
        out().print(f"{user.name} has no mappings yet")
        return 0
    t = table("#id", "plex key", "plex show", "tracker show", "method", "#confidence", "confirmed")
    for row in rows:
        m = row.mapping
        if not m.sync_enabled:
            target = "ignored"
        elif m.tvshow_id is None:
            target = "(unmapped)"
        else:
            target = f"{row.tvshow_title or '(show deleted)'} [show {m.tvshow_id}]"
        conf = f"{m.match_confidence:.2f}" if m.match_confidence is not None else "-"
        t.add_row(
            str(m.id),
            m.plex_rating_key,
            f"{m.plex_title} ({_year(m.plex_year)})",
            target,
            m.match_method,
            conf,
            "yes" if m.manually_confirmed else "",
        )
    out().print(t)
    return 0


async def cmd_remap(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    mapping_id = args.mapping
    if mapping_id is None:
        mapping_id = (await services.mappings.by_plex_key(user.id, args.plex_key)).id
    updated = await services.mappings.remap(user.id, mapping_id, args.show)
    out().print(
        f"mapping {updated.id}: Plex show {updated.plex_title!r} (key {updated.plex_rating_key}) "
        f"-> show {updated.tvshow_id}; future scrobbles follow this mapping"
    )
    return 0


def add_parsers(sub: Subparsers) -> None:
    """Register the subcommands on `plex-tracker`'s subparsers."""
    c = sub.add_parser("conflicts", help="list open conflicts with numbered candidates")
    c.add_argument("--user", help="only this user's (default: everyone's)")

    r = sub.add_parser("resolve", help="resolve a conflict and replay its held scrobbles")
    r.add_argument("id", type=int, help="conflict id (see `plex-tracker conflicts`)")
    how = r.add_mutually_exclusive_group(required=True)
    how.add_argument("--pick", type=int, metavar="N", help="candidate N as listed (1 = first)")
    how.add_argument("--tmdb", type=int, metavar="TMDB_ID", help="this TMDB show (added if new)")
    how.add_argument("--show", type=int, metavar="SHOW_ID", help="this show of the tracker")
    how.add_argument("--ignore", action="store_true", help="never sync this Plex show")
    r.add_argument("--user", help="refuse unless the conflict is this user's")

    m = sub.add_parser("mappings", help="list which tracker show each Plex show goes to")
    m.add_argument("--user", required=True, help="whose mappings")
    m.add_argument("--limit", type=int, default=100, metavar="N", help="how many (default 100)")
    m.add_argument("--offset", type=int, default=0, metavar="N", help="skip this many first")

    rm = sub.add_parser("remap", help="point a Plex show at another tracker show")
    rm.add_argument("--user", required=True, help="whose mapping")
    which = rm.add_mutually_exclusive_group(required=True)
    which.add_argument("--plex-key", help="the Plex show's rating key (see `mappings`)")
    which.add_argument("--mapping", type=int, metavar="ID", help="the mapping id")
    rm.add_argument(
        "--show",
        type=int,
        required=True,
        metavar="SHOW_ID",
        help="the tracker show (see `shows list`)",
    )


COMMANDS: dict[str, Command] = {
    "conflicts": cmd_conflicts,
    "resolve": cmd_resolve,
    "mappings": cmd_mappings,
    "remap": cmd_remap,
}
