"""What /healthz reports: the database, plus whatever components the runtime registers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from core.db.pool import Pool

# Components whose failure makes this process unfit to serve: a load balancer or an
# orchestrator should take it out (or restart it). A disconnected Discord bot is not one of
# them: webhooks are still taken and processed, and the outbox waits for the bot.
CRITICAL = frozenset({"worker"})


@dataclass
class HealthState:
    """Shared by the runtime (which registers components) and the HTTP edge (which reports).

    A component is a callable returning its status: "ok", or a word saying what is wrong
    ("dead", "stopped", "disconnected", …). An unregistered bot reports "off".
    """

    draining: bool = False
    components: dict[str, Callable[[], str]] = field(default_factory=dict)

    async def report(self, pool: Pool) -> tuple[bool, dict[str, object]]:
        try:
            async with asyncio.timeout(2):
                async with pool.acquire() as conn:
                    version = await conn.fetchval("SHOW server_version")
                    pending = await conn.fetchval(
                        "SELECT count(*) FROM plex_webhook_logs WHERE status = 'pending'"
                    )
            database: dict[str, object] = {
                "status": "ok",
                "server_version": version,
                "pending_webhooks": pending,
            }
            db_ok = True
        except Exception as exc:  # any failure (refused, timed out, starting up) means "down"
            database = {"status": "down", "error": type(exc).__name__}
            db_ok = False
        statuses: dict[str, str] = {}
        for name, probe in self.components.items():
            try:
                statuses[name] = probe()
            except Exception as exc:  # a broken probe is a broken component, not a 500
                statuses[name] = f"error: {type(exc).__name__}"
        statuses.setdefault("bot", "off")
        critical_ok = all(statuses[n] == "ok" for n in CRITICAL if n in statuses)
        healthy = db_ok and critical_ok and not self.draining
        if self.draining:
            overall = "draining"
        elif healthy:
            overall = "ok"
        else:
            overall = "unavailable"
        body: dict[str, object] = {
            "status": overall,
            "database": database,
            "draining": self.draining,
            **statuses,
        }
        return healthy, body
