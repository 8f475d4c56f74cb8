"""`plex-tracker doctor` and the problems `/plex status` shows: every dependency checked in
order, one line each, with what to do. The CLI and the bot share these checks.

The Discord probe needs a websocket client, which core does not have: the composition root
hands one in (bot/probe.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from core.clients._http import transport_reason
from core.clients.errors import Unauthorized, UpstreamError
from core.crypto import CryptoError
from core.db import plex_config, users
from core.db.migrations import pending_migrations
from core.db.plex_config import PlexConfig
from core.db.pool import DATABASE_DOWN, Pool
from core.db.users import User
from core.keyfile import KEY_FILE
from core.services.container import Services
from core.services.plex_servers import display
from core.webhook_address import loopback_warning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True  # a failed optional check is a warning: exit status stays 0

    @property
    def line(self) -> str:
        mark = "✓" if self.ok else ("✗" if self.required else "!")
        text = f"{mark} {self.name}: {self.detail}"
        return text + (f"\n    → {self.fix}" if self.fix and not self.ok else "")


Probe = Callable[[], Awaitable[Check]]


async def database_checks(pool: Pool) -> list[Check]:
    """Reachable, migrated, writable (the pool is opened by the caller)."""
    try:
        async with pool.acquire() as conn:
            version = await conn.fetchval("SHOW server_version")
            missing = await pending_migrations(conn)
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE doctor_probe (x int) ON COMMIT DROP")
                await conn.execute("INSERT INTO doctor_probe VALUES (1)")
    except DATABASE_DOWN as exc:
        return [_database_down(exc)]
    except Exception as exc:  # read-only replica, permissions: "not writable"
        return [
            Check("database", True, "reachable"),
            Check(
                "database writable",
                False,
                f"{type(exc).__name__}: {exc}",
                "use a database user that may create and write tables",
            ),
        ]
    migrated = Check(
        "database migrated",
        not missing,
        "all migrations applied" if not missing else f"missing {', '.join(missing)}",
        "run `plex-tracker migrate` (also done when `plex-tracker run` starts)",
    )
    return [
        Check("database", True, f"reachable (PostgreSQL {version})"),
        migrated,
        Check("database writable", True, "a test write succeeded"),
    ]


def _database_down(exc: BaseException) -> Check:
    return Check(
        "database",
        False,
        f"unreachable ({type(exc).__name__}: {exc})",
        "start PostgreSQL or fix DATABASE_URL (unset: the embedded database)",
    )


class Doctor:
    def __init__(
        self, services: Services, *, http: httpx.AsyncClient, discord_probe: Probe | None = None
    ) -> None:
        self._s = services
        self._http = http
        self._discord_probe = discord_probe

    async def everything(self, user_name: str | None = None) -> AsyncIterator[Check]:
        """After settings and database (checked by the caller): in the issue's order."""
        chosen = await self._users(user_name)
        yield await self.encryption(chosen)
        for check in await self.webhook_url():
            yield check
        for user, config in chosen:
            for check in await self.plex_checks(user, config):
                yield check
        yield await self.tmdb()
        yield await self.discord()

    async def user_problems(self, user_id: int) -> list[Check]:
        """What `/plex status` shows a user: the failed checks that are about them."""
        async with self._s.pool.acquire() as conn:
            user = await users.by_id(conn, user_id)
            config = await plex_config.get(conn, user_id)
        if user is None or config is None or config.plex_token is None:
            return []
        checks = [await self.encryption([(user, config)])]
        checks += await self.webhook_url()
        checks += await self.plex_checks(user, config)
        return [c for c in checks if not c.ok]

    async def _users(self, user_name: str | None) -> list[tuple[User, PlexConfig]]:
        if user_name is not None:
            user = await self._s.accounts.user_by_name(user_name)
            async with self._s.pool.acquire() as conn:
                config = await plex_config.get(conn, user.id)
            return [(user, config)] if config and config.plex_token else []
        found = []
        async with self._s.pool.acquire() as conn:
            for each in await users.every(conn):
                config = await plex_config.get(conn, each.id)
                if config and config.plex_token:
                    found.append((each, config))
        return found

    # -- the checks ------------------------------------------------------------------------

    async def encryption(self, chosen: list[tuple[User, PlexConfig]]) -> Check:
        settings = self._s.settings
        source = (
            "ENCRYPTION_KEY"
            if settings.encryption_key
            else f"{settings.data_dir / KEY_FILE} (generated; back it up)"
        )
        bad = []
        for user, config in chosen:
            try:
                await self._s.accounts.plex_token(config)
                await self._s.accounts.webhook_url(user.id)
            except CryptoError:
                bad.append(user.name)
        if bad:
            return Check(
                "encryption key",
                False,
                f"from {source}; cannot decrypt the stored secrets of {', '.join(bad)}",
                "if the key changed, put the old one in ENCRYPTION_KEY_PREVIOUS and run "
                "`plex-tracker rekey`; if a stored value was copied from another row or column "
                "(each only opens where it was written), connect those users again",
            )
        users = _count(len(chosen), "user")
        return Check("encryption key", True, f"from {source}; decrypts the secrets of {users}")

    async def webhook_url(self) -> list[Check]:
        base = self._s.settings.webhook_base()
        try:
            answer = await self._http.post(base, content=b"", timeout=5)
            ours = answer.status_code == 401 and "unauthorized" in answer.text
        except httpx.HTTPError as exc:
            answered = Check(
                "webhook URL answers",
                False,
                f"nothing answers at {base} ({_why(exc)})",
                "start `plex-tracker run`; if it runs, PUBLIC_WEBHOOK_URL or PORT is wrong",
            )
        else:
            answered = Check(
                "webhook URL answers",
                ours,
                f"{base} answers" + ("" if ours else f" {answer.status_code}, not plex-tracker"),
                "another program answers there: fix PUBLIC_WEBHOOK_URL, PORT or the proxy",
            )
        warning = loopback_warning(base)
        reach = Check(
            "webhook URL reachable from other machines",
            warning is None,
            "not loopback" if warning is None else warning,
            "set PUBLIC_WEBHOOK_URL=http://<this machine's LAN address>:<PORT>",
            required=False,
        )
        return [answered, reach]

    async def plex_checks(self, user: User, config: PlexConfig) -> list[Check]:
        try:
            token = await self._s.accounts.plex_token(config)
        except CryptoError:
            token = None
        if not token:
            return []
        return [await self.plex_server(user, config, token), await self.plex_tv(user, token)]

    async def plex_server(self, user: User, config: PlexConfig, token: str) -> Check:
        """Found the way the matcher finds it (the server locator), then its libraries read.
        Required: without it history sync (how a lost webhook still lands) and shows of
        Plex's current agent can't work."""
        name = f"Plex server ({user.name})"
        fix = (
            f"make the server reachable from here, or give its address: `plex-tracker connect "
            f"--user {user.name} --server-url http://<server>:32400` (shows from Plex's "
            "current agent need it)"
        )
        try:
            async with self._s.pool.acquire() as conn:
                address = await self._s.servers.locate(conn, user.id, config)
        except UpstreamError as exc:  # nothing answered: the message says what was tried
            return Check(name, False, exc.message, fix)
        if address is None:
            return Check(name, False, "no server URL, and no server found for this token yet", fix)
        how = {
            "configured": "--server-url",
            "remembered": "found on plex.tv earlier",
            "discovered": "found on plex.tv",
        }[address.source]
        where = f"{display(address.url)} ({how})"
        try:
            answer = await self._http.get(
                f"{address.url.rstrip('/')}/library/sections",
                headers={"X-Plex-Token": address.token, "Accept": "application/json"},
                timeout=5,
            )
        except httpx.HTTPError as exc:
            return Check(name, False, f"{where}: {_why(exc)}", fix)
        if answer.status_code == 401:
            return Check(
                name, False, f"{where} refuses the token (401)",
                f"get a fresh token and run `plex-tracker connect --user {user.name}`",
            )  # fmt: skip
        try:
            answer.raise_for_status()
            sections = answer.json()["MediaContainer"].get("Directory", [])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            not_sections = f"{where}: HTTP {answer.status_code}, not a library list"
            return Check(name, False, not_sections, fix)
        shows = sum(1 for d in sections if d.get("type") == "show")
        detail = f"reachable at {where}; {len(sections)} libraries, {shows} of TV shows"
        problem = await self._s.servers.problem(user.id)
        if problem is not None:  # recorded by the matcher; closed by its next good call
            detail += f" (the matcher last failed to reach it: {problem.message})"
        return Check(name, True, detail)

    async def plex_tv(self, user: User, token: str) -> Check:
        name = f"plex.tv ({user.name})"
        try:
            account = await self._s.plextv.account(token)
        except Unauthorized:
            return Check(
                name,
                False,
                "plex.tv refuses the stored token (401)",
                f"get a fresh token and run `plex-tracker connect --user {user.name}`",
            )
        except UpstreamError as exc:
            return Check(
                name,
                False,
                f"unreachable ({exc})",
                "check this machine's internet access",
                required=False,
            )
        return Check(name, True, f"token belongs to {account.username}")

    async def tmdb(self) -> Check:
        if not self._s.tmdb.configured:
            return Check(
                "TMDB",
                False,
                "TMDB_API_KEY is not set: no auto-add, no ids from TVDB/IMDb, no new episodes",
                "get a free key at themoviedb.org → Settings → API, set TMDB_API_KEY",
                required=False,
            )
        try:
            await self._s.tmdb.search_tv("plex-tracker doctor")
        except Unauthorized:
            return Check(
                "TMDB",
                False,
                "TMDB refuses TMDB_API_KEY (401)",
                "check the key (v3 key or v4 token)",
            )
        except UpstreamError as exc:
            return Check(
                "TMDB", False, f"unreachable ({exc})", "check internet access", required=False
            )
        return Check("TMDB", True, "the key is valid")

    async def discord(self) -> Check:
        settings = self._s.settings
        if not settings.discord_token or not settings.bot_enabled:
            return Check(
                "Discord",
                True,
                "bot off (DISCORD_TOKEN unset or BOT_ENABLED=false)",
                required=False,
            )
        if self._discord_probe is None:
            return Check("Discord", True, "not checked here", required=False)
        return await self._discord_probe()


def _why(exc: httpx.HTTPError) -> str:
    return transport_reason(exc) if isinstance(exc, httpx.TransportError) else type(exc).__name__


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
