"""A local Plex Media Server: the endpoints plex-tracker reads, shaped as PMS answers them.

- ``/identity`` (no token needed), ``/accounts``, ``/library/sections``
- ``/library/sections/{id}/all`` (``type=2`` shows with ``Guid`` when ``includeGuids=1``,
  ``type=4`` episodes), paged
- ``/library/metadata/{ratingKey}`` (a show, or an episode with ``Media[].Part[].file``)
  and ``/library/metadata/{ratingKey}/allLeaves`` (a show's episodes, paged)
- ``/status/sessions/history/all`` filtered by ``accountID``, ``viewedAt>=``,
  ``librarySectionID`` and ``metadataItemID``, ``sort=viewedAt:desc``, paged

Like real Plex it answers JSON when the Accept header asks for it and XML otherwise, takes
the token from the ``X-Plex-Token`` header (or query parameter) and answers 401 without
one it knows. Paging follows PMS: ``X-Plex-Container-Start``/``-Size`` as headers or query
parameters; the container then carries ``offset`` and ``totalSize``. The library's watched
state (``viewCount``, ``lastViewedAt``) is the server owner's (account 1) only, as in PMS;
other accounts' plays exist only in the history. A deleted item's plays stay in the history
without its keys (``key``, ``ratingKey``, ``grandparentKey``).
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeServer

DEFAULT_TOKEN = "fake-plex-server-token-abc123"
OWNER_ID = 1

_HTML = "<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>"


def _html_error(status: int, title: str) -> web.Response:
    return web.Response(
        status=status, text=_HTML.format(status=status, title=title), content_type="text/html"
    )


@dataclass
class FakePlexItem:
    """A show (or any single library item registered with `add_show`)."""

    rating_key: str
    title: str
    year: int | None
    guid: str
    guids: list[str] = field(default_factory=list)
    type: str = "show"
    thumb: str | None = None
    section_id: int = 2
    added_at: int = 1700000000
    user_rating: float | None = None  # the owner's, as PMS lists it (`userRating`)

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
            "addedAt": self.added_at,
            "updatedAt": 1700000000,
            "Guid": [{"id": g} for g in self.guids],
        }
        if self.year is not None:
            item["year"] = self.year
            item["originallyAvailableAt"] = f"{self.year:04d}-01-01"
        return item


@dataclass
class FakeEpisode:
    rating_key: str
    show_key: str
    season: int
    index: int
    title: str
    file: str
    duration: int = 1_320_000
    view_count: int = 0  # the owner's, as PMS keeps it
    last_viewed_at: int | None = None
    user_rating: float | None = None  # the owner's


@dataclass
class FakeView:
    """One row of the server's watch history."""

    history_id: int
    account_id: int
    viewed_at: int
    type: str
    title: str
    section_id: int
    rating_key: str | None = None  # None once the item is deleted
    show_key: str | None = None
    show_title: str | None = None
    season: int | None = None
    index: int | None = None


@dataclass
class FakeSection:
    key: int
    type: str  # show, movie, artist, photo
    title: str


class FakePlexServer(FakeServer):
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        machine_identifier: str | None = None,
        owner_name: str = "alice",
    ) -> None:
        super().__init__()
        self.tokens: set[str] = {token}
        self.token = token
        self.machine_identifier = machine_identifier or uuid.uuid4().hex
        self.items: dict[str, FakePlexItem] = {}
        self.episodes: dict[str, FakeEpisode] = {}
        self._show_episodes: dict[str, list[str]] = {}
        self.history: list[FakeView] = []
        self.accounts: dict[int, str] = {0: "", OWNER_ID: owner_name}
        self.sections: dict[int, FakeSection] = {
            1: FakeSection(1, "movie", "Movies"),
            2: FakeSection(2, "show", "TV Shows"),
        }
        # True: every request gets 503 (a server that is up but not serving, e.g. during
        # a database upgrade). For "unreachable", close() the fake or use a closed port.
        self.down = False
        # A number: that many more requests are served, then the server is `down`.
        self.down_after: int | None = None
        # A test: the first request it returns True for finds the server `down`.
        self.goes_down: Callable[[web.Request], bool] | None = None
        self.section_id = 2
        self._next_key = 900_000
        self._next_history = 1

    # -- the library ---------------------------------------------------------------
    def add_token(self, token: str) -> None:
        self.tokens.add(token)

    def add_account(self, account_id: int, name: str) -> None:
        self.accounts[account_id] = name

    def add_section(self, key: int, type: str, title: str) -> FakeSection:
        self.sections[key] = FakeSection(key, type, title)
        return self.sections[key]

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
        section_id: int = 2,
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
            section_id=section_id,
        )
        self.items[key] = item
        self._show_episodes.setdefault(key, [])
        return item

    def add_episode(
        self,
        show_key: str | int,
        season: int,
        index: int,
        *,
        rating_key: str | int | None = None,
        title: str | None = None,
        file: str | None = None,
    ) -> FakeEpisode:
        show = self.items[str(show_key)]
        key = str(rating_key) if rating_key is not None else self._new_key()
        name = f"{show.title} - S{season:02d}E{index:02d}"
        episode = FakeEpisode(
            rating_key=key,
            show_key=show.rating_key,
            season=season,
            index=index,
            title=title or f"Episode {index}",
            file=file or f"/data/tv/{show.title}/Season {season:02d}/{name}.mkv",
        )
        self.episodes[key] = episode
        self._show_episodes[show.rating_key].append(key)
        return episode

    def watch(
        self, rating_key: str | int, *, account_id: int = OWNER_ID, viewed_at: int | None = None
    ) -> FakeView:
        """A play to the end: a history row, and for the owner the library's watched state."""
        episode = self.episodes[str(rating_key)]
        show = self.items[episode.show_key]
        at = viewed_at if viewed_at is not None else int(time.time())
        view = FakeView(
            history_id=self._next_history,
            account_id=account_id,
            viewed_at=at,
            type="episode",
            title=episode.title,
            section_id=show.section_id,
            rating_key=episode.rating_key,
            show_key=show.rating_key,
            show_title=show.title,
            season=episode.season,
            index=episode.index,
        )
        self._next_history += 1
        self.history.append(view)
        if account_id == OWNER_ID:
            self.mark_played(episode.rating_key, at)
        return view

    def mark_played(self, rating_key: str | int, at: int | None = None) -> None:
        """The owner's "Mark as played": library state only, no history row (as in PMS)."""
        episode = self.episodes[str(rating_key)]
        at = at if at is not None else int(time.time())
        episode.view_count += 1
        episode.last_viewed_at = max(episode.last_viewed_at or 0, at)

    def watch_movie(self, title: str, *, account_id: int = OWNER_ID, viewed_at: int) -> None:
        self.history.append(
            FakeView(
                history_id=self._next_history,
                account_id=account_id,
                viewed_at=viewed_at,
                type="movie",
                title=title,
                section_id=1,
                rating_key=self._new_key(),
            )
        )
        self._next_history += 1

    def delete_episode(self, rating_key: str | int) -> None:
        """Gone from the library; its plays stay in the history without keys."""
        key = str(rating_key)
        episode = self.episodes.pop(key)
        self._show_episodes[episode.show_key].remove(key)
        for view in self.history:
            if view.rating_key == key:
                view.rating_key = None
                view.show_key = None

    def delete_show(self, rating_key: str | int) -> None:
        key = str(rating_key)
        for episode_key in list(self._show_episodes.get(key, ())):
            self.delete_episode(episode_key)
        self.items.pop(key, None)
        self._show_episodes.pop(key, None)

    def _new_key(self) -> str:
        self._next_key += 1
        return str(self._next_key)

    # -- HTTP ----------------------------------------------------------------------
    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/identity", self._identity)
        r.add_get("/accounts", self._accounts)
        r.add_get("/library/sections", self._sections)
        r.add_get("/library/sections/{section}/all", self._section_all)
        r.add_get("/library/metadata/{rating_key}", self._metadata)
        r.add_get("/library/metadata/{rating_key}/allLeaves", self._all_leaves)
        r.add_get("/status/sessions/history/all", self._history)

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

    def _refuse(self, request: web.Request, *, auth: bool = True) -> web.Response | None:
        """503 while down; 401 without a known token (PMS checks the token first)."""
        if self.down_after is not None:
            if self.down_after <= 0:
                self.down = True
            self.down_after -= 1
        if self.goes_down is not None and self.goes_down(request):
            self.down, self.goes_down = True, None
        if self.down:
            return self._error_response(503)
        token = request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")
        if auth and token not in self.tokens:
            return _html_error(401, "Unauthorized")
        return None

    def _answer(
        self,
        request: web.Request,
        container: dict[str, Any],
        children: list[dict[str, Any]],
        child_key: str = "Metadata",
        *,
        total: int | None = None,
        offset: int | None = None,
    ) -> web.Response:
        container = {**container, "size": len(children)}
        headers = {}
        if total is not None:
            container["totalSize"] = total
            container["offset"] = offset or 0
            headers = {
                "X-Plex-Container-Start": str(offset or 0),
                "X-Plex-Container-Total-Size": str(total),
            }
        if children:
            container[child_key] = children
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response({"MediaContainer": container}, headers=headers)
        return web.Response(
            text=_to_xml(container, child_key),
            content_type="text/xml",
            charset="utf-8",
            headers=headers,
        )

    @staticmethod
    def _page(request: web.Request, rows: list[Any]) -> tuple[list[Any], int | None, int]:
        """PMS paging: the window asked for, and (when asked) the total and the offset."""

        def value(name: str) -> int | None:
            raw = request.headers.get(name) or request.query.get(name)
            return int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None

        start, size = value("X-Plex-Container-Start"), value("X-Plex-Container-Size")
        if start is None and size is None:
            return rows, None, 0
        start = max(start or 0, 0)
        end = len(rows) if size is None else start + max(size, 0)
        return rows[start:end], len(rows), start

    async def _identity(self, request: web.Request) -> web.Response:
        refused = self._refuse(request, auth=False)
        if refused is not None:
            return refused
        container = {
            "claimed": True,
            "machineIdentifier": self.machine_identifier,
            "version": "1.41.3.9314-a0bfb8370",
        }
        return self._answer(request, container, [])

    async def _accounts(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        rows = [
            {
                "id": account_id,
                "key": f"/accounts/{account_id}",
                "name": name,
                "defaultAudioLanguage": "en",
                "autoSelectAudio": True,
                "defaultSubtitleLanguage": "en",
                "subtitleMode": 0,
                "thumb": f"https://plex.tv/users/{account_id:x}/avatar",
            }
            for account_id, name in sorted(self.accounts.items())
        ]
        return self._answer(request, {"identifier": "com.plexapp.system.accounts"}, rows, "Account")

    async def _sections(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        agents = {"show": "tv.plex.agents.series", "movie": "tv.plex.agents.movie"}
        rows = [
            {
                "allowSync": True,
                "art": "/:/resources/show-fanart.jpg",
                "composite": f"/library/sections/{s.key}/composite/1700000000",
                "filters": True,
                "refreshing": False,
                "thumb": "/:/resources/show.png",
                "key": str(s.key),
                "type": s.type,
                "title": s.title,
                "agent": agents.get(s.type, "tv.plex.agents.none"),
                "scanner": "Plex TV Series" if s.type == "show" else "Plex Movie",
                "language": "en-US",
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.machine_identifier}/{s.key}")),
                "updatedAt": 1700000000,
                "createdAt": 1600000000,
                "Location": [{"id": s.key, "path": f"/data/{s.title.lower()}"}],
            }
            for s in sorted(self.sections.values(), key=lambda s: s.key)
        ]
        container = {"allowSync": False, "title1": "Plex Library"}
        return self._answer(request, container, rows, "Directory")

    async def _section_all(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        try:
            section = self.sections[int(request.match_info["section"])]
        except (KeyError, ValueError):
            return _html_error(404, "Not Found")
        kind = request.query.get("type") or ("2" if section.type == "show" else "1")
        shows = sorted(
            (i for i in self.items.values() if i.section_id == section.key and i.type == "show"),
            key=lambda i: (i.title.casefold(), i.rating_key),
        )
        with_guids = request.query.get("includeGuids") == "1"
        rows: list[dict[str, Any]] = []
        total: int | None = None
        offset = 0
        if kind == "2":
            window, total, offset = self._page(request, shows)
            rows = [self._show_json(i, with_guids=with_guids) for i in window]
        elif kind == "4":
            episodes = [
                self.episodes[k]
                for show in shows
                for k in self._show_episodes.get(show.rating_key, ())
            ]
            window, total, offset = self._page(request, episodes)
            rows = [self._episode_json(e) for e in window]
        page = rows
        container = {
            **self._container_attrs(),
            "librarySectionID": section.key,
            "librarySectionTitle": section.title,
            "title1": section.title,
            "title2": "All Shows",
            "viewGroup": "show" if kind == "2" else "episode",
        }
        return self._answer(request, container, page, total=total, offset=offset)

    def _show_json(self, item: FakePlexItem, *, with_guids: bool = True) -> dict[str, Any]:
        data = item.as_json(item.section_id)
        episodes = [self.episodes[k] for k in self._show_episodes.get(item.rating_key, ())]
        watched = [e for e in episodes if e.view_count > 0]
        data["leafCount"] = len(episodes)
        data["viewedLeafCount"] = len(watched)
        data["childCount"] = len({e.season for e in episodes})
        seen = [e.last_viewed_at for e in episodes if e.last_viewed_at]
        if seen:
            data["lastViewedAt"] = max(seen)
            data["viewCount"] = sum(e.view_count for e in episodes)
        if item.user_rating is not None:
            data["userRating"] = item.user_rating
            data["lastRatedAt"] = 1700000000
        if not with_guids:
            data.pop("Guid")
        return data

    def _episode_json(self, e: FakeEpisode) -> dict[str, Any]:
        show = self.items[e.show_key]
        season_key = f"{e.show_key}{e.season:03d}"
        data: dict[str, Any] = {
            "ratingKey": e.rating_key,
            "key": f"/library/metadata/{e.rating_key}",
            "parentRatingKey": season_key,
            "grandparentRatingKey": e.show_key,
            "guid": f"plex://episode/{uuid.uuid5(uuid.NAMESPACE_URL, e.rating_key).hex[:24]}",
            "parentGuid": f"plex://season/{uuid.uuid5(uuid.NAMESPACE_URL, season_key).hex[:24]}",
            "grandparentGuid": show.guid,
            "type": "episode",
            "title": e.title,
            "grandparentKey": f"/library/metadata/{e.show_key}",
            "parentKey": f"/library/metadata/{season_key}",
            "librarySectionTitle": self.sections[show.section_id].title,
            "librarySectionID": show.section_id,
            "librarySectionKey": f"/library/sections/{show.section_id}",
            "grandparentTitle": show.title,
            "parentTitle": f"Season {e.season}",
            "contentRating": "TV-14",
            "summary": "",
            "index": e.index,
            "parentIndex": e.season,
            "thumb": f"/library/metadata/{e.rating_key}/thumb/1700000000",
            "grandparentThumb": f"/library/metadata/{e.show_key}/thumb/1700000000",
            "duration": e.duration,
            "addedAt": 1700000000,
            "updatedAt": 1700000000,
            "Media": [
                {
                    "id": int(e.rating_key) if e.rating_key.isdigit() else 1,
                    "duration": e.duration,
                    "bitrate": 4500,
                    "width": 1920,
                    "height": 1080,
                    "aspectRatio": 1.78,
                    "audioChannels": 6,
                    "audioCodec": "eac3",
                    "videoCodec": "h264",
                    "videoResolution": "1080",
                    "container": "mkv",
                    "videoFrameRate": "24p",
                    "Part": [
                        {
                            "id": int(e.rating_key) if e.rating_key.isdigit() else 1,
                            "key": f"/library/parts/{e.rating_key}/1700000000/file.mkv",
                            "duration": e.duration,
                            "file": e.file,
                            "size": 734003200,
                            "container": "mkv",
                        }
                    ],
                }
            ],
        }
        if show.year is not None:
            data["year"] = show.year
        if e.view_count:
            data["viewCount"] = e.view_count
        if e.last_viewed_at:
            data["lastViewedAt"] = e.last_viewed_at
        if e.user_rating is not None:
            data["userRating"] = e.user_rating
            data["lastRatedAt"] = 1700000000
        return data

    async def _metadata(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        key = request.match_info["rating_key"]
        if key in self.episodes:
            return self._answer(
                request, self._container_attrs(), [self._episode_json(self.episodes[key])]
            )
        item = self.items.get(key)
        if item is None:
            return _html_error(404, "Not Found")
        data = self._show_json(item) if item.type == "show" else item.as_json(self.section_id)
        return self._answer(request, self._container_attrs(), [data])

    async def _all_leaves(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        show = self.items.get(request.match_info["rating_key"])
        if show is None:
            return _html_error(404, "Not Found")
        keys = self._show_episodes[show.rating_key]
        window, total, offset = self._page(request, keys)
        page = [self._episode_json(self.episodes[k]) for k in window]
        container = {
            **self._container_attrs(),
            "key": show.rating_key,
            "title1": "TV Shows",
            "title2": show.title,
            "viewGroup": "episode",
        }
        return self._answer(request, container, page, total=total, offset=offset)

    async def _history(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        q = request.query
        rows = self.history
        if (account := q.get("accountID")) is not None:
            rows = [v for v in rows if str(v.account_id) == account]
        # `viewedAt>=N` on the wire: a query parser sees the name "viewedAt>" and value N.
        for name in ("viewedAt>", "viewedAt>="):
            if (since := q.get(name)) is not None:
                rows = [v for v in rows if v.viewed_at >= int(since)]
        if (section := q.get("librarySectionID")) is not None:
            rows = [v for v in rows if str(v.section_id) == section]
        if (item := q.get("metadataItemID")) is not None:
            rows = [v for v in rows if v.rating_key == item]
        if q.get("sort") == "viewedAt:desc":
            rows = sorted(rows, key=lambda v: (-v.viewed_at, -v.history_id))
        window, total, offset = self._page(request, rows)
        page = [self._view_json(v) for v in window]
        return self._answer(request, {}, page, total=total, offset=offset)

    def _view_json(self, v: FakeView) -> dict[str, Any]:
        data: dict[str, Any] = {"historyKey": f"/status/sessions/history/{v.history_id}"}
        if v.rating_key is not None:
            data["key"] = f"/library/metadata/{v.rating_key}"
            data["ratingKey"] = v.rating_key
        data["librarySectionID"] = str(v.section_id)
        if v.type == "episode":
            if v.show_key is not None:
                season_key = f"{v.show_key}{(v.season or 0):03d}"
                data["parentKey"] = f"/library/metadata/{season_key}"
                data["grandparentKey"] = f"/library/metadata/{v.show_key}"
            data["title"] = v.title
            data["grandparentTitle"] = v.show_title
            data["type"] = "episode"
            if v.rating_key is not None:
                data["thumb"] = f"/library/metadata/{v.rating_key}/thumb/-1"
            data["index"] = v.index
            data["parentIndex"] = v.season
            data["originallyAvailableAt"] = "2005-03-24"
        else:
            data["title"] = v.title
            data["type"] = v.type
        data["viewedAt"] = v.viewed_at
        data["accountID"] = v.account_id
        data["deviceID"] = 5
        return data

    def plays(self) -> int:
        return len(self.history)


# Plex serialises shows, seasons and sections as <Directory>, episodes and movies as <Video>.
_XML_TAGS = {"show": "Directory", "season": "Directory"}


def _to_xml(container: dict[str, Any], child_key: str) -> str:
    def attrs(d: dict[str, Any]) -> dict[str, str]:
        return {
            k: ("1" if v is True else "0" if v is False else str(v))
            for k, v in d.items()
            if not isinstance(v, list | dict) and v is not None
        }

    def add(parent: ET.Element, tag: str, d: dict[str, Any]) -> None:
        node = ET.SubElement(parent, tag, attrs(d))
        for key, value in d.items():
            if isinstance(value, list):
                for child in value:
                    if isinstance(child, dict):
                        add(node, key, child)

    root = ET.Element("MediaContainer", attrs(container))
    for child in container.get(child_key) or ():
        tag = child_key
        if child_key == "Metadata":
            tag = _XML_TAGS.get(str(child.get("type")), "Video")
        add(root, tag, child)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
