"""A local fake of Discord's REST API (api/v10) and gateway, driving the real discord.py client.

    async with FakeDiscord() as fake:
        fake.add_user(ALICE, "alice")
        async with running_client(make_bot(), fake):       # login, READY, guild cached
            ping = await fake.invoke_slash(ALICE, "plex", "ping")
            assert ping.content == "pong" and ping.ephemeral
            click = await fake.click(ping.original, "feature:action:1", ALICE)
        fake.assert_clean()                                 # no unknown route was hit

Every driving helper waits (default 3 s, Discord's own deadline) for the bot's answer and
returns the InteractionRecord; `running_client` makes any ERROR logged by `discord.*` or
`bot.*` fail the block, and makes those waits fail at once instead of timing out.
Messages are live dicts in Discord's JSON shape: edits by the bot show up in them.
"""

from .harness import pointed_at, running_client
from .logcheck import ErrorLogCapture
from .models import (
    FakeChannel,
    FakeRole,
    FakeUser,
    InteractionRecord,
    Outage,
    Overwrite,
    StoredFile,
)
from .server import DEFAULT_TIMEOUT, FakeDiscord, json_response
from .validation import DiscordAPIError

__all__ = [
    "DEFAULT_TIMEOUT",
    "DiscordAPIError",
    "ErrorLogCapture",
    "FakeChannel",
    "FakeDiscord",
    "FakeRole",
    "FakeUser",
    "InteractionRecord",
    "Outage",
    "Overwrite",
    "StoredFile",
    "json_response",
    "pointed_at",
    "running_client",
]
