"""`plex-tracker sync`: read the Plex server's watch history and mark what the followed
accounts watched, here and now, with a progress bar on a terminal (rich) and a plain
summary line otherwise. Registered by app/cli.py; the same service runs the scheduled
job, the API's and Discord's syncs."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from app.cli_common import Command, Subparsers
from core.db.sync_runs import RunCounts, SyncRun
from core.errors import InvalidInputError
from core.history.service import summary
from core.services.container import Services

PHASES = {"library": "Library shows", "history": "History plays"}


def _since(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[RunCounts], None] | None]:
    """A rich progress bar fed by the run's counters; None when not on a terminal."""
    if not enabled:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[marked]} marked"),
        TimeElapsedColumn(),
        console=Console(),
    ) as bar:

        def update(counts: RunCounts) -> None:
            phase = counts.phase or "library"
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=None, marked=0)
            bar.update(
                tasks[phase],
                completed=counts.progress_done,
                total=counts.progress_total or None,
                marked=counts.episodes_marked,
            )

        yield update


def describe(run: SyncRun, user: str, seconds: float | None = None) -> str:
    took = f" in {seconds:.1f}s" if seconds is not None else ""
    what = "dry run (nothing changed)" if run.dry_run else "sync"
    text = f"{what} of {user} (run {run.id}, {run.mode}) {run.state}{took}: {summary(run)}"
    if run.dry_run:
        text = text.replace(" marked", " would be marked").replace(" added", " would be added")
        text = text.replace(" raised", " would be raised")
    return text


async def cmd_sync(services: Services, args: argparse.Namespace) -> int:
    check_args(args)
    user = await services.accounts.user_by_name(args.user)
    history = services.history
    if args.exclude_sections is not None:
        sections = [s.strip() for s in args.exclude_sections.split(",") if s.strip() != "-"]
        await history.set_excluded_sections(user.id, [s for s in sections if s])
        print(f"excluded sections: {', '.join(sections) or 'none'}")
    if args.status:
        return await _status(services, user.id, user.name)
    mode, since = "incremental", None
    if args.full:
        mode = "full"
    elif args.since is not None:
        mode, since = "since", datetime.combine(args.since, datetime.min.time(), UTC)

    def waiting(active: SyncRun | None) -> None:
        which = f" (run {active.id})" if active else ""
        print(f"another sync of {user.name} is running{which}; waiting for it…", file=sys.stderr)

    started = time.monotonic()
    with _progress_bar(sys.stdout.isatty()) as progress:
        run = await history.run_now(
            user.id,
            trigger="cli",
            mode=mode,
            since=since,
            dry_run=args.dry_run,
            progress=progress,
            waiting=waiting,
        )
    assert run is not None
    print(describe(run, user.name, time.monotonic() - started))
    if run.state != "succeeded":
        print(f"error: {run.error or run.state}", file=sys.stderr)
        return 1
    return 0


async def _status(services: Services, user_id: int, name: str) -> int:
    runs = await services.history.recent(user_id, limit=5)
    if not runs:
        print(f"{name} has not synced yet: plex-tracker sync --user {name}")
        return 0
    for run in runs:
        when = (run.started_at or run.created_at).strftime("%Y-%m-%d %H:%M UTC")
        progress = ""
        if run.active and run.phase:
            total = f"/{run.progress_total}" if run.progress_total else ""
            progress = f" [{run.phase} {run.progress_done}{total}]"
        print(f"{when}  {describe(run, name)}{progress}")
        if run.error:
            print(f"    error: {run.error}")
    return 0


def add_parsers(sub: Subparsers) -> None:
    s = sub.add_parser(
        "sync",
        help="import the Plex server's watch history (marks what the followed accounts watched)",
        description="Read the Plex server's library and watch history and mark every episode "
        "the followed accounts watched. Without --full or --since, only what is new since the "
        "last sync is read (the first sync reads everything).",
    )
    s.add_argument("--user", required=True, help="whose Plex history")
    when = s.add_mutually_exclusive_group()
    when.add_argument("--full", action="store_true", help="read everything again")
    when.add_argument(
        "--since", type=_since, metavar="YYYY-MM-DD", help="only plays from this day on"
    )
    s.add_argument("--dry-run", action="store_true", help="change nothing; say what would be done")
    s.add_argument(
        "--exclude-sections",
        metavar="A,B",
        help="library sections to leave out, by title or id, saved for later syncs ('-': none)",
    )
    s.add_argument("--status", action="store_true", help="show the recent syncs and exit")


def check_args(args: argparse.Namespace) -> None:
    if args.status and (args.full or args.since or args.dry_run):
        raise InvalidInputError("--status only shows the recent syncs")


COMMANDS: dict[str, Command] = {"sync": cmd_sync}
