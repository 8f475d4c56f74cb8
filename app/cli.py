"""`plex-tracker`: the console script. Each command builds the services it needs and exits."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from app import cli_conflicts, cli_sync, cli_tv
from app.cli_status import add_parser as add_status_parser
from app.cli_status import cmd_status
from app.runtime import configure_logging, open_services, run
from core.crypto import CryptoError, generate_key
from core.db import webhook_logs
from core.errors import DomainError
from core.services.container import Services
from core.settings import Settings, SettingsError, load_settings

log = logging.getLogger("plex_tracker")

Command = Callable[[Services, argparse.Namespace], Awaitable[int]]


def _progress_bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


async def cmd_connect(services: Services, args: argparse.Namespace) -> int:
    accounts = [a.strip() for a in args.accounts.split(",") if a.strip()] if args.accounts else None
    result = await services.accounts.connect(
        user_name=args.user,
        plex_token=args.plex_token,
        server_url=args.server_url,
        accounts=accounts,
        rotate_secret=args.rotate_secret,
        verify=not args.no_verify,
    )
    print(f"user: {result.user.name}" + (" (created)" if result.created_user else ""))
    if result.plex_username:
        print(f"plex account: {result.plex_username}")
    if result.warning:
        print(f"warning: {result.warning}", file=sys.stderr)
    print("webhook secret: " + ("new" if result.rotated_secret else "unchanged"))
    if not args.no_sync:  # the first history sync, run by `plex-tracker run` (app/cli_sync.py)
        first = await services.history.queue_first(result.user.id, trigger="connect")
        if first is not None:
            print(
                f"history sync: run {first.id} queued: `plex-tracker run` imports your Plex "
                f"watch history. Follow it: plex-tracker sync --user {result.user.name} --status"
                f" (or run it here now: plex-tracker sync --user {result.user.name})"
            )
    print("Paste this URL into Plex → Settings → Webhooks (needs Plex Pass):")
    print(result.webhook_url)
    return 0


async def cmd_shows_import(services: Services, args: argparse.Namespace) -> int:
    try:
        text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"cannot read {args.file}: {exc.strerror}") from None
    user = await services.accounts.user_by_name(args.user)
    result = await services.library.import_shows(user.id, text)
    print(
        f"imported {result.created + result.updated} shows for {user.name}: "
        f"{result.created} new, {result.updated} updated, {result.episodes} episodes"
    )
    return 0


async def cmd_shows_list(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    shows = await services.library.list_shows(user.id)
    if not shows:
        print(f"{user.name} has no shows yet: import some with `plex-tracker shows import`")
        return 0
    for show in shows:
        year = f" ({show.year})" if show.year else ""
        pct = (
            f"{100 * show.watched_episodes // show.total_episodes:3d}%"
            if show.total_episodes
            else "  -"
        )
        print(
            f"{show.id:>6}  {_progress_bar(show.watched_episodes, show.total_episodes)} "
            f"{show.watched_episodes:>4}/{show.total_episodes:<4} {pct}  {show.title}{year}"
            + (f"  tmdb:{show.tmdb_id}" if show.tmdb_id else "")
        )
    return 0


async def cmd_rekey(services: Services, args: argparse.Namespace) -> int:
    changed = await services.accounts.rekey()
    print(f"re-encrypted the secrets of {changed} users with the current ENCRYPTION_KEY")
    print("You can now remove ENCRYPTION_KEY_PREVIOUS.")
    return 0


async def cmd_migrate(services: Services, args: argparse.Namespace) -> int:
    # open_services has applied every migration by the time we get here.
    async with services.pool.acquire() as conn:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    print(f"database is up to date: {len(versions)} migrations applied")
    return 0


async def cmd_prune(services: Services, args: argparse.Namespace) -> int:
    # The same run as the daily job: under its lock, recorded in job_runs.
    result = await services.jobs.run("prune")
    print(result.detail)
    return 0 if result.outcome in ("ok", "partial") else 1


async def cmd_replay(services: Services, args: argparse.Namespace) -> int:
    user_id = (await services.accounts.user_by_name(args.user)).id if args.user else None
    async with services.pool.acquire() as conn:
        requeued = await webhook_logs.requeue_failed(conn, user_id)
    processed = await services.worker.drain()
    print(f"requeued {requeued} failed scrobbles; processed {processed} queued rows")
    return 0


async def cmd_api_token(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    new = await services.api_tokens.create(user.id)
    print(f"API token {new.id} for {user.name} (shown once; only its hash is stored):")
    print(new.token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plex-tracker", description="Keep a TV-show tracker in step with Plex."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the webhook daemon, worker, scheduler and Discord bot")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("gen-key", help="print a new ENCRYPTION_KEY")
    sub.add_parser("rekey", help="re-encrypt stored secrets with the current ENCRYPTION_KEY")

    c = sub.add_parser("connect", help="connect a user's Plex account; prints the webhook URL")
    c.add_argument("--user", required=True)
    c.add_argument("--plex-token", required=True)
    c.add_argument("--server-url", help="your Plex server, e.g. http://192.168.1.10:32400")
    c.add_argument(
        "--accounts", help="Plex accounts whose watches count (ids or names, comma-separated)"
    )
    c.add_argument("--rotate-secret", action="store_true", help="make a new webhook secret")
    c.add_argument("--no-verify", action="store_true", help="don't check the token with plex.tv")
    c.add_argument("--no-sync", action="store_true", help="don't start a first history sync")

    shows = sub.add_parser("shows", help="the tracker's shows")
    shows_sub = shows.add_subparsers(dest="shows_command", required=True)
    imp = shows_sub.add_parser("import", help="import shows from a JSON file")
    imp.add_argument("file")
    imp.add_argument("--user", required=True)
    lst = shows_sub.add_parser("list", help="list shows with progress")
    lst.add_argument("--user", required=True)
    sub.add_parser("prune", help="delete logs and resolved conflicts older than LOG_RETENTION_DAYS")
    rep = sub.add_parser("replay", help="retry every failed scrobble now")
    rep.add_argument("--user", help="only this user's")
    tok = sub.add_parser("api-token", help="create a JSON API bearer token; prints it last")
    tok.add_argument("--user", required=True)
    cli_conflicts.add_parsers(sub)  # conflicts, resolve, mappings, remap
    add_status_parser(sub)
    cli_sync.add_parser(sub)
    cli_tv.add_parsers(sub)  # tv upnext | mark | unmark | history | add
    return parser


COMMANDS: dict[str, Command] = {
    "connect": cmd_connect,
    "status": cmd_status,
    "shows import": cmd_shows_import,
    "shows list": cmd_shows_list,
    "rekey": cmd_rekey,
    "migrate": cmd_migrate,
    "prune": cmd_prune,
    "replay": cmd_replay,
    "api-token": cmd_api_token,
    **cli_conflicts.COMMANDS,
    **cli_sync.COMMANDS,
    **cli_tv.COMMANDS,
}


async def _with_services(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    async with open_services(settings, pool_size=2) as services:
        return await command(services, args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gen-key":
        print(generate_key())
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name = args.command + (f" {args.shows_command}" if args.command == "shows" else "")
    # Commands print their own results; the library stays quiet unless something is wrong.
    configure_logging(settings.log_level if name == "run" else "WARNING")
    try:
        if name == "run":
            asyncio.run(run(settings))
            return 0
        return asyncio.run(_with_services(settings, COMMANDS[name], args))
    except (DomainError, SettingsError, CryptoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
