"""What /healthz reports: the database, plus whatever components the runtime registers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from core.db.pool import Pool


@dataclass
class HealthState:
    """Shared by the runtime (which registers components) and the HTTP edge (which reports)."""

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
        except (TimeoutError, OSError, Exception) as exc:  # any failure means "down"
            database = {"status": "down", "error": type(exc).__name__}
            db_ok = False
        body: dict[str, object] = {
            "status": "ok" if db_ok and not self.draining else "unavailable",
            "database": database,
            "draining": self.draining,
        }
        for name, probe in self.components.items():
            body[name] = probe()
        return db_ok and not self.draining, body
