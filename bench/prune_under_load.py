"""How long pruning a year of webhook logs takes, and what webhooks feel meanwhile.

    .venv/bin/python -m bench.prune_under_load [--rows 36500] [--rate 20] [--batch 1000]

Seeds one user with `--rows` log rows (default: a year of the seed's 100 a day) older than
LOG_RETENTION_DAYS, each with a realistic ~5 KB Plex payload, on real PostgreSQL
(DATABASE_URL if set, else an embedded server in a temporary directory). The daemon runs
in this process, as in production (HTTP site, queue worker, the prune job on the same loop).
A separate sender process posts real multipart scrobbles at a steady `--rate` per second:
first without pruning (baseline), then while the prune job runs. Prints the prune's time
and the answer latency of the webhooks (p50/p99/max) in both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

from app.runtime import open_services
from core.db.pool import EmbeddedPostgres
from core.health import HealthState
from core.settings import load_settings
from daemon.app import create_app
from tests.plex_payloads import episode, legacy_episode, multipart, scrobble
from tests.processes import free_port

SEASONS, PER_SEASON = 40, 100  # enough distinct episodes that no scrobble is a duplicate


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _stats(latencies: list[float]) -> str:
    ms = [x * 1000 for x in latencies]
    return (
        f"n={len(ms):4d}  p50={_percentile(ms, 0.50):6.1f} ms  "
        f"p99={_percentile(ms, 0.99):6.1f} ms  max={max(ms, default=float('nan')):6.1f} ms"
    )


# -- the sender (its own process, so its work doesn't share our event loop or GIL) --------


async def _send(url: str, secret: str, rate: float, first: int, stop_file: Path, out: Path) -> None:
    import httpx

    bodies = []
    for i in range(first, first + 1500):
        s, n = divmod(i % (SEASONS * PER_SEASON), PER_SEASON)
        bodies.append(multipart(scrobble(legacy_episode("themoviedb", "2316", s + 1, n + 1))))
    results: list[tuple[float, float, int]] = []
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(body: bytes, ctype: str) -> None:
            sent = time.time()
            started = time.perf_counter()
            answer = await http.post(
                url, params={"secret": secret}, content=body, headers={"Content-Type": ctype}
            )
            results.append((sent, time.perf_counter() - started, answer.status_code))

        tasks = []
        # Tell the bench we're built and about to send (imports and payloads take a while).
        await asyncio.to_thread(out.with_suffix(".ready").touch)
        start = time.perf_counter()
        for k, (body, ctype) in enumerate(bodies):
            if k % 10 == 0 and await asyncio.to_thread(stop_file.exists):
                break
            # Steady pacing: the k-th request leaves at k / rate, whatever the answers do.
            await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(body, ctype)))
        await asyncio.gather(*tasks)
    await asyncio.to_thread(out.write_text, json.dumps(results))


# -- the daemon side ------------------------------------------------------------------------


def _payload_5kb() -> dict[str, Any]:
    """A rich episode scrobble (cast, images), padded with summary text to about 5 KB."""
    payload = scrobble(episode(rich=True))
    size = len(json.dumps(payload))
    if size < 5000:
        payload["Metadata"]["summary"] = "Lorem ipsum dolor sit amet. " * ((5000 - size) // 28)
    return payload


async def _seed_logs(conn: asyncpg.Connection, user_id: int, rows: int, days: int) -> int:
    payload = _payload_5kb()
    # Spread evenly over a year beyond the retention window, like a year of real use.
    await conn.execute(
        """INSERT INTO plex_webhook_logs (user_id, event_type, status, action_taken, payload,
               plex_title, plex_season, plex_episode, processing_duration_ms, created_at,
               processed_at)
           SELECT $1, 'media.scrobble', 'success', 'marked_watched', $2::jsonb,
                  'The Office', 2, 3, 40,
                  now() - make_interval(days => $4 + 1) - (g * interval '365 days') / $3,
                  now() - make_interval(days => $4 + 1) - (g * interval '365 days') / $3
           FROM generate_series(1, $3) AS g""",
        user_id,
        json.dumps(payload),
        rows,
        days,
    )
    await conn.execute("VACUUM ANALYZE plex_webhook_logs")
    return len(json.dumps(payload))


def _spawn_sender(
    url: str, secret: str, rate: float, first: int, stop_file: Path, out: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.prune_under_load",
            "--send",
            url,
            secret,
            str(rate),
            str(first),
            str(stop_file),
            str(out),
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )


async def _phase(
    url: str, secret: str, rate: float, first: int, tmp: Path, name: str, seconds: float | None
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    stop_file, out = tmp / f"{name}.stop", tmp / f"{name}.json"
    proc = _spawn_sender(url, secret, rate, first, stop_file, out)
    ready = out.with_suffix(".ready")
    started = False
    while not started:
        await asyncio.sleep(0.05)
        started = await asyncio.to_thread(ready.exists)
    if seconds is not None:
        await asyncio.sleep(seconds)
        stop_file.touch()
    return proc, stop_file, out


async def _finish(proc: subprocess.Popen[bytes], out: Path) -> list[tuple[float, float, int]]:
    code = await asyncio.to_thread(proc.wait, 120)
    if code != 0:
        raise RuntimeError(f"sender exited with {code}")
    text = await asyncio.to_thread(out.read_text)
    return [(float(a), float(b), int(c)) for a, b, c in json.loads(text)]


async def main(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prune-bench-")))
        server = os.environ.get("DATABASE_URL")
        if not server:
            embedded = EmbeddedPostgres(tmp / "pg")
            server = await embedded.start()
            stack.push_async_callback(embedded.stop)
        name = "plex_tracker_bench_prune"
        admin = await asyncpg.connect(server)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        await admin.close()
        dsn = urlunsplit(urlsplit(server)._replace(path="/" + name))
        settings = load_settings(
            DATABASE_URL=dsn,
            ENCRYPTION_KEY=secrets.token_hex(32),
            DATA_DIR=str(tmp / "data"),
            PLEX_RATE_LIMIT=1_000_000,
            TMDB_API_KEY="",
            LOG_RETENTION_DAYS=90,
            _env_file=None,
        )
        services = await stack.enter_async_context(open_services(settings))
        connected = await services.accounts.connect(
            user_name="bench", plex_token="bench-token", verify=False
        )
        secret = connected.webhook_url.rsplit("secret=", 1)[1]
        show = {
            "title": "The Office",
            "year": 2005,
            "tmdb_id": 2316,
            "seasons": [
                {
                    "season_number": s,
                    "episodes": [{"episode_number": n, "runtime": 22} for n in range(1, 101)],
                }
                for s in range(1, SEASONS + 1)
            ],
        }
        await services.library.import_shows(connected.user.id, json.dumps([show]))
        started = time.perf_counter()
        async with services.pool.acquire() as conn:
            size = await _seed_logs(conn, connected.user.id, args.rows, 90)
            table_mb = await conn.fetchval(
                "SELECT pg_total_relation_size('plex_webhook_logs') / 1048576.0"
            )
        print(
            f"seeded {args.rows} log rows of {size} bytes JSON each ({table_mb:.0f} MB with "
            f"TOAST and indexes) in {time.perf_counter() - started:.1f}s"
        )

        runner = web.AppRunner(create_app(services, HealthState()), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        services.worker.start()
        stack.push_async_callback(services.worker.stop)
        url = f"http://127.0.0.1:{port}/api/plex/webhook"

        proc, _, out = await _phase(url, secret, args.rate, 0, tmp, "baseline", args.baseline)
        baseline = await _finish(proc, out)

        proc, stop_file, out = await _phase(url, secret, args.rate, 1000, tmp, "prune", None)
        await asyncio.sleep(1.0)  # a second of steady load before the prune starts
        async with services.pool.acquire() as conn:
            t0 = time.time()
            result = await services.jobs.prune(conn, batch_size=args.batch)
            t1 = time.time()
        await asyncio.sleep(0.5)
        stop_file.touch()
        during_all = await _finish(proc, out)
        during = [r for r in during_all if t0 <= r[0] <= t1]

        async with services.pool.acquire() as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM plex_webhook_logs "
                "WHERE created_at < now() - interval '90 days'"
            )
            pending = await conn.fetchval(
                "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
            )
        bad = [r for r in baseline + during_all if r[2] != 200]
        print(
            f"prune: removed {result.logs} rows in {result.batches} batches of {args.batch} in "
            f"{result.seconds:.2f}s ({result.logs / result.seconds:,.0f} rows/s); "
            f"{left} old rows left"
        )
        print(f"webhooks at {args.rate:.0f}/s, answer latency (sender in its own process):")
        print(f"  without prune: {_stats([r[1] for r in baseline])}")
        print(f"  during prune:  {_stats([r[1] for r in during])}")
        print(f"non-200 answers: {len(bad)}; still pending after the run: {pending}")


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=36_500)
    p.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    p.add_argument("--batch", type=int, default=1000, help="rows per DELETE")
    p.add_argument("--baseline", type=float, default=5.0, help="seconds of baseline load")
    return p.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        url, secret, rate, first, stop_file, out = sys.argv[2:8]
        asyncio.run(_send(url, secret, float(rate), int(first), Path(stop_file), Path(out)))
    else:
        asyncio.run(main(_args(sys.argv[1:])))
