"""Plex webhook payloads, validated with pydantic.

Real payloads omit fields freely (`duration`, `viewOffset`, `Account.title`, `Guid[]`,
`Player` on library.new, `Metadata` on admin and device events), so everything beyond
`event` is optional here; what a scrobble needs is checked by `scrobble_problem`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from core.errors import InvalidInputError


def _id_text(value: object) -> object:
    # Plex sends rating keys as strings and account ids as ints; relays sometimes swap them.
    if isinstance(value, bool):
        raise ValueError("must be a string or a number")
    if isinstance(value, int):
        return str(value)
    return value


IdText = Annotated[str, BeforeValidator(_id_text)]
# Numbers we store or compute with must fit PostgreSQL's integer and Python's datetime:
# an out-of-range value is bad input (400), not a crash later.
Index = Annotated[int, Field(ge=0, le=2**31 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
EpochSeconds = Annotated[int, Field(ge=0, le=2**33)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Account(_Model):
    id: IdText | None = None
    title: str | None = None
    thumb: str | None = None


class Server(_Model):
    uuid: str | None = None
    title: str | None = None


class Player(_Model):
    uuid: str | None = None
    title: str | None = None
    local: bool | None = None
    public_address: str | None = Field(default=None, alias="publicAddress")


class GuidRef(_Model):
    id: str


class Metadata(_Model):
    type: str | None = None
    library_section_type: str | None = Field(default=None, alias="librarySectionType")
    rating_key: IdText | None = Field(default=None, alias="ratingKey")
    parent_rating_key: IdText | None = Field(default=None, alias="parentRatingKey")
    grandparent_rating_key: IdText | None = Field(default=None, alias="grandparentRatingKey")
    guid: str | None = None
    parent_guid: str | None = Field(default=None, alias="parentGuid")
    grandparent_guid: str | None = Field(default=None, alias="grandparentGuid")
    guids: list[GuidRef] = Field(default_factory=list, alias="Guid")
    title: str | None = None
    parent_title: str | None = Field(default=None, alias="parentTitle")
    grandparent_title: str | None = Field(default=None, alias="grandparentTitle")
    parent_index: Index | None = Field(default=None, alias="parentIndex")
    index: Index | None = None
    year: Int32 | None = None
    parent_year: Int32 | None = Field(default=None, alias="parentYear")
    duration: int | None = None  # milliseconds
    view_offset: int | None = Field(default=None, alias="viewOffset")
    last_viewed_at: EpochSeconds | None = Field(default=None, alias="lastViewedAt")
    originally_available_at: str | None = Field(default=None, alias="originallyAvailableAt")
    grandparent_thumb: str | None = Field(default=None, alias="grandparentThumb")


class PlexWebhook(_Model):
    event: str = Field(min_length=1)
    user: bool | None = None
    owner: bool | None = None
    rating: float | None = None
    account: Account | None = Field(default=None, alias="Account")
    server: Server | None = Field(default=None, alias="Server")
    player: Player | None = Field(default=None, alias="Player")
    metadata: Metadata | None = Field(default=None, alias="Metadata")


def parse_payload(text: str | bytes) -> tuple[dict[str, Any], PlexWebhook]:
    """The raw JSON object and the validated model; InvalidInputError says what is wrong."""
    raw, _, model = parse_payload_for_storage(text)
    return raw, model


def parse_payload_for_storage(text: str | bytes) -> tuple[dict[str, Any], str, PlexWebhook]:
    """As `parse_payload`, plus the JSON text to store: the check that jsonb will take it
    serialises the payload anyway, so storing that text saves doing it twice."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise InvalidInputError(f"payload is not valid JSON: {detail}") from None
    except ValueError as exc:  # NaN or Infinity (_no_constant)
        raise InvalidInputError(f"payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInputError("payload is not valid JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise InvalidInputError("payload must be a JSON object")
    # PostgreSQL's jsonb refuses NUL characters and lone surrogates: say so here, not with a 500.
    try:
        canonical_text = json.dumps(raw, ensure_ascii=False)
        canonical = canonical_text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("payload contains invalid Unicode (a lone surrogate)") from None
    except RecursionError:
        raise InvalidInputError("payload is not valid JSON: nested too deeply") from None
    if b"\\u0000" in canonical or b"\x00" in canonical:
        raise InvalidInputError("payload contains NUL characters")
    try:
        model = PlexWebhook.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err["loc"]) or "payload"
            problems.append(f"{where}: {err['msg']}")
        raise InvalidInputError("payload fields are wrong: " + "; ".join(problems)) from None
    return raw, canonical_text, model


def _no_constant(name: str) -> Any:
    # Python reads NaN and Infinity, which JSON (and jsonb) does not have: refuse them here
    # rather than fail the insert with a 500.
    raise ValueError(f"{name} is not a JSON number")


def scrobble_problem(hook: PlexWebhook) -> str | None:
    """Why an episode scrobble can't be processed (missing keys), or None when it can."""
    meta = hook.metadata
    if meta is None:
        return "Metadata is missing"
    missing = [
        name
        for name, value in (
            ("grandparentRatingKey", meta.grandparent_rating_key),
            ("grandparentTitle", meta.grandparent_title),
            ("parentIndex", meta.parent_index),
            ("index", meta.index),
        )
        if value is None
    ]
    return f"Metadata lacks {', '.join(missing)}" if missing else None
