"""The HTTP edge: builds the aiohttp application around the shared services."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from core.db.pool import DATABASE_DOWN
from core.errors import ConflictStateError, DomainError, ForbiddenError, NotFoundError
from core.health import HealthState
from core.services.container import Services
from daemon.api import setup_api
from daemon.api_sync import setup_sync_api
from daemon.keys import HEALTH, LIMITER, SERVICES
from daemon.metrics import setup_metrics
from daemon.ratelimit import RateLimiter
from daemon.webhook import plex_webhook

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become their status with a message; nothing else leaks a trace."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except NotFoundError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except ForbiddenError as exc:
        return web.json_response({"error": str(exc)}, status=403)
    except ConflictStateError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    except DomainError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except DATABASE_DOWN as exc:
        request.app[SERVICES].metrics.webhooks_rejected.labels(reason="database_down").inc()
        log.warning(
            "%s %s: database unavailable (%s)", request.method, request.path, type(exc).__name__
        )
        return web.json_response({"error": "database unavailable, try again"}, status=503)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


async def healthz(request: web.Request) -> web.Response:
    ok, body = await request.app[HEALTH].report(request.app[SERVICES].pool)
    return web.json_response(body, status=200 if ok else 503)


def create_app(services: Services, health: HealthState) -> web.Application:
    # Bodies are streamed and limited by the webhook handler itself; this caps the rest.
    app = web.Application(
        client_max_size=services.settings.max_body_bytes, middlewares=[errors_middleware]
    )
    app[SERVICES] = services
    app[HEALTH] = health
    app[LIMITER] = RateLimiter(services.settings.plex_rate_limit)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/plex/webhook", plex_webhook)
    setup_metrics(app)
    setup_api(app)
    setup_sync_api(app)
    return app
