"""A local plex.tv: ``/api/v2/user`` and ``/api/v2/resources`` for tokens you register.

Answers JSON when asked (``Accept: application/json``) and XML otherwise, wants an
``X-Plex-Client-Identifier`` like plex.tv does, and answers 401 with plex.tv's error body
for tokens it does not know.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

from tests.fakes._base import FakeServer


def plextv_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"errors": [{"code": code, "message": message, "status": status}]}, status=status
    )


@dataclass
class FakePlexAccount:
    token: str
    id: int
    uuid: str
    username: str
    title: str
    email: str
    resources: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "username": self.username,
            "title": self.title,
            "email": self.email,
            "friendlyName": self.title,
            "locale": None,
            "confirmed": True,
            "joinedAt": 1500000000,
            "emailOnlyAuth": False,
            "hasPassword": True,
            "protected": False,
            "thumb": f"https://plex.tv/users/{self.uuid}/avatar?c=1700000000",
            "authToken": self.token,
            "mailingListStatus": "unsubscribed",
            "mailingListActive": False,
            "scrobbleTypes": "",
            "country": "US",
            "restricted": False,
            "anonymous": None,
            "home": False,
            "guest": False,
            "homeSize": 1,
            "homeAdmin": False,
            "maxHomeSize": 15,
            "rememberExpiresAt": 1800000000,
            "subscription": {"active": False, "status": "Inactive", "plan": None, "features": []},
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
        }


class FakePlexTv(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, FakePlexAccount] = {}

    def add_account(
        self,
        token: str,
        *,
        id: int = 1,
        username: str = "plexuser",
        title: str | None = None,
        email: str | None = None,
        uuid_: str | None = None,
    ) -> FakePlexAccount:
        account = FakePlexAccount(
            token=token,
            id=id,
            uuid=uuid_ or uuid.uuid5(uuid.NAMESPACE_OID, f"{id}").hex[:16],
            username=username,
            title=title or username,
            email=email or f"{username}@example.com",
        )
        self.accounts[token] = account
        return account

    def add_server(
        self,
        token: str,
        *,
        name: str,
        client_identifier: str,
        uris: Sequence[str] = (),
        connections: Sequence[dict[str, Any]] | None = None,
        owned: bool = True,
        access_token: str | None = None,
        provides: str = "server",
        product: str = "Plex Media Server",
    ) -> dict[str, Any]:
        """Give a registered account a resource. ``uris`` become direct remote connections;
        pass ``connections`` (plex.tv's shape) for local/relay ones."""
        if connections is None:
            connections = []
            for uri in uris:
                url = URL(uri)
                connections.append(
                    {
                        "protocol": url.scheme,
                        "address": url.host,
                        "port": url.port,
                        "uri": uri,
                        "local": False,
                        "relay": False,
                        "IPv6": False,
                    }
                )
        resource = {
            "name": name,
            "product": product,
            "productVersion": "1.40.0.7998-c29d4c0c8",
            "platform": "Linux",
            "platformVersion": "6.1",
            "device": "PC",
            "clientIdentifier": client_identifier,
            "createdAt": "2020-01-01T00:00:00Z",
            "lastSeenAt": "2026-01-01T00:00:00Z",
            "provides": provides,
            "ownerId": None if owned else 999,
            "sourceTitle": None if owned else "friend",
            "publicAddress": "203.0.113.7",
            "accessToken": access_token or token,
            "owned": owned,
            "home": False,
            "synced": False,
            "relay": True,
            "presence": True,
            "httpsRequired": False,
            "publicAddressMatches": True,
            "dnsRebindingProtection": False,
            "natLoopbackSupported": False,
            "connections": list(connections),
        }
        self.accounts[token].resources.append(resource)
        return resource

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/user", self._user)
        app.router.add_get("/api/v2/resources", self._resources)

    def _error_response(self, status: int) -> web.Response:
        return plextv_error(status, 1000 if status < 500 else 1900, "Service unavailable")

    def _account(self, request: web.Request) -> FakePlexAccount | web.Response:
        if not request.headers.get("X-Plex-Client-Identifier"):
            return plextv_error(400, 1000, "X-Plex-Client-Identifier is missing")
        token = request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")
        account = self.accounts.get(token or "")
        if account is None:
            return plextv_error(401, 1001, "User could not be authenticated")
        return account

    @staticmethod
    def _wants_json(request: web.Request) -> bool:
        return "application/json" in request.headers.get("Accept", "")

    async def _user(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        body = account.as_json()
        if self._wants_json(request):
            return web.json_response(body)
        attrs = {k: _xml_value(v) for k, v in body.items() if not isinstance(v, dict)}
        return _xml(ET.Element("user", attrs))

    async def _resources(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        include_relay = request.query.get("includeRelay") == "1"
        resources = []
        for resource in account.resources:
            copy = dict(resource)
            copy["connections"] = [
                c for c in resource["connections"] if include_relay or not c.get("relay")
            ]
            resources.append(copy)
        if self._wants_json(request):
            return web.json_response(resources)
        root = ET.Element("resources", {"size": str(len(resources))})
        for resource in resources:
            node = ET.SubElement(
                root,
                "resource",
                {k: _xml_value(v) for k, v in resource.items() if k != "connections"},
            )
            conns = ET.SubElement(node, "connections")
            for c in resource["connections"]:
                ET.SubElement(conns, "connection", {k: _xml_value(v) for k, v in c.items()})
        return _xml(root)


def _xml_value(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    return "" if value is None else str(value)


def _xml(root: ET.Element) -> web.Response:
    return web.Response(
        text='<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode"),
        content_type="application/xml",
        charset="utf-8",
    )
