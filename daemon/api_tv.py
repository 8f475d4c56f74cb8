"""The tracker's JSON API under /api/tv/ (what /tv does in Discord), behind the same bearer
tokens as /api/plex/. Thin: each handler calls TrackerService, scoped to the token's user
(another user's show id is a 404, as if it did not exist)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BeforeValidator, Field

from core.db.tv_progress import EpisodeRef, ShowProgress, Watch
from core.errors import InvalidInputError
from core.tracker.service import MAX_EPISODE, MAX_SEASON, SHOW_FILTERS, SHOW_SORTS, ShowDetail
from daemon import openapi
from daemon.api import Body, _body, _int_param, _integral, _json, _path_id, _user
from daemon.keys import SERVICES
from daemon.openapi import (
    AUTH_ERRORS,
    BODY_ERRORS,
    ID_PARAM,
    NULLABLE_INT,
    NULLABLE_STR,
    NULLABLE_TIME,
    SERVER_ERRORS,
    TIME,
    ApiDoc,
    error,
    json_content,
    obj,
    ref,
)

MAX_PAGE_NUMBER = 100_000


def _show_json(s: ShowProgress) -> dict[str, object]:
    return {
        "id": s.id,
        "title": s.title,
        "year": s.year,
        "tmdb_id": s.tmdb_id,
        "state": s.state,
        "status": s.status,
        "source": s.source,
        "total": s.total,
        "aired": s.aired,
        "watched": s.watched,
        "minutes": s.minutes,
        "last_watched_at": s.last_watched_at,
        "user_rating": s.user_rating,
        "notify": s.notify,
        "abandoned": s.abandoned,
    }


def _episode_json(e: EpisodeRef | None) -> dict[str, object] | None:
    if e is None:
        return None
    return {
        "season": e.season,
        "episode": e.episode,
        "code": e.code,
        "title": e.title,
        "air_date": e.air_date,
        "runtime": e.runtime,
    }


def _watch_json(w: Watch | None) -> dict[str, object] | None:
    if w is None:
        return None
    return {
        "show_id": w.show_id,
        "show_title": w.show_title,
        "season": w.season,
        "episode": w.episode,
        "code": w.code,
        "title": w.title,
        "runtime": w.runtime,
        "watched_at": w.watched_at,
        "source": w.source,
        "user_rating": w.user_rating,
    }


def _detail_json(d: ShowDetail) -> dict[str, object]:
    return {
        "show": _show_json(d.show),
        "seasons": [
            {"season": s.season, "total": s.total, "aired": s.aired, "watched": s.watched}
            for s in d.seasons
        ],
        "next": _episode_json(d.next),
        "upcoming": _episode_json(d.upcoming),
        "last_watched": _watch_json(d.last_watch),
        "poster_url": d.poster_url,
        "tmdb_url": d.tmdb_url,
        "plex": [
            {
                "plex_title": p.plex_title,
                "plex_year": p.plex_year,
                "match_method": p.match_method,
                "match_confidence": p.match_confidence,
                "manually_confirmed": p.manually_confirmed,
                "sync_enabled": p.sync_enabled,
            }
            for p in d.plex
        ],
    }


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> Any:
    value = request.query.get(name, default)
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}")
    return value


async def list_shows(request: web.Request) -> web.Response:
    user = await _user(request)
    page = await request.app[SERVICES].tracker.shows(
        user.id,
        show_filter=_choice(request, "filter", SHOW_FILTERS, "all"),
        sort=_choice(request, "sort", SHOW_SORTS, "recent"),
        page=_int_param(request, "page", 0, 0, MAX_PAGE_NUMBER),
    )
    return _json(
        {
            "items": [_show_json(s) for s in page.items],
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
            "filter": page.show_filter,
            "sort": page.sort,
        }
    )


async def get_show(request: web.Request) -> web.Response:
    user = await _user(request)
    detail = await request.app[SERVICES].tracker.detail(user.id, _path_id(request))
    return _json(_detail_json(detail))


async def up_next(request: web.Request) -> web.Response:
    user = await _user(request)
    items = await request.app[SERVICES].tracker.up_next(user.id, limit=50)
    return _json(
        {
            "items": [
                {
                    "show": _show_json(i.show),
                    "next": _episode_json(i.next),
                    "new_since_last_watch": i.new_since_last_watch,
                }
                for i in items
            ]
        }
    )


async def history(request: web.Request) -> web.Response:
    user = await _user(request)
    days = _int_param(request, "days", 7, 1, 3650)
    limit = _int_param(request, "limit", 50, 1, 200)
    found = await request.app[SERVICES].tracker.history(user.id, days, limit=limit)
    return _json(
        {"days": found.days, "total": found.total, "items": [_watch_json(w) for w in found.watches]}
    )


Season = Annotated[int, BeforeValidator(_integral), Field(ge=0, le=MAX_SEASON)]
Number = Annotated[int, BeforeValidator(_integral), Field(ge=0, le=MAX_EPISODE)]


class MarkBody(Body):
    """Leave season and episode out for the next episode (watched) or the last one
    watched (unwatched); a season scope needs only the season."""

    watched: bool = True
    scope: Literal["episode", "season", "up_to"] = "episode"
    season: Season | None = None
    episode: Number | None = None


async def mark(request: web.Request) -> web.Response:
    user = await _user(request)
    show_id = _path_id(request)
    body: MarkBody = await _body(request, MarkBody)
    result = await request.app[SERVICES].tracker.mark(
        user.id,
        show_id,
        watched=body.watched,
        scope=body.scope,
        season=body.season,
        episode=body.episode,
    )
    return _json(
        {
            "watched": result.watched,
            "scope": result.scope,
            "season": result.season,
            "episode": result.episode,
            "targeted": result.targeted,
            "changed": result.changed,
            "show": _show_json(result.detail.show),
            "next": _episode_json(result.detail.next),
        }
    )


# -- the document ------------------------------------------------------------------------------

_DATE = {"type": ["string", "null"], "format": "date"}
_STATE = {"type": "string", "enum": ["watching", "finished", "not_started", "abandoned"]}
_SOURCE = {"type": "string", "enum": ["webhook", "history", "manual"]}
_RATING = {"type": ["number", "null"], "minimum": 0, "maximum": 10}
_EPISODE = obj(
    {
        "season": {"type": "integer"},
        "episode": {"type": "integer"},
        "code": {"type": "string", "description": "S02E03"},
        "title": NULLABLE_STR,
        "air_date": _DATE,
        "runtime": {**NULLABLE_INT, "description": "minutes"},
    }
)
SCHEMAS: dict[str, Any] = {
    "TvShow": obj(
        {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "year": NULLABLE_INT,
            "tmdb_id": NULLABLE_INT,
            "state": _STATE,
            "status": {**NULLABLE_STR, "description": "TMDB's: Returning Series, Ended, ..."},
            "source": {"type": "string", "description": "import, plex or tmdb"},
            "total": {"type": "integer", "description": "main-season episodes"},
            "aired": {"type": "integer"},
            "watched": {"type": "integer"},
            "minutes": {"type": "integer", "description": "watched minutes"},
            "last_watched_at": NULLABLE_TIME,
            "user_rating": _RATING,
            "notify": {"type": "boolean"},
            "abandoned": {"type": "boolean"},
        }
    ),
    "TvEpisode": _EPISODE,
    "TvWatch": obj(
        {
            "show_id": {"type": "integer"},
            "show_title": {"type": "string"},
            "season": {"type": "integer"},
            "episode": {"type": "integer"},
            "code": {"type": "string"},
            "title": NULLABLE_STR,
            "runtime": NULLABLE_INT,
            "watched_at": TIME,
            "source": _SOURCE,
            "user_rating": _RATING,
        }
    ),
}
_NULLABLE_EPISODE = {"oneOf": [ref("TvEpisode"), {"type": "null"}]}
_SHOW_ERRORS = {"404": error("No such show in your tracker"), **AUTH_ERRORS, **SERVER_ERRORS}
PATHS: dict[str, Any] = {
    "/api/tv/shows": {
        "get": {
            "summary": "Your shows with progress, a page of 10",
            "parameters": [
                {
                    "name": "filter",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(SHOW_FILTERS)},
                },
                {
                    "name": "sort",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(SHOW_SORTS)},
                },
                {
                    "name": "page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_NUMBER},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page (past the end: the last page)",
                    "content": json_content(
                        obj(
                            {
                                "items": {"type": "array", "items": ref("TvShow")},
                                "page": {"type": "integer"},
                                "pages": {"type": "integer"},
                                "total": {"type": "integer"},
                                "filter": {"type": "string"},
                                "sort": {"type": "string"},
                            }
                        )
                    ),
                },
                "400": error("Bad filter, sort or page"),
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
    "/api/tv/shows/{id}": {
        "get": {
            "summary": "One show: seasons, next episode, last watch, Plex mappings",
            "parameters": [ID_PARAM],
            "responses": {
                "200": {
                    "description": "The show",
                    "content": json_content(
                        obj(
                            {
                                "show": ref("TvShow"),
                                "seasons": {
                                    "type": "array",
                                    "items": obj(
                                        {
                                            "season": {"type": "integer"},
                                            "total": {"type": "integer"},
                                            "aired": {"type": "integer"},
                                            "watched": {"type": "integer"},
                                        }
                                    ),
                                },
                                "next": _NULLABLE_EPISODE,
                                "upcoming": _NULLABLE_EPISODE,
                                "last_watched": {"oneOf": [ref("TvWatch"), {"type": "null"}]},
                                "poster_url": NULLABLE_STR,
                                "tmdb_url": NULLABLE_STR,
                                "plex": {
                                    "type": "array",
                                    "items": obj(
                                        {
                                            "plex_title": NULLABLE_STR,
                                            "plex_year": NULLABLE_INT,
                                            "match_method": {"type": "string"},
                                            "match_confidence": {"type": ["number", "null"]},
                                            "manually_confirmed": {"type": "boolean"},
                                            "sync_enabled": {"type": "boolean"},
                                        }
                                    ),
                                },
                            }
                        )
                    ),
                },
                **_SHOW_ERRORS,
            },
        }
    },
    "/api/tv/shows/{id}/watched": {
        "post": {
            "summary": "Mark (or unmark) an episode, a season or everything up to an episode",
            "parameters": [ID_PARAM],
            "requestBody": {
                "required": True,
                "content": json_content(
                    obj(
                        {
                            "watched": {"type": "boolean", "default": True},
                            "scope": {
                                "type": "string",
                                "enum": ["episode", "season", "up_to"],
                                "default": "episode",
                            },
                            "season": {"type": "integer", "minimum": 0, "maximum": MAX_SEASON},
                            "episode": {"type": "integer", "minimum": 0, "maximum": MAX_EPISODE},
                        },
                        required=False,
                    )
                ),
            },
            "responses": {
                "200": {
                    "description": "What changed; the show's totals after",
                    "content": json_content(
                        obj(
                            {
                                "watched": {"type": "boolean"},
                                "scope": {"type": "string"},
                                "season": {"type": "integer"},
                                "episode": {"type": "integer"},
                                "targeted": {"type": "integer"},
                                "changed": {"type": "integer"},
                                "show": ref("TvShow"),
                                "next": _NULLABLE_EPISODE,
                            }
                        )
                    ),
                },
                **BODY_ERRORS,
                "404": error("No such show, season or episode in your tracker"),
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
    "/api/tv/upnext": {
        "get": {
            "summary": "The next aired, unwatched episode of each show in progress",
            "responses": {
                "200": {
                    "description": "New since the last watch first, then most recently watched",
                    "content": json_content(
                        obj(
                            {
                                "items": {
                                    "type": "array",
                                    "items": obj(
                                        {
                                            "show": ref("TvShow"),
                                            "next": ref("TvEpisode"),
                                            "new_since_last_watch": {"type": "boolean"},
                                        }
                                    ),
                                }
                            }
                        )
                    ),
                },
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
    "/api/tv/history": {
        "get": {
            "summary": "Episodes watched, newest first, with where each watch came from",
            "parameters": [
                {
                    "name": "days",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 3650},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
            ],
            "responses": {
                "200": {
                    "description": "The newest `limit` watches and how many in all",
                    "content": json_content(
                        obj(
                            {
                                "days": {"type": "integer"},
                                "total": {"type": "integer"},
                                "items": {"type": "array", "items": ref("TvWatch")},
                            }
                        )
                    ),
                },
                "400": error("Bad days or limit"),
                **AUTH_ERRORS,
                **SERVER_ERRORS,
            },
        }
    },
}


def setup_tv_api(app: web.Application) -> None:
    openapi.add_doc(app, ApiDoc(paths=PATHS, schemas=SCHEMAS))
    r = app.router
    r.add_get("/api/tv/shows", list_shows)
    r.add_get("/api/tv/shows/{id}", get_show)
    r.add_post("/api/tv/shows/{id}/watched", mark)
    r.add_get("/api/tv/upnext", up_next)
    r.add_get("/api/tv/history", history)
