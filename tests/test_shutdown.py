"""SIGTERM under load against a real `plex-tracker run`: every webhook answered 200 before,
during and after the signal ends processed exactly once after a restart; nothing is lost."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.cli import run_cli
from tests.plex_payloads import legacy_episode, multipart, scrobble
from tests.processes import RunningService

SEASONS, PER_SEASON = 4, 100
SHOW = {
    "title": "The Office",
    "year": 2005,
    "tmdb_id": 2316,
    "seasons": [
        {
            "season_number": s,
            "episodes": [{"episode_number": n, "runtime": 22} for n in range(1, PER_SEASON + 1)],
        }
        for s in range(1, SEASONS + 1)
    ],
}


def seed_user(env: dict[str, str], tmp_path: Path) -> str:
    """alice with a 400-episode show, connected through the CLI; returns the webhook secret."""
    shows = tmp_path / "shows.json"
    shows.write_text(json.dumps([SHOW]))
    done = run_cli(
        "connect", "--user", "alice", "--plex-token", "plex-token-1", "--no-verify", env=env
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1].rsplit("secret=", 1)[1]
    done = run_cli("shows", "import", str(shows), "--user", "alice", env=env)
    assert done.returncode == 0, done.stderr
    return secret


def scrobble_body(season: int, number: int) -> tuple[bytes, str]:
    # Legacy agent: the show's TMDB id is in the GUID, so no Plex server is needed.
    return multipart(scrobble(legacy_episode("themoviedb", "2316", season, number)))


def episodes() -> list[tuple[int, int]]:
    return [(s, n) for s in range(1, SEASONS + 1) for n in range(1, PER_SEASON + 1)]


async def send(
    http: httpx.AsyncClient, base_url: str, secret: str, season: int, number: int
) -> tuple[int, int | None]:
    """(HTTP status or 0 when the connection failed, log id when accepted)."""
    body, ctype = scrobble_body(season, number)
    try:
        answer = await http.post(
            f"{base_url}/api/plex/webhook",
            params={"secret": secret},
            content=body,
            headers={"Content-Type": ctype},
        )
    except httpx.HTTPError:
        return 0, None
    return answer.status_code, answer.json().get("id") if answer.status_code == 200 else None


async def wait_settled(dsn: str, within: float = 60) -> list[asyncpg.Record]:
    """All scrobble rows once none is pending."""
    conn = await asyncpg.connect(dsn)
    try:
        async with asyncio.timeout(within):
            pending = True
            while pending:
                await asyncio.sleep(0.2)
                pending = await conn.fetchval(
                    "SELECT count(*) > 0 FROM plex_webhook_logs WHERE status = 'pending'"
                )
        return list(
            await conn.fetch(
                """SELECT id, status, action_taken, attempts, plex_season, plex_episode
                   FROM plex_webhook_logs WHERE event_type = 'media.scrobble'"""
            )
        )
    finally:
        await conn.close()


async def watched(dsn: str) -> tuple[set[tuple[int, int]], int]:
    """Watched (season, episode) pairs and the show's own watched counter."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT season, episode FROM tvshow_episodes WHERE watched")
        counter = await conn.fetchval("SELECT watched_episodes FROM tvshows")
    finally:
        await conn.close()
    return {(r["season"], r["episode"]) for r in rows}, counter


@pytest.mark.slow
async def test_sigterm_under_load_loses_nothing(cli_env: dict[str, str], tmp_path: Path) -> None:
    dsn = cli_env["DATABASE_URL"]
    cli_env = {**cli_env, "PLEX_RATE_LIMIT": "100000"}
    secret = await asyncio.to_thread(seed_user, cli_env, tmp_path)
    service = RunningService(cli_env, tmp_path / "first.log")
    results: list[tuple[int, int | None]] = []
    try:
        await asyncio.to_thread(service.start)
        work = episodes()
        limiter = asyncio.Semaphore(16)

        third = asyncio.Event()

        async def one(http: httpx.AsyncClient, s: int, n: int) -> None:
            async with limiter:
                results.append(await send(http, service.base_url, secret, s, n))
            if len(results) >= len(work) // 3:
                third.set()

        async with httpx.AsyncClient(timeout=10) as http:
            tasks = [asyncio.create_task(one(http, s, n)) for s, n in work]
            await third.wait()
            signalled = time.monotonic()
            assert service.proc is not None
            service.proc.send_signal(15)
            await asyncio.gather(*tasks)
        code = await asyncio.to_thread(service.proc.wait, 30)
        stop_seconds = time.monotonic() - signalled
    finally:
        service.kill()
    assert code == 0, service.log()
    log = service.log()
    assert "shutting down: draining" in log and "stopped" in log
    accepted = {log_id for status, log_id in results if status == 200}
    statuses = {status for status, _ in results}
    assert len(accepted) >= len(work) // 3
    assert statuses <= {200, 503, 0}, statuses
    assert 503 in statuses or 0 in statuses, "the signal came after the last webhook"

    # Restart: whatever the first process left pending is processed now.
    again = RunningService(cli_env, tmp_path / "second.log")
    try:
        await asyncio.to_thread(again.start)
        rows = await wait_settled(dsn)
        assert again.stop() == 0
    finally:
        again.kill()
    by_id = {r["id"]: r for r in rows}
    assert accepted <= by_id.keys(), "an accepted webhook has no row"
    # Every stored scrobble (accepted, or stored just before its connection dropped) was
    # processed exactly once and marked its own episode.
    assert {(r["status"], r["action_taken"], r["attempts"]) for r in rows} == {
        ("success", "marked_watched", 1)
    }
    pairs, counter = await watched(dsn)
    assert pairs == {(r["plex_season"], r["plex_episode"]) for r in rows}
    assert counter == len(pairs) == len(rows)
    print(
        f"\nSIGTERM drain: {len(accepted)} accepted of {len(work)} sent; "
        f"process exited {stop_seconds:.2f}s after the signal; all processed once after restart"
    )
