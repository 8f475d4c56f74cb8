"""Plex webhook payloads, validated with pydantic: liberal in what we accept, strict in what
we store.

Real senders vary: Plex itself, older servers (no `grandparentGuid`), relays such as
Tautulli or n8n templates (numbers as strings, `grandparentKey` but no
`grandparentRatingKey`, no `Server`, an `Account` with only a title, empty strings for
missing values), and Plex-shaped payloads from other media servers (only a legacy `guid`
naming show, season and episode). So every field beyond `event` is optional, and a field
that can't be read is dropped and noted in `unreadable` instead of failing the payload:
only the fields a scrobble's decision needs make it a 400 when unreadable
(`scrobble_problem`). The raw payload is stored as it came.

`scrobble_keys` turns a scrobble into the normalised values stored on its log row
(show key, item key, account, season, episode, watch time). Intake and the worker both
call it, so the SQL fast path (which reads those columns) and the Python path agree.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from core.errors import InvalidInputError
from core.guid import MAX_ID, GuidInfo, parse_guid

# Bounds on what a payload may put in a key or a title: keys end up in unique indexes (whose
# entries PostgreSQL caps at about 2.7 KB) and every one of these in log lines.
MAX_EVENT = 100
MAX_KEY = 128
MAX_TITLE = 500
MAX_GUID = 1000
# JSON integers beyond this are no Plex value (ids, times and counts all fit in 64 bits).
_MAX_JSON_INT_DIGITS = 19
# The agents whose GUIDs carry external ids themselves (no Plex server needed).
LEGACY_AGENTS = frozenset({"thetvdb", "themoviedb", "imdb", "hama"})
_LIBRARY_KEY = re.compile(r"^/library/metadata/([0-9]{1,20})(?:[/?#].*)?$", re.ASCII | re.DOTALL)
_RATING_KEY = re.compile(r"[0-9]{1,20}", re.ASCII)


def _blank_is_none(value: object) -> object:
    # Templated relays render a missing value as "" (or "  "): that is "absent", not bad.
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _text(value: object) -> object:
    """Titles and names: a number is a fine title ("24"); a bool or an object is not."""
    value = _blank_is_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a string")
    if isinstance(value, int | float):
        return str(value)
    return value


def _id_text(value: object) -> object:
    # Plex sends rating keys as strings and account ids as ints; relays swap them freely.
    value = _blank_is_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a string or a number")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))  # JavaScript relays turn 1 into 1.0
    if isinstance(value, str):
        return value.strip()
    return value


def _rating_key(value: object) -> object:
    """A Plex rating key is a number. Anything else a relay sends ("undefined", "[object
    Object]", a null rendered as text) is no key at all, not one key shared by every show."""
    value = _id_text(value)
    if isinstance(value, str) and len(value) <= MAX_KEY and _RATING_KEY.fullmatch(value) is None:
        return None
    if value is not None and not isinstance(value, str):
        return None
    return value


def _int_text(value: object) -> object:
    # "3" and " 3 " from templates; pydantic's lax mode does the rest (3.0 -> 3, "x" -> error).
    value = _blank_is_none(value)
    if isinstance(value, str):
        return value.strip()
    return value


# Each type includes None, so that a value its validator turns into "absent" is accepted.
Text = Annotated[Annotated[str, Field(max_length=MAX_TITLE)] | None, BeforeValidator(_text)]
Guid = Annotated[Annotated[str, Field(max_length=MAX_GUID)] | None, BeforeValidator(_blank_is_none)]
IdText = Annotated[
    Annotated[str, Field(min_length=1, max_length=MAX_KEY)] | None, BeforeValidator(_id_text)
]
RatingKey = Annotated[
    Annotated[str, Field(max_length=MAX_KEY)] | None, BeforeValidator(_rating_key)
]
# Numbers we store or compute with must fit PostgreSQL's integer and Python's datetime.
Index = Annotated[Annotated[int, Field(ge=0, le=MAX_ID)] | None, BeforeValidator(_int_text)]
Year = Annotated[Annotated[int, Field(ge=1800, le=9999)] | None, BeforeValidator(_int_text)]
EpochSeconds = Annotated[Annotated[int, Field(ge=0, le=2**33)] | None, BeforeValidator(_int_text)]
Number = Annotated[float | None, BeforeValidator(_int_text)]
Flag = Annotated[bool | None, BeforeValidator(_blank_is_none)]


class _Model(BaseModel):
    """A field that can't be read is dropped (None) and noted in `unreadable`, by its name
    as sent (`index`, `Account`), instead of failing the whole payload."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    _unreadable: dict[str, str] = PrivateAttr(default_factory=dict)
    # (attribute, name as sent) of the nested models whose problems count as ours
    _nested: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _drop_unreadable(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            bad: dict[str, str] = {}
            for err in exc.errors():
                if err["type"] == "missing" or not err["loc"]:
                    raise
                bad.setdefault(str(err["loc"][0]), _message(err["msg"]))
            if "event" in bad:
                raise
            model = handler({k: v for k, v in data.items() if k not in bad})
            model._unreadable = bad
            return model

    @property
    def unreadable(self) -> dict[str, str]:
        """Fields that were sent but could not be read, with why, by their names as sent."""
        found = dict(self._unreadable)
        for attribute, sent_as in self._nested:
            value = getattr(self, attribute)
            if value is not None:
                found.update({f"{sent_as}.{k}": v for k, v in value.unreadable.items()})
        return found


def _message(msg: str) -> str:
    # pydantic's "a valid dictionary or instance of Metadata" names our class, not the field.
    return re.sub(r" or instance of \w+$", "", msg)


class Account(_Model):
    id: IdText = None
    title: Text = None

    @property
    def key(self) -> str:
        """Who watched, for the duplicate window: the id, else the name, else unknown."""
        if self.id is not None:
            return self.id
        if self.title:
            return "title:" + self.title.strip().casefold()[: MAX_KEY - 6]
        return "?"


class Server(_Model):
    uuid: Text = None
    title: Text = None


class Player(_Model):
    uuid: Text = None
    title: Text = None
    local: Flag = None
    public_address: Text = Field(default=None, alias="publicAddress")


class Metadata(_Model):
    type: Text = None
    library_section_type: Text = Field(default=None, alias="librarySectionType")
    rating_key: RatingKey = Field(default=None, alias="ratingKey")
    grandparent_rating_key: RatingKey = Field(default=None, alias="grandparentRatingKey")
    grandparent_key: Text = Field(default=None, alias="grandparentKey")
    guid: Guid = None
    grandparent_guid: Guid = Field(default=None, alias="grandparentGuid")
    title: Text = None
    grandparent_title: Text = Field(default=None, alias="grandparentTitle")
    parent_index: Index = Field(default=None, alias="parentIndex")
    index: Index = None
    year: Year = None
    grandparent_year: Year = Field(default=None, alias="grandparentYear")
    last_viewed_at: EpochSeconds = Field(default=None, alias="lastViewedAt")
    grandparent_thumb: Text = Field(default=None, alias="grandparentThumb")

    @property
    def media_type(self) -> str | None:
        """`type` ("Episode" from some relays), else what the library section says (relays
        drop one or the other)."""
        if self.type:
            return self.type.strip().lower()
        return "episode" if (self.library_section_type or "").lower() == "show" else None

    @property
    def plex_show_key(self) -> str | None:
        """The show's rating key on the Plex server: `grandparentRatingKey`, else the number in
        `grandparentKey` (`/library/metadata/7888`), which relays keep when they drop the key."""
        if self.grandparent_rating_key:
            return self.grandparent_rating_key
        found = _LIBRARY_KEY.match(self.grandparent_key or "")
        return found.group(1) if found else None

    @property
    def show_guid(self) -> GuidInfo:
        """What the show's own GUID says, else, for a legacy agent, the episode's GUID: its path
        is show/season/episode (`com.plexapp.agents.thetvdb://73871/2/15` is show TVDB 73871)."""
        info = parse_guid(self.grandparent_guid)
        if info.agent != "unknown":
            return replace(info, season=None, episode=None)
        episode = parse_guid(self.guid)
        if episode.agent in LEGACY_AGENTS:
            return replace(episode, kind=None, season=None, episode=None)
        if episode.agent == "plex":
            return GuidInfo("plex")  # the current agent: the show's ids are on the server
        return info

    @property
    def season(self) -> int | None:
        return self._numbers[0]

    @property
    def episode(self) -> int | None:
        return self._numbers[1]

    @property
    def _numbers(self) -> tuple[int | None, int | None]:
        """`parentIndex`/`index`; without them, a legacy agent's episode GUID has both.
        Never one from each: the GUID may number episodes another way (DVD order)."""
        if self.parent_index is None and self.index is None:
            info = parse_guid(self.guid)
            if info.agent in LEGACY_AGENTS and info.episode is not None:
                return info.season, info.episode
        return self.parent_index, self.index

    @property
    def show_key(self) -> str | None:
        """The key a show is mapped by: its Plex rating key; for relays that send none, a
        stable stand-in from the show's ids, else its title (never a Plex key: `relay:…`)."""
        if (key := self.plex_show_key) is not None:
            return key
        ids = self.show_guid
        for name, value in (
            ("tvdb", ids.tvdb_id),
            ("tmdb", ids.tmdb_id),
            ("imdb", ids.imdb_id),
            ("anidb", ids.anidb_id),
        ):
            if value is not None:
                return f"relay:{name}:{value}"
        if self.grandparent_title:
            # The show's year, when sent, is part of the key: "The Office" (2001) and (2005)
            # relayed without ids are two shows, not one mapping that marks the other.
            year = f" ({self.grandparent_year})" if self.grandparent_year else ""
            title = " ".join(self.grandparent_title.casefold().split())
            return "relay:title:" + title[: MAX_KEY - len("relay:title:") - len(year)] + year
        return None


class PlexWebhook(_Model):
    event: Annotated[str, Field(min_length=1, max_length=MAX_EVENT)]
    user: Flag = None
    owner: Flag = None
    rating: Number = None
    account: Account | None = Field(default=None, alias="Account")
    server: Server | None = Field(default=None, alias="Server")
    player: Player | None = Field(default=None, alias="Player")
    metadata: Metadata | None = Field(default=None, alias="Metadata")

    _nested = (
        ("account", "Account"),
        ("server", "Server"),
        ("player", "Player"),
        ("metadata", "Metadata"),
    )


@dataclass(frozen=True)
class ScrobbleKeys:
    """A scrobble's normalised values, as stored on its log row for the worker."""

    show_key: str  # plex_rating_key: the Plex rating key, or a `relay:…` stand-in
    item_key: str  # plex_item_key: the episode's rating key, else show/season/episode
    account_key: str  # plex_account_id: Account.id, else `title:<name>`, else "?"
    season: int  # plex_season
    episode: int  # plex_episode
    watched_at: int | None  # plex_watched_at (epoch seconds), None: when it arrived


# Fields a scrobble's decision reads: sent but unreadable, they make it a 400, not a guess.
_NEEDED = frozenset(
    {
        "Account",
        "Account.id",
        "Account.title",
        "Metadata",
        "Metadata.ratingKey",
        "Metadata.grandparentRatingKey",
        "Metadata.grandparentKey",
        "Metadata.grandparentTitle",
        "Metadata.parentIndex",
        "Metadata.index",
    }
)


def _unreadable_needed(hook: PlexWebhook, prefix: str = "") -> str | None:
    bad = [
        f"{name}: {why}"
        for name, why in hook.unreadable.items()
        if name in _NEEDED and name.startswith(prefix)
    ]
    return "payload fields are wrong: " + "; ".join(bad[:3]) if bad else None


def account_problem(hook: PlexWebhook) -> str | None:
    """Why whose watch this is can't be told (an `Account` sent but unreadable), or None."""
    return _unreadable_needed(hook, "Account")


def scrobble_problem(hook: PlexWebhook) -> str | None:
    """Why an episode scrobble can't be processed, or None when it can."""
    if bad := _unreadable_needed(hook):
        return bad
    meta = hook.metadata
    if meta is None:
        return "Metadata is missing"
    missing = [
        name
        for name, value in (
            ("grandparentTitle", meta.grandparent_title),
            ("parentIndex", meta.season),
            ("index", meta.episode),
        )
        if value is None
    ]
    return f"Metadata lacks {', '.join(missing)}" if missing else None


def scrobble_keys(hook: PlexWebhook) -> ScrobbleKeys | None:
    """The normalised values of a scrobble that `scrobble_problem` passes, else None."""
    meta = hook.metadata
    if meta is None or scrobble_problem(hook) is not None:
        return None
    show_key, season, episode = meta.show_key, meta.season, meta.episode
    if show_key is None or season is None or episode is None:
        return None
    return ScrobbleKeys(
        show_key=show_key,
        item_key=meta.rating_key or f"{show_key}/{season}/{episode}",
        account_key=hook.account.key if hook.account else "?",
        season=season,
        episode=episode,
        watched_at=meta.last_viewed_at or None,
    )


# -- parsing ------------------------------------------------------------------------------
class _Dropped:
    """Stands in for a number jsonb can't hold (NaN, Infinity, 1e999) or nobody sends (an
    integer of more than 19 digits; Python refuses more than 4,300 outright)."""


_DROPPED = _Dropped()


def _parse_int(text: str) -> int | _Dropped:
    # Called with the digits before int() sees them, so a 5,000-digit number costs nothing.
    return _DROPPED if len(text.lstrip("-")) > _MAX_JSON_INT_DIGITS else int(text)


def _parse_float(text: str) -> float | _Dropped:
    value = float(text)
    return value if math.isfinite(value) else _DROPPED


def _parse_constant(_: str) -> _Dropped:
    return _DROPPED  # NaN, Infinity, -Infinity


def _drop_numbers(root: dict[str, Any] | list[Any]) -> list[str]:
    """Remove the stand-ins in place and say where they were ("Metadata.index"). Iterative:
    the parser already allowed this nesting, and walking it must not overflow either."""
    dropped: list[str] = []
    stack: list[tuple[dict[str, Any] | list[Any], str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in [k for k, v in node.items() if v is _DROPPED]:
                del node[key]
                dropped.append(f"{path}.{key}" if path else key)
            named = [(f"{path}.{k}" if path else k, v) for k, v in node.items()]
        else:
            if any(v is _DROPPED for v in node):
                node[:] = [v for v in node if v is not _DROPPED]
                dropped.append(f"{path}[]")
            named = [(f"{path}[]", v) for v in node]
        stack.extend((v, where) for where, v in named if isinstance(v, dict | list))
    return dropped


def _decode(text: str | bytes) -> tuple[object, str, list[str]]:
    """The JSON value, its text for jsonb, and where numbers jsonb can't hold were dropped.

    The common case is one C parse and one C serialisation; only a payload with such a
    number is parsed again with hooks that replace them."""
    try:
        value = json.loads(text)
        return value, json.dumps(value, ensure_ascii=False, allow_nan=False), []
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError:
        pass  # NaN or Infinity (refused by dumps), or an integer of over 4,300 digits
    value = json.loads(
        text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
    )
    if not isinstance(value, dict | list):
        raise InvalidInputError("payload must be a JSON object")
    dropped = _drop_numbers(value)
    return value, json.dumps(value, ensure_ascii=False, allow_nan=False), dropped


@dataclass(frozen=True)
class ParsedPayload:
    raw: dict[str, Any]  # the JSON object as it came, minus numbers jsonb can't hold
    text: str  # `raw` as JSON text, checked to be storable as jsonb
    hook: PlexWebhook
    dropped: tuple[str, ...]  # where such numbers were removed (NaN, 1e999, huge integers)


def parse_payload(text: str | bytes) -> tuple[dict[str, Any], PlexWebhook]:
    """The raw JSON object and the validated model; InvalidInputError says what is wrong."""
    parsed = parse_payload_for_storage(text)
    return parsed.raw, parsed.hook


def parse_payload_for_storage(text: str | bytes) -> ParsedPayload:
    """As `parse_payload`, plus the JSON text to store: the check that jsonb will take it
    serialises the payload anyway, so storing that text saves doing it twice."""
    try:
        raw, canonical_text, dropped = _decode(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise InvalidInputError(f"payload is not valid JSON: {detail}") from None
    except RecursionError:
        raise InvalidInputError("payload is not valid JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise InvalidInputError("payload must be a JSON object")
    # PostgreSQL's jsonb refuses NUL characters and lone surrogates: say so here, not with a 500.
    try:
        canonical = canonical_text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("payload contains invalid Unicode (a lone surrogate)") from None
    if b"\\u0000" in canonical or b"\x00" in canonical:
        raise InvalidInputError("payload contains NUL characters")
    try:
        model = PlexWebhook.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err["loc"]) or "payload"
            # `{"event": NaN}`: the value was dropped, so pydantic calls it missing.
            why = "not a finite number" if where in dropped else _message(err["msg"])
            problems.append(f"{where}: {why}")
        raise InvalidInputError("payload fields are wrong: " + "; ".join(problems)) from None
    for where in dropped:
        # A needed field that was such a number is as unreadable as any other bad value.
        model._unreadable.setdefault(where[:200], "not a finite number that can be stored")
    return ParsedPayload(raw, canonical_text, model, tuple(d[:200] for d in dropped[:20]))
