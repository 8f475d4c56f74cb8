"""/tv at the edges of what Discord takes, through the fake Discord (which refuses what
Discord refuses: content over 2,000 characters, an embed description over 4,096, an
autocomplete answer with more than 25 choices or a name over 100, an upload without the
Attach Files permission): a user with hundreds of shows and very long titles, a recap
channel where the bot may post but not upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.tracker import notices
from tests.fakediscord import FakeDiscord, running_client
from tests.harness import Daemon
from tests.test_bot import ALICE, CONFLICTS_CHANNEL, alice_connected_without_discord, make_bot
from tests.test_bot_tv import alice_ready, answer, buttons, embed_text, said
from tests.test_tracker import SEVERANCE, TODAY

ATTACH_FILES = 1 << 15
LONG = "The Extraordinarily Long-Winded Chronicles of Absolutely Everything " * 4


def _library(count: int, *, title: str, status: str | None = None) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    return [
        {
            "title": f"{title} {n:03d}",
            "year": 2000 + n % 25,
            "status": status,
            "seasons": [
                {
                    "season_number": season,
                    "episodes": [
                        {
                            "episode_number": e,
                            "title": "An episode title that goes on and on " * 8,
                            "runtime": 40,
                            "air_date": (today - timedelta(days=300 - e)).isoformat(),
                        }
                        for e in range(1, 4)
                    ],
                }
                for season in range(1, 4)
            ],
        }
        for n in range(count)
    ]


async def test_hundreds_of_shows_with_long_titles(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    """Every /tv reply arrives for a user with 300 shows whose titles run to hundreds of
    characters, one with an imported status of thousands (an import takes any text)."""
    fake = fake_discord
    user, _ = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, _library(300, title=LONG))
    await daemon.import_shows(user.id, _library(1, title="Odd status", status="Ongoing " * 700))
    tracker = daemon.services.tracker
    ids = [r["id"] for r in await daemon.fetch("SELECT id FROM tvshows ORDER BY id")]
    for show_id in ids[:30]:
        await tracker.mark(user.id, show_id, season=1, episode=1)
        await tracker.set_show_notify(user.id, show_id, False)
    async with running_client(make_bot(daemon, fake), fake):
        choices = await fake.autocomplete(ALICE, "tv", "show", {"title": "the"}, focused="title")
        assert len(choices) == 25 and all(len(c["name"]) <= 100 for c in choices)
        odd = await fake.invoke_slash(ALICE, "tv", "show", {"title": "Odd status 000"})
        text = said("/tv show (an imported status of 5,600 characters)", await answer(fake, odd))
        assert "🆕 not started · Ongoing Ongoing" in text and "…" in text
        replies = {}
        for sub, options in [
            ("shows", {}),
            ("show", {"title": f"id:{ids[0]}"}),
            ("upnext", {}),
            ("history", {"days": 30}),
            ("notify", {}),
            ("mark", {"show": f"id:{ids[0]}", "season": 2, "scope": "whole season"}),
            ("unmark", {"show": f"id:{ids[0]}"}),
            ("notify one", {"show": f"id:{ids[1]}", "state": "on"}),
        ]:
            record = await fake.invoke_slash(ALICE, "tv", sub.split()[0], options)
            replies[sub] = embed_text(await answer(fake, record))
        assert "Page 1/31 · 301 shows" in replies["shows"]
        assert "✅ Marked **The Extraordinarily" in replies["mark"]
        assert "(3 episodes), as a manual watch. 4/9 watched." in replies["mark"]
        assert "↩️ Unmarked **The Extraordinarily" in replies["unmark"]
        assert "🔔 New-episode notices **on** for **The Extraordinarily" in replies["notify one"]
        assert "Shows without notices: The Extraordinarily" in replies["notify"]
        # Typed, not picked: the candidates are named back, in one message.
        typed = await fake.invoke_slash(ALICE, "tv", "show", {"title": "chronicles"})
        text = said("/tv show title:chronicles (many candidates)", await answer(fake, typed))
        assert "⚠️ “chronicles” could be “The Extraordinarily" in text


async def test_titles_longer_than_a_message(daemon: Daemon, fake_discord: FakeDiscord) -> None:
    """Replies that name a show in their text still arrive when its title alone is longer
    than a Discord message (2,000 characters), and so does an error that names it."""
    fake = fake_discord
    user, _ = await alice_connected_without_discord(daemon, fake)
    huge = "Z" * 2100
    await daemon.import_shows(
        user.id,
        [
            {
                "title": f"{huge} {n}",
                "seasons": [{"season_number": 1, "episodes": [{"episode_number": 1}]}],
            }
            for n in range(3)
        ],
    )
    [first] = [r["id"] for r in await daemon.fetch("SELECT min(id) AS id FROM tvshows")]
    async with running_client(make_bot(daemon, fake), fake):
        for sub, options, expected in [
            ("mark", {"show": f"id:{first}"}, "✅ Marked **ZZZ"),
            ("mark", {"show": f"id:{first}"}, "⚠️ ZZZ"),  # nothing left: an error naming it
            ("unmark", {"show": f"id:{first}"}, "↩️ Unmarked **ZZZ"),
            ("notify", {"show": f"id:{first}", "state": "off"}, "🔔 New-episode notices **off**"),
            ("show", {"title": "ZZZ"}, "⚠️ “ZZZ” could be “ZZZ"),
        ]:
            record = await fake.invoke_slash(ALICE, "tv", sub, options)
            message = await answer(fake, record)
            assert str(message["content"]).startswith(expected), (sub, message["content"][:80])
            assert len(message["content"]) <= 2000


async def test_recap_in_a_channel_without_attach_files(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    """The channel check asks for View Channel, Send Messages and Embed Links, not Attach
    Files; there, Discord refuses the upload (403), but the recap reads without its chart,
    so it is posted without it rather than refused for good."""
    fake = fake_discord
    user, _ = await alice_ready(daemon, fake)
    fake.add_text_channel(CONFLICTS_CHANNEL, "tv")
    await fake.set_overwrite(CONFLICTS_CHANNEL, fake.bot_id, member=True, deny=ATTACH_FILES)
    await daemon.services.accounts.update_settings(user.id, notify_channel_id=CONFLICTS_CHANNEL)
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user.id, SEVERANCE)).detail.show
    await tracker.mark(user.id, show.id, scope="season", season=1)
    week = notices.last_week_start(TODAY)
    await daemon.fetch(
        "UPDATE tvshow_episodes SET date_watched = $2 WHERE tvshow_id = $1 AND watched",
        show.id,
        datetime.combine(week + timedelta(days=1), datetime.min.time(), UTC),
    )
    await tracker.set_notify(user.id, weekly_recap=True, new_episodes=False)
    async with running_client(make_bot(daemon, fake), fake):
        async with daemon.services.pool.acquire() as conn:
            assert (await notices.queue_due(conn, datetime.now(UTC))).recaps == 1
        recap = await fake.wait_for_message(channel_id=CONFLICTS_CHANNEL)
    text = said("weekly recap (no Attach Files)", recap)
    assert "Your week in TV" in text and "Episodes: 9" in text and "Hours: 8.2" in text
    assert recap["attachments"] == [] and "image" not in recap["embeds"][0]
    assert buttons(recap) == []
    [row] = await daemon.fetch("SELECT delivered_at, refused_at FROM notification_outbox")
    assert row["delivered_at"] is not None and row["refused_at"] is None


async def test_upnext_says_how_many_shows_are_in_progress(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    """Twenty shows in progress: the list shows fifteen and says there are twenty, rather
    than stopping at ten without a word; an episode without an air date says so plainly."""
    fake = fake_discord
    user, _ = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(
        user.id,
        [
            {
                "title": f"Show {n:02d}",
                "seasons": [
                    {"season_number": 1, "episodes": [{"episode_number": 1}, {"episode_number": 2}]}
                ],
            }
            for n in range(20)
        ],
    )
    tracker = daemon.services.tracker
    for row in await daemon.fetch("SELECT id FROM tvshows ORDER BY title DESC"):
        await tracker.mark(user.id, row["id"], season=1, episode=1)  # Show 00 last: newest
    async with running_client(make_bot(daemon, fake), fake):
        record = await fake.invoke_slash(ALICE, "tv", "upnext")
        text = said("/tv upnext (20 shows in progress)", await answer(fake, record))
    assert "**Show 00** S01E02\nno air date · 1/2 · last watched" in text
    assert "**Show 14** S01E02" in text and "Show 15" not in text
    assert "[15 of 20 shows in progress · ✨ aired since you last watched" in text
