"""StatsService (behind /plex status and `plex-tracker status`) against real PostgreSQL."""

from __future__ import annotations

from core.services.container import Services
from core.services.stats import StatsService
from tests.cli import run_cli


async def _seed(services: Services) -> tuple[int, int]:
    """Alice: 20 webhooks of known outcome and timing; Bob: one, which must not leak."""
    alice = await services.accounts.connect(user_name="alice", plex_token="tok-a", verify=False)
    bob = await services.accounts.connect(user_name="bob", plex_token="tok-b", verify=False)
    async with services.pool.acquire() as conn:
        rows = [("success", "marked_watched", ms) for ms in range(10, 170, 10)]  # 16 rows
        rows += [("success", "show_added", 500), ("failed", "episode_unknown", 40)]
        rows += [("ignored", "not_scrobble", 5), ("duplicate", "duplicate_scrobble", 5)]
        for status, action, ms in rows:
            await conn.execute(
                """INSERT INTO plex_webhook_logs (user_id, event_type, status, action_taken,
                       processing_duration_ms) VALUES ($1, 'media.scrobble', $2, $3, $4)""",
                alice.user.id,
                status,
                action,
                ms,
            )
        # Older than the window: counted nowhere but "last webhook" stays the newest.
        await conn.execute(
            """INSERT INTO plex_webhook_logs (user_id, status, processing_duration_ms, created_at)
               VALUES ($1, 'failed', 99999, now() - interval '40 days')""",
            alice.user.id,
        )
        await conn.execute(
            """INSERT INTO plex_webhook_logs (user_id, status, action_taken)
               VALUES ($1, 'success', 'marked_watched')""",
            bob.user.id,
        )
        show = await conn.fetchval(
            """INSERT INTO tvshows (user_id, title, source) VALUES ($1, 'Added', 'plex')
               RETURNING id""",
            alice.user.id,
        )
        for key, conf, manual, sync in [
            ("1", 1.0, False, True),
            ("2", 0.95, False, True),
            ("3", 0.91, False, True),
            ("4", 0.5, False, True),
            ("5", 1.0, True, True),
            ("6", None, True, False),
        ]:
            await conn.execute(
                """INSERT INTO plex_show_mappings (user_id, plex_rating_key, tvshow_id,
                       match_confidence, match_method, manually_confirmed, sync_enabled)
                   VALUES ($1, $2, $3, $4, 'x', $5, $6)""",
                alice.user.id,
                key,
                show if sync else None,
                conf,
                manual,
                sync,
            )
        await conn.execute(
            """INSERT INTO plex_conflicts (user_id, plex_rating_key, plex_title, conflict_type)
               VALUES ($1, '9', 'Unsure', 'no_match')""",
            alice.user.id,
        )
    return alice.user.id, bob.user.id


async def test_stats_for_one_user(services: Services) -> None:
    alice, bob = await _seed(services)
    stats = await StatsService(pool=services.pool).for_user(alice)
    assert stats.state == "connected" and stats.days == 30
    assert stats.counts == {"success": 17, "failed": 1, "ignored": 1, "duplicate": 1, "pending": 0}
    assert stats.total == 20
    assert (stats.episodes_marked, stats.shows_added, stats.open_conflicts) == (17, 1, 1)
    durations = [*range(10, 170, 10), 500, 40, 5, 5]
    assert stats.mean_ms is not None and abs(stats.mean_ms - sum(durations) / 20) < 1e-6
    assert stats.p95_ms is not None and 160 < stats.p95_ms <= 500  # the outlier is the tail
    assert stats.mappings == {
        "exact": 1,
        "high": 1,
        "medium": 1,
        "low": 1,
        "manual": 1,
        "ignored": 1,
    }
    other = await StatsService(pool=services.pool).for_user(bob)
    assert other.total == 1 and other.open_conflicts == 0 and sum(other.mappings.values()) == 0


async def test_cli_status(services: Services, cli_env: dict[str, str]) -> None:
    await _seed(services)
    done = run_cli("status", "--user", "alice", env=cli_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("alice: connected;")
    assert "webhooks, last 30 days: 20" in out and "success" in out
    assert "episodes marked 17 · shows added 1 · open conflicts 1" in out
    assert "mappings: exact 1 · high 1 · medium 1 · low 1 · manual 1 · ignored 1" in out
    assert "bob" not in out
    everyone = run_cli("status", env=cli_env)
    assert everyone.returncode == 0 and "bob: connected" in everyone.stdout
    missing = run_cli("status", "--user", "nobody", env=cli_env)
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr
