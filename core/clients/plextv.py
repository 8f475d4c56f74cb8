"""plex.tv client: who owns a token, and which servers it can reach.

A webhook names its server by ``Server.uuid``; that is the ``clientIdentifier`` of one
of the account's resources, whose connections give the URLs to reach it. For a server
shared with the user (``owned`` false) the resource's ``accessToken`` is the token to use
on that server, not the account token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.clients._http import JsonRequester, RetryPolicy, Sleep
from core.clients.errors import UpstreamError
from core.metrics import Metrics

SERVICE = "plextv"
DEFAULT_BASE_URL = "https://plex.tv"


@dataclass(frozen=True, slots=True)
class PlexAccount:
    id: int
    uuid: str
    username: str
    title: str
    email: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PlexConnection:
    uri: str
    local: bool
    relay: bool
    protocol: str | None = None
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class PlexResource:
    name: str
    client_identifier: str
    product: str | None
    provides: tuple[str, ...]
    owned: bool
    connections: tuple[PlexConnection, ...]
    access_token: str | None = field(default=None, repr=False)

    @property
    def is_server(self) -> bool:
        return "server" in self.provides

    def preferred_uris(self) -> tuple[str, ...]:
        """Connection URIs to try in order: local direct, remote direct, then relays."""
        ranked = sorted(self.connections, key=lambda c: (c.relay, not c.local))
        return tuple(c.uri for c in ranked)


def _account(raw: Mapping[str, Any]) -> PlexAccount:
    return PlexAccount(
        id=int(raw["id"]),
        uuid=str(raw.get("uuid") or ""),
        username=str(raw.get("username") or ""),
        title=str(raw.get("title") or raw.get("username") or ""),
        email=str(raw["email"]) if raw.get("email") else None,
    )


def _resource(raw: Mapping[str, Any]) -> PlexResource:
    return PlexResource(
        name=str(raw.get("name") or ""),
        client_identifier=str(raw["clientIdentifier"]),
        product=str(raw["product"]) if raw.get("product") else None,
        provides=tuple(p.strip() for p in str(raw.get("provides") or "").split(",") if p.strip()),
        owned=bool(raw.get("owned")),
        connections=tuple(
            PlexConnection(
                uri=str(c["uri"]),
                local=bool(c.get("local")),
                relay=bool(c.get("relay")),
                protocol=str(c["protocol"]) if c.get("protocol") else None,
                address=str(c["address"]) if c.get("address") else None,
                port=int(c["port"]) if isinstance(c.get("port"), int) else None,
            )
            for c in raw.get("connections") or ()
        ),
        access_token=str(raw["accessToken"]) if raw.get("accessToken") else None,
    )


class PlexTvClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        metrics: Metrics,
        client_identifier: str = "plex-tracker",
        timeout: float = 10.0,
        max_retries: int = 1,
        backoff_base: float = 0.5,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._client_identifier = client_identifier
        self._requester = JsonRequester(
            http=http,
            service=SERVICE,
            metrics=metrics,
            timeout=timeout,
            policy=RetryPolicy(max_retries=max_retries, backoff_base=backoff_base),
            sleep=sleep,
        )

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "X-Plex-Token": token,
            "Accept": "application/json",
            "X-Plex-Client-Identifier": self._client_identifier,
            "X-Plex-Product": "plex-tracker",
        }

    async def account(self, token: str) -> PlexAccount:
        """The account a token belongs to; Unauthorized if plex.tv rejects the token."""
        data = await self._requester.get_json(
            f"{self._base_url}/api/v2/user", headers=self._headers(token)
        )
        try:
            return _account(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamError(
                "plextv GET /api/v2/user returned an unexpected response shape", service=SERVICE
            ) from None

    async def resources(self, token: str) -> list[PlexResource]:
        """Devices the account can reach (servers, players), with their connections."""
        data = await self._requester.get_json(
            f"{self._base_url}/api/v2/resources",
            params={"includeHttps": 1, "includeRelay": 1},
            headers=self._headers(token),
        )
        try:
            return [_resource(r) for r in data]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamError(
                "plextv GET /api/v2/resources returned an unexpected response shape",
                service=SERVICE,
            ) from None

    async def find_server(self, token: str, server_uuid: str) -> PlexResource | None:
        """The server resource whose clientIdentifier is a webhook's ``Server.uuid``."""
        for resource in await self.resources(token):
            if resource.client_identifier == server_uuid and resource.is_server:
                return resource
        return None
