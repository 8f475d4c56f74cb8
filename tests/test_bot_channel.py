"""`/plex settings channel:` checks the channel before saving it (issue 10 #21): the bot must
be able to post there and the member to read it. Permissions come from roles and channel
overwrites in the fake Discord, computed the way Discord does, and the fake refuses posts
the bot has no permission for, as Discord would."""

from __future__ import annotations

import discord

from tests.fakediscord import FakeDiscord, running_client
from tests.harness import Daemon
from tests.test_bot import (
    ALICE,
    OFFICE_US,
    alice_connected_without_discord,
    followup_text,
    make_bot,
    raise_conflict,
)

NO_BOT_POSTS = 920_000_000_000_000_101
BOT_ONLY = 920_000_000_000_000_102
NO_EMBEDS = 920_000_000_000_000_103
MODS_ONLY = 920_000_000_000_000_104
FINE = 920_000_000_000_000_105
MOD_ROLE = 940_000_000_000_000_001

VIEW = discord.Permissions(view_channel=True).value
SEND = discord.Permissions(send_messages=True).value
EMBED = discord.Permissions(embed_links=True).value
HISTORY = discord.Permissions(read_message_history=True).value


async def _notify_channel(daemon: Daemon, user_id: int) -> int | None:
    [row] = await daemon.fetch(
        "SELECT notify_channel_id FROM plex_config WHERE user_id = $1", user_id
    )
    value: int | None = row["notify_channel_id"]
    return value


async def test_a_channel_the_bot_cannot_post_in_or_the_member_cannot_read_is_refused(
    daemon: Daemon, fake_discord: FakeDiscord
) -> None:
    fake = fake_discord
    user, secret = await alice_connected_without_discord(daemon, fake)
    await daemon.import_shows(user.id, [OFFICE_US])
    fake.add_role(MOD_ROLE, "mods")
    for channel_id, name in [
        (NO_BOT_POSTS, "announcements"),
        (BOT_ONLY, "bot-log"),
        (NO_EMBEDS, "no-embeds"),
        (MODS_ONLY, "mods"),
        (FINE, "plex"),
    ]:
        fake.add_text_channel(channel_id, name)
    # Known when the bot connects (GUILD_CREATE)...
    await fake.set_overwrite(NO_BOT_POSTS, fake.bot_id, member=True, deny=SEND)
    await fake.set_overwrite(BOT_ONLY, fake.guild_id, deny=VIEW)
    await fake.set_overwrite(BOT_ONLY, fake.bot_id, member=True, allow=VIEW | SEND)
    async with running_client(make_bot(daemon, fake), fake):
        # ...or changed while it runs (CHANNEL_UPDATE).
        await fake.set_overwrite(NO_EMBEDS, fake.guild_id, deny=EMBED)
        await fake.set_overwrite(MODS_ONLY, fake.guild_id, deny=VIEW)
        await fake.set_overwrite(MODS_ONLY, MOD_ROLE, allow=VIEW)
        await fake.set_overwrite(MODS_ONLY, fake.bot_id, member=True, allow=VIEW)

        refusals = {
            NO_BOT_POSTS: "I can't post conflicts in <#%d>: I'm missing Send Messages",
            BOT_ONLY: "You can't read <#%d> (View Channel, Read Message History)",
            NO_EMBEDS: "I can't post conflicts in <#%d>: I'm missing Embed Links",
            MODS_ONLY: "You can't read <#%d>",
        }
        for channel_id, expected in refusals.items():
            answer = await fake.invoke_slash(ALICE, "plex", "settings", {"channel": channel_id})
            await fake.wait_for_followup(answer)
            text = followup_text(answer)
            assert expected % channel_id in text, text
            assert "Settings saved" not in text
            assert await _notify_channel(daemon, user.id) is None

        saved = await fake.invoke_slash(ALICE, "plex", "settings", {"channel": FINE})
        await fake.wait_for_followup(saved)
        assert f"Conflicts go to: <#{FINE}>" in followup_text(saved)
        assert await _notify_channel(daemon, user.id) == FINE
        await raise_conflict(daemon, secret)
        message = await fake.wait_for_message(channel_id=FINE)
        assert message["content"] == f"<@{ALICE}>"

        # A moderator may pick the moderators' channel: it is their roles that count.
        fake.users[ALICE].role_ids.append(MOD_ROLE)
        mods = await fake.invoke_slash(ALICE, "plex", "settings", {"channel": MODS_ONLY})
        await fake.wait_for_followup(mods)
        assert f"Conflicts go to: <#{MODS_ONLY}>" in followup_text(mods)
    assert fake.rejections == [], "nothing was ever posted where the bot may not post"
