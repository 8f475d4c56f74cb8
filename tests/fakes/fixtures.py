"""Pytest fixtures for the fakes. Import the ones you need into a test module:

    from tests.fakes.fixtures import fake_tmdb, http_client  # noqa: F401

Each fixture starts a fresh fake per test and closes it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plextv import FakePlexTv
from tests.fakes.tmdb import FakeTmdb


@pytest_asyncio.fixture
async def fake_tmdb() -> AsyncIterator[FakeTmdb]:
    async with FakeTmdb() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_plex_server() -> AsyncIterator[FakePlexServer]:
    async with FakePlexServer() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_plextv() -> AsyncIterator[FakePlexTv]:
    async with FakePlexTv() as fake:
        yield fake


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
