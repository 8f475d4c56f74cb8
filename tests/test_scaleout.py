"""Two `plex-tracker run` processes on one PostgreSQL, the same load sent to both (as a load
balancer and a retrying sender would): each webhook processed once, each job tick run once."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.processes import RunningService
from tests.test_shutdown import episodes, seed_user, send, wait_settled, watched

TICK = 1  # seconds between retry ticks in this test


def _skipped(metrics_text: str, job: str) -> float:
    m = re.search(
        rf'plex_tracker_job_runs_total\{{job="{job}",outcome="skipped"\}} ([0-9.]+)', metrics_text
    )
    return float(m.group(1)) if m else 0.0


@pytest.mark.slow
async def test_two_processes_share_the_work_once(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **cli_env,
        "PLEX_RATE_LIMIT": "100000",
        "JOB_RETRY_SECONDS": str(TICK),
        "JOB_PRUNE_SECONDS": "2",
        "JOB_METRICS_SECONDS": "1",
        "BOT_ENABLED": "false",
    }
    dsn = env["DATABASE_URL"]
    secret = await asyncio.to_thread(seed_user, env, tmp_path)
    a = RunningService(env, tmp_path / "a.log")
    b = RunningService(env, tmp_path / "b.log")
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        work = episodes()
        limiter = asyncio.Semaphore(24)

        async def one(http: httpx.AsyncClient, i: int, s: int, n: int) -> list[int]:
            # Round-robin like a load balancer; every fourth also re-sent to the other
            # process, like a sender retrying through the balancer.
            targets = [a, b] if i % 2 == 0 else [b, a]
            if i % 4:
                targets = targets[:1]
            codes = []
            for target in targets:
                async with limiter:
                    codes.append((await send(http, target.base_url, secret, s, n))[0])
            return codes

        async with httpx.AsyncClient(timeout=15) as http:
            answers = await asyncio.gather(*(one(http, i, s, n) for i, (s, n) in enumerate(work)))
            rows = await wait_settled(dsn)
            await asyncio.sleep(4 * TICK)  # let a few more job ticks pass with both up
            scrapes = [(await http.get(p.base_url + "/metrics")).text for p in (a, b)]
        assert a.stop() == 0 and b.stop() == 0
    finally:
        a.kill()
        b.kill()
    sent = sum(len(c) for c in answers)
    assert {c for codes in answers for c in codes} == {200}
    assert len(rows) == sent == len(work) + len(work) // 4
    # Every stored webhook processed once: first copy marks its episode, the re-sent copy
    # is a duplicate; nobody processed a row twice (attempts stays 1).
    outcome = {}
    for r in rows:
        outcome[(r["status"], r["action_taken"], r["attempts"])] = (
            outcome.get((r["status"], r["action_taken"], r["attempts"]), 0) + 1
        )
    assert outcome == {
        ("success", "marked_watched", 1): len(work),
        ("duplicate", "duplicate_scrobble", 1): len(work) // 4,
    }
    pairs, counter = await watched(dsn)
    assert len(pairs) == counter == len(work)

    conn = await asyncpg.connect(dsn)
    try:
        runs = await conn.fetch(
            """SELECT job, tick, host, outcome FROM job_runs
               WHERE tick IS NOT NULL ORDER BY job, tick"""
        )
    finally:
        await conn.close()
    retry_ticks = [r["tick"] for r in runs if r["job"] == "retry"]
    assert len(retry_ticks) == len(set(retry_ticks)) >= 5
    # No tick missed between the first and last recorded one: one process ran each.
    span = (retry_ticks[-1] - retry_ticks[0]) // timedelta(seconds=TICK) + 1
    assert len(retry_ticks) >= span - 1, (span, retry_ticks)
    assert {r["outcome"] for r in runs} == {"ok"}
    hosts = {r["host"] for r in runs}
    assert len(hosts) in (1, 2)
    # Both processes fired every tick; the one that lost the race for a tick skipped it.
    assert sum(_skipped(text, "retry") for text in scrapes) >= len(retry_ticks) // 2
    print(
        f"\nscale-out: {sent} webhooks over 2 processes -> {len(work)} marked once, "
        f"{len(work) // 4} duplicates; {len(retry_ticks)} retry ticks, each run once "
        f"(by {len(hosts)} distinct processes)"
    )
