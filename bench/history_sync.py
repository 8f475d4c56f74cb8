"""History sync benchmark: `plex-tracker sync` against the fake Plex Media Server.

Run it (from the repository root, with the project's virtualenv):

    .venv/bin/python bench/history_sync.py [--scale S[,S...]]     default: --scale 1

Per scale S: 1,000*S shows of 40 episodes (two seasons of 20) in the tracker (imported with
`plex-tracker shows import`) and on the fake Plex server (this process, over loopback),
each with its TMDB id in its Guid list; the owner watched 20 episodes of each (20,000*S
watched, each with a history row). Then, as real `plex-tracker` subprocesses:

  1. a full sync (the first sync of a user reads everything): time, Plex requests, peak RSS;
  2. a no-change sync right after: time, Plex requests, peak RSS.

Time is the command's wall time (Python start-up included) and the run's own time (its
row in plex_sync_runs); requests are counted by the fake server; peak RSS is the sync
process's VmHWM, sampled every 10 ms while it runs (a `plex-tracker migrate` beside it is
the floor: the process before any sync). Memory should not grow with S: pages are applied
as they are read. Several scales print side by side.

The database: a new `plex_tracker_bench_*` database on DATABASE_URL (dropped after), or an
embedded PostgreSQL under a temporary directory when DATABASE_URL is unset.

Targets (2 cores): full sync of 20,000 watched episodes < 60 s; no-change sync < 2 s with a
few requests; peak RSS flat in the library's size. Other work on the machine moves the
figures: say what else was running when you quote them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.webhook_load import (  # noqa: E402
    create_database,
    drop_database,
    vm_hwm_mb,
    watched_count,
    with_database,
)
from tests.cli import entry_point  # noqa: E402
from tests.fakes.plex_server import DEFAULT_TOKEN, FakePlexServer  # noqa: E402

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
SHOWS_PER_SCALE = 1000
SEASONS, EPISODES = 2, 20  # 40 episodes a show
WATCHED = 20  # a show's first 20 episodes
T0 = 1_600_000_000


@dataclass
class Measured:
    wall: float
    run_seconds: float
    requests: int
    peak_rss_mb: float
    line: str


def show_entry(i: int) -> dict[str, Any]:
    return {
        "title": f"Bench Show {i:05d}",
        "year": 1990 + i % 30,
        "tmdb_id": 100_000 + i,
        "seasons": [
            {
                "season_number": s,
                "episodes": [{"episode_number": e, "runtime": 30} for e in range(1, EPISODES + 1)],
            }
            for s in range(1, SEASONS + 1)
        ],
    }


def fill_plex(plex: FakePlexServer, shows: int) -> int:
    played = 0
    for i in range(shows):
        key = 500_000 + i
        plex.add_show(key, f"Bench Show {i:05d}", 1990 + i % 30, guids=[f"tmdb://{100_000 + i}"])
        for s in range(1, SEASONS + 1):
            for e in range(1, EPISODES + 1):
                episode = plex.add_episode(key, s, e)
                n = (s - 1) * EPISODES + e
                if n <= WATCHED:
                    plex.watch(episode.rating_key, viewed_at=T0 + i * 3600 + n * 60)
                    played += 1
    return played


def run_measured(env: dict[str, str], *args: str) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MB, stdout, stderr) of one plex-tracker command."""
    started = time.monotonic()
    peak = 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*entry_point(), *args], env=env, stdout=out, stderr=err)
        while proc.poll() is None:
            peak = max(peak, vm_hwm_mb(proc.pid) or 0.0)
            time.sleep(0.01)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"plex-tracker {' '.join(args)} failed:\n{stdout}\n{stderr}")
    return wall, peak, stdout, stderr


async def run_cli(env: dict[str, str], *args: str) -> tuple[float, float, str, str]:
    # In a thread: this loop keeps serving the fake Plex server meanwhile.
    return await asyncio.to_thread(run_measured, env, *args)


async def last_run_seconds(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        seconds: float = await conn.fetchval(
            """SELECT EXTRACT(EPOCH FROM finished_at - started_at)::float8 FROM plex_sync_runs
               ORDER BY id DESC LIMIT 1"""
        )
        return seconds
    finally:
        await conn.close()


async def bench_scale(server_dsn: str, scale: float, work: Path) -> tuple[Measured, Measured]:
    shows = max(1, round(SHOWS_PER_SCALE * scale))
    name = f"plex_tracker_bench_history_{os.getpid()}"
    dsn = await create_database(server_dsn, name)
    try:
        async with FakePlexServer(owner_name="bench") as plex:
            played = fill_plex(plex, shows)
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DISCORD_", "TMDB_", "PLEX_", "DATABASE_URL", "ENCRYPTION"))
            }
            env.update(DATABASE_URL=dsn, ENCRYPTION_KEY=KEY, DATA_DIR=str(work / "data"))
            library = work / "shows.json"
            library.write_text(json.dumps([show_entry(i) for i in range(shows)]))
            floor = (await run_cli(env, "migrate"))[1]
            await run_cli(
                env,
                "connect",
                "--user",
                "bench",
                "--plex-token",
                DEFAULT_TOKEN,
                "--no-verify",
                "--no-sync",
                "--server-url",
                plex.base_url,
            )
            await run_cli(env, "shows", "import", str(library), "--user", "bench")
            results = []
            for _ in ("full", "no-change"):
                plex.requests.clear()
                wall, rss, stdout, _ = await run_cli(env, "sync", "--user", "bench")
                results.append(
                    Measured(
                        wall,
                        await last_run_seconds(dsn),
                        len(plex.requests),
                        rss,
                        stdout.strip(),
                    )
                )
            marked = await watched_count(dsn)
        print(
            f"scale {scale:g}: {shows} shows, {shows * SEASONS * EPISODES} episodes, "
            f"{played} watched in Plex; {marked} watched in the tracker after the sync"
            + ("" if marked == played else "  <-- MISMATCH")
            + f"; `plex-tracker migrate` peaks at {floor:.0f} MB (the floor)"
        )
        return results[0], results[1]
    finally:
        await drop_database(server_dsn, name)


def report(rows: list[tuple[float, Measured, Measured]]) -> None:
    print()
    print(
        f"{'scale':>5}  {'full: wall':>10} {'run':>7} {'requests':>8} {'RSS MB':>7}   "
        f"{'no-change: wall':>15} {'run':>6} {'requests':>8} {'RSS MB':>7}"
    )
    for scale, full, same in rows:
        print(
            f"{scale:>5g}  {full.wall:>9.1f}s {full.run_seconds:>6.1f}s {full.requests:>8d} "
            f"{full.peak_rss_mb:>7.0f}   {same.wall:>14.2f}s {same.run_seconds:>5.2f}s "
            f"{same.requests:>8d} {same.peak_rss_mb:>7.0f}"
        )
    for scale, full, same in rows:
        print(f"\nscale {scale:g} full:      {full.line}\nscale {scale:g} no-change: {same.line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="1", help="comma-separated multiples of 1,000 shows")
    args = parser.parse_args()
    scales = [float(s) for s in args.scale.split(",")]
    with tempfile.TemporaryDirectory(prefix="plex-tracker-bench-") as tmp:
        work = Path(tmp)
        server_dsn = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        embedded = None
        if not server_dsn:
            from core.db.pool import EmbeddedPostgres

            embedded = EmbeddedPostgres(work / "pg")
            server_dsn = with_database(asyncio.run(embedded.start()), "postgres")
        try:
            rows = []
            for scale in scales:
                full, same = asyncio.run(bench_scale(server_dsn, scale, work))
                rows.append((scale, full, same))
        finally:
            if embedded is not None:
                asyncio.run(embedded.stop())
    report(rows)


if __name__ == "__main__":
    main()
