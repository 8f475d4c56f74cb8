"""The history sync routes of the JSON API: `POST /api/plex/sync` starts a run (202 with its
id; a run already on its way is returned instead of a second one) and
`GET /api/plex/sync/{id}` reports its state, progress, counts and error. The run itself is
executed by a `plex-tracker run` process's sync poller (core/history/service.py), so the
answer never waits for Plex. The routes' OpenAPI description (SYNC_DOC) is contributed
to the document next to them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BeforeValidator

from core.db.sync_runs import SyncRun
from core.errors import InvalidInputError
from daemon import openapi
from daemon.api import Body, _body, _json, _path_id, _user
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


def _iso_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError("a date as text, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:20]!r} is not a date (YYYY-MM-DD)") from None


class SyncRequest(Body):
    full: bool = False
    since: Annotated[date, BeforeValidator(_iso_date)] | None = None
    dry_run: bool = False


def run_body(run: SyncRun) -> dict[str, object]:
    """The answer, field by field as the SyncRun schema below says."""
    return {
        "id": run.id,
        "state": run.state,
        "trigger": run.trigger,
        "mode": run.mode,
        "since": run.since,
        "dry_run": run.dry_run,
        "server_id": run.server_id,
        "progress": {"phase": run.phase, "done": run.progress_done, "total": run.progress_total},
        "shows_seen": run.shows_seen,
        "episodes_marked": run.episodes_marked,
        "already_watched": run.already_watched,
        "shows_added": run.shows_added,
        "conflicts_raised": run.conflicts_raised,
        "episodes_held": run.episodes_held,
        "skipped": dict(run.skipped),
        "plex_requests": run.plex_requests,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


async def post_sync(request: web.Request) -> web.Response:
    user = await _user(request)
    body = await _body(request, SyncRequest) if request.can_read_body else SyncRequest()
    if body.full and body.since is not None:
        raise InvalidInputError("give full or since, not both")
    mode = "full" if body.full else "since" if body.since is not None else "incremental"
    since = datetime.combine(body.since, datetime.min.time(), UTC) if body.since else None
    run = await request.app[SERVICES].history.queue(
        user.id, trigger="api", mode=mode, since=since, dry_run=body.dry_run
    )
    location = f"/api/plex/sync/{run.id}"
    answer = _json({**run_body(run), "status_url": location}, status=202)
    answer.headers["Location"] = location
    return answer


async def get_sync(request: web.Request) -> web.Response:
    user = await _user(request)
    run = await request.app[SERVICES].history.get_run(user.id, _path_id(request))
    return _json(run_body(run))


_COUNT = {"type": "integer", "minimum": 0}
_RUN_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "state": {
        "type": "string",
        "enum": ["queued", "running", "succeeded", "failed", "interrupted"],
    },
    "trigger": {"type": "string", "enum": ["cli", "job", "api", "discord", "connect"]},
    "mode": {"type": "string", "enum": ["incremental", "full", "since"]},
    "since": NULLABLE_TIME,
    "dry_run": {"type": "boolean"},
    "server_id": {**NULLABLE_STR, "description": "The Plex server's machineIdentifier"},
    "progress": obj(
        {
            "phase": {"type": ["string", "null"], "enum": ["library", "history", None]},
            "done": _COUNT,
            "total": NULLABLE_INT,
        }
    ),
    "shows_seen": _COUNT,
    "episodes_marked": _COUNT,
    "already_watched": _COUNT,
    "shows_added": _COUNT,
    "conflicts_raised": _COUNT,
    "episodes_held": {**_COUNT, "description": "Waiting behind conflicts"},
    "skipped": {
        "type": "object",
        "additionalProperties": _COUNT,
        "description": "Why -> how many",
    },
    "plex_requests": _COUNT,
    "error": NULLABLE_STR,
    "created_at": TIME,
    "started_at": NULLABLE_TIME,
    "finished_at": NULLABLE_TIME,
}

SYNC_DOC = ApiDoc(
    schemas={
        "SyncRequest": obj(
            {
                "full": {"type": "boolean", "default": False, "description": "Read everything"},
                "since": {
                    "type": "string",
                    "format": "date",
                    "description": "Only plays from this day on (not with full)",
                },
                "dry_run": {"type": "boolean", "default": False, "description": "Change nothing"},
            },
            required=False,
            description="No body: what is new since the last sync (the first reads everything).",
        ),
        "SyncRun": obj(_RUN_FIELDS),
        "SyncStarted": obj(
            {**_RUN_FIELDS, "status_url": {"type": "string", "description": "GET it to follow"}}
        ),
    },
    paths={
        "/api/plex/sync": {
            "post": {
                "summary": "Start a Plex watch history sync (it runs in the background)",
                "requestBody": {"required": False, "content": json_content(ref("SyncRequest"))},
                "responses": {
                    "202": {
                        "description": "Queued, or the run already on its way; follow status_url",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": json_content(ref("SyncStarted")),
                    },
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                    "404": error("Plex not connected"),
                    **SERVER_ERRORS,
                },
            }
        },
        "/api/plex/sync/{id}": {
            "get": {
                "summary": "A sync run: state, progress, counts and error",
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {"description": "The run", "content": json_content(ref("SyncRun"))},
                    **AUTH_ERRORS,
                    "403": error("Another user's run"),
                    "404": error("No such run"),
                    **SERVER_ERRORS,
                },
            }
        },
    },
)


def setup_sync_api(app: web.Application) -> None:
    openapi.add_doc(app, SYNC_DOC)
    app.router.add_post("/api/plex/sync", post_sync)
    app.router.add_get("/api/plex/sync/{id}", get_sync)
