"""History sync in Discord: the real bot (discord.py) against the fake Discord, the daemon's
sync poller against the fake Plex server, real PostgreSQL. `/plex sync` and the "Import my
watch history" button on the connect reply follow the run in an ephemeral message; a
refused token is told to the owner once."""

from __future__ import annotations

from typing import Any

from bot.client import PlexBot
from tests.fakediscord import FakeDiscord, running_client
from tests.fakediscord.models import EPHEMERAL
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.harness import Daemon
from tests.history_support import T0, plex_show, tracker_show

ALICE = 111_111_111_111_111_111
BOB = 222_222_222_222_222_222


def make_bot(daemon: Daemon, fake: FakeDiscord) -> PlexBot:
    return PlexBot(daemon.services, guild_id=fake.guild_id, notify_interval=0.05)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        c["custom_id"]: c.get("label", "")
        for row in message.get("components") or []
        for c in row["components"]
    }


async def a_library(daemon: Daemon, user_id: int) -> None:
    await daemon.import_shows(user_id, [tracker_show("The Office", 2005, 2316, {1: 6})])
    office = plex_show(daemon.plex_server, 100, "The Office", 2005, {1: 6}, tmdb_id=2316)
    for n in (1, 2):
        daemon.plex_server.watch(office.ep(1, n).rating_key, viewed_at=T0 + n)


async def test_connect_offers_the_import_button_and_it_follows_the_first_sync(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    fake.add_user(BOB, "bob")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake):
        await fake.invoke_slash(ALICE, "plex", "connect")
        submitted = await fake.submit_modal(
            "plex:connect",
            {"plex:connect:token": PLEX_TOKEN, "plex:connect:server": daemon.plex_server.base_url},
            ALICE,
        )
        reply = await fake.wait_for_followup(submitted)
        user_id = (await daemon.fetch("SELECT id FROM users"))[0]["id"]
        assert buttons(reply)[f"sync:start:{user_id}"] == "Import my watch history"
        assert "watch history is being imported" in reply["content"]
        queued = await daemon.fetch("SELECT id, state, trigger FROM plex_sync_runs")
        assert [(r["state"], r["trigger"]) for r in queued] == [("queued", "connect")]
        await a_library(daemon, user_id)

        stranger = await fake.click(reply, f"sync:start:{user_id}", BOB)
        await fake.wait_for_followup(stranger)
        assert "isn't yours" in str(stranger.followups[0].get("content"))

        daemon.services.history.start()  # the daemon's poller runs the queued sync
        pressed = await fake.click(reply, f"sync:start:{user_id}", ALICE)
        assert pressed.response_type == 6
        message = await fake.wait_for_followup(pressed)
        assert int(message["flags"]) & EPHEMERAL
        await fake.wait_until(
            lambda: bool(message.get("embeds")), timeout=20, what="the sync summary"
        )
        embed = message["embeds"][0]
        assert embed["title"] == "Plex history synced"
        assert {"name": "Episodes marked", "value": "2", "inline": True} in embed["fields"]
        assert embed["footer"]["text"] == f"run {queued[0]['id']} · incremental"
        # The queued first sync was followed, not a second one started.
        assert len(await daemon.fetch("SELECT id FROM plex_sync_runs")) == 1


async def test_plex_sync_edits_its_reply_with_progress_then_the_summary(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    user = await daemon.services.accounts.user_for_discord(ALICE, "alice")
    await daemon.services.accounts.connect(
        user=user, plex_token=PLEX_TOKEN, server_url=daemon.plex_server.base_url
    )
    await a_library(daemon, user.id)
    daemon.services.history.start()
    async with running_client(make_bot(daemon, fake), fake):
        record = await fake.invoke_slash(ALICE, "plex", "sync")
        assert record.response_type == 5 and record.ephemeral
        await fake.wait_until(
            lambda: bool(record.original and record.original.get("embeds")),
            timeout=20,
            what="the summary",
        )
        contents = [e["payload"].get("content") for e in record.edits]
        assert any(c and c.startswith("⏳") for c in contents), contents
        embed = record.original["embeds"][0]  # type: ignore[index]
        assert embed["title"] == "Plex history synced"
        assert "2 episodes marked" in embed["description"]

        # Nothing new: the next one says so.
        again = await fake.invoke_slash(ALICE, "plex", "sync", {"full": True})
        await fake.wait_until(
            lambda: bool(again.original and again.original.get("embeds")),
            timeout=20,
            what="the second summary",
        )
        assert "0 episodes marked, 2 already watched" in again.original["embeds"][0]["description"]  # type: ignore[index]


async def test_a_refused_token_is_told_to_the_owner_once(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    user = await daemon.services.accounts.user_for_discord(ALICE, "alice")
    await daemon.services.accounts.connect(
        user=user, plex_token=PLEX_TOKEN, server_url=daemon.plex_server.base_url
    )
    daemon.plex_server.tokens.clear()
    async with running_client(make_bot(daemon, fake), fake):
        for _ in range(2):
            result = await daemon.services.jobs.run("sync")
            assert result.outcome in ("partial", "ok"), result
        message = await fake.wait_for_message(dm_user_id=ALICE)
        assert message["embeds"][0]["title"] == "Plex history sync can't read your server"
        assert "/plex connect" in message["embeds"][0]["description"]
        assert PLEX_TOKEN not in str(message)
        await daemon.services.jobs.run("sync")
    notices = await daemon.fetch("SELECT kind, delivered_at FROM notification_outbox")
    assert [n["kind"] for n in notices] == ["sync_failed"] and notices[0]["delivered_at"]
    assert len(fake.dm_messages(ALICE)) == 1
