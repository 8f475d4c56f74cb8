"""SQL for marking episodes by hand (`tracker_set_watched` in sql/0016_tracker_watches.sql)
and for naming where a watch came from (the `watch_source` column's trigger)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.db.pool import Conn

Scope = Literal["episode", "season", "up_to"]
WatchSource = Literal["webhook", "history", "manual"]


@dataclass(frozen=True)
class SetResult:
    targeted: int  # episodes the scope names (0: no such episode or season)
    changed: int  # of those, how many changed state


async def set_watched(
    conn: Conn,
    show_id: int,
    *,
    scope: Scope,
    season: int,
    episode: int,
    watched: bool,
    at: datetime,
    source: WatchSource = "manual",
) -> SetResult:
    """Mark or unmark; the show's totals are recounted under the webhook path's locks."""
    row = await conn.fetchrow(
        "SELECT targeted, changed FROM tracker_set_watched($1, $2, $3, $4, $5, $6, $7)",
        show_id,
        scope,
        season,
        episode,
        watched,
        at,
        source,
    )
    assert row is not None
    return SetResult(targeted=row["targeted"], changed=row["changed"])


async def use_source(conn: Conn, source: WatchSource) -> None:
    """Episodes marked watched in the rest of this transaction record `source` (the
    default, with nothing set, is 'webhook'). The history sync calls this with 'history'."""
    await conn.execute("SELECT set_config('plex_tracker.watch_source', $1, true)", source)
