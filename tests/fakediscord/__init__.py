"""A local fake of Discord's REST API and gateway, for driving the real discord.py client.

async with FakeDiscord() as fake, running_client(make_bot(), fake) as client:
    record = await fake.invoke_slash(user_id, "plex", "status")
"""

from .harness import pointed_at, running_client
from .logcheck import ErrorLogCapture
from .models import FakeChannel, FakeRole, FakeUser, InteractionRecord, StoredFile
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
    "StoredFile",
    "json_response",
    "pointed_at",
    "running_client",
]
