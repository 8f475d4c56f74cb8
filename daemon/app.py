"""The HTTP edge: builds the aiohttp application around the shared services."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from core.db import plex_config
from core.db.pool import DATABASE_DOWN
from core.errors import ConflictStateError, DomainError, ForbiddenError, NotFoundError
from core.health import HealthState
from core.services.container import Services
from daemon.api import BodyTimeoutError, setup_api
from daemon.api_sync import setup_sync_api
from daemon.api_tv import setup_tv_api
from daemon.keys import HEALTH, LIMITS, SERVICES
from daemon.metrics import setup_metrics
from daemon.openapi import setup_openapi
from daemon.ratelimit import KnownSecrets, WebhookLimits
from daemon.webhook import plex_webhook

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/plex/webhook"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become their status with a message; nothing else leaks a trace."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        # aiohttp's own refusals (no such route, method not allowed, body too large) in
        # the same JSON shape as every other error, keeping headers such as Allow.
        keep = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return web.json_response({"error": exc.reason.lower()}, status=exc.status, headers=keep)
    except BodyTimeoutError as exc:
        # As the webhook does: what did arrive is unusable, and the connection is not reused.
        answer = web.json_response({"error": str(exc)}, status=408)
        answer.force_close()
        return answer
    except NotFoundError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except ForbiddenError as exc:
        return web.json_response({"error": str(exc)}, status=403)
    except ConflictStateError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    except DomainError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except DATABASE_DOWN as exc:
        services = request.app[SERVICES]
        # The rejected-webhooks counter is what users watch for lost scrobbles (Plex doesn't
        # retry): only the webhook route counts in it, not API calls during the outage.
        webhook = request.path == WEBHOOK_PATH
        if services.pool.is_closing():  # the pool closed under this request: shutting down
            if webhook:
                services.metrics.webhooks_rejected.labels(reason="shutting_down").inc()
            return web.json_response({"error": "shutting down"}, status=503)
        if webhook:
            services.metrics.webhooks_rejected.labels(reason="database_down").inc()
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


def webhook_limits(services: Services) -> WebhookLimits:
    async def load() -> frozenset[str]:
        async with services.pool.acquire() as conn:
            return await plex_config.secret_hashes(conn)

    return WebhookLimits(
        per_minute=services.settings.plex_rate_limit, known_secrets=KnownSecrets(load)
    )


def create_runner(services: Services, health: HealthState) -> web.AppRunner:
    """The application with the server options the edge relies on.

    aiohttp's keep-alive timer runs from the moment a connection opens (3.14.4+) and closes
    it if no complete request head has arrived when it fires: that bounds idle
    connections and headers sent slowly. Bodies are bounded by the handlers that read them.
    """
    return web.AppRunner(
        create_app(services, health),
        access_log=None,
        shutdown_timeout=5,
        keepalive_timeout=services.settings.http_header_timeout,
    )


def create_app(services: Services, health: HealthState) -> web.Application:
    # Bodies are streamed and limited by the webhook handler itself; this caps the rest.
    app = web.Application(
        client_max_size=services.settings.max_body_bytes, middlewares=[errors_middleware]
    )
    app[SERVICES] = services
    app[HEALTH] = health
    app[LIMITS] = webhook_limits(services)
    app.router.add_get("/healthz", healthz)
    app.router.add_post(WEBHOOK_PATH, plex_webhook)
    setup_metrics(app)
    setup_api(app)
    setup_sync_api(app)
    setup_tv_api(app)
    setup_openapi(app)
    return app
