"""A local Discord: the REST API (api/v10) and the gateway, over loopback, for tests.

Only what a slash-command bot uses is implemented; everything else answers 404 with a
JSON error naming the route and is recorded in `unknown_routes`, so a gap fails loudly.
"""

# The driving helpers take `timeout=` on purpose: it models Discord's 3 s answer deadline
# and ends in an AssertionError that lists what went wrong, not in a bare cancellation.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from aiohttp import web

from . import models as m
from .gateway import GatewaySession
from .models import (
    JSON,
    FakeChannel,
    FakeRole,
    FakeUser,
    InteractionRecord,
    Outage,
    Overwrite,
    StoredFile,
)
from .validation import (
    DiscordAPIError,
    invalid_form,
    validate_choices,
    validate_message,
    validate_modal,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Discord's own deadline for the first answer to an interaction.
DEFAULT_TIMEOUT = 3.0
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
INTENT_GUILD_MESSAGES = 9
INTENT_DIRECT_MESSAGES = 12
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
ATTACH_FILES = 1 << 15


class ErrorSource(Protocol):
    """Something that can say why waiting is pointless (see logcheck.ErrorLogCapture)."""

    def failure(self) -> str | None: ...


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim and treats
    # anything else (such as "; charset=utf-8", which web.json_response adds) as text.
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


class FakeDiscord:
    """One bot, one application, one guild with a text channel; users added by the test."""

    def __init__(
        self,
        *,
        bot_id: int = 900_000_000_000_000_001,
        bot_name: str = "plex-tracker",
        application_id: int | None = None,
        guild_id: int = 910_000_000_000_000_001,
        guild_name: str = "Test guild",
        channel_id: int = 920_000_000_000_000_001,
        channel_name: str = "general",
        owner_id: int = 930_000_000_000_000_001,
        token: str | None = None,
        bot_permissions: int = m.ALL_PERMISSIONS,
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self.bot_id = bot_id
        self.application_id = application_id if application_id is not None else bot_id
        self.guild_id = guild_id
        self.guild_name = guild_name
        self.channel_id = channel_id
        self.owner_id = owner_id
        # None accepts any token; a string makes login and IDENTIFY check it.
        self.token = token
        self.bot_permissions = bot_permissions
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.snowflake = m.SnowflakeFactory()

        self.users: dict[int, FakeUser] = {}
        self.roles: dict[int, FakeRole] = {
            guild_id: FakeRole(guild_id, "@everyone", m.EVERYONE_PERMISSIONS)
        }
        self.channels: dict[int, FakeChannel] = {}
        self.bot_user = self.add_user(bot_id, bot_name, bot=True)
        self.add_user(owner_id, "owner")
        self.add_text_channel(channel_id, channel_name)

        # What the client did.
        self.messages: dict[int, list[JSON]] = {}  # channel id -> messages, oldest first
        self.deleted_messages: list[JSON] = []
        self.edits: list[JSON] = []  # {"message_id", "channel_id", "route", "payload"}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.command_syncs: list[int | None] = []  # guild id, or None for global
        self.interactions: dict[int, InteractionRecord] = {}
        self.files: dict[int, StoredFile] = {}
        self.reactions: list[JSON] = []
        self.requests: list[str] = []  # "METHOD /path" of every HTTP request
        self.unknown_routes: list[str] = []
        self.server_errors: list[str] = []
        self.rejections: list[str] = []  # 4xx answers given on purpose
        self.outages: list[Outage] = []
        self.outage_hits: list[str] = []  # "METHOD /path -> status" failed by an outage

        self.sessions: list[GatewaySession] = []
        self._by_token: dict[str, InteractionRecord] = {}
        self._messages_by_id: dict[int, JSON] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._error_sources: list[ErrorSource] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ setup

    def add_user(
        self,
        user_id: int,
        name: str,
        *,
        global_name: str | None = None,
        nick: str | None = None,
        roles: Sequence[int] = (),
        bot: bool = False,
        in_guild: bool = True,
    ) -> FakeUser:
        for role_id in roles:
            if role_id not in self.roles:
                raise ValueError(f"unknown role {role_id}; add_role() it first")
        user = FakeUser(
            user_id,
            name,
            bot=bot,
            global_name=global_name,
            nick=nick,
            role_ids=list(roles),
            in_guild=in_guild,
        )
        self.users[user_id] = user
        return user

    def add_role(self, role_id: int, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(role_id, name, permissions, position=len(self.roles))
        self.roles[role_id] = role
        return role

    def add_text_channel(self, channel_id: int, name: str) -> FakeChannel:
        channel = FakeChannel(channel_id, name, guild_id=self.guild_id, position=len(self.channels))
        self.channels[channel_id] = channel
        return channel

    async def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        member: bool = False,
        allow: int = 0,
        deny: int = 0,
    ) -> None:
        """Set a channel's permission overwrite for a role (the guild id is @everyone) or,
        with `member`, a user; connected clients get CHANNEL_UPDATE, as from Discord."""
        channel = self.channels[channel_id]
        channel.overwrites = [o for o in channel.overwrites if o.target_id != target_id]
        channel.overwrites.append(Overwrite(target_id, member, allow, deny))
        await self._to_sessions("CHANNEL_UPDATE", self.channel_payload(channel))

    async def remove_channel(self, channel_id: int) -> None:
        """Someone deletes a guild channel: REST answers 404 for it from now on."""
        channel = self.channels.pop(channel_id)
        await self._to_sessions("CHANNEL_DELETE", self.channel_payload(channel))

    async def _to_sessions(self, event: str, data: JSON) -> None:
        for session in self.sessions:
            if session.identified and session.open:
                await session.dispatch(event, data)
        self._notify()

    # ---------------------------------------------------------------- outages

    def fail_requests(
        self,
        *routes: str,
        status: int | None = 503,
        after: int = 0,
        times: int | None = None,
    ) -> Outage:
        """An outage: requests whose "METHOD /path" starts with one of `routes` (none: all
        requests, the gateway's "GET /" included) answer `status`, or with None lose their
        connection without an answer. See models.Outage for `after` and `times`."""
        outage = Outage(tuple(routes), status, after, times)
        self.outages.append(outage)
        return outage

    def lose_answers(self, *routes: str, after: int = 0, times: int | None = None) -> Outage:
        """Requests matching `routes` are carried out, but their connection closes before
        the answer arrives (Discord accepted the message; the client saw a network error)."""
        outage = Outage(tuple(routes), None, after, times, answer_lost=True)
        self.outages.append(outage)
        return outage

    def fail_gateway(self, status: int = 503, *, times: int | None = None) -> Outage:
        """The gateway's WebSocket handshake answers `status` (Discord's edge during an
        outage: 503, or 404 while a gateway node is gone)."""
        outage = Outage(("GET /",), status, 0, times, exact=True)
        self.outages.append(outage)
        return outage

    def revoke_token(self) -> None:
        """The bot's token stops working, as after a reset in the developer portal: REST
        answers 401 and IDENTIFY is closed with 4004."""
        self.token = "revoked-" + secrets.token_hex(8)

    def end_outage(self) -> None:
        self.outages.clear()

    def _outage_response(self, request: web.Request, route: str) -> web.Response | None:
        for outage in self.outages:
            if outage.answer_lost or not outage.hits(route):
                continue
            self.outage_hits.append(f"{route} -> {outage.status or 'dropped'}")
            self._notify()
            if outage.status is None:
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)  # never reaches the client
            # What Discord's edge answers during an outage: a short text body, no JSON.
            return web.Response(status=outage.status, text=f"{outage.status}: upstream error")
        return None

    # -------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner

    async def close(self) -> None:
        for session in self.sessions:
            if session.open:
                await session.ws.close(code=1001, message=b"fake discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._notify()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- waiting

    def watch_errors(self, source: ErrorSource) -> None:
        """Make every wait fail at once (not at its timeout) when `source` reports one."""
        self._error_sources.append(source)
        self._notify()

    def unwatch_errors(self, source: ErrorSource) -> None:
        if source in self._error_sources:
            self._error_sources.remove(source)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def notify_threadsafe(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self._notify)

    def problems(self) -> list[str]:
        found = [f"unknown route: {r}" for r in self.unknown_routes]
        found += [f"fake server error: {e}" for e in self.server_errors]
        for source in self._error_sources:
            failure = source.failure()
            if failure:
                found.append(failure)
        return found

    async def wait_until(
        self, predicate: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, what: str
    ) -> T:
        """Wait until `predicate()` is truthy and return it; fail early on logged errors."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for source in self._error_sources:
                failure = source.failure()
                if failure:
                    raise AssertionError(f"while waiting for {what}: {failure}")
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                details = "; ".join(self.problems()) or "no unknown routes or errors recorded"
                raise AssertionError(f"timed out after {timeout}s waiting for {what} ({details})")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                # Woken by every fake event; the short poll also covers predicates that
                # look at client-side state (caches, flags set by callbacks).
                await asyncio.wait_for(waiter, min(remaining, 0.05))
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def assert_clean(self, *, allow_rejections: bool = False) -> None:
        problems = [f"unknown route: {r}" for r in self.unknown_routes]
        problems += [f"fake server error: {e}" for e in self.server_errors]
        if not allow_rejections:
            problems += [f"rejected request: {r}" for r in self.rejections]
        if problems:
            raise AssertionError("fake Discord saw problems:\n  " + "\n  ".join(problems))

    # ------------------------------------------------------------ payloads

    def bot_user_payload(self) -> JSON:
        payload = self.bot_user.to_payload()
        payload.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
        return payload

    def guild_members(self) -> list[FakeUser]:
        return [u for u in self.users.values() if u.in_guild]

    def member_payloads(self) -> list[JSON]:
        return [u.member_payload() for u in self.guild_members()]

    def channel_payload(self, channel: FakeChannel) -> JSON:
        if channel.is_dm:
            recipient = self.users[channel.recipient_id or 0]
            return {
                "id": str(channel.id),
                "type": m.CHANNEL_DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [recipient.to_payload()],
            }
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [o.to_payload() for o in channel.overwrites],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def guild_payload(self) -> JSON:
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500_000,
            "max_presences": None,
            "application_id": None,
        }

    def guild_create_payload(self) -> JSON:
        payload = self.guild_payload()
        members = self.guild_members()
        payload.update(
            {
                "unavailable": False,
                "large": False,
                "joined_at": self.bot_user.joined_at,
                "member_count": len(members),
                "members": [u.member_payload() for u in members],
                "channels": [
                    self.channel_payload(c) for c in self.channels.values() if not c.is_dm
                ],
                "threads": [],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return payload

    def member_permissions(self, user: FakeUser) -> int:
        if user.id == self.owner_id:
            return m.ALL_PERMISSIONS
        perms = self.roles[self.guild_id].permissions
        for role_id in user.role_ids:
            perms |= self.roles[role_id].permissions
        if perms & (1 << 3):  # administrator
            return m.ALL_PERMISSIONS
        return perms

    def channel_permissions(self, channel: FakeChannel, user: FakeUser) -> int:
        """Discord's computation: guild permissions, then the channel's @everyone, role and
        member overwrites, in that order."""
        perms = self.member_permissions(user)
        if perms & ADMINISTRATOR or user.id == self.owner_id:
            return m.ALL_PERMISSIONS
        by_target = {o.target_id: o for o in channel.overwrites}
        everyone = by_target.get(self.guild_id)
        if everyone is not None and not everyone.is_member:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in user.role_ids:
            role = by_target.get(role_id)
            if role is not None and not role.is_member:
                allow, deny = allow | role.allow, deny | role.deny
        perms = (perms & ~deny) | allow
        own = by_target.get(user.id)
        if own is not None and own.is_member:
            perms = (perms & ~own.deny) | own.allow
        return perms

    def _user(self, user_id: int) -> FakeUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise LookupError(f"unknown user {user_id}; add_user() it first") from None

    # --------------------------------------------------------------- routes

    def _add_routes(self, app: web.Application) -> None:
        api = "/api/v10"
        app.router.add_get("/", self._gateway)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/users/{user_id}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/applications/{app_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands),
            ("GET", "/guilds/{guild_id}", self._get_guild),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self._get_guild_roles),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/typing", self._typing),
            ("GET", "/channels/{channel_id}/messages", self._get_messages),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self._add_reaction,
            ),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app_id}/{token}", self._webhook_send),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_get),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_edit),
            ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_delete),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, api + path, handler)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._get_attachment)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = f"{request.method} {request.path}"
        self.requests.append(route)
        failed = self._outage_response(request, route)
        if failed is not None:
            return failed
        try:
            self._check_auth(request)
            response = await handler(request)
        except DiscordAPIError as exc:
            self.rejections.append(f"{route}: {exc.status} {exc.code} {exc.message}")
            self._notify()
            return json_response(exc.body(), exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            self.unknown_routes.append(route)
            log.error("fake Discord has no route for %s", route)
            self._notify()
            body = {"message": f"404: Not Found (fake Discord has no route {route})", "code": 0}
            return json_response(body, 404)
        except Exception as exc:
            # 400, not 500: discord.py retries 5xx with sleeps, which would look like a hang.
            log.exception("fake Discord failed on %s", route)
            self.server_errors.append(f"{route}: {exc!r}")
            self._notify()
            return json_response({"message": f"fake Discord bug: {exc!r}", "code": 0}, 400)
        if any(o.answer_lost and o.hits(route) for o in self.outages):
            self.outage_hits.append(f"{route} -> answer lost")
            self._notify()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        self._notify()
        return response

    def _check_auth(self, request: web.Request) -> None:
        if not request.path.startswith("/api/") or request.path.startswith(
            ("/api/v10/webhooks/", "/api/v10/interactions/")
        ):
            return
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or (
            self.token is not None and header != f"Bot {self.token}"
        ):
            raise DiscordAPIError(401, 0, "401: Unauthorized")

    # ---------------------------------------------------------------- gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("encoding", "json") != "json":
            raise invalid_form("encoding", "the fake speaks only JSON")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(self, ws)
        self.sessions.append(session)
        try:
            await session.run()
        finally:
            self._notify()
        return ws

    def _session_identified(self, session: GatewaySession) -> None:
        self._notify()

    def active_session(self) -> GatewaySession:
        """The newest identified, open gateway connection: where interactions go."""
        for session in reversed(self.sessions):
            if session.identified and session.open:
                return session
        raise RuntimeError("no discord.py client is connected to the fake gateway")

    async def _broadcast(self, event: str, data: JSON, *, channel: FakeChannel) -> None:
        intent = INTENT_DIRECT_MESSAGES if channel.is_dm else INTENT_GUILD_MESSAGES
        for session in self.sessions:
            if session.identified and session.open and session.has_intent(intent):
                await session.dispatch(event, data)

    # ------------------------------------------------------------ simple GETs

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url.rstrip("/")})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        raw = request.match_info["user_id"]
        if raw == "@me":
            return json_response(self.bot_user_payload())
        user = self.users.get(int(raw))
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return json_response(user.to_payload())

    async def _get_application(self, request: web.Request) -> web.Response:
        owner = self.users[self.owner_id]
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": owner.to_payload(),
                "team": None,
                "flags": 0,
                "bot": self.bot_user.to_payload(),
                "rpc_origins": [],
                "tags": [],
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "approximate_guild_count": 1,
                "approximate_user_install_count": 0,
                "integration_types_config": {"0": {}},
            }
        )

    async def _get_guild(self, request: web.Request) -> web.Response:
        self._require_guild(request)
        payload = self.guild_payload()
        payload["approximate_member_count"] = len(self.guild_members())
        payload["approximate_presence_count"] = 0
        return json_response(payload)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        self._require_guild(request)
        return json_response(
            [self.channel_payload(c) for c in self.channels.values() if not c.is_dm]
        )

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        self._require_guild(request)
        return json_response([r.to_payload() for r in self.roles.values()])

    async def _get_member(self, request: web.Request) -> web.Response:
        self._require_guild(request)
        user = self.users.get(int(request.match_info["user_id"]))
        if user is None or not user.in_guild:
            raise DiscordAPIError(404, 10007, "Unknown Member")
        return json_response(user.member_payload())

    def _require_guild(self, request: web.Request) -> None:
        if int(request.match_info["guild_id"]) != self.guild_id:
            raise DiscordAPIError(404, 10004, "Unknown Guild")

    def _require_app(self, request: web.Request) -> None:
        if int(request.match_info["app_id"]) != self.application_id:
            raise DiscordAPIError(404, 10002, "Unknown Application")

    def _channel(self, request: web.Request) -> FakeChannel:
        channel = self.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordAPIError(404, 10003, "Unknown Channel")
        return channel

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.channel_payload(self._channel(request)))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def _get_attachment(self, request: web.Request) -> web.Response:
        stored = self.files.get(int(request.match_info["attachment_id"]))
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=stored.data, content_type=stored.content_type or "application/octet-stream"
        )

    # ----------------------------------------------------------------- DMs

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id = int(body["recipient_id"])
        if user_id not in self.users:
            raise DiscordAPIError(400, 50033, "Invalid Recipient(s)")
        return json_response(self.channel_payload(self.dm_channel(user_id)))

    def dm_channel(self, user_id: int) -> FakeChannel:
        channel_id = self.dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self.snowflake()
            self.dm_channels[user_id] = channel_id
            self.channels[channel_id] = FakeChannel(
                channel_id, "", type=m.CHANNEL_DM, recipient_id=user_id
            )
        return self.channels[channel_id]

    # ------------------------------------------------------------- commands

    async def _get_commands(self, request: web.Request) -> web.Response:
        self._require_app(request)
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return json_response(self.global_commands)
        return json_response(self.guild_commands.get(int(guild_id), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        self._require_app(request)
        raw_guild = request.match_info.get("guild_id")
        guild_id = int(raw_guild) if raw_guild is not None else None
        if guild_id is not None and guild_id != self.guild_id:
            raise DiscordAPIError(403, 50001, "Missing Access")
        previous = (
            self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        )
        old_ids = {(c["name"], c.get("type", 1)): c["id"] for c in previous}
        stored: list[JSON] = []
        for command in await request.json():
            key = (command["name"], command.get("type", 1))
            if len(command["name"]) > 32 or len(command.get("description", "")) > 100:
                raise invalid_form("name", "command name/description too long")
            if key in {(c["name"], c.get("type", 1)) for c in stored}:
                raise invalid_form("name", f"duplicate command {command['name']!r}")
            entry = m.snapshot(command)
            entry.setdefault("type", 1)
            entry.setdefault("options", [])
            entry.setdefault("default_member_permissions", None)
            entry.setdefault("nsfw", False)
            entry.update(
                {
                    "id": old_ids.get(key) or str(self.snowflake()),
                    "application_id": str(self.application_id),
                    "version": str(self.snowflake()),
                }
            )
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.command_syncs.append(guild_id)
        return json_response(stored)

    @property
    def commands(self) -> list[JSON]:
        """Every synced command: the guild's first, then global ones."""
        return [*self.guild_commands.get(self.guild_id, []), *self.global_commands]

    def find_command(self, name: str, *, type: int = 1) -> JSON:
        for command in self.commands:
            if command["name"] == name and command.get("type", 1) == type:
                return command
        synced = sorted({c["name"] for c in self.commands})
        raise LookupError(f"command {name!r} was never synced (synced: {synced})")

    # ------------------------------------------------------------- messages

    def channel_messages(self, channel_id: int) -> list[JSON]:
        return self.messages.get(channel_id, [])

    def dm_messages(self, user_id: int) -> list[JSON]:
        channel_id = self.dm_channels.get(user_id)
        return [] if channel_id is None else self.channel_messages(channel_id)

    def get_message(self, message_id: int) -> JSON:
        try:
            return self._messages_by_id[message_id]
        except KeyError:
            raise LookupError(f"no message {message_id}") from None

    async def _read_body(self, request: web.Request) -> tuple[JSON, dict[str, StoredFile]]:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            payload: JSON = {}
            files: dict[str, StoredFile] = {}
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files[name] = StoredFile(
                        self.snowflake(), value.filename, value.file.read(), value.content_type
                    )
                elif name == "payload_json":
                    payload = json.loads(str(value))
            return payload, files
        if request.can_read_body:
            body = await request.json()
            return (body if isinstance(body, dict) else {"__body__": body}), {}
        return {}, {}

    def _attachments(
        self, payload: JSON, files: dict[str, StoredFile], existing: list[JSON]
    ) -> list[JSON]:
        wanted = payload.get("attachments")
        if wanted is None:
            wanted = [{"id": index} for index in range(len(files))]
        kept = {a["id"]: a for a in existing}
        out: list[JSON] = []
        for item in wanted:
            key = str(item["id"])
            if key in kept:
                out.append(kept[key])
                continue
            stored = files.get(f"files[{key}]")
            if stored is None:
                raise invalid_form("attachments", f"no file uploaded for attachment {key}")
            self.files[stored.id] = stored
            url = f"{self.base_url}/attachments/{stored.id}/{stored.filename}"
            out.append(
                {
                    "id": str(stored.id),
                    "filename": stored.filename,
                    "description": item.get("description"),
                    "content_type": stored.content_type,
                    "size": len(stored.data),
                    "url": url,
                    "proxy_url": url,
                    "ephemeral": False,
                }
            )
        return out

    def _new_message(
        self,
        channel: FakeChannel,
        payload: JSON,
        files: dict[str, StoredFile],
        *,
        author: FakeUser,
        interaction: InteractionRecord | None = None,
        extra_flags: int = 0,
    ) -> JSON:
        message_id = self.snowflake()
        flags = int(payload.get("flags") or 0) | extra_flags
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "type": 0,
            "content": str(payload.get("content") or ""),
            "author": author.to_payload(),
            "timestamp": m.now_iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": self._attachments(payload, files, []),
            "embeds": [{"type": "rich", **e} for e in payload.get("embeds") or []],
            "reactions": [],
            "pinned": False,
            "flags": flags,
            "components": m.snapshot({"c": payload.get("components") or []})["c"],
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        reference = payload.get("message_reference")
        if reference:
            referenced = self._messages_by_id.get(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise invalid_form("message_reference", "Unknown message")
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel.id),
                "guild_id": None if channel.is_dm else str(self.guild_id),
            }
            message["referenced_message"] = m.snapshot(referenced) if referenced else None
        if interaction is not None:
            invoker = self.users[interaction.user_id]
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            if interaction.type == m.APPLICATION_COMMAND:
                message["type"] = 20
            metadata: JSON = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": invoker.to_payload(),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.source_message is not None:
                metadata["interacted_message_id"] = interaction.source_message["id"]
            message["interaction_metadata"] = metadata
        self.messages.setdefault(channel.id, []).append(message)
        self._messages_by_id[message_id] = message
        return message

    def _apply_edit(
        self, message: JSON, payload: JSON, files: dict[str, StoredFile], route: str
    ) -> None:
        validate_message(payload, is_edit=True)
        if "content" in payload:
            message["content"] = str(payload["content"] or "")
        if "embeds" in payload:
            message["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "components" in payload:
            message["components"] = m.snapshot({"c": payload["components"] or []})["c"]
        if "attachments" in payload or files:
            message["attachments"] = self._attachments(payload, files, message["attachments"])
        # Ephemerality is fixed at creation; an edit only ever ends the "thinking" state.
        keep = int(message["flags"]) & m.EPHEMERAL
        if "flags" in payload and payload["flags"] is not None:
            message["flags"] = (int(payload["flags"]) & ~(m.EPHEMERAL | m.LOADING)) | keep
        else:
            message["flags"] = int(message["flags"]) & ~m.LOADING
        message["edited_timestamp"] = m.now_iso()
        self.edits.append(
            {
                "message_id": int(message["id"]),
                "channel_id": int(message["channel_id"]),
                "route": route,
                "payload": m.snapshot(payload),
            }
        )

    def _event_payload(self, message: JSON) -> JSON:
        data = m.snapshot(message)
        channel = self.channels[int(message["channel_id"])]
        if not channel.is_dm:
            data["guild_id"] = str(self.guild_id)
            author = self.users.get(int(message["author"]["id"]))
            if author is not None and author.in_guild and "webhook_id" not in message:
                data["member"] = author.member_payload(with_user=False)
        return data

    async def _created(self, message: JSON) -> None:
        if not int(message["flags"]) & m.EPHEMERAL:
            channel = self.channels[int(message["channel_id"])]
            await self._broadcast("MESSAGE_CREATE", self._event_payload(message), channel=channel)
        self._notify()

    async def _edited(self, message: JSON) -> None:
        if not int(message["flags"]) & m.EPHEMERAL:
            channel = self.channels[int(message["channel_id"])]
            await self._broadcast("MESSAGE_UPDATE", self._event_payload(message), channel=channel)
        self._notify()

    async def _deleted(self, message: JSON) -> None:
        channel = self.channels[int(message["channel_id"])]
        self.messages[channel.id].remove(message)
        del self._messages_by_id[int(message["id"])]
        self.deleted_messages.append(message)
        if not int(message["flags"]) & m.EPHEMERAL:
            event: JSON = {"id": message["id"], "channel_id": message["channel_id"]}
            if not channel.is_dm:
                event["guild_id"] = str(self.guild_id)
            await self._broadcast("MESSAGE_DELETE", event, channel=channel)
        self._notify()

    def _channel_message(self, request: web.Request) -> JSON:
        channel = self._channel(request)
        message = self._messages_by_id.get(int(request.match_info["message_id"]))
        # Ephemeral messages exist only for their interaction's webhook, as on Discord.
        if (
            message is None
            or int(message["channel_id"]) != channel.id
            or int(message["flags"]) & m.EPHEMERAL
        ):
            raise DiscordAPIError(404, 10008, "Unknown Message")
        return message

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = int(request.query.get("limit", "50"))
        visible = [
            msg for msg in self.channel_messages(channel.id) if not int(msg["flags"]) & m.EPHEMERAL
        ]
        return json_response(list(reversed(visible))[:limit])

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        perms = 0
        if channel.is_dm:
            if not self._user(channel.recipient_id or 0).accepts_dms:
                raise DiscordAPIError(403, 50007, "Cannot send messages to this user")
        else:
            perms = self.channel_permissions(channel, self.bot_user)
            if not perms & VIEW_CHANNEL:
                raise DiscordAPIError(403, 50001, "Missing Access")
            if not perms & SEND_MESSAGES:
                raise DiscordAPIError(403, 50013, "Missing Permissions")
        payload, files = await self._read_body(request)
        if files and not channel.is_dm and not perms & ATTACH_FILES:
            raise DiscordAPIError(403, 50013, "Missing Permissions")  # uploading needs it
        validate_message({**payload, "attachments": payload.get("attachments") or list(files)})
        if int(payload.get("flags") or 0) & m.EPHEMERAL:
            raise invalid_form("flags", "Only interaction responses can be ephemeral")
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            # Discord: the same author's message with this nonce (from the last few minutes)
            # is returned instead of a second one.
            for earlier in self.messages.get(channel.id, []):
                if earlier.get("nonce") == nonce and earlier["author"]["id"] == str(self.bot_id):
                    return json_response(earlier)
        message = self._new_message(channel, payload, files, author=self.bot_user)
        await self._created(message)
        return json_response(message)

    async def _get_message(self, request: web.Request) -> web.Response:
        return json_response(self._channel_message(request))

    async def _patch_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if int(message["author"]["id"]) != self.bot_id:
            raise DiscordAPIError(403, 50005, "Cannot edit a message authored by another user")
        payload, files = await self._read_body(request)
        self._apply_edit(message, payload, files, f"{request.method} {request.path}")
        await self._edited(message)
        return json_response(message)

    async def _delete_message(self, request: web.Request) -> web.Response:
        await self._deleted(self._channel_message(request))
        return no_content()

    async def _add_reaction(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        self.reactions.append(
            {"message_id": int(message["id"]), "emoji": request.match_info["emoji"]}
        )
        return no_content()

    async def post_message(self, channel_id: int, user_id: int, content: str) -> JSON:
        """A user writes in a channel (MESSAGE_CREATE reaches clients with the intent)."""
        channel = self.channels[channel_id]
        message = self._new_message(channel, {"content": content}, {}, author=self._user(user_id))
        await self._created(message)
        return message

    async def wait_for_message(
        self,
        *,
        channel_id: int | None = None,
        dm_user_id: int | None = None,
        predicate: Callable[[JSON], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> JSON:
        """First message (already sent or still to come) in a channel or DM that matches."""
        if (channel_id is None) == (dm_user_id is None):
            raise TypeError("pass exactly one of channel_id and dm_user_id")

        def find() -> JSON | None:
            if dm_user_id is not None:
                candidates = self.dm_messages(dm_user_id)
            else:
                candidates = self.channel_messages(channel_id or 0)
            for message in candidates:
                if predicate is None or predicate(message):
                    return message
            return None

        where = f"DM with {dm_user_id}" if dm_user_id is not None else f"channel {channel_id}"
        return await self.wait_until(find, timeout=timeout, what=f"a message in {where}")

    # ---------------------------------------------------------- interactions

    def _record_for_token(self, request: web.Request) -> InteractionRecord:
        record = self._by_token.get(request.match_info["token"])
        if record is None:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        return record

    async def _callback(self, request: web.Request) -> web.Response:
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise DiscordAPIError(404, 10062, "Unknown interaction")
        if record.responded:
            raise DiscordAPIError(400, 40060, "Interaction has already been acknowledged.")
        body, files = await self._read_body(request)
        rtype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        channel = self.channels[record.channel_id]
        info: JSON = {
            "id": str(record.id),
            "type": record.type,
            "activity_instance_id": None,
            "response_message_id": None,
            "response_message_loading": False,
            "response_message_ephemeral": False,
        }
        resource: JSON = {"type": rtype}
        is_autocomplete = record.type == m.AUTOCOMPLETE
        if is_autocomplete != (rtype == m.AUTOCOMPLETE_RESULT):
            raise invalid_form(
                "type", f"response type {rtype} invalid for interaction type {record.type}"
            )
        if rtype == m.CHANNEL_MESSAGE:
            validate_message({**data, "attachments": data.get("attachments") or list(files)})
            message = self._new_message(
                channel, data, files, author=self.bot_user, interaction=record
            )
            record.original = message
        elif rtype == m.DEFERRED_CHANNEL_MESSAGE:
            flags = int(data.get("flags") or 0) & m.EPHEMERAL
            message = self._new_message(
                channel,
                {"flags": flags},
                {},
                author=self.bot_user,
                interaction=record,
                extra_flags=m.LOADING,
            )
            record.original = message
            info["response_message_loading"] = True
        elif rtype in (m.DEFERRED_UPDATE, m.UPDATE_MESSAGE):
            if record.source_message is None:
                raise invalid_form(
                    "type", "only component (or their modal) interactions can update"
                )
            message = record.source_message
            if rtype == m.UPDATE_MESSAGE:
                self._apply_edit(message, data, files, f"callback {record.id} type 7")
        elif rtype == m.MODAL:
            if record.type == m.MODAL_SUBMIT:
                raise invalid_form("type", "a modal submit cannot be answered with a modal")
            validate_modal(data)
        elif rtype == m.AUTOCOMPLETE_RESULT:
            validate_choices(data)
        else:
            raise invalid_form("type", f"unsupported interaction response type {rtype}")

        record.response_type = rtype
        record.response_data = m.snapshot(data)
        if rtype in (m.CHANNEL_MESSAGE, m.DEFERRED_CHANNEL_MESSAGE, m.UPDATE_MESSAGE):
            resource["message"] = m.snapshot(message)
            record.response_message_id = int(message["id"])
            info["response_message_id"] = message["id"]
            info["response_message_ephemeral"] = bool(int(message["flags"]) & m.EPHEMERAL)
            if rtype == m.UPDATE_MESSAGE:
                await self._edited(message)
            else:
                await self._created(message)
        self._notify()
        return json_response({"interaction": info, "resource": resource})

    def _webhook_target(self, record: InteractionRecord, raw_id: str) -> JSON:
        if raw_id == "@original":
            if record.response_type in (m.DEFERRED_UPDATE, m.UPDATE_MESSAGE):
                target = record.source_message
            else:
                target = record.original
        else:
            wanted = int(raw_id)
            candidates = [record.original, record.source_message, *record.followups]
            target = next((c for c in candidates if c and int(c["id"]) == wanted), None)
        if target is None or int(target["id"]) not in self._messages_by_id:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        return target

    async def _webhook_send(self, request: web.Request) -> web.Response:
        self._require_app(request)
        record = self._record_for_token(request)
        if not record.responded:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        payload, files = await self._read_body(request)
        validate_message({**payload, "attachments": payload.get("attachments") or list(files)})
        original = record.original
        if original is not None and int(original["flags"]) & m.LOADING:
            # Discord turns the first follow-up after a "thinking" defer into the original
            # response (keeping the defer's ephemerality) instead of posting a new message.
            kept = {**payload, "flags": int(original["flags"]) & m.EPHEMERAL}
            self._apply_edit(original, kept, files, f"{request.method} {request.path}")
            record.followups.append(original)
            await self._edited(original)
            return json_response(original)
        channel = self.channels[record.channel_id]
        message = self._new_message(
            channel, payload, files, author=self.bot_user, interaction=record
        )
        record.followups.append(message)
        await self._created(message)
        return json_response(message)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        self._require_app(request)
        record = self._record_for_token(request)
        return json_response(self._webhook_target(record, request.match_info["message_id"]))

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        self._require_app(request)
        record = self._record_for_token(request)
        target = self._webhook_target(record, request.match_info["message_id"])
        payload, files = await self._read_body(request)
        route = f"{request.method} {request.path}"
        self._apply_edit(target, payload, files, route)
        record.edits.append({"message_id": int(target["id"]), "payload": m.snapshot(payload)})
        await self._edited(target)
        return json_response(target)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        self._require_app(request)
        record = self._record_for_token(request)
        await self._deleted(self._webhook_target(record, request.match_info["message_id"]))
        return no_content()

    # -------------------------------------------------------- driving helpers

    def _interaction_base(self, itype: int, data: JSON, user_id: int, channel_id: int) -> JSON:
        user = self._user(user_id)
        channel = self.channels.get(channel_id)
        if channel is None:
            raise LookupError(f"unknown channel {channel_id}")
        payload: JSON = {
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel_id": str(channel.id),
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "app_permissions": str(self.bot_permissions),
        }
        if channel.is_dm:
            if channel.recipient_id != user_id:
                raise ValueError(f"user {user_id} cannot act in the DM of {channel.recipient_id}")
            payload.update(
                {
                    "user": user.to_payload(),
                    "channel": self.channel_payload(channel),
                    "context": 1,
                    "authorizing_integration_owners": {"0": str(self.guild_id)},
                }
            )
        else:
            if not user.in_guild:
                raise ValueError(f"user {user_id} is not a member of the guild")
            perms = self.member_permissions(user)
            member = user.member_payload()
            member["permissions"] = str(perms)
            channel_payload = self.channel_payload(channel)
            channel_payload["permissions"] = str(perms)
            payload.update(
                {
                    "guild_id": str(self.guild_id),
                    "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": member,
                    "channel": channel_payload,
                    "context": 0,
                    "authorizing_integration_owners": {"0": str(self.guild_id)},
                }
            )
        return payload

    async def send_interaction(
        self,
        itype: int,
        data: JSON,
        user_id: int,
        channel_id: int,
        *,
        message: JSON | None = None,
    ) -> InteractionRecord:
        """Dispatch an INTERACTION_CREATE built from the parts; does not wait for an answer."""
        interaction_id = self.snowflake()
        token = "fake-" + secrets.token_urlsafe(48)
        payload = self._interaction_base(itype, data, user_id, channel_id)
        payload.update({"id": str(interaction_id), "token": token})
        if message is not None:
            payload["message"] = m.snapshot(message)
        record = InteractionRecord(
            interaction_id, token, itype, user_id, channel_id, payload, source_message=message
        )
        self.interactions[interaction_id] = record
        self._by_token[token] = record
        await self.active_session().dispatch("INTERACTION_CREATE", m.snapshot(payload))
        return record

    async def _answered(
        self, record: InteractionRecord, timeout: float, what: str
    ) -> InteractionRecord:
        await self.wait_until(
            lambda: record.responded, timeout=timeout, what=f"an answer to {what}"
        )
        return record

    def _command_data(
        self,
        name: str,
        subcommand: str | None,
        options: Mapping[str, Any],
        focused: str | None,
    ) -> JSON:
        command = self.find_command(name)
        data: JSON = {"id": command["id"], "name": name, "type": 1}
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        container = data
        defs: list[JSON] = command.get("options") or []
        path = subcommand.split() if subcommand else []
        for part in path:
            found = next((o for o in defs if o["name"] == part and o["type"] in (1, 2)), None)
            if found is None:
                known = [o["name"] for o in defs if o["type"] in (1, 2)]
                raise LookupError(f"/{name} has no subcommand {part!r} (has {known})")
            node: JSON = {"name": part, "type": found["type"], "options": []}
            container["options"] = [node]
            container = node
            defs = found.get("options") or []
        if any(o["type"] in (1, 2) for o in defs):
            raise ValueError(f"/{name} {subcommand or ''} needs a subcommand")
        resolved: JSON = {}
        container["options"] = self._build_options(defs, options, resolved, focused)
        if resolved:
            data["resolved"] = resolved
        return data

    def _build_options(
        self,
        defs: list[JSON],
        options: Mapping[str, Any],
        resolved: JSON,
        focused: str | None,
    ) -> list[JSON]:
        by_name = {d["name"]: d for d in defs}
        for d in defs:
            # While autocompleting, the user may not have filled the other options yet.
            if focused is None and d.get("required") and d["name"] not in options:
                raise ValueError(f"required option {d['name']!r} missing")
        built: list[JSON] = []
        for option_name, value in options.items():
            definition = by_name.get(option_name)
            if definition is None:
                raise ValueError(f"unknown option {option_name!r} (has {sorted(by_name)})")
            otype = int(definition["type"])
            entry: JSON = {"name": option_name, "type": otype}
            if option_name == focused:
                entry.update({"value": str(value), "focused": True})
            else:
                entry["value"] = self._option_value(definition, value, resolved)
            built.append(entry)
        return built

    def _option_value(self, definition: JSON, value: Any, resolved: JSON) -> Any:
        otype = int(definition["type"])
        name = definition["name"]
        converted: Any
        if otype == 3:
            converted = str(value)
            if (
                not definition.get("min_length", 0)
                <= len(converted)
                <= definition.get("max_length", 6000)
            ):
                raise ValueError(f"option {name!r}: length out of range")
        elif otype == 4:
            converted = int(value)
        elif otype == 5:
            converted = bool(value)
        elif otype == 10:
            converted = float(value)
        elif otype in (6, 9) and int(value) in self.users:
            user = self.users[int(value)]
            converted = str(user.id)
            resolved.setdefault("users", {})[converted] = user.to_payload()
            if user.in_guild:
                member = user.member_payload(with_user=False)
                member["permissions"] = str(self.member_permissions(user))
                resolved.setdefault("members", {})[converted] = member
        elif otype in (8, 9) and int(value) in self.roles:
            converted = str(int(value))
            resolved.setdefault("roles", {})[converted] = self.roles[int(value)].to_payload()
        elif otype == 7 and int(value) in self.channels:
            channel = self.channels[int(value)]
            converted = str(channel.id)
            payload = self.channel_payload(channel)
            payload["permissions"] = str(self.bot_permissions)
            resolved.setdefault("channels", {})[converted] = payload
        else:
            raise ValueError(f"option {name!r} (type {otype}): cannot resolve {value!r}")
        if otype in (4, 10):
            low, high = definition.get("min_value"), definition.get("max_value")
            if (low is not None and converted < low) or (high is not None and converted > high):
                raise ValueError(f"option {name!r}: {converted} out of range")
        choices = definition.get("choices")
        if choices and converted not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {converted!r} is not one of the choices")
        return converted

    async def invoke_slash(
        self,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> InteractionRecord:
        """Run `/name subcommand option:value...` as `user_id`; returns once answered.

        `subcommand` may be "group sub" for a subcommand inside a subcommand group.
        """
        data = self._command_data(name, subcommand, options or {}, focused=None)
        record = await self.send_interaction(
            m.APPLICATION_COMMAND, data, user_id, channel_id or self.channel_id
        )
        return await self._answered(record, timeout, f"/{name} {subcommand or ''}".strip())

    async def autocomplete(
        self,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        channel_id: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[JSON]:
        """Type into option `focused`; returns the choices the bot offered."""
        options = dict(options or {})
        options.setdefault(focused, "")
        data = self._command_data(name, subcommand, options, focused=focused)
        record = await self.send_interaction(
            m.AUTOCOMPLETE, data, user_id, channel_id or self.channel_id
        )
        await self._answered(record, timeout, f"autocomplete of {focused!r} in /{name}")
        return list((record.response_data or {}).get("choices") or [])

    def _message_arg(self, message: JSON | int | str) -> JSON:
        message_id = int(message["id"]) if isinstance(message, dict) else int(message)
        return self.get_message(message_id)

    async def click(
        self,
        message: JSON | int,
        custom_id: str,
        user_id: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> InteractionRecord:
        """Press the button `custom_id` on a message the fake holds; returns once answered."""
        return await self._component(message, custom_id, user_id, None, timeout)

    async def select(
        self,
        message: JSON | int,
        custom_id: str,
        values: Sequence[str | int],
        user_id: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> InteractionRecord:
        """Pick `values` in the select menu `custom_id`; returns once answered."""
        return await self._component(message, custom_id, user_id, values, timeout)

    async def _component(
        self,
        message_arg: JSON | int,
        custom_id: str,
        user_id: int,
        values: Sequence[str | int] | None,
        timeout: float,
    ) -> InteractionRecord:
        message = self._message_arg(message_arg)
        component = m.find_component(message, custom_id)
        if component is None:
            present = m.custom_ids(message.get("components") or [])
            raise LookupError(f"message {message['id']} has no {custom_id!r} (has {present})")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; Discord would not send this")
        ctype = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": ctype}
        if values is None:
            if ctype != 2:
                raise ValueError(f"{custom_id!r} is not a button (type {ctype}); use select()")
        else:
            if ctype not in (3, 5, 6, 7, 8):
                raise ValueError(f"{custom_id!r} is not a select menu (type {ctype})")
            data["values"] = [str(v) for v in values]
            if ctype == 3:
                allowed = {o["value"] for o in component.get("options") or []}
                unknown = [v for v in data["values"] if v not in allowed]
                if unknown:
                    raise ValueError(f"values {unknown} are not options of {custom_id!r}")
            else:
                resolved: JSON = {}
                fake_def = {"name": custom_id, "type": {5: 6, 6: 8, 7: 9, 8: 7}[ctype]}
                for value in values:
                    self._option_value(fake_def, value, resolved)
                data["resolved"] = resolved
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(data["values"]) <= high:
                raise ValueError(f"{custom_id!r} takes {low}-{high} values")
        record = await self.send_interaction(
            m.MESSAGE_COMPONENT, data, user_id, int(message["channel_id"]), message=message
        )
        return await self._answered(record, timeout, f"component {custom_id!r}")

    def _last_modal(self, custom_id: str) -> InteractionRecord | None:
        for record in reversed(list(self.interactions.values())):
            if (
                record.response_type == m.MODAL
                and (record.response_data or {}).get("custom_id") == custom_id
            ):
                return record
        return None

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, Any],
        user_id: int,
        *,
        in_reply_to: InteractionRecord | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> InteractionRecord:
        """Fill in and submit the modal `custom_id` the bot opened; returns once answered.

        The submission mirrors the modal's layout as sent: text inputs in action rows
        (discord.py's default) or inside label components (type 18). `values` maps each
        field's custom_id to: a str (text input, radio group), a bool (checkbox), a list of
        option values / user, role or channel ids (selects, checkbox groups), or a list of
        (filename, bytes) pairs (file upload). Missing optional fields are sent empty.
        """
        opener = in_reply_to or self._last_modal(custom_id)
        if opener is None or opener.response_type != m.MODAL:
            raise LookupError(f"the bot never opened a modal {custom_id!r}")
        modal = opener.response_data or {}
        if modal.get("custom_id") != custom_id:
            raise LookupError(
                f"{opener.id} opened modal {modal.get('custom_id')!r}, not {custom_id!r}"
            )
        remaining: dict[str, Any] = dict(values)
        resolved: JSON = {}
        components = [
            self._submitted(c, remaining, resolved) for c in modal.get("components") or []
        ]
        if remaining:
            raise ValueError(f"modal {custom_id!r} has no fields {sorted(remaining)}")
        data: JSON = {"custom_id": custom_id, "components": [c for c in components if c]}
        if resolved:
            data["resolved"] = resolved
        record = await self.send_interaction(
            m.MODAL_SUBMIT, data, user_id, opener.channel_id, message=opener.source_message
        )
        return await self._answered(record, timeout, f"modal {custom_id!r}")

    def _submitted(self, component: JSON, values: dict[str, Any], resolved: JSON) -> JSON | None:
        ctype = int(component["type"])
        if ctype == 1:
            children = [
                self._submitted(c, values, resolved) for c in component.get("components") or []
            ]
            return {"type": 1, "components": [c for c in children if c]}
        if ctype == 18:
            inner = self._submitted(component["component"], values, resolved)
            return {"type": 18, "id": component.get("id", 0), "component": inner}
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None  # text displays and the like send nothing back
        value = values.pop(custom_id, None)
        required = component.get("required", True)
        out: JSON = {"type": ctype, "id": component.get("id", 0), "custom_id": custom_id}
        if ctype == 4:  # text input
            text = "" if value is None else str(value)
            if required and not text:
                raise ValueError(f"modal field {custom_id!r} is required")
            low, high = component.get("min_length", 0), component.get("max_length", 4000)
            if text and not low <= len(text) <= high:
                raise ValueError(f"modal field {custom_id!r} must be {low}-{high} characters")
            out["value"] = text
        elif ctype == 21:  # radio group
            allowed = {o["value"] for o in component.get("options") or []}
            if value is not None and str(value) not in allowed:
                raise ValueError(f"{value!r} is not an option of {custom_id!r}")
            out["value"] = None if value is None else str(value)
        elif ctype == 23:  # checkbox
            out["value"] = bool(value)
        elif ctype == 19:  # file upload: values are (filename, bytes) pairs
            ids: list[str] = []
            for filename, data in value or []:
                stored = StoredFile(self.snowflake(), filename, data, None)
                self.files[stored.id] = stored
                url = f"{self.base_url}/attachments/{stored.id}/{filename}"
                attachment = {
                    "id": str(stored.id),
                    "filename": filename,
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                }
                resolved.setdefault("attachments", {})[str(stored.id)] = attachment
                ids.append(str(stored.id))
            out["values"] = ids
        else:  # selects (3, 5-8) and checkbox groups (22)
            chosen = [] if value is None else [value] if isinstance(value, str | int) else value
            out["values"] = [str(v) for v in chosen]
            if ctype in (5, 6, 7, 8):
                definition = {"name": custom_id, "type": {5: 6, 6: 8, 7: 9, 8: 7}[ctype]}
                for item in chosen:
                    self._option_value(definition, item, resolved)
        return out

    async def wait_for_followup(
        self,
        record: InteractionRecord,
        predicate: Callable[[JSON], bool] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> JSON:
        def find() -> JSON | None:
            return next((f for f in record.followups if predicate is None or predicate(f)), None)

        return await self.wait_until(find, timeout=timeout, what=f"a follow-up to {record.id}")
