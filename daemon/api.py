"""The seed's JSON API under /api/plex/, behind per-user bearer tokens.

Thin: each handler checks the token, reads its input, calls a core service and shapes the
answer. Errors are JSON `{"error": message}`: 401 without a valid token, 403 for another
user's conflict or mapping, 404 for what does not exist, 400 for bad input (the error
middleware maps domain errors the same way)."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.db import mappings as mappings_db
from core.db import webhook_logs
from core.db.plex_config import PlexConfig
from core.db.users import User
from core.errors import ForbiddenError, InvalidInputError, NotFoundError
from core.services.conflicts import Choice, Ignore, Pick, UseShow, UseTmdb
from core.services.container import Services
from daemon.keys import SERVICES
from daemon.openapi import openapi_document

log = logging.getLogger(__name__)

LOG_STATUSES = ("pending", "success", "failed", "ignored", "duplicate")
MAX_PAGE = 200


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
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name} must be between {lo} and {hi}")
    return value


def _path_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise NotFoundError("no such id") from None
    if value <= 0 or value > 2**63 - 1:
        raise NotFoundError("no such id")
    return value


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_type != "application/json":
        raise InvalidInputError("send the body as application/json")
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInputError(f"invalid body: {problems}") from None


def _page(request: web.Request) -> tuple[int, int]:
    return (
        _int_param(request, "limit", 50, 1, MAX_PAGE),
        _int_param(request, "offset", 0, 0, 10_000_000),
    )


def _paged(items: list[Any], limit: int, offset: int) -> dict[str, object]:
    return {
        "items": [
            dataclasses.asdict(i) if dataclasses.is_dataclass(i) and not isinstance(i, type) else i
            for i in items
        ],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if len(items) == limit else None,
    }


# -- config -------------------------------------------------------------------------------


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plex_token: str | None = None
    server_url: str | None = None
    accounts: list[str] | None = None
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
    else:
        if update.server_url is not None and not update.server_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidInputError("server_url must start with http:// or https://")
        if update.rotate_secret:
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
    items = [{**dataclasses.asdict(m.mapping), "tvshow_title": m.tvshow_title} for m in found]
    return _json(_paged(items, limit, offset))


class MappingPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tvshow_id: int | None = Field(default=None, gt=0)
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
    patch: MappingPatch = await _body(request, MappingPatch)
    if patch.tvshow_id is None and patch.sync_enabled is None:
        raise InvalidInputError("give tvshow_id and/or sync_enabled")
    services = request.app[SERVICES]
    async with services.pool.acquire() as conn:
        owner = await mappings_db.owner(conn, mapping_id)
    _check_owner(owner, user, "mapping", mapping_id)
    mapping = None
    if patch.tvshow_id is not None:
        mapping = await services.mappings.remap(user.id, mapping_id, patch.tvshow_id)
    if patch.sync_enabled is not None:
        mapping = await services.mappings.set_sync(user.id, mapping_id, patch.sync_enabled)
    assert mapping is not None
    return _json(dataclasses.asdict(mapping))


# -- conflicts ----------------------------------------------------------------------------


async def list_conflicts(request: web.Request) -> web.Response:
    user = await _user(request)
    items = await request.app[SERVICES].conflicts.list_open(user.id)
    return _json({"items": [dataclasses.asdict(c) for c in items]})


class ResolveChoice(BaseModel):
    """Exactly one of: a tracker show, a TMDB show, candidate N as listed, or ignore."""

    model_config = ConfigDict(extra="forbid")

    tvshow_id: int | None = Field(default=None, gt=0)
    tmdb_id: int | None = Field(default=None, gt=0)
    pick: int | None = Field(default=None, gt=0)
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
            raise InvalidInputError("give exactly one of tvshow_id, tmdb_id, pick or ignore")
        return given[0]


async def resolve_conflict(request: web.Request) -> web.Response:
    user = await _user(request)
    conflict_id = _path_id(request)
    body: ResolveChoice = await _body(request, ResolveChoice)
    choice = body.choice()
    services = request.app[SERVICES]
    try:
        conflict = await services.conflicts.get(None, conflict_id)
    except NotFoundError:
        conflict = None
    _check_owner(conflict.user_id if conflict else None, user, "conflict", conflict_id)
    resolution = await services.conflicts.resolve(
        conflict_id, user_id=user.id, choice=choice, resolved_by="api"
    )
    return _json(dataclasses.asdict(resolution))


# -- logs ---------------------------------------------------------------------------------


async def list_logs(request: web.Request) -> web.Response:
    user = await _user(request)
    status = request.query.get("status") or None
    if status is not None and status not in LOG_STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(LOG_STATUSES)}")
    limit, offset = _page(request)
    async with request.app[SERVICES].pool.acquire() as conn:
        items = await webhook_logs.recent(conn, user.id, status=status, limit=limit, offset=offset)
    return _json(_paged(items, limit, offset))


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def setup_api(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/api/plex/config", get_config)
    r.add_post("/api/plex/config", post_config)
    r.add_delete("/api/plex/config", delete_config)
    r.add_get("/api/plex/mappings", list_mappings)
    r.add_patch("/api/plex/mappings/{id}", patch_mapping)
    r.add_get("/api/plex/conflicts", list_conflicts)
    r.add_post("/api/plex/conflicts/{id}/resolve", resolve_conflict)
    r.add_get("/api/plex/logs", list_logs)
