"""`plex-tracker status [--user NAME]`: the /plex status dashboard as text."""

from __future__ import annotations

import argparse

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from app.cli_common import Command, Subparsers, int_from, out, table
from core.services.container import Services
from core.services.stats import (
    BANDS,
    MAX_DAYS,
    STATUSES,
    StatsService,
    UserStats,
    timing_lines,
)


def render_stats(s: UserStats) -> Group:
    account = f" as {s.plex_username}" if s.plex_username else ""
    last = s.last_webhook_at.isoformat(timespec="seconds") if s.last_webhook_at else "never"
    counts = table("status", "", "#webhooks", title=f"webhooks, last {s.days} days: {s.total}")
    for st in STATUSES:
        counts.add_row(
            st,
            ProgressBar(total=max(s.total, 1), completed=s.counts[st], width=20),
            str(s.counts[st]),
        )
    timing = Table.grid(padding=(0, 2))
    for label, value in timing_lines(s):
        timing.add_row(label, value)
    return Group(
        f"{s.user_name}: {s.state}{account}; last webhook {last}",
        counts,
        f"episodes marked {s.episodes_marked} · shows added {s.shows_added}"
        f" · open conflicts {s.open_conflicts}",
        timing,
        "mappings: " + " · ".join(f"{b} {s.mappings[b]}" for b in BANDS),
    )


async def cmd_status(services: Services, args: argparse.Namespace) -> int:
    stats = StatsService(pool=services.pool)
    if args.user:
        user = await services.accounts.user_by_name(args.user)
        found = [await stats.for_user(user.id, days=args.days)]
    else:
        found = await stats.all_users(days=args.days)
    if not found:
        out().print("no users yet: `plex-tracker connect --user NAME`")
    for number, s in enumerate(found):
        if number:
            out().print()
        out().print(render_stats(s))
        problem = await services.servers.problem(s.user_id)
        if problem is not None:
            out().print(f"✗ Plex server unreachable: {problem.message}")
    return 0


def add_parsers(sub: Subparsers) -> None:
    st = sub.add_parser("status", help="sync dashboard: connection, 30-day counts, timings")
    st.add_argument("--user", help="one user (default: everyone)")
    st.add_argument(
        "--days",
        type=int_from(1, MAX_DAYS),
        default=30,
        help=f"the window, in days (default 30, at most {MAX_DAYS})",
    )


COMMANDS: dict[str, Command] = {"status": cmd_status}
