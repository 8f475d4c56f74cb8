"""The bot through a Discord gateway outage (issue 10 #16): the real discord.py client run by
`running_bot`, as `plex-tracker run` runs it, against the fake Discord whose gateway answers
503 or 404 for a while. The bot keeps trying until the gateway is back, and stops only
when Discord refuses its token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.client import Backoff, PlexBot, running_bot
from core.settings import Settings
from tests.conftest import make_settings
from tests.fakediscord import FakeDiscord
from tests.harness import Daemon

TOKEN = "bot-token-for-the-gateway-tests"
QUICK = Backoff(first=0.05, ceiling=0.2)


def _bot_settings(daemon: Daemon, fake: FakeDiscord, tmp_path: Path) -> Settings:
    return make_settings(
        daemon.dsn,
        tmp_path,
        DISCORD_TOKEN=TOKEN,
        DISCORD_GUILD_ID=str(fake.guild_id),
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
    )


async def _status(fake: FakeDiscord, bot: PlexBot, wanted: str) -> None:
    await fake.wait_until(
        lambda: bot.health_status() == wanted, timeout=20, what=f"the bot {wanted}"
    )


@pytest.mark.parametrize("status", [503, 404])
async def test_the_bot_keeps_trying_while_the_gateway_refuses_handshakes(
    daemon: Daemon, tmp_path: Path, status: int
) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        outage = fake.fail_gateway(status)
        async with running_bot(
            daemon.services, _bot_settings(daemon, fake, tmp_path), backoff=QUICK
        ) as bot:
            bot._connection.guild_ready_timeout = 0.05  # READY without the 2 s wait
            await fake.wait_until(
                lambda: outage.failed >= 3, timeout=15, what="three refused handshakes"
            )
            assert bot.health_status() == "connecting"  # not "off": it is still trying
            fake.end_outage()
            await _status(fake, bot, "connected")
            assert fake.active_session().identified
        fake.assert_clean()


async def test_the_bot_stops_once_discord_refuses_its_token(
    daemon: Daemon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        outage = fake.fail_gateway(503)
        async with running_bot(
            daemon.services, _bot_settings(daemon, fake, tmp_path), backoff=QUICK
        ) as bot:
            await fake.wait_until(
                lambda: outage.failed >= 2, timeout=15, what="two refused handshakes"
            )
            fake.revoke_token()  # reset in the developer portal meanwhile
            fake.end_outage()
            await _status(fake, bot, "off")
            tries = len([r for r in fake.requests if r == "GET /"])
            await asyncio.sleep(4 * QUICK.ceiling)  # longer than any backoff wait
            assert len([r for r in fake.requests if r == "GET /"]) == tries  # no more tries
    assert "Discord refused DISCORD_TOKEN (close code 4004)" in caplog.text
    assert TOKEN not in caplog.text
