"""Reaching a user's Plex server (issue 10 #17, issue 11 "offline"): every connection plex.tv
lists is tried, only one that answered is kept, a dead one is replaced, and when none
answers the scrobble fails as retryable with what to do, shown in the log row and status,
and told in Discord once per outage.

The user's server is several local fakes sharing one machine identifier (its remote
address, its relay); a dead LAN address is a closed port; a LAN address that belongs to
somebody else's Plex server is a fake with another identifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from core.db import webhook_logs
from tests.cli import run_cli
from tests.fakediscord import FakeDiscord, running_client
from tests.fakes._base import closed_port_url
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.plex_server import FakePlexServer
from tests.harness import Daemon
from tests.plex_payloads import SERVER, episode, scrobble
from tests.test_bot import ALICE, followup_text, make_bot

OFFICE = {
    "title": "The Office",
    "year": 2005,
    "tmdb_id": 2316,
    "seasons": [{"season_number": 2, "episodes": [{"episode_number": n} for n in range(1, 8)]}],
}
# Plex shows of the current agent: only the server knows their TMDB ids. Each test
# scrobble uses a show the server was not asked about yet (its answers are cached).
SHOW_KEYS = ["1001", "1002", "1003", "1004", "1005", "1006"]


@dataclass
class Home:
    """Alice's Plex server as plex.tv describes it, and the ways to it."""

    remote: FakePlexServer
    relay: FakePlexServer
    neighbour: FakePlexServer  # answers at the "LAN" address, but is not Alice's server
    dead_lan: str
    resource: dict[str, Any]

    def servers(self) -> list[FakePlexServer]:
        return [self.remote, self.relay]


def _connection(uri: str, *, local: bool = False, relay: bool = False) -> dict[str, Any]:
    return {"protocol": "http", "uri": uri, "local": local, "relay": relay, "port": 32400}


@pytest_asyncio.fixture
async def home(daemon: Daemon) -> AsyncIterator[Home]:
    uuid = SERVER["uuid"]
    async with (
        FakePlexServer(machine_identifier=uuid) as remote,
        FakePlexServer(machine_identifier=uuid) as relay,
        FakePlexServer(token="the-neighbours-token") as neighbour,
    ):
        for server in (remote, relay):
            for key in SHOW_KEYS:
                server.add_show(key, "The Office", 2005, guids=["tmdb://2316", "tvdb://73244"])
        dead_lan = closed_port_url()
        daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
        resource = daemon.plextv.add_server(
            PLEX_TOKEN,
            name="Living Room",
            client_identifier=uuid,
            connections=[
                _connection(relay.base_url, relay=True),
                _connection(remote.base_url),
                _connection(neighbour.base_url, local=True),
                _connection(dead_lan, local=True),
            ],
        )
        yield Home(remote, relay, neighbour, dead_lan, resource)


async def _alice(daemon: Daemon, home: Home) -> tuple[int, str]:
    """Connected without --server-url: the server is found from the webhook's Server.uuid."""
    user_id, secret = await daemon.connect("alice", server=False)
    daemon.plextv.accounts[PLEX_TOKEN].resources.append(home.resource)  # connect re-registers
    await daemon.import_shows(user_id, [OFFICE])
    return user_id, secret


async def _scrobble(daemon: Daemon, secret: str, key: str, number: int = 3) -> dict[str, Any]:
    meta = episode(show_key=key, season=2, number=number)
    answer = await daemon.post(scrobble(meta), secret)
    assert answer.status_code == 200, answer.text
    return dict(await daemon.settled(answer.json()["id"], 30))


async def _config(daemon: Daemon, user_id: int) -> dict[str, Any]:
    [row] = await daemon.fetch(
        """SELECT server_url, discovered_server_url, discovered_server_uuid FROM plex_config
           WHERE user_id = $1""",
        user_id,
    )
    return dict(row)


def _metadata_calls(server: FakePlexServer) -> int:
    return len([r for r in server.requests if r.path.startswith("/library/metadata/")])


async def test_every_address_is_tried_and_only_one_that_answered_is_kept(
    daemon: Daemon, home: Home
) -> None:
    user_id, secret = await _alice(daemon, home)
    row = await _scrobble(daemon, secret, SHOW_KEYS[0])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), row
    # The LAN addresses come first but one is dead and the other is a stranger's server;
    # the remote address answered as Alice's server, and is preferred over the relay.
    assert _metadata_calls(home.remote) == 1 and _metadata_calls(home.relay) == 0
    config = await _config(daemon, user_id)
    assert config == {
        "server_url": None,  # the user's own setting is left alone
        "discovered_server_url": home.remote.base_url,
        "discovered_server_uuid": SERVER["uuid"],
    }
    # The stranger was only asked who it is, without Alice's token.
    assert [r.path for r in home.neighbour.requests] == ["/identity"]
    assert home.neighbour.requests[0].header("X-Plex-Token") is None
    # Known now: the next show costs no plex.tv call and no probe.
    resources_calls = len(daemon.plextv.requests_to("/api/v2/resources"))
    assert (await _scrobble(daemon, secret, SHOW_KEYS[1], number=4))["status"] == "success"
    assert len(daemon.plextv.requests_to("/api/v2/resources")) == resources_calls
    assert [r.path for r in home.neighbour.requests] == ["/identity"]


async def test_an_address_that_stops_answering_is_replaced(daemon: Daemon, home: Home) -> None:
    user_id, secret = await _alice(daemon, home)
    assert (await _scrobble(daemon, secret, SHOW_KEYS[0]))["status"] == "success"
    await home.remote.close()  # the router's port forward is gone; the relay still works
    row = await _scrobble(daemon, secret, SHOW_KEYS[1], number=4)
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), row
    assert _metadata_calls(home.relay) == 1
    assert (await _config(daemon, user_id))["discovered_server_url"] == home.relay.base_url
    # After a restart (nothing in memory) the stored address is used as it is.
    daemon.services.servers.forget(user_id)
    assert (await _scrobble(daemon, secret, SHOW_KEYS[2], number=5))["status"] == "success"
    assert _metadata_calls(home.relay) == 2


async def test_an_unreachable_server_fails_retryably_says_what_to_do_and_is_told_once(
    daemon: Daemon, home: Home, fake_discord: FakeDiscord, cli_env: dict[str, str]
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    user_id, secret = await _alice(daemon, home)
    await daemon.fetch("UPDATE users SET discord_id = $1 WHERE id = $2", ALICE, user_id)
    for server in home.servers():
        await server.close()
    first = await _scrobble(daemon, secret, SHOW_KEYS[0])
    second = await _scrobble(daemon, secret, SHOW_KEYS[1], number=4)
    for row in (first, second):
        assert (row["status"], row["action_taken"], row["retryable"]) == (
            "failed",
            "server_unreachable",
            True,
        ), row
        message = row["error_message"]
        assert "Plex server 'Living Room' did not answer at any of its addresses" in message
        assert "set --server-url" in message and "reachable" in message
        assert home.relay.base_url.removeprefix("http://") in message
        assert PLEX_TOKEN not in message
    assert (await _config(daemon, user_id))["discovered_server_url"] is None
    # One problem for the outage, seen where status and doctor look, and one notification.
    problem = await daemon.services.servers.problem(user_id)
    assert problem is not None and problem.occurrences == 2
    assert "set --server-url" in problem.message
    notes = await daemon.fetch("SELECT kind FROM notification_outbox WHERE user_id = $1", user_id)
    assert [n["kind"] for n in notes] == ["server_problem"]
    async with daemon.services.pool.acquire() as conn:
        logs = await webhook_logs.recent(conn, user_id, status="failed", limit=10)
    assert {entry.error_message for entry in logs} == {message}
    shown = await asyncio.to_thread(run_cli, "status", "--user", "alice", env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "✗ Plex server unreachable: Plex server 'Living Room' did not answer" in shown.stdout

    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        told = await fake.wait_for_message(dm_user_id=ALICE)
        assert told["embeds"][0]["title"] == "Your Plex server can't be reached"
        assert "set --server-url" in told["embeds"][0]["description"]
        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        assert "Plex server unreachable since" in followup_text(status)

        # Both scrobbles give up after their retries: still no message per scrobble.
        await daemon.fetch("UPDATE plex_webhook_logs SET attempts = 100")
        await daemon.services.jobs.run("retry")
        assert await bot.notifier.deliver_pending() == 0
        assert len(fake.dm_messages(ALICE)) == 1

        # The server is reachable again (a new relay address): the next call finds it and
        # the problem is over; /plex status is clear.
        async with FakePlexServer(machine_identifier=SERVER["uuid"]) as back:
            for key in SHOW_KEYS[:3]:
                back.add_show(key, "The Office", 2005, guids=["tmdb://2316"])
            home.resource["connections"] = [_connection(back.base_url, relay=True)]
            row = await _scrobble(daemon, secret, SHOW_KEYS[2], number=5)
            assert (row["status"], row["action_taken"]) == ("success", "marked_watched"), row
            # The two that ran out of retries during the outage go again at once: Plex won't
            # send them again.
            async with asyncio.timeout(30):
                while True:
                    again = [await daemon.log_row(r["id"]) for r in (first, second)]
                    if all(r["status"] == "success" for r in again):
                        break
                    await asyncio.sleep(0.05)
        assert await daemon.services.servers.problem(user_id) is None
        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        assert "unreachable" not in followup_text(status)


async def test_a_dead_server_url_the_user_gave_says_so(daemon: Daemon) -> None:
    dead = closed_port_url()
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    done = await daemon.services.accounts.connect(
        user_name="alice", plex_token=PLEX_TOKEN, server_url=dead
    )
    await daemon.import_shows(done.user.id, [OFFICE])
    payload = scrobble(episode(show_key=SHOW_KEYS[0]))
    payload.pop("Server")  # a relay that drops it: no server id to look up on plex.tv
    answer = await daemon.post(payload, done.webhook_url.rsplit("=", 1)[1])
    row = await daemon.settled(answer.json()["id"], 30)
    assert (row["status"], row["action_taken"], row["retryable"]) == (
        "failed",
        "server_unreachable",
        True,
    )
    assert f"Plex server at {dead} did not answer" in row["error_message"]
    assert f"make {dead} reachable from this machine, or set --server-url" in row["error_message"]
    [config] = await daemon.fetch("SELECT server_url FROM plex_config")
    assert config["server_url"] == dead  # the user's choice stays theirs
