"""Reaching a user's Plex Media Server for history sync and the multi-episode follow-up of
webhooks: the one place they decide which URL and token to use.

It is the shared ServerLocator (core/services/plex_servers.py) that finds the server: the
user's --server-url, else the address remembered from an earlier discovery, else every
connection plex.tv lists for the server (local, remote, relay) probed at once, the best
that answers winning; an address that stops answering is looked for again, and an outage
is recorded and told to the user once. Here the server is asked who it is (`/identity`,
no token sent) through the locator, which proves it answers before a run starts and gives
the server id that history sync keeps its watermarks under.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.clients.errors import UpstreamError
from core.clients.plex_library import PlexLibraryClient
from core.db.plex_config import PlexConfig
from core.db.pool import Pool
from core.services.plex_servers import ServerAddress, ServerLocator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlexServerTarget:
    url: str
    token: str = field(repr=False)
    machine_id: str


class ServerAccess:
    def __init__(self, *, pool: Pool, locator: ServerLocator, library: PlexLibraryClient) -> None:
        self._pool = pool
        self._locator = locator
        self._library = library

    async def reach(
        self, user_id: int, config: PlexConfig, *, server_uuid: str | None = None
    ) -> PlexServerTarget:
        """An address of the user's server that answers now, with the token to use there.

        Raises UpstreamError: ServerUnreachable (retryable) when no address answers,
        Unauthorized when plex.tv refuses the token, a plain one when there is nothing to
        go on (no server URL, and plex.tv names no single server of this account)."""
        answered: list[ServerAddress] = []

        async def who(address: ServerAddress) -> str:
            machine = await self._library.identity(address.url)
            answered.append(address)
            return machine

        async with self._pool.acquire() as conn:
            machine = await self._locator.call(conn, user_id, config, server_uuid, who)
        if machine is None or not answered:
            raise UpstreamError(
                "no Plex server to read: plex.tv lists no single server of this account; "
                "set its address (plex-tracker connect --server-url)",
                service="plex_server",
            )
        address = answered[-1]
        return PlexServerTarget(address.url, address.token, machine)
