"""SQL for `plex_scrobbles_seen`: the duplicate window."""

from __future__ import annotations

from datetime import datetime

from core.db.pool import Conn


async def first_in_window(
    conn: Conn,
    *,
    user_id: int,
    account_id: str,
    item_key: str,
    seen_at: datetime,
    log_id: int,
    window_seconds: int,
) -> bool:
    """True when this scrobble is the first of its item by its account inside the window
    (the rule is `plex_first_in_window` in sql/0004_scrobble_functions.sql)."""
    first: bool = await conn.fetchval(
        "SELECT plex_first_in_window($1, $2, $3, $4, $5, $6)",
        user_id,
        account_id,
        item_key,
        seen_at,
        log_id,
        float(window_seconds),
    )
    return first
