"""Plex webhook payloads in the structure real servers send (from public captures), and a
multipart encoder that frames them the way Plex Media Server does."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

SERVER = {"title": "Living Room", "uuid": "54664a3d8acc39983675640ec9ce00b70af9cc36"}
OWNER = {
    "id": 1,
    "thumb": "https://plex.tv/users/1022b120ffbaa/avatar?c=1465525047",
    "title": "alice",
}
SHARED = {"id": 24680, "thumb": "https://plex.tv/users/9f8e7d/avatar", "title": "bob"}
PLAYER = {
    "local": True,
    "publicAddress": "200.200.200.200",
    "title": "Plex Web (Chrome)",
    "uuid": "r6yfkdnfggbh2bdnvkffwbms",
}


def _envelope(event: str, metadata: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": event,
        "user": True,
        "owner": True,
        "Account": extra.pop("account", OWNER),
        "Server": SERVER,
        "Player": PLAYER,
    }
    if metadata is not None:
        body["Metadata"] = metadata
    body.update(extra)
    return body


def episode(
    *,
    show: str = "The Office",
    show_key: str = "1936543",
    season: int = 2,
    number: int = 3,
    item_key: str | None = None,
    grandparent_guid: str = "plex://show/5d9c086c46115600200aa2fe",
    year: int | None = 2005,
    title: str = "Office Olympics",
    rich: bool = True,
) -> dict[str, Any]:
    """Metadata of an episode. The current agent (plex://) carries the EPISODE's ids in
    Guid[], never the show's; `rich` adds the cast/images arrays that make payloads 3-30 KB."""
    meta: dict[str, Any] = {
        "librarySectionType": "show",
        "ratingKey": item_key or f"{show_key}{season:02d}{number:03d}",
        "key": f"/library/metadata/{item_key or show_key + str(number)}",
        "parentRatingKey": f"{show_key}{season:02d}",
        "grandparentRatingKey": show_key,
        "guid": "plex://episode/5d9c1275e98e47001eb84b7e",
        "parentGuid": "plex://season/602e67d31d3358002c41f1d0",
        "grandparentGuid": grandparent_guid,
        "type": "episode",
        "title": title,
        "grandparentKey": f"/library/metadata/{show_key}",
        "parentKey": f"/library/metadata/{show_key}{season:02d}",
        "librarySectionTitle": "TV Shows",
        "librarySectionID": 2,
        "librarySectionKey": "/library/sections/2",
        "grandparentTitle": show,
        "parentTitle": f"Season {season}",
        "contentRating": "TV-14",
        "summary": "Michael organises an office olympics.",
        "index": number,
        "parentIndex": season,
        "audienceRating": 8.1,
        "viewCount": 1,
        "lastViewedAt": int(time.time()),
        "thumb": f"/library/metadata/{show_key}/thumb/1700000000",
        "art": f"/library/metadata/{show_key}/art/1700000000",
        "grandparentThumb": f"/library/metadata/{show_key}/thumb/1700000000",
        "duration": 1320000,
        "originallyAvailableAt": "2005-10-18",
        "addedAt": 1609459200,
        "updatedAt": 1700000000,
        "Guid": [
            {"id": "imdb://tt0664514"},
            {"id": "tmdb://397575"},
            {"id": "tvdb://300960"},
        ],
    }
    if year is not None:
        meta["year"] = year
    if rich:
        meta["Image"] = [
            {"alt": title, "type": "coverPoster", "url": f"/library/metadata/{show_key}/thumb"},
            {"alt": title, "type": "background", "url": f"/library/metadata/{show_key}/art"},
        ]
        meta["Rating"] = [
            {"image": "imdb://image.rating", "value": 8.1, "type": "audience"},
            {"image": "themoviedb://image.rating", "value": 7.9, "type": "audience"},
        ]
        meta["Role"] = [
            {
                "id": 1000 + i,
                "filter": f"actor={1000 + i}",
                "tag": f"Actor {i}",
                "tagKey": secrets.token_hex(12),
                "role": f"Character {i}",
                "thumb": f"https://metadata-static.plex.tv/people/{secrets.token_hex(16)}.jpg",
            }
            for i in range(12)
        ]
        meta["Director"] = [{"id": 77, "filter": "director=77", "tag": "Paul Feig"}]
        meta["Writer"] = [{"id": 78, "filter": "writer=78", "tag": "Greg Daniels"}]
    return meta


def legacy_episode(agent: str, show_id: str, season: int, number: int, **kw: Any) -> dict[str, Any]:
    """An episode from a legacy agent: ids in the guid strings, no Guid[] at all."""
    meta = episode(season=season, number=number, rich=False, **kw)
    meta["guid"] = f"com.plexapp.agents.{agent}://{show_id}/{season}/{number}?lang=en"
    meta["grandparentGuid"] = f"com.plexapp.agents.{agent}://{show_id}?lang=en"
    meta.pop("parentGuid")
    meta.pop("Guid")
    return meta


def scrobble(meta: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return _envelope("media.scrobble", meta if meta is not None else episode(), **extra)


def event(name: str, meta: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body = _envelope(name, meta, **extra)
    if name == "library.new":
        body.pop("Player")
    if name.startswith(("admin.", "device.")):
        body.pop("Player", None)
    if name == "device.new":
        body["Account"] = {"id": 0, "title": ""}
    return body


def movie() -> dict[str, Any]:
    return {
        "librarySectionType": "movie",
        "ratingKey": "52011",
        "key": "/library/metadata/52011",
        "guid": "plex://movie/5d776b59ad5437001f79c6f8",
        "type": "movie",
        "title": "Blade Runner 2049",
        "year": 2017,
        "duration": 9840000,
        "Guid": [{"id": "imdb://tt1856101"}, {"id": "tmdb://335984"}],
    }


def track() -> dict[str, Any]:
    return {
        "librarySectionType": "artist",
        "ratingKey": "88001",
        "parentRatingKey": "88000",
        "grandparentRatingKey": "87999",
        "guid": "plex://track/5d07cdcb403c640290f5a1b2",
        "type": "track",
        "title": "Paranoid Android",
        "grandparentTitle": "Radiohead",
        "parentTitle": "OK Computer",
        "index": 2,
        "parentIndex": 1,
    }


FAKE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 2048 + b"\xff\xd9"


def multipart(
    payload: dict[str, Any] | str | bytes,
    *,
    thumb: bytes | None = None,
    payload_as_file: bool = False,
) -> tuple[bytes, str]:
    """Body and Content-Type as Plex frames them: a `payload` part with its own JSON
    content type and no filename, then an optional `thumb` part with filename thumb.jpg."""
    boundary = "------------------------" + secrets.token_hex(8)
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    disposition = 'form-data; name="payload"' + (
        '; filename="payload.json"' if payload_as_file else ""
    )
    parts = [
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        f"Content-Type: application/json\r\n\r\n".encode()
        + data
        + b"\r\n"
    ]
    if thumb is not None:
        parts.append(
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="thumb"; filename="thumb.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n".encode()
            + thumb
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
