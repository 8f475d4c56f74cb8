"""What every `plex-tracker` command module shares: the command type, the consoles, tables."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from rich import box
from rich.console import Console
from rich.table import Table

from core.daemon_lock import running_daemon
from core.db.embedded import EmbeddedDatabaseError
from core.services.container import Services
from core.settings import Settings

Command = Callable[[Services, argparse.Namespace], Awaitable[int]]
# argparse's private type for `add_subparsers()`; modules add their parsers to it.
Subparsers = Any


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit(1) here; main() ends every closed pipe the same quiet way.
        self.quiet = True
        raise BrokenPipeError


def int_from(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (else a usage error, status 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not from {low} to {high}")
        return value

    return parse


def _console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Piped into a file or `grep`: no colours, and lines as long as they need to be.
    width = None if stream.isatty() else 200
    # markup off: titles like "Show [2019]" are data, not styles.
    return _Console(file=stream, highlight=False, markup=False, soft_wrap=True, width=width)


def out() -> Console:
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def table(*columns: str, title: str | None = None) -> Table:
    """A listing with a header row; right-align columns whose name starts with '#'."""
    t = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for name in columns:
        if name.startswith("#"):
            t.add_column(name[1:], justify="right", no_wrap=True)
        else:
            t.add_column(name, overflow="fold")
    return t


async def user_id_of(services: Services, name: str | None) -> int | None:
    """None (no --user) means everyone's."""
    return (await services.accounts.user_by_name(name)).id if name else None


def beside_daemon(settings: Settings) -> Settings:
    """Settings for a command run beside a daemon on the same embedded database: URLs carry
    the port it really listens on, and its PUBLIC_WEBHOOK_URL unless this command sets one
    (PORT and PUBLIC_WEBHOOK_URL may be set only in the daemon's environment, or in a `.env`
    in the folder it was started from)."""
    if settings.database_url is None and (daemon := running_daemon(settings.data_dir)):
        return settings.model_copy(
            update={
                "port": daemon.port or settings.port,
                "public_webhook_url": settings.public_webhook_url or daemon.public_webhook_url,
            }
        )
    return settings


# An embedded database that fails with these: the folder is the problem, not PostgreSQL.
_CANNOT_WRITE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR})


def database_problem(exc: BaseException, settings: Settings) -> str | None:
    """One line for a database that can't be used, naming where (never the password)."""
    if settings.database_url is None:
        where = f"the embedded database in {settings.data_dir / 'pgdata'}"
    else:
        parts = urlsplit(settings.database_url.get_secret_value())
        where = f"the database at {parts.hostname or 'localhost'}:{parts.port or 5432}"
        name = parts.path.lstrip("/") or "postgres"
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            return (
                f'database "{name}" does not exist: create it (createdb {name}) or fix DATABASE_URL'
            )
    if isinstance(exc, EmbeddedDatabaseError):
        return str(exc)
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return f"{where} refused the login: check the user and password in DATABASE_URL"
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return f"{where} is starting up or shutting down: try again in a moment"
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        if settings.database_url is not None:
            return f"cannot reach {where} ({reason}): is PostgreSQL running? check DATABASE_URL"
        if isinstance(exc, OSError) and exc.errno in _CANNOT_WRITE:
            return (
                f"cannot use DATA_DIR {settings.data_dir} ({reason}): set DATA_DIR to a "
                "folder this user can write"
            )
        return f"cannot reach {where} ({reason}): its log is {settings.data_dir / 'pgdata' / 'log'}"
    return None
