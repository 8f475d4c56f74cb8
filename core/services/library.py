"""The tracker's shows: import from the JSON format in DESIGN.md, list with progress."""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.db import tvshows
from core.db.pool import Pool
from core.db.tvshows import EpisodeInput, Show, ShowInput
from core.errors import InvalidInputError

log = logging.getLogger(__name__)

# The columns are PostgreSQL integers: a larger number is refused here, by field and entry,
# rather than by the database halfway through the import.
INT4_MAX = 2**31 - 1
# Minutes; a show's total is their sum, in an integer column too. No episode runs a week.
RUNTIME_MAX = 7 * 24 * 60


class _Episode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episode_number: int = Field(ge=0, le=INT4_MAX)
    title: str | None = None
    runtime: int | None = Field(default=None, ge=0, le=RUNTIME_MAX)
    air_date: date | None = None


class _Season(BaseModel):
    model_config = ConfigDict(extra="forbid")
    season_number: int = Field(ge=0, le=INT4_MAX)
    episodes: list[_Episode] = []


class _ShowEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    year: int | None = Field(default=None, ge=1900, le=2200)
    first_air_date: date | None = None
    original_title: str | None = None
    aliases: list[str] = []
    tmdb_id: int | None = Field(default=None, gt=0, le=INT4_MAX)
    tvdb_id: int | None = Field(default=None, gt=0, le=INT4_MAX)
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


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model a validation error's location points into (for "did you mean")."""
    names = [p for p in loc[:-1] if isinstance(p, str)]
    nested: dict[str, type[BaseModel]] = {"seasons": _Season, "episodes": _Episode}
    return nested.get(names[-1], _ShowEntry) if names else _ShowEntry


def _problem(err: Any) -> str:
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        name = str(loc[-1])
        known = list(_model_at(loc).model_fields)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
        return f"unknown field {field!r}{hint}"
    return f"{field}: {err['msg']}"


def _duplicates(entry: _ShowEntry) -> str | None:
    seasons: set[int] = set()
    for season in entry.seasons:
        if season.season_number in seasons:
            return f"season {season.season_number} appears twice"
        seasons.add(season.season_number)
        episodes: set[int] = set()
        for ep in season.episodes:
            if ep.episode_number in episodes:
                return f"season {season.season_number} episode {ep.episode_number} appears twice"
            episodes.add(ep.episode_number)
    return None


def parse_import(text: str) -> list[_ShowEntry]:
    """Validate the whole file before touching the database: a bad entry loses nothing.
    Entries are numbered from 1, as a person counts them in the file."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, list):
        raise InvalidInputError("expected a JSON list of shows")
    entries = []
    tmdb_seen: dict[int, int] = {}
    for number, item in enumerate(data, start=1):
        title = item.get("title") if isinstance(item, dict) else None
        where = f"entry {number}" + (f" ({title!r})" if title else "")
        try:
            entry = _ShowEntry.model_validate(item)
        except ValidationError as exc:
            # A misspelt name also makes the real one "missing": name the misspelling.
            errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
            raise InvalidInputError(f"{where}: {_problem(errors[0])}") from None
        if problem := _duplicates(entry):
            raise InvalidInputError(f"{where}: {problem}")
        if entry.tmdb_id is not None:
            if entry.tmdb_id in tmdb_seen:
                raise InvalidInputError(
                    f"{where}: tmdb_id {entry.tmdb_id} is also entry {tmdb_seen[entry.tmdb_id]}"
                )
            tmdb_seen[entry.tmdb_id] = number
        entries.append(entry)
    return entries


class LibraryService:
    def __init__(self, *, pool: Pool) -> None:
        self._pool = pool

    async def import_shows(
        self, user_id: int, text: str, *, progress: Callable[[int, int], None] | None = None
    ) -> ImportResult:
        """All or nothing, in one transaction; `progress(done, total)` after each show."""
        entries = parse_import(text)
        created = updated = episodes = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await tvshows.lock_user_shows(conn, user_id)
            for done, entry in enumerate(entries, start=1):
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
                if progress is not None:
                    progress(done, len(entries))
        log.info("user %s imported %d new and %d updated shows", user_id, created, updated)
        return ImportResult(created=created, updated=updated, episodes=episodes)

    async def list_shows(self, user_id: int) -> list[Show]:
        async with self._pool.acquire() as conn:
            return await tvshows.list_for_user(conn, user_id)
