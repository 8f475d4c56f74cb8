"""Reaching a user's Plex Media Server: the one place history sync (and the multi-episode
follow-up of the webhook path) decides which URL and token to use.

The server URL from the user's config when there is one; otherwise every connection
plex.tv lists for the server (local, then remote, then relay), probed in turn with
``/identity``: the first that answers as that server wins. The address that worked is
tried first next time, but nothing is pinned: a failing address is simply passed over
and retried on a later run.

When the shared ServerLocator (core/services/plex_servers.py) lands, `ServerAccess.reach`
is the single function to switch over to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.clients.errors import UpstreamError
from core.clients.plex_library import PlexLibraryClient
from core.clients.plextv import PlexResource, PlexTvClient
from core.db.plex_config import PlexConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlexServerTarget:
    url: str
    token: str = field(repr=False)
    machine_id: str
    name: str | None = None


class ServerAccess:
    def __init__(self, *, library: PlexLibraryClient, plextv: PlexTvClient) -> None:
        self._library = library
        self._plextv = plextv
        self._last_good: dict[tuple[int, str], str] = {}  # (user, server) -> URI

    async def reach(
        self, user_id: int, config: PlexConfig, token: str, *, server_uuid: str | None = None
    ) -> PlexServerTarget:
        """A server address that answers now, with the token to use there.

        Raises UpstreamError: Unauthorized when plex.tv refuses the token, a retryable one
        when no address answers, a plain one when plex.tv knows no such server.
        """
        if config.server_url:
            machine = await self._library.identity(config.server_url)
            return PlexServerTarget(config.server_url, token, machine)
        resource = await self._resource(token, server_uuid or config.server_uuid)
        uris = list(resource.preferred_uris())
        remembered = self._last_good.get((user_id, resource.client_identifier))
        if remembered in uris:
            uris.remove(remembered)
            uris.insert(0, remembered)
        failures: list[str] = []
        for uri in uris:
            try:
                machine = await self._library.identity(uri)
            except UpstreamError as exc:
                failures.append(exc.message)
                continue
            if machine != resource.client_identifier:
                failures.append(f"{uri} is another Plex server")
                continue
            self._last_good[(user_id, resource.client_identifier)] = uri
            return PlexServerTarget(uri, resource.access_token or token, machine, resource.name)
        log.warning(
            "user %d: no address of Plex server %r answered: %s",
            user_id,
            resource.name,
            "; ".join(failures) or "plex.tv lists none",
        )
        raise UpstreamError(
            f"none of the {len(uris)} addresses plex.tv lists for Plex server "
            f"{resource.name!r} answered (local, remote and relay were tried)",
            service="plex_server",
            retryable=True,
        )

    async def _resource(self, token: str, server_uuid: str | None) -> PlexResource:
        servers = [r for r in await self._plextv.resources(token) if r.is_server]
        if server_uuid:
            servers = [r for r in servers if r.client_identifier == server_uuid]
        # Without a pinned server, the account's own server(s) first, by name.
        servers.sort(key=lambda r: (not r.owned, r.name.casefold(), r.client_identifier))
        if not servers:
            raise UpstreamError(
                "plex.tv lists no Plex Media Server for this account"
                + (" with the pinned id" if server_uuid else "")
                + ": set the server URL (plex-tracker connect --server-url)",
                service="plextv",
            )
        return servers[0]
