"""SQL for `plex_scrobbles_seen`: the duplicate window, decided by one upsert."""

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
    """True when this scrobble is the first of its item by its account inside the window.

    Insert, or move `seen_at` forward only when the last one is older than the window; a row
    comes back exactly when this scrobble counts. Two at once serialise on the primary key.
    A retry of the same log row is never its own duplicate.
    """
    row = await conn.fetchval(
        """INSERT INTO plex_scrobbles_seen AS s (user_id, account_id, item_key, seen_at, log_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (user_id, account_id, item_key) DO UPDATE
               SET seen_at = EXCLUDED.seen_at, log_id = EXCLUDED.log_id
               WHERE s.log_id = EXCLUDED.log_id
                  OR s.seen_at <= EXCLUDED.seen_at - make_interval(secs => $6)
           RETURNING 1""",
        user_id,
        account_id,
        item_key,
        seen_at,
        log_id,
        float(window_seconds),
    )
    return row is not None
