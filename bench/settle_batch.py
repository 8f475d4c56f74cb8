"""The worker's batch in the database alone: what `plex_settle_queue` costs per scrobble.

    DATABASE_URL=postgresql://… .venv/bin/python bench/settle_batch.py [--count N] [--batch B]

On a throw-away database (`plex_tracker_settle_*`, dropped after) migrated by this tree: 200
mapped shows of 50 episodes, COUNT queued scrobbles of them (one in ten a duplicate of the one
before), then `plex_settle_queue(B, 600)` until the queue is empty. Prints the time per batch
and per scrobble, and each SQL function's share (track_functions). No HTTP, no Python worker:
this isolates the SQL that the lock-order and duplicate-window rules live in, so a change to
them can be compared before/after without the noise of the whole daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from core.db.migrations import apply_migrations  # noqa: E402

SHOWS, SEASONS, EPISODES = 200, 5, 10


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def run(dsn: str, count: int, batch: int) -> None:
    name = f"plex_tracker_settle_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(with_database(dsn, name))
        try:
            await apply_migrations(conn)
            await seed(conn, count)
            await conn.execute("SET track_functions = 'all'")
            started, batches = time.perf_counter(), 0
            while True:
                rows = await conn.fetch("SELECT settled FROM plex_settle_queue($1, 600)", batch)
                if not any(r["settled"] for r in rows):
                    break
                batches += 1
            took = time.perf_counter() - started
            outcomes = dict(
                await conn.fetch("SELECT status, count(*) FROM plex_webhook_logs GROUP BY 1")
            )
            print(
                f"{count} scrobbles in {batches} batches of {batch}: {took * 1000:.0f} ms, "
                f"{took / batches * 1000:.2f} ms per batch, {took / count * 1e6:.0f} µs per "
                f"scrobble ({count / took:.0f}/s); outcomes {outcomes}"
            )
            await conn.execute("SELECT pg_stat_force_next_flush()")
            await asyncio.sleep(0.5)
            for f in await conn.fetch(
                """SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions
                   ORDER BY total_time DESC"""
            ):
                print(
                    f"   {f['funcname']:<22} {f['calls']:>6} calls  total {f['total_time']:7.1f} ms"
                    f"  self {f['self_time']:7.1f} ms"
                )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def seed(conn: asyncpg.Connection, count: int) -> None:
    user_id = await conn.fetchval("INSERT INTO users (name) VALUES ('bench') RETURNING id")
    await conn.execute(
        """INSERT INTO tvshows (user_id, title)
           SELECT $1, 'Show ' || g FROM generate_series(1, $2) g""",
        user_id,
        SHOWS,
    )
    await conn.execute(
        """INSERT INTO tvshow_episodes (tvshow_id, season, episode, runtime)
           SELECT t.id, s, e, 30
           FROM tvshows t, generate_series(1, $1) s, generate_series(1, $2) e""",
        SEASONS,
        EPISODES,
    )
    await conn.execute(
        """INSERT INTO plex_show_mappings (user_id, plex_rating_key, tvshow_id, match_method)
           SELECT $1, (1000 + id)::text, id, 'tvdb_id' FROM tvshows""",
        user_id,
    )
    shows = [r["id"] for r in await conn.fetch("SELECT id FROM tvshows ORDER BY id")]
    rows = []
    for i in range(count):
        n = i - 1 if i % 10 == 9 else i  # a duplicate of the scrobble before
        show = shows[n % SHOWS]
        season, episode = 1 + (n // SHOWS) % SEASONS, 1 + (n // (SHOWS * SEASONS)) % EPISODES
        key = str(1000 + show)
        item = f"{key}{season:02d}{episode:03d}"
        payload = {
            "event": "media.scrobble",
            "Account": {"id": 1, "title": "bench"},
            "Metadata": {
                "type": "episode",
                "grandparentRatingKey": key,
                "grandparentTitle": f"Show {show}",
                "ratingKey": item,
                "parentIndex": season,
                "index": episode,
                "lastViewedAt": 1_700_000_000 + i,
            },
        }
        rows.append((user_id, json.dumps(payload), key, item, season, episode))
    await conn.executemany(
        """INSERT INTO plex_webhook_logs (user_id, event_type, status, payload, plex_account_id,
               plex_rating_key, plex_item_key, plex_season, plex_episode, plex_title)
           VALUES ($1, 'media.scrobble', 'pending', $2::jsonb, '1', $3, $4, $5, $6, 'Show')""",
        rows,
    )
    await conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        sys.exit("set DATABASE_URL to a PostgreSQL server where a database can be created")
    asyncio.run(run(dsn, args.count, args.batch))


if __name__ == "__main__":
    main()
