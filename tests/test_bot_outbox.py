"""The Discord outbox under outages and refusals (issue 10 #15): the real bot against the
fake Discord, which drops connections, answers 503 for as long as a test likes, or
refuses like Discord does (DMs closed, channel deleted)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.client import PlexBot
from tests.fakediscord import FakeDiscord, running_client
from tests.harness import Daemon
from tests.test_bot import (
    ALICE,
    CONFLICTS_CHANNEL,
    OFFICE_US,
    alice_connected_without_discord,
    followup_text,
    make_bot,
    raise_conflict,
)


async def _outbox(daemon: Daemon) -> list[dict[str, Any]]:
    rows = await daemon.fetch(
        """SELECT ref_id, delivered_at, refused_at, attempts, transient_failures, last_error
           FROM notification_outbox ORDER BY id"""
    )
    return [dict(r) for r in rows]


async def _outbox_when(
    daemon: Daemon, predicate: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The single outbox row once the bot has committed what the test waits for (the fake
    sees a request before the bot has recorded its answer)."""
    async with asyncio.timeout(10):
        while True:
            [row] = await _outbox(daemon)
            if predicate(row):
                return row
            await asyncio.sleep(0.02)


def _conflict_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["embeds"][0]["footer"]["text"] for m in messages]


async def test_a_network_error_mid_round_never_reposts_what_was_delivered(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [OFFICE_US])
    first = await raise_conflict(daemon, secret, show_key="777")
    second = await raise_conflict(daemon, secret, show_key="778")
    # The first message goes out; the connection carrying the second one breaks.
    fake.fail_requests("POST /api/v10/channels/", status=None, after=1, times=1)
    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        await fake.wait_until(
            lambda: len(fake.dm_messages(ALICE)) >= 2, timeout=10, what="both conflicts"
        )
        assert fake.outage_hits, "the broken connection happened"
        assert await bot.notifier.deliver_pending() == 0
    assert sorted(_conflict_ids(fake.dm_messages(ALICE))) == sorted(
        [f"conflict {first}", f"conflict {second}"]
    ), "each conflict posted exactly once"
    rows = await _outbox(daemon)
    assert all(r["delivered_at"] is not None for r in rows)


async def test_a_message_discord_accepted_whose_answer_was_lost_is_not_posted_twice(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [OFFICE_US])
    conflict = await raise_conflict(daemon, secret, show_key="777")
    # Discord makes the message, but the connection breaks before the answer: the outbox
    # can't tell, and sends again.
    fake.lose_answers("POST /api/v10/channels/", times=1)
    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        await _outbox_when(daemon, lambda r: r["delivered_at"] is not None, "delivered")
        assert [h for h in fake.outage_hits if h.endswith("answer lost")] == fake.outage_hits
        assert len(fake.outage_hits) == 1, fake.outage_hits
        assert await bot.notifier.deliver_pending() == 0
    assert _conflict_ids(fake.dm_messages(ALICE)) == [f"conflict {conflict}"], "posted once"
    [row] = await daemon.fetch("SELECT discord_message_id FROM notification_outbox")
    assert str(row["discord_message_id"]) == fake.dm_messages(ALICE)[0]["id"]


async def test_a_long_rest_outage_delays_notifications_without_losing_them(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [OFFICE_US])
    conflict_id = await raise_conflict(daemon, secret)
    fake.fail_requests("POST /api/v10/", status=503)  # DM channel and message alike
    bot = PlexBot(daemon.services, guild_id=fake.guild_id, notify_interval=0.01)
    async with running_client(bot, fake):
        # Well past the ten tries after which the outbox used to give up for good.
        await fake.wait_until(
            lambda: len(fake.outage_hits) >= 15, timeout=30, what="15 tries during the outage"
        )
        row = await _outbox_when(
            daemon, lambda r: r["transient_failures"] >= 15, "15 postponements"
        )
        assert row["delivered_at"] is None and row["refused_at"] is None
        assert row["attempts"] == 0
        assert row["last_error"].startswith("503")
        fake.end_outage()
        message = await fake.wait_for_message(dm_user_id=ALICE, timeout=10)
        assert _conflict_ids([message]) == [f"conflict {conflict_id}"]
        assert await bot.notifier.deliver_pending() == 0
    assert len(fake.dm_messages(ALICE)) == 1
    [row] = await _outbox(daemon)
    assert row["delivered_at"] is not None and row["attempts"] == 1


async def test_closed_dms_are_a_refusal_shown_in_status_until_the_user_picks_a_channel(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    fake.users[ALICE].accepts_dms = False
    fake.add_text_channel(CONFLICTS_CHANNEL, "plex-conflicts")
    await daemon.import_shows(user.id, [OFFICE_US])
    conflict_id = await raise_conflict(daemon, secret)
    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        await fake.wait_until(
            lambda: any("50007" in r for r in fake.rejections), what="Discord's refusal"
        )
        row = await _outbox_when(daemon, lambda r: r["refused_at"] is not None, "refused")
        for _ in range(3):  # more rounds: a refusal is final, nothing is tried again
            assert await bot.notifier.deliver_pending() == 0
        dm_posts = [r for r in fake.requests if r.startswith("POST") and "/messages" in r]
        assert len(dm_posts) == 1
        assert row["delivered_at"] is None
        assert row["last_error"].startswith("403")

        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        text = followup_text(status)
        assert "1 notification could not be delivered by DM" in text, text
        assert "Cannot send messages to this user" in text and "allow DMs" in text

        # Alice picks a channel: the refused notification gets another try, there.
        changed = await fake.invoke_slash(ALICE, "plex", "settings", {"channel": CONFLICTS_CHANNEL})
        await fake.wait_for_followup(changed)
        message = await fake.wait_for_message(channel_id=CONFLICTS_CHANNEL)
        assert _conflict_ids([message]) == [f"conflict {conflict_id}"]
        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        assert "could not be delivered" not in followup_text(status)
    assert fake.dm_messages(ALICE) == []


async def test_a_deleted_channel_is_a_refusal_and_dms_take_over_when_asked(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    fake.add_text_channel(CONFLICTS_CHANNEL, "plex-conflicts")
    await daemon.services.accounts.update_settings(user.id, notify_channel_id=CONFLICTS_CHANNEL)
    await daemon.import_shows(user.id, [OFFICE_US])
    bot = make_bot(daemon, fake)
    async with running_client(bot, fake):
        await fake.remove_channel(CONFLICTS_CHANNEL)
        conflict_id = await raise_conflict(daemon, secret)
        await fake.wait_until(
            lambda: any("10003" in r for r in fake.rejections), what="Unknown Channel"
        )
        row = await _outbox_when(daemon, lambda r: r["refused_at"] is not None, "refused")
        assert await bot.notifier.deliver_pending() == 0
        assert row["last_error"].startswith("404")
        status = await fake.invoke_slash(ALICE, "plex", "status")
        await fake.wait_for_followup(status)
        assert f"could not be delivered in <#{CONFLICTS_CHANNEL}>" in followup_text(status)

        back = await fake.invoke_slash(ALICE, "plex", "settings", {"dm": True})
        await fake.wait_for_followup(back)
        message = await fake.wait_for_message(dm_user_id=ALICE)
        assert _conflict_ids([message]) == [f"conflict {conflict_id}"]
