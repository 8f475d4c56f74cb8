"""`plex-tracker doctor [--user NAME]`: every dependency, in order, one ✓/✗ line each.

It checks the database rather than migrating it, so it opens the database itself and builds
the services only once the schema is there.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from contextlib import AsyncExitStack

import httpx

from app.cli_common import Subparsers, beside_daemon, database_problem, out
from app.runtime import open_services, settings_dsn
from bot.probe import discord_probe
from core.crypto import CryptoError
from core.db.migrations import MigrationsMissing
from core.db.pool import create_pool, database_url
from core.errors import DomainError
from core.keyfile import resolve_key
from core.services.doctor import Check, Doctor, database_checks
from core.settings import Settings, SettingsError, load_settings


def _show(checks: Iterable[Check], failed: list[Check]) -> None:
    for check in checks:
        out().print(check.line)
        if not check.ok and check.required:
            failed.append(check)


def _settings_summary(s: Settings) -> str:
    where = "DATABASE_URL" if s.database_url else f"embedded, in {s.data_dir / 'pgdata'}"
    return f"valid; DATA_DIR {s.data_dir}; database {where}; port {s.port}"


async def doctor(args: argparse.Namespace) -> int:
    failed: list[Check] = []
    try:
        settings = beside_daemon(load_settings())
    except SettingsError as exc:
        _show([Check("settings", False, str(exc), "fix the named settings (.env or env)")], failed)
        return 1
    _show([Check("settings", True, _settings_summary(settings))], failed)
    try:
        resolve_key(settings)
    except (SettingsError, OSError) as exc:
        _show([Check("encryption key", False, str(exc), "set ENCRYPTION_KEY")], failed)
        return 1
    async with AsyncExitStack() as stack:
        try:
            dsn, _ = await stack.enter_async_context(
                database_url(settings_dsn(settings), settings.data_dir)
            )
            pool = await create_pool(dsn, min_size=1, max_size=2)
        except Exception as exc:  # whatever it is, one line: this is the doctor
            problem = database_problem(exc, settings) or f"{type(exc).__name__}: {exc}"
            fix = "start PostgreSQL or fix DATABASE_URL (unset: the embedded database)"
            _show([Check("database", False, problem, fix)], failed)
            out().print("  (the other checks need the database)")
            return 1
        stack.push_async_callback(pool.close)
        try:
            checks = await database_checks(pool)
        except MigrationsMissing as exc:
            checks = [Check("database migrated", False, str(exc))]
        _show(checks, failed)
        if failed:
            out().print("  (the other checks need a migrated database)")
            return 1
        services = await stack.enter_async_context(open_services(settings, dsn=dsn, pool_size=2))
        http = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=False))
        checker = Doctor(services, http=http, discord_probe=lambda: discord_probe(settings))
        try:
            async for check in checker.everything(args.user):
                _show([check], failed)
        except (DomainError, CryptoError) as exc:
            _show([Check("user", False, str(exc))], failed)
    plural = "" if len(failed) == 1 else "s"
    out().print(f"{len(failed)} problem{plural}" if failed else "all required checks passed")
    return 0 if not failed else 1


def add_parsers(sub: Subparsers) -> None:
    d = sub.add_parser(
        "doctor",
        help="check settings, database, key, webhook URL, Plex, plex.tv, TMDB, Discord",
        description="One ✓/✗ line per check, with what to do; exit status 0 only when every "
        "required check passes (! marks a warning).",
    )
    d.add_argument("--user", help="check this user's Plex connection (default: every user's)")
