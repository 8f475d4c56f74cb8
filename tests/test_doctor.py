"""`plex-tracker doctor` through the real console script against a running daemon and the
wire-level fakes; the same checks behind /plex status; Discord's connect reply edited when
Plex first reaches us."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.probe import discord_probe
from core.services.doctor import Doctor
from core.settings import load_settings
from tests.cli import run_cli
from tests.conftest import _with_database
from tests.fakediscord import FakeDiscord, running_client
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plextv import FakePlexTv
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb
from tests.harness import Daemon
from tests.plex_payloads import episode, event
from tests.processes import RunningService, free_port
from tests.test_bot import ALICE, connect_via_modal, followup_text, make_bot

ORDER = [
    "settings",
    "database",
    "database migrated",
    "database writable",
    "encryption key",
    "webhook URL answers",
    "webhook URL reachable from other machines",
    "Plex server (alice)",
    "plex.tv (alice)",
    "TMDB",
    "Discord",
]


def _names(stdout: str) -> list[str]:
    return [
        line[2:].split(":", 1)[0] for line in stdout.splitlines() if line[:1] in ("✓", "✗", "!")
    ]


async def test_doctor_checks_everything_in_order_and_says_what_to_do(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    async with FakeTmdb() as tmdb, FakePlexServer() as plex, FakePlexTv() as plextv:
        plextv.add_account(PLEX_TOKEN, id=1, username="alice-plex")
        env = {
            **cli_env,
            "TMDB_BASE_URL": tmdb.base_url,
            "TMDB_API_KEY": DEFAULT_API_KEY,
            "PLEX_TV_BASE_URL": plextv.base_url,
        }
        service = RunningService(env, tmp_path / "run.log")
        env["PUBLIC_WEBHOOK_URL"] = f"http://127.0.0.1:{service.port}"
        try:
            await asyncio.to_thread(service.start)
            connected = await asyncio.to_thread(
                run_cli, "connect", "--user", "alice", "--plex-token", PLEX_TOKEN,
                "--server-url", plex.base_url, env=env,
            )  # fmt: skip
            assert connected.returncode == 0, connected.stderr
            good = await asyncio.to_thread(run_cli, "doctor", "--user", "alice", env=env)
            assert good.returncode == 0, good.stdout + good.stderr
            assert _names(good.stdout) == ORDER, good.stdout
            out = good.stdout
            assert (
                f"✓ Plex server (alice): reachable at {plex.base_url} (--server-url); "
                "2 libraries, 1 of TV shows"
            ) in out
            assert "✓ plex.tv (alice): token belongs to alice-plex" in out
            assert "✓ webhook URL answers" in out and "✓ TMDB: the key is valid" in out
            # Loopback is a warning (Plex on this machine is fine), not a failure.
            assert "! webhook URL reachable from other machines: 127.0.0.1 is this machine" in out
            assert "all required checks passed" in out

            # A wrong TMDB key, a server that went away: ✗/! with what to do, exit 1.
            await plex.close()
            bad = await asyncio.to_thread(
                run_cli, "doctor", env={**env, "TMDB_API_KEY": "wrong-key"}
            )
            assert bad.returncode == 1
            assert "✗ TMDB: TMDB refuses TMDB_API_KEY (401)" in bad.stdout
            assert "    → check the key" in bad.stdout
            refused = f"✗ Plex server (alice): {plex.base_url} (--server-url): connection refused"
            assert refused in bad.stdout
            assert "--server-url http://<server>:32400" in bad.stdout
            assert "Traceback" not in bad.stderr
            # The server alone being out of reach fails the doctor: history sync needs it.
            server_down = await asyncio.to_thread(run_cli, "doctor", "--user", "alice", env=env)
            assert server_down.returncode == 1, server_down.stdout
            assert "1 problem" in server_down.stdout
        finally:
            service.kill()
        # The daemon is gone: the webhook URL no longer answers.
        stopped = await asyncio.to_thread(run_cli, "doctor", env=env)
        assert stopped.returncode == 1
        assert "✗ webhook URL answers: nothing answers at" in stopped.stdout
        assert "start `plex-tracker run`" in stopped.stdout


def test_doctor_without_a_database_says_so_in_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    done = run_cli("doctor", env=env)
    assert done.returncode == 1
    assert _names(done.stdout) == ["settings", "database"]
    assert "✗ database:" in done.stdout and "start PostgreSQL or fix DATABASE_URL" in done.stdout
    assert "Traceback" not in done.stderr
    missing = run_cli(
        "doctor", env={**cli_env, "DATABASE_URL": _with_database(cli_env["DATABASE_URL"], "nope")}
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert '✗ database: database "nope" does not exist' in missing.stdout
    bad_settings = run_cli("doctor", env={**cli_env, "PORT": "99999"})
    assert bad_settings.returncode == 1 and "✗ settings: invalid settings" in bad_settings.stdout


async def test_discord_probe_against_the_fake(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    base = {
        "DISCORD_API_BASE": fake_discord.api_base,
        "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        "_env_file": None,
        "DATA_DIR": str(tmp_path),
    }
    fake_discord.token = "good-token"
    good = await discord_probe(load_settings(DISCORD_TOKEN="good-token", **base))
    assert good.ok and "gateway reachable" in good.detail, good
    bad = await discord_probe(load_settings(DISCORD_TOKEN="bad-token", **base))
    assert not bad.ok and bad.required and "401" in bad.detail and "Reset Token" in (bad.fix or "")


async def test_plex_status_shows_the_doctors_problems(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake):
        await connect_via_modal(fake, ALICE)
        # No server URL and plex.tv lists no server: the same line doctor prints.
        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        text = followup_text(status)
    assert "⚠️ Plex server (alice): no server URL, and no server found for this token yet" in text
    user_id = (await daemon.fetch("SELECT id FROM users WHERE discord_id = $1", ALICE))[0]["id"]
    import httpx

    async with httpx.AsyncClient() as http:
        problems = await Doctor(daemon.services, http=http).user_problems(user_id)
    assert "Plex server (alice)" in [p.name for p in problems]


async def test_discord_connect_reply_is_edited_when_plex_reaches_us(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake):
        await fake.invoke_slash(ALICE, "plex", "connect")
        record = await fake.submit_modal("plex:connect", {"plex:connect:token": PLEX_TOKEN}, ALICE)
        await fake.wait_for_followup(record)
        assert "Waiting for the first event from Plex" in followup_text(record)
        secret = followup_text(record).split("secret=", 1)[1].split()[0].strip("`)>")
        played = event("media.play", episode(), Player={"title": "Bedroom Shield", "local": True})
        answer = await daemon.post(played, secret)
        assert answer.status_code == 200, answer.text
        await fake.wait_until(
            lambda: "Plex reached plex-tracker" in followup_text(record) or None,
            what="the connect reply edited",
        )
        text = followup_text(record)
    assert "✅ Plex reached plex-tracker: media.play from Bedroom Shield" in text
    assert "Waiting for the first event" not in text
