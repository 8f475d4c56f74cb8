"""The tracker's shows: import from the JSON format in DESIGN.md, list with progress."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.db import tvshows
from core.db.pool import Pool
from core.db.tvshows import EpisodeInput, Show, ShowInput
from core.errors import InvalidInputError

log = logging.getLogger(__name__)


class _Episode(BaseModel):
    model_config = ConfigDict(extra="ignore")
    episode_number: int = Field(ge=0)
    title: str | None = None
    runtime: int | None = Field(default=None, ge=0)
    air_date: date | None = None


class _Season(BaseModel):
    model_config = ConfigDict(extra="ignore")
    season_number: int = Field(ge=0)
    episodes: list[_Episode] = []


class _ShowEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1)
    year: int | None = Field(default=None, ge=1900, le=2200)
    first_air_date: date | None = None
    original_title: str | None = None
    aliases: list[str] = []
    tmdb_id: int | None = Field(default=None, gt=0)
    tvdb_id: int | None = Field(default=None, gt=0)
    imdb_id: str | None = Field(default=None, pattern=r"^tt\d+$")
    status: str | None = None
    seasons: list[_Season] = []

    @field_validator("title")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    episodes: int


def parse_import(text: str) -> list[_ShowEntry]:
    """Validate the whole file before touching the database: a bad entry loses nothing."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, list):
        raise InvalidInputError("expected a JSON list of shows")
    entries = []
    for index, item in enumerate(data):
        try:
            entries.append(_ShowEntry.model_validate(item))
        except ValidationError as exc:
            title = item.get("title") if isinstance(item, dict) else None
            where = f"entry {index}" + (f" ({title!r})" if title else "")
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(f"{where}: {field}: {first['msg']}") from None
    return entries


class LibraryService:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def import_shows(self, user_id: int, text: str) -> ImportResult:
        entries = parse_import(text)
        created = updated = episodes = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await tvshows.lock_user_shows(conn, user_id)
            for entry in entries:
                show, was_created = await tvshows.upsert(
                    conn,
                    user_id,
                    ShowInput(
                        title=entry.title,
                        year=entry.year,
                        first_air_date=entry.first_air_date,
                        original_title=entry.original_title,
                        aliases=tuple(entry.aliases),
                        tmdb_id=entry.tmdb_id,
                        tvdb_id=entry.tvdb_id,
                        imdb_id=entry.imdb_id,
                        status=entry.status,
                    ),
                )
                eps = [
                    EpisodeInput(s.season_number, e.episode_number, e.title, e.runtime, e.air_date)
                    for s in entry.seasons
                    for e in s.episodes
                ]
                await tvshows.upsert_episodes(conn, show.id, eps)
                episodes += len(eps)
                created += was_created
                updated += not was_created
        log.info("user %s imported %d new and %d updated shows", user_id, created, updated)
        return ImportResult(created=created, updated=updated, episodes=episodes)

    async def list_shows(self, user_id: int) -> list[Show]:
        async with self._pool.acquire() as conn:
            return await tvshows.list_for_user(conn, user_id)
