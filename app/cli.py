"""`plex-tracker`: the console script. Each command builds the services it needs and exits.

Commands live in small modules (`app/cli_*.py`), each with `add_parsers(sub)` and a
`COMMANDS` dict; a new module is one entry in MODULES. Expected failures end in one or two
lines on stderr and an exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from app import (
    cli_conflicts,
    cli_doctor,
    cli_logs,
    cli_setup,
    cli_shows,
    cli_status,
    cli_sync,
    cli_tv,
)
from app.cli_common import Command, beside_daemon, database_problem
from app.runtime import configure_logging, open_services, run
from core.crypto import CryptoError, generate_key
from core.db.migrations import MigrationsMissing
from core.errors import DomainError
from core.settings import Settings, SettingsError, load_settings

MODULES = (cli_setup, cli_shows, cli_status, cli_logs, cli_conflicts, cli_sync, cli_tv)

COMMANDS: dict[str, Command] = {
    name: command for module in MODULES for name, command in module.COMMANDS.items()
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plex-tracker", description="Keep a TV-show tracker in step with Plex."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the webhook daemon, worker, scheduler and Discord bot")
    sub.add_parser("gen-key", help="print a new ENCRYPTION_KEY")
    for module in MODULES:
        module.add_parsers(sub)
    cli_doctor.add_parsers(sub)
    return parser


class _CommandLogFormat(logging.Formatter):
    """`warning: …`, as the commands say theirs: no time, no module."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().format(record)}"


def configure_command_logging(level: str) -> None:
    """A command prints its own results and errors; what the library logs besides (a key
    just generated, a stale pid file) shows as `warning: …`. The outbound clients' retries
    and the Plex server search stay quiet: how they end reaches the command, which says it
    with what to do, so the same failure is not told three times."""
    configure_logging(level)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_CommandLogFormat("%(message)s"))
    for name in ("core.clients", "core.services.plex_servers"):
        logging.getLogger(name).setLevel(logging.ERROR)


async def _with_services(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    async with open_services(settings, pool_size=2) as services:
        return await command(services, args)


def _quiet_broken_pipe() -> int:
    # `plex-tracker logs | head`: the reader left. Python would complain again at exit while
    # flushing stdout, so point it at /dev/null (as the Python docs advise).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a killed writer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "gen-key":
        print(generate_key())
        return 0
    name = args.command + (f" {args.shows_command}" if args.command == "shows" else "")
    settings: Settings | None = None
    try:
        if name == "doctor":
            configure_command_logging("ERROR")
            return asyncio.run(cli_doctor.doctor(args))
        settings = load_settings()
        if name == "run":
            configure_logging(settings.log_level)
        else:
            configure_command_logging("WARNING")
        if settings.data_dir_note:
            print(f"note: {settings.data_dir_note}", file=sys.stderr)
        if name == "run":
            asyncio.run(run(settings))
            return 0
        settings = beside_daemon(settings)
        if name == "connect":
            cli_setup.read_token_first(args)
        return asyncio.run(_with_services(settings, COMMANDS[name], args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DomainError, CryptoError, MigrationsMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = database_problem(exc, settings) if settings is not None else None
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
