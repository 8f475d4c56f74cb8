"""Users, their Plex connection and webhook secret."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.clients.plex_server import normalise_server_url
from core.crypto import (
    Cipher,
    CryptoError,
    Slot,
    constant_time_equal,
    new_webhook_secret,
    sha256_hex,
)
from core.db import outbox, plex_config, users
from core.db.plex_config import PlexConfig, secret_slot, token_slot
from core.db.pool import Pool
from core.db.users import User
from core.errors import InvalidInputError, NotFoundError
from core.settings import Settings

if TYPE_CHECKING:
    from core.clients.plextv import PlexTvClient

log = logging.getLogger(__name__)

OWNER_CACHE_SECONDS = 5.0


def checked_server_url(value: str) -> str:
    """A Plex server address as it is stored, checked here once for every edge (CLI, API,
    Discord) so a malformed one never reaches the calls made with it: http(s), a host, a
    port that parses; without credentials, query or fragment (a pasted `?X-Plex-Token=…`
    must not be kept in the clear)."""
    try:
        if any(c.isspace() for c in value.strip()):
            raise ValueError("contains spaces")
        return normalise_server_url(value)
    except ValueError as exc:
        raise InvalidInputError(
            f"the server URL {exc}: it must look like http://192.168.1.10:32400 "
            "(http:// or https://, a host, and a port from 1 to 65535 if given)"
        ) from None


@dataclass(frozen=True)
class Connection:
    user: User
    created_user: bool
    webhook_url: str
    rotated_secret: bool
    plex_username: str | None
    verified: bool
    warning: str | None = None


@dataclass(frozen=True)
class WebhookOwner:
    """What the webhook edge needs about the user a secret belongs to."""

    user_id: int
    config: PlexConfig


class AccountService:
    def __init__(
        self, *, pool: Pool, cipher: Cipher, settings: Settings, plextv: PlexTvClient | None
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._settings = settings
        self._plextv = plextv
        self._owners: dict[str, tuple[float, WebhookOwner]] = {}
        # Bumped by every forget_owners(): a lookup that read the database before a change
        # committed must not store what it read after the cache was cleared.
        self._owners_generation = 0

    async def connect(
        self,
        *,
        user_name: str | None = None,
        user: User | None = None,
        plex_token: str,
        server_url: str | None = None,
        accounts: list[str] | None = None,
        rotate_secret: bool = False,
        verify: bool = True,
    ) -> Connection:
        """Store the token encrypted and make sure a webhook secret exists; returns the URL."""
        token = plex_token.strip()
        if not token or any(c.isspace() for c in token):
            raise InvalidInputError("the Plex token is empty or contains spaces")
        if server_url is not None:
            server_url = checked_server_url(server_url)
        account_id, username, verified, unchecked = None, None, False, None
        if verify and self._plextv is not None:
            from core.clients.errors import Unauthorized, UpstreamError

            try:
                account = await self._plextv.account(token)
                account_id, username, verified = account.id, account.username, True
            except Unauthorized:
                raise InvalidInputError(
                    "plex.tv refused this token (401): check it and try again"
                ) from None
            except UpstreamError as exc:
                unchecked = exc.message
                # INFO: the caller shows the warning built below (CLI, Discord).
                log.info("token check skipped: %s", exc)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if user is None:
                    if not user_name:
                        raise InvalidInputError("a user name is required")
                    user, created = await users.get_or_create(conn, user_name)
                else:
                    created = False
                config = await plex_config.ensure(conn, user.id)
                await plex_config.set_token(
                    conn,
                    user.id,
                    encrypted_token=self._cipher.encrypt(token, token_slot(user.id)),
                    account_id=account_id,
                    username=username,
                )
                await plex_config.update_settings(
                    conn,
                    user.id,
                    server_url=server_url,
                    followed_accounts=accounts,
                    enabled=True,
                )
                rotated = rotate_secret or config.webhook_secret is None
                if rotated:
                    secret = new_webhook_secret()
                    await plex_config.set_secret(
                        conn,
                        user.id,
                        encrypted_secret=self._cipher.encrypt(secret, secret_slot(user.id)),
                        secret_hash=sha256_hex(secret),
                    )
                else:
                    assert config.webhook_secret is not None
                    secret = self._cipher.decrypt(config.webhook_secret, secret_slot(user.id))
        finally:
            self.forget_owners()  # after the commit: see owner_of_secret
        warning = None
        if unchecked is not None:
            warning = f"could not check the token with plex.tv ({unchecked}); stored it unchecked"
            if not (accounts or config.followed_accounts or config.plex_account_id):
                warning += (
                    ": until it is checked every Plex account's watches count. Connect again "
                    "once plex.tv answers, or choose the accounts to follow"
                )
        log.info("user %s connected Plex (new user: %s, new secret: %s)", user.id, created, rotated)
        return Connection(
            user=user,
            created_user=created,
            webhook_url=self._settings.webhook_url(secret),
            rotated_secret=rotated,
            plex_username=username,
            verified=verified,
            warning=warning,
        )

    async def rotate_secret(self, user_id: int) -> str:
        secret = new_webhook_secret()
        try:
            async with self._pool.acquire() as conn:
                if await plex_config.get(conn, user_id) is None:
                    raise NotFoundError("Plex is not connected for this user")
                await plex_config.set_secret(
                    conn,
                    user_id,
                    encrypted_secret=self._cipher.encrypt(secret, secret_slot(user_id)),
                    secret_hash=sha256_hex(secret),
                )
        finally:
            self.forget_owners()
        log.info("user %s rotated the webhook secret", user_id)
        return self._settings.webhook_url(secret)

    async def webhook_url(self, user_id: int) -> str:
        async with self._pool.acquire() as conn:
            config = await plex_config.get(conn, user_id)
        if config is None or config.webhook_secret is None:
            raise NotFoundError("Plex is not connected for this user: connect first")
        return self._settings.webhook_url(
            self._cipher.decrypt(config.webhook_secret, secret_slot(user_id))
        )

    async def owner_of_secret(self, secret: str) -> WebhookOwner | None:
        """The user a webhook secret belongs to. The lookup is by SHA-256, so timing says
        nothing about how much of a guess was right; the stored hash is then compared in
        constant time as well.

        Known secrets are remembered for OWNER_CACHE_SECONDS: a busy Plex server then costs
        one database round trip per webhook, not two. Changes made through this service
        clear it once they are committed; another process's changes show within those
        seconds. A lookup that overlapped a change does not store what it read, which may
        be the old row."""
        digest = sha256_hex(secret)
        now = time.monotonic()
        cached = self._owners.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._owners_generation
        async with self._pool.acquire() as conn:
            config = await plex_config.by_secret_hash(conn, digest)
        if config is None or config.webhook_secret_hash is None:
            return None
        if not constant_time_equal(config.webhook_secret_hash, digest):
            return None
        owner = WebhookOwner(user_id=config.user_id, config=config)
        if generation != self._owners_generation:
            return owner  # a change committed while we read: answer, but don't remember
        if len(self._owners) >= 1024:
            self._owners.clear()
        self._owners[digest] = (now + OWNER_CACHE_SECONDS, owner)
        return owner

    def forget_owners(self) -> None:
        """Drop remembered secrets. Called once a change to a connection or its settings has
        committed: clearing before the write would let a lookup in between re-remember the
        old row for OWNER_CACHE_SECONDS (an old secret would keep working)."""
        self._owners_generation += 1
        self._owners.clear()

    async def plex_token(self, config: PlexConfig) -> str | None:
        if config.plex_token is None:
            return None
        return self._cipher.decrypt(config.plex_token, token_slot(config.user_id))

    async def config(self, user_id: int) -> PlexConfig:
        async with self._pool.acquire() as conn:
            config = await plex_config.get(conn, user_id)
        if config is None:
            raise NotFoundError("Plex is not connected for this user: connect first")
        return config

    async def update_settings(self, user_id: int, **changes: object) -> PlexConfig:
        """Change what is given. Choosing where notifications go (a channel, or DMs again)
        also gives the ones Discord refused another try: that is how a user says "fixed"."""
        if isinstance(url := changes.get("server_url"), str):
            changes["server_url"] = checked_server_url(url)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                config = await plex_config.update_settings(conn, user_id, **changes)  # type: ignore[arg-type]
                if changes.get("notify_channel_id") is not None or changes.get(
                    "clear_notify_channel"
                ):
                    await outbox.rearm_refused(conn, user_id)
                return config
        except LookupError:
            raise NotFoundError("Plex is not connected for this user: connect first") from None
        finally:
            self.forget_owners()  # after the write, never before: see forget_owners

    async def disconnect(self, user_id: int) -> bool:
        try:
            async with self._pool.acquire() as conn:
                done = await plex_config.disconnect(conn, user_id)
        finally:
            self.forget_owners()
        log.info("user %s disconnected Plex", user_id)
        return done

    async def user_by_name(self, name: str) -> User:
        async with self._pool.acquire() as conn:
            user = await users.by_name(conn, name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        return user

    async def user_for_discord(self, discord_id: int, name: str) -> User:
        async with self._pool.acquire() as conn:
            return await users.get_or_create_for_discord(conn, discord_id, name)

    async def rekey(self) -> int:
        """Re-encrypt every stored secret with the current key, bound to its row and column;
        returns rows changed. A value no key opens stops it (nothing is changed)."""
        changed = await self._rewrite(only_unbound=False)
        log.info("re-encrypted the secrets of %d users with the current key", changed)
        return changed

    async def bind_stored_secrets(self) -> int:
        """At start-up: rewrite values still in the seed's unbound form (written before
        ciphertexts were bound to their place) in the bound form. Values no key opens are
        left as they are, with a warning: start-up goes on and `rekey` reports them."""
        changed = await self._rewrite(only_unbound=True)
        if changed:
            log.info("bound the stored secrets of %d users to their rows", changed)
        return changed

    async def _rewrite(self, *, only_unbound: bool) -> int:
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await plex_config.all_encrypted(conn, only_unbound=only_unbound)
            for user_id, token, secret in rows:
                try:
                    new_token = self._reseal(token, token_slot(user_id))
                    new_secret = self._reseal(secret, secret_slot(user_id))
                except CryptoError as exc:
                    if not only_unbound:
                        raise
                    log.warning("user %d: stored secrets left as they are: %s", user_id, exc)
                    continue
                await plex_config.replace_encrypted(conn, user_id, new_token, new_secret)
                changed += 1
        return changed

    def _reseal(self, stored: str | None, slot: Slot) -> str | None:
        return (
            None
            if stored is None
            else self._cipher.encrypt(self._cipher.decrypt(stored, slot), slot)
        )
