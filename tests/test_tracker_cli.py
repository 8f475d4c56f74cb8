"""`plex-tracker tv …` as a headless user runs it: the real console script in a subprocess,
real PostgreSQL, the TMDB fake; the same TrackerService as /tv."""

from __future__ import annotations

import asyncio

from tests.cli import run_cli
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb


async def test_tv_from_the_command_line(cli_env: dict[str, str]) -> None:
    async with FakeTmdb() as tmdb:
        tmdb.add_show(
            95396,
            "Severance",
            first_air_date="2022-02-18",
            seasons={1: [{"air_date": "2022-03-01", "runtime": 55}] * 9},
        )
        env = {**cli_env, "TMDB_BASE_URL": tmdb.base_url, "TMDB_API_KEY": DEFAULT_API_KEY}

        async def cli(*args: str) -> str:
            done = await asyncio.to_thread(run_cli, *args, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        await cli("connect", "--user", "alice", "--plex-token", "t", "--no-verify")
        added = await cli("tv", "add", "--user", "alice", "--tmdb", "95396")
        assert "added:" in added and "Severance (2022): 0/9 watched, next S01E01" in added
        marked = await cli(
            "tv",
            "mark",
            "--user",
            "alice",
            "--show",
            "severance",
            "--season",
            "1",
            "--episode",
            "4",
            "--scope",
            "up_to",
        )
        assert "marked everything up to S01E04: 4 of 4 episodes changed" in marked
        assert "4/9 watched, next S01E05" in marked
        upnext = await cli("tv", "upnext", "--user", "alice")
        assert "Severance: S01E05" in upnext
        history = await cli("tv", "history", "--user", "alice", "--days", "1")
        assert history.count("manual") == 4 and "4 episodes in the last 1 days" in history
        undone = await cli("tv", "unmark", "--user", "alice", "--show", "Severance")
        assert "unmarked S01E04: 1 of 1 episodes changed" in undone
        missing = await asyncio.to_thread(
            run_cli, "tv", "mark", "--user", "alice", "--show", "Succession", env=env
        )
        assert missing.returncode == 1
        assert "No show called “Succession” in your tracker" in missing.stderr
