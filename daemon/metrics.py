"""GET /metrics: Prometheus text from the process's one registry. Gauges that live in the
database (queue depth, open conflicts) are read at scrape time; nothing here is a secret."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.keys import SERVICES

log = logging.getLogger(__name__)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        await services.jobs.refresh_metrics()
    except Exception as exc:
        # The database being down must not hide every other metric: serve the last values.
        log.warning("metrics: gauges not refreshed (%s)", type(exc).__name__)
    body = generate_latest(services.metrics.registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


def setup_metrics(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
