"""/tv end to end: the real bot (discord.py) against the fake Discord, the real daemon and
worker over loopback HTTP, real PostgreSQL and the TMDB fake. Each reply's text is printed
(`pytest -s` shows what a user would read)."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from app.runtime import open_services
from bot.client import PlexBot
from core.db.users import User
from core.tracker import notices
from tests.fakediscord import FakeDiscord, running_client
from tests.fakediscord.models import EPHEMERAL, InteractionRecord
from tests.harness import Daemon
from tests.plex_payloads import OWNER, SHARED, event, legacy_episode, scrobble
from tests.test_bot import (
    ALICE,
    BOB,
    CONFLICTS_CHANNEL,
    alice_connected_without_discord,
    all_ephemeral,
    conflict_buttons,
    followup_text,
    make_bot,
)
from tests.test_tracker import SEVERANCE, TODAY, add_severance, totals_match_rows
from tests.test_tracker_ratings import rated_show


def embed_text(message: dict[str, Any]) -> str:
    """What a user reads: content, then each embed's title, description, fields, footer."""
    parts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
        footer = (embed.get("footer") or {}).get("text")
        if footer:
            parts.append(f"[{footer}]")
    return "\n".join(p for p in parts if p)


def said(label: str, message: dict[str, Any]) -> str:
    text = embed_text(message)
    print(f"\n----- {label}\n{text}")
    return text


async def answer(fake: FakeDiscord, record: InteractionRecord) -> dict[str, Any]:
    """The bot's (first) answer to a command: the deferred message, filled in."""
    return await fake.wait_for_followup(record)


def buttons(message: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [
        (c["custom_id"], c["label"], bool(c.get("disabled")))
        for row in message.get("components") or []
        for c in row["components"]
    ]


async def alice_ready(daemon: Daemon, fake: FakeDiscord) -> tuple[User, str]:
    add_severance(daemon)
    daemon.tmdb.add_show(
        2316,
        "The Office",
        first_air_date="2005-03-24",
        seasons={1: [{"air_date": "2005-03-24", "runtime": 22}] * 6},
    )
    return await alice_connected_without_discord(daemon, fake)


async def test_tv_refuses_until_connected(daemon: Daemon, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    fake.add_user(BOB, "bob")
    async with running_client(make_bot(daemon, fake), fake):
        commands = [
            ("shows", {}),
            ("show", {"title": "Severance"}),
            ("add", {"title": "Severance"}),
            ("upnext", {}),
            ("mark", {"show": "Severance"}),
            ("unmark", {"show": "Severance"}),
            ("history", {}),
            ("now", {}),
            ("notify", {}),
        ]
        for sub, options in commands:
            record = await fake.invoke_slash(BOB, "tv", sub, options)
            assert record.response_type == 5, sub  # acknowledged at once
            text = said(f"/tv {sub} (not connected)", await answer(fake, record))
            assert "haven't connected Plex yet" in text and "/plex connect" in text, sub
            assert all_ephemeral(record), sub
        assert await fake.autocomplete(BOB, "tv", "show", focused="title") == []
    assert await daemon.fetch("SELECT 1 FROM users") == []  # nothing created for Bob


async def test_add_mark_upnext_history_from_discord(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_ready(daemon, fake)
    async with running_client(make_bot(daemon, fake), fake):
        # /tv add: TMDB suggestions as she types, with the year.
        choices = await fake.autocomplete(ALICE, "tv", "add", {"title": "sever"}, focused="title")
        assert choices == [{"name": "Severance (2022)", "value": f"tmdb:{SEVERANCE}"}]
        assert await fake.autocomplete(ALICE, "tv", "add", {"title": "s"}, focused="title") == []
        added = await fake.invoke_slash(ALICE, "tv", "add", {"title": f"tmdb:{SEVERANCE}"})
        card = await answer(fake, added)
        text = said("/tv add title:Severance", card)
        assert "➕ Added **Severance (2022)** with 19 episodes." in text
        assert "`░░░░░░░░░░░░░░░░` 0/19 episodes watched" in text
        assert "Added from: TMDB (/tv add)" in text and "Plex: not seen from Plex yet" in text
        embed = card["embeds"][0]
        assert embed["thumbnail"]["url"] == f"https://image.tmdb.org/t/p/w342/poster{SEVERANCE}.jpg"
        assert embed["url"] == f"https://www.themoviedb.org/tv/{SEVERANCE}"
        assert all_ephemeral(added)
        [show_id] = [r["id"] for r in await daemon.fetch("SELECT id FROM tvshows")]
        assert [b[0] for b in buttons(card)] == [
            f"tv:next:{user.id}:{show_id}",
            f"tv:refresh:{user.id}:{show_id}",
            f"tv:notify:{user.id}:{show_id}:0",
            f"tv:drop:{user.id}:{show_id}:1",
        ]
        again = await fake.invoke_slash(ALICE, "tv", "add", {"title": f"tmdb:{SEVERANCE}"})
        text = said("/tv add title:Severance (again)", await answer(fake, again))
        assert "**Severance (2022)** is already in your tracker." in text
        # Typed without picking a suggestion: TMDB's answers as buttons.
        typed = await fake.invoke_slash(ALICE, "tv", "add", {"title": "The Office"})
        results = await answer(fake, typed)
        said("/tv add title:The Office (typed)", results)
        assert buttons(results) == [(f"tv:add:{user.id}:2316", "1. The Office (2005)", False)]
        # Each answer with its poster (autocomplete choices can't carry one).
        [heading, office] = results["embeds"]
        assert heading["title"] == "TMDB: “The Office”"
        assert office["title"] == "1. The Office (2005)"
        assert office["url"] == "https://www.themoviedb.org/tv/2316"
        assert office["thumbnail"]["url"] == "https://image.tmdb.org/t/p/w342/poster2316.jpg"
        await fake.click(results, f"tv:add:{user.id}:2316", ALICE)
        await fake.wait_until(
            lambda: "Added **The Office (2005)**" in str(results.get("content")),
            what="the results replaced by the added show",
        )
        said("after the TMDB result button", results)
        assert [e["title"] for e in results["embeds"]] == ["The Office (2005)"]

        # /tv mark: the whole first season, then "the next one" by typed title.
        choices = await fake.autocomplete(ALICE, "tv", "mark", {"show": "sev"}, focused="show")
        assert choices == [{"name": "Severance (2022) · 0/19", "value": f"id:{show_id}"}]
        season = await fake.invoke_slash(
            ALICE,
            "tv",
            "mark",
            {"show": f"id:{show_id}", "season": 1, "scope": "whole season"},
        )
        text = said(
            "/tv mark show:Severance season:1 scope:whole season", await answer(fake, season)
        )
        assert (
            "✅ Marked **Severance** season 1 watched (9 episodes), as a manual watch. 9/19" in text
        )
        nxt = await fake.invoke_slash(ALICE, "tv", "mark", {"show": "severance"})
        text = said("/tv mark show:severance", await answer(fake, nxt))
        assert "Marked **Severance** S02E01 watched, as a manual watch. 10/19 watched." in text
        # A watch from Plex, through the real webhook path.
        meta = legacy_episode("themoviedb", str(SEVERANCE), 2, 2, show="Severance", show_key="51")
        row = await daemon.settled((await daemon.post(scrobble(meta), secret)).json()["id"])
        assert row["action_taken"] == "marked_watched"

        upnext = await fake.invoke_slash(ALICE, "tv", "upnext")
        listing = await answer(fake, upnext)
        text = said("/tv upnext", listing)
        assert "**Severance** S02E03 “S2 episode 3”" in text and "11/19" in text
        assert buttons(listing) == [
            (f"tv:watch:{user.id}:{show_id}:2:3:u", "✓ Severance S02E03", False)
        ]
        await fake.click(listing, f"tv:watch:{user.id}:{show_id}:2:3:u", ALICE)
        await fake.wait_until(
            lambda: "S02E03 watched" in str(listing.get("content")), what="up next redrawn"
        )
        text = said("after ✓ Severance S02E03", listing)
        assert "**Severance** S02E04" in text

        history = await fake.invoke_slash(ALICE, "tv", "history", {"days": 3})
        text = said("/tv history days:3", await answer(fake, history))
        assert "Watched in the last 3 days (12 episodes)" in text
        assert re.search(r"\*\*Severance\*\* S02E02 “S2 episode 2” · Plex\n", text), text
        assert "**Severance** S02E03 “S2 episode 3” · manual" in text

        # Unmark "up to here" and a bad episode: a clear error, nothing changed.
        undo = await fake.invoke_slash(
            ALICE,
            "tv",
            "unmark",
            {"show": f"id:{show_id}", "season": 2, "episode": 3, "scope": "up to here"},
        )
        text = said(
            "/tv unmark show:Severance season:2 episode:3 scope:up to here",
            await answer(fake, undo),
        )
        assert (
            "↩️ Unmarked **Severance** everything up to S02E03 unwatched (12 episodes). 0/19" in text
        )
        bad = await fake.invoke_slash(
            ALICE, "tv", "mark", {"show": f"id:{show_id}", "season": 2, "episode": 40}
        )
        text = said("/tv mark show:Severance season:2 episode:40", await answer(fake, bad))
        assert "⚠️ Severance has no S02E40 in the tracker" in text and all_ephemeral(bad)
        unknown = await fake.invoke_slash(ALICE, "tv", "show", {"title": "Succession"})
        text = said("/tv show title:Succession", await answer(fake, unknown))
        assert "⚠️ No show called “Succession” in your tracker." in text
    await totals_match_rows(daemon, show_id)


async def test_shows_paging_survives_a_restart_and_stays_with_its_owner(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, _ = await alice_connected_without_discord(daemon, fake)
    fake.add_user(BOB, "bob")
    await daemon.import_shows(
        user.id,
        [
            {
                "title": f"Show {n:02d}",
                "year": 2000 + n,
                "seasons": [{"season_number": 1, "episodes": [{"episode_number": 1}]}],
            }
            for n in range(1, 24)
        ],
    )
    async with running_client(make_bot(daemon, fake), fake):
        listed = await fake.invoke_slash(
            ALICE, "tv", "shows", {"filter": "not started", "sort": "title", "share": True}
        )
        page = await answer(fake, listed)
        text = said("/tv shows filter:not started sort:title share:True", page)
        assert not int(page["flags"]) & EPHEMERAL, "share: True posts for everyone"
        assert (
            "Your shows · not started" in text and "Page 1/3 · 23 shows · sorted by title" in text
        )
        assert "🆕 **Show 01 (2001)**" in text and "Show 11" not in text
        assert buttons(page) == [
            (f"tv:shows:{user.id}:n:t:0:p", "◀ Previous", True),
            (f"tv:shows:{user.id}:n:t:1:n", "Next ▶", False),
        ]
    # A new process: the buttons still work, for Alice only.
    async with running_client(make_bot(daemon, fake), fake):
        refused = await fake.click(page, f"tv:shows:{user.id}:n:t:1:n", BOB)
        assert "isn't yours" in followup_text(await _followed(fake, refused)) and all_ephemeral(
            refused
        )
        assert "Page 1/3" in embed_text(page)
        await fake.click(page, f"tv:shows:{user.id}:n:t:1:n", ALICE)
        await fake.wait_until(lambda: "Page 2/3" in embed_text(page), what="page 2")
        text = said("Next ▶", page)
        assert "Show 11 (2011)" in text and "Show 01" not in text
        await fake.click(page, f"tv:shows:{user.id}:n:t:2:n", ALICE)
        await fake.wait_until(lambda: "Page 3/3" in embed_text(page), what="page 3")
        assert buttons(page)[1] == (f"tv:shows:{user.id}:n:t:3:n", "Next ▶", True)
        # The list shrank since (shows removed elsewhere): the last page that exists.
        await daemon.fetch("DELETE FROM tvshows WHERE title > 'Show 05'")
        await fake.click(page, f"tv:shows:{user.id}:n:t:1:p", ALICE)
        await fake.wait_until(lambda: "Page 1/1" in embed_text(page), what="clamped page")
    assert all(r.responded for r in fake.interactions.values())


async def _followed(fake: FakeDiscord, record: InteractionRecord) -> InteractionRecord:
    await fake.wait_for_followup(record)
    return record


async def test_show_card_buttons(daemon: Daemon, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    user, secret = await alice_ready(daemon, fake)
    fake.add_user(BOB, "bob")
    show = (await daemon.services.tracker.add_show(user.id, SEVERANCE)).detail.show
    await daemon.services.tracker.mark(user.id, show.id, scope="season", season=1)
    # Plex knows it (a mapping), and Alice rated it there.
    meta = legacy_episode("themoviedb", str(SEVERANCE), 1, 1, show="Severance", show_key="51")
    await daemon.settled((await daemon.post(scrobble(meta), secret)).json()["id"])
    rated = await daemon.post(rated_show(9.0), secret)  # a Plex media.rate of the show
    assert (await daemon.log_row(rated.json()["id"]))["action_taken"] == "rating_saved"
    async with running_client(make_bot(daemon, fake), fake):
        choices = await fake.autocomplete(ALICE, "tv", "show", {"title": "SEV"}, focused="title")
        assert choices == [{"name": "Severance (2022) · 9/19", "value": f"id:{show.id}"}]
        shown = await fake.invoke_slash(ALICE, "tv", "show", {"title": choices[0]["value"]})
        card = await answer(fake, shown)
        text = said("/tv show title:Severance", card)
        assert "`████████░░░░░░░░` 9/19 episodes watched · 8 h 15 min" in text
        assert "▶️ watching · Returning Series" in text
        assert "Seasons: Specials 0/1\nS1 ✅ 9/9\nS2 0/10 (4 aired)" in text
        assert "Next up: **S02E01 “S2 episode 1”**\naired " in text
        assert "next to air: S02E05 on " in text
        assert "Your rating: ★ 9/10" in text
        assert "Plex: “Severance” · TMDB id 100%" in text
        assert "New-episode notices: on" in text
        mark_next = f"tv:next:{user.id}:{show.id}"
        assert buttons(card)[0] == (mark_next, "Mark S02E01 watched", False)

        refused = await fake.click(card, mark_next, BOB)
        assert "isn't yours" in followup_text(await _followed(fake, refused))
        await fake.click(card, mark_next, ALICE)
        await fake.wait_until(lambda: "S02E01 watched" in str(card["content"]), what="marked")
        text = said("Mark S02E01 watched", card)
        assert "10/19" in text and buttons(card)[0][1] == "Mark S02E02 watched"

        # TMDB lists a new episode: the refresh button fetches it (not TMDB's cached copy).
        daemon.tmdb.shows[SEVERANCE].seasons[2].append(
            {**daemon.tmdb.shows[SEVERANCE].seasons[2][-1], "episode_number": 11}
        )
        await fake.click(card, f"tv:refresh:{user.id}:{show.id}", ALICE)
        await fake.wait_until(lambda: "Refreshed" in str(card["content"]), what="refreshed")
        text = said("Refresh from TMDB", card)
        assert "🔄 Refreshed from TMDB: 1 new episode." in text and "10/20" in text

        await fake.click(card, f"tv:notify:{user.id}:{show.id}:0", ALICE)
        await fake.wait_until(lambda: "notices off" in str(card["content"]), what="muted")
        assert "New-episode notices: off" in embed_text(card)
        assert buttons(card)[2] == (f"tv:notify:{user.id}:{show.id}:1", "Notices on", False)
        await fake.click(card, f"tv:drop:{user.id}:{show.id}:1", ALICE)
        await fake.wait_until(lambda: "Abandoned" in str(card["content"]), what="abandoned")
        text = said("Abandon", card)
        assert "💤 abandoned" in text and buttons(card)[3][1] == "Resume"
    [row] = await daemon.fetch("SELECT notify, abandoned_at FROM tvshows WHERE id = $1", show.id)
    assert row["notify"] is False and row["abandoned_at"] is not None


async def test_now_watching(daemon: Daemon, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    _, secret = await alice_connected_without_discord(daemon, fake)
    meta = legacy_episode("thetvdb", "371980", 2, 3, show="Severance", show_key="51")
    meta.update(duration=3_000_000, viewOffset=1_200_000, title="Who Is Alive?")
    async with running_client(make_bot(daemon, fake), fake):
        nobody = await fake.invoke_slash(ALICE, "tv", "now")
        text = said("/tv now (nothing playing)", await answer(fake, nobody))
        assert "Nobody you follow is watching anything on Plex right now." in text
        await daemon.post(event("media.play", meta, account=OWNER), secret)
        await daemon.post(event("media.play", meta, account=SHARED), secret)
        playing = await fake.invoke_slash(ALICE, "tv", "now", {"share": True})
        text = said("/tv now share:True", await answer(fake, playing))
        assert re.search(
            r"▶️ \*\*alice\*\* · Severance S02E03 “Who Is Alive\?” — 2\d of 50 min · "
            r"Plex Web \(Chrome\)",
            text,
        ), text
        assert "bob" not in text  # not an account Alice follows
        assert not all_ephemeral(playing)


async def test_notify_settings(daemon: Daemon, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    user, _ = await alice_ready(daemon, fake)
    show = (await daemon.services.tracker.add_show(user.id, SEVERANCE)).detail.show
    async with running_client(make_bot(daemon, fake), fake):
        current = await fake.invoke_slash(ALICE, "tv", "notify")
        text = said("/tv notify", await answer(fake, current))
        assert "New episodes: on: one message per show per day, to your DMs" in text
        assert "Weekly recap: off" in text
        both = await fake.invoke_slash(ALICE, "tv", "notify", {"state": "off", "recap": "on"})
        text = said("/tv notify state:off recap:on", await answer(fake, both))
        assert "Notifications saved" in text and "New episodes: off" in text
        assert "Weekly recap: on: after each week (Mondays, UTC), to your DMs" in text
        one = await fake.invoke_slash(
            ALICE, "tv", "notify", {"show": f"id:{show.id}", "state": "off"}
        )
        text = said("/tv notify show:Severance state:off", await answer(fake, one))
        assert "🔔 New-episode notices **off** for **Severance**." in text
        again = await fake.invoke_slash(ALICE, "tv", "notify", {"state": "on"})
        text = said("/tv notify state:on", await answer(fake, again))
        assert "Shows without notices: Severance" in text
        half = await fake.invoke_slash(ALICE, "tv", "notify", {"show": f"id:{show.id}"})
        assert "Say `state: on` or `state: off`" in followup_text(await _followed(fake, half))


async def test_new_episode_notice_posted_once_by_two_bots(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, _ = await alice_ready(daemon, fake)
    fake.add_text_channel(CONFLICTS_CHANNEL, "tv")
    await daemon.services.accounts.update_settings(user.id, notify_channel_id=CONFLICTS_CHANNEL)
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user.id, SEVERANCE)).detail.show
    await tracker.mark(user.id, show.id, scope="up_to", season=2, episode=3)
    # The refresh job finds S02E04 (aired yesterday) in two processes at once.
    async with open_services(daemon.services.settings) as other:
        now = datetime.now(UTC)

        async def queue(services: Any) -> int:
            async with services.pool.acquire() as conn:
                return (await notices.queue_due(conn, now)).new_episodes

        assert sorted(await asyncio.gather(queue(daemon.services), queue(other))) == [0, 1]
        # Two bots (one per process), both delivering the outbox.
        first = make_bot(daemon, fake)
        second = PlexBot(other, guild_id=fake.guild_id, notify_interval=0.05)
        async with running_client(first, fake), running_client(second, fake):
            message = await fake.wait_for_message(channel_id=CONFLICTS_CHANNEL)
            results = await asyncio.gather(
                first.notifier.deliver_pending(), second.notifier.deliver_pending()
            )
            assert results == [0, 0]
            await asyncio.sleep(0.3)  # a few more rounds of both notifiers
        assert len(fake.channel_messages(CONFLICTS_CHANNEL)) == 1
        assert first.notifier.delivered + second.notifier.delivered == 1
    text = said("new-episode notice", message)
    assert message["content"] == f"<@{ALICE}>"
    assert f"Severance S02E04 aired {(TODAY - timedelta(days=1)).isoformat()}" in text or (
        "Severance S02E04 aired yesterday" in text
    )
    assert "S02E04 “S2 episode 4” · 50 min" in text
    button = f"tv:watch:{user.id}:{show.id}:2:4:n"
    assert conflict_buttons(message) == [button]
    # Its button works from a fresh process.
    async with running_client(make_bot(daemon, fake), fake):
        await fake.click(message, button, ALICE)
        await fake.wait_until(lambda: message["components"] == [], what="the notice updated")
        text = said("Mark S02E04 watched (from the notice)", message)
        assert "Marked **Severance** S02E04 watched" in text
    [outbox] = await daemon.fetch("SELECT kind, attempts, delivered_at FROM notification_outbox")
    assert (outbox["kind"], outbox["attempts"]) == ("new_episode", 1)


def _png(fake: FakeDiscord, message: dict[str, Any]) -> bytes:
    [attachment] = message["attachments"]
    assert attachment["filename"] == "activity.png"
    data = fake.files[int(attachment["id"])].data
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and attachment["size"] == len(data)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == (800, 360)
    return data


async def test_status_and_weekly_recap_attach_the_chart(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, _ = await alice_ready(daemon, fake)
    tracker = daemon.services.tracker
    show = (await tracker.add_show(user.id, SEVERANCE)).detail.show
    office = (await tracker.add_show(user.id, 2316)).detail.show
    await tracker.mark(user.id, show.id, scope="season", season=1)
    await tracker.mark(user.id, office.id, scope="season", season=1)
    week = notices.last_week_start(TODAY)
    await daemon.fetch(
        "UPDATE tvshow_episodes SET date_watched = $2 WHERE tvshow_id = $1 AND watched",
        office.id,
        datetime.combine(week + timedelta(days=2), datetime.min.time(), UTC),
    )
    await tracker.set_notify(user.id, weekly_recap=True)
    async with running_client(make_bot(daemon, fake), fake):
        status = await fake.invoke_slash(ALICE, "plex", "status")
        message = await answer(fake, status)
        text = said("/plex status", message)
        png = _png(fake, message)
        print(f"chart: {len(png)} bytes")
        assert message["embeds"][0]["image"]["url"] == "attachment://activity.png"
        assert "Watched, last 30 days: 15 episodes · 10.4 h · 2 shows" in text
        assert "top: Severance 9, The Office 6" in text

        async with daemon.services.pool.acquire() as conn:
            queued = await notices.queue_due(conn, datetime.now(UTC))
        assert (queued.recaps, queued.new_episodes) == (1, 1)  # S02E04 aired yesterday
        recap = await fake.wait_for_message(
            dm_user_id=ALICE, predicate=lambda m: bool(m.get("attachments"))
        )
        text = said("weekly recap", recap)
        assert f"Your week in TV: {week:%b} {week.day} – " in text
        assert "Episodes: 6" in text and "Hours: 2.2" in text and "Finished: The Office" in text
        assert "Streak: 1 day in a row (longest this week: 1)" in text
        assert recap["embeds"][0]["image"]["url"] == "attachment://activity.png"
        _png(fake, recap)


async def test_tv_refusal_for_another_users_show_id(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    """A show id from someone else's message (or made up) is unknown, not theirs to change."""
    fake = fake_discord
    user, _ = await alice_ready(daemon, fake)
    show = (await daemon.services.tracker.add_show(user.id, SEVERANCE)).detail.show
    fake.add_user(BOB, "bob")
    await daemon.services.accounts.user_for_discord(BOB, "bob")
    async with running_client(make_bot(daemon, fake), fake):
        sneaky = await fake.invoke_slash(BOB, "tv", "mark", {"show": f"id:{show.id}"})
        text = said("/tv mark (another user's show id)", await answer(fake, sneaky))
        assert "isn't in your tracker" in text
        assert await fake.autocomplete(BOB, "tv", "show", {"title": "sev"}, focused="title") == []
    assert (await daemon.fetch("SELECT watched_episodes FROM tvshows"))[0][0] == 0
