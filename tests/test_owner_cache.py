"""The webhook secret → owner cache (core/services/accounts.py) under unlucky timing
(issue 10 #19): a change is never undone by a lookup that ran beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg

from core.db.pool import Pool
from core.services.accounts import AccountService
from core.services.container import Services


async def _connected(accounts: AccountService) -> tuple[int, str]:
    done = await accounts.connect(user_name="alice", plex_token="tok-alice", verify=False)
    return done.user.id, done.webhook_url.rsplit("=", 1)[1]


async def _wait_for_lock_wait(dsn: str, query_prefix: str) -> None:
    """Until a statement starting with `query_prefix` waits on a row lock."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(1000):
            waiting = await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE wait_event_type = 'Lock' AND query LIKE $1""",
                query_prefix + "%",
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {query_prefix!r} ever waited on a lock")
    finally:
        await conn.close()


async def test_a_lookup_during_a_settings_change_does_not_keep_the_old_settings(
    services: Services, clean_db: str
) -> None:
    accounts = services.accounts
    user_id, secret = await _connected(accounts)
    before = await accounts.owner_of_secret(secret)
    assert before is not None and before.config.followed_accounts == ()
    blocker = await asyncpg.connect(clean_db)
    try:
        # Hold Alice's row so the settings write waits: the moment "between" two steps.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT 1 FROM plex_config WHERE user_id = $1 FOR UPDATE", user_id)
        change = asyncio.create_task(accounts.update_settings(user_id, followed_accounts=["bob"]))
        await _wait_for_lock_wait(clean_db, "UPDATE plex_config SET")
        # A webhook arrives now: it reads the row as committed, i.e. still the old one.
        during = await accounts.owner_of_secret(secret)
        assert during is not None and during.config.followed_accounts == ()
        await tx.rollback()
        await change
    finally:
        await blocker.close()
    after = await accounts.owner_of_secret(secret)
    assert after is not None and after.config.followed_accounts == ("bob",)


class _PausingPool:
    """The real pool, with one armed pause right after a connection's work is done (where
    asyncpg resets it on release): the await point between "read the row" and "remember
    it" in owner_of_secret."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.armed = False
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as conn:
            yield conn
            if self.armed:
                self.armed = False
                self.paused.set()
                await self.resume.wait()


async def test_a_lookup_that_read_before_a_rotation_does_not_remember_the_old_secret(
    services: Services,
) -> None:
    pool = _PausingPool(services.pool)
    accounts = AccountService(
        pool=cast(Pool, pool), cipher=services.cipher, settings=services.settings, plextv=None
    )
    user_id, old_secret = await _connected(accounts)
    pool.armed = True
    lookup = asyncio.create_task(accounts.owner_of_secret(old_secret))
    await asyncio.wait_for(pool.paused.wait(), 5)  # it has read the row with the old secret
    new_url = await accounts.rotate_secret(user_id)  # committed, cache forgotten
    pool.resume.set()
    answered = await lookup
    assert answered is not None and answered.user_id == user_id  # it did read before
    # ...but the old secret must stop working at once, not OWNER_CACHE_SECONDS later.
    assert await accounts.owner_of_secret(old_secret) is None
    new_owner = await accounts.owner_of_secret(new_url.rsplit("=", 1)[1])
    assert new_owner is not None and new_owner.user_id == user_id
