"""The HTTP edge: builds the aiohttp application around the shared services."""

from __future__ import annotations

from aiohttp import web

from core.health import HealthState
from core.services.container import Services

SERVICES = web.AppKey("services", Services)
HEALTH = web.AppKey("health", HealthState)


async def healthz(request: web.Request) -> web.Response:
    ok, body = await request.app[HEALTH].report(request.app[SERVICES].pool)
    return web.json_response(body, status=200 if ok else 503)


def create_app(services: Services, health: HealthState) -> web.Application:
    app = web.Application(client_max_size=services.settings.max_body_bytes)
    app[SERVICES] = services
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    return app
