"""One gateway connection: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, dispatches.

Frames are always uncompressed JSON text. discord.py asks for `compress=zlib-stream`
in the query string but only decompresses *binary* frames, so text frames just work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import JSON

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE_STATE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION = 6, 7, 8, 9
OP_HELLO, OP_HEARTBEAT_ACK = 10, 11

CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_DECODE_ERROR = 4002
CLOSE_UNKNOWN_OPCODE = 4001


class GatewaySession:
    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse) -> None:
        self.fake = fake
        self.ws = ws
        self.session_id = secrets.token_hex(16)
        self.sequence = 0
        self.identified = False
        self.intents = 0
        self.identify_payload: JSON | None = None
        self.received: list[JSON] = []
        self._send_lock = asyncio.Lock()

    @property
    def open(self) -> bool:
        return not self.ws.closed

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & (1 << bit))

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        frame: JSON = {"op": op, "d": data, "s": None, "t": event}
        async with self._send_lock:
            if op == OP_DISPATCH:
                self.sequence += 1
                frame["s"] = self.sequence
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                # The client hung up between our check and the write; like Discord, drop it.
                log.debug("gateway session %s closed while sending %s", self.session_id, event)

    async def dispatch(self, event: str, data: JSON) -> None:
        await self.send(OP_DISPATCH, data, event)

    async def run(self) -> None:
        await self.send(OP_HELLO, {"heartbeat_interval": self.fake.heartbeat_interval_ms})
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    await self.ws.close(
                        code=CLOSE_DECODE_ERROR, message=b"binary frames unsupported"
                    )
                break
            try:
                frame = json.loads(message.data)
            except ValueError:
                await self.ws.close(
                    code=CLOSE_DECODE_ERROR, message=b"Error while decoding payload"
                )
                break
            self.received.append(frame)
            await self._handle(frame)

    async def _handle(self, frame: JSON) -> None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == OP_HEARTBEAT:
            await self.send(OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            await self._identify(data)
        elif op == OP_RESUME:
            # No event replay here: tell the client to start a fresh session instead.
            await self.send(OP_INVALID_SESSION, False)
        elif op == OP_REQUEST_MEMBERS:
            await self._send_member_chunk(data)
        elif op in (OP_PRESENCE, OP_VOICE_STATE):
            pass
        else:
            await self.ws.close(code=CLOSE_UNKNOWN_OPCODE, message=b"Unknown opcode")

    async def _identify(self, data: JSON) -> None:
        expected = self.fake.token
        if expected is not None and data.get("token") != expected:
            await self.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        self.identify_payload = data
        self.intents = int(data.get("intents") or 0)
        self.identified = True
        guild_id = str(self.fake.guild_id)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.fake.bot_user_payload(),
                "session_id": self.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.fake.gateway_url,
                "guilds": [{"id": guild_id, "unavailable": True}],
                "private_channels": [],
                "relationships": [],
                "application": {"id": str(self.fake.application_id), "flags": 0},
                "shard": data.get("shard", [0, 1]),
            },
        )
        await self.dispatch("GUILD_CREATE", self.fake.guild_create_payload())
        self.fake._session_identified(self)

    async def _send_member_chunk(self, data: JSON) -> None:
        members = self.fake.member_payloads()
        wanted = data.get("user_ids")
        if wanted:
            ids = {str(u) for u in (wanted if isinstance(wanted, list) else [wanted])}
            members = [m for m in members if m["user"]["id"] in ids]
        query = data.get("query")
        if query:
            members = [m for m in members if m["user"]["username"].startswith(query)]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(data.get("guild_id")),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)
