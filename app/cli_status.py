"""`plex-tracker status [--user NAME]`: the /plex status dashboard as text."""

from __future__ import annotations

import argparse

from core.errors import InvalidInputError
from core.services.container import Services
from core.services.stats import BANDS, STATUSES, StatsService, UserStats


def _bar(part: int, whole: int, width: int = 20) -> str:
    filled = round(width * part / whole) if whole else 0
    return "█" * filled + "░" * (width - filled)


def format_stats(s: UserStats) -> str:
    account = f" as {s.plex_username}" if s.plex_username else ""
    last = s.last_webhook_at.isoformat(timespec="seconds") if s.last_webhook_at else "never"
    lines = [
        f"{s.user_name}: {s.state}{account}; last webhook {last}",
        f"  webhooks, last {s.days} days: {s.total}",
        *(f"    {st:<10} {_bar(s.counts[st], s.total)} {s.counts[st]}" for st in STATUSES),
        f"  episodes marked {s.episodes_marked} · shows added {s.shows_added}"
        f" · open conflicts {s.open_conflicts}",
        "  processing: "
        + (
            f"mean {s.mean_ms:.0f} ms · p95 {s.p95_ms:.0f} ms"
            if s.mean_ms is not None and s.p95_ms is not None
            else "nothing processed yet"
        ),
        "  mappings: " + " · ".join(f"{b} {s.mappings[b]}" for b in BANDS),
    ]
    return "\n".join(lines)


async def cmd_status(services: Services, args: argparse.Namespace) -> int:
    if args.days < 1:
        raise InvalidInputError("--days must be at least 1")
    stats = StatsService(pool=services.pool)
    if args.user:
        user = await services.accounts.user_by_name(args.user)
        found = [await stats.for_user(user.id, days=args.days)]
    else:
        found = await stats.all_users(days=args.days)
    if not found:
        print("no users yet: `plex-tracker connect --user NAME --plex-token TOKEN`")
    blocks = []
    for s in found:
        problem = await services.servers.problem(s.user_id)
        extra = f"\n  ✗ Plex server unreachable: {problem.message}" if problem else ""
        blocks.append(format_stats(s) + extra)
    print("\n\n".join(blocks))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser("status", help="sync dashboard: connection, 30-day counts, timings")
    st.add_argument("--user", help="one user (default: everyone)")
    st.add_argument("--days", type=int, default=30, help="the window, in days (default 30)")
