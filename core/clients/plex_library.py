"""Reading a Plex Media Server's library and watch history: what history sync needs.

Endpoints (JSON with ``Accept: application/json``; the token in the ``X-Plex-Token``
header, never the URL):

- ``/identity``: the server's ``machineIdentifier`` (answers without a token: a probe)
- ``/accounts``: the server's accounts. The owner is account 1 here, not their plex.tv id
- ``/library/sections``: sections; history sync reads those of type ``show``
- ``/library/sections/{id}/all?type=2&includeGuids=1``: the shows, each with its
  ``Guid`` list (TMDB/TVDB/IMDb), ``viewedLeafCount`` and ``lastViewedAt`` (the owner's)
- ``/library/metadata/{key}`` and ``.../allLeaves``: a show, an episode, a show's episodes
  with ``viewCount``/``lastViewedAt`` (the owner's) and ``Media[].Part[].file``
- ``/status/sessions/history/all``: plays of every account, filtered by ``accountID`` and
  ``viewedAt>=``, newest first

Lists are paged with the ``X-Plex-Container-Start``/``-Size`` headers; the container then
says ``totalSize``. Shapes are read liberally (Plex sends ids as numbers or strings); an
item we cannot read is dropped, never a crash. Errors are the clients' UpstreamError
family: Unauthorized (401), NotFound (404), retryable ones for 5xx and network trouble.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from core.clients.errors import NotFound, UpstreamError
from core.clients.plex_server import SERVICE, PlexHttp

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PlexSection:
    key: str
    type: str  # show, movie, artist, photo
    title: str


@dataclass(frozen=True, slots=True)
class ServerAccount:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class LibraryShow:
    rating_key: str
    title: str
    year: int | None
    guid: str | None
    guids: tuple[str, ...]
    thumb: str | None
    viewed_leaf_count: int
    last_viewed_at: int | None  # the owner's newest play of any episode (epoch seconds)
    user_rating: float | None = None  # the owner's rating, 0-10 (`userRating`)


@dataclass(frozen=True, slots=True)
class LibraryEpisode:
    rating_key: str
    show_key: str | None
    show_title: str | None
    season: int | None
    index: int | None
    view_count: int  # the owner's
    last_viewed_at: int | None
    files: tuple[str, ...]
    user_rating: float | None = None  # the owner's


@dataclass(frozen=True, slots=True)
class HistoryPlay:
    type: str | None
    rating_key: str | None  # None when the item has been deleted from the library
    show_key: str | None
    show_title: str | None
    season: int | None
    index: int | None
    viewed_at: int
    account_id: str
    section_id: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int | None  # totalSize, when the server says
    read: int  # rows on the page, counting the ones we could not use

    def last(self, start: int, size: int) -> bool:
        """No page after this one."""
        if self.read < size:
            return True
        return self.total is not None and start + self.read >= self.total


# -- liberal readers -------------------------------------------------------------------
def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None


def _key_from_path(path: object) -> str | None:
    """ "/library/metadata/871" -> "871"."""
    text = _text(path)
    if text is None:
        return None
    tail = text.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def _epoch(value: object) -> int | None:
    n = _int(value)
    # Plex uses 0 or absent for "never"; anything past 2242 is garbage, not a date.
    return n if n is not None and 0 < n < 2**33 else None


def _rating(value: object) -> float | None:
    """`userRating`: 0-10 in half stars; anything else (absent, 0, junk) is no rating."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return round(number, 1) if 0 < number <= 10 else None  # NaN fails both comparisons


def _index(value: object) -> int | None:
    n = _int(value)
    return n if n is not None and 0 <= n < 2**31 else None


def _items(payload: Any, key: str) -> tuple[list[Mapping[str, Any]], int | None]:
    container = payload.get("MediaContainer") if isinstance(payload, Mapping) else None
    if not isinstance(container, Mapping):
        raise UpstreamError("plex server returned an unexpected response shape", service=SERVICE)
    rows = container.get(key) or []
    if not isinstance(rows, list):
        rows = []
    total = _int(container.get("totalSize"))
    return [r for r in rows if isinstance(r, Mapping)], total


def _files(item: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for media in item.get("Media") or ():
        if not isinstance(media, Mapping):
            continue
        for part in media.get("Part") or ():
            if isinstance(part, Mapping) and (path := _text(part.get("file"))):
                found.append(path)
    return tuple(found)


def _show(item: Mapping[str, Any]) -> LibraryShow | None:
    key, title = _text(item.get("ratingKey")), _text(item.get("title"))
    if key is None or title is None:
        return None
    guids = tuple(
        str(g["id"])
        for g in item.get("Guid") or ()
        if isinstance(g, Mapping) and _text(g.get("id"))
    )
    return LibraryShow(
        rating_key=key,
        title=title,
        year=_int(item.get("year")),
        guid=_text(item.get("guid")),
        guids=guids,
        thumb=_text(item.get("thumb")),
        viewed_leaf_count=_int(item.get("viewedLeafCount")) or 0,
        last_viewed_at=_epoch(item.get("lastViewedAt")),
        user_rating=_rating(item.get("userRating")),
    )


def _episode(item: Mapping[str, Any]) -> LibraryEpisode | None:
    key = _text(item.get("ratingKey"))
    if key is None or item.get("type") not in (None, "episode"):
        return None
    return LibraryEpisode(
        rating_key=key,
        show_key=_text(item.get("grandparentRatingKey"))
        or _key_from_path(item.get("grandparentKey")),
        show_title=_text(item.get("grandparentTitle")),
        season=_index(item.get("parentIndex")),
        index=_index(item.get("index")),
        view_count=_int(item.get("viewCount")) or 0,
        last_viewed_at=_epoch(item.get("lastViewedAt")),
        files=_files(item),
        user_rating=_rating(item.get("userRating")),
    )


def _play(item: Mapping[str, Any]) -> HistoryPlay | None:
    viewed_at, account = _epoch(item.get("viewedAt")), _text(item.get("accountID"))
    if viewed_at is None or account is None:
        return None
    return HistoryPlay(
        type=_text(item.get("type")),
        rating_key=_text(item.get("ratingKey")) or _key_from_path(item.get("key")),
        show_key=_key_from_path(item.get("grandparentKey")),
        show_title=_text(item.get("grandparentTitle")),
        season=_index(item.get("parentIndex")),
        index=_index(item.get("index")),
        viewed_at=viewed_at,
        account_id=account,
        section_id=_text(item.get("librarySectionID")),
    )


def _keep(
    rows: Iterable[Mapping[str, Any]], read: Callable[[Mapping[str, Any]], T | None]
) -> list[T]:
    out = []
    for row in rows:
        try:
            item = read(row)
        except (TypeError, ValueError, AttributeError):
            item = None
        if item is not None:
            out.append(item)
    return out


class PlexLibraryClient(PlexHttp):
    """Stateless over servers: every call names the server's base URL and token."""

    TIMEOUT = 30.0  # a page of a large library can take a while

    async def identity(self, server_url: str) -> str:
        """The server's machineIdentifier; a quick probe that needs no token."""
        payload = await self._get(server_url, "/identity", None, probe=True)
        container = payload.get("MediaContainer") if isinstance(payload, Mapping) else None
        machine = (
            _text(container.get("machineIdentifier")) if isinstance(container, Mapping) else None
        )
        if machine is None:
            raise UpstreamError(
                "plex server GET /identity did not say which server it is", service=SERVICE
            )
        return machine

    async def accounts(self, server_url: str, token: str) -> list[ServerAccount]:
        rows, _ = _items(await self._get(server_url, "/accounts", token), "Account")
        return _keep(
            rows,
            lambda r: (
                ServerAccount(str(_int(r.get("id"))), _text(r.get("name")) or "")
                if _int(r.get("id")) is not None
                else None
            ),
        )

    async def sections(self, server_url: str, token: str) -> list[PlexSection]:
        rows, _ = _items(await self._get(server_url, "/library/sections", token), "Directory")

        def read(r: Mapping[str, Any]) -> PlexSection | None:
            key, kind = _text(r.get("key")), _text(r.get("type"))
            if key is None or kind is None:
                return None
            return PlexSection(key, kind, _text(r.get("title")) or key)

        return _keep(rows, read)

    async def shows(
        self, server_url: str, token: str, section_key: str, *, start: int, size: int
    ) -> Page[LibraryShow]:
        payload = await self._get(
            server_url,
            f"/library/sections/{quote(section_key, safe='')}/all",
            token,
            params={"type": 2, "includeGuids": 1},
            paging=(start, size),
        )
        rows, total = _items(payload, "Metadata")
        return Page(_keep(rows, _show), total, len(rows))

    async def show(self, server_url: str, token: str, rating_key: str) -> LibraryShow:
        payload = await self._get(
            server_url,
            f"/library/metadata/{quote(rating_key, safe='')}",
            token,
            params={"includeGuids": 1},
        )
        rows, _ = _items(payload, "Metadata")
        shows = _keep(rows, _show)
        if not shows:
            raise NotFound(f"plex server has no show {rating_key}", service=SERVICE)
        return shows[0]

    async def episodes(
        self, server_url: str, token: str, show_key: str, *, start: int, size: int
    ) -> Page[LibraryEpisode]:
        payload = await self._get(
            server_url,
            f"/library/metadata/{quote(show_key, safe='')}/allLeaves",
            token,
            paging=(start, size),
        )
        rows, total = _items(payload, "Metadata")
        return Page(_keep(rows, _episode), total, len(rows))

    async def episode(self, server_url: str, token: str, rating_key: str) -> LibraryEpisode:
        payload = await self._get(
            server_url, f"/library/metadata/{quote(rating_key, safe='')}", token
        )
        rows, _ = _items(payload, "Metadata")
        found = _keep(rows, _episode)
        if not found:
            raise NotFound(f"plex server has no episode {rating_key}", service=SERVICE)
        return found[0]

    async def history(
        self,
        server_url: str,
        token: str,
        *,
        account_id: str,
        since: int | None,
        start: int,
        size: int,
    ) -> Page[HistoryPlay]:
        """One page of an account's plays, newest first, from `since` (epoch seconds) on."""
        params: dict[str, str | int] = {"accountID": account_id, "sort": "viewedAt:desc"}
        if since is not None:
            # `viewedAt>=N` as Plex clients write it: the name is "viewedAt>" (encoded).
            params["viewedAt>"] = since
        payload = await self._get(
            server_url, "/status/sessions/history/all", token, params=params, paging=(start, size)
        )
        rows, total = _items(payload, "Metadata")
        return Page(_keep(rows, _play), total, len(rows))
