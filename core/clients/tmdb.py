"""TMDB v3 API client: find by external id, show details, seasons, search.

Authentication: a v3 API key travels as the ``api_key`` query parameter; a v4 "API read
access token" (a JWT, so it starts with ``eyJ``) travels as ``Authorization: Bearer``.
Either way the credential never appears in logs or exception messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

import httpx

from core.clients._cache import TtlCache
from core.clients._http import JsonRequester, RetryPolicy, Sleep
from core.clients.errors import UpstreamError
from core.metrics import Metrics

log = logging.getLogger(__name__)

SERVICE = "tmdb"
DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
# TMDB's documented image host, used when GET /configuration can't be read.
DEFAULT_IMAGE_BASE_URL = "https://image.tmdb.org/t/p/"

ExternalSource = Literal["tvdb_id", "imdb_id"]


@dataclass(frozen=True, slots=True)
class TmdbShowSummary:
    """A show as TMDB lists it in /find and /search results."""

    id: int
    name: str
    original_name: str
    first_air_date: date | None
    year: int | None
    poster_path: str | None
    popularity: float


@dataclass(frozen=True, slots=True)
class TmdbSeasonSummary:
    season_number: int
    episode_count: int
    name: str
    air_date: date | None


@dataclass(frozen=True, slots=True)
class TmdbShow:
    """GET /tv/{id}?append_to_response=external_ids."""

    id: int
    name: str
    original_name: str
    first_air_date: date | None
    year: int | None
    status: str | None
    in_production: bool
    poster_path: str | None
    number_of_seasons: int
    number_of_episodes: int | None
    seasons: tuple[TmdbSeasonSummary, ...]
    episode_run_time: tuple[int, ...]
    tvdb_id: int | None
    imdb_id: str | None


@dataclass(frozen=True, slots=True)
class TmdbEpisode:
    season_number: int
    episode_number: int
    name: str
    air_date: date | None
    runtime: int | None


@dataclass(frozen=True, slots=True)
class TmdbSeason:
    """GET /tv/{id}/season/{n}."""

    show_id: int
    season_number: int
    name: str
    air_date: date | None
    episodes: tuple[TmdbEpisode, ...]


def _date(value: Any) -> date | None:
    # TMDB sends "" or null for unknown dates.
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _summary(raw: Mapping[str, Any]) -> TmdbShowSummary:
    first_air = _date(raw.get("first_air_date"))
    name = str(raw.get("name") or raw.get("original_name") or "")
    return TmdbShowSummary(
        id=int(raw["id"]),
        name=name,
        original_name=str(raw.get("original_name") or name),
        first_air_date=first_air,
        year=first_air.year if first_air else None,
        poster_path=_str(raw.get("poster_path")),
        popularity=float(raw.get("popularity") or 0.0),
    )


def _show(raw: Mapping[str, Any]) -> TmdbShow:
    first_air = _date(raw.get("first_air_date"))
    external = raw.get("external_ids") or {}
    seasons = tuple(
        TmdbSeasonSummary(
            season_number=int(s["season_number"]),
            episode_count=_int(s.get("episode_count")) or 0,
            name=str(s.get("name") or ""),
            air_date=_date(s.get("air_date")),
        )
        for s in raw.get("seasons") or ()
    )
    name = str(raw.get("name") or raw.get("original_name") or "")
    return TmdbShow(
        id=int(raw["id"]),
        name=name,
        original_name=str(raw.get("original_name") or name),
        first_air_date=first_air,
        year=first_air.year if first_air else None,
        status=_str(raw.get("status")),
        in_production=bool(raw.get("in_production")),
        poster_path=_str(raw.get("poster_path")),
        number_of_seasons=_int(raw.get("number_of_seasons")) or len(seasons),
        number_of_episodes=_int(raw.get("number_of_episodes")),
        seasons=seasons,
        episode_run_time=tuple(
            r for r in (_int(x) for x in raw.get("episode_run_time") or ()) if r is not None
        ),
        tvdb_id=_int(external.get("tvdb_id")),
        imdb_id=_str(external.get("imdb_id")),
    )


def _season(show_id: int, raw: Mapping[str, Any]) -> TmdbSeason:
    season_number = int(raw["season_number"])
    return TmdbSeason(
        show_id=show_id,
        season_number=season_number,
        name=str(raw.get("name") or ""),
        air_date=_date(raw.get("air_date")),
        episodes=tuple(
            TmdbEpisode(
                season_number=_int(e.get("season_number")) or season_number,
                episode_number=int(e["episode_number"]),
                name=str(e.get("name") or ""),
                air_date=_date(e.get("air_date")),
                runtime=_int(e.get("runtime")),
            )
            for e in raw.get("episodes") or ()
        ),
    )


class TmdbClient:
    """Read-only TMDB client. Successful GETs are cached in memory for ``cache_ttl`` seconds."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None,
        metrics: Metrics,
        max_retries: int = 3,
        cache_ttl: float = 3600,
        cache_size: int = 2048,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        max_retry_after: float = 10.0,
        language: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        key = (api_key or "").strip()
        self._api_key: str | None = key or None
        self._language = language
        self._requester = JsonRequester(
            http=http,
            service=SERVICE,
            metrics=metrics,
            timeout=timeout,
            policy=RetryPolicy(
                max_retries=max_retries,
                backoff_base=backoff_base,
                max_retry_after=max_retry_after,
            ),
            sleep=sleep,
        )
        self._cache: TtlCache[tuple[Any, ...], Any] = TtlCache(
            ttl=cache_ttl, max_entries=cache_size
        )

    def __repr__(self) -> str:
        auth = "none" if self._api_key is None else ("v4" if self._uses_bearer else "v3")
        return f"TmdbClient(base_url={self._base_url!r}, auth={auth})"

    @property
    def configured(self) -> bool:
        """False when no key was given: every call would raise."""
        return self._api_key is not None

    @property
    def _uses_bearer(self) -> bool:
        return self._api_key is not None and self._api_key.startswith("eyJ")

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET ``path`` with auth, through the cache; returns the decoded JSON."""
        if self._api_key is None:
            raise UpstreamError("TMDB_API_KEY is not set", service=SERVICE, retryable=False)
        query: dict[str, str | int] = dict(params or {})
        if self._language:
            query["language"] = self._language
        cache_key = (path, tuple(sorted(query.items())))  # before the key joins the query
        headers = {"Accept": "application/json"}
        if self._uses_bearer:
            headers["Authorization"] = f"Bearer {self._api_key}"
        else:
            query["api_key"] = self._api_key

        async def fetch() -> Any:
            return await self._requester.get_json(
                f"{self._base_url}{path}", params=query, headers=headers
            )

        return await self._cache.get_or_fetch(cache_key, fetch)

    def _shape_error(self, path: str, exc: Exception) -> UpstreamError:
        log.warning("tmdb GET %s: unexpected response shape (%s)", path, type(exc).__name__)
        return UpstreamError(
            f"tmdb GET {path} returned an unexpected response shape", service=SERVICE
        )

    async def find_by_external_id(
        self, external_id: str, source: ExternalSource
    ) -> list[TmdbShowSummary]:
        """Shows TMDB links to a TVDB id (``"73244"``) or an IMDb id (``"tt0386676"``)."""
        path = f"/find/{quote(external_id.strip(), safe='')}"
        data = await self._get(path, {"external_source": source})
        try:
            return [_summary(r) for r in data.get("tv_results") or ()]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape_error(path, exc) from None

    async def tv(self, tmdb_id: int) -> TmdbShow:
        path = f"/tv/{int(tmdb_id)}"
        data = await self._get(path, {"append_to_response": "external_ids"})
        try:
            return _show(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape_error(path, exc) from None

    async def season(self, tmdb_id: int, season_number: int) -> TmdbSeason:
        path = f"/tv/{int(tmdb_id)}/season/{int(season_number)}"
        data = await self._get(path)
        try:
            return _season(int(tmdb_id), data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape_error(path, exc) from None

    async def search_tv(self, query: str, year: int | None = None) -> list[TmdbShowSummary]:
        """First page of TMDB's TV search (its relevance order), optionally by first-air year."""
        params: dict[str, str | int] = {"query": query, "include_adult": "false", "page": 1}
        if year is not None:
            params["first_air_date_year"] = int(year)
        data = await self._get("/search/tv", params)
        try:
            return [_summary(r) for r in data.get("results") or ()]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._shape_error("/search/tv", exc) from None

    async def poster_url(self, poster_path: str | None, size: str = "w342") -> str | None:
        """A show's poster as a URL anyone can open (GET /configuration says where images
        live and in which sizes); None without a poster. Never raises: a poster is an extra."""
        if not poster_path or not poster_path.startswith("/"):
            return None
        base: str = DEFAULT_IMAGE_BASE_URL
        sizes: tuple[str, ...] = ()
        if self.configured:
            try:
                async with asyncio.timeout(3):  # never hold a reply up for a poster
                    images = (await self._get("/configuration")).get("images") or {}
                base = _str(images.get("secure_base_url")) or base
                sizes = tuple(s for s in images.get("poster_sizes") or () if isinstance(s, str))
            except (UpstreamError, AttributeError, TimeoutError) as exc:
                log.debug("tmdb configuration unavailable (%s); default image host", exc)
        chosen = size if size in sizes or not sizes else sizes[-1]
        return f"{base.rstrip('/')}/{chosen}{quote(poster_path)}"

    def forget_show(self, tmdb_id: int) -> None:
        """Drop the cached details and seasons of one show (a user asked for a refresh)."""
        prefix = f"/tv/{int(tmdb_id)}"
        self._cache.discard_where(lambda key: key[0] == prefix or key[0].startswith(prefix + "/"))

    def clear_cache(self) -> None:
        self._cache.clear()
