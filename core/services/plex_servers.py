"""Finding a user's Plex Media Server: an address that answers, and the token to use there.

The user may give the address (`connect --server-url`). Otherwise plex.tv lists the
server's connections (a webhook names the server by `Server.uuid`): usually a LAN address,
a public one and plex.tv's relay. Seen from where plex-tracker runs, any of them may be
dead, so all are probed at once (`GET /identity`: no token is sent, and the answer must
come from that very server) and the best that answered is used: local, then remote, then
relay. It is remembered (in memory; for an owned server in plex_config too) and looked for
again when a call to it cannot connect. An address that did not answer is never stored.

When nothing answers, calls fail with ServerUnreachable: retryable, and its message says
what to do. The user's server problem is recorded once per outage (plex_server_problems):
`ServerLocator.problem` is what status, doctor and /plex status read, and the bot tells the
user once (an outbox notification keyed by the problem). It is closed by the next call the
server answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from core.clients.errors import RateLimited, UpstreamError
from core.clients.plex_server import PlexServerClient
from core.clients.plextv import PlexResource, PlexTvClient
from core.crypto import Cipher
from core.db import outbox, plex_config, server_problems, webhook_logs
from core.db.plex_config import PlexConfig, token_slot
from core.db.pool import Conn, Pool
from core.db.server_problems import ServerProblem

log = logging.getLogger(__name__)

T = TypeVar("T")
Source = Literal["configured", "remembered", "discovered"]


@dataclass(frozen=True)
class ServerAddress:
    """Where to reach a user's server, and with which token (for a server shared with
    the user, plex.tv's per-server token, not the account's)."""

    url: str
    token: str = field(repr=False)
    server_uuid: str | None
    source: Source  # the user's --server-url, stored from an earlier discovery, or just found


class ServerUnreachable(UpstreamError):
    """No address of the user's Plex server answered. Retryable; the message says what to
    do and names the address(es) tried, never a token."""

    def __init__(self, message: str, *, address: str | None) -> None:
        super().__init__(message, service="plex_server", retryable=True)
        self.address = address


def display(url: str) -> str:
    """scheme://host:port of an address: what messages and the problem row may show."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a bad port or IPv6 literal stored by hand: show none of it
        return "(a server URL that can't be read)"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def cannot_connect(exc: UpstreamError) -> bool:
    """A call failed before any HTTP answer (timeout, refused, no route): the address is
    the problem. An HTTP error means the server answered, which is another matter."""
    return exc.retryable and exc.status is None and not isinstance(exc, RateLimited)


@dataclass(frozen=True)
class _Remembered:
    address: ServerAddress
    basis: tuple[str | None, str | None]  # (server_url, encrypted token) it was found for


class ServerLocator:
    def __init__(
        self,
        *,
        pool: Pool,
        plextv: PlexTvClient,
        plex_server: PlexServerClient,
        cipher: Cipher,
    ) -> None:
        self._pool = pool
        self._plextv = plextv
        self._plex_server = plex_server
        self._cipher = cipher
        self._known: dict[int, _Remembered] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    # -- what the edges read ----------------------------------------------------------------

    async def problem(self, user_id: int) -> ServerProblem | None:
        """The user's current Plex server problem (what did not answer, since when, and
        what to do), or None when the last call to the server worked."""
        async with self._pool.acquire() as conn:
            return await server_problems.current(conn, user_id)

    def forget(self, user_id: int) -> None:
        """Drop the remembered address (the next call finds the server again)."""
        self._known.pop(user_id, None)

    # -- reaching the server ------------------------------------------------------------------

    async def call(
        self,
        conn: Conn,
        user_id: int,
        config: PlexConfig,
        server_uuid: str | None,
        request: Callable[[ServerAddress], Awaitable[T]],
    ) -> T | None:
        """`request(address)` against the user's server, found as above. When it cannot
        connect, the server is looked for again (once) and the request repeated there.
        None when there is nothing to go on: no token, or no address and no server id.
        Raises ServerUnreachable (and records the user's server problem) when no address
        answers; other UpstreamErrors (401, 404, 5xx) pass through as they are."""
        try:
            address = await self.locate(conn, user_id, config, server_uuid)
            if address is None:
                return None
            try:
                result = await request(address)
            except UpstreamError as exc:
                if not cannot_connect(exc):
                    raise
                address = await self._relocate(conn, user_id, config, address, exc)
                try:
                    result = await request(address)
                except UpstreamError as again:
                    if not cannot_connect(again):
                        raise
                    self.forget(user_id)
                    raise self._unreachable(address.url, again, address.source) from None
        except ServerUnreachable as exc:
            await self._record_problem(conn, user_id, exc)
            raise
        if await server_problems.resolve(conn, user_id):
            # What failed meanwhile goes again now, also what ran out of retries: the outage
            # is over, and Plex won't send those scrobbles again.
            requeued = await webhook_logs.requeue_unreachable(conn, user_id)
            log.info(
                "user %d: Plex server answers again at %s; %d scrobbles re-queued",
                user_id,
                display(address.url),
                requeued,
            )
        return result

    async def locate(
        self, conn: Conn, user_id: int, config: PlexConfig, server_uuid: str | None = None
    ) -> ServerAddress | None:
        """An address of the user's server, without calling it when one is known: the
        remembered one, the user's --server-url, the one stored from an earlier discovery,
        else found through plex.tv (probing every connection). None when there is nothing
        to go on; ServerUnreachable when plex.tv lists the server but nothing answers."""
        if config.plex_token is None:
            return None
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            known = self._remembered(user_id, config, server_uuid)
            if known is not None:
                return known
            token = self._cipher.decrypt(config.plex_token, token_slot(user_id))
            uuid = server_uuid or config.server_uuid or config.discovered_server_uuid
            address: ServerAddress | None
            if config.server_url:
                address = ServerAddress(config.server_url, token, uuid, "configured")
            elif config.discovered_server_url and uuid == config.discovered_server_uuid:
                address = ServerAddress(config.discovered_server_url, token, uuid, "remembered")
            else:
                address = await self._discover(conn, user_id, token, uuid, skip=())
            if address is not None:
                self._remember(user_id, config, address)
            return address

    def _remembered(
        self, user_id: int, config: PlexConfig, server_uuid: str | None
    ) -> ServerAddress | None:
        known = self._known.get(user_id)
        if known is None or known.basis != (config.server_url, config.plex_token):
            return None  # never found, or the user changed their token or server URL
        found = known.address.server_uuid
        if server_uuid and found and server_uuid != found:
            return None  # a webhook from another of the user's servers
        return known.address

    def _remember(self, user_id: int, config: PlexConfig, address: ServerAddress) -> None:
        self._known[user_id] = _Remembered(address, (config.server_url, config.plex_token))

    async def _relocate(
        self,
        conn: Conn,
        user_id: int,
        config: PlexConfig,
        failed: ServerAddress,
        exc: UpstreamError,
    ) -> ServerAddress:
        """The address stopped answering: find the server again, elsewhere."""
        log.warning(
            "user %d: Plex server at %s (%s) does not answer: %s",
            user_id,
            display(failed.url),
            failed.source,
            exc.message,
        )
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            known = self._remembered(user_id, config, failed.server_uuid)
            if known is not None and known.url != failed.url:
                return known  # another task found it elsewhere meanwhile
            self.forget(user_id)
            if failed.source != "configured":
                await plex_config.forget_discovered(conn, user_id, failed.url)
            uuid = failed.server_uuid or config.discovered_server_uuid
            if uuid is None:
                # A --server-url and no server id to look up on plex.tv: nothing else to try.
                raise self._unreachable(failed.url, exc, failed.source)
            token = self._cipher.decrypt(config.plex_token or "", token_slot(user_id))
            found = await self._discover(conn, user_id, token, uuid, skip=(failed.url,))
            if found is None:
                raise self._unreachable(failed.url, exc, failed.source)
            self._remember(user_id, config, found)
            return found

    async def _discover(
        self,
        conn: Conn,
        user_id: int,
        token: str,
        server_uuid: str | None,
        *,
        skip: tuple[str, ...],
    ) -> ServerAddress | None:
        """Ask plex.tv for the server's connections and probe them all at once. With no
        server id, the account's only owned server is the one (history sync, doctor)."""
        try:
            resource = await self._resource(token, server_uuid)
        except UpstreamError as exc:
            if not cannot_connect(exc):
                raise
            # The server is found through plex.tv; said with the way round it.
            raise UpstreamError(
                f"cannot look the Plex server up on plex.tv ({exc.message}): set --server-url "
                "to the server's address, or let this machine reach plex.tv",
                service=exc.service,
                retryable=True,
            ) from None
        if resource is None:
            log.warning(
                "user %d: Plex server %s is not among this token's servers on plex.tv; "
                "set its address with --server-url",
                user_id,
                server_uuid or "(no server id)",
            )
            return None
        uris = [u for u in resource.preferred_uris() if u not in skip]
        answers = await asyncio.gather(*(self._answers(u, resource) for u in uris))
        working = [u for u, ok in zip(uris, answers, strict=True) if ok]
        if not working:
            tried = [*skip, *uris]
            raise ServerUnreachable(
                f"Plex server {resource.name!r} did not answer at any of its addresses "
                f"({', '.join(display(u) for u in tried) or 'plex.tv lists none'}): set "
                f"--server-url to an address this machine can reach, or make "
                f"{display(tried[0]) if tried else 'one of them'} reachable",
                address=display(tried[0]) if tried else None,
            )
        url = working[0]  # the first in order of preference that answered
        server_token = resource.access_token or token
        log.info(
            "user %d: Plex server %r answers at %s (%d of %d addresses answered)",
            user_id,
            resource.name,
            display(url),
            len(working),
            len(uris),
        )
        if resource.owned and server_token == token:
            # Only what answered is stored, and only when the account token is the one to
            # use there (a shared server's own token is a secret we don't keep).
            await plex_config.remember_discovered(
                conn, user_id, url=url, server_uuid=resource.client_identifier
            )
        return ServerAddress(url, server_token, resource.client_identifier, "discovered")

    async def _resource(self, token: str, server_uuid: str | None) -> PlexResource | None:
        servers = [r for r in await self._plextv.resources(token) if r.is_server]
        if server_uuid is not None:
            return next((r for r in servers if r.client_identifier == server_uuid), None)
        owned = [r for r in servers if r.owned]
        return owned[0] if len(owned) == 1 else None

    async def _answers(self, url: str, resource: PlexResource) -> bool:
        try:
            found = await self._plex_server.identity(url)
        except UpstreamError as exc:
            log.debug("probe of %s: %s", display(url), exc.message)
            return False
        return found == resource.client_identifier

    @staticmethod
    def _unreachable(url: str, exc: UpstreamError, source: Source) -> ServerUnreachable:
        shown = display(url)
        if source == "configured":
            advice = f"make {shown} reachable from this machine, or set --server-url to one that is"
        else:
            advice = (
                f"set --server-url to an address this machine can reach, or make {shown} reachable"
            )
        return ServerUnreachable(
            f"Plex server at {shown} did not answer ({exc.message}): {advice}", address=shown
        )

    async def _record_problem(self, conn: Conn, user_id: int, exc: ServerUnreachable) -> None:
        problem, new = await server_problems.open_or_touch(
            conn, user_id, address=exc.address, message=exc.message
        )
        if new:
            # Told once per outage: the notification is keyed by the problem's id.
            await outbox.enqueue(conn, user_id=user_id, kind="server_problem", ref_id=problem.id)
            log.warning("user %d: Plex server unreachable: %s", user_id, exc.message)
