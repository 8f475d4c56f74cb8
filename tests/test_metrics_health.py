"""GET /metrics and GET /healthz over real HTTP: what they say, what they never say, and
503 when the database goes away (a PostgreSQL of the test's own, really stopped)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
from aiohttp import web

from app.runtime import open_services
from core.db.pool import EmbeddedPostgres
from core.health import HealthState
from daemon.app import create_app
from tests.conftest import TEST_KEY, make_settings
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.tmdb import DEFAULT_API_KEY
from tests.harness import Daemon
from tests.plex_payloads import episode, event, scrobble
from tests.processes import free_port


async def test_metrics_expose_counters_and_gauges_and_no_secret(daemon: Daemon) -> None:
    _, secret = await daemon.connect()
    assert (await daemon.post(event("media.pause", episode()), secret)).status_code == 200
    answer = await daemon.post(scrobble(episode()), secret)
    await daemon.settled(answer.json()["id"])
    assert (await daemon.post(scrobble(episode()), "wrong-secret")).status_code == 401

    got = await daemon.http.get(daemon.base_url + "/metrics")

    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    text = got.text
    assert 'plex_tracker_webhooks_total{event="media.pause",status="ignored"} 1.0' in text
    assert 'plex_tracker_webhooks_rejected_total{reason="unauthorized"} 1.0' in text
    assert "plex_tracker_webhook_processing_seconds_bucket" in text
    # The scrobble's show is unknown: a conflict, the scrobble held (still pending) behind it.
    assert "plex_tracker_queue_depth 1.0" in text
    assert "plex_tracker_conflicts_open 1.0" in text
    for leaked in (secret, PLEX_TOKEN, DEFAULT_API_KEY, TEST_KEY):
        assert leaked not in text


async def test_queue_depth_is_read_at_scrape_time(daemon: Daemon) -> None:
    user_id, _ = await daemon.connect()
    await daemon.services.worker.stop()  # nothing drains the queue now
    conn_rows = [(user_id,)] * 3
    pool = daemon.services.pool
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO plex_webhook_logs (user_id, status) VALUES ($1, 'ignored')", conn_rows
        )
        await conn.execute(
            """INSERT INTO plex_webhook_logs (user_id, status, held_by_conflict_id)
               SELECT $1, 'pending', NULL FROM generate_series(1, 7)
               RETURNING id""",
            user_id,
        )
    text = (await daemon.http.get(daemon.base_url + "/metrics")).text
    assert "plex_tracker_queue_depth 7.0" in text


async def test_healthz_reports_components_and_bot_off(daemon: Daemon) -> None:
    daemon.health.components["worker"] = daemon.services.worker.status
    got = await daemon.http.get(daemon.base_url + "/healthz")
    assert got.status_code == 200
    body = got.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["worker"] == "ok"
    assert body["bot"] == "off"  # no bot registered: off, and that is healthy

    daemon.health.components["bot"] = lambda: "disconnected"
    got = await daemon.http.get(daemon.base_url + "/healthz")
    assert got.status_code == 200 and got.json()["bot"] == "disconnected"

    daemon.health.components["worker"] = lambda: "dead"
    got = await daemon.http.get(daemon.base_url + "/healthz")
    assert got.status_code == 503 and got.json()["status"] == "unavailable"


async def test_draining_healthz_is_503_but_webhooks_are_still_stored(daemon: Daemon) -> None:
    """Draining tells the load balancer to move away; Plex does not retry, so a webhook that
    still arrives meanwhile is stored and answered 200 (issue 10, item 18)."""
    _, secret = await daemon.connect()
    daemon.health.draining = True
    got = await daemon.http.get(daemon.base_url + "/healthz")
    assert got.status_code == 503 and got.json()["status"] == "draining"
    hook = await daemon.post(scrobble(episode()), secret)
    assert hook.status_code == 200, hook.text
    rows = await daemon.fetch("SELECT id, status FROM plex_webhook_logs")
    assert [r["id"] for r in rows] == [hook.json()["id"]]


async def test_healthz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    # A server of our own (not the shared one), really stopped mid-test. Its directory is
    # outside pytest's tmp tree: the server runs as another user and must reach it.
    with tempfile.TemporaryDirectory(prefix="plex-tracker-down-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        dsn = await embedded.start()
        try:
            settings = make_settings(dsn, tmp_path)
            async with open_services(settings) as services:
                runner = web.AppRunner(create_app(services, HealthState()), access_log=None)
                await runner.setup()
                port = free_port()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                base = f"http://127.0.0.1:{port}"
                try:
                    async with httpx.AsyncClient(timeout=10) as http:
                        up = await http.get(base + "/healthz")
                        assert up.status_code == 200
                        await embedded.stop()
                        down = await http.get(base + "/healthz")
                        scrape = await http.get(base + "/metrics")
                        hook = await http.post(
                            base + "/api/plex/webhook?secret=x",
                            content=b"{}",
                            headers={"Content-Type": "application/json"},
                        )
                        api = await http.get(
                            base + "/api/plex/config",
                            headers={"Authorization": "Bearer ptk_" + "0" * 40},
                        )
                        rejected = services.metrics.registry.get_sample_value(
                            "plex_tracker_webhooks_rejected_total", {"reason": "database_down"}
                        )
                finally:
                    await runner.cleanup()
        finally:
            await embedded.stop()
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable" and body["database"]["status"] == "down"
    # Metrics still answer (last known gauges); webhooks get a retryable 503, not a 500.
    assert scrape.status_code == 200 and "plex_tracker_queue_depth" in scrape.text
    assert hook.status_code == 503
    # The API is down too, but only the webhook counts as a rejected (lost) webhook.
    assert api.status_code == 503
    assert rejected == 1
