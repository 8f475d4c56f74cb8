"""`plex-tracker run` with the bot: the real console script in a subprocess, talking to the
fake Discord over loopback; a Discord outage leaves the daemon serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.fakediscord import FakeDiscord
from tests.processes import RunningService, free_port

ALICE = 111_111_111_111_111_111
TOKEN = "bot-token-that-must-not-be-logged"


async def _health(service: RunningService) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(service.base_url + "/healthz")
    body: dict[str, object] = answer.json()
    body["http_status"] = answer.status_code
    return body


async def _bot_status(service: RunningService, wanted: str) -> None:
    async with asyncio.timeout(20):
        while (await _health(service)).get("bot") != wanted:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.1)


async def test_run_starts_the_bot_and_stops_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        fake.add_user(ALICE, "alice")
        env = {
            **cli_env,
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_GUILD_ID": str(fake.guild_id),
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
        }
        service = RunningService(env, tmp_path / "run.log")
        try:
            await asyncio.to_thread(service.start)
            await _bot_status(service, "connected")
            assert fake.command_syncs == [fake.guild_id]
            answer = await fake.invoke_slash(ALICE, "plex", "status")
            followup = await fake.wait_for_followup(answer)
            assert "/plex connect" in followup["content"]
            assert await asyncio.to_thread(service.stop) == 0
        finally:
            service.kill()
        log = service.log()
        assert "Discord: ready as" in log and "stopped" in log
        assert TOKEN not in log
        fake.assert_clean()


async def test_discord_outage_does_not_stop_the_daemon(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    nowhere = free_port()  # nothing listens here
    env = {
        **cli_env,
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": f"http://127.0.0.1:{nowhere}/api/v10",
        "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{nowhere}",
    }
    service = RunningService(env, tmp_path / "run.log")
    try:
        await asyncio.to_thread(service.start)
        body = await _health(service)
        assert body["http_status"] == 200 and body["status"] == "ok"
        assert body["bot"] == "connecting"
        assert await asyncio.to_thread(service.stop) == 0
    finally:
        service.kill()
    log = service.log()
    assert "Discord login failed" in log and TOKEN not in log
