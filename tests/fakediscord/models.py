"""Plain state objects of the fake Discord and the JSON shapes Discord gives them."""

from __future__ import annotations

import copy
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import discord

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
LOADING = 1 << 7

CHANNEL_TEXT = 0
CHANNEL_DM = 1

# Interaction types (what the user did) and callback types (how the bot answered).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

ALL_PERMISSIONS = discord.Permissions.all().value
EVERYONE_PERMISSIONS = (
    discord.Permissions.general().value | discord.Permissions.text().value
) & ~discord.Permissions.elevated().value


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class SnowflakeFactory:
    """Time-based, strictly increasing ids, so `snowflake_time` gives sensible answers."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    nick: str | None = None
    role_ids: list[int] = field(default_factory=list)
    in_guild: bool = True
    joined_at: str = field(default_factory=now_iso)
    # False: the user blocks DMs from server members (Discord answers 403, code 50007).
    accepts_dms: bool = True

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }

    def member_payload(self, *, with_user: bool = True) -> JSON:
        payload: JSON = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.role_ids],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.to_payload()
        return payload


@dataclass
class FakeChannel:
    id: int
    name: str
    type: int = CHANNEL_TEXT
    guild_id: int | None = None
    position: int = 0
    recipient_id: int | None = None  # DM channels only
    overwrites: list[Overwrite] = field(default_factory=list)

    @property
    def is_dm(self) -> bool:
        return self.type == CHANNEL_DM


@dataclass
class Overwrite:
    """A channel permission overwrite for a role (the guild id is @everyone) or a member."""

    target_id: int
    is_member: bool
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> JSON:
        return {
            "id": str(self.target_id),
            "type": 1 if self.is_member else 0,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Outage:
    """Requests matching `routes` ("METHOD /path" prefixes; none: every request) get
    `status`, or, with status None, a connection closed without an answer (a network
    error). The first `after` matching requests still pass; `times` limits the failures
    (None: until FakeDiscord.end_outage)."""

    routes: tuple[str, ...]
    status: int | None = 503
    after: int = 0
    times: int | None = None
    exact: bool = False  # routes are whole "METHOD /path"s, not prefixes
    # The request is carried out, then its connection closed before the answer: the client
    # can't tell whether it happened (a network error after Discord accepted a message).
    answer_lost: bool = False
    seen: int = 0
    failed: int = 0

    def hits(self, route: str) -> bool:
        matches = route in self.routes if self.exact else route.startswith(self.routes)
        if self.routes and not matches:
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.failed >= self.times):
            return False
        self.failed += 1
        return True


@dataclass
class StoredFile:
    """An uploaded attachment, kept so tests can look at the bytes."""

    id: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class InteractionRecord:
    """One interaction the fake sent, and everything the client did with it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    payload: JSON
    response_type: int | None = None
    response_data: JSON | None = None
    response_message_id: int | None = None
    followups: list[JSON] = field(default_factory=list)
    edits: list[JSON] = field(default_factory=list)
    # For component interactions: the message the component was on (live object).
    source_message: JSON | None = None
    original: JSON | None = None

    @property
    def responded(self) -> bool:
        return self.response_type is not None

    @property
    def ephemeral(self) -> bool:
        flags = int((self.response_data or {}).get("flags") or 0)
        return bool(flags & EPHEMERAL)

    @property
    def content(self) -> str | None:
        """Content of the initial response (type 4/7), or of the original message."""
        if self.response_data and "content" in self.response_data:
            content = self.response_data["content"]
            return None if content is None else str(content)
        if self.original is not None:
            return str(self.original.get("content") or "")
        return None

    @property
    def custom_id(self) -> str | None:
        value = self.payload.get("data", {}).get("custom_id")
        return None if value is None else str(value)


def custom_ids(components: list[JSON]) -> list[str]:
    """Every custom_id in a component tree, depth first (rows, containers, labels...)."""
    found: list[str] = []
    for component in walk_components(components):
        if "custom_id" in component:
            found.append(str(component["custom_id"]))
    return found


def walk_components(components: list[JSON]) -> list[JSON]:
    out: list[JSON] = []
    for component in components:
        out.append(component)
        out.extend(walk_components(component.get("components") or []))
        if isinstance(component.get("component"), dict):
            out.extend(walk_components([component["component"]]))
        if isinstance(component.get("accessory"), dict):
            out.extend(walk_components([component["accessory"]]))
    return out


def find_component(message: JSON, custom_id: str) -> JSON | None:
    for component in walk_components(message.get("components") or []):
        if component.get("custom_id") == custom_id:
            return component
    return None


def snapshot(obj: JSON) -> JSON:
    return copy.deepcopy(obj)
