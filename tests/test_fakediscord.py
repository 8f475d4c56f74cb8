"""The fake Discord drives the real discord.py client end to end."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.fakediscord import FakeDiscord, running_client
from tests.fakediscord.models import EPHEMERAL, LOADING

ALICE = 111_111_111_111_111_111
BOB = 222_222_222_222_222_222


class CounterButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"counter:incr:(?P<count>[0-9]+)",
):
    def __init__(self, count: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"+1 ({count})",
                style=discord.ButtonStyle.primary,
                custom_id=f"counter:incr:{count}",
            )
        )
        self.count = count

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CounterButton:
        return cls(int(match["count"]))

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        count = self.count + 1
        await interaction.response.edit_message(content=f"count: {count}", view=counter_view(count))


def counter_view(count: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CounterButton(count))
    return view


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text", max_length=200
    )

    def __init__(self) -> None:
        super().__init__(custom_id="feedback:modal")

    async def on_submit(self, interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class DemoBot(discord.Client):
    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(guild_id)
        plex = app_commands.Group(name="plex", description="Plex tracker")

        @plex.command(name="ping", description="Is the bot alive?")
        async def ping(interaction: discord.Interaction[discord.Client]) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        @plex.command(name="counter", description="A persistent button")
        async def counter(interaction: discord.Interaction[discord.Client]) -> None:
            await interaction.response.send_message("count: 0", view=counter_view(0))

        @plex.command(name="feedback", description="Opens a modal")
        async def feedback(interaction: discord.Interaction[discord.Client]) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @plex.command(name="slow", description="Deferred answer")
        @app_commands.describe(times="how many")
        async def slow(interaction: discord.Interaction[discord.Client], times: int) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send(f"done x{times}")
            await interaction.followup.send("and one more")

        @plex.command(name="dm", description="DMs the invoker")
        async def dm(interaction: discord.Interaction[discord.Client]) -> None:
            await interaction.user.send("hello in private")
            await interaction.response.send_message("sent", ephemeral=True)

        self.tree.add_command(plex, guild=self.guild)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CounterButton)
        await self.tree.sync(guild=self.guild)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.add_user(ALICE, "alice")
        fake.add_user(BOB, "bob", in_guild=False)
        yield fake
        fake.assert_clean()


async def test_full_round_trip(fake: FakeDiscord) -> None:
    async with running_client(DemoBot(fake.guild_id), fake) as client:
        guild = client.get_guild(fake.guild_id)
        assert guild is not None and not guild.unavailable
        assert guild.get_channel(fake.channel_id) is not None
        assert client.user is not None and client.user.id == fake.bot_id
        assert client.application_id == fake.application_id

        assert fake.command_syncs == [fake.guild_id]
        plex = fake.find_command("plex")
        assert {o["name"] for o in plex["options"]} == {"ping", "counter", "feedback", "slow", "dm"}

        ping = await fake.invoke_slash(ALICE, "plex", "ping")
        assert ping.response_type == 4 and ping.content == "pong" and ping.ephemeral
        assert ping.original is not None and ping.original["flags"] & EPHEMERAL

        counter = await fake.invoke_slash(ALICE, "plex", "counter")
        message = counter.original
        assert message is not None and message["content"] == "count: 0"
        assert message["components"][0]["components"][0]["custom_id"] == "counter:incr:0"
        assert message in fake.channel_messages(fake.channel_id)

        click = await fake.click(message, "counter:incr:0", ALICE)
        assert click.response_type == 7
        assert message["content"] == "count: 1" and message["edited_timestamp"] is not None
        assert message["components"][0]["components"][0]["custom_id"] == "counter:incr:1"

        opened = await fake.invoke_slash(ALICE, "plex", "feedback")
        assert opened.response_type == 9
        assert opened.response_data is not None
        assert opened.response_data["custom_id"] == "feedback:modal"
        submitted = await fake.submit_modal(
            "feedback:modal", {"feedback:text": "great"}, ALICE, in_reply_to=opened
        )
        assert submitted.content == "thanks: great" and submitted.ephemeral

        slow = await fake.invoke_slash(ALICE, "plex", "slow", {"times": 3})
        assert slow.response_type == 5
        second = await fake.wait_for_followup(slow, lambda m: m["content"] == "and one more")
        first = slow.followups[0]
        # The first follow-up after a "thinking" defer becomes the original response.
        assert slow.original is first and first["content"] == "done x3"
        assert first["flags"] & EPHEMERAL and not first["flags"] & LOADING
        assert second is not first

        dm = await fake.invoke_slash(ALICE, "plex", "dm")
        assert dm.content == "sent"
        private = await fake.wait_for_message(dm_user_id=ALICE)
        assert private["content"] == "hello in private"

    # A new process: the button still works through the DynamicItem template.
    async with running_client(DemoBot(fake.guild_id), fake):
        again = await fake.click(message, "counter:incr:1", ALICE)
        assert again.response_type == 7 and message["content"] == "count: 2"
        assert fake.command_syncs == [fake.guild_id, fake.guild_id]
        assert fake.find_command("plex")["id"] == plex["id"]

    assert fake.unknown_routes == []


async def test_errors_in_callbacks_fail_fast(fake: FakeDiscord) -> None:
    bot = DemoBot(fake.guild_id)
    group = bot.tree.get_command("plex", guild=bot.guild)
    assert isinstance(group, app_commands.Group)

    @group.command(name="boom", description="raises")
    async def boom(interaction: discord.Interaction[discord.Client]) -> None:
        raise RuntimeError("kaboom")

    with pytest.raises(AssertionError, match="kaboom"):
        async with running_client(bot, fake):
            await fake.invoke_slash(ALICE, "plex", "boom", timeout=2.0)


async def test_unknown_routes_are_loud_and_json_is_exact(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{fake.api_base}/guilds/{fake.guild_id}/bans"
        async with session.get(url, headers={"Authorization": "Bot x"}) as response:
            assert response.status == 404
            assert response.headers["Content-Type"] == "application/json"
            body: dict[str, Any] = await response.json()
    assert "GET /api/v10/guilds" in body["message"] and body["code"] == 0
    assert fake.unknown_routes == [f"GET /api/v10/guilds/{fake.guild_id}/bans"]
    fake.unknown_routes.clear()


async def test_discord_limits_are_enforced(fake: FakeDiscord) -> None:
    bot = DemoBot(fake.guild_id)
    group = bot.tree.get_command("plex", guild=bot.guild)
    assert isinstance(group, app_commands.Group)
    outcome: list[str] = []

    @group.command(name="long", description="custom_id too long")
    async def long(interaction: discord.Interaction[discord.Client]) -> None:
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="x", custom_id="x" * 101))
        try:
            await interaction.response.send_message("hi", view=view)
        except discord.HTTPException as exc:
            outcome.append(f"{exc.status} {exc.code}")
            await interaction.response.send_message("fallback", ephemeral=True)

    async with running_client(bot, fake):
        record = await fake.invoke_slash(ALICE, "plex", "long")
        assert record.content == "fallback"
    assert outcome == ["400 50035"]
    assert len(fake.rejections) == 1
    fake.rejections.clear()


async def test_bad_token_fails_login() -> None:
    async with FakeDiscord(token="right") as fake:
        with pytest.raises(discord.LoginFailure):
            async with running_client(DemoBot(fake.guild_id), fake, token="wrong"):
                pass


class RateModal(discord.ui.Modal, title="Rate"):
    """The newer modal layout: fields wrapped in Label components (type 18)."""

    def __init__(self) -> None:
        super().__init__(custom_id="rate:modal")
        self.score: discord.ui.Select[RateModal] = discord.ui.Select(
            custom_id="rate:score",
            options=[discord.SelectOption(label=str(n), value=str(n)) for n in range(1, 6)],
        )
        self.note: discord.ui.TextInput[RateModal] = discord.ui.TextInput(
            custom_id="rate:note", required=False
        )
        self.add_item(discord.ui.Label(text="Score", component=self.score))
        self.add_item(discord.ui.Label(text="Note", component=self.note))

    async def on_submit(self, interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_message(
            f"rated {self.score.values[0]} ({self.note.value or '-'})"
        )


class PickView(discord.ui.View):
    @discord.ui.select(
        custom_id="pick:menu",
        options=[
            discord.SelectOption(label="A", value="a"),
            discord.SelectOption(label="B", value="b"),
        ],
    )
    async def pick(
        self, interaction: discord.Interaction[discord.Client], select: discord.ui.Select[PickView]
    ) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"picked {select.values[0]}", view=None)


def add_extra_commands(bot: DemoBot) -> None:
    group = bot.tree.get_command("plex", guild=bot.guild)
    assert isinstance(group, app_commands.Group)

    @group.command(name="pick", description="select menu")
    async def pick(interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_message("pick one", view=PickView())

    @group.command(name="whois", description="user option + autocomplete")
    async def whois(
        interaction: discord.Interaction[discord.Client], member: discord.Member, show: str
    ) -> None:
        await interaction.response.send_message(f"{member.name} watches {show}", ephemeral=True)

    @whois.autocomplete("show")
    async def show_autocomplete(
        interaction: discord.Interaction[discord.Client], current: str
    ) -> list[app_commands.Choice[str]]:
        titles = ["Severance", "Slow Horses", "Shogun"]
        return [app_commands.Choice(name=t, value=t) for t in titles if t.startswith(current)]

    @group.command(name="upload", description="files, channel sends and edits")
    async def upload(interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_message(
            "report", file=discord.File(io.BytesIO(b"hello"), filename="report.txt")
        )
        assert isinstance(interaction.channel, discord.TextChannel)
        posted = await interaction.channel.send("working...")
        await posted.edit(content="finished")

    @group.command(name="rate", description="label modal")
    async def rate(interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.response.send_modal(RateModal())

    @group.command(name="dmcounter", description="a persistent button in a DM")
    async def dmcounter(interaction: discord.Interaction[discord.Client]) -> None:
        await interaction.user.send("count: 0", view=counter_view(0))
        await interaction.response.send_message("check your DMs", ephemeral=True)


async def test_more_of_the_surface(fake: FakeDiscord) -> None:
    bot = DemoBot(fake.guild_id)
    add_extra_commands(bot)
    async with running_client(bot, fake):
        pick = await fake.invoke_slash(ALICE, "plex", "pick")
        menu_message = pick.original
        assert menu_message is not None
        chosen = await fake.select(menu_message, "pick:menu", ["b"], ALICE)
        assert chosen.response_type == 6
        await fake.wait_until(
            lambda: menu_message["content"] == "picked b", what="the menu message edited"
        )
        assert menu_message["components"] == []

        choices = await fake.autocomplete(ALICE, "plex", "whois", {"show": "S"}, focused="show")
        assert [c["value"] for c in choices] == ["Severance", "Slow Horses", "Shogun"]
        whois = await fake.invoke_slash(
            ALICE, "plex", "whois", {"member": ALICE, "show": "Severance"}
        )
        assert whois.content == "alice watches Severance"

        upload = await fake.invoke_slash(ALICE, "plex", "upload")
        assert upload.original is not None
        [attachment] = upload.original["attachments"]
        assert attachment["filename"] == "report.txt"
        assert fake.files[int(attachment["id"])].data == b"hello"
        finished = await fake.wait_for_message(
            channel_id=fake.channel_id, predicate=lambda m: m["content"] == "finished"
        )
        assert finished["edited_timestamp"] is not None

        opened = await fake.invoke_slash(ALICE, "plex", "rate")
        rated = await fake.submit_modal("rate:modal", {"rate:score": ["4"]}, ALICE)
        assert opened.response_type == 9 and rated.content == "rated 4 (-)"

        await fake.invoke_slash(ALICE, "plex", "dmcounter")
        dm_message = await fake.wait_for_message(dm_user_id=ALICE)
        clicked = await fake.click(dm_message, "counter:incr:0", ALICE)
        assert clicked.payload["context"] == 1 and "user" in clicked.payload
        assert dm_message["content"] == "count: 1"

        with pytest.raises(ValueError, match="not a member"):
            await fake.invoke_slash(BOB, "plex", "ping")
        with pytest.raises(LookupError, match="no subcommand"):
            await fake.invoke_slash(ALICE, "plex", "nope")


async def test_channel_permissions_follow_discords_overwrite_order(
    fake_discord: FakeDiscord,
) -> None:
    """@everyone overwrite, then role overwrites together, then the member's own: each later
    step wins (https://discord.com/developers/docs/topics/permissions)."""
    fake = fake_discord
    view, send = discord.Permissions(view_channel=True).value, 1 << 11
    fake.add_role(940_000_000_000_000_001, "mods")
    fake.add_role(940_000_000_000_000_002, "muted")
    alice = fake.add_user(ALICE, "alice", roles=[940_000_000_000_000_001, 940_000_000_000_000_002])
    bob = fake.add_user(BOB, "bob")
    channel = fake.add_text_channel(920_000_000_000_000_201, "mods-only")
    await fake.set_overwrite(channel.id, fake.guild_id, deny=view | send)
    await fake.set_overwrite(channel.id, 940_000_000_000_000_001, allow=view | send)
    await fake.set_overwrite(channel.id, 940_000_000_000_000_002, deny=send)
    assert not fake.channel_permissions(channel, bob) & view
    # Role overwrites are combined: deny from one, allow from another -> the allow wins.
    assert fake.channel_permissions(channel, alice) & (view | send) == view | send
    await fake.set_overwrite(channel.id, ALICE, member=True, deny=send)
    assert fake.channel_permissions(channel, alice) & (view | send) == view
    owner = fake.users[fake.owner_id]
    assert fake.channel_permissions(channel, owner) == discord.Permissions.all().value
    payload = fake.channel_payload(channel)
    assert {"id": str(ALICE), "type": 1, "allow": "0", "deny": str(send)} in payload[
        "permission_overwrites"
    ]
