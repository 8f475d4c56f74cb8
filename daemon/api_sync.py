"""The history sync routes of the JSON API: `POST /api/plex/sync` starts a run (202 with its
id; a run already on its way is returned instead of a second one) and
`GET /api/plex/sync/{id}` reports its state, progress, counts and error. The run itself is
executed by a `plex-tracker run` process's sync poller (core/history/service.py), so the
answer never waits for Plex."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from core.db.sync_runs import SyncRun
from core.errors import InvalidInputError
from daemon.api import _body, _json, _path_id, _user
from daemon.keys import SERVICES


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = False
    since: date | None = None
    dry_run: bool = False


def run_body(run: SyncRun) -> dict[str, Any]:
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
        "skipped": run.skipped,
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


def setup_sync_api(app: web.Application) -> None:
    app.router.add_post("/api/plex/sync", post_sync)
    app.router.add_get("/api/plex/sync/{id}", get_sync)
