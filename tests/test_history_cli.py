"""`plex-tracker sync` and `connect`'s first sync through the real console script, against
real PostgreSQL and the fake Plex server (served by this test's loop while the command runs
in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.cli import entry_point, run_cli
from tests.fakes._base import closed_port_url
from tests.fakes.plex_server import DEFAULT_TOKEN, FakePlexServer
from tests.history_support import T0, plex_show, tracker_show

pytestmark = pytest.mark.usefixtures("clean_db")


@pytest.fixture
async def plex() -> AsyncIterator[FakePlexServer]:
    async with FakePlexServer(owner_name="alice") as fake:
        office = plex_show(fake, 100, "The Office", 2005, {1: 6}, tmdb_id=2316)
        for n in (1, 2, 3):
            fake.watch(office.ep(1, n).rating_key, viewed_at=T0 + n)
        fake.watch_movie("Heat", viewed_at=T0)
        yield fake


async def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # In a thread: this loop keeps serving the fake Plex server meanwhile.
    return await asyncio.to_thread(run_cli, *args, env=env)


async def connect(
    env: dict[str, str], server_url: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return await cli(
        "connect",
        "--user",
        "alice",
        "--plex-token",
        DEFAULT_TOKEN,
        "--no-verify",
        "--server-url",
        server_url,
        *extra,
        env=env,
    )


async def import_office(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "shows.json"
    path.write_text(json.dumps([tracker_show("The Office", 2005, 2316, {1: 6})]))
    done = await cli("shows", "import", str(path), "--user", "alice", env=env)
    assert done.returncode == 0, done.stderr


async def test_connect_queues_the_first_sync_and_sync_runs_it_with_a_summary(
    cli_env: dict[str, str], clean_db: str, plex: FakePlexServer, tmp_path: Path
) -> None:
    connected = await connect(cli_env, plex.base_url)
    assert connected.returncode == 0, connected.stderr
    lines = connected.stdout.strip().splitlines()
    assert lines[-1].startswith("http://127.0.0.1:8080/api/plex/webhook?secret=")
    queued = next(line for line in lines if line.startswith("history sync:"))
    run_id = int(re.search(r"run (\d+) queued", queued)[1])  # type: ignore[index]
    assert "plex-tracker sync --user alice --status" in queued
    # Connecting again does not queue a second one: it names the one on its way.
    again = await connect(cli_env, plex.base_url)
    assert f"history sync: run {run_id} queued" in again.stdout
    await import_office(cli_env, tmp_path)

    dry = await cli("sync", "--user", "alice", "--dry-run", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run (nothing changed)" in dry.stdout and "3 episodes would be marked" in dry.stdout

    done = await cli("sync", "--user", "alice", env=cli_env)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()  # not a terminal: one plain summary line
    assert line.startswith(f"sync of alice (run {run_id}, incremental) succeeded in "), line
    assert "1 shows seen, 3 episodes marked, 0 already watched, 0 shows added" in line
    assert "1 skipped (1 not a TV episode (movie, music))" in line
    conn = await asyncpg.connect(clean_db)
    try:
        marked = await conn.fetchval("SELECT count(*) FROM tvshow_episodes WHERE watched")
        states = await conn.fetch("SELECT id, state, trigger FROM plex_sync_runs ORDER BY id")
    finally:
        await conn.close()
    assert marked == 3
    # The queued run was taken over (the dry run beside it is the only other one).
    assert [(r["id"], r["state"], r["trigger"]) for r in states] == [
        (run_id, "succeeded", "connect"),
        (run_id + 1, "succeeded", "cli"),
    ]

    status = await cli("sync", "--user", "alice", "--status", env=cli_env)
    assert status.returncode == 0 and f"run {run_id}, incremental) succeeded" in status.stdout

    full = await cli("sync", "--user", "alice", "--full", env=cli_env)
    assert full.returncode == 0 and "0 episodes marked, 3 already watched" in full.stdout


async def test_no_sync_skips_the_first_sync(cli_env: dict[str, str], plex: FakePlexServer) -> None:
    connected = await connect(cli_env, plex.base_url, "--no-sync")
    assert connected.returncode == 0, connected.stderr
    assert "history sync" not in connected.stdout
    status = await cli("sync", "--user", "alice", "--status", env=cli_env)
    assert "has not synced yet" in status.stdout


async def test_an_unreachable_server_is_a_clear_error_and_a_failing_exit_code(
    cli_env: dict[str, str],
) -> None:
    url = closed_port_url()
    await connect(cli_env, url, "--no-sync")
    failed = await cli("sync", "--user", "alice", env=cli_env)
    assert failed.returncode == 1
    assert "failed" in failed.stdout
    assert f"error: Plex server at {url} did not answer" in failed.stderr, failed.stderr
    assert "reachable from this machine, or set --server-url" in failed.stderr
    assert DEFAULT_TOKEN not in failed.stdout + failed.stderr
    bad = await cli("sync", "--user", "alice", "--since", "yesterday", env=cli_env)
    assert bad.returncode == 2 and "is not a date (YYYY-MM-DD)" in bad.stderr


async def test_a_terminal_gets_a_progress_bar(
    cli_env: dict[str, str], plex: FakePlexServer, tmp_path: Path
) -> None:
    await connect(cli_env, plex.base_url, "--no-sync")
    await import_office(cli_env, tmp_path)

    def run_on_a_pty() -> tuple[int, str]:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [*entry_point(), "sync", "--user", "alice"],
            env={**cli_env, "COLUMNS": "120", "TERM": "xterm"},
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(leader)
        return proc.wait(60), b"".join(chunks).decode(errors="replace")

    code, out = await asyncio.to_thread(run_on_a_pty)
    assert code == 0, out
    assert "Library shows" in out and "History plays" in out and "3 marked" in out
    assert "3 episodes marked" in out


@pytest.mark.slow
async def test_a_sync_killed_mid_run_is_resumed_by_the_next(
    cli_env: dict[str, str], clean_db: str, tmp_path: Path
) -> None:
    async with FakePlexServer(owner_name="alice") as fake:
        shows = [
            plex_show(fake, 1000 + i, f"Show {i:03d}", 2000, {1: 2}, tmdb_id=10_000 + i)
            for i in range(100)
        ]
        for i, show in enumerate(shows):
            fake.watch(show.ep(1, 1).rating_key, viewed_at=T0 + i)
        await connect(cli_env, fake.base_url, "--no-sync")
        path = tmp_path / "shows.json"
        library = [tracker_show(f"Show {i:03d}", 2000, 10_000 + i, {1: 2}) for i in range(100)]
        path.write_text(json.dumps(library))
        imported = await cli("shows", "import", str(path), "--user", "alice", env=cli_env)
        assert imported.returncode == 0, imported.stderr
        fake.delay = 0.05  # a slow server: the run is still going when it is killed
        proc = await asyncio.create_subprocess_exec(
            *entry_point(),
            "sync",
            "--user",
            "alice",
            env=cli_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        conn = await asyncpg.connect(clean_db)
        try:
            async with asyncio.timeout(60):
                while True:  # until the first batch is committed
                    if await conn.fetchval("SELECT count(*) FROM tvshow_episodes WHERE watched"):
                        break
                    await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            done_before = await conn.fetchval("SELECT count(*) FROM tvshow_episodes WHERE watched")
            assert 0 < done_before < 100, done_before
            fake.delay = 0
            fake.requests.clear()
            again = await cli("sync", "--user", "alice", env=cli_env)
            assert again.returncode == 0, again.stderr
            assert await conn.fetchval("SELECT count(*) FROM tvshow_episodes WHERE watched") == 100
            leaves = [r for r in fake.requests if r.path.endswith("/allLeaves")]
            assert len(leaves) == 100 - done_before  # the shows done before are not read again
            runs = await conn.fetch("SELECT state, error FROM plex_sync_runs ORDER BY id")
            assert [r["state"] for r in runs] == ["interrupted", "succeeded"]
            assert "stopped" in runs[0]["error"]
            bad = await conn.fetch(
                """SELECT s.id FROM tvshows s WHERE s.watched_episodes <> (
                       SELECT count(*) FROM tvshow_episodes e
                       WHERE e.tvshow_id = s.id AND e.watched)"""
            )
            assert bad == []
        finally:
            await conn.close()
