"""`plex-tracker connect | migrate | rekey | api-token`: setting a user up."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from app.cli_common import Command, Subparsers, err, out
from core.daemon_lock import running_daemon
from core.errors import InvalidInputError
from core.services.container import Services
from core.services.first_contact import FirstContact, describe
from core.webhook_address import loopback_warning


def read_plex_token(given: str | None) -> str:
    """--plex-token TOKEN, `--plex-token -` (stdin), PLEX_TOKEN, or a hidden prompt: the last
    three keep the token out of shell history and `ps`."""
    if given == "-":
        token = sys.stdin.readline().strip()
        if not token:
            raise InvalidInputError("--plex-token -: nothing on standard input")
        return token
    if given:
        return given
    if env := os.environ.get("PLEX_TOKEN", "").strip():
        return env
    if sys.stdin.isatty():
        try:
            token = getpass.getpass("Plex token (input hidden): ").strip()
        except KeyboardInterrupt:
            print(file=sys.stderr)  # the shell's prompt on a line of its own
            raise
        if token:
            return token
    raise InvalidInputError(
        "no Plex token: pass --plex-token - and pipe it in, set PLEX_TOKEN, or run on a "
        "terminal to be asked for it"
    )


def read_token_first(args: argparse.Namespace) -> None:
    """`connect`'s token, read before the event loop starts: inside it a prompt (or a wait
    for stdin) ignores Ctrl-C, since asyncio's handler only cancels the task, which is stuck
    in the read. None: --rotate-secret alone, which keeps the stored token."""
    rotate_only = args.rotate_secret and not args.plex_token and not os.environ.get("PLEX_TOKEN")
    args.token = None if rotate_only else read_plex_token(args.plex_token)


async def cmd_connect(services: Services, args: argparse.Namespace) -> int:
    o, e = out(), err()
    if args.token is None:
        # A new secret only: the stored token stays as it is.
        user = await services.accounts.user_by_name(args.user)
        url = await services.accounts.rotate_secret(user.id)
        o.print(f"user: {user.name}\nwebhook secret: new (the old URL now answers 401)")
        return await _finish(services, user.id, url, args)
    accounts = [a.strip() for a in args.accounts.split(",") if a.strip()] if args.accounts else None
    result = await services.accounts.connect(
        user_name=args.user,
        plex_token=args.token,
        server_url=args.server_url,
        accounts=accounts,
        rotate_secret=args.rotate_secret,
        verify=not args.no_verify,
    )
    o.print(f"user: {result.user.name}" + (" (created)" if result.created_user else ""))
    if result.plex_username:
        o.print(f"plex account: {result.plex_username}")
    if result.warning:
        e.print(f"warning: {result.warning}")
    o.print("webhook secret: " + ("new" if result.rotated_secret else "unchanged"))
    if not args.no_sync:  # the first history sync, run by `plex-tracker run` (app/cli_sync.py)
        first = await services.history.queue_first(result.user.id, trigger="connect")
        if first is not None:
            name = result.user.name
            o.print(
                f"history sync: run {first.id} queued: `plex-tracker run` imports your Plex "
                f"watch history. Follow it: plex-tracker sync --user {name} --status"
                f" (or run it here now: plex-tracker sync --user {name})"
            )
    return await _finish(services, result.user.id, result.webhook_url, args)


async def _finish(services: Services, user_id: int, url: str, args: argparse.Namespace) -> int:
    """The URL is the last line on stdout, also with --wait: what comes after goes to stderr,
    so `plex-tracker connect … | tail -1` is the URL either way."""
    o, e = out(), err()
    if warning := loopback_warning(url):
        e.print(f"warning: {warning}")
    first = FirstContact(pool=services.pool)
    since = await first.mark(user_id)
    o.print("Paste this URL into Plex → Settings → Webhooks (needs Plex Pass):")
    print(url, flush=True)  # plain print: never wrapped or styled
    if not args.wait:
        return 0
    settings = services.settings
    if settings.database_url is None and running_daemon(settings.data_dir) is None:
        e.print(
            "warning: `plex-tracker run` is not running on this DATA_DIR: start it, "
            "or nothing can arrive"
        )
    e.print(
        f"Waiting up to {args.timeout:g}s for Plex: play anything in a Plex app "
        "(Ctrl-C to stop waiting)…"
    )
    arrival = await first.wait(user_id, since, within=args.timeout)
    if arrival is None:
        e.print(
            f"✗ nothing from Plex in {args.timeout:g}s. Check that the URL is saved in Plex's "
            "Webhooks page, that Plex can reach it (`plex-tracker doctor`), and restart Plex "
            "Media Server once."
        )
        return 1
    e.print(f"✓ {describe(arrival)}")
    return 0


async def cmd_migrate(services: Services, args: argparse.Namespace) -> int:
    # open_services has applied every migration by the time we get here.
    async with services.pool.acquire() as conn:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    if services.migrations_applied:
        now = services.migrations_applied
        out().print(f"applied {len(now)} migrations ({now[0]} … {now[-1]})")
    out().print(f"database is up to date: {len(versions)} migrations applied")
    return 0


async def cmd_rekey(services: Services, args: argparse.Namespace) -> int:
    changed = await services.accounts.rekey()
    users = "1 user" if changed == 1 else f"{changed} users"
    out().print(f"re-encrypted the secrets of {users} with the current ENCRYPTION_KEY")
    if services.settings.encryption_key_previous is not None:
        out().print("You can now remove ENCRYPTION_KEY_PREVIOUS.")
    return 0


async def cmd_api_token(services: Services, args: argparse.Namespace) -> int:
    user = await services.accounts.user_by_name(args.user)
    new = await services.api_tokens.create(user.id)
    out().print(f"API token {new.id} for {user.name} (shown once; only its hash is stored):")
    print(new.token)
    return 0


def add_parsers(sub: Subparsers) -> None:
    sub.add_parser("migrate", help="apply database migrations (also done at every start)")
    sub.add_parser("rekey", help="re-encrypt stored secrets with the current ENCRYPTION_KEY")

    c = sub.add_parser(
        "connect",
        help="connect a user's Plex account; prints the webhook URL on the last line",
        description="Create the user if new, store the Plex token encrypted and print the "
        "webhook URL to paste into Plex, alone on the last line of standard output.",
    )
    c.add_argument("--user", required=True, help="the tracker user (created if new)")
    c.add_argument(
        "--plex-token",
        metavar="TOKEN",
        help="the Plex token; '-' reads it from standard input; omitted: PLEX_TOKEN, "
        "else a hidden prompt",
    )
    c.add_argument("--server-url", help="your Plex server, e.g. http://192.168.1.10:32400")
    c.add_argument(
        "--accounts", help="Plex accounts whose watches count (ids or names, comma-separated)"
    )
    c.add_argument(
        "--rotate-secret",
        action="store_true",
        help="make a new webhook secret (the old URL stops working); needs no token",
    )
    c.add_argument("--no-verify", action="store_true", help="don't check the token with plex.tv")
    c.add_argument("--no-sync", action="store_true", help="don't start a first history sync")
    c.add_argument(
        "--wait",
        action="store_true",
        help="then wait for the first event from Plex and say so (on standard error)",
    )
    c.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="how long --wait waits (default 600)",
    )

    tok = sub.add_parser("api-token", help="create a JSON API bearer token; prints it last")
    tok.add_argument("--user", required=True, help="whose data the token can reach")


COMMANDS: dict[str, Command] = {
    "connect": cmd_connect,
    "migrate": cmd_migrate,
    "rekey": cmd_rekey,
    "api-token": cmd_api_token,
}
