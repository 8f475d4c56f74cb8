"""A local Plex Media Server: ``/library/metadata/{ratingKey}``.

Like real Plex it answers JSON when the Accept header asks for it and XML otherwise,
takes the token from the ``X-Plex-Token`` header (or query parameter) and answers 401
without one it knows.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeServer

DEFAULT_TOKEN = "fake-plex-server-token-abc123"

_HTML = "<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>"


def _html_error(status: int, title: str) -> web.Response:
    return web.Response(
        status=status, text=_HTML.format(status=status, title=title), content_type="text/html"
    )


@dataclass
class FakePlexItem:
    rating_key: str
    title: str
    year: int | None
    guid: str
    guids: list[str] = field(default_factory=list)
    type: str = "show"
    thumb: str | None = None

    def as_json(self, section_id: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "ratingKey": self.rating_key,
            "key": f"/library/metadata/{self.rating_key}/children",
            "guid": self.guid,
            "type": self.type,
            "title": self.title,
            "librarySectionTitle": "TV Shows",
            "librarySectionID": section_id,
            "librarySectionKey": f"/library/sections/{section_id}",
            "summary": "",
            "index": 1,
            "thumb": self.thumb or f"/library/metadata/{self.rating_key}/thumb/1700000000",
            "art": f"/library/metadata/{self.rating_key}/art/1700000000",
            "leafCount": 0,
            "viewedLeafCount": 0,
            "childCount": 0,
            "addedAt": 1700000000,
            "updatedAt": 1700000000,
            "Guid": [{"id": g} for g in self.guids],
        }
        if self.year is not None:
            item["year"] = self.year
            item["originallyAvailableAt"] = f"{self.year:04d}-01-01"
        return item


class FakePlexServer(FakeServer):
    def __init__(
        self, *, token: str = DEFAULT_TOKEN, machine_identifier: str | None = None
    ) -> None:
        super().__init__()
        self.tokens: set[str] = {token}
        self.token = token
        self.machine_identifier = machine_identifier or uuid.uuid4().hex
        self.items: dict[str, FakePlexItem] = {}
        # True: every request gets 503 (a server that is up but not serving, e.g. during
        # a database upgrade). For "unreachable", close() the fake or use a closed port.
        self.down = False
        self.section_id = 2

    def add_token(self, token: str) -> None:
        self.tokens.add(token)

    def add_show(
        self,
        rating_key: str | int,
        title: str,
        year: int | None = None,
        *,
        guids: Sequence[str] = (),
        guid: str | None = None,
        thumb: str | None = None,
        type: str = "show",
    ) -> FakePlexItem:
        key = str(rating_key)
        item = FakePlexItem(
            rating_key=key,
            title=title,
            year=year,
            guid=guid or f"plex://{type}/{uuid.uuid5(uuid.NAMESPACE_URL, title).hex[:24]}",
            guids=list(guids),
            type=type,
            thumb=thumb,
        )
        self.items[key] = item
        return item

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/library/metadata/{rating_key}", self._metadata)
        app.router.add_get("/identity", self._identity)

    def _error_response(self, status: int) -> web.Response:
        titles = {
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        return _html_error(status, titles.get(status, "Error"))

    def _container_attrs(self) -> dict[str, Any]:
        return {
            "size": 1,
            "allowSync": True,
            "identifier": "com.plexapp.plugins.library",
            "librarySectionID": self.section_id,
            "librarySectionTitle": "TV Shows",
            "librarySectionUUID": "3f9e7a1c-0000-4000-8000-000000000002",
            "mediaTagPrefix": "/system/bundle/media/flags/",
            "mediaTagVersion": 1700000000,
        }

    async def _identity(self, request: web.Request) -> web.Response:
        """Like Plex: no token needed; says which server this is."""
        if self.down:
            return self._error_response(503)
        attrs = {"size": 0, "claimed": True, "machineIdentifier": self.machine_identifier}
        attrs["version"] = "1.40.0.7998-c29d4c0c8"
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response({"MediaContainer": attrs})
        root = ET.Element("MediaContainer", {k: _xml_attr(v) for k, v in attrs.items()})
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
        return web.Response(text=xml, content_type="text/xml", charset="utf-8")

    async def _metadata(self, request: web.Request) -> web.Response:
        if self.down:
            return self._error_response(503)
        token = request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")
        if token not in self.tokens:
            return _html_error(401, "Unauthorized")
        item = self.items.get(request.match_info["rating_key"])
        if item is None:
            return _html_error(404, "Not Found")
        if "application/json" in request.headers.get("Accept", ""):
            container = self._container_attrs()
            container["Metadata"] = [item.as_json(self.section_id)]
            return web.json_response({"MediaContainer": container})
        return web.Response(text=self._as_xml(item), content_type="text/xml", charset="utf-8")

    def _as_xml(self, item: FakePlexItem) -> str:
        attrs = {k: ("1" if v is True else str(v)) for k, v in self._container_attrs().items()}
        root = ET.Element("MediaContainer", attrs)
        # Plex serialises shows and seasons as <Directory>, episodes and movies as <Video>.
        tag = "Directory" if item.type in ("show", "season") else "Video"
        fields = item.as_json(self.section_id)
        guid_list = fields.pop("Guid")
        node = ET.SubElement(root, tag, {k: str(v) for k, v in fields.items()})
        for g in guid_list:
            ET.SubElement(node, "Guid", {"id": g["id"]})
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _xml_attr(value: object) -> str:
    return "1" if value is True else "0" if value is False else str(value)
