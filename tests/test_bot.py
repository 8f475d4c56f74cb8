"""The Discord front end end to end: the real bot (discord.py) against the fake Discord,
the real daemon over loopback HTTP with its worker, real PostgreSQL, and FakePlexTv
checking tokens. Nothing of ours is mocked."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.client import PlexBot
from core.db.users import User
from tests.fakediscord import FakeDiscord, running_client
from tests.fakediscord.models import EPHEMERAL, InteractionRecord
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.harness import Daemon
from tests.plex_payloads import episode, scrobble

ALICE = 111_111_111_111_111_111
BOB = 222_222_222_222_222_222
CONFLICTS_CHANNEL = 920_000_000_000_000_077

OFFICE_US = {
    "title": "The Office (US)",
    "year": 2005,
    "seasons": [
        {
            "season_number": 2,
            "episodes": [{"episode_number": n, "runtime": 22} for n in range(1, 11)],
        }
    ],
}


def make_bot(daemon: Daemon, fake: FakeDiscord) -> PlexBot:
    return PlexBot(daemon.services, guild_id=fake.guild_id, notify_interval=0.05)


def followup_text(record: InteractionRecord) -> str:
    """Everything the bot said in answer: contents and embed texts of all follow-ups."""
    parts: list[str] = []
    for message in [record.original, *record.followups]:
        if message is None:
            continue
        parts.append(str(message.get("content") or ""))
        for embed in message.get("embeds") or []:
            parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return "\n".join(parts)


def all_ephemeral(record: InteractionRecord) -> bool:
    messages = [m for m in [record.original, *record.followups] if m is not None]
    return bool(messages) and all(int(m["flags"]) & EPHEMERAL for m in messages)


async def connect_via_modal(fake: FakeDiscord, user: int, token: str = PLEX_TOKEN) -> str:
    """/plex connect → modal → webhook URL; returns the webhook secret."""
    opened = await fake.invoke_slash(user, "plex", "connect")
    assert opened.response_type == 9  # the modal itself is the immediate answer
    fields = [c["components"][0] for c in (opened.response_data or {})["components"]]
    assert {f["custom_id"] for f in fields} == {"plex:connect:token", "plex:connect:server"}
    submitted = await fake.submit_modal("plex:connect", {"plex:connect:token": token}, user)
    assert submitted.response_type == 5  # deferred at once: plex.tv is called after
    await fake.wait_for_followup(submitted)
    text = followup_text(submitted)
    assert all_ephemeral(submitted), "the webhook URL is a secret: ephemeral only"
    found = re.search(r"secret=([A-Za-z0-9_\-]+)", text)
    assert found, text
    assert "Settings → Webhooks" in text and "Plex Pass" in text and "Restart" in text
    return found[1]


async def tracker_user_id(daemon: Daemon, discord_id: int) -> int:
    rows = await daemon.fetch("SELECT id FROM users WHERE discord_id = $1", discord_id)
    assert rows, f"no tracker user for discord {discord_id}"
    return int(rows[0]["id"])


async def raise_conflict(daemon: Daemon, secret: str, show_key: str = "777") -> int:
    """A scrobble of a Plex show only a fuzzy title links to the tracker: a conflict."""
    meta = episode(show="The Office", show_key=show_key, season=2, number=3, rich=False)
    answer = await daemon.post(scrobble(meta), secret)
    assert answer.status_code == 200, answer.text
    row = await daemon.settled(answer.json()["id"])
    assert row["status"] == "pending" and row["held_by_conflict_id"] is not None, dict(row)
    return int(row["held_by_conflict_id"])


async def alice_connected_without_discord(daemon: Daemon, fake: FakeDiscord) -> tuple[User, str]:
    """Alice as a Discord-linked tracker user, connected through the service (no bot
    running); returns her user and webhook secret."""
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    user = await daemon.services.accounts.user_for_discord(ALICE, "alice")
    connected = await daemon.services.accounts.connect(user=user, plex_token=PLEX_TOKEN)
    return user, connected.webhook_url.rsplit("=", 1)[1]


def conflict_buttons(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def watched(daemon: Daemon, user_id: int) -> list[tuple[int, int]]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode FROM tvshow_episodes e JOIN tvshows s ON s.id = e.tvshow_id
           WHERE s.user_id = $1 AND e.watched ORDER BY 1, 2""",
        user_id,
    )
    return [(r["season"], r["episode"]) for r in rows]


async def test_connect_conflict_dm_click_after_restart(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice-plex")
    async with running_client(make_bot(daemon, fake), fake):
        # A token plex.tv refuses: a clear, private error and nothing stored.
        await fake.invoke_slash(ALICE, "plex", "connect")
        refused = await fake.submit_modal(
            "plex:connect", {"plex:connect:token": "wrongtoken"}, ALICE
        )
        await fake.wait_for_followup(refused)
        assert "plex.tv refused this token" in followup_text(refused)
        assert all_ephemeral(refused)
        assert await daemon.fetch("SELECT 1 FROM plex_config WHERE plex_token IS NOT NULL") == []

        secret = await connect_via_modal(fake, ALICE)
        user_id = await tracker_user_id(daemon, ALICE)
        stored = await daemon.fetch("SELECT plex_token, plex_username FROM plex_config")
        assert stored[0]["plex_username"] == "alice-plex"
        assert PLEX_TOKEN not in stored[0]["plex_token"], "the token is stored encrypted"
        await daemon.import_shows(user_id, [OFFICE_US])

        conflict_id = await raise_conflict(daemon, secret)
        message = await fake.wait_for_message(dm_user_id=ALICE)
        assert message["embeds"][0]["title"].startswith("Which show is “The Office")
        buttons = conflict_buttons(message)
        assert buttons == [
            f"conflict:pick:{conflict_id}:0",
            f"conflict:new:{conflict_id}",
            f"conflict:search:{conflict_id}",
            f"conflict:ignore:{conflict_id}",
        ]
        labels = [c["label"] for row in message["components"] for c in row["components"]]
        assert re.fullmatch(r"1\. The Office \(US\) \(2005\) · \d+%", labels[0]), labels

    # A new process: the button still works (DynamicItem), and nothing is posted twice.
    async with running_client(make_bot(daemon, fake), fake):
        click = await fake.click(message, f"conflict:pick:{conflict_id}:0", ALICE)
        assert click.response_type == 6  # deferred at once, the message is edited after
        await fake.wait_until(
            lambda: "resolved" in (message["embeds"][0].get("title") or ""),
            what="the conflict message edited",
        )
        embed = message["embeds"][0]
        assert "Matched to **The Office (US)**; 1 episode marked watched" in embed["description"]
        assert {"name": "Episodes marked", "value": "1", "inline": True} in embed["fields"]
        assert message["components"] == [], "the buttons are gone once resolved"
        assert len(fake.dm_messages(ALICE)) == 1
    assert await watched(daemon, user_id) == [(2, 3)]
    logs = await daemon.fetch("SELECT status, action_taken FROM plex_webhook_logs")
    assert [(r["status"], r["action_taken"]) for r in logs] == [("success", "marked_watched")]
    [conflict] = await daemon.fetch("SELECT resolved, resolved_by FROM plex_conflicts")
    assert conflict["resolved"] and conflict["resolved_by"] == f"discord:{ALICE}"


async def test_conflict_in_a_channel_only_its_owner_may_click(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    fake.add_user(BOB, "bob")
    fake.add_text_channel(CONFLICTS_CHANNEL, "plex-conflicts")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake):
        secret = await connect_via_modal(fake, ALICE)
        user_id = await tracker_user_id(daemon, ALICE)
        await daemon.import_shows(user_id, [OFFICE_US])
        changed = await fake.invoke_slash(ALICE, "plex", "settings", {"channel": CONFLICTS_CHANNEL})
        await fake.wait_for_followup(changed)
        assert f"<#{CONFLICTS_CHANNEL}>" in followup_text(changed) and all_ephemeral(changed)

        conflict_id = await raise_conflict(daemon, secret)
        message = await fake.wait_for_message(channel_id=CONFLICTS_CHANNEL)
        assert message["content"] == f"<@{ALICE}>"
        assert fake.dm_messages(ALICE) == []

        # Bob (a stranger, no tracker user) and Bob (with one of his own) are refused.
        for _ in range(2):
            refused = await fake.click(message, f"conflict:ignore:{conflict_id}", BOB)
            await fake.wait_for_followup(refused)
            assert "isn't yours" in followup_text(refused) and all_ephemeral(refused)
            await daemon.services.accounts.user_for_discord(BOB, "bob")
        search = await fake.click(message, f"conflict:search:{conflict_id}", BOB)
        assert search.response_type == 4 and search.ephemeral  # no modal for strangers
        assert message["embeds"][0]["title"].startswith("Which show")
        [open_conflict] = await daemon.fetch("SELECT resolved FROM plex_conflicts")
        assert not open_conflict["resolved"]

        # Bob can't see Alice's data through commands either.
        bob_status = await fake.invoke_slash(BOB, "plex", "status")
        await fake.wait_for_followup(bob_status)
        assert "connected" not in followup_text(bob_status).replace("not connected", "")
        bob_conflicts = await fake.invoke_slash(BOB, "plex", "conflicts")
        await fake.wait_for_followup(bob_conflicts)
        assert "The Office" not in followup_text(bob_conflicts)

        click = await fake.click(message, f"conflict:pick:{conflict_id}:0", ALICE)
        await fake.wait_until(lambda: message["components"] == [], what="the message edited")
        assert "1 episode marked" in message["embeds"][0]["description"]
        assert click.followups == []
    assert await watched(daemon, user_id) == [(2, 3)]


async def test_conflict_raised_while_bot_is_down_is_posted_once(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [OFFICE_US])
    conflict_id = await raise_conflict(daemon, secret)
    # A CLI-only user's conflict must not block the queue (no Discord account to tell).
    cli_id, cli_secret = await daemon.connect("carol")
    await daemon.import_shows(cli_id, [OFFICE_US])
    await raise_conflict(daemon, cli_secret, show_key="778")
    assert fake.dm_messages(ALICE) == []

    first = make_bot(daemon, fake)
    async with running_client(first, fake):
        message = await fake.wait_for_message(dm_user_id=ALICE)
        assert f"conflict:pick:{conflict_id}:0" in conflict_buttons(message)
        assert await first.notifier.deliver_pending() == 0
    second = make_bot(daemon, fake)
    async with running_client(second, fake):
        assert await second.notifier.deliver_pending() == 0
    assert len(fake.dm_messages(ALICE)) == 1
    rows = await daemon.fetch(
        "SELECT user_id, delivered_at, discord_message_id, attempts FROM notification_outbox"
    )
    by_user = {r["user_id"]: r for r in rows}
    assert by_user[user.id]["discord_message_id"] == int(message["id"])
    assert by_user[user.id]["attempts"] == 1
    assert by_user[cli_id]["delivered_at"] is None and by_user[cli_id]["attempts"] == 0


@pytest.mark.parametrize("share", [False, True])
async def test_status_dashboard(daemon: Daemon, fake_discord: FakeDiscord, share: bool) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake):
        secret = await connect_via_modal(fake, ALICE)
        user_id = await tracker_user_id(daemon, ALICE)
        await daemon.import_shows(user_id, [OFFICE_US])
        await raise_conflict(daemon, secret)
        status = await fake.invoke_slash(ALICE, "plex", "status", {"share": share})
        assert status.response_type == 5
        await fake.wait_for_followup(status)
        text = followup_text(status)
        assert all_ephemeral(status) is not share
        assert "Connection: connected as **alice**" in text
        assert "pending **1**" in text and "success **0**" in text
        assert "Open conflicts: 1" in text and "Episodes marked: 0" in text
        assert "Conflicts go to: your DMs" in text


async def test_webhook_rotate_logs_and_disconnect(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    fake.add_user(ALICE, "alice")
    fake.add_user(BOB, "bob")
    daemon.plextv.add_account(PLEX_TOKEN, id=1, username="alice")
    async with running_client(make_bot(daemon, fake), fake) as client:
        not_yet = await fake.invoke_slash(ALICE, "plex", "webhook")
        await fake.wait_for_followup(not_yet)
        assert "/plex connect" in followup_text(not_yet) and all_ephemeral(not_yet)

        secret = await connect_via_modal(fake, ALICE)
        user_id = await tracker_user_id(daemon, ALICE)
        shown = await fake.invoke_slash(ALICE, "plex", "webhook")
        url_message = await fake.wait_for_followup(shown)
        assert f"secret={secret}" in followup_text(shown) and all_ephemeral(shown)
        rotate = f"webhook:rotate:{user_id}"
        assert conflict_buttons(url_message) == [rotate]

        # Rotation asks first; then the old secret stops working.
        asked = await fake.click(url_message, rotate, ALICE)
        confirm_message = await fake.wait_for_followup(asked)
        confirm = f"webhook:rotate-confirm:{user_id}"
        assert conflict_buttons(confirm_message) == [confirm]
        assert (await daemon.post(scrobble(), secret)).status_code == 200
        rotated = await fake.click(confirm_message, confirm, ALICE)
        await fake.wait_until(
            lambda: "rotated" in confirm_message["content"], what="the confirmation edited"
        )
        assert rotated.response_type == 6
        found = re.search(r"secret=([A-Za-z0-9_\-]+)", confirm_message["embeds"][0]["description"])
        assert found and found[1] != secret
        assert (await daemon.post(scrobble(), secret)).status_code == 401
        assert (await daemon.post(scrobble(), found[1])).status_code == 200
        # Bob pressing Alice's rotate button (custom_ids are untrusted) changes nothing.
        refused = await fake.click(url_message, rotate, BOB)
        await fake.wait_for_followup(refused)
        assert "isn't yours" in followup_text(refused) and all_ephemeral(refused)
        assert (await daemon.post(scrobble(), found[1])).status_code == 200

        logs = await fake.invoke_slash(ALICE, "plex", "logs", {"status": "ignored"})
        await fake.wait_for_followup(logs)
        assert "Recent Plex activity (ignored)" in followup_text(logs)

        # Disconnect needs the confirm button, and only Alice's click counts.
        asked = await fake.invoke_slash(ALICE, "plex", "disconnect")
        confirm_message = await fake.wait_for_followup(asked)
        button = f"account:disconnect:{user_id}"
        assert conflict_buttons(confirm_message) == [button]
        config = await daemon.fetch("SELECT plex_token FROM plex_config")
        assert config[0]["plex_token"] is not None
        done = await fake.click(confirm_message, button, ALICE)
        await fake.wait_until(
            lambda: "Disconnected" in confirm_message["content"], what="disconnected"
        )
        assert done.response_type == 6
        config = await daemon.fetch("SELECT plex_token, webhook_secret FROM plex_config")
        assert (config[0]["plex_token"], config[0]["webhook_secret"]) == (None, None)
        assert client.health_status() == "connected"

    # Every interaction was acknowledged (the fake's 3 s deadline) and none answered twice.
    assert all(r.responded for r in fake.interactions.values())


async def test_a_scrobble_that_fails_for_good_is_reported_once(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [{**OFFICE_US, "tvdb_id": 73244}])
    meta = episode(show="The Office (US)", show_key="777", season=2, number=40)
    meta["grandparentGuid"] = "com.plexapp.agents.thetvdb://73244?lang=en"
    answer = await daemon.post(scrobble(meta), secret)
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("failed", "episode_unknown")
    # Every retry used up: the retry job gives up and tells the owner.
    await daemon.fetch("UPDATE plex_webhook_logs SET attempts = 100 WHERE id = $1", row["id"])
    await daemon.services.jobs.run("retry")
    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        message = await fake.wait_for_message(dm_user_id=ALICE)
        embed = message["embeds"][0]
        assert "The Office (US) S02E40" in embed["title"]
        assert "not in the tracker" in embed["description"] and "gave up" in embed["description"]
        assert message.get("components") in (None, [])
        assert await bot.notifier.deliver_pending() == 0
    assert len(fake.dm_messages(ALICE)) == 1
