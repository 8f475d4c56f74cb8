"""Bearer tokens for the JSON API: shown once when made, kept only as their SHA-256."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from core.crypto import constant_time_equal, sha256_hex
from core.db import api_tokens, users
from core.db.pool import Pool
from core.db.users import User
from core.errors import NotFoundError

log = logging.getLogger(__name__)

PREFIX = "ptk_"  # recognisable in a leaked config file or a secret scanner


@dataclass(frozen=True)
class NewToken:
    id: int
    user_id: int
    token: str  # the only time the plain token exists outside its owner's hands


class ApiTokenService:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def create(self, user_id: int) -> NewToken:
        token = PREFIX + secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            if await users.by_id(conn, user_id) is None:
                raise NotFoundError(f"no user with id {user_id}")
            row = await api_tokens.insert(conn, user_id, sha256_hex(token))
        log.info("user %d: API token %d created", user_id, row.id)
        return NewToken(id=row.id, user_id=user_id, token=token)

    async def authenticate(self, token: str) -> User | None:
        """The user a bearer token belongs to, or None. Looked up by hash (timing says
        nothing about the token), then the hash compared in constant time."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        digest = sha256_hex(token)
        async with self._pool.acquire() as conn:
            row = await api_tokens.by_hash(conn, digest)
            if row is None or not constant_time_equal(row.token_hash, digest):
                return None
            await api_tokens.touch(conn, row.id)
            return await users.by_id(conn, row.user_id)

    async def revoke(self, user_id: int, token_id: int) -> None:
        async with self._pool.acquire() as conn:
            if not await api_tokens.delete(conn, user_id, token_id):
                raise NotFoundError(f"no API token {token_id} for this user")
        log.info("user %d: API token %d revoked", user_id, token_id)
