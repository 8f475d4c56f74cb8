"""The seed's JSON API under /api/plex/, behind per-user bearer tokens.

Thin: each handler checks the token, reads its input, calls a core service and shapes the
answer. Errors are JSON `{"error": message}`: 401 without a valid token, 403 for another
user's conflict or mapping, 404 for what does not exist, 400 for bad input (the error
middleware maps domain errors the same way)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from core.clients.plex_server import normalise_server_url
from core.db import mappings as mappings_db
from core.db import webhook_logs
from core.db.conflicts import Conflict
from core.db.mappings import Mapping
from core.db.plex_config import PlexConfig
from core.db.users import User
from core.db.webhook_logs import LogEntry
from core.errors import ForbiddenError, InvalidInputError, NotFoundError
from core.services.conflicts import Choice, Ignore, Pick, Resolution, UseShow, UseTmdb
from core.services.container import Services
from daemon import openapi
from daemon.keys import SERVICES
from daemon.openapi import MAX_ID, MAX_OFFSET, MAX_PAGE, MAX_PICK, MAX_TMDB_ID

log = logging.getLogger(__name__)

LOG_STATUSES = ("pending", "success", "failed", "ignored", "duplicate")


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_default))


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="plex-tracker"'},
    )


async def _user(request: web.Request) -> User:
    """The token's owner; 401 when the header is missing, malformed or the token unknown."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    user = await request.app[SERVICES].api_tokens.authenticate(token.strip())
    if user is None:
        raise _unauthorized("invalid or revoked token")
    return user


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if len(raw) > 20 or not raw.lstrip("-").isascii() or not raw.lstrip("-").isdigit():
        raise InvalidInputError(f"{name} must be an integer between {lo} and {hi}")
    value = int(raw)
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name} must be between {lo} and {hi}")
    return value


def _path_id(request: web.Request) -> int:
    """A path id: a positive bigint, else 404 (ids out of the database's range included)."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_ID:
        raise NotFoundError("no such id")
    return int(raw)


class BodyTimeoutError(Exception):
    """A JSON body took longer than HTTP_BODY_TIMEOUT to arrive (408, connection closed)."""


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    timeout = request.app[SERVICES].settings.http_body_timeout
    if request.content_type != "application/json":
        raise InvalidInputError("send the body as application/json")
    try:
        async with asyncio.timeout(timeout):
            data = await request.json()
    except TimeoutError:
        raise BodyTimeoutError(f"the body did not arrive within {timeout:g} s") from None
    except RecursionError:
        raise InvalidInputError("the body is not valid JSON: nested too deep") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidInputError(f"invalid body: {problems}"[:1000]) from None
    except RecursionError:
        raise InvalidInputError("invalid body: nested too deep") from None


def _page(request: web.Request) -> tuple[int, int]:
    return (
        _int_param(request, "limit", 50, 1, MAX_PAGE),
        _int_param(request, "offset", 0, 0, MAX_OFFSET),
    )


def _paged(items: list[dict[str, object]], limit: int, offset: int) -> dict[str, object]:
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(items) == limit else None,
    }


# -- answers: exactly the fields the OpenAPI document describes ------------------------------


def _mapping_json(m: Mapping) -> dict[str, object]:
    return {
        "id": m.id,
        "plex_rating_key": m.plex_rating_key,
        "plex_guid": m.plex_guid,
        "plex_title": m.plex_title,
        "plex_year": m.plex_year,
        "tvshow_id": m.tvshow_id,
        "tmdb_id": m.tmdb_id,
        "tvdb_id": m.tvdb_id,
        "imdb_id": m.imdb_id,
        "match_confidence": m.match_confidence,
        "match_method": m.match_method,
        "manually_confirmed": m.manually_confirmed,
        "sync_enabled": m.sync_enabled,
    }


def _candidate_json(c: dict[str, Any]) -> dict[str, object]:
    return {
        k: c.get(k)
        for k in ("source", "tvshow_id", "tmdb_id", "title", "year", "confidence", "why")
    }


def _conflict_json(c: Conflict) -> dict[str, object]:
    return {
        "id": c.id,
        "plex_rating_key": c.plex_rating_key,
        "plex_guid": c.plex_guid,
        "plex_title": c.plex_title,
        "plex_year": c.plex_year,
        "conflict_type": c.conflict_type,
        "potential_matches": [_candidate_json(m) for m in c.potential_matches],
        "resolved": c.resolved,
        "resolved_tvshow_id": c.resolved_tvshow_id,
        "resolution_action": c.resolution_action,
        "resolved_by": c.resolved_by,
        "resolved_at": c.resolved_at,
        "held_scrobbles": c.held_scrobbles,
        "created_at": c.created_at,
    }


def _resolution_json(r: Resolution) -> dict[str, object]:
    return {
        "conflict_id": r.conflict_id,
        "plex_title": r.plex_title,
        "action": r.action,
        "tvshow_id": r.tvshow_id,
        "tvshow_title": r.tvshow_title,
        "held": r.held,
        "episodes_marked": r.episodes_marked,
        "already_resolved": r.already_resolved,
        "resolved_by": r.resolved_by,
        "resolved_at": r.resolved_at,
    }


def _log_json(e: LogEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "event_type": e.event_type,
        "status": e.status,
        "action_taken": e.action_taken,
        "plex_title": e.plex_title,
        "plex_season": e.plex_season,
        "plex_episode": e.plex_episode,
        "tvshow_id": e.tvshow_id,
        "processing_duration_ms": e.processing_duration_ms,
        "error_message": e.error_message,
        "attempts": e.attempts,
        "created_at": e.created_at,
    }


# -- request bodies: strict (no coercion), no explicit nulls, text free of control chars ------


def _printable(value: str) -> str:
    """No NUL, control characters or lone surrogates: they can't be stored or sent on."""
    for ch in value:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"must not contain the character U+{ord(ch):04X}")
    return value


def _ascii_visible(value: str) -> str:
    if not all(0x21 <= ord(ch) <= 0x7E for ch in value):
        raise ValueError("must be visible ASCII characters only (no spaces)")
    return value


def _http_url(value: str) -> str:
    _ascii_visible(value)
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest:
        raise ValueError("must be a URL starting with http:// or https://")
    normalise_server_url(value)  # a port or host that can't be used: 400 naming the field
    return value


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; so do we (strict mode refuses "5" and true).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Token = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_ascii_visible)]
Url = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_http_url)]
ShowId = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """A JSON body: unknown fields refused, no type coercion ("true" is not a boolean), and
    a field left out means "unchanged", so an explicit null is refused rather than guessed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [str(k) for k, v in data.items() if v is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: leave the field out instead of null")
        return data


# -- config -------------------------------------------------------------------------------


class ConfigUpdate(Body):
    plex_token: Token | None = None
    server_url: Url | None = None
    accounts: Annotated[list[Text], Field(max_length=100)] | None = None
    enabled: bool | None = None
    auto_add_shows: bool | None = None
    auto_mark_watched: bool | None = None
    rotate_secret: bool = False
    verify: bool = True


async def _config_body(services: Services, config: PlexConfig) -> dict[str, object]:
    # Never the Plex token, not even encrypted: only whether there is one.
    webhook_url = (
        await services.accounts.webhook_url(config.user_id) if config.webhook_secret else None
    )
    return {
        "connected": config.plex_token is not None,
        "plex_username": config.plex_username,
        "plex_account_id": config.plex_account_id,
        "server_url": config.server_url,
        "server_uuid": config.server_uuid,
        "enabled": config.enabled,
        "auto_add_shows": config.auto_add_shows,
        "auto_mark_watched": config.auto_mark_watched,
        "followed_accounts": list(config.followed_accounts),
        # Discord ids exceed JavaScript's safe integers.
        "notify_channel_id": str(config.notify_channel_id) if config.notify_channel_id else None,
        "webhook_url": webhook_url,
    }


async def get_config(request: web.Request) -> web.Response:
    user = await _user(request)
    services = request.app[SERVICES]
    config = await services.accounts.config(user.id)
    return _json(await _config_body(services, config))


async def post_config(request: web.Request) -> web.Response:
    user = await _user(request)
    services = request.app[SERVICES]
    update: ConfigUpdate = await _body(request, ConfigUpdate)
    if update.plex_token is not None:
        await services.accounts.connect(
            user=user,
            plex_token=update.plex_token,
            server_url=update.server_url,
            accounts=update.accounts,
            rotate_secret=update.rotate_secret,
            verify=update.verify,
        )
    elif update.rotate_secret:
        await services.accounts.rotate_secret(user.id)
    config = await services.accounts.update_settings(
        user.id,
        server_url=update.server_url.rstrip("/") if update.server_url else None,
        followed_accounts=update.accounts,
        enabled=update.enabled,
        auto_add_shows=update.auto_add_shows,
        auto_mark_watched=update.auto_mark_watched,
    )
    log.info("user %d changed Plex settings through the API", user.id)
    return _json(await _config_body(services, config))


async def delete_config(request: web.Request) -> web.Response:
    user = await _user(request)
    services = request.app[SERVICES]
    await services.accounts.config(user.id)  # 404 when never connected
    await services.accounts.disconnect(user.id)
    return _json({"disconnected": True})


# -- mappings -----------------------------------------------------------------------------


async def list_mappings(request: web.Request) -> web.Response:
    user = await _user(request)
    limit, offset = _page(request)
    found = await request.app[SERVICES].mappings.list(user.id, limit=limit, offset=offset)
    items = [{**_mapping_json(m.mapping), "tvshow_title": m.tvshow_title} for m in found]
    return _json(_paged(items, limit, offset))


class MappingPatch(Body):
    tvshow_id: ShowId | None = None
    sync_enabled: bool | None = None


def _check_owner(owner: int | None, user: User, what: str, item_id: int) -> None:
    # The caller is authenticated: saying "not yours" (403) tells them their token is fine
    # and the id is wrong for it; ids are sequential, so 404 would hide nothing.
    if owner is None:
        raise NotFoundError(f"no {what} {item_id}")
    if owner != user.id:
        raise ForbiddenError(f"{what} {item_id} belongs to another user")


async def patch_mapping(request: web.Request) -> web.Response:
    user = await _user(request)
    mapping_id = _path_id(request)
    services = request.app[SERVICES]
    patch: MappingPatch = await _body(request, MappingPatch)
    if patch.tvshow_id is None and patch.sync_enabled is None:
        raise InvalidInputError("give tvshow_id and/or sync_enabled")
    async with services.pool.acquire() as conn:
        owner = await mappings_db.owner(conn, mapping_id)
    _check_owner(owner, user, "mapping", mapping_id)
    mapping = None
    if patch.tvshow_id is not None:
        mapping = await services.mappings.remap(user.id, mapping_id, patch.tvshow_id)
    if patch.sync_enabled is not None:
        mapping = await services.mappings.set_sync(user.id, mapping_id, patch.sync_enabled)
    assert mapping is not None
    return _json(_mapping_json(mapping))


# -- conflicts ----------------------------------------------------------------------------


async def list_conflicts(request: web.Request) -> web.Response:
    user = await _user(request)
    items = await request.app[SERVICES].conflicts.list_open(user.id)
    return _json({"items": [_conflict_json(c) for c in items]})


class ResolveChoice(Body):
    """Exactly one of: a tracker show, a TMDB show, candidate N as listed, or ignore."""

    tvshow_id: ShowId | None = None
    tmdb_id: Annotated[int, BeforeValidator(_integral), Field(ge=1, le=MAX_TMDB_ID)] | None = None
    pick: Annotated[int, BeforeValidator(_integral), Field(ge=1, le=MAX_PICK)] | None = None
    ignore: bool = False

    def choice(self) -> Choice:
        given: list[Choice] = []
        if self.tvshow_id is not None:
            given.append(UseShow(self.tvshow_id))
        if self.tmdb_id is not None:
            given.append(UseTmdb(self.tmdb_id))
        if self.pick is not None:
            given.append(Pick(self.pick))
        if self.ignore:
            given.append(Ignore())
        if len(given) != 1:
            raise InvalidInputError(
                "give exactly one of tvshow_id, tmdb_id, pick or ignore (ignore must be true)"
            )
        return given[0]


async def resolve_conflict(request: web.Request) -> web.Response:
    user = await _user(request)
    conflict_id = _path_id(request)
    services = request.app[SERVICES]
    body: ResolveChoice = await _body(request, ResolveChoice)
    choice = body.choice()
    try:
        conflict = await services.conflicts.get(None, conflict_id)
    except NotFoundError:
        conflict = None
    _check_owner(conflict.user_id if conflict else None, user, "conflict", conflict_id)
    assert conflict is not None
    if (
        isinstance(choice, Pick)
        and not conflict.resolved
        and choice.number > len(conflict.potential_matches)
    ):
        raise NotFoundError(
            f"conflict {conflict_id} has no candidate {choice.number} "
            f"({len(conflict.potential_matches)} listed)"
        )
    resolution = await services.conflicts.resolve(
        conflict_id, user_id=user.id, choice=choice, resolved_by="api"
    )
    return _json(_resolution_json(resolution))


# -- logs ---------------------------------------------------------------------------------


async def list_logs(request: web.Request) -> web.Response:
    user = await _user(request)
    status = request.query.get("status")
    if status is not None and status not in LOG_STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(LOG_STATUSES)}")
    limit, offset = _page(request)
    async with request.app[SERVICES].pool.acquire() as conn:
        items = await webhook_logs.recent(conn, user.id, status=status, limit=limit, offset=offset)
    return _json(_paged([_log_json(e) for e in items], limit, offset))


def setup_api(app: web.Application) -> None:
    openapi.add_doc(app, openapi.API_DOC)
    r = app.router
    r.add_get("/api/plex/config", get_config)
    r.add_post("/api/plex/config", post_config)
    r.add_delete("/api/plex/config", delete_config)
    r.add_get("/api/plex/mappings", list_mappings)
    r.add_patch("/api/plex/mappings/{id}", patch_mapping)
    r.add_get("/api/plex/conflicts", list_conflicts)
    r.add_post("/api/plex/conflicts/{id}/resolve", resolve_conflict)
    r.add_get("/api/plex/logs", list_logs)
