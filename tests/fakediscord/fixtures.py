"""Pytest fixtures for the fake Discord; register with `from tests.fakediscord.fixtures import *`
in tests/conftest.py (or `pytest_plugins = ["tests.fakediscord.fixtures"]`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from .logcheck import ErrorLogCapture
from .server import FakeDiscord


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord; at teardown, fails the test if an unknown route was hit."""
    async with FakeDiscord() as fake:
        yield fake
        fake.assert_clean(allow_rejections=True)


@pytest.fixture
def discord_error_logs() -> Iterator[ErrorLogCapture]:
    """Fails the test if discord.* or bot.* logged an ERROR during it."""
    with ErrorLogCapture() as capture:
        yield capture


__all__ = ["discord_error_logs", "fake_discord"]
